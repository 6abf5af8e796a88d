//! The gocryptfs on-disk format as a library: config file, master-key
//! unwrap, HKDF subkeys, content blocks per cipher, encrypted and long
//! names, symlink targets.
//!
//! Pure functions and types over bytes: no file system access, no printing,
//! no policy. The `vault` module does the I/O on top of this.

pub mod config;
pub mod content;
pub mod eme;
pub mod keys;
pub mod layout;
pub mod longname;
pub mod names;
pub mod pathiv;
pub mod symlink;
pub mod unlock;

pub use config::{CONFIG_NAME, FeatureFlag, REVERSE_CONFIG_NAME, VaultConfig};
pub use content::{ContentAlgorithm, ContentCipher, FileHeader, FileId, OpenedBlock};
pub use keys::{MasterKey, Password};
pub use layout::{NameMode, VaultLayout};
pub use names::{DirIv, NameCipher, NameEncoding};
pub use unlock::{ScryptLimits, UnlockError};

/// The content and name ciphers of a vault with `layout` under `master_key`
/// (no name cipher for plaintext names). `layout` must be valid (from a
/// validated config or from detection), which rules out XChaCha20-Poly1305
/// without HKDF.
pub fn derive_ciphers(
    layout: &VaultLayout,
    master_key: &MasterKey,
) -> (ContentCipher, Option<NameCipher>) {
    let content = ContentCipher::new(master_key, layout.content, layout.hkdf)
        .expect("a validated layout never pairs XChaCha20-Poly1305 with HKDF off");
    let names = match layout.names {
        NameMode::Plaintext => None,
        NameMode::Encrypted { raw64, .. } => Some(NameCipher::new(
            master_key,
            layout.hkdf,
            if raw64 {
                NameEncoding::Raw64
            } else {
                NameEncoding::Padded
            },
        )),
    };
    (content, names)
}
