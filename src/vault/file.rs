//! Reading one encrypted file: header checks, then decryption in chunks of
//! blocks that can be processed in any order (and in parallel).

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;

use crate::format::content::{
    BlockOpener, ContentAlgorithm, FileHeader, HEADER_LEN, OpenedBlock, PLAIN_BLOCK_LEN,
};
use crate::problem::ProblemKind;

use super::UnlockedVault;
use super::walk::Entry;
use crate::at;

/// Blocks per chunk: 1 MiB of plaintext, enough to amortise a read and a
/// write, small enough to keep memory flat.
pub const CHUNK_BLOCKS: u64 = 256;
/// Plaintext bytes in a whole chunk.
pub const CHUNK_PLAIN_LEN: u64 = CHUNK_BLOCKS * PLAIN_BLOCK_LEN as u64;

/// An open ciphertext file whose header has been checked.
pub struct CipherFile {
    file: File,
    algorithm: ContentAlgorithm,
    cipher_size: u64,
    header: Option<FileHeader>,
}

/// Plaintext of one chunk.
#[derive(Default)]
pub struct PlainChunk {
    /// Offset of `data` in the plaintext file.
    pub offset: u64,
    /// The plaintext, holes included as zeros.
    pub data: Vec<u8>,
    /// Which 4096-byte blocks of `data` were holes.
    pub holes: Vec<bool>,
}

impl PlainChunk {
    /// Contiguous runs of real data as (offset in the file, bytes), holes
    /// left out so that a writer can keep them sparse.
    pub fn data_runs(&self) -> impl Iterator<Item = (u64, &[u8])> {
        let mut runs = Vec::new();
        let mut start: Option<usize> = None;
        for (i, &hole) in self.holes.iter().enumerate() {
            match (hole, start) {
                (false, None) => start = Some(i),
                (true, Some(s)) => {
                    runs.push((s, i));
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            runs.push((s, self.holes.len()));
        }
        runs.into_iter().map(move |(a, b)| {
            let from = a * PLAIN_BLOCK_LEN;
            let to = (b * PLAIN_BLOCK_LEN).min(self.data.len());
            (self.offset + from as u64, &self.data[from..to])
        })
    }
}

impl CipherFile {
    /// Opens the file of `entry` (a regular file, no symlink following)
    /// and validates its header and its length.
    pub fn open(vault: &UnlockedVault, entry: &Entry) -> Result<CipherFile, ProblemKind> {
        let file =
            at::open_regular_at(entry.parent.as_fd(), &entry.cipher_name).map_err(|error| {
                ProblemKind::Unreadable {
                    action: "opening the encrypted file",
                    error,
                }
            })?;
        CipherFile::from_file(vault, file)
    }

    /// An encrypted file already open (a regular file), its header and
    /// length validated.
    pub fn from_file(vault: &UnlockedVault, file: File) -> Result<CipherFile, ProblemKind> {
        let cipher_size = at::fstat(&file)
            .map_err(|error| ProblemKind::Unreadable {
                action: "reading metadata",
                error,
            })?
            .size;
        let algorithm = vault.layout().content;
        let mut header = None;
        if cipher_size > 0 {
            if cipher_size < HEADER_LEN as u64 {
                return Err(ProblemKind::Header(
                    crate::format::content::HeaderError::Short(cipher_size as usize),
                ));
            }
            let mut buf = [0u8; HEADER_LEN];
            file.read_exact_at(&mut buf, 0).map_err(read_error)?;
            header = Some(FileHeader::parse(&buf).map_err(ProblemKind::Header)?);
            if cipher_size == HEADER_LEN as u64 {
                return Err(ProblemKind::HeaderOnly);
            }
            let cbs = algorithm.cipher_block_len() as u64;
            let tail = (cipher_size - HEADER_LEN as u64) % cbs;
            if tail != 0 && tail <= algorithm.overhead() as u64 {
                return Err(ProblemKind::TruncatedBlock {
                    block: algorithm.block_count(cipher_size) - 1,
                    len: tail as usize,
                });
            }
        }
        Ok(CipherFile {
            file,
            algorithm,
            cipher_size,
            header,
        })
    }

    pub fn plain_size(&self) -> u64 {
        self.algorithm.plain_size(self.cipher_size)
    }

    pub fn cipher_size(&self) -> u64 {
        self.cipher_size
    }

    pub fn chunk_count(&self) -> u64 {
        self.algorithm
            .block_count(self.cipher_size)
            .div_ceil(CHUNK_BLOCKS)
    }

    /// Reads and authenticates chunk `index` into `out`, using `cbuf` as
    /// the ciphertext buffer. On failure names the first bad block.
    pub fn decrypt_chunk(
        &self,
        opener: &mut BlockOpener<'_>,
        index: u64,
        cbuf: &mut Vec<u8>,
        out: &mut PlainChunk,
    ) -> Result<(), ProblemKind> {
        self.decrypt_chunk_observed(opener, index, cbuf, out, |_| {})
    }

    /// The header as stored (empty for an empty file).
    pub fn header_bytes(&self) -> Vec<u8> {
        self.header
            .map(|h| h.to_bytes().to_vec())
            .unwrap_or_default()
    }

    /// As [`CipherFile::decrypt_chunk`], showing `observe` the ciphertext of
    /// the chunk as read, before it is decrypted in place.
    pub fn decrypt_chunk_observed(
        &self,
        opener: &mut BlockOpener<'_>,
        index: u64,
        cbuf: &mut Vec<u8>,
        out: &mut PlainChunk,
        mut observe: impl FnMut(&[u8]),
    ) -> Result<(), ProblemKind> {
        let Some(header) = &self.header else {
            out.offset = 0;
            out.data.clear();
            out.holes.clear();
            return Ok(());
        };
        let cbs = self.algorithm.cipher_block_len() as u64;
        let first_block = index * CHUNK_BLOCKS;
        let start = HEADER_LEN as u64 + first_block * cbs;
        let len = (CHUNK_BLOCKS * cbs).min(self.cipher_size.saturating_sub(start));
        cbuf.resize(len as usize, 0);
        self.file.read_exact_at(cbuf, start).map_err(read_error)?;
        observe(cbuf);
        out.offset = first_block * PLAIN_BLOCK_LEN as u64;
        out.data.clear();
        out.holes.clear();
        for (i, block) in cbuf.chunks_mut(cbs as usize).enumerate() {
            let block_no = first_block + i as u64;
            match opener.open(block_no, Some(&header.file_id), block) {
                Ok(OpenedBlock::Data(range)) => {
                    out.data.extend_from_slice(&block[range]);
                    out.holes.push(false);
                }
                Ok(OpenedBlock::Hole) => {
                    out.data.resize(out.data.len() + PLAIN_BLOCK_LEN, 0);
                    out.holes.push(true);
                }
                Err(error) => {
                    return Err(ProblemKind::Block {
                        block: block_no,
                        error,
                    });
                }
            }
        }
        Ok(())
    }
}

/// A read of the ciphertext that failed: a short file is damage, EIO (a
/// bad sector) is damage (see [`ProblemKind::status`]), anything else
/// means the check could not run.
fn read_error(error: io::Error) -> ProblemKind {
    if error.kind() == io::ErrorKind::UnexpectedEof {
        ProblemKind::SizeChanged
    } else {
        ProblemKind::Unreadable {
            action: "reading the encrypted file",
            error,
        }
    }
}

/// The plaintext of one file as a stream, authenticated chunk by chunk (an
/// authentication failure surfaces as an `InvalidData` read error).
pub struct PlainReader<'v> {
    file: CipherFile,
    opener: BlockOpener<'v>,
    next: u64,
    chunks: u64,
    cbuf: Vec<u8>,
    chunk: PlainChunk,
    pos: usize,
}

impl<'v> PlainReader<'v> {
    pub fn new(vault: &'v UnlockedVault, file: CipherFile) -> PlainReader<'v> {
        let chunks = file.chunk_count();
        PlainReader {
            file,
            opener: vault.content().opener(),
            next: 0,
            chunks,
            cbuf: Vec::new(),
            chunk: PlainChunk::default(),
            pos: 0,
        }
    }
}

impl io::Read for PlainReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.chunk.data.len() {
            if self.next == self.chunks {
                return Ok(0);
            }
            self.file
                .decrypt_chunk(&mut self.opener, self.next, &mut self.cbuf, &mut self.chunk)
                .map_err(|p| io::Error::new(io::ErrorKind::InvalidData, p.to_string()))?;
            self.next += 1;
            self.pos = 0;
        }
        let n = buf.len().min(self.chunk.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExitStatus;

    #[test]
    fn a_bad_sector_in_the_ciphertext_is_damage() {
        let status = |e| read_error(e).status();
        assert_eq!(
            status(io::Error::from_raw_os_error(libc::EIO)),
            ExitStatus::Damaged
        );
        assert_eq!(
            status(io::ErrorKind::UnexpectedEof.into()),
            ExitStatus::Damaged
        );
        assert_eq!(
            status(io::Error::from_raw_os_error(libc::EACCES)),
            ExitStatus::CouldNotRun
        );
    }

    #[test]
    fn data_runs_skip_holes() {
        let chunk = PlainChunk {
            offset: 8192,
            data: vec![1u8; 4096 * 3 + 10],
            holes: vec![false, true, false, false],
        };
        let runs: Vec<(u64, usize)> = chunk.data_runs().map(|(o, d)| (o, d.len())).collect();
        assert_eq!(runs, vec![(8192, 4096), (8192 + 8192, 4096 + 10)]);
        let all_holes = PlainChunk {
            offset: 0,
            data: vec![0; 8192],
            holes: vec![true, true],
        };
        assert_eq!(all_holes.data_runs().count(), 0);
    }
}
