//! Path-free file system access: every operation is relative to an open
//! directory handle and never follows a symlink in its last component.
//! Trees deeper than PATH_MAX work (encrypted names are about twice as long
//! as plaintext ones), and a symlink planted in a tree cannot redirect a
//! read or a write. Small metadata files are opened non-blocking and must be
//! regular files, so a FIFO named `gocryptfs.diriv` cannot hang a run.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, RenameFlags, Timespec, Timestamps};

/// The type of a directory entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
}

/// What `lstat` says about an entry, in plain types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    pub kind: Kind,
    /// Permission bits, including setuid, setgid and sticky.
    pub mode: u32,
    pub size: u64,
    pub mtime_sec: i64,
    pub mtime_nsec: i64,
    pub rdev: u64,
    /// The file system the entry is on.
    pub dev: u64,
}

fn meta_of(st: &rfs::Stat) -> Meta {
    let kind = match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => Kind::Dir,
        FileType::Symlink => Kind::Symlink,
        FileType::Fifo => Kind::Fifo,
        FileType::Socket => Kind::Socket,
        FileType::CharacterDevice => Kind::CharDevice,
        FileType::BlockDevice => Kind::BlockDevice,
        _ => Kind::File,
    };
    Meta {
        kind,
        mode: st.st_mode & 0o7777,
        size: u64::try_from(st.st_size).unwrap_or(0),
        mtime_sec: st.st_mtime,
        mtime_nsec: st.st_mtime_nsec as i64,
        rdev: st.st_rdev,
        dev: st.st_dev,
    }
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC);

/// Opens a directory named by the user (symlinks in the path are followed:
/// that is the user's choice).
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(rfs::open(path, DIR_FLAGS, Mode::empty())?)
}

/// Opens the subdirectory `name` of `dir`, refusing a symlink.
pub fn open_dir_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(rfs::openat(
        dir,
        name,
        DIR_FLAGS | OFlags::NOFOLLOW,
        Mode::empty(),
    )?)
}

/// The names in a directory, without `.` and `..`, unsorted.
pub fn list(dir: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in rfs::Dir::read_from(dir)? {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            names.push(OsString::from_vec(name));
        }
    }
    Ok(names)
}

pub fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Meta> {
    Ok(meta_of(&rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?))
}

pub fn fstat(fd: impl AsFd) -> io::Result<Meta> {
    Ok(meta_of(&rfs::fstat(fd)?))
}

fn not_regular() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "not a regular file")
}

/// Opens a regular file for reading: no symlink, and non-blocking so that a
/// FIFO or device in its place fails instead of hanging.
pub fn open_regular_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<File> {
    let fd = rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        if e == rustix::io::Errno::LOOP {
            not_regular()
        } else {
            e.into()
        }
    })?;
    if fstat(&fd)?.kind != Kind::File {
        return Err(not_regular());
    }
    Ok(File::from(fd))
}

/// Opens a regular file named by a path (following symlinks), non-blocking.
pub fn open_regular(path: &Path) -> io::Result<File> {
    let fd = rfs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    if fstat(&fd)?.kind != Kind::File {
        return Err(not_regular());
    }
    Ok(File::from(fd))
}

/// Reads at most `max + 1` bytes of a regular file (so callers can tell
/// "too long").
pub fn read_limited(file: File, max: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(max + 1);
    file.take(max as u64 + 1).read_to_end(&mut buf)?;
    Ok(buf)
}

pub fn readlink_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Vec<u8>> {
    Ok(rfs::readlinkat(dir, name, Vec::new())?.into_bytes())
}

pub fn mkdir_at(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> io::Result<()> {
    Ok(rfs::mkdirat(dir, name, Mode::from_bits_truncate(mode))?)
}

pub fn symlink_at(target: &[u8], dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    Ok(rfs::symlinkat(OsStr::from_bytes(target), dir, name)?)
}

/// Creates a FIFO or device node.
pub fn mknod_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    kind: Kind,
    mode: u32,
    rdev: u64,
) -> io::Result<()> {
    let ft = match kind {
        Kind::Fifo => FileType::Fifo,
        Kind::CharDevice => FileType::CharacterDevice,
        Kind::BlockDevice => FileType::BlockDevice,
        Kind::Socket => FileType::Socket,
        _ => return Err(io::Error::from(io::ErrorKind::InvalidInput)),
    };
    Ok(rfs::mknodat(
        dir,
        name,
        ft,
        Mode::from_bits_truncate(mode),
        rdev,
    )?)
}

fn times(mtime_sec: i64, mtime_nsec: i64) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: 0,
            tv_nsec: rfs::UTIME_OMIT,
        },
        last_modification: Timespec {
            tv_sec: mtime_sec,
            tv_nsec: mtime_nsec,
        },
    }
}

/// Sets the mtime of `name` in `dir` without following a symlink.
pub fn set_mtime_at(dir: BorrowedFd<'_>, name: &OsStr, sec: i64, nsec: i64) -> io::Result<()> {
    Ok(rfs::utimensat(
        dir,
        name,
        &times(sec, nsec),
        AtFlags::SYMLINK_NOFOLLOW,
    )?)
}

pub fn set_mtime(fd: impl AsFd, sec: i64, nsec: i64) -> io::Result<()> {
    Ok(rfs::futimens(fd, &times(sec, nsec))?)
}

pub fn chmod(fd: impl AsFd, mode: u32) -> io::Result<()> {
    Ok(rfs::fchmod(fd, Mode::from_bits_truncate(mode))?)
}

/// `fchmodat` for nodes that cannot be opened (FIFOs, devices). Only used
/// on entries this process just created in a directory it owns.
pub fn chmod_at(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> io::Result<()> {
    Ok(rfs::chmodat(
        dir,
        name,
        Mode::from_bits_truncate(mode),
        AtFlags::empty(),
    )?)
}

/// An unnamed regular file in `dir` (`O_TMPFILE`); `None` where the file
/// system does not support it.
pub fn tmpfile_in(dir: BorrowedFd<'_>) -> io::Result<Option<File>> {
    match rfs::openat(
        dir,
        ".",
        OFlags::RDWR | OFlags::TMPFILE | OFlags::CLOEXEC,
        Mode::from_bits_truncate(0o600),
    ) {
        Ok(fd) => Ok(Some(File::from(fd))),
        Err(e)
            if e == rustix::io::Errno::OPNOTSUPP
                || e == rustix::io::Errno::ISDIR
                || e == rustix::io::Errno::INVAL =>
        {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Gives an `O_TMPFILE` file the name `name` in `dir`; fails with
/// `AlreadyExists` rather than replace anything.
pub fn link_tmpfile(file: &File, dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
    match rfs::linkat(
        rfs::CWD,
        proc_path.as_str(),
        dir,
        name,
        AtFlags::SYMLINK_FOLLOW,
    ) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::NOENT && !Path::new("/proc/self/fd").exists() => {
            // No /proc: AT_EMPTY_PATH works where we hold CAP_DAC_READ_SEARCH.
            Ok(rfs::linkat(file, "", dir, name, AtFlags::EMPTY_PATH)?)
        }
        Err(e) => Err(e.into()),
    }
}

/// Creates `name` in `dir`, failing if anything exists there.
pub fn create_new_at(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> io::Result<File> {
    let fd = rfs::openat(
        dir,
        name,
        OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_bits_truncate(mode),
    )?;
    Ok(File::from(fd))
}

/// Renames within `dir` without ever replacing an existing entry.
pub fn rename_noreplace_at(dir: BorrowedFd<'_>, from: &OsStr, to: &OsStr) -> io::Result<()> {
    match rfs::renameat_with(dir, from, dir, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {
            // No RENAME_NOREPLACE here: a hard link refuses to replace too.
            match rfs::linkat(dir, from, dir, to, AtFlags::empty()) {
                Ok(()) => Ok(rfs::unlinkat(dir, from, AtFlags::empty())?),
                Err(e) if e == rustix::io::Errno::EXIST => Err(e.into()),
                Err(_) => {
                    // No hard links either (some network file systems): check, then rename.
                    if lstat_at(dir, to).is_ok() {
                        return Err(io::Error::from(io::ErrorKind::AlreadyExists));
                    }
                    Ok(rfs::renameat(dir, from, dir, to)?)
                }
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Renames within `dir`, atomically replacing `to` if it exists.
pub fn rename_at(dir: BorrowedFd<'_>, from: &OsStr, to: &OsStr) -> io::Result<()> {
    Ok(rfs::renameat(dir, from, dir, to)?)
}

/// The byte ranges of `file` (of length `len`) that hold data, found with
/// SEEK_DATA/SEEK_HOLE; one range covering everything where the file
/// system does not report holes.
pub fn data_segments(file: &File, len: u64) -> Vec<std::ops::Range<u64>> {
    let mut segments = Vec::new();
    let mut pos = 0;
    while pos < len {
        let start = match rfs::seek(file, rfs::SeekFrom::Data(pos)) {
            Ok(start) => start,
            Err(e) if e == rustix::io::Errno::NXIO => break,
            Err(_) => return std::iter::once(0..len).collect(),
        };
        let end = rfs::seek(file, rfs::SeekFrom::Hole(start))
            .unwrap_or(len)
            .min(len);
        if start >= end {
            break;
        }
        segments.push(start..end);
        pos = end;
    }
    segments
}

pub fn unlink_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    Ok(rfs::unlinkat(dir, name, AtFlags::empty())?)
}

pub fn rmdir_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    Ok(rfs::unlinkat(dir, name, AtFlags::REMOVEDIR)?)
}

/// Flushes the whole file system `fd` is on to stable storage.
pub fn syncfs(fd: impl AsFd) -> io::Result<()> {
    Ok(rfs::syncfs(fd)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn refuses_symlinks_and_fifos_where_files_are_expected() {
        let tmp = tempfile::TempDir::new().unwrap();
        std::fs::write(tmp.path().join("real"), b"data").unwrap();
        std::os::unix::fs::symlink("real", tmp.path().join("link")).unwrap();
        let fifo = tmp.path().join("fifo");
        let dir = open_dir(tmp.path()).unwrap();
        mknod_at(dir.as_fd(), OsStr::new("fifo"), Kind::Fifo, 0o600, 0).unwrap();
        assert!(fifo.exists());
        assert_eq!(
            read_limited(
                open_regular_at(dir.as_fd(), OsStr::new("real")).unwrap(),
                10
            )
            .unwrap(),
            b"data"
        );
        let err = open_regular_at(dir.as_fd(), OsStr::new("link")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        // Non-blocking open of a FIFO without a writer returns at once.
        let err = open_regular_at(dir.as_fd(), OsStr::new("fifo")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(open_dir_at(dir.as_fd(), OsStr::new("link")).is_err());
        assert_eq!(
            lstat_at(dir.as_fd(), OsStr::new("link")).unwrap().kind,
            Kind::Symlink
        );
    }

    #[test]
    fn rename_never_replaces() {
        let tmp = tempfile::TempDir::new().unwrap();
        std::fs::write(tmp.path().join("a"), b"new").unwrap();
        std::fs::write(tmp.path().join("b"), b"old").unwrap();
        let dir = open_dir(tmp.path()).unwrap();
        let err = rename_noreplace_at(dir.as_fd(), OsStr::new("a"), OsStr::new("b")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(tmp.path().join("b")).unwrap(), b"old");
    }
}
