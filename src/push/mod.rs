//! Pushing an encrypted folder to a remote, with the guards that keep the
//! classic disasters away, and a check of the remote afterwards.
//!
//! The order of a push: the source is checked (a vault, not empty, not an
//! unmounted mount point); the remote is listed and the deletions a sync
//! would make are counted against a limit; the data is synced, and the
//! manifest folder after it, so an interrupted push leaves the previous
//! manifest on the remote, describing the previous complete push; then the
//! remote is listed again and every object compared with the vault: present,
//! same size, same hash where the remote keeps one, nothing unexpected.
//!
//! A remote is an rclone remote (`b2:bucket/vault`) or a local folder (an
//! external disk), which is synced natively without rclone.

pub mod local;
pub mod run;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use thiserror::Error;

use crate::exit::ExitStatus;
use crate::format::config::CONFIG_NAME;
use crate::manifest::{ManifestReader, Record};
use crate::problem::{Problem, ProblemKind};
use crate::rclone::{Rclone, RcloneError, RemoteObject};
use crate::staging::TEMP_PREFIX;

/// The suffix rclone gives symlinks stored as objects (`--links`).
pub const LINK_SUFFIX: &str = ".rclonelink";

/// Where a push goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Remote {
    /// A local folder (an external disk), synced natively.
    Local(PathBuf),
    /// An rclone remote, `name:path` or `:backend:path`.
    Rclone(String),
}

impl Remote {
    /// rclone's rule: `name:rest`, where the name is letters, digits and
    /// `_-.+@ `, is a remote (as is `:backend:rest`); anything else, and
    /// anything starting with `/` or `.`, is a local path.
    pub fn parse(text: &str) -> Remote {
        if text.starts_with('/') || text.starts_with('.') || text.starts_with('~') {
            return Remote::Local(PathBuf::from(text));
        }
        let name = text.strip_prefix(':').unwrap_or(text);
        match name.split_once(':') {
            Some((name, _))
                if !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_alphanumeric() || "_-.+@ ,=".contains(c))
                    && !name.contains('/') =>
            {
                Remote::Rclone(text.to_string())
            }
            _ => Remote::Local(PathBuf::from(text)),
        }
    }

    /// The remote's root (`name:`), where asking about the backend needs no
    /// request to the service.
    pub fn root(&self) -> Option<&str> {
        let Remote::Rclone(text) = self else {
            return None;
        };
        let skip = usize::from(text.starts_with(':'));
        let end = text[skip..].find(':')? + skip + 1;
        Some(&text[..end])
    }

    /// `sub` under this remote.
    pub fn join(&self, sub: &str) -> Remote {
        match self {
            Remote::Local(path) => Remote::Local(path.join(sub)),
            Remote::Rclone(text) if text.ends_with(':') || text.ends_with('/') => {
                Remote::Rclone(format!("{text}{sub}"))
            }
            Remote::Rclone(text) => Remote::Rclone(format!("{text}/{sub}")),
        }
    }

    /// Whether the remote string carries backend parameters that look like
    /// credentials (`:s3,secret_access_key=...:`, `url=https://u:p@host`);
    /// they would be on rclone's command line.
    pub fn has_inline_secret(&self) -> bool {
        let Remote::Rclone(text) = self else {
            return false;
        };
        let lower = text.to_ascii_lowercase();
        let parameters = lower.contains(',')
            && [
                "key",
                "secret",
                "pass",
                "token",
                "auth",
                "sas",
                "credential",
            ]
            .iter()
            .any(|word| lower.contains(word));
        // user:password@ inside a URL.
        let url_credentials = lower.split("://").skip(1).any(|rest| {
            let authority = rest.split('/').next().unwrap_or("");
            authority.contains('@') && authority.split('@').next().is_some_and(|u| u.contains(':'))
        });
        parameters || url_credentials
    }

    /// The remote for messages: backend parameters (which may hold
    /// secrets) replaced by `…`.
    pub fn redacted(&self) -> String {
        match self {
            Remote::Rclone(text) if text.contains(',') || text.contains("://") => {
                match (text.split_once(','), text.rsplit_once(':')) {
                    (Some((head, _)), Some((_, path))) => format!("{head},…:{path}"),
                    _ => "(remote with parameters)".into(),
                }
            }
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Remote::Local(path) => write!(f, "{}", path.display()),
            Remote::Rclone(text) => f.write_str(text),
        }
    }
}

/// How many remote objects a push may delete.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DeleteLimit {
    /// 10 % of the remote's objects, and never more than 1000.
    Default,
    Count(u64),
    Percent(f64),
}

impl FromStr for DeleteLimit {
    type Err = String;

    fn from_str(text: &str) -> Result<DeleteLimit, String> {
        let bad = || format!("{text:?} is not a count (500) or a percentage (10%)");
        match text.strip_suffix('%') {
            Some(number) => {
                let p: f64 = number.trim().parse().map_err(|_| bad())?;
                if (0.0..=100.0).contains(&p) {
                    Ok(DeleteLimit::Percent(p))
                } else {
                    Err(bad())
                }
            }
            None => text
                .trim()
                .parse()
                .map(DeleteLimit::Count)
                .map_err(|_| bad()),
        }
    }
}

impl DeleteLimit {
    /// The most deletions allowed on a remote of `total` objects.
    pub fn allowed(&self, total: u64) -> u64 {
        match *self {
            DeleteLimit::Default => (total / 10).min(1000),
            DeleteLimit::Count(n) => n,
            DeleteLimit::Percent(p) => (total as f64 * p / 100.0).floor() as u64,
        }
    }
}

impl fmt::Display for DeleteLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeleteLimit::Default => f.write_str("10 % and at most 1000"),
            DeleteLimit::Count(n) => write!(f, "{n}"),
            DeleteLimit::Percent(p) => write!(f, "{p} %"),
        }
    }
}

#[derive(Debug, Error)]
pub enum PushError {
    #[error("{}: does not exist", .path.display())]
    SourceMissing { path: PathBuf },
    #[error("{}: is empty{}", .path.display(), if *.mount_point { ": a mount point with nothing mounted" } else { "" })]
    SourceEmpty { path: PathBuf, mount_point: bool },
    #[error("{}: is not {}: it has no {config}", .path.display(), if *.reverse { "the plaintext folder of a reverse vault" } else { "an encrypted vault folder" })]
    NotAVault {
        path: PathBuf,
        reverse: bool,
        config: &'static str,
        /// The folder is a gocryptfs mount (the plaintext view).
        plaintext_mount: bool,
    },
    #[error(
        "{remote}: the push would delete {deletes} of the {total} objects on the remote (the limit is {limit})"
    )]
    TooManyDeletes {
        remote: String,
        deletes: u64,
        total: u64,
        limit: DeleteLimit,
    },
    #[error("{}: does not exist, and {} is empty: a disk that is not mounted?", .path.display(), .parent.display())]
    DestinationUnmounted { path: PathBuf, parent: PathBuf },
    #[error("{}: the destination and the vault folder {} contain one another", .destination.display(), .vault.display())]
    Overlap {
        vault: PathBuf,
        destination: PathBuf,
    },
    /// `remote` is shown redacted.
    #[error(
        "{remote}: the remote is given with credentials in it; they would be on rclone's command line"
    )]
    InlineSecret { remote: String },
    #[error("{}: the local vault is damaged at {count} path(s) (listed above); pushing would spread the damage", .path.display())]
    LocalDamage {
        path: PathBuf,
        count: usize,
        problems: Vec<Problem>,
    },
    #[error("{}: {count} file(s) could not be exported (listed above); the push would be incomplete", .path.display())]
    ExportProblems {
        path: PathBuf,
        count: usize,
        problems: Vec<Problem>,
    },
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    #[error(transparent)]
    Refresh(#[from] crate::manifest::refresh::RefreshError),
    #[error("{}: {action}: {error}", .path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        error: io::Error,
    },
    #[error(transparent)]
    Rclone(#[from] RcloneError),
}

impl PushError {
    pub fn status(&self) -> ExitStatus {
        match self {
            PushError::LocalDamage { .. } => ExitStatus::Damaged,
            PushError::ExportProblems { problems, .. } => crate::problem::overall_status(problems),
            PushError::Export(e) => e.status(),
            _ => ExitStatus::CouldNotRun,
        }
    }

    pub fn hint(&self) -> Option<String> {
        Some(match self {
            PushError::SourceMissing { .. } => "check the path; is the disk mounted?".into(),
            PushError::SourceEmpty { .. } => {
                "mount the disk or the folder first: pushing an empty folder would empty the \
                 remote"
                    .into()
            }
            PushError::NotAVault {
                plaintext_mount: true,
                ..
            } => "this is a gocryptfs mount (the decrypted view): push the encrypted folder \
                  instead"
                .into(),
            PushError::NotAVault { reverse: false, .. } => {
                "give the encrypted folder (the one with gocryptfs.conf); for a reverse vault \
                 use --reverse with its plaintext folder"
                    .into()
            }
            PushError::NotAVault { reverse: true, .. } => {
                "give the plaintext folder of a reverse vault (made by `gocryptfs -init \
                 -reverse` or `vaultdrill init --reverse`)"
                    .into()
            }
            PushError::TooManyDeletes { .. } => {
                "check that the source is the right folder and complete; if the deletions are \
                 intended, raise --max-delete or pass --force"
                    .into()
            }
            PushError::DestinationUnmounted { .. } => {
                "mount the disk; if the folder should be created there, create it yourself".into()
            }
            PushError::Overlap { .. } => {
                "push to a folder outside the vault (another disk, ideally)".into()
            }
            PushError::InlineSecret { .. } => {
                "add the remote to rclone's config (`rclone config`) and push to it by name".into()
            }
            PushError::LocalDamage { .. } => {
                "restore the damaged paths from the remote first (`vaultdrill verify` lists \
                 them); --force pushes anyway"
                    .into()
            }
            PushError::Io { .. } => "check the path and its permissions".into(),
            PushError::Rclone(e) => return e.hint(),
            PushError::Refresh(e) => return e.hint(),
            PushError::Export(e) => return e.hint(),
            PushError::ExportProblems { .. } => {
                "make the files readable, or leave them out with --exclude; --force pushes \
                 the rest"
                    .into()
            }
        })
    }
}

/// The key of an object path in the sets below (16 bytes, not the path).
pub fn key(path: &[u8]) -> u128 {
    let hash = blake3::hash(path);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash.as_bytes()[..16]);
    u128::from_le_bytes(bytes)
}

/// Is `path` a mount point (its device differs from its parent's)?
pub fn is_mount_point(path: &Path) -> bool {
    let (Ok(me), Some(Ok(parent))) = (
        std::fs::metadata(path),
        path.canonicalize()
            .ok()
            .and_then(|p| p.parent().map(std::fs::metadata)),
    ) else {
        return false;
    };
    me.dev() != parent.dev()
}

/// Is `path` a mount point named in /etc/fstab?
pub fn in_fstab(path: &Path) -> bool {
    let Ok(path) = path.canonicalize() else {
        return false;
    };
    let Ok(fstab) = std::fs::read_to_string("/etc/fstab") else {
        return false;
    };
    fstab
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_whitespace().nth(1))
        .any(|m| Path::new(&m.replace("\\040", " ")) == path)
}

/// Is `path` a gocryptfs FUSE mount (per /proc/self/mountinfo)?
pub fn is_gocryptfs_mount(path: &Path) -> bool {
    let Ok(path) = path.canonicalize() else {
        return false;
    };
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    info.lines().any(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(dash) = fields.iter().position(|f| *f == "-") else {
            return false;
        };
        let mount_point = fields.get(4).map(|m| m.replace("\\040", " "));
        mount_point.as_deref() == path.to_str()
            && fields
                .get(dash + 1)
                .is_some_and(|t| t.contains("gocryptfs"))
    })
}

/// Refuses a source that looks wrong: missing, empty, an unmounted mount
/// point, not a vault. `config` is where the config lives when it is not in
/// the folder (then the folder need not hold one).
pub fn check_source(dir: &Path, reverse: bool, config: Option<&Path>) -> Result<(), PushError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(PushError::SourceMissing {
                path: dir.to_path_buf(),
            });
        }
        Err(error) => {
            return Err(PushError::Io {
                path: dir.to_path_buf(),
                action: "reading the folder",
                error,
            });
        }
    };
    let mut names = HashSet::new();
    for entry in entries.flatten() {
        names.insert(entry.file_name());
    }
    if names.is_empty() {
        return Err(PushError::SourceEmpty {
            path: dir.to_path_buf(),
            mount_point: in_fstab(dir) && !is_mount_point(dir),
        });
    }
    let wanted = if reverse {
        crate::format::config::REVERSE_CONFIG_NAME
    } else {
        CONFIG_NAME
    };
    if config.is_none() && !names.contains(std::ffi::OsStr::new(wanted)) {
        return Err(PushError::NotAVault {
            path: dir.to_path_buf(),
            reverse,
            config: wanted,
            plaintext_mount: is_gocryptfs_mount(dir),
        });
    }
    Ok(())
}

/// The nearest existing ancestor of `path` (itself if it exists),
/// canonical, with the missing rest appended.
fn canonical_prefix(path: &Path) -> Option<PathBuf> {
    let mut rest = Vec::new();
    let mut p = path.to_path_buf();
    loop {
        if let Ok(c) = p.canonicalize() {
            return Some(rest.into_iter().rev().fold(c, |acc, part| acc.join(part)));
        }
        rest.push(p.file_name()?.to_os_string());
        p = p.parent()?.to_path_buf();
        if p.as_os_str().is_empty() {
            p = PathBuf::from(".");
        }
    }
}

/// A local folder as a destination for `src`: not inside it nor holding
/// it, and it must exist, or its parent must exist and not be empty (an
/// empty parent is how an unmounted disk looks).
pub fn check_local_destination(src: &Path, dst: &Path) -> Result<(), PushError> {
    if let (Some(s), Some(d)) = (canonical_prefix(src), canonical_prefix(dst))
        && (s.starts_with(&d) || d.starts_with(&s))
    {
        return Err(PushError::Overlap {
            vault: src.to_path_buf(),
            destination: dst.to_path_buf(),
        });
    }
    if dst.is_dir() {
        return Ok(());
    }
    let parent = dst
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let empty = std::fs::read_dir(parent).map(|mut d| d.next().is_none());
    match empty {
        Ok(false) => Ok(()),
        Ok(true) => Err(PushError::DestinationUnmounted {
            path: dst.to_path_buf(),
            parent: parent.to_path_buf(),
        }),
        Err(error) => Err(PushError::Io {
            path: parent.to_path_buf(),
            action: "opening the destination's parent folder",
            error,
        }),
    }
}

/// What the source folder holds, as the remote will hold it.
#[derive(Debug, Default)]
pub struct Inventory {
    /// Object key -> size.
    /// Object key -> (size, mtime in ns).
    pub objects: HashMap<u128, (u64, i64)>,
    /// Folder keys (a local destination keeps folders).
    pub dirs: HashSet<u128>,
    pub bytes: u64,
    /// Named pipes, sockets and device nodes: no remote can hold them.
    pub specials: Vec<PathBuf>,
}

/// How the source maps to objects.
#[derive(Clone, Debug)]
pub struct InventoryOptions {
    /// Include the top-level config file.
    pub upload_config: bool,
    /// Symlinks become `<name>.rclonelink` objects (rclone `--links`).
    pub links_as_objects: bool,
}

/// Relative object path of a walk entry, `/`-separated.
fn rel_bytes(root: &Path, path: &Path) -> Vec<u8> {
    path.strip_prefix(root)
        .unwrap_or(path)
        .as_os_str()
        .as_bytes()
        .to_vec()
}

fn is_temp(name: &std::ffi::OsStr) -> bool {
    name.as_bytes().starts_with(TEMP_PREFIX.as_bytes())
}

/// Walks the source folder (ciphertext, never decrypted).
pub fn inventory(root: &Path, options: &InventoryOptions) -> Result<Inventory, PushError> {
    let mut inv = Inventory::default();
    let walk = walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| !is_temp(e.file_name()));
    for entry in walk {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(root).to_path_buf();
            PushError::Io {
                path,
                action: "listing the source",
                error: e.into(),
            }
        })?;
        let rel = rel_bytes(root, entry.path());
        if !options.upload_config && rel == CONFIG_NAME.as_bytes() {
            continue;
        }
        let kind = entry.file_type();
        if kind.is_dir() {
            inv.dirs.insert(key(&rel));
        } else if kind.is_file() {
            let meta = entry.metadata().map_err(|e| PushError::Io {
                path: entry.path().to_path_buf(),
                action: "reading metadata",
                error: e.into(),
            })?;
            let mtime = meta.mtime().saturating_mul(1_000_000_000) + meta.mtime_nsec();
            inv.objects.insert(key(&rel), (meta.len(), mtime));
            inv.bytes += meta.len();
        } else if kind.is_symlink() {
            let target = std::fs::read_link(entry.path()).map_err(|error| PushError::Io {
                path: entry.path().to_path_buf(),
                action: "reading the symlink",
                error,
            })?;
            let size = target.as_os_str().len() as u64;
            let mut name = rel;
            if options.links_as_objects {
                name.extend_from_slice(LINK_SUFFIX.as_bytes());
            }
            let mtime = entry
                .metadata()
                .map(|m| m.mtime().saturating_mul(1_000_000_000) + m.mtime_nsec())
                .unwrap_or(0);
            inv.objects.insert(key(&name), (size, mtime));
            inv.bytes += size;
        } else {
            inv.specials.push(entry.path().to_path_buf());
        }
    }
    Ok(inv)
}

/// The names of the inventory objects whose keys are in `wanted` (a second
/// walk, for reports only).
pub fn names_of(root: &Path, options: &InventoryOptions, wanted: &HashSet<u128>) -> Vec<String> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| !is_temp(e.file_name()))
        .flatten()
    {
        let mut rel = rel_bytes(root, entry.path());
        if entry.file_type().is_symlink() && options.links_as_objects {
            rel.extend_from_slice(LINK_SUFFIX.as_bytes());
        }
        if wanted.contains(&key(&rel)) {
            out.push(String::from_utf8_lossy(&rel).into_owned());
        }
    }
    out.sort();
    out
}

/// Lists a remote: through rclone, or by walking a local folder.
pub enum Lister<'a> {
    Local(&'a Path),
    Rclone(&'a Rclone, &'a str),
}

impl Lister<'_> {
    pub fn list(
        &self,
        hash: Option<&str>,
        each: &mut dyn FnMut(RemoteObject),
    ) -> Result<(), PushError> {
        match self {
            Lister::Rclone(rclone, remote) => Ok(rclone.list(remote, hash, each)?),
            Lister::Local(root) => {
                if !root.exists() {
                    return Ok(());
                }
                for entry in walkdir::WalkDir::new(root)
                    .min_depth(1)
                    .into_iter()
                    .filter_entry(|e| !is_temp(e.file_name()))
                {
                    let entry = entry.map_err(|e| PushError::Io {
                        path: e.path().unwrap_or(root).to_path_buf(),
                        action: "listing the destination",
                        error: e.into(),
                    })?;
                    if entry.file_type().is_dir() {
                        continue;
                    }
                    let size = std::fs::symlink_metadata(entry.path())
                        .map(|m| m.len() as i64)
                        .unwrap_or(-1);
                    let raw = rel_bytes(root, entry.path());
                    each(RemoteObject {
                        path: String::from_utf8_lossy(&raw).into_owned(),
                        raw,
                        size,
                        hash: None,
                    });
                }
                Ok(())
            }
        }
    }
}

/// The remote's objects before a push (keys only).
#[derive(Debug, Default)]
pub struct Snapshot {
    pub keys: Vec<u128>,
    pub has_config: bool,
}

/// Lists the remote before a push; fails fast when it cannot be reached.
pub fn snapshot(lister: &Lister<'_>) -> Result<Snapshot, PushError> {
    let mut snap = Snapshot::default();
    lister.list(None, &mut |object| {
        if object.path == CONFIG_NAME {
            snap.has_config = true;
        }
        snap.keys.push(key(&object.raw));
    })?;
    Ok(snap)
}

/// What a sync would delete.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub remote_objects: u64,
    pub deletes: u64,
    /// The remote holds a config although this push does not upload one.
    pub remote_config_kept: bool,
}

/// Counts the remote objects the sync would delete.
pub fn plan(inventory: &Inventory, snapshot: &Snapshot, upload_config: bool) -> Plan {
    let config = key(CONFIG_NAME.as_bytes());
    let mut plan = Plan {
        remote_objects: snapshot.keys.len() as u64,
        remote_config_kept: !upload_config && snapshot.has_config,
        deletes: 0,
    };
    for k in &snapshot.keys {
        if !(upload_config || *k != config) {
            continue;
        }
        if !inventory.objects.contains_key(k) {
            plan.deletes += 1;
        }
    }
    plan
}

/// Refuses a plan that deletes more than `limit` allows, unless forced.
pub fn check_plan(
    plan: &Plan,
    limit: DeleteLimit,
    force: bool,
    remote: &Remote,
) -> Result<(), PushError> {
    if force || plan.deletes <= limit.allowed(plan.remote_objects) {
        return Ok(());
    }
    Err(PushError::TooManyDeletes {
        remote: remote.to_string(),
        deletes: plan.deletes,
        total: plan.remote_objects,
        limit,
    })
}

/// The hash type to ask the remote for, among those it keeps: BLAKE3 (the
/// manifest always has it), else SHA-1 (B2), else MD5 (S3).
pub fn pick_hash(remote_hashes: &[String]) -> Option<&'static str> {
    ["blake3", "sha1", "md5"]
        .into_iter()
        .find(|h| remote_hashes.iter().any(|r| r.eq_ignore_ascii_case(h)))
}

/// What the remote should hold, for the check after a push.
struct ExpectedObject {
    size: u64,
    mtime_ns: i64,
    hash: Option<Box<str>>,
    seen: bool,
}

/// The result of comparing a remote listing with the vault.
#[derive(Debug, Default)]
pub struct RemoteCheck {
    pub objects: u64,
    pub bytes: u64,
    /// Objects whose hash was compared.
    pub hashed: u64,
    pub hash: Option<&'static str>,
    pub problems: Vec<Problem>,
}

fn remote_problem(path: &str, kind: ProblemKind) -> Problem {
    Problem {
        cipher_path: path.into(),
        plain_path: None,
        plain_dir: PathBuf::new(),
        kind,
    }
}

/// Lists the remote and compares it with the inventory (every object
/// present with its size, nothing unexpected) and, where both have it, the
/// manifest's hash of the object.
pub fn check_remote<R: io::BufRead>(
    source: &Path,
    inventory: &Inventory,
    options: &InventoryOptions,
    manifest: Option<ManifestReader<R>>,
    hash: Option<&'static str>,
    lister: &Lister<'_>,
) -> Result<RemoteCheck, PushError> {
    let mut expected: HashMap<u128, ExpectedObject> = inventory
        .objects
        .iter()
        .map(|(k, (size, mtime_ns))| {
            (
                *k,
                ExpectedObject {
                    size: *size,
                    mtime_ns: *mtime_ns,
                    hash: None,
                    seen: false,
                },
            )
        })
        .collect();
    if let (Some(mut reader), Some(hash)) = (manifest, hash) {
        while let Ok(Some(record)) = reader.next_record() {
            attach_hash(&mut expected, &record, hash, options.links_as_objects);
        }
    }
    let mut check = RemoteCheck {
        hash,
        ..Default::default()
    };
    lister.list(hash, &mut |object| {
        check.objects += 1;
        check.bytes += object.size.max(0) as u64;
        if !options.upload_config && object.path == CONFIG_NAME {
            return;
        }
        let Some(want) = expected.get_mut(&key(&object.raw)) else {
            check.problems.push(remote_problem(
                &object.path,
                ProblemKind::RemoteMismatch("on the remote but not in the vault".into()),
            ));
            return;
        };
        want.seen = true;
        if object.size >= 0 && object.size as u64 != want.size {
            check.problems.push(remote_problem(
                &object.path,
                ProblemKind::RemoteMismatch(format!(
                    "{} bytes on the remote, {} in the vault",
                    object.size, want.size
                )),
            ));
        } else if let (Some(theirs), Some(ours)) = (&object.hash, &want.hash) {
            check.hashed += 1;
            if !theirs.eq_ignore_ascii_case(ours) {
                check.problems.push(remote_problem(
                    &object.path,
                    ProblemKind::RemoteMismatch(format!(
                        "{} {theirs} on the remote, {ours} in the manifest",
                        hash.unwrap_or("hash")
                    )),
                ));
            }
        }
    })?;
    let missing: HashSet<u128> = expected
        .iter()
        .filter(|(_, e)| !e.seen)
        .map(|(k, _)| *k)
        .collect();
    if !missing.is_empty() {
        for name in names_of(source, options, &missing) {
            check
                .problems
                .push(remote_problem(&name, ProblemKind::RemoteMissing));
        }
    }
    check
        .problems
        .sort_by(|a, b| a.cipher_path.cmp(&b.cipher_path));
    Ok(check)
}

fn attach_hash(
    expected: &mut HashMap<u128, ExpectedObject>,
    record: &Record,
    hash: &str,
    links_as_objects: bool,
) {
    let value = match hash {
        "blake3" => record.cipher_blake3.as_deref(),
        "sha1" => record.cipher_sha1.as_deref(),
        "md5" => record.cipher_md5.as_deref(),
        _ => None,
    };
    let Some(value) = value else { return };
    let mut path = record.cipher_path.clone();
    if record.kind == "symlink" && links_as_objects {
        path.push_str(LINK_SUFFIX);
    }
    if let Some(want) = expected.get_mut(&key(path.as_bytes())) {
        // Only when the file is still the one the manifest hashed (a file
        // changed during the push is checked by size).
        if want.size == record.cipher_size && record.cipher_mtime_ns == Some(want.mtime_ns) {
            want.hash = Some(value.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_are_told_from_paths_as_rclone_does() {
        assert_eq!(
            Remote::parse("b2-backup:photo-bucket/vault"),
            Remote::Rclone("b2-backup:photo-bucket/vault".into())
        );
        assert_eq!(Remote::parse("s3:"), Remote::Rclone("s3:".into()));
        assert_eq!(
            Remote::parse(":s3,provider=AWS:bucket"),
            Remote::Rclone(":s3,provider=AWS:bucket".into())
        );
        assert_eq!(
            Remote::parse("/media/usb/vault"),
            Remote::Local("/media/usb/vault".into())
        );
        assert_eq!(Remote::parse("./a:b"), Remote::Local("./a:b".into()));
        assert_eq!(Remote::parse("backup"), Remote::Local("backup".into()));
        assert_eq!(Remote::parse("dir/a:b"), Remote::Local("dir/a:b".into()));
        assert_eq!(
            Remote::parse("b2:bucket").join("x"),
            Remote::Rclone("b2:bucket/x".into())
        );
        assert_eq!(
            Remote::parse("b2:").join("x"),
            Remote::Rclone("b2:x".into())
        );
        assert_eq!(Remote::parse("b2:bucket/v").root(), Some("b2:"));
        assert_eq!(Remote::parse(":s3:bucket/v").root(), Some(":s3:"));
        assert_eq!(Remote::parse("/mnt/x").root(), None);
        assert!(Remote::parse(":s3,secret_access_key=abc:bucket").has_inline_secret());
        assert!(!Remote::parse(":s3,provider=Rclone:bucket").has_inline_secret());
        assert!(!Remote::parse("b2-keys:bucket").has_inline_secret());
        let webdav = Remote::parse(":webdav,url=https://ana:hunter2@dav.example:dir");
        assert!(webdav.has_inline_secret());
        assert!(
            !webdav.redacted().contains("hunter2"),
            "{}",
            webdav.redacted()
        );
        let s3 = Remote::parse(":s3,secret_access_key=TOPSECRET:bucket");
        assert_eq!(s3.redacted(), ":s3,…:bucket");
    }

    #[test]
    fn delete_limits() {
        assert_eq!(DeleteLimit::Default.allowed(100), 10);
        assert_eq!(DeleteLimit::Default.allowed(9), 0);
        assert_eq!(DeleteLimit::Default.allowed(1_000_000), 1000);
        assert_eq!("25%".parse::<DeleteLimit>(), Ok(DeleteLimit::Percent(25.0)));
        assert_eq!("25%".parse::<DeleteLimit>().unwrap().allowed(10), 2);
        assert_eq!("7".parse::<DeleteLimit>(), Ok(DeleteLimit::Count(7)));
        assert!("many".parse::<DeleteLimit>().is_err());
        assert!("150%".parse::<DeleteLimit>().is_err());
        let plan = Plan {
            remote_objects: 100,
            deletes: 11,
            remote_config_kept: false,
        };
        let remote = Remote::parse("r:x");
        assert!(check_plan(&plan, DeleteLimit::Default, false, &remote).is_err());
        assert!(check_plan(&plan, DeleteLimit::Default, true, &remote).is_ok());
        assert!(check_plan(&plan, DeleteLimit::Count(11), false, &remote).is_ok());
    }

    #[test]
    fn hash_preference() {
        assert_eq!(pick_hash(&["md5".into()]), Some("md5"));
        assert_eq!(pick_hash(&["md5".into(), "sha1".into()]), Some("sha1"));
        assert_eq!(pick_hash(&["SHA1".into(), "blake3".into()]), Some("blake3"));
        assert_eq!(pick_hash(&["crc32".into()]), None);
    }
}
