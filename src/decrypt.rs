//! Decrypting a vault (or selected paths of it) into a plaintext folder.
//!
//! Guarantees: every file is written under a temporary name and renamed
//! to its real name only after every block authenticated, with
//! `RENAME_NOREPLACE` so nothing is ever overwritten; symlinks are created
//! after all files, so no write can follow a link the vault planted;
//! decrypted names were validated by the walk (no `/`, NUL, `.`, `..`).
//! Files are decrypted in parallel, and the chunks of a large file too.

use std::ffi::CString;
use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use filetime::FileTime;
use rayon::prelude::*;
use thiserror::Error;

use crate::exit::ExitStatus;
use crate::problem::{Problem, ProblemKind, overall_status};
use crate::progress::Progress;
use crate::selection::Selection;
use crate::staging::StagedFile;
use crate::vault::UnlockedVault;
use crate::vault::file::{CipherFile, PlainChunk};
use crate::vault::walk::{Entry, EntryKind, WalkItem, Walker};

#[derive(Debug, Error)]
pub enum DestinationError {
    #[error("{}: the destination is inside the vault {}", .dest.display(), .vault.display())]
    InsideVault { dest: PathBuf, vault: PathBuf },
    #[error("{}: the destination is not empty", .0.display())]
    NotEmpty(PathBuf),
    #[error("{}: the destination is not a directory", .0.display())]
    NotADirectory(PathBuf),
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
    pub elapsed: Duration,
}

impl DecryptSummary {
    pub fn status(&self) -> ExitStatus {
        let status = overall_status(&self.problems);
        if status == ExitStatus::Verified && !self.unmatched.is_empty() {
            return ExitStatus::Usage;
        }
        status
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
        Ok(_) => {
            let mut listing = fs::read_dir(dest).map_err(io_err(dest))?;
            if listing.next().is_some() {
                return Err(DestinationError::NotEmpty(dest.to_path_buf()));
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
fn resolve_lexically(path: &Path) -> io::Result<PathBuf> {
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

/// Bounds the number of files queued for the worker threads.
struct Throttle {
    slots: Mutex<usize>,
    freed: Condvar,
}

impl Throttle {
    fn new(slots: usize) -> Throttle {
        Throttle {
            slots: Mutex::new(slots),
            freed: Condvar::new(),
        }
    }

    fn acquire(&self) {
        let mut free = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
    }

    fn release(&self) {
        *self.slots.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.freed.notify_one();
    }
}

struct Shared<'a> {
    problems: Mutex<Vec<Problem>>,
    files: AtomicU64,
    bytes: AtomicU64,
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
        self.problems
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(problem);
    }
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
        progress: options.progress,
    };
    let throttle = Throttle::new(4 * rayon::current_num_threads().max(1));
    let mut dirs: Vec<Entry> = Vec::new();
    let mut links: Vec<Entry> = Vec::new();
    let mut specials = 0u64;
    let mut walker = Walker::new(vault, options.selection);

    rayon::in_place_scope(|scope| {
        for item in walker.by_ref() {
            let entry = match item {
                WalkItem::Problem(p) => {
                    shared
                        .problems
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(p);
                    continue;
                }
                WalkItem::Entry(entry) => entry,
            };
            let target = dest.join(&entry.plain_path);
            match entry.kind {
                EntryKind::Dir => match DirBuilder::new().mode(0o700).create(&target) {
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
                        match decrypt_file(vault, &entry, &target, shared.progress) {
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
                EntryKind::Fifo | EntryKind::CharDevice { .. } | EntryKind::BlockDevice { .. } => {
                    match make_special(&entry, &target) {
                        Ok(()) => specials += 1,
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
    let mut symlinks = 0;
    for link in &links {
        let EntryKind::Symlink { target } = &link.kind else {
            continue;
        };
        let path = dest.join(&link.plain_path);
        let made = std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target), &path)
            .and_then(|()| filetime::set_symlink_file_times(&path, mtime_of(link), mtime_of(link)));
        match made {
            Ok(()) => symlinks += 1,
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

    // Directories deepest first, so that setting a read-only mode or an
    // mtime does not disturb what is still to be written below.
    for dir in dirs.iter().rev() {
        if let Err(error) = finish_dir(&dest.join(&dir.plain_path), dir.mode, mtime_of(dir)) {
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
    if dest_created && options.selection.is_all() {
        if let Ok(meta) = fs::metadata(vault.root()) {
            use std::os::unix::fs::MetadataExt;
            let mtime = FileTime::from_unix_time(meta.mtime(), meta.mtime_nsec() as u32);
            if let Err(error) = finish_dir(dest, meta.mode() & 0o7777, mtime) {
                shared
                    .problems
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Problem {
                        cipher_path: PathBuf::new(),
                        plain_path: Some(PathBuf::new()),
                        plain_dir: PathBuf::new(),
                        kind: ProblemKind::Io {
                            action: "setting the destination's mode and time",
                            error,
                        },
                    });
            }
        }
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
    DecryptSummary {
        files: shared.files.into_inner(),
        dirs: dirs.len() as u64,
        symlinks,
        specials,
        bytes: shared.bytes.into_inner(),
        problems,
        unmatched: walker.unmatched(),
        elapsed: started.elapsed(),
    }
}

fn mtime_of(entry: &Entry) -> FileTime {
    FileTime::from_unix_time(entry.mtime_sec, entry.mtime_nsec as u32)
}

fn finish_dir(path: &Path, mode: u32, mtime: FileTime) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    filetime::set_file_mtime(path, mtime)
}

fn make_special(entry: &Entry, path: &Path) -> io::Result<()> {
    let (kind, rdev) = match entry.kind {
        EntryKind::Fifo => (libc::S_IFIFO, 0),
        EntryKind::CharDevice { rdev } => (libc::S_IFCHR, rdev),
        EntryKind::BlockDevice { rdev } => (libc::S_IFBLK, rdev),
        _ => return Ok(()),
    };
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: c_path is a valid NUL-terminated string; mknod has no other
    // memory-safety requirements.
    let rc = unsafe {
        libc::mknod(
            c_path.as_ptr(),
            kind | (entry.mode & 0o7777),
            rdev as libc::dev_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    fs::set_permissions(path, fs::Permissions::from_mode(entry.mode))?;
    filetime::set_file_mtime(path, mtime_of(entry))
}

/// Decrypts one file into `target`; returns the plaintext size.
fn decrypt_file(
    vault: &UnlockedVault,
    entry: &Entry,
    target: &Path,
    progress: &dyn Progress,
) -> Result<u64, ProblemKind> {
    let source = CipherFile::open(vault, &vault.root().join(&entry.cipher_path))?;
    let dir = target.parent().unwrap_or(Path::new("."));
    let temp = StagedFile::create_in(dir).map_err(|error| ProblemKind::Io {
        action: "creating a temporary file",
        error,
    })?;
    let plain_size = source.plain_size();
    let write_err = |error| ProblemKind::Io {
        action: "writing the decrypted file",
        error,
    };
    temp.file().set_len(plain_size).map_err(write_err)?;

    let write_chunk = |opener: &mut _, cbuf: &mut Vec<u8>, plain: &mut PlainChunk, index: u64| {
        source.decrypt_chunk(opener, index, cbuf, plain)?;
        for (offset, bytes) in plain.data_runs() {
            temp.file().write_all_at(bytes, offset).map_err(write_err)?;
        }
        progress.add_bytes(plain.data.len() as u64);
        Ok::<(), ProblemKind>(())
    };
    let chunks = source.chunk_count();
    if chunks <= 1 {
        let mut opener = vault.content().opener();
        write_chunk(&mut opener, &mut Vec::new(), &mut PlainChunk::default(), 0)?;
    } else {
        (0..chunks).into_par_iter().try_for_each_init(
            || (vault.content().opener(), Vec::new(), PlainChunk::default()),
            |(opener, cbuf, plain), index| write_chunk(opener, cbuf, plain, index),
        )?;
    }
    temp.file()
        .set_permissions(fs::Permissions::from_mode(entry.mode))
        .map_err(write_err)?;
    filetime::set_file_handle_times(temp.file(), None, Some(mtime_of(entry))).map_err(write_err)?;
    temp.persist(target).map_err(|error| ProblemKind::Io {
        action: "renaming the finished file into place",
        error,
    })?;
    Ok(plain_size)
}
