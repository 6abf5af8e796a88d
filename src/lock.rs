//! One vaultdrill at a time per remote and per vault: two pushes, or a
//! push and a drill, of the same thing at once would race on the
//! manifest and the remote. A lock is an `flock(2)` on a file in the state
//! directory: the kernel drops it when its process ends, however it ends,
//! so a lock left by a killed process is never in the way; the file keeps
//! who held it, to name the holder, and a stale one is reported.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use rustix::fs::{FlockOperation, flock};
use thiserror::Error;

use crate::exit::ExitStatus;
use crate::manifest::store;

#[derive(Debug, Error)]
pub enum LockError {
    #[error("{what} is in use by another vaultdrill ({holder})")]
    Busy { what: String, holder: String },
    #[error("{}: cannot take the lock: {error}", .path.display())]
    Io { path: PathBuf, error: io::Error },
}

impl LockError {
    pub fn status(&self) -> ExitStatus {
        ExitStatus::CouldNotRun
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            LockError::Busy { .. } => Some(
                "wait for it to finish (a scheduled drill or a push?), or stop that process; \
                 two at once would race on the manifest and the remote"
                    .into(),
            ),
            LockError::Io { .. } => Some("check the state directory (VAULTDRILL_STATE_DIR)".into()),
        }
    }
}

/// What a lock on a remote is keyed by: a local folder by its canonical
/// path, an rclone remote by its text without a trailing slash.
pub fn remote_key(remote: &crate::push::Remote) -> String {
    match remote {
        crate::push::Remote::Local(path) => format!(
            "folder {}",
            path.canonicalize()
                .unwrap_or_else(|_| path.clone())
                .display()
        ),
        crate::push::Remote::Rclone(text) => format!("remote {}", text.trim_end_matches('/')),
    }
}

/// Takes the locks `whats` in order, saying `doing`; a stale holder is
/// said on standard error.
pub fn acquire_all(whats: &[String], doing: &str) -> Result<Vec<Lock>, LockError> {
    let mut held = Vec::new();
    for what in whats {
        // A lock that cannot be kept (an unwritable state directory) must
        // not stop a drill or a push: said, and gone on without.
        let lock = match acquire(what, doing) {
            Ok(lock) => lock,
            Err(e @ LockError::Io { .. }) => {
                eprintln!("vaultdrill: NOTE going on without a lock: {e}");
                continue;
            }
            Err(e) => return Err(e),
        };
        if let Some(stale) = &lock.stale {
            eprintln!(
                "vaultdrill: NOTE a vaultdrill that held {what} ended without releasing it \
                 ({stale}): killed? Taken over; check that its push or drill is not needed"
            );
        }
        held.push(lock);
    }
    Ok(held)
}

/// A held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct Lock {
    _file: File,
    /// Who held it before and ended without releasing it (killed), if so.
    pub stale: Option<String>,
}

/// Takes the lock on `what` (a remote, a vault folder), saying `doing`
/// (e.g. "drill of b2:bucket/vault") to whoever finds it taken.
pub fn acquire(what: &str, doing: &str) -> Result<Lock, LockError> {
    acquire_in(&lock_dir(), what, doing)
}

/// Where locks live: `$XDG_RUNTIME_DIR/vaultdrill/locks` (a runtime
/// folder, emptied at logout), else the state directory's `locks`.
pub fn lock_dir() -> std::path::PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => std::path::PathBuf::from(dir).join("vaultdrill/locks"),
        None => store::state_dir().join("locks"),
    }
}

/// [`acquire`] with the locks kept in `dir`.
pub fn acquire_in(dir: &std::path::Path, what: &str, doing: &str) -> Result<Lock, LockError> {
    let name = blake3::hash(what.as_bytes()).to_hex();
    let path = dir.join(format!("{}.lock", &name[..32]));
    let io_err = |error| LockError::Io {
        path: path.clone(),
        error,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .create(dir)
        .map_err(io_err)?;
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(io_err)?;
    let mut before = String::new();
    let _ = (&file).take(4096).read_to_string(&mut before);
    let before = before.trim().to_string();
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
            return Err(LockError::Busy {
                what: what.to_string(),
                holder: if before.is_empty() {
                    "no details".into()
                } else {
                    before
                },
            });
        }
        Err(e) => return Err(io_err(e.into())),
    }
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
    let me = format!("pid {}, {doing}, since {now}", std::process::id());
    file.set_len(0).map_err(io_err)?;
    file.rewind().map_err(io_err)?;
    file.write_all(me.as_bytes()).map_err(io_err)?;
    Ok(Lock {
        _file: file,
        stale: (!before.is_empty()).then_some(before),
    })
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Emptied: a file with no holder named is a lock released cleanly.
        let _ = self._file.set_len(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_busy_and_released_on_drop() {
        let dir = tempfile::TempDir::new().unwrap();
        let acquire = |what: &str, doing: &str| acquire_in(dir.path(), what, doing);
        let first = acquire("b2:bucket/vault", "drill of b2:bucket/vault").unwrap();
        assert!(first.stale.is_none());
        // flock locks belong to the open file: a second open, even in the
        // same process, is refused.
        match acquire("b2:bucket/vault", "push") {
            Err(LockError::Busy { holder, .. }) => {
                assert!(holder.contains("drill of b2:bucket/vault"), "{holder}");
                assert!(holder.contains(&format!("pid {}", std::process::id())));
            }
            other => panic!("{other:?}"),
        }
        // Another remote is free.
        let other = acquire("b2:bucket/other", "push").unwrap();
        drop(other);
        drop(first);
        let again = acquire("b2:bucket/vault", "push").unwrap();
        assert!(again.stale.is_none(), "released cleanly: not stale");
    }
}
