//! Writing a file so that it appears under its real name only when it is
//! complete, and never in place of something that exists.
//!
//! Preferred: an unnamed file (`O_TMPFILE`) linked into place with
//! `linkat`, which fails rather than replace an existing entry; a crash
//! leaves nothing behind, and the directory is locked once per file, not
//! twice (create + rename), which matters when threads share a directory.
//! Fallback for file systems without `O_TMPFILE`: a hidden
//! `.vaultdrill-tmp-*` name, renamed with `RENAME_NOREPLACE`.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use crate::at;

/// Prefix of fallback temporary names.
pub const TEMP_PREFIX: &str = ".vaultdrill-tmp-";

/// A file being written in a directory, not yet visible under its name.
pub struct StagedFile {
    dir: Arc<OwnedFd>,
    file: File,
    /// The temporary name, when the file system forced one.
    temp_name: Option<OsString>,
    persisted: bool,
}

impl StagedFile {
    /// A new staged file in `dir`, mode 0600 until told otherwise.
    pub fn create_in(dir: Arc<OwnedFd>) -> io::Result<StagedFile> {
        if let Some(file) = at::tmpfile_in(dir.as_fd())? {
            return Ok(StagedFile {
                dir,
                file,
                temp_name: None,
                persisted: false,
            });
        }
        loop {
            let name = temp_name()?;
            match at::create_new_at(dir.as_fd(), &name, 0o600) {
                Ok(file) => {
                    return Ok(StagedFile {
                        dir,
                        file,
                        temp_name: Some(name),
                        persisted: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    /// Makes the file visible as `name`; fails (leaving nothing) if `name`
    /// exists.
    pub fn persist(mut self, name: &OsStr) -> io::Result<()> {
        match &self.temp_name {
            None => at::link_tmpfile(&self.file, self.dir.as_fd(), name)?,
            Some(temp) => at::rename_noreplace_at(self.dir.as_fd(), temp, name)?,
        }
        self.persisted = true;
        Ok(())
    }
}

impl StagedFile {
    /// Makes the file visible as `name`, atomically replacing whatever file
    /// is there (for updates of a file this run owns the content of).
    pub fn persist_replacing(mut self, name: &OsStr) -> io::Result<()> {
        let temp = match self.temp_name.take() {
            Some(temp) => temp,
            None => {
                let temp = temp_name()?;
                at::link_tmpfile(&self.file, self.dir.as_fd(), &temp)?;
                temp
            }
        };
        // From here the temporary name must be removed if the rename fails.
        self.temp_name = Some(temp.clone());
        at::rename_at(self.dir.as_fd(), &temp, name)?;
        self.persisted = true;
        Ok(())
    }
}

/// Creates (or atomically replaces) the symlink `name` in `dir` with
/// `target` and the given mtime: made under a temporary name, then renamed.
pub fn place_symlink(
    dir: &OwnedFd,
    name: &OsStr,
    target: &[u8],
    mtime: (i64, i64),
) -> io::Result<()> {
    let temp = temp_name()?;
    at::symlink_at(target, dir.as_fd(), &temp)?;
    let placed = at::set_mtime_at(dir.as_fd(), &temp, mtime.0, mtime.1)
        .and_then(|()| at::rename_at(dir.as_fd(), &temp, name));
    if placed.is_err() {
        let _ = at::unlink_at(dir.as_fd(), &temp);
    }
    placed
}

fn temp_name() -> io::Result<OsString> {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(OsString::from(format!(
        "{TEMP_PREFIX}{:016x}",
        u64::from_le_bytes(random)
    )))
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if let (false, Some(temp)) = (self.persisted, &self.temp_name) {
            let _ = at::unlink_at(self.dir.as_fd(), temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::Write;

    fn dir(tmp: &tempfile::TempDir) -> Arc<OwnedFd> {
        Arc::new(at::open_dir(tmp.path()).unwrap())
    }

    #[test]
    fn invisible_until_persisted_and_never_replaces() {
        let tmp = tempfile::TempDir::new().unwrap();
        let staged = StagedFile::create_in(dir(&tmp)).unwrap();
        staged.file().write_all(b"complete").unwrap();
        assert_eq!(
            fs::read_dir(tmp.path()).unwrap().count(),
            0,
            "nothing visible before persist"
        );
        staged.persist(OsStr::new("a")).unwrap();
        assert_eq!(fs::read(tmp.path().join("a")).unwrap(), b"complete");

        let second = StagedFile::create_in(dir(&tmp)).unwrap();
        second.file().write_all(b"other").unwrap();
        let err = second.persist(OsStr::new("a")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(tmp.path().join("a")).unwrap(), b"complete");
        assert_eq!(
            fs::read_dir(tmp.path()).unwrap().count(),
            1,
            "the refused file left nothing behind"
        );
    }

    #[test]
    fn persist_replacing_swaps_atomically() {
        let tmp = tempfile::TempDir::new().unwrap();
        fs::write(tmp.path().join("a"), b"old").unwrap();
        let staged = StagedFile::create_in(dir(&tmp)).unwrap();
        staged.file().write_all(b"new").unwrap();
        staged.persist_replacing(OsStr::new("a")).unwrap();
        assert_eq!(fs::read(tmp.path().join("a")).unwrap(), b"new");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn dropped_without_persist_leaves_nothing() {
        let tmp = tempfile::TempDir::new().unwrap();
        let staged = StagedFile::create_in(dir(&tmp)).unwrap();
        staged.file().write_all(b"half").unwrap();
        drop(staged);
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }
}
