//! One file of a restore: decrypted under no name (or a hidden temporary
//! one), hashed in order as it is written, and linked under its real name
//! only when every block authenticated and the plaintext BLAKE3 and size
//! are the manifest's. And the check of a file an earlier run restored:
//! hashed again, never trusted.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use rayon::prelude::*;

use blake3::hazmat::ChainingValue;

use crate::at;
use crate::manifest::treehash;
use crate::problem::ProblemKind;
use crate::staging::{self, StagedFile};
use crate::vault::UnlockedVault;
use crate::vault::file::{CHUNK_PLAIN_LEN, CipherFile, PlainChunk};
use crate::writebehind::{self, WriteBehind};

/// What the manifest says a file is.
pub struct Expected<'a> {
    pub size: u64,
    pub blake3: &'a str,
    pub mode: u32,
    /// `None` when the manifest has none (the file keeps today's).
    pub mtime: Option<(i64, i64)>,
}

/// Why a file was not restored.
pub enum NotRestored {
    /// The backup's fault (or a local error), as for any reader.
    Problem(ProblemKind),
    /// Something else is already at the final name: left alone.
    Conflict(String),
}

impl From<ProblemKind> for NotRestored {
    fn from(kind: ProblemKind) -> NotRestored {
        NotRestored::Problem(kind)
    }
}

fn write_error(action: &'static str) -> impl Fn(io::Error) -> ProblemKind {
    move |error| ProblemKind::Io { action, error }
}

/// Decrypts `cipher` into `parent` as `name`; returns the plaintext size.
/// `on_bytes` sees the plaintext bytes as they are written.
pub fn restore_file(
    vault: &UnlockedVault,
    cipher: File,
    parent: Arc<OwnedFd>,
    name: &OsStr,
    want: &Expected<'_>,
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Result<u64, NotRestored> {
    let source = CipherFile::from_file(vault, cipher)?;
    let plain_size = source.plain_size();
    if plain_size != want.size {
        return Err(ProblemKind::ManifestMismatch(format!(
            "the object decrypts to {plain_size} bytes, the manifest says {}",
            want.size
        ))
        .into());
    }
    let staged =
        StagedFile::create_in(parent).map_err(write_error("creating the restored file"))?;
    staged
        .file()
        .set_len(plain_size)
        .map_err(write_error("writing the restored file"))?;
    // A file of one chunk is hashed whole; a larger one as pieces of
    // BLAKE3's tree, each where its chunk was decrypted.
    let mut hasher = blake3::Hasher::new();
    let mut joiner = treehash::Joiner::default();
    let mut behind = WriteBehind::new(staged.file(), plain_size);
    let chunks = source.chunk_count();
    let mut first = 0;
    // Chunks decrypted in parallel before they are written in order.
    let group_len = writebehind::group_len();
    let mut group: Vec<(Vec<u8>, PlainChunk, ChainingValue)> = Vec::new();
    while first < chunks {
        let last = (first + group_len).min(chunks);
        group.resize_with((last - first) as usize, Default::default);
        if chunks == 1 {
            let mut opener = vault.content().opener();
            let (cbuf, plain, _) = &mut group[0];
            source.decrypt_chunk(&mut opener, first, cbuf, plain)?;
            hasher.update(&plain.data);
        } else {
            group.par_iter_mut().enumerate().try_for_each_init(
                || vault.content().opener(),
                |opener, (i, (cbuf, plain, cv))| {
                    let index = first + i as u64;
                    source.decrypt_chunk(opener, index, cbuf, plain)?;
                    *cv = treehash::piece_cv(index, &plain.data);
                    Ok::<(), ProblemKind>(())
                },
            )?;
            for (_, _, cv) in &group {
                joiner.push(*cv);
            }
        }
        for (_, plain, _) in &group {
            for (offset, bytes) in plain.data_runs() {
                staged
                    .file()
                    .write_all_at(bytes, offset)
                    .map_err(write_error("writing the restored file"))?;
            }
            on_bytes(plain.data.len() as u64);
        }
        behind
            .done((last * CHUNK_PLAIN_LEN).min(plain_size))
            .map_err(write_error("writing the restored file"))?;
        first = last;
    }
    let got = if chunks <= 1 {
        hasher.finalize()
    } else {
        joiner.finish(plain_size).ok_or_else(|| ProblemKind::Io {
            action: "hashing the plaintext",
            error: io::Error::other("the file's chunks do not add up to its size"),
        })?
    }
    .to_hex();
    if got.as_str() != want.blake3 {
        return Err(ProblemKind::ManifestMismatch(format!(
            "every block authenticated, but its BLAKE3 is {got}, the manifest says {} (an older \
             or another file in its place)",
            want.blake3
        ))
        .into());
    }
    set_meta(staged.file(), want)?;
    // The run ends with one syncfs of the destination; where that does not
    // reach the storage (FUSE, network file systems), each file is flushed
    // before it has its name.
    if !staging::syncfs_suffices(staged.file()) {
        staged
            .file()
            .sync_data()
            .map_err(write_error("flushing the restored file"))?;
    }
    staged.persist(name).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            NotRestored::Conflict("something appeared at its name meanwhile; left alone".into())
        } else {
            NotRestored::Problem(ProblemKind::Io {
                action: "linking the finished file into place",
                error: e,
            })
        }
    })?;
    Ok(plain_size)
}

fn set_meta(file: &File, want: &Expected<'_>) -> Result<(), ProblemKind> {
    at::chmod(file, want.mode).map_err(write_error("setting the mode"))?;
    if let Some((sec, nsec)) = want.mtime {
        at::set_mtime(file, sec, nsec).map_err(write_error("setting the modification time"))?;
    }
    Ok(())
}

/// Whether the file `name` in `parent` (found there before this run) is
/// the manifest's: same size and BLAKE3. `Ok(size)`: it is, and counts as
/// restored (`ours`, an earlier run's file: its mode and time are set
/// again too); a conflict otherwise (it is left alone).
pub fn recheck(
    parent: &OwnedFd,
    name: &OsStr,
    want: &Expected<'_>,
    ours: bool,
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Result<u64, NotRestored> {
    let file = match at::open_regular_at(parent.as_fd(), name) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            return Err(NotRestored::Conflict(
                "something other than a file is at its name; left alone".into(),
            ));
        }
        Err(error) => {
            return Err(ProblemKind::Io {
                action: "reading the file found in the destination",
                error,
            }
            .into());
        }
    };
    let size = at::fstat(&file)
        .map_err(write_error("reading the file found in the destination"))?
        .size;
    if size != want.size {
        return Err(NotRestored::Conflict(format!(
            "a file of {size} bytes is at its name (the manifest's has {}); left alone",
            want.size
        )));
    }
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    while offset < size {
        let n = file
            .read_at(&mut buf, offset)
            .map_err(write_error("reading the file found in the destination"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        offset += n as u64;
        on_bytes(n as u64);
    }
    if offset != size || hasher.finalize().to_hex().as_str() != want.blake3 {
        return Err(NotRestored::Conflict(
            "a file with other contents is at its name; left alone".into(),
        ));
    }
    if ours {
        set_meta(&file, want)?;
    }
    Ok(size)
}
