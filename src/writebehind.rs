//! Write-behind for large output files.
//!
//! A restore of a 100 GiB vault must not fill the page cache with 100 GiB
//! of dirty and then clean pages: that evicts everything else the machine
//! had cached, and on virtual machines whose host reclaims free guest
//! memory, every new page of cache costs a fault on the host (measured on
//! the CI machines: 3.4 s of system time per GiB written, against 0.25 s
//! when pages are reused). So once a large file is being written, each
//! range starts its writeback as soon as it is written, and the range
//! written [`LAG`] bytes earlier is waited for and dropped from the cache.
//! The kernel then recycles the same few pages, the file's data is on disk
//! about when its last byte is written, and memory stays flat.
//!
//! Small files are left to the page cache as usual: they are where
//! buffering pays.

use std::fs::File;
use std::io;
use std::num::NonZeroU64;
use std::os::fd::AsRawFd;

use rayon::prelude::*;
use rustix::fs::{Advice, fadvise};

/// Files smaller than this are written through the page cache as usual.
pub const MIN_SIZE: u64 = 64 << 20;
/// How far behind the newest write the waited-for, dropped range trails.
pub const LAG: u64 = 16 << 20;
/// Chunks (1 MiB of plaintext each) a writer works on in parallel before
/// it moves on to the next group: two per worker thread, at least 8 and
/// at most 32 (the memory one large file holds is about twice this in MiB).
pub fn group_len() -> u64 {
    (2 * rayon::current_num_threads() as u64).clamp(8, 32)
}

/// Runs `work` on chunks `0..chunks`, [`group_len`] at a time in parallel
/// and the groups in file order; after each group, `after(end)` is told
/// that chunks below `end` are done (for [`WriteBehind::done`]).
pub fn in_groups<E: Send>(
    chunks: u64,
    work: impl Fn(u64) -> Result<(), E> + Sync + Send,
    mut after: impl FnMut(u64) -> Result<(), E>,
) -> Result<(), E> {
    let group = group_len();
    let mut first = 0;
    while first < chunks {
        let last = (first + group).min(chunks);
        if last - first == 1 {
            work(first)?;
        } else {
            (first..last).into_par_iter().try_for_each(&work)?;
        }
        after(last)?;
        first = last;
    }
    Ok(())
}

/// Write-behind for one output file, written front to back (in parallel
/// within a group of chunks, groups in order).
pub struct WriteBehind<'f> {
    /// `None` for files below [`MIN_SIZE`].
    file: Option<&'f File>,
    /// Every byte below this is final and its writeback started.
    done_to: u64,
    /// Every byte below this is on disk and out of the cache.
    dropped_to: u64,
}

impl<'f> WriteBehind<'f> {
    /// For `file`, which will be `size` bytes long.
    pub fn new(file: &'f File, size: u64) -> WriteBehind<'f> {
        WriteBehind {
            file: (size >= MIN_SIZE).then_some(file),
            done_to: 0,
            dropped_to: 0,
        }
    }

    /// Every byte of the file below `end` is written and final (holes
    /// included): starts their writeback, then waits for everything up to
    /// [`LAG`] bytes before `end` to reach the disk and drops it from the
    /// cache.
    ///
    /// Fails only when the disk does (an I/O error, a full disk found at
    /// writeback); a file system without writeback control is left alone.
    pub fn done(&mut self, end: u64) -> io::Result<()> {
        let Some(file) = self.file else {
            return Ok(());
        };
        if end <= self.done_to {
            return Ok(());
        }
        sync_range(
            file,
            self.done_to,
            end - self.done_to,
            libc::SYNC_FILE_RANGE_WRITE,
        )?;
        self.done_to = end;
        let drop_to = end.saturating_sub(LAG);
        if drop_to > self.dropped_to {
            let (from, len) = (self.dropped_to, drop_to - self.dropped_to);
            sync_range(
                file,
                from,
                len,
                libc::SYNC_FILE_RANGE_WAIT_BEFORE
                    | libc::SYNC_FILE_RANGE_WRITE
                    | libc::SYNC_FILE_RANGE_WAIT_AFTER,
            )?;
            // Only clean pages are dropped; advice that fails changes nothing.
            let _ = fadvise(file, from, NonZeroU64::new(len), Advice::DontNeed);
            self.dropped_to = drop_to;
        }
        Ok(())
    }
}

/// Waits until every byte of `file` written so far is written back, and
/// returns the file's own write error if its writeback failed (whoever
/// started it). Where the file system has no writeback control, flushes
/// it with `fdatasync` instead.
pub fn wait_written(file: &File) -> io::Result<()> {
    let all = libc::SYNC_FILE_RANGE_WAIT_BEFORE
        | libc::SYNC_FILE_RANGE_WRITE
        | libc::SYNC_FILE_RANGE_WAIT_AFTER;
    match sync_file_range(file, 0, 0, all)? {
        true => Ok(()),
        false => file.sync_data(),
    }
}

fn sync_range(file: &File, offset: u64, len: u64, flags: libc::c_uint) -> io::Result<()> {
    sync_file_range(file, offset, len, flags).map(drop)
}

/// `sync_file_range`; `Ok(false)` when the file system does not support
/// it. Fails only when the disk does (an I/O error, a full disk).
fn sync_file_range(file: &File, offset: u64, len: u64, flags: libc::c_uint) -> io::Result<bool> {
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return Ok(false);
    };
    // SAFETY: sync_file_range takes a file descriptor, which `file` keeps
    // open for the call, and plain integers; it touches no memory of ours.
    let rc = unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, flags) };
    if rc == 0 {
        return Ok(true);
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EIO) | Some(libc::ENOSPC) | Some(libc::EDQUOT) => Err(error),
        // EINVAL, ESPIPE, ENOSYS: not a file system with writeback control.
        _ => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    /// How many of the file's pages are in the page cache.
    fn resident_pages(file: &File, len: u64) -> usize {
        let page = 4096usize;
        let len = len as usize;
        let mut vec = vec![0u8; len.div_ceil(page)];
        // SAFETY: a shared read-only mapping of `len` bytes of an open
        // file, asked about and unmapped before it is ever read.
        unsafe {
            let addr = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            );
            assert_ne!(addr, libc::MAP_FAILED);
            assert_eq!(libc::mincore(addr, len, vec.as_mut_ptr()), 0);
            libc::munmap(addr, len);
        }
        vec.iter().filter(|&&v| v & 1 == 1).count()
    }

    #[test]
    fn small_files_are_left_alone_and_large_ones_keep_their_bytes() {
        // On the repository's disk (not a tmpfs, whose pages never leave).
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(dir.path().join("f"))
            .unwrap();
        assert!(WriteBehind::new(&file, MIN_SIZE - 1).file.is_none());

        // Written in groups of four 1 MiB ranges, each group back to front
        // (as parallel writers finish), with a hole left in one group.
        let size = MIN_SIZE + (3 << 20) + 5;
        file.set_len(size).unwrap();
        let mut behind = WriteBehind::new(&file, size);
        assert!(behind.file.is_some());
        let step = 1u64 << 20;
        let ranges = size.div_ceil(step);
        let hole = 9;
        for first in (0..ranges).step_by(4) {
            let last = (first + 4).min(ranges);
            for i in (first..last).rev().filter(|&i| i != hole) {
                let offset = i * step;
                let len = step.min(size - offset);
                file.write_all_at(&vec![(i % 251) as u8 + 1; len as usize], offset)
                    .unwrap();
            }
            behind.done((last * step).min(size)).unwrap();
        }
        // All but the last LAG bytes reached the disk and left the cache
        // (not on a tmpfs, whose pages are the file).
        const TMPFS_MAGIC: u64 = 0x0102_1994;
        let fs = rustix::fs::fstatfs(&file).unwrap().f_type as u64;
        if fs != TMPFS_MAGIC {
            let resident = resident_pages(&file, size) as u64 * 4096;
            assert!(resident <= LAG + 4 * step, "{resident} bytes still cached");
        }
        let back = std::fs::read(dir.path().join("f")).unwrap();
        assert_eq!(back.len() as u64, size);
        for (i, block) in back.chunks(step as usize).enumerate() {
            let want = if i == hole as usize {
                0
            } else {
                (i % 251) as u8 + 1
            };
            assert!(block.iter().all(|&b| b == want), "range {i}");
        }
    }
}
