//! Decrypting a vault (or selected paths of it) into a plaintext folder.
//!
//! Guarantees: a file appears under its real name only after every block
//! authenticated (see `staging`), and never in place of anything; every
//! write is relative to a directory handle this run created, never
//! through a symlink, so a planted link cannot redirect it, and symlinks
//! are created after all files; decrypted names were validated by the walk
//! (no `/`, NUL, `.`, `..`). Modes come from unauthenticated metadata, so
//! setuid/setgid bits and device nodes are only restored on request.
//! Files are decrypted in parallel, and the chunks of a large file too.

use std::ffi::OsStr;
use std::fs::{self, DirBuilder};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use thiserror::Error;

use crate::at::{self, Kind};
use crate::exit::ExitStatus;
use crate::problem::{Problem, ProblemKind, selected_status};
use crate::progress::Progress;
use crate::selection::Selection;
use crate::staging::StagedFile;
use crate::throttle::Throttle;
use crate::vault::UnlockedVault;
use crate::vault::file::{CHUNK_PLAIN_LEN, CipherFile, PlainChunk};
use crate::vault::walk::{Entry, EntryKind, WalkItem, Walker};
use crate::writebehind::{self, WriteBehind};

#[derive(Debug, Error)]
pub enum DestinationError {
    #[error("{}: the destination is inside the vault {}", .dest.display(), .vault.display())]
    InsideVault { dest: PathBuf, vault: PathBuf },
    #[error("{}: the destination is not empty", .0.display())]
    NotEmpty(PathBuf),
    #[error("{}: the destination is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("{}: other users can write into the destination", .0.display())]
    WritableByOthers(PathBuf),
    #[error("{}: {error}", .path.display())]
    Io { path: PathBuf, error: io::Error },
}

impl DestinationError {
    pub fn status(&self) -> ExitStatus {
        match self {
            DestinationError::Io { .. } => ExitStatus::CouldNotRun,
            _ => ExitStatus::Usage,
        }
    }

    pub fn hint(&self) -> Option<String> {
        Some(match self {
            DestinationError::InsideVault { .. } => {
                "choose a destination outside the encrypted folder".into()
            }
            DestinationError::NotEmpty(_) => {
                "choose a new or empty folder: vaultdrill never writes over existing files".into()
            }
            DestinationError::NotADirectory(_) => "choose a new or empty folder".into(),
            DestinationError::WritableByOthers(_) => {
                "choose a folder only you can write to (not directly under /tmp), or let vaultdrill create it".into()
            }
            DestinationError::Io { .. } => {
                "check that the destination is writable and has free space".into()
            }
        })
    }
}

/// Options of a decryption run.
pub struct DecryptOptions<'a> {
    pub selection: &'a Selection,
    pub progress: &'a dyn Progress,
    /// Restore setuid/setgid bits (otherwise cleared: anyone who can write
    /// to the backup could set them, without any key).
    pub keep_setuid: bool,
    /// Recreate device nodes (otherwise reported as not restored).
    pub devices: bool,
}

/// What a decryption run did: the data every report is rendered from.
#[derive(Debug, Default)]
pub struct DecryptSummary {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub specials: u64,
    /// Plaintext bytes written (holes included).
    pub bytes: u64,
    pub problems: Vec<Problem>,
    /// `--path` values that matched nothing.
    pub unmatched: Vec<PathBuf>,
    /// Files whose setuid/setgid bits were cleared.
    pub setuid_cleared: u64,
    pub elapsed: Duration,
}

impl DecryptSummary {
    pub fn status(&self) -> ExitStatus {
        selected_status(&self.problems, &self.unmatched)
    }
}

/// Counts what a run over `selection` will process, for a progress bar.
pub fn measure(vault: &UnlockedVault, selection: &Selection) -> (u64, u64) {
    let (mut files, mut bytes) = (0, 0);
    for item in Walker::new(vault, selection) {
        if let WalkItem::Entry(e) = item {
            files += 1;
            if let EntryKind::File { plain_size } = e.kind {
                bytes += plain_size;
            }
        }
    }
    (files, bytes)
}

/// Checks the destination and creates it when missing; returns whether it
/// was created.
pub fn prepare_destination(vault_root: &Path, dest: &Path) -> Result<bool, DestinationError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |error| DestinationError::Io { path, error }
    };
    let vault_abs = fs::canonicalize(vault_root).map_err(io_err(vault_root))?;
    let dest_abs = resolve_lexically(dest).map_err(io_err(dest))?;
    if dest_abs.starts_with(&vault_abs) {
        return Err(DestinationError::InsideVault {
            dest: dest.to_path_buf(),
            vault: vault_root.to_path_buf(),
        });
    }
    match fs::metadata(dest) {
        Ok(m) if !m.is_dir() => Err(DestinationError::NotADirectory(dest.to_path_buf())),
        Ok(m) => {
            let mut listing = fs::read_dir(dest).map_err(io_err(dest))?;
            if listing.next().is_some() {
                return Err(DestinationError::NotEmpty(dest.to_path_buf()));
            }
            if m.mode() & 0o022 != 0
                && m.uid() != 0
                && m.uid() != rustix::process::geteuid().as_raw()
            {
                return Err(DestinationError::WritableByOthers(dest.to_path_buf()));
            }
            if m.mode() & 0o002 != 0 {
                return Err(DestinationError::WritableByOthers(dest.to_path_buf()));
            }
            Ok(false)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dest)
                .map_err(io_err(dest))?;
            Ok(true)
        }
        Err(error) => Err(DestinationError::Io {
            path: dest.to_path_buf(),
            error,
        }),
    }
}

/// An absolute path with symlinks of its existing part resolved and `..`
/// in the part that does not exist yet applied lexically.
pub fn resolve_lexically(path: &Path) -> io::Result<PathBuf> {
    let abs = std::path::absolute(path)?;
    let parts: Vec<Component<'_>> = abs.components().collect();
    let mut split = parts.len();
    while split > 1 && fs::symlink_metadata(parts[..split].iter().collect::<PathBuf>()).is_err() {
        split -= 1;
    }
    let mut out = fs::canonicalize(parts[..split].iter().collect::<PathBuf>())?;
    for part in &parts[split..] {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
            _ => {}
        }
    }
    Ok(out)
}

/// Handles on the destination tree: the root, and the chain of directories
/// last used, reopened component by component (never through a symlink)
/// when another part of the tree is needed.
struct DestTree {
    root: Arc<OwnedFd>,
    chain: Vec<(std::ffi::OsString, Arc<OwnedFd>)>,
}

impl DestTree {
    fn new(root: OwnedFd) -> DestTree {
        DestTree {
            root: Arc::new(root),
            chain: Vec::new(),
        }
    }

    /// The directory `plain_dir` (relative to the root).
    fn dir(&mut self, plain_dir: &Path) -> io::Result<Arc<OwnedFd>> {
        let parts: Vec<&OsStr> = plain_dir.iter().collect();
        let common = self
            .chain
            .iter()
            .zip(&parts)
            .take_while(|((name, _), part)| name.as_os_str() == **part)
            .count();
        self.chain.truncate(common);
        for part in &parts[common..] {
            let parent = self.chain.last().map_or(&self.root, |(_, fd)| fd);
            let fd = Arc::new(at::open_dir_at(parent.as_fd(), part)?);
            self.chain.push((part.to_os_string(), fd));
        }
        Ok(Arc::clone(
            self.chain.last().map_or(&self.root, |(_, fd)| fd),
        ))
    }

    fn parent_of(&mut self, entry: &Entry) -> io::Result<Arc<OwnedFd>> {
        self.dir(entry.plain_path.parent().unwrap_or(Path::new("")))
    }
}

struct Shared<'a> {
    problems: Mutex<Vec<Problem>>,
    files: AtomicU64,
    bytes: AtomicU64,
    setuid_cleared: AtomicU64,
    progress: &'a dyn Progress,
}

impl Shared<'_> {
    fn report(&self, entry: &Entry, kind: ProblemKind) {
        let problem = Problem {
            cipher_path: entry.cipher_path.clone(),
            plain_path: Some(entry.plain_path.clone()),
            plain_dir: entry
                .plain_path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            kind,
        };
        self.push(problem);
    }

    fn push(&self, problem: Problem) {
        self.problems
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(problem);
    }
}

fn write_error(action: &'static str) -> impl Fn(io::Error) -> ProblemKind {
    move |error| ProblemKind::Io { action, error }
}

/// Decrypts the selected part of `vault` into `dest` (see [`prepare_destination`]).
pub fn decrypt_tree(
    vault: &UnlockedVault,
    dest: &Path,
    dest_created: bool,
    options: &DecryptOptions<'_>,
) -> DecryptSummary {
    let started = Instant::now();
    let shared = Shared {
        problems: Mutex::new(Vec::new()),
        files: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        setuid_cleared: AtomicU64::new(0),
        progress: options.progress,
    };
    let mut summary = DecryptSummary::default();
    let mut tree = match at::open_dir(dest) {
        Ok(fd) => DestTree::new(fd),
        Err(error) => {
            shared.push(Problem {
                cipher_path: PathBuf::new(),
                plain_path: Some(PathBuf::new()),
                plain_dir: PathBuf::new(),
                kind: ProblemKind::Io {
                    action: "opening the destination",
                    error,
                },
            });
            summary.problems = shared
                .problems
                .into_inner()
                .unwrap_or_else(|p| p.into_inner());
            return summary;
        }
    };
    let throttle = Throttle::for_workers();
    let mut dirs: Vec<Entry> = Vec::new();
    let mut links: Vec<Entry> = Vec::new();
    let mut walker = Walker::new(vault, options.selection);

    rayon::in_place_scope(|scope| {
        for item in walker.by_ref() {
            let entry = match item {
                WalkItem::Problem(p) => {
                    shared.push(p);
                    continue;
                }
                WalkItem::Entry(entry) => entry,
                WalkItem::Meta(_) => continue,
            };
            let parent = match tree.parent_of(&entry) {
                Ok(fd) => fd,
                Err(error) => {
                    shared.report(
                        &entry,
                        ProblemKind::Io {
                            action: "opening the destination directory",
                            error,
                        },
                    );
                    continue;
                }
            };
            match entry.kind {
                EntryKind::Dir => match at::mkdir_at(parent.as_fd(), entry.plain_name(), 0o700) {
                    Ok(()) => dirs.push(entry),
                    Err(error) => shared.report(
                        &entry,
                        ProblemKind::Io {
                            action: "creating the directory",
                            error,
                        },
                    ),
                },
                EntryKind::File { .. } => {
                    throttle.acquire();
                    let (shared, throttle) = (&shared, &throttle);
                    scope.spawn(move |_| {
                        match decrypt_file(vault, &entry, parent, options, shared) {
                            Ok(bytes) => {
                                shared.files.fetch_add(1, Ordering::Relaxed);
                                shared.bytes.fetch_add(bytes, Ordering::Relaxed);
                            }
                            Err(kind) => shared.report(&entry, kind),
                        }
                        shared.progress.add_file();
                        throttle.release();
                    });
                }
                EntryKind::Symlink { .. } => links.push(entry),
                EntryKind::Socket => shared.report(&entry, ProblemKind::NotRestorable("sockets")),
                EntryKind::CharDevice { .. } | EntryKind::BlockDevice { .. }
                    if !options.devices =>
                {
                    shared.report(
                        &entry,
                        ProblemKind::NotRestorable("device files (without --devices)"),
                    );
                }
                EntryKind::Fifo | EntryKind::CharDevice { .. } | EntryKind::BlockDevice { .. } => {
                    match make_special(&entry, &parent, options) {
                        Ok(()) => summary.specials += 1,
                        Err(error) if error.kind() == io::ErrorKind::PermissionDenied => shared
                            .report(
                                &entry,
                                ProblemKind::NotRestorable(
                                    "device files (not permitted for this user)",
                                ),
                            ),
                        Err(error) => shared.report(
                            &entry,
                            ProblemKind::Io {
                                action: "creating the special file",
                                error,
                            },
                        ),
                    }
                }
            }
        }
    });

    // Links last: from here on nothing is written through a path again.
    for link in &links {
        let EntryKind::Symlink { target } = &link.kind else {
            continue;
        };
        let made = tree.parent_of(link).and_then(|parent| {
            at::symlink_at(target, parent.as_fd(), link.plain_name())?;
            at::set_mtime_at(
                parent.as_fd(),
                link.plain_name(),
                link.mtime_sec,
                link.mtime_nsec,
            )
        });
        match made {
            Ok(()) => summary.symlinks += 1,
            Err(error) => shared.report(
                link,
                ProblemKind::Io {
                    action: "creating the symlink",
                    error,
                },
            ),
        }
        shared.progress.add_file();
    }

    // Directories deepest first, so that a read-only mode or an mtime is
    // set after everything below is written.
    for dir in dirs.iter().rev() {
        let finished = tree.parent_of(dir).and_then(|parent| {
            let fd = at::open_dir_at(parent.as_fd(), dir.plain_name())?;
            finish(&fd, dir.mode, dir.mtime_sec, dir.mtime_nsec)
        });
        if let Err(error) = finished {
            shared.report(
                dir,
                ProblemKind::Io {
                    action: "setting directory mode and time",
                    error,
                },
            );
        }
        shared.progress.add_file();
    }
    if dest_created
        && options.selection.is_all()
        && let Ok(meta) = at::open_dir(vault.root()).and_then(at::fstat)
        && let Err(error) = finish(&tree.root, meta.mode, meta.mtime_sec, meta.mtime_nsec)
    {
        shared.push(Problem {
            cipher_path: PathBuf::new(),
            plain_path: Some(PathBuf::new()),
            plain_dir: PathBuf::new(),
            kind: ProblemKind::Io {
                action: "setting the destination's mode and time",
                error,
            },
        });
    }

    let mut problems = shared
        .problems
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    problems.sort_by(|a, b| {
        a.plain_path
            .cmp(&b.plain_path)
            .then(a.cipher_path.cmp(&b.cipher_path))
    });
    summary.files = shared.files.into_inner();
    summary.dirs = dirs.len() as u64;
    summary.bytes = shared.bytes.into_inner();
    summary.setuid_cleared = shared.setuid_cleared.into_inner();
    summary.problems = problems;
    summary.unmatched = walker.unmatched();
    summary.elapsed = started.elapsed();
    summary
}

fn finish(fd: &OwnedFd, mode: u32, sec: i64, nsec: i64) -> io::Result<()> {
    at::chmod(fd, mode)?;
    at::set_mtime(fd, sec, nsec)
}

/// The mode to restore: setuid/setgid only on request.
fn restored_mode(mode: u32, options: &DecryptOptions<'_>) -> u32 {
    if options.keep_setuid {
        mode
    } else {
        mode & !0o6000
    }
}

fn make_special(entry: &Entry, parent: &OwnedFd, options: &DecryptOptions<'_>) -> io::Result<()> {
    let (kind, rdev) = match entry.kind {
        EntryKind::Fifo => (Kind::Fifo, 0),
        EntryKind::CharDevice { rdev } => (Kind::CharDevice, rdev),
        EntryKind::BlockDevice { rdev } => (Kind::BlockDevice, rdev),
        _ => return Ok(()),
    };
    let mode = restored_mode(entry.mode, options);
    at::mknod_at(parent.as_fd(), entry.plain_name(), kind, 0o600, rdev)?;
    at::chmod_at(parent.as_fd(), entry.plain_name(), mode)?;
    at::set_mtime_at(
        parent.as_fd(),
        entry.plain_name(),
        entry.mtime_sec,
        entry.mtime_nsec,
    )
}

/// Decrypts one file into `parent`; returns the plaintext size.
fn decrypt_file(
    vault: &UnlockedVault,
    entry: &Entry,
    parent: Arc<OwnedFd>,
    options: &DecryptOptions<'_>,
    shared: &Shared<'_>,
) -> Result<u64, ProblemKind> {
    let source = CipherFile::open(vault, entry)?;
    let staged = StagedFile::create_in(parent).map_err(write_error("creating the output file"))?;
    let plain_size = source.plain_size();
    staged
        .file()
        .set_len(plain_size)
        .map_err(write_error("writing the decrypted file"))?;

    let write_chunk = |opener: &mut _, cbuf: &mut Vec<u8>, plain: &mut PlainChunk, index: u64| {
        source.decrypt_chunk(opener, index, cbuf, plain)?;
        for (offset, bytes) in plain.data_runs() {
            staged
                .file()
                .write_all_at(bytes, offset)
                .map_err(write_error("writing the decrypted file"))?;
        }
        shared.progress.add_bytes(plain.data.len() as u64);
        Ok::<(), ProblemKind>(())
    };
    let chunks = source.chunk_count();
    if chunks <= 1 {
        let mut opener = vault.content().opener();
        write_chunk(&mut opener, &mut Vec::new(), &mut PlainChunk::default(), 0)?;
    } else {
        // Groups of chunks in parallel, groups in file order, so a large
        // file is flushed and dropped from the cache as it is written.
        let mut behind = WriteBehind::new(staged.file(), plain_size);
        let mut buffers: Vec<(Vec<u8>, PlainChunk)> = Vec::new();
        let group = writebehind::group_len();
        let mut first = 0;
        while first < chunks {
            let last = (first + group).min(chunks);
            buffers.resize_with((last - first) as usize, Default::default);
            buffers.par_iter_mut().enumerate().try_for_each_init(
                || vault.content().opener(),
                |opener, (i, (cbuf, plain))| write_chunk(opener, cbuf, plain, first + i as u64),
            )?;
            behind
                .done((last * CHUNK_PLAIN_LEN).min(plain_size))
                .map_err(write_error("writing the decrypted file"))?;
            first = last;
        }
    }
    let mode = restored_mode(entry.mode, options);
    if mode != entry.mode {
        shared.setuid_cleared.fetch_add(1, Ordering::Relaxed);
    }
    finish_file(staged.file(), mode, entry).map_err(write_error("setting mode and time"))?;
    staged
        .persist(entry.plain_name())
        .map_err(write_error("linking the finished file into place"))?;
    Ok(plain_size)
}

fn finish_file(file: &fs::File, mode: u32, entry: &Entry) -> io::Result<()> {
    at::chmod(file, mode)?;
    at::set_mtime(file, entry.mtime_sec, entry.mtime_nsec)
}
