//! Per-path problems found while reading a vault: the plain data that
//! reports, summaries and exit codes are made from.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::exit::ExitStatus;
use crate::format::content::{BlockError, HeaderError};
use crate::format::longname::SidecarError;
use crate::format::names::{DirIvError, NameError};
use crate::format::symlink::SymlinkError;

/// What went wrong with one entry.
#[derive(Debug)]
pub enum ProblemKind {
    /// The entry's name could not be decrypted or is not a legal name.
    Name(NameError),
    /// The directory's `gocryptfs.diriv` is missing, so none of its names
    /// can be decrypted.
    DirIvMissing,
    DirIvDamaged(DirIvError),
    /// A `gocryptfs.longname.*` entry without its `.name` sidecar.
    SidecarMissing,
    SidecarDamaged(SidecarError),
    /// Two entries of one directory decrypt to the same name.
    DuplicateName,
    /// The name decrypts, but is not what gocryptfs would store for it
    /// (re-encrypted, or hashed, it differs): a mount cannot open it.
    NonCanonicalName,
    SymlinkTarget(SymlinkError),
    Header(HeaderError),
    /// An 18-byte file: a header and no data (an interrupted write);
    /// gocryptfs shows it as empty, `gocryptfs -fsck` as corrupt.
    HeaderOnly,
    /// The last block is shorter than a nonce and a tag: cut off.
    TruncatedBlock {
        block: u64,
        len: usize,
    },
    Block {
        block: u64,
        error: BlockError,
    },
    /// The file changed size while it was being read.
    SizeChanged,
    /// A file type vaultdrill does not recreate (sockets).
    NotRestorable(&'static str),
    /// The manifest lists it; the vault does not have it.
    MissingSinceManifest,
    /// Gone since the manifest was made, and its folder changed since: a
    /// deletion or a rename (a notice, not damage).
    RemovedSinceManifest,
    /// It differs from the manifest although nothing says it changed.
    ManifestMismatch(String),
    /// It changed since the manifest was made (a notice, not damage).
    ChangedSinceManifest(String),
    /// It is newer than the manifest (a notice, not damage).
    NotInManifest,
    /// An object the remote should hold after a push is not there.
    RemoteMissing,
    /// The remote's object differs from the vault's (size, hash, or it is
    /// not in the vault at all).
    RemoteMismatch(String),
    /// The vault could not be read. EIO (a bad sector) counts as damage.
    Unreadable {
        action: &'static str,
        error: io::Error,
    },
    /// A local I/O error while writing the output.
    Io {
        action: &'static str,
        error: io::Error,
    },
}

impl ProblemKind {
    /// The word a report line starts with.
    pub fn label(&self) -> &'static str {
        match self {
            ProblemKind::NotRestorable(_) => "SKIPPED",
            ProblemKind::ChangedSinceManifest(_)
            | ProblemKind::NotInManifest
            | ProblemKind::RemovedSinceManifest => "NOTE",
            _ => match self.status() {
                ExitStatus::Damaged => "DAMAGED",
                _ => "FAILED",
            },
        }
    }

    /// How this problem counts for the exit status.
    pub fn status(&self) -> ExitStatus {
        match self {
            ProblemKind::Unreadable { error, .. } if error.raw_os_error() == Some(libc::EIO) => {
                ExitStatus::Damaged
            }
            ProblemKind::Unreadable { .. } | ProblemKind::Io { .. } => ExitStatus::CouldNotRun,
            ProblemKind::NotRestorable(_)
            | ProblemKind::ChangedSinceManifest(_)
            | ProblemKind::NotInManifest
            | ProblemKind::RemovedSinceManifest => ExitStatus::Verified,
            _ => ExitStatus::Damaged,
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProblemKind::Name(e) => write!(f, "name cannot be decrypted: {e}"),
            ProblemKind::DirIvMissing => f.write_str(
                "the directory's gocryptfs.diriv is missing, so this name cannot be decrypted",
            ),
            ProblemKind::DirIvDamaged(e) => {
                write!(f, "the directory's {e}, so this name cannot be decrypted")
            }
            ProblemKind::SidecarMissing => f.write_str("long name without its .name sidecar"),
            ProblemKind::SidecarDamaged(e) => write!(f, "{e}"),
            ProblemKind::DuplicateName => {
                f.write_str("another entry of this directory decrypts to the same name")
            }
            ProblemKind::NonCanonicalName => f.write_str(
                "the name decrypts but is not stored the way gocryptfs stores it (moved or renamed in the ciphertext); a gocryptfs mount cannot open it",
            ),
            ProblemKind::SymlinkTarget(e) => write!(f, "{e}"),
            ProblemKind::Header(e) => write!(f, "{e}"),
            ProblemKind::HeaderOnly => {
                f.write_str("file has a header but no data (interrupted write)")
            }
            ProblemKind::TruncatedBlock { block, len } => {
                write!(
                    f,
                    "block {block} is cut off ({len} bytes, too short for a nonce and a tag)"
                )
            }
            ProblemKind::Block { block, error } => write!(f, "block {block}: {error}"),
            ProblemKind::SizeChanged => f.write_str("the file changed size while it was read"),
            ProblemKind::MissingSinceManifest => f.write_str(
                "listed in the manifest but missing, and its folder did not change (lost, not deleted)",
            ),
            ProblemKind::RemovedSinceManifest => {
                f.write_str("removed since the manifest (its folder changed: deleted or renamed)")
            }
            ProblemKind::ManifestMismatch(what) => write!(f, "differs from the manifest: {what}"),
            ProblemKind::ChangedSinceManifest(what) => write!(f, "changed since the manifest ({what})"),
            ProblemKind::NotInManifest => f.write_str("not in the manifest (added since it was made)"),
            ProblemKind::RemoteMissing => f.write_str("missing on the remote"),
            ProblemKind::RemoteMismatch(what) => write!(f, "the remote's copy differs: {what}"),
            ProblemKind::NotRestorable(what) => write!(f, "{what} are not restored"),
            ProblemKind::Unreadable { action, error } | ProblemKind::Io { action, error } => {
                write!(f, "{action}: {error}")
            }
        }
    }
}

/// A problem and where it is.
#[derive(Debug)]
pub struct Problem {
    /// The entry's path inside the vault (ciphertext names).
    pub cipher_path: PathBuf,
    /// The decrypted path when known; otherwise the decrypted directory the
    /// entry sits in.
    pub plain_path: Option<PathBuf>,
    pub plain_dir: PathBuf,
    pub kind: ProblemKind,
}

impl Problem {
    pub fn status(&self) -> ExitStatus {
        self.kind.status()
    }
}

/// The exit status of a run that found these problems: damage outranks
/// "could not run", which outranks success.
/// [`overall_status`] of a run over `--path` selections: a pass in which
/// some selected path matched nothing is a usage error (nothing was
/// checked for it); damage or a failure still decides.
pub fn selected_status(problems: &[Problem], unmatched: &[impl Sized]) -> ExitStatus {
    let status = overall_status(problems);
    if status == ExitStatus::Verified && !unmatched.is_empty() {
        return ExitStatus::Usage;
    }
    status
}

pub fn overall_status<'a>(problems: impl IntoIterator<Item = &'a Problem>) -> ExitStatus {
    let mut status = ExitStatus::Verified;
    for p in problems {
        status = match (status, p.status()) {
            (_, ExitStatus::Damaged) | (ExitStatus::Damaged, _) => ExitStatus::Damaged,
            (_, ExitStatus::CouldNotRun) | (ExitStatus::CouldNotRun, _) => ExitStatus::CouldNotRun,
            (s, _) => s,
        };
    }
    status
}
