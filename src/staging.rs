//! Writing a file so that it appears under its real name only when it is
//! complete, and never in place of something that exists.
//!
//! Preferred: an unnamed file (`O_TMPFILE`) linked into place with
//! `linkat`, which fails rather than replace an existing entry; a crash
//! leaves nothing behind, and the directory is locked once per file, not
//! twice (create + rename), which matters when threads share a directory.
//! Fallback for file systems without `O_TMPFILE`: a hidden
//! `.vaultdrill-tmp-*` name, renamed with `RENAME_NOREPLACE`.

use std::ffi::CString;
use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Prefix of fallback temporary names.
pub const TEMP_PREFIX: &str = ".vaultdrill-tmp-";

/// A file being written, not yet visible under its name.
pub struct StagedFile {
    file: File,
    /// The temporary name, when the file system forced one.
    temp_path: Option<PathBuf>,
    persisted: bool,
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

impl StagedFile {
    /// A new staged file in directory `dir`, mode 0600 until told otherwise.
    pub fn create_in(dir: &Path) -> io::Result<StagedFile> {
        match File::options()
            .read(true)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
            .open(dir)
        {
            Ok(file) => {
                return Ok(StagedFile {
                    file,
                    temp_path: None,
                    persisted: false,
                });
            }
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL)
                ) => {}
            Err(e) => return Err(e),
        }
        loop {
            let mut random = [0u8; 8];
            getrandom::fill(&mut random).map_err(|e| io::Error::other(e.to_string()))?;
            let path = dir.join(format!("{TEMP_PREFIX}{:016x}", u64::from_le_bytes(random)));
            match File::options()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&path)
            {
                Ok(file) => {
                    return Ok(StagedFile {
                        file,
                        temp_path: Some(path),
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

    /// Makes the file visible as `target`; fails (leaving nothing) if
    /// `target` exists.
    pub fn persist(mut self, target: &Path) -> io::Result<()> {
        match &self.temp_path {
            None => link_unnamed(&self.file, target)?,
            Some(temp) => rename_noreplace(temp, target)?,
        }
        self.persisted = true;
        Ok(())
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if let (false, Some(temp)) = (self.persisted, &self.temp_path) {
            let _ = fs::remove_file(temp);
        }
    }
}

/// Gives an `O_TMPFILE` file a name, through /proc/self/fd (which needs no
/// privilege, unlike `AT_EMPTY_PATH`).
fn link_unnamed(file: &File, target: &Path) -> io::Result<()> {
    let proc_path = c_path(Path::new(&format!("/proc/self/fd/{}", file.as_raw_fd())))?;
    let to = c_path(target)?;
    // SAFETY: both are valid NUL-terminated paths.
    let rc = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            proc_path.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::ENOENT) || fs::metadata("/proc/self/fd").is_ok() {
        return Err(err);
    }
    // No /proc: AT_EMPTY_PATH works where we hold CAP_DAC_READ_SEARCH.
    let empty = c_path(Path::new(""))?;
    // SAFETY: valid fd and NUL-terminated paths.
    let rc = unsafe {
        libc::linkat(
            file.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `rename` that refuses to replace; a hard link where the file system
/// lacks `RENAME_NOREPLACE`.
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let (c_from, c_to) = (c_path(from)?, c_path(to)?);
    // SAFETY: both are valid NUL-terminated paths.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            c_from.as_ptr(),
            libc::AT_FDCWD,
            c_to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EINVAL | libc::ENOSYS) => {
            fs::hard_link(from, to)?;
            fs::remove_file(from)
        }
        _ => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn invisible_until_persisted_and_never_replaces() {
        let dir = tempfile::TempDir::new().unwrap();
        let staged = StagedFile::create_in(dir.path()).unwrap();
        staged.file().write_all(b"complete").unwrap();
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            0,
            "nothing visible before persist"
        );
        staged.persist(&dir.path().join("a")).unwrap();
        assert_eq!(fs::read(dir.path().join("a")).unwrap(), b"complete");

        let second = StagedFile::create_in(dir.path()).unwrap();
        second.file().write_all(b"other").unwrap();
        let err = second.persist(&dir.path().join("a")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(dir.path().join("a")).unwrap(), b"complete");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "the refused file left nothing behind"
        );
    }

    #[test]
    fn dropped_without_persist_leaves_nothing() {
        let dir = tempfile::TempDir::new().unwrap();
        let staged = StagedFile::create_in(dir.path()).unwrap();
        staged.file().write_all(b"half").unwrap();
        drop(staged);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn rename_fallback_refuses_to_replace() {
        let dir = tempfile::TempDir::new().unwrap();
        fs::write(dir.path().join("from"), b"new").unwrap();
        fs::write(dir.path().join("to"), b"old").unwrap();
        let err = rename_noreplace(&dir.path().join("from"), &dir.path().join("to")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(dir.path().join("to")).unwrap(), b"old");
    }
}
