//! File content: the 18-byte header, 4096-byte blocks, the three AEAD
//! ciphers gocryptfs uses, sparse holes, and the size arithmetic between
//! ciphertext and plaintext (`internal/contentenc` of gocryptfs).
//!
//! Block layouts on disk:
//! - AES-256-GCM:        nonce(16) ‖ ciphertext ‖ tag(16)
//! - AES-SIV-512:        nonce(16) ‖ SIV(16) ‖ ciphertext
//! - XChaCha20-Poly1305: nonce(24) ‖ ciphertext ‖ tag(16)
//!
//! Associated data is `block number (u64 BE) ‖ file id`; symlink targets
//! and the master-key wrap use the block number alone.

use std::ops::Range;

use aes_gcm::aead::consts::{U12, U16};
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{AesGcm, aes::Aes256};
use aes_siv::siv::Aes256Siv;
use chacha20poly1305::XChaCha20Poly1305;
use sha2::{Digest, Sha512};
use thiserror::Error;
use zeroize::{Zeroize, Zeroizing};

use super::keys::{
    HKDF_INFO_GCM_CONTENT, HKDF_INFO_SIV_CONTENT, HKDF_INFO_XCHACHA_CONTENT, KEY_LEN, MasterKey,
    hkdf_sha256,
};

/// Plaintext bytes per block.
pub const PLAIN_BLOCK_LEN: usize = 4096;
/// Bytes of the file header: version (u16 BE, = 2) ‖ 16-byte file id.
pub const HEADER_LEN: usize = 18;
pub const FILE_ID_LEN: usize = 16;
const TAG_LEN: usize = 16;
const HEADER_VERSION: u16 = 2;

/// The content cipher of a vault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContentAlgorithm {
    AesGcm,
    AesSiv,
    XChaCha20Poly1305,
}

impl ContentAlgorithm {
    pub const fn nonce_len(self) -> usize {
        match self {
            ContentAlgorithm::AesGcm | ContentAlgorithm::AesSiv => 16,
            ContentAlgorithm::XChaCha20Poly1305 => 24,
        }
    }

    /// Ciphertext bytes added to each block (nonce + tag).
    pub const fn overhead(self) -> usize {
        self.nonce_len() + TAG_LEN
    }

    /// On-disk size of a full block.
    pub const fn cipher_block_len(self) -> usize {
        PLAIN_BLOCK_LEN + self.overhead()
    }

    /// The name `gocryptfs -info` prints as `contentEncryption`.
    pub fn gocryptfs_name(self) -> &'static str {
        match self {
            ContentAlgorithm::AesGcm => "AES-GCM-256",
            ContentAlgorithm::AesSiv => "AES-SIV-512",
            ContentAlgorithm::XChaCha20Poly1305 => "XChaCha20-Poly1305",
        }
    }

    /// A longer description for people.
    pub fn describe(self) -> String {
        let what = match self {
            ContentAlgorithm::AesGcm => "AES-256-GCM with 128-bit random nonces",
            ContentAlgorithm::AesSiv => "AES-SIV-512 (RFC 5297, nonce-misuse resistant)",
            ContentAlgorithm::XChaCha20Poly1305 => "XChaCha20-Poly1305 with 192-bit random nonces",
        };
        format!(
            "{what}, {PLAIN_BLOCK_LEN}-byte blocks ({} bytes on disk)",
            self.cipher_block_len()
        )
    }

    /// Plaintext size of a file of `cipher_size` bytes, as gocryptfs's
    /// `CipherSizeToPlainSize` computes it (a damaged tail of 1..=overhead
    /// bytes counts as a one-byte block).
    pub fn plain_size(self, cipher_size: u64) -> u64 {
        let header = HEADER_LEN as u64;
        if cipher_size <= header {
            return 0;
        }
        let cbs = self.cipher_block_len() as u64;
        let overhead = self.overhead() as u64;
        let mut size = cipher_size;
        let tail = (size - header) % cbs;
        if tail > 0 && tail <= overhead {
            size = size - tail + overhead + 1;
        }
        let blocks = (size - header).div_ceil(cbs);
        size.saturating_sub(blocks * overhead + header)
    }

    /// Ciphertext size of a file of `plain_size` bytes.
    pub fn cipher_size(self, plain_size: u64) -> u64 {
        if plain_size == 0 {
            return 0;
        }
        let blocks = plain_size.div_ceil(PLAIN_BLOCK_LEN as u64);
        HEADER_LEN as u64 + plain_size + blocks * self.overhead() as u64
    }

    /// Number of (possibly partial) blocks after the header.
    pub fn block_count(self, cipher_size: u64) -> u64 {
        cipher_size
            .saturating_sub(HEADER_LEN as u64)
            .div_ceil(self.cipher_block_len() as u64)
    }
}

/// The random 128-bit id that binds blocks to their file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId(pub [u8; FILE_ID_LEN]);

#[derive(Debug, Error, PartialEq, Eq)]
pub enum HeaderError {
    #[error("file header is {0} bytes, expected {HEADER_LEN}")]
    Short(usize),
    #[error("file header is all zero")]
    AllZero,
    #[error("file header has version {0}, expected 2")]
    Version(u16),
    #[error("file id in the header is all zero")]
    ZeroFileId,
}

/// The 18-byte header at the start of every non-empty file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileHeader {
    pub file_id: FileId,
}

impl FileHeader {
    pub fn parse(bytes: &[u8]) -> Result<FileHeader, HeaderError> {
        if bytes.len() != HEADER_LEN {
            return Err(HeaderError::Short(bytes.len()));
        }
        if bytes.iter().all(|&b| b == 0) {
            return Err(HeaderError::AllZero);
        }
        let version = u16::from_be_bytes([bytes[0], bytes[1]]);
        if version != HEADER_VERSION {
            return Err(HeaderError::Version(version));
        }
        let mut id = [0u8; FILE_ID_LEN];
        id.copy_from_slice(&bytes[2..]);
        if id == [0u8; FILE_ID_LEN] {
            return Err(HeaderError::ZeroFileId);
        }
        Ok(FileHeader {
            file_id: FileId(id),
        })
    }

    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..2].copy_from_slice(&HEADER_VERSION.to_be_bytes());
        out[2..].copy_from_slice(&self.file_id.0);
        out
    }
}

#[derive(Debug, Error, PartialEq, Eq, Clone, Copy)]
pub enum BlockError {
    #[error("block is {0} bytes, too short to hold a nonce and a tag")]
    TooShort(usize),
    #[error("block is longer than {PLAIN_BLOCK_LEN} plaintext bytes")]
    TooLong,
    #[error("block has an all-zero nonce but is not an all-zero hole")]
    AllZeroNonce,
    #[error("authentication failed")]
    Authentication,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CipherInitError {
    #[error("XChaCha20-Poly1305 vaults always use HKDF; a vault without HKDF cannot use it")]
    XChaChaWithoutHkdf,
}

/// What a ciphertext block turned out to be.
#[derive(Debug, PartialEq, Eq, Clone)]
pub enum OpenedBlock {
    /// Authenticated plaintext, at this range of the block buffer.
    Data(Range<usize>),
    /// A full block of zero bytes: a sparse hole, 4096 zero bytes of
    /// plaintext, which gocryptfs deliberately does not authenticate.
    Hole,
}

enum Aead {
    Gcm(Box<AesGcm<Aes256, U16>>),
    Siv(Zeroizing<[u8; 64]>),
    XChaCha(Box<XChaCha20Poly1305>),
}

/// The content cipher of an unlocked vault.
pub struct ContentCipher {
    algorithm: ContentAlgorithm,
    aead: Aead,
}

impl ContentCipher {
    /// Derives the content key from the master key as gocryptfs does.
    pub fn new(
        master_key: &MasterKey,
        algorithm: ContentAlgorithm,
        hkdf: bool,
    ) -> Result<ContentCipher, CipherInitError> {
        let mk = master_key.bytes();
        let aead = match algorithm {
            ContentAlgorithm::AesGcm => {
                let mut key = Zeroizing::new([0u8; KEY_LEN]);
                if hkdf {
                    hkdf_sha256(mk, HKDF_INFO_GCM_CONTENT, &mut key[..]);
                } else {
                    key.copy_from_slice(mk);
                }
                Aead::Gcm(Box::new(AesGcm::new(&(*key).into())))
            }
            ContentAlgorithm::AesSiv => {
                let mut key = Zeroizing::new([0u8; 64]);
                if hkdf {
                    hkdf_sha256(mk, HKDF_INFO_SIV_CONTENT, &mut key[..]);
                } else {
                    let mut digest = Sha512::digest(mk);
                    key.copy_from_slice(&digest);
                    digest.as_mut_slice().zeroize();
                }
                Aead::Siv(key)
            }
            ContentAlgorithm::XChaCha20Poly1305 => {
                if !hkdf {
                    return Err(CipherInitError::XChaChaWithoutHkdf);
                }
                let mut key = Zeroizing::new([0u8; KEY_LEN]);
                hkdf_sha256(mk, HKDF_INFO_XCHACHA_CONTENT, &mut key[..]);
                Aead::XChaCha(Box::new(XChaCha20Poly1305::new(&(*key).into())))
            }
        };
        Ok(ContentCipher { algorithm, aead })
    }

    pub fn algorithm(&self) -> ContentAlgorithm {
        self.algorithm
    }

    /// A block opener; cheap to make. AES-SIV keeps MAC state, so each
    /// thread uses its own.
    pub fn opener(&self) -> BlockOpener<'_> {
        let siv = match &self.aead {
            Aead::Siv(key) => Some(Aes256Siv::new(&(**key).into())),
            _ => None,
        };
        BlockOpener { cipher: self, siv }
    }
}

/// Decrypts (and, for tests and writers, encrypts) single blocks.
pub struct BlockOpener<'a> {
    cipher: &'a ContentCipher,
    siv: Option<Aes256Siv>,
}

fn associated_data(block_no: u64, file_id: Option<&FileId>, buf: &mut [u8; 24]) -> usize {
    buf[..8].copy_from_slice(&block_no.to_be_bytes());
    match file_id {
        Some(id) => {
            buf[8..].copy_from_slice(&id.0);
            24
        }
        None => 8,
    }
}

impl BlockOpener<'_> {
    /// Authenticates and decrypts one block in place. `block` is the whole
    /// on-disk block (the last one of a file may be short).
    pub fn open(
        &mut self,
        block_no: u64,
        file_id: Option<&FileId>,
        block: &mut [u8],
    ) -> Result<OpenedBlock, BlockError> {
        let algo = self.cipher.algorithm;
        let nonce_len = algo.nonce_len();
        if block.len() == algo.cipher_block_len() && block.iter().all(|&b| b == 0) {
            return Ok(OpenedBlock::Hole);
        }
        if block.len() <= algo.overhead() {
            return Err(BlockError::TooShort(block.len()));
        }
        if block.len() > algo.cipher_block_len() {
            return Err(BlockError::TooLong);
        }
        if block[..nonce_len].iter().all(|&b| b == 0) {
            return Err(BlockError::AllZeroNonce);
        }
        let mut ad_buf = [0u8; 24];
        let ad_len = associated_data(block_no, file_id, &mut ad_buf);
        let ad = &ad_buf[..ad_len];
        let end = block.len();
        match (&self.cipher.aead, &mut self.siv) {
            (Aead::Gcm(gcm), _) => open_tag_last(&**gcm, ad, block, nonce_len),
            (Aead::XChaCha(x), _) => open_tag_last(&**x, ad, block, nonce_len),
            (Aead::Siv(_), Some(siv)) => {
                let (nonce, rest) = block.split_at_mut(nonce_len);
                let (tag, ct) = rest.split_at_mut(TAG_LEN);
                let tag = (&*tag).try_into().map_err(|_| BlockError::TooShort(end))?;
                siv.decrypt_inout_detached([ad, &*nonce], ct.into(), tag)
                    .map_err(|_| BlockError::Authentication)?;
                Ok(OpenedBlock::Data(nonce_len + TAG_LEN..end))
            }
            (Aead::Siv(_), None) => unreachable!("opener() always creates the SIV state"),
        }
    }

    /// Encrypts one block of at most 4096 bytes with the given nonce and
    /// appends it (nonce included) to `out`.
    pub fn seal(
        &mut self,
        block_no: u64,
        file_id: Option<&FileId>,
        nonce: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), BlockError> {
        let algo = self.cipher.algorithm;
        if nonce.len() != algo.nonce_len() {
            return Err(BlockError::TooShort(nonce.len()));
        }
        if plaintext.is_empty() {
            return Err(BlockError::TooShort(0));
        }
        if plaintext.len() > PLAIN_BLOCK_LEN {
            return Err(BlockError::TooLong);
        }
        let mut ad_buf = [0u8; 24];
        let ad_len = associated_data(block_no, file_id, &mut ad_buf);
        let ad = &ad_buf[..ad_len];
        let start = out.len();
        out.extend_from_slice(nonce);
        match (&self.cipher.aead, &mut self.siv) {
            (Aead::Gcm(gcm), _) => seal_tag_last(&**gcm, ad, nonce, plaintext, out)?,
            (Aead::XChaCha(x), _) => seal_tag_last(&**x, ad, nonce, plaintext, out)?,
            (Aead::Siv(_), Some(siv)) => {
                let tag_start = out.len();
                out.extend_from_slice(&[0u8; TAG_LEN]);
                out.extend_from_slice(plaintext);
                let (head, ct) = out[tag_start..].split_at_mut(TAG_LEN);
                let tag = siv
                    .encrypt_inout_detached([ad, nonce], ct.into())
                    .map_err(|_| BlockError::Authentication)?;
                head.copy_from_slice(&tag);
            }
            (Aead::Siv(_), None) => unreachable!("opener() always creates the SIV state"),
        }
        debug_assert_eq!(out.len() - start, plaintext.len() + algo.overhead());
        Ok(())
    }
}

/// Opens a `nonce ‖ ciphertext ‖ tag` block (AES-GCM, XChaCha20-Poly1305).
fn open_tag_last<A: AeadInOut>(
    aead: &A,
    ad: &[u8],
    block: &mut [u8],
    nonce_len: usize,
) -> Result<OpenedBlock, BlockError> {
    let end = block.len();
    let (nonce, rest) = block.split_at_mut(nonce_len);
    let (ct, tag) = rest.split_at_mut(end - nonce_len - TAG_LEN);
    let nonce = (&*nonce)
        .try_into()
        .map_err(|_| BlockError::TooShort(end))?;
    let tag = (&*tag).try_into().map_err(|_| BlockError::TooShort(end))?;
    aead.decrypt_inout_detached(nonce, ad, ct.into(), tag)
        .map_err(|_| BlockError::Authentication)?;
    Ok(OpenedBlock::Data(nonce_len..end - TAG_LEN))
}

/// Appends `ciphertext ‖ tag` of `plaintext` to `out` (the nonce is there).
fn seal_tag_last<A: AeadInOut>(
    aead: &A,
    ad: &[u8],
    nonce: &[u8],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), BlockError> {
    let ct_start = out.len();
    out.extend_from_slice(plaintext);
    let nonce = nonce
        .try_into()
        .map_err(|_| BlockError::TooShort(nonce.len()))?;
    let tag = aead
        .encrypt_inout_detached(nonce, ad, (&mut out[ct_start..]).into())
        .map_err(|_| BlockError::Authentication)?;
    out.extend_from_slice(&tag);
    Ok(())
}

/// Opens `EncryptedKey` of a config: AES-256-GCM under the scrypt-derived
/// key (through HKDF when the vault uses it), 16-byte nonce with HKDF and
/// 12-byte without, associated data = block number 0.
pub(crate) fn open_key_wrap(
    kek: &[u8; KEY_LEN],
    hkdf: bool,
    wrapped: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    if hkdf {
        hkdf_sha256(kek, HKDF_INFO_GCM_CONTENT, &mut key[..]);
    } else {
        key.copy_from_slice(kek);
    }
    let nonce_len = if hkdf { 16 } else { 12 };
    if wrapped.len() < nonce_len + TAG_LEN {
        return None;
    }
    let (nonce, rest) = wrapped.split_at(nonce_len);
    let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
    let mut plain = Zeroizing::new(ct.to_vec());
    let ad = 0u64.to_be_bytes();
    let ok = if hkdf {
        AesGcm::<Aes256, U16>::new(&(*key).into())
            .decrypt_inout_detached(
                nonce.try_into().ok()?,
                &ad,
                plain.as_mut_slice().into(),
                tag.try_into().ok()?,
            )
            .is_ok()
    } else {
        AesGcm::<Aes256, U12>::new(&(*key).into())
            .decrypt_inout_detached(
                nonce.try_into().ok()?,
                &ad,
                plain.as_mut_slice().into(),
                tag.try_into().ok()?,
            )
            .is_ok()
    };
    ok.then_some(plain)
}

/// The inverse of [`open_key_wrap`], for writing configs.
pub(crate) fn seal_key_wrap(
    kek: &[u8; KEY_LEN],
    hkdf: bool,
    nonce: &[u8],
    secret: &[u8],
) -> Option<Vec<u8>> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    if hkdf {
        hkdf_sha256(kek, HKDF_INFO_GCM_CONTENT, &mut key[..]);
    } else {
        key.copy_from_slice(kek);
    }
    let mut out = nonce.to_vec();
    out.extend_from_slice(secret);
    let ad = 0u64.to_be_bytes();
    let body = &mut out[nonce.len()..];
    let tag = if hkdf {
        AesGcm::<Aes256, U16>::new(&(*key).into())
            .encrypt_inout_detached(nonce.try_into().ok()?, &ad, body.into())
            .ok()?
    } else {
        AesGcm::<Aes256, U12>::new(&(*key).into())
            .encrypt_inout_detached(nonce.try_into().ok()?, &ad, body.into())
            .ok()?
    };
    out.extend_from_slice(&tag);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [ContentAlgorithm; 3] = [
        ContentAlgorithm::AesGcm,
        ContentAlgorithm::AesSiv,
        ContentAlgorithm::XChaCha20Poly1305,
    ];

    fn key() -> MasterKey {
        MasterKey::from_bytes(&mut [0x42; 32])
    }

    #[test]
    fn sizes_follow_gocryptfs() {
        let gcm = ContentAlgorithm::AesGcm;
        assert_eq!(gcm.cipher_size(0), 0);
        assert_eq!(gcm.cipher_size(1), 18 + 1 + 32);
        assert_eq!(gcm.cipher_size(4096), 18 + 4128);
        assert_eq!(gcm.cipher_size(4097), 18 + 4128 + 33);
        for algo in ALL {
            for n in [0u64, 1, 15, 4095, 4096, 4097, 8192, 1 << 20, (1 << 20) + 3] {
                assert_eq!(algo.plain_size(algo.cipher_size(n)), n, "{algo:?} {n}");
            }
            // Header only reads as empty.
            assert_eq!(algo.plain_size(18), 0);
            // A tail of 1..=overhead bytes is padded to a 1-byte block.
            let full = algo.cipher_size(4096);
            assert_eq!(algo.plain_size(full + 1), 4097);
            assert_eq!(algo.plain_size(full + algo.overhead() as u64), 4097);
            assert_eq!(algo.plain_size(full + algo.overhead() as u64 + 1), 4097);
        }
    }

    #[test]
    fn header_rules() {
        let mut good = [0u8; 18];
        good[1] = 2;
        good[17] = 9;
        assert!(FileHeader::parse(&good).is_ok());
        assert_eq!(FileHeader::parse(&[0u8; 18]), Err(HeaderError::AllZero));
        let mut v3 = good;
        v3[1] = 3;
        assert_eq!(FileHeader::parse(&v3), Err(HeaderError::Version(3)));
        let mut zero_id = [0u8; 18];
        zero_id[1] = 2;
        assert_eq!(FileHeader::parse(&zero_id), Err(HeaderError::ZeroFileId));
        assert_eq!(FileHeader::parse(&good[..17]), Err(HeaderError::Short(17)));
    }

    #[test]
    fn round_trip_every_cipher_and_size_and_detect_tampering() {
        let mk = key();
        let id = FileId([7; 16]);
        for algo in ALL {
            let cipher = ContentCipher::new(&mk, algo, true).unwrap();
            let mut op = cipher.opener();
            for len in [1usize, 15, 16, 17, 4095, 4096] {
                let plain: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                let nonce = vec![0xa5; algo.nonce_len()];
                let mut block = Vec::new();
                op.seal(5, Some(&id), &nonce, &plain, &mut block).unwrap();
                assert_eq!(block.len(), len + algo.overhead());
                let mut copy = block.clone();
                let OpenedBlock::Data(r) = op.open(5, Some(&id), &mut copy).unwrap() else {
                    panic!("not data")
                };
                assert_eq!(&copy[r], &plain[..]);
                // Wrong block number, wrong file id, flipped bit: all refused.
                let mut copy = block.clone();
                assert_eq!(
                    op.open(6, Some(&id), &mut copy),
                    Err(BlockError::Authentication)
                );
                let mut copy = block.clone();
                assert_eq!(
                    op.open(5, Some(&FileId([8; 16])), &mut copy),
                    Err(BlockError::Authentication)
                );
                for pos in [0, algo.nonce_len(), block.len() - 1] {
                    let mut copy = block.clone();
                    copy[pos] ^= 1;
                    assert_eq!(
                        op.open(5, Some(&id), &mut copy),
                        Err(BlockError::Authentication),
                        "{algo:?} pos {pos}"
                    );
                }
            }
        }
    }

    #[test]
    fn holes_and_zero_nonces() {
        let mk = key();
        for algo in ALL {
            let cipher = ContentCipher::new(&mk, algo, true).unwrap();
            let mut op = cipher.opener();
            let mut hole = vec![0u8; algo.cipher_block_len()];
            assert_eq!(op.open(0, None, &mut hole), Ok(OpenedBlock::Hole));
            let mut short_zero = vec![0u8; 100];
            assert_eq!(
                op.open(0, None, &mut short_zero),
                Err(BlockError::AllZeroNonce)
            );
            let mut tiny = vec![1u8; algo.overhead()];
            assert_eq!(
                op.open(0, None, &mut tiny),
                Err(BlockError::TooShort(algo.overhead()))
            );
        }
    }

    #[test]
    fn key_wrap_round_trip_both_nonce_sizes() {
        let kek = [3u8; 32];
        for (hkdf, nlen) in [(true, 16), (false, 12)] {
            let wrapped = seal_key_wrap(&kek, hkdf, &vec![1u8; nlen], &[9u8; 32]).unwrap();
            assert_eq!(wrapped.len(), nlen + 32 + 16);
            assert_eq!(
                open_key_wrap(&kek, hkdf, &wrapped).unwrap().as_slice(),
                &[9u8; 32]
            );
            assert!(open_key_wrap(&[4u8; 32], hkdf, &wrapped).is_none());
        }
    }

    #[test]
    fn xchacha_requires_hkdf() {
        assert!(matches!(
            ContentCipher::new(&key(), ContentAlgorithm::XChaCha20Poly1305, false),
            Err(CipherInitError::XChaChaWithoutHkdf)
        ));
    }
}
