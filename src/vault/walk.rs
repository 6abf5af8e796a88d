//! Walking the ciphertext tree and decrypting its names: a streaming,
//! depth-first iterator of entries (directory before its contents, each
//! directory sorted by plaintext name) and of per-entry problems.
//!
//! Every access is relative to an open directory handle (see `at`), so
//! depth is not limited by PATH_MAX and no symlink is followed. Only one
//! listing per level is held, so memory grows with depth and the widest
//! directory, not with the vault.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::at::{self, Kind};
use crate::format::config::CONFIG_NAME;
use crate::format::content::BlockOpener;
use crate::format::layout::NameMode;
use crate::format::longname::{self, LongNameKind, SIDECAR_MAX, SidecarError};
use crate::format::names::{DIRIV_LEN, DIRIV_NAME, DirIv, DirIvError, NameCipher, NameError};
use crate::format::symlink;
use crate::problem::{Problem, ProblemKind};
use crate::selection::{Selection, Want};

use super::UnlockedVault;

/// The type of a decrypted entry, with what is specific to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File { plain_size: u64 },
    Dir,
    Symlink { target: Vec<u8> },
    Fifo,
    Socket,
    CharDevice { rdev: u64 },
    BlockDevice { rdev: u64 },
}

impl EntryKind {
    /// A short name for listings and JSON.
    pub fn label(&self) -> &'static str {
        match self {
            EntryKind::File { .. } => "file",
            EntryKind::Dir => "dir",
            EntryKind::Symlink { .. } => "symlink",
            EntryKind::Fifo => "fifo",
            EntryKind::Socket => "socket",
            EntryKind::CharDevice { .. } => "char_device",
            EntryKind::BlockDevice { .. } => "block_device",
        }
    }
}

/// A decrypted entry of the vault.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Path relative to the vault root, decrypted.
    pub plain_path: PathBuf,
    /// Path relative to the vault root, as stored.
    pub cipher_path: PathBuf,
    /// The directory holding the entry, and its stored name there.
    pub parent: Arc<OwnedFd>,
    pub cipher_name: OsString,
    pub kind: EntryKind,
    /// Permission bits (including setuid, setgid, sticky).
    pub mode: u32,
    pub mtime_sec: i64,
    pub mtime_nsec: i64,
    pub cipher_size: u64,
    /// Whether the entry was selected, or is only a directory on the way
    /// to a selected path.
    pub want: Want,
}

impl Entry {
    /// The decrypted name (last component of `plain_path`).
    pub fn plain_name(&self) -> &OsStr {
        self.plain_path.file_name().unwrap_or_default()
    }

    /// Depth below the vault root: 1 for entries of the root.
    pub fn depth(&self) -> usize {
        self.plain_path.components().count()
    }
}

/// A ciphertext-only file that reading depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaKind {
    /// `gocryptfs.conf` in the root.
    Config,
    /// A directory's `gocryptfs.diriv`.
    DirIv,
    /// The `.name` sidecar of a long name.
    Sidecar,
}

impl MetaKind {
    pub fn label(self) -> &'static str {
        match self {
            MetaKind::Config => "config",
            MetaKind::DirIv => "diriv",
            MetaKind::Sidecar => "sidecar",
        }
    }
}

/// A ciphertext-only file, yielded when [`Walker::with_meta`] asks for them.
#[derive(Clone, Debug)]
pub struct MetaEntry {
    pub kind: MetaKind,
    pub cipher_path: PathBuf,
    pub parent: Arc<OwnedFd>,
    pub cipher_name: OsString,
    /// The decrypted path it belongs to: the directory of a diriv, the
    /// entry of a sidecar, the root for the config.
    pub owner: PathBuf,
}

/// What the walk yields.
#[derive(Debug)]
pub enum WalkItem {
    Entry(Entry),
    Problem(Problem),
    Meta(MetaEntry),
}

/// A directory to list next.
struct Pending {
    fd: io::Result<Arc<OwnedFd>>,
    cipher_rel: PathBuf,
    plain_rel: PathBuf,
}

/// A streaming walk over an unlocked vault.
pub struct Walker<'v> {
    vault: &'v UnlockedVault,
    selection: &'v Selection,
    opener: BlockOpener<'v>,
    stack: Vec<std::vec::IntoIter<WalkItem>>,
    descend: Option<Pending>,
    matched: Vec<bool>,
    with_meta: bool,
}

enum IvState {
    Iv(DirIv),
    Missing,
    Damaged(DirIvError),
    Unreadable(io::Error),
}

impl<'v> Walker<'v> {
    pub fn new(vault: &'v UnlockedVault, selection: &'v Selection) -> Walker<'v> {
        let root = at::open_dir(vault.root()).map(Arc::new);
        Walker {
            vault,
            selection,
            opener: vault.content().opener(),
            stack: Vec::new(),
            descend: Some(Pending {
                fd: root,
                cipher_rel: PathBuf::new(),
                plain_rel: PathBuf::new(),
            }),
            matched: vec![false; selection.paths().len()],
            with_meta: false,
        }
    }

    /// Also yield the config, diriv and sidecar files (for manifests).
    pub fn with_meta(mut self) -> Self {
        self.with_meta = true;
        self
    }

    /// Selected paths that no entry matched (call after the walk).
    pub fn unmatched(&self) -> Vec<PathBuf> {
        self.selection
            .paths()
            .iter()
            .zip(&self.matched)
            .filter(|(_, m)| !**m)
            .map(|(p, _)| p.clone())
            .collect()
    }

    fn read_dir_iv(&self, dir: &OwnedFd) -> IvState {
        if !self.vault.layout().has_dir_iv() {
            return IvState::Iv(DirIv::ZERO);
        }
        match at::open_regular_at(dir.as_fd(), OsStr::new(DIRIV_NAME))
            .and_then(|f| at::read_limited(f, DIRIV_LEN))
        {
            Ok(bytes) => match DirIv::parse(&bytes) {
                Ok(iv) => IvState::Iv(iv),
                Err(e) => IvState::Damaged(e),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => IvState::Missing,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                IvState::Damaged(DirIvError::NotAFile)
            }
            Err(e) => IvState::Unreadable(e),
        }
    }

    /// Lists one directory: decrypted entries sorted by name, then problems.
    fn list_dir(&mut self, pending: Pending) -> Vec<WalkItem> {
        let Pending {
            fd,
            cipher_rel,
            plain_rel,
        } = pending;
        let problem = |cipher: PathBuf, plain: Option<PathBuf>, kind| {
            WalkItem::Problem(Problem {
                cipher_path: cipher,
                plain_path: plain,
                plain_dir: plain_rel.clone(),
                kind,
            })
        };
        let listed = fd.and_then(|fd| at::list(fd.as_fd()).map(|names| (fd, names)));
        let (dir, mut names) = match listed {
            Ok(x) => x,
            Err(error) => {
                return vec![problem(
                    cipher_rel.clone(),
                    Some(plain_rel.clone()),
                    ProblemKind::Unreadable {
                        action: "listing the directory",
                        error,
                    },
                )];
            }
        };
        names.sort();
        let vault = self.vault;
        let is_root = cipher_rel.as_os_str().is_empty();
        let layout = *vault.layout();
        let iv = match layout.names {
            NameMode::Plaintext => None,
            NameMode::Encrypted { .. } => Some(self.read_dir_iv(&dir)),
        };
        let mut metas: Vec<WalkItem> = Vec::new();
        let meta_item = |kind, name: &OsStr, owner: PathBuf| {
            WalkItem::Meta(MetaEntry {
                kind,
                cipher_path: cipher_rel.join(name),
                parent: Arc::clone(&dir),
                cipher_name: name.to_os_string(),
                owner,
            })
        };
        if self.with_meta {
            if is_root && names.iter().any(|n| n == CONFIG_NAME) {
                metas.push(meta_item(
                    MetaKind::Config,
                    OsStr::new(CONFIG_NAME),
                    PathBuf::new(),
                ));
            }
            if matches!(iv, Some(IvState::Iv(_))) && layout.has_dir_iv() {
                metas.push(meta_item(
                    MetaKind::DirIv,
                    OsStr::new(DIRIV_NAME),
                    plain_rel.clone(),
                ));
            }
        }
        let mut seen: HashSet<Vec<u8>> = HashSet::with_capacity(names.len());
        let mut entries: Vec<(Vec<u8>, WalkItem)> = Vec::with_capacity(names.len());
        let mut problems = Vec::new();

        for name in names {
            if is_root && name == CONFIG_NAME {
                continue;
            }
            let cipher_path = cipher_rel.join(&name);
            let plain_name = match (&iv, vault.names()) {
                (Some(iv), Some(names_cipher)) => {
                    if layout.has_dir_iv() && name == DIRIV_NAME {
                        continue;
                    }
                    if is_transient(&name, is_root) {
                        continue;
                    }
                    if let Some(text) = name.to_str()
                        && longname::classify(text) == LongNameKind::Sidecar
                    {
                        continue;
                    }
                    let iv = match iv {
                        IvState::Iv(iv) => iv,
                        IvState::Missing => {
                            problems.push(problem(cipher_path, None, ProblemKind::DirIvMissing));
                            continue;
                        }
                        IvState::Damaged(e) => {
                            problems.push(problem(
                                cipher_path,
                                None,
                                ProblemKind::DirIvDamaged(e.clone()),
                            ));
                            continue;
                        }
                        IvState::Unreadable(e) => {
                            let error = io::Error::new(e.kind(), e.to_string());
                            problems.push(problem(
                                cipher_path,
                                None,
                                ProblemKind::Unreadable {
                                    action: "reading gocryptfs.diriv",
                                    error,
                                },
                            ));
                            continue;
                        }
                    };
                    let long_name_max = match layout.names {
                        NameMode::Encrypted { long_name_max, .. } => long_name_max,
                        NameMode::Plaintext => u8::MAX,
                    };
                    match decrypt_entry_name(&dir, &name, iv, names_cipher, long_name_max) {
                        Ok(plain) => plain,
                        Err(kind) => {
                            problems.push(problem(cipher_path, None, kind));
                            continue;
                        }
                    }
                }
                _ => name.as_bytes().to_vec(),
            };
            let plain_path = plain_rel.join(OsStr::from_bytes(&plain_name));
            if self.with_meta
                && let Some(text) = name.to_str()
                && longname::classify(text) == LongNameKind::Hashed
            {
                let sidecar = longname::sidecar_name(text);
                metas.push(meta_item(
                    MetaKind::Sidecar,
                    OsStr::new(&sidecar),
                    plain_path.clone(),
                ));
            }
            if !seen.insert(plain_name.clone()) {
                problems.push(problem(
                    cipher_path,
                    Some(plain_path),
                    ProblemKind::DuplicateName,
                ));
                continue;
            }
            let meta = match at::lstat_at(dir.as_fd(), &name) {
                Ok(m) => m,
                Err(error) => {
                    problems.push(problem(
                        cipher_path,
                        Some(plain_path),
                        ProblemKind::Unreadable {
                            action: "reading metadata",
                            error,
                        },
                    ));
                    continue;
                }
            };
            let kind = match meta.kind {
                Kind::File => EntryKind::File {
                    plain_size: layout.content.plain_size(meta.size),
                },
                Kind::Dir => EntryKind::Dir,
                Kind::Symlink => match self.symlink_target(&dir, &name) {
                    Ok(target) => EntryKind::Symlink { target },
                    Err(kind) => {
                        problems.push(problem(cipher_path, Some(plain_path), kind));
                        continue;
                    }
                },
                Kind::Fifo => EntryKind::Fifo,
                Kind::Socket => EntryKind::Socket,
                Kind::CharDevice => EntryKind::CharDevice { rdev: meta.rdev },
                Kind::BlockDevice => EntryKind::BlockDevice { rdev: meta.rdev },
            };
            let entry = Entry {
                plain_path,
                cipher_path,
                parent: Arc::clone(&dir),
                cipher_name: name,
                kind,
                mode: meta.mode,
                mtime_sec: meta.mtime_sec,
                mtime_nsec: meta.mtime_nsec,
                cipher_size: meta.size,
                want: Want::Selected,
            };
            entries.push((plain_name, WalkItem::Entry(entry)));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<WalkItem> = entries.into_iter().map(|(_, item)| item).collect();
        out.extend(metas);
        out.extend(problems);
        out
    }

    fn symlink_target(&mut self, dir: &OwnedFd, name: &OsStr) -> Result<Vec<u8>, ProblemKind> {
        let stored =
            at::readlink_at(dir.as_fd(), name).map_err(|error| ProblemKind::Unreadable {
                action: "reading the symlink",
                error,
            })?;
        match self.vault.names() {
            None => Ok(stored),
            Some(names) => {
                let text = std::str::from_utf8(&stored)
                    .map_err(|_| ProblemKind::SymlinkTarget(symlink::SymlinkError::Base64))?;
                symlink::decrypt_target(&mut self.opener, names.encoding(), text)
                    .map_err(ProblemKind::SymlinkTarget)
            }
        }
    }
}

/// Decrypts one stored name (reading its sidecar for long names) and checks
/// that it is exactly what gocryptfs would store for the result: the same
/// EME ciphertext, hashed if and only if it exceeds LongNameMax. Anything
/// else cannot be opened through a gocryptfs mount.
fn decrypt_entry_name(
    dir: &OwnedFd,
    name: &OsStr,
    iv: &DirIv,
    names: &NameCipher,
    long_name_max: u8,
) -> Result<Vec<u8>, ProblemKind> {
    let text = name.to_str().ok_or(ProblemKind::Name(NameError::Base64))?;
    let hashed = longname::classify(text) == LongNameKind::Hashed;
    let cipher_name = if hashed {
        read_sidecar(dir, text, names)?
    } else {
        text.to_string()
    };
    let plain = names.decrypt(&cipher_name, iv).map_err(ProblemKind::Name)?;
    let canonical = names.encrypt(&plain, iv).map_err(ProblemKind::Name)?;
    if canonical != cipher_name || longname::needs_hashing(&canonical, long_name_max) != hashed {
        return Err(ProblemKind::NonCanonicalName);
    }
    Ok(plain)
}

/// Leftovers of interrupted gocryptfs operations, which a mount skips and
/// which carry no user data.
fn is_transient(name: &OsStr, is_root: bool) -> bool {
    let bytes = name.as_bytes();
    (is_root && (bytes == b"gocryptfs.conf.tmp" || bytes == b"gocryptfs.conf.bak"))
        || bytes.starts_with(b"gocryptfs.diriv.rmdir.")
}

fn read_sidecar(dir: &OwnedFd, hashed: &str, names: &NameCipher) -> Result<String, ProblemKind> {
    let sidecar = longname::sidecar_name(hashed);
    match at::open_regular_at(dir.as_fd(), OsStr::new(&sidecar))
        .and_then(|f| at::read_limited(f, SIDECAR_MAX))
    {
        Ok(buf) => longname::parse_sidecar(hashed, &buf, names.encoding())
            .map_err(ProblemKind::SidecarDamaged),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ProblemKind::SidecarMissing),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            Err(ProblemKind::SidecarDamaged(SidecarError::NotAFile))
        }
        Err(error) => Err(ProblemKind::Unreadable {
            action: "reading the .name sidecar",
            error,
        }),
    }
}

impl Iterator for Walker<'_> {
    type Item = WalkItem;

    fn next(&mut self) -> Option<WalkItem> {
        loop {
            if let Some(pending) = self.descend.take() {
                let items = self.list_dir(pending);
                self.stack.push(items.into_iter());
            }
            let top = self.stack.last_mut()?;
            let Some(item) = top.next() else {
                self.stack.pop();
                continue;
            };
            let mut entry = match item {
                WalkItem::Entry(entry) => entry,
                WalkItem::Problem(p) => {
                    // A problem whose path is known and not selected is not ours.
                    let unselected = p
                        .plain_path
                        .as_ref()
                        .is_some_and(|path| self.selection.wants(path) == Want::No);
                    if unselected {
                        continue;
                    }
                    return Some(WalkItem::Problem(p));
                }
                WalkItem::Meta(m) => {
                    // Metadata of selected parts only.
                    if self.selection.wants(&m.owner) == Want::No {
                        continue;
                    }
                    return Some(WalkItem::Meta(m));
                }
            };
            entry.want = self.selection.wants(&entry.plain_path);
            if entry.want == Want::No {
                continue;
            }
            for (sel, matched) in self.selection.paths().iter().zip(self.matched.iter_mut()) {
                if entry.plain_path == *sel {
                    *matched = true;
                }
            }
            if entry.kind == EntryKind::Dir {
                self.descend = Some(Pending {
                    fd: at::open_dir_at(entry.parent.as_fd(), &entry.cipher_name).map(Arc::new),
                    cipher_rel: entry.cipher_path.clone(),
                    plain_rel: entry.plain_path.clone(),
                });
            }
            return Some(WalkItem::Entry(entry));
        }
    }
}
