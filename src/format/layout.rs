//! The parameters that decide how a vault's bytes are read: content cipher,
//! HKDF, and how names are stored. A config yields one; so will detection
//! from ciphertext when the config is lost.

use std::fmt;

use super::content::ContentAlgorithm;

/// How file names are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameMode {
    /// Names stored as-is (`-plaintextnames`).
    Plaintext,
    /// EME-encrypted names.
    Encrypted {
        /// A random `gocryptfs.diriv` per directory; without it, names are
        /// deterministic (`-deterministic-names`, an all-zero IV).
        dir_iv: bool,
        /// Unpadded base64url (`Raw64`), otherwise padded base64url.
        raw64: bool,
        /// Encrypted names longer than this are hashed into
        /// `gocryptfs.longname.*` entries with a `.name` sidecar (62..=255).
        long_name_max: u8,
    },
}

/// Everything needed, besides the master key, to read a vault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VaultLayout {
    pub content: ContentAlgorithm,
    pub hkdf: bool,
    pub names: NameMode,
}

impl VaultLayout {
    pub fn encrypted_names(&self) -> bool {
        matches!(self.names, NameMode::Encrypted { .. })
    }

    pub fn has_dir_iv(&self) -> bool {
        matches!(self.names, NameMode::Encrypted { dir_iv: true, .. })
    }
}

impl fmt::Display for NameMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            NameMode::Plaintext => f.write_str("plaintext names (not encrypted)"),
            NameMode::Encrypted {
                dir_iv,
                raw64,
                long_name_max,
            } => write!(
                f,
                "EME-AES-256 encrypted names, {}, {} base64url, names longer than {} characters hashed into gocryptfs.longname.* with .name sidecars",
                if dir_iv {
                    "per-directory IV (gocryptfs.diriv)"
                } else {
                    "deterministic (no diriv)"
                },
                if raw64 { "unpadded" } else { "padded" },
                long_name_max
            ),
        }
    }
}
