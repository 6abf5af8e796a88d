//! Encrypted file names: PKCS#7-style padding to 16 bytes, EME under the
//! directory IV, base64url (padded or `Raw64`), and the validity rules a
//! decrypted name must pass before anything is written under it
//! (`internal/nametransform` of gocryptfs).

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use thiserror::Error;
use zeroize::Zeroizing;

use super::eme::Eme;
use super::keys::{HKDF_INFO_EME_NAMES, KEY_LEN, MasterKey, hkdf_sha256};

/// Longest plaintext name (bytes) on Linux and in gocryptfs.
pub const NAME_MAX: usize = 255;
/// Name of the per-directory IV file.
pub const DIRIV_NAME: &str = "gocryptfs.diriv";
pub const DIRIV_LEN: usize = 16;

/// A directory's name IV.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirIv(pub [u8; DIRIV_LEN]);

#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum DirIvError {
    #[error("gocryptfs.diriv has {0} bytes, expected 16")]
    Length(usize),
    #[error("gocryptfs.diriv is all zero")]
    AllZero,
    #[error("gocryptfs.diriv is not a regular file")]
    NotAFile,
}

impl DirIv {
    /// The IV of deterministic-names vaults (no diriv files).
    pub const ZERO: DirIv = DirIv([0; DIRIV_LEN]);

    /// Validates the content of a `gocryptfs.diriv` file.
    pub fn parse(bytes: &[u8]) -> Result<DirIv, DirIvError> {
        let iv: [u8; DIRIV_LEN] = bytes
            .try_into()
            .map_err(|_| DirIvError::Length(bytes.len()))?;
        if iv == [0; DIRIV_LEN] {
            return Err(DirIvError::AllZero);
        }
        Ok(DirIv(iv))
    }
}

/// Why a plaintext name is refused. Checked on every decrypted name, so that
/// a hostile vault cannot steer a write outside the destination.
#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum InvalidName {
    #[error("the name is empty")]
    Empty,
    #[error("the name is {0} bytes, longer than 255")]
    TooLong(usize),
    #[error("the name contains '/'")]
    Slash,
    #[error("the name contains a NUL byte")]
    Nul,
    #[error("the name is '.' or '..'")]
    DotOrDotDot,
}

pub fn validate_plain_name(name: &[u8]) -> Result<(), InvalidName> {
    if name.is_empty() {
        return Err(InvalidName::Empty);
    }
    if name.len() > NAME_MAX {
        return Err(InvalidName::TooLong(name.len()));
    }
    if name.contains(&b'/') {
        return Err(InvalidName::Slash);
    }
    if name.contains(&0) {
        return Err(InvalidName::Nul);
    }
    if name == b"." || name == b".." {
        return Err(InvalidName::DotOrDotDot);
    }
    Ok(())
}

#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum NameError {
    #[error("not valid base64")]
    Base64,
    #[error("decodes to {0} bytes, not a non-empty multiple of 16")]
    Length(usize),
    #[error(
        "padding is invalid after decryption (wrong key, wrong directory IV, or a damaged name)"
    )]
    Padding,
    #[error("decrypts to a forbidden name: {0}")]
    Invalid(#[from] InvalidName),
}

/// Which base64 alphabet variant names use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameEncoding {
    /// base64url without padding (`Raw64`, the default since gocryptfs 1.3).
    Raw64,
    /// base64url with `=` padding (older vaults).
    Padded,
}

impl NameEncoding {
    pub fn encode(self, bytes: &[u8]) -> String {
        match self {
            NameEncoding::Raw64 => URL_SAFE_NO_PAD.encode(bytes),
            NameEncoding::Padded => URL_SAFE.encode(bytes),
        }
    }

    /// Strict decoding: canonical padding, no stray trailing bits, no line
    /// breaks (Go's decoder would skip CR/LF; gocryptfs rejects them itself).
    pub fn decode(self, text: &str) -> Result<Vec<u8>, NameError> {
        match self {
            NameEncoding::Raw64 => URL_SAFE_NO_PAD.decode(text),
            NameEncoding::Padded => URL_SAFE.decode(text),
        }
        .map_err(|_| NameError::Base64)
    }
}

/// Pads to a multiple of 16 with 1..=16 bytes, each equal to the pad length.
pub fn pad16(name: &[u8]) -> Vec<u8> {
    let pad = 16 - name.len() % 16;
    let mut out = Vec::with_capacity(name.len() + pad);
    out.extend_from_slice(name);
    out.resize(name.len() + pad, pad as u8);
    out
}

/// Inverse of [`pad16`], with gocryptfs's checks.
pub fn unpad16(padded: &[u8]) -> Option<&[u8]> {
    let len = padded.len();
    if len == 0 || !len.is_multiple_of(16) {
        return None;
    }
    let pad = usize::from(padded[len - 1]);
    if pad == 0 || pad > 16 || pad >= len {
        return None;
    }
    if padded[len - pad..].iter().any(|&b| usize::from(b) != pad) {
        return None;
    }
    Some(&padded[..len - pad])
}

/// Encrypts and decrypts names of one vault.
pub struct NameCipher {
    eme: Eme,
    encoding: NameEncoding,
}

impl NameCipher {
    /// The EME key is HKDF(master key, "EME filename encryption") with HKDF,
    /// the master key itself without.
    pub fn new(master_key: &MasterKey, hkdf: bool, encoding: NameEncoding) -> NameCipher {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        if hkdf {
            hkdf_sha256(master_key.bytes(), HKDF_INFO_EME_NAMES, &mut key[..]);
        } else {
            key.copy_from_slice(master_key.bytes());
        }
        NameCipher {
            eme: Eme::new(&key),
            encoding,
        }
    }

    pub fn encoding(&self) -> NameEncoding {
        self.encoding
    }

    /// Decrypts the ciphertext name `cipher_name` found in a directory with
    /// IV `iv`, and checks that the result is a name that may be written.
    pub fn decrypt(&self, cipher_name: &str, iv: &DirIv) -> Result<Vec<u8>, NameError> {
        let mut bin = self.encoding.decode(cipher_name)?;
        if bin.is_empty() || bin.len() % 16 != 0 || bin.len() / 16 > super::eme::MAX_BLOCKS {
            return Err(NameError::Length(bin.len()));
        }
        self.eme
            .decrypt(&iv.0, &mut bin)
            .map_err(|_| NameError::Length(bin.len()))?;
        let plain = unpad16(&bin).ok_or(NameError::Padding)?;
        validate_plain_name(plain)?;
        Ok(plain.to_vec())
    }

    /// Encrypts a plaintext name (not hashed: see `longname` for that).
    pub fn encrypt(&self, plain_name: &[u8], iv: &DirIv) -> Result<String, NameError> {
        validate_plain_name(plain_name)?;
        let mut bin = pad16(plain_name);
        self.eme
            .encrypt(&iv.0, &mut bin)
            .map_err(|_| NameError::Length(bin.len()))?;
        Ok(self.encoding.encode(&bin))
    }

    /// Encrypts bytes that need not be a valid name (tests build hostile
    /// vaults with it; writers never call it).
    pub fn encrypt_unchecked(&self, plain: &[u8], iv: &DirIv) -> String {
        let mut bin = pad16(plain);
        self.eme
            .encrypt(&iv.0, &mut bin)
            .expect("a padded name of at most 2048 bytes");
        self.encoding.encode(&bin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_rules() {
        assert_eq!(pad16(b""), vec![16u8; 16]);
        assert_eq!(pad16(b"abc").len(), 16);
        assert_eq!(pad16(&[1u8; 16]).len(), 32);
        for len in 1..40 {
            let name = vec![b'x'; len];
            assert_eq!(unpad16(&pad16(&name)), Some(&name[..]));
        }
        assert_eq!(unpad16(b""), None);
        assert_eq!(unpad16(&[1u8; 15]), None);
        let mut zero_pad = [b'a'; 16];
        zero_pad[15] = 0;
        assert_eq!(unpad16(&zero_pad), None);
        let mut over = [b'a'; 16];
        over[15] = 17;
        assert_eq!(unpad16(&over), None);
        // A whole block of padding would leave nothing.
        assert_eq!(unpad16(&[16u8; 16]), None);
        let mut uneven = [4u8; 16];
        uneven[13] = 3;
        assert_eq!(unpad16(&uneven), None);
    }

    #[test]
    fn validity_rules() {
        assert_eq!(validate_plain_name(b""), Err(InvalidName::Empty));
        assert_eq!(validate_plain_name(b"."), Err(InvalidName::DotOrDotDot));
        assert_eq!(validate_plain_name(b".."), Err(InvalidName::DotOrDotDot));
        assert_eq!(validate_plain_name(b"a/b"), Err(InvalidName::Slash));
        assert_eq!(validate_plain_name(b"a\0b"), Err(InvalidName::Nul));
        assert_eq!(
            validate_plain_name(&[b'a'; 256]),
            Err(InvalidName::TooLong(256))
        );
        assert!(validate_plain_name(&[b'a'; 255]).is_ok());
        assert!(validate_plain_name("…".as_bytes()).is_ok());
    }

    #[test]
    fn dir_iv_rules() {
        assert!(DirIv::parse(&[1; 16]).is_ok());
        assert_eq!(DirIv::parse(&[1; 15]), Err(DirIvError::Length(15)));
        assert_eq!(DirIv::parse(&[1; 17]), Err(DirIvError::Length(17)));
        assert_eq!(DirIv::parse(&[0; 16]), Err(DirIvError::AllZero));
    }

    #[test]
    fn round_trips_every_name_length_and_both_encodings() {
        // Byte compatibility with gocryptfs is proven by the fixtures in
        // tests/fixtures.rs; this checks the local invariants.
        let mk = MasterKey::from_bytes(&mut [9; 32]);
        let names = NameCipher::new(&mk, true, NameEncoding::Raw64);
        let iv = DirIv([3; 16]);
        for len in [1usize, 15, 16, 17, 175, 176, 255] {
            let plain = vec![b'n'; len];
            let c = names.encrypt(&plain, &iv).unwrap();
            assert_eq!(names.decrypt(&c, &iv).unwrap(), plain);
            // Another IV gives garbage that fails to unpad (or at least differs).
            assert_ne!(names.decrypt(&c, &DirIv([4; 16])).ok(), Some(plain.clone()));
        }
        let padded = NameCipher::new(&mk, true, NameEncoding::Padded);
        let c = padded.encrypt(b"x", &iv).unwrap();
        assert!(c.ends_with("=="));
        assert_eq!(names.decrypt(&c, &iv), Err(NameError::Base64));
        assert_eq!(padded.decrypt(&c, &iv).unwrap(), b"x");
    }

    #[test]
    fn hostile_names_are_refused_after_decryption() {
        let mk = MasterKey::from_bytes(&mut [9; 32]);
        let names = NameCipher::new(&mk, true, NameEncoding::Raw64);
        let iv = DirIv([3; 16]);
        for (bad, why) in [
            (&b".."[..], InvalidName::DotOrDotDot),
            (b".", InvalidName::DotOrDotDot),
            (b"../../etc/passwd", InvalidName::Slash),
            (b"a\0b", InvalidName::Nul),
        ] {
            let c = names.encrypt_unchecked(bad, &iv);
            assert_eq!(names.decrypt(&c, &iv), Err(NameError::Invalid(why)));
        }
        // An empty name would be a whole block of padding, which unpad refuses.
        let c = names.encrypt_unchecked(b"", &iv);
        assert_eq!(names.decrypt(&c, &iv), Err(NameError::Padding));
        let c = names.encrypt_unchecked(&[b'a'; 256], &iv);
        assert_eq!(
            names.decrypt(&c, &iv),
            Err(NameError::Invalid(InvalidName::TooLong(256)))
        );
    }
}
