//! A local folder (an external disk) as the remote, synced natively, no
//! rclone: new and changed files are copied under a temporary name, made
//! durable, then renamed into place (a crash never leaves a half file under
//! a real name); what the source no longer has is deleted after everything
//! else, at most as many as the plan allowed. Folders keep their modes and
//! mtimes; symlinks stay symlinks. Everything is fd-relative: a symlink
//! planted in the destination cannot redirect a write.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::PushError;
use crate::at::{self, Kind, Meta};
use crate::format::config::CONFIG_NAME;
use crate::progress::Progress;
use crate::staging::TEMP_PREFIX;

pub struct LocalSyncOptions<'a> {
    pub upload_config: bool,
    /// A top-level folder synced after everything else (the manifests).
    pub last: Option<&'a OsStr>,
    /// Stop before deleting more than this.
    pub max_delete: u64,
    /// Compare contents too, as rclone --checksum: a destination object
    /// of the same size and mtime but other bytes (rot) is replaced.
    pub checksum: bool,
    pub progress: &'a dyn Progress,
}

/// Whether two files hold the same bytes (read side by side).
fn same_bytes(a: &mut File, b: &mut File) -> io::Result<bool> {
    let (mut x, mut y) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = read_full(a, &mut x)?;
        let m = read_full(b, &mut y)?;
        if n != m || x[..n] != y[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalSyncStats {
    pub copied: u64,
    pub copied_bytes: u64,
    pub unchanged: u64,
    pub deleted: u64,
}

struct Syncer<'a> {
    options: &'a LocalSyncOptions<'a>,
    stats: LocalSyncStats,
    src_root: &'a Path,
    dst_root: &'a Path,
}

fn is_temp(name: &OsStr) -> bool {
    name.as_bytes().starts_with(TEMP_PREFIX.as_bytes())
}

fn temp_name() -> OsString {
    let mut random = [0u8; 8];
    // A clash is retried by create_new_at failing; no secret here.
    let _ = getrandom::fill(&mut random);
    OsString::from(format!("{TEMP_PREFIX}{:016x}", u64::from_le_bytes(random)))
}

/// Removes `name` in `dir`, a whole tree if it is a folder; returns how
/// many non-folders went.
fn remove_tree(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<u64> {
    let meta = at::lstat_at(dir, name)?;
    if meta.kind != Kind::Dir {
        at::unlink_at(dir, name)?;
        return Ok(1);
    }
    let sub = at::open_dir_at(dir, name)?;
    let mut count = 0;
    for child in at::list(sub.as_fd())? {
        count += remove_tree(sub.as_fd(), &child)?;
    }
    drop(sub);
    at::rmdir_at(dir, name)?;
    Ok(count)
}

impl Syncer<'_> {
    fn io(&self, rel: &Path, action: &'static str) -> impl Fn(io::Error) -> PushError + use<> {
        let path = self.dst_root.join(rel);
        move |error| PushError::Io {
            path: path.clone(),
            action,
            error,
        }
    }

    fn src_io(&self, rel: &Path, action: &'static str) -> impl Fn(io::Error) -> PushError + use<> {
        let path = self.src_root.join(rel);
        move |error| PushError::Io {
            path: path.clone(),
            action,
            error,
        }
    }

    /// Removes `name` (a whole tree) from `dst`, within the deletion budget.
    fn remove_counted(&mut self, dst: &OwnedFd, name: &OsStr, rel: &Path) -> Result<(), PushError> {
        let count = count_tree(dst.as_fd(), name).map_err(self.io(rel, "counting"))?;
        if self.stats.deleted + count > self.options.max_delete {
            return Err(PushError::Io {
                path: self.dst_root.join(rel),
                action: "deleting",
                error: io::Error::other(format!(
                    "more deletions than the {} planned (did the source change during the push?)",
                    self.options.max_delete
                )),
            });
        }
        self.stats.deleted += remove_tree(dst.as_fd(), name).map_err(self.io(rel, "deleting"))?;
        Ok(())
    }

    /// Copies what changed from `src` into `dst` (both folders at `rel`).
    fn copy_dir(
        &mut self,
        src: &OwnedFd,
        dst: &OwnedFd,
        rel: &Path,
        top: bool,
    ) -> Result<(), PushError> {
        let mut names = at::list(src.as_fd()).map_err(self.src_io(rel, "listing"))?;
        names.sort();
        let mut renames: Vec<(OsString, OsString)> = Vec::new();
        let mut dirs: Vec<(OsString, Meta)> = Vec::new();
        for name in names {
            if is_temp(&name)
                || top
                    && (Some(name.as_os_str()) == self.options.last
                        || !self.options.upload_config && name == CONFIG_NAME)
            {
                continue;
            }
            let path = rel.join(&name);
            let meta =
                at::lstat_at(src.as_fd(), &name).map_err(self.src_io(&path, "reading metadata"))?;
            let existing = at::lstat_at(dst.as_fd(), &name).ok();
            match meta.kind {
                Kind::Dir => dirs.push((name, meta)),
                Kind::File => {
                    self.options.progress.add_file();
                    let mut same = existing.is_some_and(|d| {
                        d.kind == Kind::File
                            && d.size == meta.size
                            && (d.mtime_sec, d.mtime_nsec) == (meta.mtime_sec, meta.mtime_nsec)
                    });
                    if same && self.options.checksum {
                        let mut ours = at::open_regular_at(src.as_fd(), &name)
                            .map_err(self.src_io(&path, "reading"))?;
                        // An unreadable copy is replaced, not trusted (a
                        // source that cannot be read fails in the copy).
                        same = match at::open_regular_at(dst.as_fd(), &name) {
                            Ok(mut theirs) => same_bytes(&mut ours, &mut theirs).unwrap_or(false),
                            Err(_) => false,
                        };
                    }
                    if same {
                        self.stats.unchanged += 1;
                        if existing.is_some_and(|d| d.mode != meta.mode) {
                            at::chmod_at(dst.as_fd(), &name, meta.mode)
                                .map_err(self.io(&path, "setting the mode"))?;
                        }
                        self.options.progress.add_bytes(meta.size);
                        continue;
                    }
                    let temp = self.copy_file(src, dst, &name, &meta, &path)?;
                    if existing.is_some_and(|d| d.kind == Kind::Dir) {
                        self.remove_counted(dst, &name, &path)?;
                    }
                    renames.push((temp, name));
                }
                Kind::Symlink => {
                    self.options.progress.add_file();
                    let target = at::readlink_at(src.as_fd(), &name)
                        .map_err(self.src_io(&path, "reading the symlink"))?;
                    let same = existing.is_some_and(|d| d.kind == Kind::Symlink)
                        && at::readlink_at(dst.as_fd(), &name).ok().as_deref() == Some(&target);
                    if same {
                        self.stats.unchanged += 1;
                        continue;
                    }
                    if existing.is_some_and(|d| d.kind == Kind::Dir) {
                        self.remove_counted(dst, &name, &path)?;
                    }
                    crate::staging::place_symlink(
                        dst,
                        &name,
                        &target,
                        (meta.mtime_sec, meta.mtime_nsec),
                    )
                    .map_err(self.io(&path, "writing the symlink"))?;
                    self.stats.copied += 1;
                }
                // No remote holds them; the inventory lists them.
                _ => {}
            }
        }
        if !renames.is_empty() {
            // One flush for the folder's new files, then they get their names.
            at::syncfs(dst.as_fd()).map_err(self.io(rel, "flushing to disk"))?;
            for (temp, name) in &renames {
                at::rename_at(dst.as_fd(), temp, name)
                    .map_err(self.io(&rel.join(name), "renaming into place"))?;
            }
        }
        for (name, meta) in dirs {
            self.sync_subdir(src, dst, rel, &name, &meta)?;
        }
        Ok(())
    }

    fn sync_subdir(
        &mut self,
        src: &OwnedFd,
        dst: &OwnedFd,
        rel: &Path,
        name: &OsStr,
        meta: &Meta,
    ) -> Result<(), PushError> {
        let path = rel.join(name);
        match at::lstat_at(dst.as_fd(), name) {
            Ok(d) if d.kind == Kind::Dir => {}
            Ok(_) => {
                self.remove_counted(dst, name, &path)?;
                at::mkdir_at(dst.as_fd(), name, 0o700)
                    .map_err(self.io(&path, "creating the folder"))?;
            }
            Err(_) => {
                at::mkdir_at(dst.as_fd(), name, 0o700)
                    .map_err(self.io(&path, "creating the folder"))?;
            }
        }
        let sub_src =
            at::open_dir_at(src.as_fd(), name).map_err(self.src_io(&path, "opening the folder"))?;
        let sub_dst =
            at::open_dir_at(dst.as_fd(), name).map_err(self.io(&path, "opening the folder"))?;
        // Writable while filling it; its own mode and mtime afterwards.
        at::chmod(&sub_dst, 0o700).map_err(self.io(&path, "setting the mode"))?;
        self.copy_dir(&sub_src, &sub_dst, &path, false)?;
        self.finish_dir(&sub_dst, meta, &path)
    }

    fn finish_dir(&self, dst: &OwnedFd, meta: &Meta, rel: &Path) -> Result<(), PushError> {
        at::chmod(dst, meta.mode).map_err(self.io(rel, "setting the mode"))?;
        at::set_mtime(dst, meta.mtime_sec, meta.mtime_nsec)
            .map_err(self.io(rel, "setting the mtime"))
    }

    /// Copies one file to a temporary name in `dst`, durable-ready, with
    /// the source's mode and mtime. Returns the temporary name.
    fn copy_file(
        &mut self,
        src: &OwnedFd,
        dst: &OwnedFd,
        name: &OsStr,
        meta: &Meta,
        rel: &Path,
    ) -> Result<OsString, PushError> {
        let mut input =
            at::open_regular_at(src.as_fd(), name).map_err(self.src_io(rel, "opening the file"))?;
        let temp = temp_name();
        let mut output: File = at::create_new_at(dst.as_fd(), &temp, 0o600)
            .map_err(self.io(rel, "creating a temporary file"))?;
        let copied = io::copy(&mut input, &mut output)
            .and_then(|n| at::chmod(&output, meta.mode).map(|()| n))
            .and_then(|n| at::set_mtime(&output, meta.mtime_sec, meta.mtime_nsec).map(|()| n));
        match copied {
            Ok(n) => {
                self.stats.copied += 1;
                self.stats.copied_bytes += n;
                self.options.progress.add_bytes(n);
                Ok(temp)
            }
            Err(error) => {
                let _ = at::unlink_at(dst.as_fd(), &temp);
                Err(self.io(rel, "copying the file")(error))
            }
        }
    }

    /// Deletes what `dst` has and `src` does not (at `rel`).
    fn delete_extras(
        &mut self,
        src: &OwnedFd,
        dst: &OwnedFd,
        rel: &Path,
        top: bool,
    ) -> Result<bool, PushError> {
        let wanted: HashSet<OsString> = at::list(src.as_fd())
            .map_err(self.src_io(rel, "listing"))?
            .into_iter()
            .filter(|n| !is_temp(n))
            .collect();
        let mut changed = false;
        for name in at::list(dst.as_fd()).map_err(self.io(rel, "listing"))? {
            let path = rel.join(&name);
            if is_temp(&name) {
                // Left by an interrupted run.
                remove_tree(dst.as_fd(), &name).map_err(self.io(&path, "removing a leftover"))?;
                changed = true;
                continue;
            }
            if top && name == CONFIG_NAME && !self.options.upload_config {
                continue;
            }
            if !wanted.contains(&name) {
                self.remove_counted(dst, &name, &path)?;
                changed = true;
                continue;
            }
            let src_meta =
                at::lstat_at(src.as_fd(), &name).map_err(self.src_io(&path, "reading metadata"))?;
            if src_meta.kind == Kind::Dir {
                let sub_src = at::open_dir_at(src.as_fd(), &name)
                    .map_err(self.src_io(&path, "opening the folder"))?;
                let sub_dst = at::open_dir_at(dst.as_fd(), &name)
                    .map_err(self.io(&path, "opening the folder"))?;
                let restore_mode = src_meta.mode & 0o200 == 0;
                if restore_mode {
                    at::chmod(&sub_dst, 0o700).map_err(self.io(&path, "setting the mode"))?;
                }
                let sub_changed = self.delete_extras(&sub_src, &sub_dst, &path, false)?;
                if sub_changed || restore_mode {
                    self.finish_dir(&sub_dst, &src_meta, &path)?;
                }
            }
        }
        Ok(changed)
    }
}

fn count_tree(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<u64> {
    let meta = at::lstat_at(dir, name)?;
    if meta.kind != Kind::Dir {
        return Ok(1);
    }
    let sub = at::open_dir_at(dir, name)?;
    let mut count = 0;
    for child in at::list(sub.as_fd())? {
        count += count_tree(sub.as_fd(), &child)?;
    }
    Ok(count)
}

/// Syncs the folder `src` to the local folder `dst` (created if missing;
/// its parent must exist).
pub fn sync(
    src: &Path,
    dst: &Path,
    options: &LocalSyncOptions<'_>,
) -> Result<LocalSyncStats, PushError> {
    let io_at = |path: &Path, action: &'static str| {
        let path: PathBuf = path.to_path_buf();
        move |error| PushError::Io {
            path: path.clone(),
            action,
            error,
        }
    };
    match std::fs::create_dir(dst) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
            return Err(io_at(dst, "creating the destination")(e));
        }
        _ => {}
    }
    let src_fd = at::open_dir(src).map_err(io_at(src, "opening the source"))?;
    let dst_fd = at::open_dir(dst).map_err(io_at(dst, "opening the destination"))?;
    let mut syncer = Syncer {
        options,
        stats: LocalSyncStats::default(),
        src_root: src,
        dst_root: dst,
    };
    syncer.copy_dir(&src_fd, &dst_fd, Path::new(""), true)?;
    if let Some(last) = options.last
        && let Ok(meta) = at::lstat_at(src_fd.as_fd(), last)
        && meta.kind == Kind::Dir
    {
        syncer.sync_subdir(&src_fd, &dst_fd, Path::new(""), last, &meta)?;
    }
    syncer.delete_extras(&src_fd, &dst_fd, Path::new(""), true)?;
    let root_meta = at::fstat(&src_fd).map_err(io_at(src, "reading metadata"))?;
    at::set_mtime(&dst_fd, root_meta.mtime_sec, root_meta.mtime_nsec)
        .map_err(io_at(dst, "setting the mtime"))?;
    at::syncfs(&dst_fd).map_err(io_at(dst, "flushing to disk"))?;
    Ok(syncer.stats)
}
