//! Where manifests live: inside the vault as ordinary gocryptfs-encrypted
//! files (`.vaultdrill/manifest.jsonl`, the previous ones as
//! `.vaultdrill/manifest-<time>.jsonl`, a few kept), so they travel with the
//! data, leak no names, and a plain gocryptfs mount shows them; and a
//! plaintext copy of the newest one, with `gocryptfs.conf`, in the local
//! state directory, for the day the remote copy is the damaged one.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, BufReader, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::build::MANIFEST_DIR;
use super::{ManifestError, ManifestReader, Trailer};
use crate::at;
use crate::encrypt::VaultDir;
use crate::problem::ProblemKind;
use crate::selection::Selection;
use crate::vault::UnlockedVault;
use crate::vault::file::{CipherFile, PlainReader};
use crate::vault::walk::{Entry, EntryKind, WalkItem, Walker};

pub const CURRENT: &str = "manifest.jsonl";
/// How many previous manifests are kept beside the current one.
pub const KEEP_PREVIOUS: usize = 4;

/// The vault's manifests, newest first: the current one, then previous ones.
pub fn list(vault: &UnlockedVault) -> Vec<Entry> {
    let selection = Selection::parse(&[PathBuf::from(MANIFEST_DIR)]).unwrap_or_default();
    let mut found: Vec<Entry> = Walker::new(vault, &selection)
        .filter_map(|item| match item {
            WalkItem::Entry(e) if matches!(e.kind, EntryKind::File { .. }) => Some(e),
            _ => None,
        })
        .filter(|e| e.plain_path.parent() == Some(Path::new(MANIFEST_DIR)))
        .filter(|e| {
            let name = e.plain_name().to_string_lossy();
            name == CURRENT || (name.starts_with("manifest-") && name.ends_with(".jsonl"))
        })
        .collect();
    // "manifest.jsonl" first, then "manifest-<time>[-n]" newest first.
    found.sort_by_cached_key(|e| std::cmp::Reverse(age_key(&e.plain_name().to_string_lossy())));
    found
}

/// Orders manifest names by age: the current one is the newest, then kept
/// ones by time and by the counter added when two share a second.
fn age_key(name: &str) -> (bool, String, u32) {
    if name == CURRENT {
        return (true, String::new(), 0);
    }
    let stem = name
        .trim_start_matches("manifest-")
        .trim_end_matches(".jsonl");
    match stem.split_once('-') {
        Some((stamp, n)) => (false, stamp.to_string(), n.parse().unwrap_or(0)),
        None => (false, stem.to_string(), 0),
    }
}

/// A reader of one of the vault's manifests.
pub type VaultManifestReader<'v> = ManifestReader<BufReader<PlainReader<'v>>>;

pub fn open<'v>(
    vault: &'v UnlockedVault,
    entry: &Entry,
) -> Result<VaultManifestReader<'v>, ManifestError> {
    let file = CipherFile::open(vault, entry).map_err(|kind| {
        ManifestError::Io(io::Error::new(io::ErrorKind::InvalidData, kind.to_string()))
    })?;
    ManifestReader::new(BufReader::with_capacity(
        256 * 1024,
        PlainReader::new(vault, file),
    ))
}

/// The vault's current manifest, if it has one.
pub fn open_current(
    vault: &UnlockedVault,
) -> Result<Option<VaultManifestReader<'_>>, ManifestError> {
    match list(vault).into_iter().find(|e| e.plain_name() == CURRENT) {
        Some(entry) => open(vault, &entry).map(Some),
        None => Ok(None),
    }
}

/// Creates `.vaultdrill/` in the vault if it is missing, before a build,
/// so that the root's mtime the manifest records is the one it keeps.
pub fn prepare(vault: &UnlockedVault) -> Result<(), ProblemKind> {
    VaultDir::open(vault, Path::new(MANIFEST_DIR)).map(drop)
}

/// What [`store`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    /// The vault had no manifest.
    First,
    /// The new manifest replaced the current one, kept under this name.
    Replaced { kept: String },
    /// The current manifest already lists exactly these entries (made at
    /// `created`); the vault was left alone, so a push sends nothing.
    Unchanged { created: String },
}

/// What to do with the current manifest when a new one comes.
enum Current {
    /// It lists the same entries (made at `created`): keep it as it is.
    Same { created: String },
    /// Keep it as a previous manifest under this stamp.
    Keep { stamp: String },
}

/// Compares the current manifest (`opened`) with the new one's trailer. An
/// unreadable current manifest is kept (for study) under the time it was
/// replaced.
fn compare_current<R: std::io::BufRead>(
    opened: Result<ManifestReader<R>, ManifestError>,
    trailer: &Trailer,
    root_mtime_ns: Option<i64>,
) -> Current {
    let (created, old, old_root) = match opened {
        Ok(reader) => {
            let created = reader.header().created.clone();
            let root = reader.header().root_mtime_ns;
            (created, reader.finish().ok(), root)
        }
        Err(_) => (
            humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            None,
            None,
        ),
    };
    // The root's mtime is evidence too (it tells deletions from losses).
    if old_root == root_mtime_ns
        && old.is_some_and(|old| old.records_blake3 == trailer.records_blake3)
    {
        Current::Same { created }
    } else {
        Current::Keep {
            stamp: name_stamp(&created),
        }
    }
}

/// `2026-12-04T21:58:51Z` -> `20261204T215851Z`.
fn name_stamp(created: &str) -> String {
    created
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(16)
        .collect()
}

/// Stores the plaintext manifest `src_dir/src_name`, whose trailer is
/// `trailer`, as the vault's current manifest. The previous current one is
/// kept under its creation time, and only the newest [`KEEP_PREVIOUS`] of
/// those stay. The new one is encrypted under a temporary name first, so the
/// vault never lacks a current manifest.
pub fn store(
    vault: &UnlockedVault,
    src_dir: &Path,
    src_name: &OsStr,
    trailer: &Trailer,
    root_mtime_ns: Option<i64>,
) -> Result<Stored, ProblemKind> {
    let io = |action: &'static str| move |error| ProblemKind::Io { action, error };
    let dir = VaultDir::open(vault, Path::new(MANIFEST_DIR))?;
    let existing = list(vault);
    let current = existing.iter().find(|e| e.plain_name() == CURRENT);
    let mut kept_as = None;
    if let Some(entry) = current {
        match compare_current(open(vault, entry), trailer, root_mtime_ns) {
            Current::Same { created } => return Ok(Stored::Unchanged { created }),
            Current::Keep { stamp } => kept_as = Some(stamp),
        }
    }
    let staged = dir.cipher_name(vault, OsStr::new("manifest.jsonl.new"))?;
    match at::unlink_at(dir.fd.as_fd(), &staged) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(io("clearing a stale manifest")(e));
        }
        _ => {}
    }
    let src = at::open_dir(src_dir).map_err(io("opening the new manifest"))?;
    dir.put_file(vault, OsStr::new("manifest.jsonl.new"), &src, src_name)?;
    let current_cipher = dir.cipher_name(vault, OsStr::new(CURRENT))?;
    let stored = match kept_as {
        None => Stored::First,
        Some(stamp) => {
            // Manifests made within one second: a counter after the newest.
            let names: Vec<String> = existing
                .iter()
                .map(|e| e.plain_name().to_string_lossy().into_owned())
                .collect();
            let name = kept_name(&stamp, names.iter().map(String::as_str));
            let kept = dir.cipher_name(vault, OsStr::new(&name))?;
            // The content does not depend on the name: a rename keeps it valid.
            at::rename_noreplace_at(dir.fd.as_fd(), &current_cipher, &kept)
                .map_err(io("keeping the previous manifest"))?;
            Stored::Replaced { kept: name }
        }
    };
    at::rename_noreplace_at(dir.fd.as_fd(), &staged, &current_cipher)
        .map_err(io("putting the new manifest in place"))?;
    let previous: Vec<Entry> = list(vault)
        .into_iter()
        .filter(|e| e.plain_name() != CURRENT)
        .collect();
    for old in previous.iter().skip(KEEP_PREVIOUS) {
        at::unlink_at(old.parent.as_fd(), &old.cipher_name)
            .map_err(io("removing an old manifest"))?;
    }
    Ok(stored)
}

/// Stores the plaintext manifest `src` in the plaintext folder of a reverse
/// vault (`PLAINDIR/.vaultdrill/`), where an export picks it up: the same
/// rotation as [`store`], with plain files (mode 0600).
pub fn store_plain(
    plaindir: &Path,
    src: &Path,
    trailer: &Trailer,
    root_mtime_ns: Option<i64>,
) -> io::Result<Stored> {
    use std::os::unix::fs::PermissionsExt;
    let dir = plaindir.join(MANIFEST_DIR);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    let current = dir.join(CURRENT);
    let mut kept_as = None;
    if current.exists() {
        let opened = File::open(&current)
            .map_err(ManifestError::from)
            .and_then(|f| ManifestReader::new(BufReader::new(f)));
        match compare_current(opened, trailer, root_mtime_ns) {
            Current::Same { created } => return Ok(Stored::Unchanged { created }),
            Current::Keep { stamp } => kept_as = Some(stamp),
        }
    }
    let staged = dir.join("manifest.jsonl.new");
    fs::copy(src, &staged)?;
    fs::set_permissions(&staged, fs::Permissions::from_mode(0o600))?;
    File::open(&staged)?.sync_all()?;
    let names: Vec<String> = fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("manifest-") && n.ends_with(".jsonl"))
        .collect();
    let stored = match kept_as {
        None => Stored::First,
        Some(stamp) => {
            let name = kept_name(&stamp, names.iter().map(String::as_str));
            if dir.join(&name).exists() {
                return Err(io::Error::from(io::ErrorKind::AlreadyExists));
            }
            fs::rename(&current, dir.join(&name))?;
            Stored::Replaced { kept: name }
        }
    };
    fs::rename(&staged, &current)?;
    let mut kept: Vec<String> = fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("manifest-") && n.ends_with(".jsonl"))
        .collect();
    kept.sort_by_cached_key(|n| std::cmp::Reverse(age_key(n)));
    for old in kept.iter().skip(KEEP_PREVIOUS) {
        fs::remove_file(dir.join(old))?;
    }
    Ok(stored)
}

/// The name a previous manifest made at `stamp` is kept under, after the
/// kept `names` made in the same second.
fn kept_name<'a>(stamp: &str, names: impl Iterator<Item = &'a str>) -> String {
    let same_second = names
        .map(age_key)
        .filter(|(current, s, _)| !current && s == stamp)
        .map(|(_, _, n)| n)
        .max();
    match same_second {
        None => format!("manifest-{stamp}.jsonl"),
        Some(n) => format!("manifest-{stamp}-{}.jsonl", n + 1),
    }
}

/// The local state directory: `$VAULTDRILL_STATE_DIR`, else
/// `$XDG_STATE_HOME/vaultdrill`, else `~/.local/state/vaultdrill`.
pub fn state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VAULTDRILL_STATE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("vaultdrill");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| OsString::from("/"));
    PathBuf::from(home).join(".local/state/vaultdrill")
}

/// The cache directory (re-creatable data: export staging):
/// `$VAULTDRILL_CACHE_DIR`, else `$XDG_CACHE_HOME/vaultdrill`, else
/// `~/.cache/vaultdrill`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VAULTDRILL_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("vaultdrill");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| OsString::from("/"));
    PathBuf::from(home).join(".cache/vaultdrill")
}

/// Whether `id` is a vault id (32 lowercase hex digits), or the folder of
/// drills that never learnt one. Anything else (from a tampered manifest)
/// must not become a path.
pub fn is_vault_id(id: &str) -> bool {
    id == "unknown"
        || id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// This vault's folder in the state directory, not created; `None` for
/// what is not a vault id.
pub fn vault_path(vault_id: &str) -> Option<PathBuf> {
    is_vault_id(vault_id).then(|| state_dir().join("vaults").join(vault_id))
}

/// Every vault's folder in the state directory.
pub fn vault_paths() -> Vec<PathBuf> {
    fs::read_dir(state_dir().join("vaults"))
        .map(|dir| dir.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// The records of a JSON Lines history file, skipping lines that do not
/// parse; none when it cannot be opened.
pub fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
    let Ok(file) = File::open(path) else {
        return Vec::new();
    };
    io::BufRead::lines(io::BufReader::new(file))
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect()
}

/// This vault's folder in the state directory (mode 0700).
pub fn vault_state_dir(vault_id: &str) -> io::Result<PathBuf> {
    let dir = vault_path(vault_id).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{vault_id:?} is not a vault id"),
        )
    })?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    Ok(dir)
}

/// The local plaintext copy of a vault's newest manifest, if there is one.
pub fn local_copy(vault_id: &str) -> Option<PathBuf> {
    let path = vault_path(vault_id)?.join(CURRENT);
    path.is_file().then_some(path)
}

/// The state directory's reports folder (0700: reports name plaintext
/// paths), created when missing.
pub fn reports_dir() -> io::Result<PathBuf> {
    let dir = state_dir().join("reports");
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    Ok(dir)
}

/// Writes a report to `path`, a new file private to its owner (0600).
pub fn write_report(path: &Path, text: &str) -> io::Result<()> {
    let mut file = File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// Writes `bytes` to `dir/name` (mode 0600) atomically.
pub fn write_private(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let temp = dir.join(format!(".{name}.tmp"));
    let mut file = File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&temp, dir.join(name))
}

/// The local copy of a vault's newest manifest: when it was made, and the
/// BLAKE3 of its records (equal records, equal manifest, whatever the
/// date). Reads the whole copy.
pub fn local_copy_identity(vault_id: &str) -> Option<(String, String)> {
    let file = File::open(local_copy(vault_id)?).ok()?;
    let mut reader = super::ManifestReader::new(io::BufReader::new(file)).ok()?;
    let created = reader.header().created.clone();
    while reader.next_record().ok()?.is_some() {}
    Some((created, reader.finish().ok()?.records_blake3))
}

/// Keeps local copies of the manifest (plaintext) and the config.
pub fn save_local_copies(
    vault: &UnlockedVault,
    manifest: &Path,
    config: Option<&[u8]>,
) -> io::Result<PathBuf> {
    let dir = vault_state_dir(vault.vault_id())?;
    let temp = dir.join(".manifest.jsonl.tmp");
    let mut out = File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)?;
    io::copy(&mut File::open(manifest)?, &mut out)?;
    out.sync_all()?;
    fs::rename(&temp, dir.join(CURRENT))?;
    if let Some(config) = config {
        write_private(&dir, "gocryptfs.conf", config)?;
    }
    Ok(dir)
}
