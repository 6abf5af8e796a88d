//! The encrypted view of a reverse vault, written to a folder: byte for
//! byte what a `gocryptfs -reverse` mount of the plaintext folder shows
//! (names, contents, the `gocryptfs.conf` copy, `gocryptfs.diriv` and `.name`
//! files, modes and mtimes), without FUSE. Reverse mode derives every IV
//! from the encrypted path, so unchanged plaintext gives unchanged
//! ciphertext: an update rewrites only changed files and removes what
//! disappeared, and `rclone sync` then sends only the difference.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::at::{self, Kind, Meta};
use crate::exclude::Excluder;
use crate::exit::ExitStatus;
use crate::format::config::VaultConfig;
use crate::format::config::{CONFIG_NAME, REVERSE_CONFIG_NAME};
use crate::format::content::{ContentCipher, FileHeader, FileId, HEADER_LEN, PLAIN_BLOCK_LEN};
use crate::format::keys::MasterKey;
use crate::format::layout::{NameMode, VaultLayout};
use crate::format::longname;
use crate::format::names::{DIRIV_NAME, DirIv, NameCipher};
use crate::format::pathiv::{self, Purpose};
use crate::format::symlink;
use crate::problem::{Problem, ProblemKind};
use crate::progress::Progress;
use crate::staging::{DurableBatch, Placement, StagedFile, TEMP_PREFIX};
use crate::tally::{Finished, Tally};
use crate::throttle::Throttle;
use crate::vault::file::{CHUNK_BLOCKS, CHUNK_PLAIN_LEN};
use crate::writebehind::{self, WriteBehind};

/// Mode of gocryptfs's virtual files (diriv, .name).
const VIRTUAL_MODE: u32 = 0o444;

#[derive(Debug, Error)]
pub enum ExportError {
    #[error("{}: the destination and the plaintext folder {} contain one another", .dest.display(), .plain.display())]
    Overlap { plain: PathBuf, dest: PathBuf },
    #[error("{}: not empty, and not an export of this vault", .0.display())]
    ForeignDestination(PathBuf),
    #[error("{}: {error}", .path.display())]
    Io { path: PathBuf, error: io::Error },
    #[error(
        "reverse mode needs AES-SIV content encryption; this config uses {0} (gocryptfs refuses it too: derived nonces would repeat)"
    )]
    NotSiv(&'static str),
}

impl ExportError {
    pub fn status(&self) -> ExitStatus {
        match self {
            ExportError::Io { .. } => ExitStatus::CouldNotRun,
            _ => ExitStatus::Usage,
        }
    }

    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ExportError::Overlap { .. } => "export to a folder outside the plaintext folder".into(),
            ExportError::ForeignDestination(_) => {
                "export into a new or empty folder, or into an earlier export of this same folder (its entries that the plaintext lacks are deleted)".into()
            }
            ExportError::Io { .. } => "check the paths, permissions and free space".into(),
            ExportError::NotSiv(_) => "make the reverse vault with `vaultdrill init --reverse` or `gocryptfs -init -reverse`".into(),
        })
    }
}

/// What an export did.
#[derive(Debug, Default)]
pub struct ExportSummary {
    pub files_written: u64,
    pub files_unchanged: u64,
    pub removed: u64,
    pub dirs: u64,
    pub bytes: u64,
    pub problems: Vec<Problem>,
    pub elapsed: Duration,
}

impl ExportSummary {
    pub fn status(&self) -> ExitStatus {
        crate::tally::writing_status(&self.problems)
    }
}

/// The ciphers of a reverse vault.
pub struct ReverseKeys {
    layout: VaultLayout,
    content: ContentCipher,
    names: Option<NameCipher>,
}

impl ReverseKeys {
    /// Refuses anything but AES-SIV: reverse mode's nonces are derived from
    /// paths, so they repeat when a file changes; only SIV stays safe then.
    pub fn new(layout: VaultLayout, master_key: &MasterKey) -> Result<ReverseKeys, ExportError> {
        if layout.content != crate::format::ContentAlgorithm::AesSiv {
            return Err(ExportError::NotSiv(layout.content.gocryptfs_name()));
        }
        let (content, names) = crate::format::derive_ciphers(&layout, master_key);
        Ok(ReverseKeys {
            layout,
            content,
            names,
        })
    }

    fn dir_iv(&self, cpath: &[u8]) -> Option<DirIv> {
        match self.layout.names {
            NameMode::Plaintext => None,
            NameMode::Encrypted { dir_iv: true, .. } => {
                Some(DirIv(pathiv::derive(cpath, Purpose::DirIv)))
            }
            NameMode::Encrypted { dir_iv: false, .. } => Some(DirIv::ZERO),
        }
    }

    /// The view's name of `plain` in a directory with IV `iv`, and the
    /// content of its `.name` file when it is hashed.
    fn cipher_name(
        &self,
        iv: Option<&DirIv>,
        plain: &OsStr,
    ) -> Result<(OsString, Option<String>), ProblemKind> {
        crate::encrypt::name_on_disk(self.names.as_ref(), &self.layout, iv, plain)
    }
}

fn join_cpath(parent: &[u8], name: &OsStr) -> Vec<u8> {
    if parent.is_empty() {
        name.as_bytes().to_vec()
    } else {
        [parent, b"/", name.as_bytes()].concat()
    }
}

struct Level {
    plain: Arc<OwnedFd>,
    dest: Arc<OwnedFd>,
    cpath: Vec<u8>,
    plain_rel: PathBuf,
    meta: Meta,
}

/// Reports with the view's path given as bytes.
trait ReportViewPath {
    fn report_c(&self, plain: &Path, cpath: &[u8], kind: ProblemKind);
}

impl ReportViewPath for Tally<'_> {
    fn report_c(&self, plain: &Path, cpath: &[u8], kind: ProblemKind) {
        self.report(plain, Path::new(OsStr::from_bytes(cpath)), kind);
    }
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> ExportError + '_ {
    move |error| ExportError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Checks DEST: new, empty, or an earlier export of this vault: its
/// `gocryptfs.conf` is this config, or (after a password change) a config
/// with the same flags, and every encrypted name in its root decrypts under
/// this key. Anything else is refused: the update deletes what the view
/// does not contain.
fn check_destination(
    plain_root: &Path,
    dest: &Path,
    keys: &ReverseKeys,
    config: &[u8],
) -> Result<(), ExportError> {
    let (plain_abs, dest_abs) = (
        std::fs::canonicalize(plain_root).map_err(io_err(plain_root))?,
        crate::decrypt::resolve_lexically(dest).map_err(io_err(dest))?,
    );
    if dest_abs.starts_with(&plain_abs) || plain_abs.starts_with(&dest_abs) {
        return Err(ExportError::Overlap {
            plain: plain_root.to_path_buf(),
            dest: dest.to_path_buf(),
        });
    }
    let Ok(fd) = at::open_dir(dest) else {
        return Ok(()); // created later
    };
    let names = at::list(fd.as_fd()).map_err(io_err(dest))?;
    if names.is_empty() {
        return Ok(());
    }
    let foreign = || ExportError::ForeignDestination(dest.to_path_buf());
    let theirs = at::open_regular_at(fd.as_fd(), OsStr::new(CONFIG_NAME))
        .and_then(|f| at::read_limited(f, 64 * 1024))
        .map_err(|_| foreign())?;
    if theirs == config {
        return Ok(());
    }
    let (Ok(theirs), Ok(ours)) = (VaultConfig::parse(&theirs), VaultConfig::parse(config)) else {
        return Err(foreign());
    };
    if theirs.flags() != ours.flags() {
        return Err(foreign());
    }
    let (Some(cipher), Some(iv)) = (&keys.names, keys.dir_iv(b"")) else {
        return Err(foreign());
    };
    let encrypted: Vec<&str> = names
        .iter()
        .filter_map(|n| n.to_str())
        .filter(|n| {
            *n != CONFIG_NAME
                && *n != DIRIV_NAME
                && longname::classify(n) == longname::LongNameKind::Short
        })
        .collect();
    if !encrypted.is_empty() && encrypted.iter().all(|n| cipher.decrypt(n, &iv).is_ok()) {
        Ok(())
    } else {
        Err(foreign())
    }
}

/// Writes a small file (config copy, diriv, .name) unless an identical one
/// with the same mode and mtime is there.
fn put_small(
    dir: &Arc<OwnedFd>,
    name: &OsStr,
    content: &[u8],
    mode: u32,
    mtime: (i64, i64),
) -> io::Result<bool> {
    if let Ok(meta) = at::lstat_at(dir.as_fd(), name) {
        let same_meta = meta.kind == Kind::File
            && meta.mode == mode
            && (meta.mtime_sec, meta.mtime_nsec) == mtime;
        if same_meta
            && at::open_regular_at(dir.as_fd(), name)
                .and_then(|f| at::read_limited(f, content.len()))
                .is_ok_and(|c| c == content)
        {
            return Ok(false);
        }
        if meta.kind == Kind::Dir {
            remove_tree_at(dir, name)?;
        }
    }
    let staged = StagedFile::create_in(Arc::clone(dir))?;
    staged.file().write_all_at(content, 0)?;
    at::chmod(staged.file(), mode)?;
    at::set_mtime(staged.file(), mtime.0, mtime.1)?;
    staged.file().sync_data()?;
    staged.persist_replacing(name)?;
    Ok(true)
}

/// Removes `name` from `dir`, recursively for directories, never following
/// a symlink.
fn remove_tree_at(dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
    let meta = at::lstat_at(dir.as_fd(), name)?;
    match meta.kind {
        Kind::Dir => {
            if meta.dev != at::fstat(dir)?.dev {
                return Err(io::Error::other(
                    "a file system is mounted there; not removing across it",
                ));
            }
            let sub = at::open_dir_at(dir.as_fd(), name)?;
            at::chmod(&sub, 0o700)?;
            for child in at::list(sub.as_fd())? {
                remove_tree_at(&sub, &child)?;
            }
            Ok(rustix::fs::unlinkat(
                dir,
                name,
                rustix::fs::AtFlags::REMOVEDIR,
            )?)
        }
        _ => at::unlink_at(dir.as_fd(), name),
    }
}

/// Writes (or updates) the encrypted view of `plain_root` into `dest`.
pub fn export_tree(
    plain_root: &Path,
    dest: &Path,
    keys: &ReverseKeys,
    excluder: &Excluder,
    progress: &dyn Progress,
) -> Result<ExportSummary, ExportError> {
    let started = Instant::now();
    let plain_fd = Arc::new(at::open_dir(plain_root).map_err(io_err(plain_root))?);
    // gocryptfs follows a symlinked config; so do we.
    let config_file =
        at::open_regular(&plain_root.join(REVERSE_CONFIG_NAME)).map_err(io_err(plain_root))?;
    let config_meta = at::fstat(&config_file).map_err(io_err(plain_root))?;
    let config = at::read_limited(config_file, 64 * 1024).map_err(io_err(plain_root))?;
    check_destination(plain_root, dest, keys, &config)?;
    std::fs::create_dir_all(dest).map_err(io_err(dest))?;
    let dest_fd = Arc::new(at::open_dir(dest).map_err(io_err(dest))?);
    // Writable while this run works in it; the final mode comes at the end.
    at::chmod(&*dest_fd, 0o700).map_err(io_err(dest))?;
    let root_meta = at::fstat(&*plain_fd).map_err(io_err(plain_root))?;

    let shared = Tally::new(progress);
    let mut summary = ExportSummary::default();
    let throttle = Throttle::for_workers();
    // Files are on disk before they have a name: a later run skips files
    // whose size and mtime match, so a zero-filled file after a crash would
    // stay forever. One flush per batch of files, not one per file.
    let batch = DurableBatch::default();
    let mut finish: Vec<(Arc<OwnedFd>, Meta, PathBuf)> = Vec::new();
    let mut stack = vec![Level {
        plain: plain_fd,
        dest: Arc::clone(&dest_fd),
        cpath: Vec::new(),
        plain_rel: PathBuf::new(),
        meta: root_meta,
    }];

    rayon::in_place_scope(|scope| {
        while let Some(level) = stack.pop() {
            let is_root = level.cpath.is_empty();
            let iv = keys.dir_iv(&level.cpath);
            let mut expected: HashSet<OsString> = HashSet::new();
            let dir_mtime = (level.meta.mtime_sec, level.meta.mtime_nsec);
            if let (Some(iv), true) = (iv, keys.layout.has_dir_iv()) {
                expected.insert(OsString::from(DIRIV_NAME));
                if let Err(error) = put_small(
                    &level.dest,
                    OsStr::new(DIRIV_NAME),
                    &iv.0,
                    VIRTUAL_MODE,
                    dir_mtime,
                ) {
                    shared.report_c(
                        &level.plain_rel,
                        &level.cpath,
                        ProblemKind::Io {
                            action: "writing gocryptfs.diriv",
                            error,
                        },
                    );
                }
            }
            // Temporary files of an interrupted earlier run (where O_TMPFILE
            // is missing): nothing of this run is in flight here yet.
            if let Ok(present) = at::list(level.dest.as_fd()) {
                for name in present
                    .iter()
                    .filter(|n| n.as_bytes().starts_with(TEMP_PREFIX.as_bytes()))
                {
                    let _ = at::unlink_at(level.dest.as_fd(), name);
                }
            }
            if is_root && !excluder.excludes(REVERSE_CONFIG_NAME.as_bytes()) {
                expected.insert(OsString::from(CONFIG_NAME));
                let mtime = (config_meta.mtime_sec, config_meta.mtime_nsec);
                if let Err(error) = put_small(
                    &level.dest,
                    OsStr::new(CONFIG_NAME),
                    &config,
                    config_meta.mode,
                    mtime,
                ) {
                    shared.report_c(
                        Path::new(REVERSE_CONFIG_NAME),
                        b"gocryptfs.conf",
                        ProblemKind::Io {
                            action: "writing gocryptfs.conf",
                            error,
                        },
                    );
                }
            }
            let mut names = match at::list(level.plain.as_fd()) {
                Ok(n) => n,
                Err(error) => {
                    shared.report_c(
                        &level.plain_rel,
                        &level.cpath,
                        ProblemKind::Unreadable {
                            action: "listing the directory",
                            error,
                        },
                    );
                    continue;
                }
            };
            names.sort();
            for name in names {
                if is_root && name == REVERSE_CONFIG_NAME {
                    continue;
                }
                let plain_rel = level.plain_rel.join(&name);
                let meta = match at::lstat_at(level.plain.as_fd(), &name) {
                    Ok(m) => m,
                    Err(error) => {
                        shared.report_c(
                            &plain_rel,
                            &level.cpath,
                            ProblemKind::Unreadable {
                                action: "reading metadata",
                                error,
                            },
                        );
                        continue;
                    }
                };
                if excluder.excludes(plain_rel.as_os_str().as_bytes()) {
                    continue;
                }
                if is_root && keys.names.is_none() && name == CONFIG_NAME {
                    shared.report_c(&plain_rel, b"", ProblemKind::NotRestorable("a root gocryptfs.conf beside .gocryptfs.reverse.conf (gocryptfs renames it at random)"));
                    continue;
                }
                let (cname, sidecar) = match keys.cipher_name(iv.as_ref(), &name) {
                    Ok(x) => x,
                    Err(kind) => {
                        shared.report_c(&plain_rel, &level.cpath, kind);
                        continue;
                    }
                };
                let cpath = join_cpath(&level.cpath, &cname);
                expected.insert(cname.clone());
                if let Some(content) = sidecar {
                    let side = OsString::from(longname::sidecar_name(&cname.to_string_lossy()));
                    expected.insert(side.clone());
                    let mtime = (meta.mtime_sec, meta.mtime_nsec);
                    if let Err(error) =
                        put_small(&level.dest, &side, content.as_bytes(), VIRTUAL_MODE, mtime)
                    {
                        shared.report_c(
                            &plain_rel,
                            &cpath,
                            ProblemKind::Io {
                                action: "writing the .name file",
                                error,
                            },
                        );
                    }
                }
                let existing = at::lstat_at(level.dest.as_fd(), &cname).ok();
                if existing.is_some_and(|e| e.kind != meta.kind)
                    && let Err(error) = remove_tree_at(&level.dest, &cname)
                {
                    shared.report_c(
                        &plain_rel,
                        &cpath,
                        ProblemKind::Io {
                            action: "replacing an entry of another type",
                            error,
                        },
                    );
                    continue;
                }
                match meta.kind {
                    Kind::Dir => {
                        let made = match at::mkdir_at(level.dest.as_fd(), &cname, 0o700) {
                            Ok(()) => Ok(()),
                            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                            Err(e) => Err(e),
                        };
                        let opened = made.and_then(|()| {
                            let dest = at::open_dir_at(level.dest.as_fd(), &cname)?;
                            at::chmod(&dest, 0o700)?;
                            let plain = at::open_dir_at(level.plain.as_fd(), &name)?;
                            Ok((Arc::new(dest), Arc::new(plain)))
                        });
                        match opened {
                            Ok((dest, plain)) => {
                                summary.dirs += 1;
                                finish.push((Arc::clone(&dest), meta, plain_rel.clone()));
                                stack.push(Level {
                                    plain,
                                    dest,
                                    cpath,
                                    plain_rel,
                                    meta,
                                });
                            }
                            Err(error) => shared.report_c(
                                &plain_rel,
                                &cpath,
                                ProblemKind::Io {
                                    action: "creating the directory",
                                    error,
                                },
                            ),
                        }
                    }
                    Kind::File => {
                        let unchanged = existing.is_some_and(|e| {
                            e.kind == Kind::File
                                && e.size == keys.layout.content.cipher_size(meta.size)
                                && (e.mtime_sec, e.mtime_nsec) == (meta.mtime_sec, meta.mtime_nsec)
                                && e.mode == meta.mode
                        });
                        if unchanged {
                            shared.skipped();
                            continue;
                        }
                        throttle.acquire();
                        let (shared, throttle) = (&shared, &throttle);
                        let (plain_dir, dest_dir) =
                            (Arc::clone(&level.plain), Arc::clone(&level.dest));
                        let batch = &batch;
                        scope.spawn(move |_| {
                            match export_file(
                                keys,
                                &plain_dir,
                                &name,
                                &dest_dir,
                                &cpath,
                                &meta,
                                shared.progress,
                            ) {
                                Ok(staged) => {
                                    let finished = Finished {
                                        plain: plain_rel,
                                        cipher: PathBuf::from(OsStr::from_bytes(&cpath)),
                                        bytes: meta.size,
                                    };
                                    shared.placed(batch.add(
                                        staged,
                                        cname,
                                        Placement::Replace,
                                        meta.size,
                                        finished,
                                    ));
                                }
                                Err(kind) => shared.report_c(&plain_rel, &cpath, kind),
                            }
                            throttle.release();
                        });
                    }
                    Kind::Symlink => {
                        if let Err(kind) =
                            export_symlink(keys, &level, &name, &cname, &cpath, &meta)
                        {
                            shared.report_c(&plain_rel, &cpath, kind);
                        }
                    }
                    Kind::Fifo | Kind::Socket | Kind::CharDevice | Kind::BlockDevice => {
                        // The view shows them as they are; so does the export.
                        let made = match existing {
                            Some(e) if e.rdev == meta.rdev => Ok(()),
                            Some(_) => remove_tree_at(&level.dest, &cname).and_then(|()| {
                                at::mknod_at(
                                    level.dest.as_fd(),
                                    &cname,
                                    meta.kind,
                                    0o600,
                                    meta.rdev,
                                )
                            }),
                            None => at::mknod_at(
                                level.dest.as_fd(),
                                &cname,
                                meta.kind,
                                0o600,
                                meta.rdev,
                            ),
                        }
                        .and_then(|()| at::chmod_at(level.dest.as_fd(), &cname, meta.mode))
                        .and_then(|()| {
                            at::set_mtime_at(
                                level.dest.as_fd(),
                                &cname,
                                meta.mtime_sec,
                                meta.mtime_nsec,
                            )
                        });
                        if let Err(error) = made {
                            shared.report_c(
                                &plain_rel,
                                &cpath,
                                ProblemKind::Io {
                                    action: "creating the special file",
                                    error,
                                },
                            );
                        }
                    }
                }
            }
            // What the plaintext no longer has goes from the view too.
            match at::list(level.dest.as_fd()) {
                Ok(present) => {
                    for name in present {
                        if expected.contains(&name)
                            || name.as_bytes().starts_with(TEMP_PREFIX.as_bytes())
                        {
                            continue;
                        }
                        match remove_tree_at(&level.dest, &name) {
                            Ok(()) => summary.removed += 1,
                            Err(error) => shared.report_c(
                                &level.plain_rel.join(&name),
                                &level.cpath,
                                ProblemKind::Io {
                                    action: "removing a stale entry",
                                    error,
                                },
                            ),
                        }
                    }
                }
                Err(error) => shared.report_c(
                    &level.plain_rel,
                    &level.cpath,
                    ProblemKind::Io {
                        action: "listing the destination",
                        error,
                    },
                ),
            }
        }
    });
    shared.placed(batch.flush());

    // Directories deepest first, then the root: mode and mtime as the plaintext's.
    finish.sort_by_key(|(_, _, rel)| std::cmp::Reverse(rel.components().count()));
    finish.push((Arc::clone(&dest_fd), root_meta, PathBuf::new()));
    for (fd, meta, rel) in &finish {
        let done = at::chmod(&**fd, meta.mode)
            .and_then(|()| at::set_mtime(&**fd, meta.mtime_sec, meta.mtime_nsec));
        if let Err(error) = done {
            shared.report_c(
                rel,
                b"",
                ProblemKind::Io {
                    action: "setting directory mode and time",
                    error,
                },
            );
        }
    }

    let totals = shared.finish();
    summary.files_written = totals.written;
    summary.files_unchanged = totals.unchanged;
    summary.bytes = totals.bytes;
    summary.problems = totals.problems;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// One file of the view: header with the derived file id, every block
/// encrypted with its derived nonce (zero blocks too: the view has no holes).
/// The caller puts the finished (unnamed) file on disk and names it.
fn export_file(
    keys: &ReverseKeys,
    plain_dir: &OwnedFd,
    name: &OsStr,
    dest_dir: &Arc<OwnedFd>,
    cpath: &[u8],
    meta: &Meta,
    progress: &dyn Progress,
) -> Result<StagedFile, ProblemKind> {
    let read_err = |error| ProblemKind::Unreadable {
        action: "reading the plaintext file",
        error,
    };
    let write_err = |error| ProblemKind::Io {
        action: "writing the exported file",
        error,
    };
    let source = at::open_regular_at(plain_dir.as_fd(), name).map_err(read_err)?;
    let size = at::fstat(&source).map_err(read_err)?.size;
    let staged = StagedFile::create_in(Arc::clone(dest_dir)).map_err(write_err)?;
    if size > 0 {
        let header = FileHeader {
            file_id: FileId(pathiv::derive(cpath, Purpose::FileId)),
        };
        let block0 = pathiv::derive(cpath, Purpose::Block0Iv);
        staged
            .file()
            .write_all_at(&header.to_bytes(), 0)
            .map_err(write_err)?;
        let chunks = size.div_ceil(CHUNK_PLAIN_LEN);
        let work = |index: u64| -> Result<(), ProblemKind> {
            export_chunk(keys, &source, staged.file(), &header, &block0, index, size)?;
            progress.add_bytes(CHUNK_PLAIN_LEN.min(size - index * CHUNK_PLAIN_LEN));
            Ok(())
        };
        let algo = keys.layout.content;
        let mut behind = WriteBehind::new(staged.file(), algo.cipher_size(size));
        writebehind::in_groups(chunks, work, |end| {
            let written = algo.cipher_size((end * CHUNK_PLAIN_LEN).min(size));
            behind.done(written).map_err(write_err)
        })?;
    }
    let after = at::fstat(&source).map_err(read_err)?;
    if after.size != size
        || (after.mtime_sec, after.mtime_nsec) != (meta.mtime_sec, meta.mtime_nsec)
    {
        return Err(ProblemKind::SizeChanged);
    }
    at::chmod(staged.file(), meta.mode).map_err(write_err)?;
    at::set_mtime(staged.file(), meta.mtime_sec, meta.mtime_nsec).map_err(write_err)?;
    Ok(staged)
}

fn export_chunk(
    keys: &ReverseKeys,
    source: &File,
    out: &File,
    header: &FileHeader,
    block0: &[u8; 16],
    index: u64,
    size: u64,
) -> Result<(), ProblemKind> {
    let bs = PLAIN_BLOCK_LEN as u64;
    let first = index * CHUNK_BLOCKS;
    let len = (CHUNK_BLOCKS * bs).min(size - first * bs) as usize;
    let mut plain = vec![0u8; len];
    source
        .read_exact_at(&mut plain, first * bs)
        .map_err(|error| {
            if error.kind() == io::ErrorKind::UnexpectedEof {
                ProblemKind::SizeChanged
            } else {
                ProblemKind::Unreadable {
                    action: "reading the plaintext file",
                    error,
                }
            }
        })?;
    let algo = keys.layout.content;
    let mut opener = keys.content.opener();
    let mut cipher = Vec::with_capacity(len.div_ceil(PLAIN_BLOCK_LEN) * algo.cipher_block_len());
    for (i, block) in plain.chunks(PLAIN_BLOCK_LEN).enumerate() {
        let block_no = first + i as u64;
        let nonce = pathiv::block_iv(block0, block_no);
        opener
            .seal(
                block_no,
                Some(&header.file_id),
                &nonce[..algo.nonce_len().min(16)],
                block,
                &mut cipher,
            )
            .map_err(|error| ProblemKind::Block {
                block: block_no,
                error,
            })?;
    }
    out.write_all_at(
        &cipher,
        HEADER_LEN as u64 + first * algo.cipher_block_len() as u64,
    )
    .map_err(|error| ProblemKind::Io {
        action: "writing the exported file",
        error,
    })
}

/// A symlink of the view: the target encrypted with the nonce gocryptfs
/// derives from the link's path joined with its own name (the mount's
/// Readlink does exactly that).
fn export_symlink(
    keys: &ReverseKeys,
    level: &Level,
    name: &OsStr,
    cname: &OsStr,
    cpath: &[u8],
    meta: &Meta,
) -> Result<(), ProblemKind> {
    let target =
        at::readlink_at(level.plain.as_fd(), name).map_err(|error| ProblemKind::Unreadable {
            action: "reading the symlink",
            error,
        })?;
    let stored: Vec<u8> = match &keys.names {
        None => target,
        Some(names) => {
            let nonce = pathiv::derive(&join_cpath(cpath, cname), Purpose::SymlinkIv);
            symlink::encrypt_target(
                &mut keys.content.opener(),
                names.encoding(),
                &nonce,
                &target,
            )
            .map_err(ProblemKind::SymlinkTarget)?
            .into_bytes()
        }
    };
    let io = |error| ProblemKind::Io {
        action: "writing the symlink",
        error,
    };
    if let (Ok(existing), Ok(m)) = (
        at::readlink_at(level.dest.as_fd(), cname),
        at::lstat_at(level.dest.as_fd(), cname),
    ) && existing == stored
        && (m.mtime_sec, m.mtime_nsec) == (meta.mtime_sec, meta.mtime_nsec)
    {
        return Ok(());
    }
    crate::staging::place_symlink(
        &level.dest,
        cname,
        &stored,
        (meta.mtime_sec, meta.mtime_nsec),
    )
    .map_err(io)?;
    Ok(())
}
