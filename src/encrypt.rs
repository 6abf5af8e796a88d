//! Adding or updating a plaintext tree in a forward vault, natively, the
//! way a gocryptfs mount would have written it: random file ids and block
//! nonces, a `gocryptfs.diriv` per new directory, long names with `.name`
//! sidecars, encrypted symlink targets, plaintext modes and mtimes on the
//! ciphertext. A file whose size, mode and mtime already match its
//! encrypted copy is left alone, so a rerun only writes what changed.
//!
//! Files appear (or are replaced) atomically, only when completely written;
//! holes in sparse files stay holes. Nothing is deleted.

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
use crate::exit::ExitStatus;
use crate::format::config::CONFIG_NAME;
use crate::format::content::{FileHeader, FileId, HEADER_LEN, PLAIN_BLOCK_LEN};
use crate::format::layout::NameMode;
use crate::format::longname;
use crate::format::names::{DIRIV_LEN, DIRIV_NAME, DirIv};
use crate::format::symlink;
use crate::problem::{Problem, ProblemKind};
use crate::progress::Progress;
use crate::staging::{DurableBatch, Placement, StagedFile};
use crate::tally::{Finished, Tally};
use crate::throttle::Throttle;
use crate::vault::UnlockedVault;
use crate::vault::file::{CHUNK_BLOCKS, CHUNK_PLAIN_LEN};
use crate::writebehind::{self, WriteBehind};

#[derive(Debug, Error)]
pub enum EncryptError {
    #[error("{}: the plaintext folder and the vault {} contain one another", .plain.display(), .vault.display())]
    Overlap { plain: PathBuf, vault: PathBuf },
    #[error("{}: {error}", .path.display())]
    Io { path: PathBuf, error: io::Error },
}

impl EncryptError {
    pub fn status(&self) -> ExitStatus {
        match self {
            EncryptError::Overlap { .. } => ExitStatus::Usage,
            EncryptError::Io { .. } => ExitStatus::CouldNotRun,
        }
    }

    pub fn hint(&self) -> Option<String> {
        Some(match self {
            EncryptError::Overlap { .. } => {
                "keep the vault outside the folder you encrypt, and vice versa".into()
            }
            EncryptError::Io { .. } => "check the paths and their permissions".into(),
        })
    }
}

/// What an encryption run did.
#[derive(Debug, Default)]
pub struct EncryptSummary {
    pub files_written: u64,
    pub files_unchanged: u64,
    pub dirs_created: u64,
    pub symlinks_written: u64,
    /// Plaintext bytes encrypted.
    pub bytes: u64,
    pub problems: Vec<Problem>,
    pub elapsed: Duration,
}

impl EncryptSummary {
    pub fn status(&self) -> ExitStatus {
        crate::tally::writing_status(&self.problems)
    }
}

/// One directory being encrypted: its plaintext and ciphertext handles.
struct DirPair {
    plain: Arc<OwnedFd>,
    cipher: Arc<OwnedFd>,
    iv: Option<DirIv>,
    plain_rel: PathBuf,
    cipher_rel: PathBuf,
}

/// A directory to finish (mode, mtime) once everything below is written.
struct FinishDir {
    parent: Arc<OwnedFd>,
    cipher_name: OsString,
    plain_rel: PathBuf,
    meta: Meta,
}

fn random_bytes(buf: &mut [u8]) -> io::Result<()> {
    getrandom::fill(buf).map_err(|e| io::Error::other(e.to_string()))
}

fn canonical(path: &Path) -> Result<PathBuf, EncryptError> {
    std::fs::canonicalize(path).map_err(|error| EncryptError::Io {
        path: path.to_path_buf(),
        error,
    })
}

/// The stored name of `plain` in a directory, and the sidecar content when
/// it is a long name.
fn cipher_name(
    vault: &UnlockedVault,
    iv: Option<&DirIv>,
    plain: &OsStr,
) -> Result<(OsString, Option<String>), ProblemKind> {
    name_on_disk(vault.names(), vault.layout(), iv, plain)
}

/// The on-disk name of `plain` in a folder with `iv` (for a hashed long
/// name, also the content of its `.name` file), under a vault's name
/// cipher and layout. Shared by forward encryption and the reverse view.
pub(crate) fn name_on_disk(
    names: Option<&crate::format::NameCipher>,
    layout: &crate::format::VaultLayout,
    iv: Option<&DirIv>,
    plain: &OsStr,
) -> Result<(OsString, Option<String>), ProblemKind> {
    match (names, iv, layout.names) {
        (Some(names), Some(iv), NameMode::Encrypted { long_name_max, .. }) => {
            let cname = names
                .encrypt(plain.as_bytes(), iv)
                .map_err(ProblemKind::Name)?;
            if longname::needs_hashing(&cname, long_name_max) {
                Ok((
                    OsString::from(longname::hashed_name(&cname, names.encoding())),
                    Some(cname),
                ))
            } else {
                Ok((OsString::from(cname), None))
            }
        }
        _ => Ok((plain.to_os_string(), None)),
    }
}

/// Writes a small metadata file (diriv, sidecar) unless an identical one
/// exists.
fn ensure_small_file(
    dir: &Arc<OwnedFd>,
    name: &str,
    content: &[u8],
    replace_other: bool,
) -> io::Result<()> {
    let name = OsStr::new(name);
    let replace = match at::open_regular_at(dir.as_fd(), name)
        .and_then(|f| at::read_limited(f, content.len()))
    {
        Ok(existing) if existing == content => return Ok(()),
        Ok(_) if replace_other => true,
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists with other content", name.to_string_lossy()),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(e),
    };
    // Written whole and synced before it gets its name: a crash never
    // leaves an empty diriv or sidecar behind.
    let staged = StagedFile::create_in(Arc::clone(dir))?;
    staged.file().write_all_at(content, 0)?;
    at::chmod(staged.file(), 0o444)?;
    staged.file().sync_data()?;
    if replace {
        staged.persist_replacing(name)
    } else {
        staged.persist(name)
    }
}

/// Encrypts `plain_root` into the vault.
pub fn encrypt_tree(
    vault: &UnlockedVault,
    plain_root: &Path,
    progress: &dyn Progress,
) -> Result<EncryptSummary, EncryptError> {
    let started = Instant::now();
    let (plain_abs, vault_abs) = (canonical(plain_root)?, canonical(vault.root())?);
    if plain_abs.starts_with(&vault_abs) || vault_abs.starts_with(&plain_abs) {
        return Err(EncryptError::Overlap {
            plain: plain_root.to_path_buf(),
            vault: vault.root().to_path_buf(),
        });
    }
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |error| EncryptError::Io { path, error }
    };
    let plain_fd = Arc::new(at::open_dir(plain_root).map_err(io_err(plain_root))?);
    let cipher_fd = Arc::new(at::open_dir(vault.root()).map_err(io_err(vault.root()))?);
    let root_iv = read_iv(vault, &cipher_fd).map_err(io_err(vault.root()))?;
    let root_meta = at::fstat(&*plain_fd).map_err(io_err(plain_root))?;

    let shared = Tally::new(progress);
    let throttle = Throttle::for_workers();
    // Files are on disk before they have a name: a rerun skips files whose
    // size and mtime match, so a zero-filled file after a crash would
    // otherwise stay. One flush per batch of files, not one per file.
    let batch = DurableBatch::default();
    let mut summary = EncryptSummary::default();
    let mut finish: Vec<FinishDir> = Vec::new();
    let mut stack = vec![DirPair {
        plain: plain_fd,
        cipher: Arc::clone(&cipher_fd),
        iv: root_iv,
        plain_rel: PathBuf::new(),
        cipher_rel: PathBuf::new(),
    }];

    rayon::in_place_scope(|scope| {
        while let Some(dir) = stack.pop() {
            let mut names = match at::list(dir.plain.as_fd()) {
                Ok(n) => n,
                Err(error) => {
                    shared.report(
                        &dir.plain_rel,
                        &dir.cipher_rel,
                        ProblemKind::Unreadable {
                            action: "listing the directory",
                            error,
                        },
                    );
                    continue;
                }
            };
            names.sort();
            let is_root = dir.plain_rel.as_os_str().is_empty();
            for name in names {
                let plain_rel = dir.plain_rel.join(&name);
                if is_root && vault.names().is_none() && name == CONFIG_NAME {
                    shared.report(
                        &plain_rel,
                        &plain_rel,
                        ProblemKind::NotRestorable(
                            "a root file named gocryptfs.conf in a plaintext-names vault",
                        ),
                    );
                    continue;
                }
                let meta = match at::lstat_at(dir.plain.as_fd(), &name) {
                    Ok(m) => m,
                    Err(error) => {
                        shared.report(
                            &plain_rel,
                            &dir.cipher_rel,
                            ProblemKind::Unreadable {
                                action: "reading metadata",
                                error,
                            },
                        );
                        continue;
                    }
                };
                let (cname, sidecar) = match cipher_name(vault, dir.iv.as_ref(), &name) {
                    Ok(x) => x,
                    Err(kind) => {
                        shared.report(&plain_rel, &dir.cipher_rel, kind);
                        continue;
                    }
                };
                let cipher_rel = dir.cipher_rel.join(&cname);
                if let Some(content) = &sidecar {
                    let sidecar_name = longname::sidecar_name(&cname.to_string_lossy());
                    if let Err(error) =
                        ensure_small_file(&dir.cipher, &sidecar_name, content.as_bytes(), true)
                    {
                        shared.report(
                            &plain_rel,
                            &cipher_rel,
                            ProblemKind::Io {
                                action: "writing the .name sidecar",
                                error,
                            },
                        );
                        continue;
                    }
                }
                match meta.kind {
                    Kind::Dir => match enter_dir(vault, &dir.cipher, &cname) {
                        Ok((cipher, iv, created)) => {
                            summary.dirs_created += u64::from(created);
                            let plain = match at::open_dir_at(dir.plain.as_fd(), &name) {
                                Ok(fd) => Arc::new(fd),
                                Err(error) => {
                                    shared.report(
                                        &plain_rel,
                                        &cipher_rel,
                                        ProblemKind::Unreadable {
                                            action: "opening the directory",
                                            error,
                                        },
                                    );
                                    continue;
                                }
                            };
                            finish.push(FinishDir {
                                parent: Arc::clone(&dir.cipher),
                                cipher_name: cname.clone(),
                                plain_rel: plain_rel.clone(),
                                meta,
                            });
                            stack.push(DirPair {
                                plain,
                                cipher,
                                iv,
                                plain_rel,
                                cipher_rel,
                            });
                        }
                        Err(error) => shared.report(
                            &plain_rel,
                            &cipher_rel,
                            ProblemKind::Io {
                                action: "creating the encrypted directory",
                                error,
                            },
                        ),
                    },
                    Kind::File => {
                        let existing = at::lstat_at(dir.cipher.as_fd(), &cname).ok();
                        if existing.is_some_and(|c| unchanged(vault, &meta, &c)) {
                            shared.skipped();
                            shared.progress.add_file();
                            continue;
                        }
                        throttle.acquire();
                        let (shared, throttle) = (&shared, &throttle);
                        let (plain_dir, cipher_dir) =
                            (Arc::clone(&dir.plain), Arc::clone(&dir.cipher));
                        let batch = &batch;
                        scope.spawn(move |_| {
                            let placement = match existing {
                                Some(_) => Placement::Replace,
                                None => Placement::New,
                            };
                            match encrypt_file(
                                vault,
                                &plain_dir,
                                &name,
                                &cipher_dir,
                                &meta,
                                shared.progress,
                            ) {
                                Ok(staged) => {
                                    let finished = Finished {
                                        plain: plain_rel,
                                        cipher: cipher_rel,
                                        bytes: meta.size,
                                    };
                                    shared.placed(
                                        batch.add(staged, cname, placement, meta.size, finished),
                                    );
                                }
                                Err(kind) => shared.report(&plain_rel, &cipher_rel, kind),
                            }
                            shared.progress.add_file();
                            throttle.release();
                        });
                    }
                    Kind::Symlink => match write_symlink(vault, &dir, &name, &cname, &meta) {
                        Ok(true) => summary.symlinks_written += 1,
                        Ok(false) => {
                            shared.skipped();
                        }
                        Err(kind) => shared.report(&plain_rel, &cipher_rel, kind),
                    },
                    Kind::Fifo => {
                        let made = at::lstat_at(dir.cipher.as_fd(), &cname)
                            .map(|_| ())
                            .or_else(|_| {
                                at::mknod_at(dir.cipher.as_fd(), &cname, Kind::Fifo, 0o600, 0)?;
                                at::chmod_at(dir.cipher.as_fd(), &cname, meta.mode)?;
                                at::set_mtime_at(
                                    dir.cipher.as_fd(),
                                    &cname,
                                    meta.mtime_sec,
                                    meta.mtime_nsec,
                                )
                            });
                        if let Err(error) = made {
                            shared.report(
                                &plain_rel,
                                &cipher_rel,
                                ProblemKind::Io {
                                    action: "creating the FIFO",
                                    error,
                                },
                            );
                        }
                    }
                    Kind::Socket | Kind::CharDevice | Kind::BlockDevice => {
                        shared.report(
                            &plain_rel,
                            &cipher_rel,
                            ProblemKind::NotRestorable("sockets and device files"),
                        );
                    }
                }
            }
        }
    });
    shared.placed(batch.flush());

    // Directories deepest first: their mtimes change while entries are added.
    finish.sort_by_key(|d| std::cmp::Reverse(d.plain_rel.components().count()));
    for dir in &finish {
        let done = at::open_dir_at(dir.parent.as_fd(), &dir.cipher_name).and_then(|fd| {
            at::chmod(&fd, dir.meta.mode)?;
            at::set_mtime(&fd, dir.meta.mtime_sec, dir.meta.mtime_nsec)
        });
        if let Err(error) = done {
            shared.report(
                &dir.plain_rel,
                Path::new(&dir.cipher_name),
                ProblemKind::Io {
                    action: "setting directory mode and time",
                    error,
                },
            );
        }
    }
    if let Err(error) = at::set_mtime(&*cipher_fd, root_meta.mtime_sec, root_meta.mtime_nsec) {
        shared.report(
            Path::new(""),
            Path::new(""),
            ProblemKind::Io {
                action: "setting the vault root's time",
                error,
            },
        );
    }
    let _ = rustix::fs::syncfs(&*cipher_fd);

    let totals = shared.finish();
    summary.files_written = totals.written;
    summary.files_unchanged = totals.unchanged;
    summary.bytes = totals.bytes;
    summary.problems = totals.problems;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

fn read_iv(vault: &UnlockedVault, dir: &OwnedFd) -> io::Result<Option<DirIv>> {
    match vault.layout().names {
        NameMode::Plaintext => Ok(None),
        NameMode::Encrypted { dir_iv: false, .. } => Ok(Some(DirIv::ZERO)),
        NameMode::Encrypted { dir_iv: true, .. } => {
            let bytes = at::read_limited(
                at::open_regular_at(dir.as_fd(), OsStr::new(DIRIV_NAME))?,
                DIRIV_LEN,
            )?;
            DirIv::parse(&bytes)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
        }
    }
}

/// Opens (or creates, with its diriv) the encrypted directory `cname`.
fn enter_dir(
    vault: &UnlockedVault,
    parent: &Arc<OwnedFd>,
    cname: &OsStr,
) -> io::Result<(Arc<OwnedFd>, Option<DirIv>, bool)> {
    let created = match at::mkdir_at(parent.as_fd(), cname, 0o700) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
        Err(e) => return Err(e),
    };
    let fd = Arc::new(at::open_dir_at(parent.as_fd(), cname)?);
    let mode = at::fstat(&*fd)?.mode;
    if mode & 0o700 != 0o700 {
        // Writable while this run adds to it; the final mode comes at the end.
        at::chmod(&*fd, mode | 0o700)?;
    }
    if vault.layout().has_dir_iv() {
        // A new directory, or one an interrupted run left without its diriv
        // (then still empty): give it one.
        let missing = at::lstat_at(fd.as_fd(), OsStr::new(DIRIV_NAME)).is_err();
        let empty = || {
            at::list(fd.as_fd())
                .map(|names| {
                    names.iter().all(|n| {
                        n.as_bytes()
                            .starts_with(crate::staging::TEMP_PREFIX.as_bytes())
                    })
                })
                .unwrap_or(false)
        };
        if created || (missing && empty()) {
            let mut iv = [0u8; DIRIV_LEN];
            random_bytes(&mut iv)?;
            ensure_small_file(&fd, DIRIV_NAME, &iv, false)?;
        }
    }
    let iv = read_iv(vault, &fd)?;
    Ok((fd, iv, created))
}

/// Whether the encrypted copy already holds this plaintext: gocryptfs keeps
/// the plaintext's mode and mtime on the ciphertext file.
fn unchanged(vault: &UnlockedVault, plain: &Meta, cipher: &Meta) -> bool {
    cipher.kind == Kind::File
        && cipher.mtime_sec == plain.mtime_sec
        && cipher.mtime_nsec == plain.mtime_nsec
        && cipher.mode == plain.mode
        && vault.layout().content.plain_size(cipher.size) == plain.size
        && vault.layout().content.cipher_size(plain.size) == cipher.size
}

/// Encrypts a file into a new unnamed file of `cipher_dir`, with the mode
/// and mtime of the plaintext; the caller puts it on disk and names it.
fn encrypt_file(
    vault: &UnlockedVault,
    plain_dir: &OwnedFd,
    name: &OsStr,
    cipher_dir: &Arc<OwnedFd>,
    meta: &Meta,
    progress: &dyn Progress,
) -> Result<StagedFile, ProblemKind> {
    let read_err = |error| ProblemKind::Unreadable {
        action: "reading the plaintext file",
        error,
    };
    let write_err = |error| ProblemKind::Io {
        action: "writing the encrypted file",
        error,
    };
    let source = at::open_regular_at(plain_dir.as_fd(), name).map_err(read_err)?;
    let size = at::fstat(&source).map_err(read_err)?.size;
    let staged = StagedFile::create_in(Arc::clone(cipher_dir)).map_err(write_err)?;
    let algo = vault.layout().content;
    if size > 0 {
        let mut id = [0u8; 16];
        random_bytes(&mut id).map_err(write_err)?;
        let header = FileHeader {
            file_id: FileId(id),
        };
        staged
            .file()
            .write_all_at(&header.to_bytes(), 0)
            .map_err(write_err)?;
        staged
            .file()
            .set_len(algo.cipher_size(size))
            .map_err(write_err)?;
        let data = at::data_segments(&source, size);
        let chunks = size.div_ceil(CHUNK_PLAIN_LEN);
        let work = |index: u64| -> Result<(), ProblemKind> {
            encrypt_chunk(vault, &source, staged.file(), &header, index, size, &data)?;
            progress.add_bytes(CHUNK_PLAIN_LEN.min(size - index * CHUNK_PLAIN_LEN));
            Ok(())
        };
        let cipher_size = algo.cipher_size(size);
        let mut behind = WriteBehind::new(staged.file(), cipher_size);
        writebehind::in_groups(chunks, work, |end| {
            let written = algo.cipher_size((end * CHUNK_PLAIN_LEN).min(size));
            behind.done(written).map_err(write_err)
        })?;
    }
    // The plaintext must not have changed while it was read.
    let after = at::fstat(&source).map_err(read_err)?;
    if after.size != size
        || after.mtime_sec != meta.mtime_sec
        || after.mtime_nsec != meta.mtime_nsec
    {
        return Err(ProblemKind::SizeChanged);
    }
    at::chmod(staged.file(), meta.mode).map_err(write_err)?;
    at::set_mtime(staged.file(), meta.mtime_sec, meta.mtime_nsec).map_err(write_err)?;
    Ok(staged)
}

/// Encrypts chunk `index` (up to 256 blocks); blocks that lie entirely in
/// a hole of the plaintext stay holes, except the last block.
fn encrypt_chunk(
    vault: &UnlockedVault,
    source: &File,
    out: &File,
    header: &FileHeader,
    index: u64,
    size: u64,
    data: &[std::ops::Range<u64>],
) -> Result<(), ProblemKind> {
    let algo = vault.layout().content;
    let bs = PLAIN_BLOCK_LEN as u64;
    let first = index * CHUNK_BLOCKS;
    let start = first * bs;
    let len = (CHUNK_BLOCKS * bs).min(size - start) as usize;
    let mut plain = vec![0u8; len];
    source.read_exact_at(&mut plain, start).map_err(|error| {
        if error.kind() == io::ErrorKind::UnexpectedEof {
            ProblemKind::SizeChanged
        } else {
            ProblemKind::Unreadable {
                action: "reading the plaintext file",
                error,
            }
        }
    })?;
    let nonce_len = algo.nonce_len();
    let count = len.div_ceil(PLAIN_BLOCK_LEN);
    let mut nonces = vec![0u8; nonce_len * count];
    random_bytes(&mut nonces).map_err(|error| ProblemKind::Io {
        action: "drawing random nonces",
        error,
    })?;
    let mut opener = vault.content().opener();
    let mut cipher = Vec::with_capacity(count * algo.cipher_block_len());
    let last_block = size.div_ceil(bs) - 1;
    let mut run_start: Option<u64> = None;
    let cbs = algo.cipher_block_len() as u64;
    let flush = |cipher: &mut Vec<u8>, run_start: &mut Option<u64>| -> Result<(), ProblemKind> {
        if let Some(block) = run_start.take() {
            out.write_all_at(cipher, HEADER_LEN as u64 + block * cbs)
                .map_err(|error| ProblemKind::Io {
                    action: "writing the encrypted file",
                    error,
                })?;
            cipher.clear();
        }
        Ok(())
    };
    for (i, block) in plain.chunks(PLAIN_BLOCK_LEN).enumerate() {
        let block_no = first + i as u64;
        let (b_start, b_end) = (block_no * bs, block_no * bs + block.len() as u64);
        let in_hole = block.len() == PLAIN_BLOCK_LEN
            && block_no != last_block
            && !data.iter().any(|r| r.start < b_end && r.end > b_start);
        if in_hole {
            flush(&mut cipher, &mut run_start)?;
            continue;
        }
        if run_start.is_none() {
            run_start = Some(block_no);
        }
        let nonce = &nonces[i * nonce_len..(i + 1) * nonce_len];
        opener
            .seal(block_no, Some(&header.file_id), nonce, block, &mut cipher)
            .map_err(|error| ProblemKind::Block {
                block: block_no,
                error,
            })?;
    }
    flush(&mut cipher, &mut run_start)
}

/// Writes the encrypted symlink unless an identical one exists; returns
/// whether it wrote.
fn write_symlink(
    vault: &UnlockedVault,
    dir: &DirPair,
    name: &OsStr,
    cname: &OsStr,
    meta: &Meta,
) -> Result<bool, ProblemKind> {
    let target =
        at::readlink_at(dir.plain.as_fd(), name).map_err(|error| ProblemKind::Unreadable {
            action: "reading the symlink",
            error,
        })?;
    let mut opener = vault.content().opener();
    if let Ok(existing) = at::readlink_at(dir.cipher.as_fd(), cname) {
        let same = match vault.names() {
            None => existing == target,
            Some(names) => std::str::from_utf8(&existing)
                .ok()
                .and_then(|t| symlink::decrypt_target(&mut opener, names.encoding(), t).ok())
                .is_some_and(|t| t == target),
        };
        let cmeta = at::lstat_at(dir.cipher.as_fd(), cname).ok();
        if same
            && cmeta
                .is_some_and(|c| c.mtime_sec == meta.mtime_sec && c.mtime_nsec == meta.mtime_nsec)
        {
            return Ok(false);
        }
    }
    let stored: Vec<u8> = match vault.names() {
        None => target,
        Some(names) => {
            let mut nonce = vec![0u8; vault.layout().content.nonce_len()];
            random_bytes(&mut nonce).map_err(|error| ProblemKind::Io {
                action: "drawing a random nonce",
                error,
            })?;
            symlink::encrypt_target(&mut opener, names.encoding(), &nonce, &target)
                .map_err(ProblemKind::SymlinkTarget)?
                .into_bytes()
        }
    };
    let io = |error| ProblemKind::Io {
        action: "writing the encrypted symlink",
        error,
    };
    crate::staging::place_symlink(
        &dir.cipher,
        cname,
        &stored,
        (meta.mtime_sec, meta.mtime_nsec),
    )
    .map_err(io)?;
    Ok(true)
}

/// A directory of the vault, opened (and created with its diriv where
/// missing) along the plaintext path `dir` from the root.
pub struct VaultDir {
    pub fd: Arc<OwnedFd>,
    pub iv: Option<DirIv>,
}

impl VaultDir {
    pub fn open(vault: &UnlockedVault, dir: &Path) -> Result<VaultDir, ProblemKind> {
        let io = |error| ProblemKind::Io {
            action: "opening the vault directory",
            error,
        };
        let mut fd = Arc::new(at::open_dir(vault.root()).map_err(io)?);
        let mut iv = read_iv(vault, &fd).map_err(io)?;
        for part in dir.iter() {
            let (cname, sidecar) = cipher_name(vault, iv.as_ref(), part)?;
            if let Some(content) = sidecar {
                ensure_small_file(
                    &fd,
                    &longname::sidecar_name(&cname.to_string_lossy()),
                    content.as_bytes(),
                    true,
                )
                .map_err(|error| ProblemKind::Io {
                    action: "writing the .name sidecar",
                    error,
                })?;
            }
            let (next, next_iv, _) = enter_dir(vault, &fd, &cname).map_err(io)?;
            fd = next;
            iv = next_iv;
        }
        Ok(VaultDir { fd, iv })
    }

    /// The stored name of `plain` in this directory (sidecar written when
    /// it is a long name).
    pub fn cipher_name(
        &self,
        vault: &UnlockedVault,
        plain: &OsStr,
    ) -> Result<OsString, ProblemKind> {
        let (cname, sidecar) = cipher_name(vault, self.iv.as_ref(), plain)?;
        if let Some(content) = sidecar {
            ensure_small_file(
                &self.fd,
                &longname::sidecar_name(&cname.to_string_lossy()),
                content.as_bytes(),
                true,
            )
            .map_err(|error| ProblemKind::Io {
                action: "writing the .name sidecar",
                error,
            })?;
        }
        Ok(cname)
    }

    /// Encrypts the regular file `src_name` of directory `src_dir` into this
    /// directory as `plain`, replacing an existing one atomically.
    pub fn put_file(
        &self,
        vault: &UnlockedVault,
        plain: &OsStr,
        src_dir: &OwnedFd,
        src_name: &OsStr,
    ) -> Result<(), ProblemKind> {
        let cname = self.cipher_name(vault, plain)?;
        let meta =
            at::lstat_at(src_dir.as_fd(), src_name).map_err(|error| ProblemKind::Unreadable {
                action: "reading metadata",
                error,
            })?;
        let exists = at::lstat_at(self.fd.as_fd(), &cname).is_ok();
        let staged = encrypt_file(
            vault,
            src_dir,
            src_name,
            &self.fd,
            &meta,
            &crate::progress::NoProgress,
        )?;
        // On disk before it has a name (see `encrypt_tree`).
        let write_err = |error| ProblemKind::Io {
            action: "writing the encrypted file",
            error,
        };
        staged.file().sync_data().map_err(write_err)?;
        if exists {
            staged.persist_replacing(&cname)
        } else {
            staged.persist(&cname)
        }
        .map_err(write_err)
    }
}
