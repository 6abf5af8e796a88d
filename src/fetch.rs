//! Bringing objects of a remote (an rclone remote, or a local folder such
//! as an external disk) into a local folder, and what every reader of a
//! remote vault needs first: its manifest, and its flags when the config
//! is gone. Shared by drills and restores.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Component, Path};

use crate::encrypt::VaultDir;
use crate::format::config::CONFIG_NAME;
use crate::format::keys::MasterKey;
use crate::manifest::build::MANIFEST_DIR;
use crate::manifest::store;
use crate::progress::Progress;
use crate::push::{LINK_SUFFIX, Lister, Remote};
use crate::rclone::Rclone;
use crate::vault::UnlockedVault;
use crate::vault::detect::{Hints, detect_layout};

/// A cipher path from a manifest or a listing, checked: relative, no
/// `..`, no empty parts, no control characters (a newline would split
/// rclone's --files-from list; gocryptfs names are base64), no symlink
/// objects. A tampered manifest must not steer writes out of scratch.
pub fn safe_relative(path: &str) -> Option<&Path> {
    let p = Path::new(path);
    let ok = !path.is_empty()
        && p.components().all(|c| matches!(c, Component::Normal(_)))
        && !path.contains("//")
        && !path.contains('\0')
        && !path.ends_with(LINK_SUFFIX);
    ok.then_some(p)
}

/// Whether an object can be fetched by name from any remote: a safe
/// relative path that fits on one line of rclone's file list (a
/// plaintext-names vault may hold a name with a line break).
pub fn fetchable_by_name(path: &str) -> bool {
    safe_relative(path).is_some() && !path.contains('\n')
}

enum Source<'a> {
    Local(&'a Path),
    Rclone(&'a Rclone, &'a str),
}

/// Fetches objects from a remote into local folders.
pub struct Fetcher<'a> {
    source: Source<'a>,
    /// A private folder for rclone's file lists.
    scratch: &'a Path,
    pub transfers: usize,
    progress: &'a dyn Progress,
}

impl<'a> Fetcher<'a> {
    /// `None` when the remote needs rclone and none was given.
    pub fn new(
        remote: &'a Remote,
        rclone: Option<&'a Rclone>,
        scratch: &'a Path,
        transfers: usize,
        progress: &'a dyn Progress,
    ) -> Option<Fetcher<'a>> {
        let source = match remote {
            Remote::Local(path) => Source::Local(path),
            Remote::Rclone(text) => Source::Rclone(rclone?, text),
        };
        Some(Fetcher {
            source,
            scratch,
            transfers,
            progress,
        })
    }

    /// A lister of the same remote.
    pub fn lister(&self) -> Lister<'a> {
        match self.source {
            Source::Local(path) => Lister::Local(path),
            Source::Rclone(rclone, text) => Lister::Rclone(rclone, text),
        }
    }

    /// The local folder the objects already are in, when the remote is one.
    pub fn local_root(&self) -> Option<&'a Path> {
        match self.source {
            Source::Local(path) => Some(path),
            Source::Rclone(..) => None,
        }
    }

    /// The objects directly in the remote's folder `dir` (relative paths,
    /// `dir/name`).
    pub fn list_folder(&self, dir: &str) -> Result<Vec<String>, String> {
        let mut names = Vec::new();
        match self.source {
            Source::Local(root) => match fs::read_dir(root.join(dir)) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{}: {e}", root.join(dir).display())),
                Ok(listing) => {
                    for entry in listing {
                        let entry = entry.map_err(|e| e.to_string())?;
                        if entry.file_type().map_err(|e| e.to_string())?.is_file() {
                            names.push(format!("{dir}/{}", entry.file_name().to_string_lossy()));
                        }
                    }
                }
            },
            Source::Rclone(rclone, remote) => {
                let folder = format!("{}/{dir}", remote.trim_end_matches('/'));
                rclone
                    .list(&folder, None, |object| {
                        if !object.path.contains('/') {
                            names.push(format!("{dir}/{}", object.path));
                        }
                    })
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(names)
    }

    /// Fetches the objects named (relative paths) into `dest`; missing
    /// ones and unsafe names are skipped (the caller checks what arrived).
    pub fn fetch(&self, names: &[&str], dest: &Path) -> io::Result<()> {
        match self.source {
            Source::Local(root) => {
                for name in names {
                    let Some(rel) = safe_relative(name) else {
                        continue;
                    };
                    let from = root.join(rel);
                    let to = dest.join(rel);
                    let Ok(meta) = fs::symlink_metadata(&from) else {
                        continue;
                    };
                    if !meta.is_file() {
                        continue;
                    }
                    if let Some(parent) = to.parent() {
                        fs::create_dir_all(parent)?;
                    }
                    let n = fs::copy(&from, &to)?;
                    let mtime = filetime::FileTime::from_last_modification_time(&meta);
                    filetime::set_file_mtime(&to, mtime)?;
                    self.progress.add_bytes(n);
                }
                Ok(())
            }
            Source::Rclone(rclone, remote) => {
                let list = self.scratch.join("files-from.txt");
                let mut out = File::create(&list)?;
                for name in names.iter().filter(|n| fetchable_by_name(n)) {
                    writeln!(out, "{name}")?;
                }
                drop(out);
                let progress = self.progress;
                rclone
                    .copy_listed(remote, dest, &list, self.transfers, |s| {
                        progress.set_done(s.transfers, s.bytes)
                    })
                    .map(drop)
                    .map_err(|e| io::Error::other(e.to_string()))
            }
        }
    }
}

/// Moves the fetched `names` from `incoming` into `vault` (renames within
/// one file system), then clears `incoming`: a reader of `vault` never
/// meets a half-written object or rclone's temporary names.
pub fn move_into(incoming: &Path, vault: &Path, names: &[&str]) -> io::Result<()> {
    for name in names {
        let Some(rel) = safe_relative(name) else {
            continue;
        };
        let from = incoming.join(rel);
        if fs::symlink_metadata(&from).is_err() {
            continue;
        }
        let to = vault.join(rel);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::rename(&from, &to)?;
    }
    match fs::remove_dir_all(incoming) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The flags of a vault whose config is gone, from the master key and a
/// few of its objects: the dirivs of the top-level folders (names) and the
/// 16 smallest files with content (ciphers), fetched into `work` (removed
/// after). `vault_dir` must hold the root's diriv. `Ok(None)` when the
/// objects do not settle them (a wrong key authenticates none); `Err` when
/// the remote could not be listed or read.
pub fn detect_from_remote(
    fetcher: &Fetcher<'_>,
    vault_dir: &Path,
    work: &Path,
    mk: &MasterKey,
) -> Result<Option<crate::format::VaultLayout>, String> {
    use std::collections::BinaryHeap;
    let mut dirivs: Vec<String> = Vec::new();
    let mut smallest: BinaryHeap<(i64, String)> = BinaryHeap::new();
    fetcher
        .lister()
        .list(None, &mut |object| {
            let path = &object.path;
            let depth = path.matches('/').count();
            if path.ends_with("/gocryptfs.diriv") {
                if depth == 1 && dirivs.len() < 64 && object.size == 16 {
                    dirivs.push(path.clone());
                }
            } else if object.size > 64
                && object.size <= 4 << 20
                && !path.ends_with(".name")
                && !path.ends_with(LINK_SUFFIX)
                && path != CONFIG_NAME
                && safe_relative(path).is_some()
            {
                smallest.push((object.size, path.clone()));
                if smallest.len() > 16 {
                    smallest.pop();
                }
            }
        })
        .map_err(|e| format!("listing the remote: {e}"))?;
    let names: Vec<&str> = dirivs
        .iter()
        .map(String::as_str)
        .chain(smallest.iter().map(|(_, p)| p.as_str()))
        .collect();
    let local = |e: io::Error| format!("{}: {e}", work.display());
    let _ = fs::remove_dir_all(work);
    fs::create_dir_all(work).map_err(local)?;
    if fs::copy(
        vault_dir.join("gocryptfs.diriv"),
        work.join("gocryptfs.diriv"),
    )
    .is_err()
    {
        // No root diriv: plaintext names, or a damaged root; the contents
        // still tell the cipher.
    }
    let found = fetcher
        .fetch(&names, work)
        .map_err(|e| format!("fetching a few objects: {e}"))
        .map(|()| {
            detect_layout(work, mk, &Hints::default())
                .ok()
                .map(|d| d.layout)
        });
    let _ = fs::remove_dir_all(work);
    found
}

/// Why the remote's manifest could not be used.
pub enum FetchManifest {
    /// It is there but does not decrypt or parse: damage.
    Damaged(String),
    /// It could not be fetched or stored (the network, a full disk).
    CouldNotRun(String),
}

/// Downloads a manifest of the remote into the vault folder of `vault`
/// and decrypts it to `out` (plaintext): the current one, or with
/// `version`, the kept one whose name (`manifest-<time>.jsonl`) or time
/// starts with it (the whole manifest folder is fetched to find it).
/// `Ok(false)`: the remote has none.
pub fn fetch_remote_manifest(
    vault: &UnlockedVault,
    fetcher: &Fetcher<'_>,
    version: Option<&str>,
    out: &Path,
) -> Result<bool, FetchManifest> {
    let damaged = |e: String| FetchManifest::Damaged(e);
    let could_not = |e: String| FetchManifest::CouldNotRun(e);
    let root = VaultDir::open(vault, Path::new("")).map_err(|k| damaged(k.to_string()))?;
    let dir = root
        .cipher_name(vault, MANIFEST_DIR.as_ref())
        .map_err(|k| damaged(k.to_string()))?;
    let dir = dir.to_string_lossy().into_owned();
    // The folder's diriv, then the manifest's stored name.
    let diriv = format!("{dir}/gocryptfs.diriv");
    fetcher
        .fetch(&[&diriv], vault.root())
        .map_err(|e| could_not(e.to_string()))?;
    if !vault.root().join(&diriv).is_file() {
        return Ok(false);
    }
    if version.is_some() {
        let names = fetcher.list_folder(&dir).map_err(could_not)?;
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        fetcher
            .fetch(&names, vault.root())
            .map_err(|e| could_not(e.to_string()))?;
    } else {
        let mdir =
            VaultDir::open(vault, Path::new(MANIFEST_DIR)).map_err(|k| damaged(k.to_string()))?;
        let stored = mdir
            .cipher_name(vault, store::CURRENT.as_ref())
            .map_err(|k| damaged(k.to_string()))?;
        let stored = format!("{dir}/{}", stored.to_string_lossy());
        fetcher
            .fetch(&[&stored], vault.root())
            .map_err(|e| could_not(e.to_string()))?;
    }
    let found = store::list(vault);
    let wanted = |name: &str| match version {
        None => name == store::CURRENT,
        Some(v) => name == v || name.starts_with(&format!("manifest-{v}")),
    };
    let entry = found
        .iter()
        .find(|e| wanted(&e.plain_name().to_string_lossy()));
    let Some(entry) = entry else {
        return match version {
            None => Ok(false),
            Some(v) => Err(could_not(format!(
                "no manifest version {v:?} on the remote; it keeps: {}",
                found
                    .iter()
                    .map(|e| e.plain_name().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        };
    };
    // A newer manifest version, or a local read error, is no damage.
    let manifest_error = |e: crate::manifest::ManifestError| {
        if e.is_damage() {
            damaged(e.to_string())
        } else {
            could_not(e.to_string())
        }
    };
    let mut reader = store::open(vault, entry).map_err(manifest_error)?;
    // A plaintext copy (readers go over it several times).
    let mut file = File::create(out).map_err(|e| could_not(format!("{}: {e}", out.display())))?;
    let header = reader.header().clone();
    let mut writer = crate::manifest::ManifestWriter::new(&mut file, &header)
        .map_err(|e| could_not(e.to_string()))?;
    while let Some(r) = reader.next_record().map_err(manifest_error)? {
        writer.record(&r).map_err(|e| could_not(e.to_string()))?;
    }
    writer.finish().map_err(|e| could_not(e.to_string()))?;
    Ok(true)
}
