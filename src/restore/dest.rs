//! The destination of a restore: the guards before anything is written,
//! the marker that makes a folder "an earlier restore of this vault" (so
//! that running the same command again resumes it), and handles on its
//! directories that never follow a symlink.

use std::ffi::OsStr;
use std::fs::{self, DirBuilder};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::at;
use crate::decrypt::resolve_lexically;
use crate::exit::ExitStatus;

/// The folder in the destination that holds a restore's own files while
/// it runs (marker, fetched ciphertext, the decrypted manifest); removed
/// when the restore ends complete.
pub const WORK_DIR: &str = ".vaultdrill-restore";
/// The marker in [`WORK_DIR`].
pub const MARKER: &str = "restore.json";

#[derive(Debug, Error)]
pub enum DestError {
    #[error("{}: the destination is inside the source {}", .dest.display(), .from.display())]
    InsideSource { dest: PathBuf, from: PathBuf },
    #[error("{}: the destination is not empty and holds no earlier restore", .0.display())]
    NotEmpty(PathBuf),
    #[error("{}: the destination holds an earlier restore of another vault (id {other})", .dest.display())]
    OtherVault { dest: PathBuf, other: String },
    #[error("{}: the destination is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("{}: other users can write into the destination", .0.display())]
    WritableByOthers(PathBuf),
    #[error("{}: {action}: {error}", .path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        error: io::Error,
    },
}

impl DestError {
    pub fn status(&self) -> ExitStatus {
        match self {
            DestError::Io { .. } => ExitStatus::CouldNotRun,
            _ => ExitStatus::Usage,
        }
    }

    pub fn hint(&self) -> String {
        match self {
            DestError::InsideSource { .. } => {
                "choose a destination outside the encrypted folder".into()
            }
            DestError::NotEmpty(_) => "choose a new or empty folder; --force restores into it \
                anyway (files already there with the right contents are kept, others are left \
                alone and reported; nothing is ever overwritten or deleted)"
                .into(),
            DestError::OtherVault { .. } => {
                "choose another folder (or --force to restore beside it)".into()
            }
            DestError::NotADirectory(_) => "choose a new or empty folder".into(),
            DestError::WritableByOthers(_) => "choose a folder only you can write to (not \
                directly under /tmp), or a new path that vaultdrill creates"
                .into(),
            DestError::Io { .. } => "check that the destination is writable".into(),
        }
    }
}

/// What is remembered in the destination while a restore is unfinished.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Marker {
    pub vault_id: String,
    pub source: String,
    pub started: String,
    /// The `--path` values of the run that wrote it.
    #[serde(default)]
    pub paths: Vec<String>,
}

/// The destination as found.
#[derive(Debug)]
pub struct Prepared {
    /// Created by this run.
    pub created: bool,
    /// The marker of an earlier, unfinished restore.
    pub earlier: Option<Marker>,
    /// Entries other than the work folder (0 for a new or empty folder).
    pub entries: u64,
}

fn io_err(path: &Path, action: &'static str) -> impl FnOnce(io::Error) -> DestError {
    let path = path.to_path_buf();
    move |error| DestError::Io {
        path,
        action,
        error,
    }
}

/// Checks the destination before anything is fetched, and creates it
/// (0700) when missing. `source`: the local folder restored from, if any.
pub fn prepare(dest: &Path, source: Option<&Path>, force: bool) -> Result<Prepared, DestError> {
    let dest_abs = resolve_lexically(dest).map_err(io_err(dest, "resolving the path"))?;
    if let Some(source) = source
        && let Ok(source_abs) = fs::canonicalize(source)
        && dest_abs.starts_with(&source_abs)
    {
        return Err(DestError::InsideSource {
            dest: dest.to_path_buf(),
            from: source.to_path_buf(),
        });
    }
    let meta = match fs::metadata(dest) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dest)
                .map_err(io_err(dest, "creating the destination"))?;
            return Ok(Prepared {
                created: true,
                earlier: None,
                entries: 0,
            });
        }
        Err(e) => return Err(io_err(dest, "reading the destination")(e)),
    };
    if !meta.is_dir() {
        return Err(DestError::NotADirectory(dest.to_path_buf()));
    }
    let mine = meta.uid() == 0 || meta.uid() == rustix::process::geteuid().as_raw();
    if meta.mode() & 0o002 != 0 || (meta.mode() & 0o020 != 0 && !mine) {
        return Err(DestError::WritableByOthers(dest.to_path_buf()));
    }
    let mut entries = 0u64;
    for entry in fs::read_dir(dest).map_err(io_err(dest, "listing the destination"))? {
        let entry = entry.map_err(io_err(dest, "listing the destination"))?;
        if entry.file_name() != OsStr::new(WORK_DIR) {
            entries += 1;
        }
    }
    let earlier = read_marker(dest);
    if entries > 0 && earlier.is_none() && !force {
        return Err(DestError::NotEmpty(dest.to_path_buf()));
    }
    Ok(Prepared {
        created: false,
        earlier,
        entries,
    })
}

/// The marker of an earlier restore in `dest`, if one is readable.
pub fn read_marker(dest: &Path) -> Option<Marker> {
    let bytes = fs::read(dest.join(WORK_DIR).join(MARKER)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The paths two runs owe together (`[]` is everything).
pub fn union(a: &[String], b: &[String]) -> Vec<String> {
    if a.is_empty() || b.is_empty() {
        return Vec::new();
    }
    let mut all: Vec<String> = a.iter().chain(b).cloned().collect();
    all.sort();
    all.dedup();
    all
}

/// Whether restoring `done` (`[]`: everything) restores all of `owed`.
pub fn covers(done: &[String], owed: &[String]) -> bool {
    done.is_empty()
        || (!owed.is_empty()
            && owed
                .iter()
                .all(|p| done.iter().any(|d| Path::new(p).starts_with(d))))
}

/// Once the vault is known: refuses a destination that holds an earlier
/// restore of another vault (unless `force`), then writes the marker (the
/// paths it owes include an unfinished earlier run's) and returns the work
/// folder (0700), emptied of an earlier run's leftovers except the marker,
/// with the paths owed.
pub fn claim(
    dest: &Path,
    prepared: &Prepared,
    marker: &Marker,
    force: bool,
) -> Result<(PathBuf, Vec<String>), DestError> {
    let mut marker = marker.clone();
    if let Some(earlier) = &prepared.earlier {
        if earlier.vault_id != marker.vault_id && !force {
            return Err(DestError::OtherVault {
                dest: dest.to_path_buf(),
                other: earlier.vault_id.clone(),
            });
        }
        if earlier.vault_id == marker.vault_id {
            marker.paths = union(&earlier.paths, &marker.paths);
        }
    }
    let work = dest.join(WORK_DIR);
    match fs::symlink_metadata(&work) {
        Ok(m) if !m.is_dir() => return Err(DestError::NotADirectory(work)),
        _ => {}
    }
    DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(&work)
        .map_err(io_err(&work, "creating the restore's work folder"))?;
    clear_work(&work).map_err(io_err(&work, "clearing an earlier run's leftovers"))?;
    write_marker(&work, &marker).map_err(io_err(&work, "writing the marker"))?;
    Ok((work, marker.paths))
}

/// Writes `marker` into the work folder `work` (0600, atomically).
pub fn write_marker(work: &Path, marker: &Marker) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(marker).map_err(io::Error::other)?;
    crate::manifest::store::write_private(work, MARKER, &json)
}

/// Removes everything of the work folder but the marker (fetched
/// ciphertext, the decrypted manifest).
pub fn clear_work(work: &Path) -> io::Result<()> {
    let listing = match fs::read_dir(work) {
        Ok(l) => l,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in listing {
        let entry = entry?;
        if entry.file_name() == OsStr::new(MARKER) {
            continue;
        }
        if entry.file_type()?.is_dir() {
            fs::remove_dir_all(entry.path())?;
        } else {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Handles on the destination's directories, reopened component by
/// component (never through a symlink), with the chain last used kept.
pub struct DestTree {
    root: Arc<OwnedFd>,
    chain: Vec<(std::ffi::OsString, Arc<OwnedFd>)>,
}

impl DestTree {
    pub fn new(root: Arc<OwnedFd>) -> DestTree {
        DestTree {
            root,
            chain: Vec::new(),
        }
    }

    /// The directory `dir` (relative to the root); with `create`, missing
    /// directories on the way are made (0700; their modes are set last).
    pub fn dir(&mut self, dir: &Path, create: bool) -> io::Result<Arc<OwnedFd>> {
        let parts: Vec<&OsStr> = dir.iter().collect();
        let common = self
            .chain
            .iter()
            .zip(&parts)
            .take_while(|((name, _), part)| name.as_os_str() == **part)
            .count();
        self.chain.truncate(common);
        for part in &parts[common..] {
            let parent = self.chain.last().map_or(&self.root, |(_, fd)| fd);
            let fd = match at::open_dir_at(parent.as_fd(), part) {
                Err(e) if create && e.kind() == io::ErrorKind::NotFound => {
                    match at::mkdir_at(parent.as_fd(), part, 0o700) {
                        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                        _ => at::open_dir_at(parent.as_fd(), part)?,
                    }
                }
                other => other?,
            };
            self.chain.push((part.to_os_string(), Arc::new(fd)));
        }
        Ok(Arc::clone(
            self.chain.last().map_or(&self.root, |(_, fd)| fd),
        ))
    }

    /// The directory holding `path`.
    pub fn parent_of(&mut self, path: &Path, create: bool) -> io::Result<Arc<OwnedFd>> {
        self.dir(path.parent().unwrap_or(Path::new("")), create)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_is_taken_when_new_empty_or_an_earlier_restore_of_the_same_vault() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("new");
        let p = prepare(&dest, None, false).unwrap();
        assert!(p.created && p.earlier.is_none());
        let marker = Marker {
            vault_id: "a".repeat(32),
            ..Marker::default()
        };
        let (work, _) = claim(&dest, &p, &marker, false).unwrap();
        fs::write(work.join("leftover"), b"x").unwrap();
        fs::write(dest.join("restored.txt"), b"x").unwrap();
        // Resumable: the marker makes it an earlier restore.
        let again = prepare(&dest, None, false).unwrap();
        assert_eq!(again.earlier.as_ref().unwrap().vault_id, marker.vault_id);
        assert_eq!(again.entries, 1);
        // Of another vault: refused unless forced.
        let other = Marker {
            vault_id: "b".repeat(32),
            ..Marker::default()
        };
        assert!(matches!(
            claim(&dest, &again, &other, false),
            Err(DestError::OtherVault { .. })
        ));
        claim(&dest, &again, &marker, false).unwrap();
        assert!(!work.join("leftover").exists(), "leftovers cleared");
        assert!(work.join(MARKER).exists());
        // Everything owed stays everything whatever part runs next.
        let a = Marker {
            paths: vec!["a".into()],
            ..marker.clone()
        };
        let (_, owed) = claim(&dest, &prepare(&dest, None, false).unwrap(), &a, false).unwrap();
        assert!(owed.is_empty());
        // Parts owed accumulate: an unfinished --path a, then --path b/c,
        // owe both until runs cover them.
        let parts = tmp.path().join("parts");
        claim(&parts, &prepare(&parts, None, false).unwrap(), &a, false).unwrap();
        let b = Marker {
            paths: vec!["b/c".into()],
            ..marker.clone()
        };
        let (_, owed) = claim(&parts, &prepare(&parts, None, false).unwrap(), &b, false).unwrap();
        assert_eq!(owed, vec!["a".to_string(), "b/c".to_string()]);
        assert!(!covers(&["b".into()], &owed));
        assert!(covers(&["a".into(), "b".into()], &owed));
        assert!(covers(&[], &owed));
        assert!(
            !covers(&["a".into()], &[]),
            "a part never covers everything"
        );
        // Not empty and no marker: refused unless forced.
        let full = tmp.path().join("full");
        fs::create_dir(&full).unwrap();
        fs::write(full.join("mine"), b"x").unwrap();
        assert!(matches!(
            prepare(&full, None, false),
            Err(DestError::NotEmpty(_))
        ));
        assert_eq!(prepare(&full, None, true).unwrap().entries, 1);
        // Inside the source.
        assert!(matches!(
            prepare(&tmp.path().join("full/sub"), Some(&full), false),
            Err(DestError::InsideSource { .. })
        ));
    }
}
