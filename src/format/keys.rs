//! Secret key material: the master key, passwords, and the HKDF subkeys
//! gocryptfs derives from the master key.
//!
//! Every secret lives in a zeroizing buffer, and none of these types derive
//! `Debug`, `Clone` or `Display`: a secret cannot end up in a log line, a
//! panic message or an error by accident.

use hkdf::Hkdf;
use sha2::Sha256;
use thiserror::Error;
use zeroize::{Zeroize, Zeroizing};

/// Length of the master key and of every 256-bit subkey.
pub const KEY_LEN: usize = 32;

/// HKDF `info` strings of gocryptfs (`internal/cryptocore/hkdf.go`).
pub(crate) const HKDF_INFO_EME_NAMES: &str = "EME filename encryption";
pub(crate) const HKDF_INFO_GCM_CONTENT: &str = "AES-GCM file content encryption";
pub(crate) const HKDF_INFO_SIV_CONTENT: &str = "AES-SIV file content encryption";
pub(crate) const HKDF_INFO_XCHACHA_CONTENT: &str = "XChaCha20-Poly1305 file content encryption";

/// The 32-byte master key of a vault.
pub struct MasterKey(Zeroizing<[u8; KEY_LEN]>);

#[derive(Debug, Error, PartialEq, Eq)]
pub enum MasterKeyParseError {
    #[error("contains a character that is not a hex digit, '-' or whitespace (at position {0})")]
    BadCharacter(usize),
    #[error("has {0} hex digits; a gocryptfs master key has 64 (8 groups of 8)")]
    WrongLength(usize),
}

impl MasterKey {
    /// Takes ownership of the key bytes; the caller's array is wiped.
    pub fn from_bytes(bytes: &mut [u8; KEY_LEN]) -> MasterKey {
        let key = MasterKey(Zeroizing::new(*bytes));
        bytes.zeroize();
        key
    }

    /// Parses the master key as gocryptfs prints it
    /// (`f6e2a3b1-...-9c0d1e2f`, 8 groups of 8 hex digits), tolerating
    /// upper case, missing dashes, spaces and line breaks anywhere.
    pub fn parse(text: &[u8]) -> Result<MasterKey, MasterKeyParseError> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        let mut digits = 0usize;
        for (pos, &c) in text.iter().enumerate() {
            let nibble = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                b'-' | b' ' | b'\t' | b'\r' | b'\n' => continue,
                _ => return Err(MasterKeyParseError::BadCharacter(pos)),
            };
            if digits < 2 * KEY_LEN {
                key[digits / 2] |= if digits.is_multiple_of(2) {
                    nibble << 4
                } else {
                    nibble
                };
            }
            digits += 1;
        }
        if digits != 2 * KEY_LEN {
            return Err(MasterKeyParseError::WrongLength(digits));
        }
        Ok(MasterKey(key))
    }

    /// The key in gocryptfs's printed form on one line:
    /// 8 dash-separated groups of 8 lowercase hex digits.
    pub fn to_printed(&self) -> Zeroizing<String> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = Zeroizing::new(String::with_capacity(71));
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 && i % 4 == 0 {
                s.push('-');
            }
            s.push(HEX[usize::from(b >> 4)] as char);
            s.push(HEX[usize::from(b & 15)] as char);
        }
        s
    }

    /// The key as `gocryptfs -init` prints it: two lines of four groups.
    pub fn to_printed_two_lines(&self) -> Zeroizing<String> {
        let one = self.to_printed();
        let mut s = Zeroizing::new(String::with_capacity(one.len() + 1));
        s.push_str(&one[..36]);
        s.push('\n');
        s.push_str(&one[36..]);
        s
    }

    /// A public identifier of the vault this key belongs to: 16 bytes of
    /// a BLAKE3 key derivation, hex. One-way: it reveals nothing of the key.
    pub fn vault_id(&self) -> String {
        let derived = Zeroizing::new(blake3::derive_key(
            "vaultdrill 2026-12-04 vault id v1",
            &self.0[..],
        ));
        derived[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

/// A password as bytes, exactly as typed or read (gocryptfs does no
/// normalisation either).
pub struct Password(Zeroizing<Vec<u8>>);

impl Password {
    /// `None` for an empty password, which gocryptfs never accepts.
    pub fn new(bytes: Zeroizing<Vec<u8>>) -> Option<Password> {
        if bytes.is_empty() {
            None
        } else {
            Some(Password(bytes))
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// A second zeroizing copy (for a second consumer, e.g. gocryptfs's
    /// standard input in a cross-check).
    pub fn duplicate(&self) -> Password {
        Password(self.0.clone())
    }
}

/// HKDF-SHA256 with no salt, as gocryptfs's `hkdfDerive`.
pub(crate) fn hkdf_sha256(ikm: &[u8], info: &str, out: &mut [u8]) {
    // expand() only fails for outputs longer than 255·32 bytes.
    Hkdf::<Sha256>::new(None, ikm)
        .expand(info.as_bytes(), out)
        .expect("HKDF output of at most 64 bytes");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_printed_form_with_tolerance() {
        let printed =
            "b99b2e61-61787571-c43dfa2c-90d4f020-\n    c6e774ea-b96cdffc-1e706344-cb844d08";
        let key = MasterKey::parse(printed.as_bytes()).unwrap();
        assert_eq!(
            key.to_printed().as_str(),
            "b99b2e61-61787571-c43dfa2c-90d4f020-c6e774ea-b96cdffc-1e706344-cb844d08"
        );
        let upper = MasterKey::parse(printed.to_uppercase().as_bytes()).unwrap();
        assert_eq!(upper.bytes(), key.bytes());
        let bare =
            MasterKey::parse(b"b99b2e6161787571c43dfa2c90d4f020c6e774eab96cdffc1e706344cb844d08\n")
                .unwrap();
        assert_eq!(bare.bytes(), key.bytes());
    }

    #[test]
    fn rejects_malformed_keys_without_echoing_them() {
        assert_eq!(
            MasterKey::parse(b"b99b2e61-6178757").err(),
            Some(MasterKeyParseError::WrongLength(15))
        );
        let err = MasterKey::parse(b"b99b2e61-x1787571").err().unwrap();
        assert_eq!(err, MasterKeyParseError::BadCharacter(9));
        assert!(!err.to_string().contains("b99b"));
        let long = "ab".repeat(33);
        assert_eq!(
            MasterKey::parse(long.as_bytes()).err(),
            Some(MasterKeyParseError::WrongLength(66))
        );
    }

    #[test]
    fn hkdf_is_rfc5869_without_salt() {
        // RFC 5869 test case 3: SHA-256, no salt, no info.
        let mut okm = [0u8; 42];
        hkdf_sha256(&[0x0b; 22], "", &mut okm);
        let hex: String = okm.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
        );
    }
}
