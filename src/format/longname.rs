//! Long names: an encrypted name longer than the vault's `LongNameMax` is
//! stored as `gocryptfs.longname.<base64(sha256(encrypted name))>`, with the
//! full encrypted name in a `<that>.name` sidecar beside it.

use sha2::{Digest, Sha256};
use thiserror::Error;

use super::names::NameEncoding;

pub const LONGNAME_PREFIX: &str = "gocryptfs.longname.";
pub const SIDECAR_SUFFIX: &str = ".name";
/// gocryptfs refuses sidecars longer than this.
pub const SIDECAR_MAX: usize = 344;

/// What a directory entry name is, as far as long names go.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum LongNameKind {
    /// An ordinary (short) encrypted name.
    Short,
    /// `gocryptfs.longname.<hash>`: the entry itself; its name is in the sidecar.
    Hashed,
    /// `gocryptfs.longname.<hash>.name`: a sidecar, never listed.
    Sidecar,
}

pub fn classify(cipher_name: &str) -> LongNameKind {
    if !cipher_name.starts_with(LONGNAME_PREFIX) {
        LongNameKind::Short
    } else if cipher_name.ends_with(SIDECAR_SUFFIX) {
        LongNameKind::Sidecar
    } else {
        LongNameKind::Hashed
    }
}

/// The sidecar file name of a hashed entry.
pub fn sidecar_name(hashed_name: &str) -> String {
    format!("{hashed_name}{SIDECAR_SUFFIX}")
}

/// The on-disk name of an encrypted name too long to store directly.
pub fn hashed_name(cipher_name: &str, encoding: NameEncoding) -> String {
    let digest = Sha256::digest(cipher_name.as_bytes());
    format!("{LONGNAME_PREFIX}{}", encoding.encode(&digest))
}

/// Whether `cipher_name` must be hashed under a vault's `LongNameMax`.
pub fn needs_hashing(cipher_name: &str, long_name_max: u8) -> bool {
    cipher_name.len() > usize::from(long_name_max)
}

#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum SidecarError {
    #[error("the .name sidecar is empty")]
    Empty,
    #[error("the .name sidecar is {0} bytes, more than gocryptfs's limit of 344")]
    TooLong(usize),
    #[error("the .name sidecar is not ASCII text")]
    NotText,
    #[error("the .name sidecar belongs to another entry (its hash does not match this name)")]
    HashMismatch,
    #[error("the .name sidecar is not a regular file")]
    NotAFile,
}

/// Checks a sidecar's content and returns the encrypted name it holds.
///
/// gocryptfs itself does not check the hash; a mismatch can only come from
/// damage or tampering (a swapped sidecar would rename a file), so it is
/// reported rather than trusted.
pub fn parse_sidecar(
    hashed: &str,
    content: &[u8],
    encoding: NameEncoding,
) -> Result<String, SidecarError> {
    if content.is_empty() {
        return Err(SidecarError::Empty);
    }
    if content.len() > SIDECAR_MAX {
        return Err(SidecarError::TooLong(content.len()));
    }
    let text = std::str::from_utf8(content).map_err(|_| SidecarError::NotText)?;
    if hashed_name(text, encoding) != hashed {
        return Err(SidecarError::HashMismatch);
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_entries() {
        assert_eq!(classify("abc"), LongNameKind::Short);
        assert_eq!(classify("gocryptfs.longname.xyz"), LongNameKind::Hashed);
        assert_eq!(
            classify("gocryptfs.longname.xyz.name"),
            LongNameKind::Sidecar
        );
    }

    #[test]
    fn sidecar_checks() {
        let long = "A".repeat(300);
        let hashed = hashed_name(&long, NameEncoding::Raw64);
        assert!(hashed.starts_with(LONGNAME_PREFIX));
        assert_eq!(hashed.len(), LONGNAME_PREFIX.len() + 43);
        assert_eq!(
            parse_sidecar(&hashed, long.as_bytes(), NameEncoding::Raw64).unwrap(),
            long
        );
        assert_eq!(
            parse_sidecar(&hashed, b"", NameEncoding::Raw64),
            Err(SidecarError::Empty)
        );
        assert_eq!(
            parse_sidecar(&hashed, &[b'A'; 345], NameEncoding::Raw64),
            Err(SidecarError::TooLong(345))
        );
        assert_eq!(
            parse_sidecar(&hashed, b"AAAA", NameEncoding::Raw64),
            Err(SidecarError::HashMismatch)
        );
        assert_eq!(
            parse_sidecar(&hashed, &[0xff, 0xfe], NameEncoding::Raw64),
            Err(SidecarError::NotText)
        );
        let padded = hashed_name(&long, NameEncoding::Padded);
        assert!(padded.ends_with('='));
    }

    #[test]
    fn hashing_threshold() {
        assert!(!needs_hashing(&"a".repeat(255), 255));
        assert!(needs_hashing(&"a".repeat(256), 255));
        assert!(needs_hashing(&"a".repeat(63), 62));
    }
}
