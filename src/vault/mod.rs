//! A vault on disk: finding and loading its config, unlocking it, and the
//! typestate that keeps anything from decrypting before it is unlocked.

pub mod detect;
pub mod file;
pub mod keycheck;

pub use keycheck::KeyProof;
pub mod walk;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::at;
use crate::exit::ExitStatus;
use crate::format::config::{CONFIG_NAME, ConfigError, REVERSE_CONFIG_NAME, VaultConfig};
use crate::format::content::ContentCipher;
use crate::format::keys::{MasterKey, Password};
use crate::format::layout::VaultLayout;
use crate::format::names::{DIRIV_NAME, NameCipher};
use crate::format::unlock::{ScryptLimits, UnlockError, unlock_with_password};

/// Real configs are under 1 KiB; anything far larger is not one.
const MAX_CONFIG_LEN: usize = 64 * 1024;

/// Which side of gocryptfs a folder is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VaultKind {
    /// An encrypted folder with `gocryptfs.conf`: a forward vault, or the
    /// encrypted view of a reverse vault as uploaded to a remote.
    Forward,
    /// The plaintext folder of a reverse vault (`.gocryptfs.reverse.conf`).
    ReversePlaintext,
}

/// How to unlock.
pub enum Secret {
    Password(Password),
    MasterKey(MasterKey),
}

#[derive(Debug, Error)]
pub enum VaultError {
    #[error("{}: not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("{}: not a gocryptfs vault (no gocryptfs.conf, no gocryptfs.diriv)", .0.display())]
    NotAVault(PathBuf),
    #[error("{}: the config file is missing", .0.display())]
    ConfigMissing(PathBuf),
    #[error("{}: cannot read the config file: {error}", .path.display())]
    ConfigRead { path: PathBuf, error: io::Error },
    #[error("{}: {error}", .path.display())]
    ConfigInvalid { path: PathBuf, error: ConfigError },
    #[error("{}: this is the plaintext folder of a reverse vault; this command reads the encrypted view", .0.display())]
    ReversePlaintext(PathBuf),
    #[error("{}: {error}", .path.display())]
    Unlock { path: PathBuf, error: UnlockError },
    #[error("{}: the master key does not match this vault ({checked})", .path.display())]
    MasterKeyMismatch { path: PathBuf, checked: String },
    #[error("{}: {error}", .path.display())]
    Io { path: PathBuf, error: io::Error },
}

impl VaultError {
    pub fn status(&self) -> ExitStatus {
        match self {
            VaultError::NotADirectory(_)
            | VaultError::NotAVault(_)
            | VaultError::ReversePlaintext(_) => ExitStatus::Usage,
            VaultError::ConfigMissing(_) => ExitStatus::Damaged,
            VaultError::ConfigInvalid { error, .. } => match error {
                ConfigError::UnknownFlag(_) | ConfigError::UnsupportedVersion(_) => {
                    ExitStatus::CouldNotRun
                }
                _ => ExitStatus::Damaged,
            },
            VaultError::Unlock { error, .. } => match error {
                UnlockError::ScryptParams | UnlockError::EncryptedKeyLength(..) => {
                    ExitStatus::Damaged
                }
                _ => ExitStatus::Unlock,
            },
            VaultError::MasterKeyMismatch { .. } => ExitStatus::Unlock,
            VaultError::ConfigRead { .. } | VaultError::Io { .. } => ExitStatus::CouldNotRun,
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            VaultError::NotADirectory(_) | VaultError::NotAVault(_) => {
                "point at the encrypted folder (the one holding gocryptfs.conf)".into()
            }
            VaultError::ConfigMissing(_) => {
                "restore gocryptfs.conf from another copy, or pass --config FILE if it is stored elsewhere".into()
            }
            VaultError::ConfigRead { .. } => "check the path and its permissions".into(),
            VaultError::ConfigInvalid { error, .. } => match error {
                ConfigError::UnknownFlag(_) | ConfigError::UnsupportedVersion(_) => {
                    "this vault was made by a newer gocryptfs than vaultdrill knows; upgrade vaultdrill".into()
                }
                _ => "the config is damaged: use a copy from another backup, or --config FILE".into(),
            },
            VaultError::ReversePlaintext(_) => {
                "point at the encrypted view (a copy of the `gocryptfs -reverse` mount, as uploaded)".into()
            }
            VaultError::Unlock { error, .. } => match error {
                UnlockError::WrongPassword => {
                    "check the password (and --passfile contents); if it is lost, unlock with --masterkey-file".into()
                }
                UnlockError::Fido2 => "unlock with the master key: --masterkey-file FILE or --masterkey-stdin".into(),
                UnlockError::ScryptTooExpensive { .. } => {
                    "if you set this cost yourself, raise --scrypt-max-memory; otherwise distrust this config and use --masterkey-file"
                        .into()
                }
                UnlockError::ScryptParams | UnlockError::EncryptedKeyLength(..) => {
                    "the config is damaged: use a copy from another backup, or the master key".into()
                }
            },
            VaultError::MasterKeyMismatch { .. } => {
                "check the master key (the one printed at `gocryptfs -init` for this vault)".into()
            }
            VaultError::Io { .. } => "check the path and its permissions".into(),
        })
    }
}

/// A vault whose config is loaded; nothing can be decrypted yet.
pub struct LockedVault {
    root: PathBuf,
    config_path: PathBuf,
    config: VaultConfig,
    kind: VaultKind,
}

impl LockedVault {
    /// Finds and loads the config of `root`: `gocryptfs.conf`, or
    /// `.gocryptfs.reverse.conf` for the plaintext side of a reverse vault,
    /// or `config_override` when given.
    pub fn open(root: &Path, config_override: Option<&Path>) -> Result<LockedVault, VaultError> {
        match fs::metadata(root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(VaultError::NotADirectory(root.to_path_buf())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(VaultError::NotADirectory(root.to_path_buf()));
            }
            Err(error) => {
                return Err(VaultError::Io {
                    path: root.to_path_buf(),
                    error,
                });
            }
        }
        let forward = root.join(CONFIG_NAME);
        let reverse = root.join(REVERSE_CONFIG_NAME);
        let (config_path, kind) = match config_override {
            Some(p) => (p.to_path_buf(), VaultKind::Forward),
            None if forward.exists() => (forward, VaultKind::Forward),
            None if reverse.exists() => (reverse, VaultKind::ReversePlaintext),
            None if root.join(DIRIV_NAME).exists() => {
                return Err(VaultError::ConfigMissing(forward));
            }
            None => return Err(VaultError::NotAVault(root.to_path_buf())),
        };
        let bytes = match at::open_regular(&config_path)
            .and_then(|f| at::read_limited(f, MAX_CONFIG_LEN))
        {
            Ok(b) if b.len() > MAX_CONFIG_LEN => {
                return Err(VaultError::ConfigInvalid {
                    path: config_path,
                    error: ConfigError::NotJson(format!("larger than {MAX_CONFIG_LEN} bytes")),
                });
            }
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(VaultError::ConfigMissing(config_path));
            }
            Err(error) => {
                return Err(VaultError::ConfigRead {
                    path: config_path,
                    error,
                });
            }
        };
        let config = VaultConfig::parse(&bytes).map_err(|error| VaultError::ConfigInvalid {
            path: config_path.clone(),
            error,
        })?;
        if kind == VaultKind::ReversePlaintext && !config.has(crate::format::FeatureFlag::AESSIV) {
            return Err(VaultError::ConfigInvalid {
                path: config_path,
                error: ConfigError::InvalidCombination(
                    "a reverse vault must use AESSIV (gocryptfs refuses it otherwise: derived nonces would repeat)".into(),
                ),
            });
        }
        Ok(LockedVault {
            root: root.to_path_buf(),
            config_path,
            config,
            kind,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    pub fn config(&self) -> &VaultConfig {
        &self.config
    }

    pub fn kind(&self) -> VaultKind {
        self.kind
    }

    /// Commands that decrypt read the encrypted view, not the plaintext
    /// side of a reverse vault.
    pub fn require_forward(&self) -> Result<(), VaultError> {
        match self.kind {
            VaultKind::Forward => Ok(()),
            VaultKind::ReversePlaintext => Err(VaultError::ReversePlaintext(self.root.clone())),
        }
    }

    /// Unlocks with a password (against the config) or a master key (the
    /// config then only supplies the flags). A master key is checked
    /// against the vault's content, since nothing in the config can
    /// confirm it.
    pub fn unlock(
        self,
        secret: Secret,
        limits: &ScryptLimits,
    ) -> Result<UnlockedVault, VaultError> {
        self.require_forward()?;
        let (master_key, _) = self.master_key(secret, limits)?;
        Ok(UnlockedVault::new(
            self.root,
            self.config.layout(),
            &master_key,
        ))
    }

    /// The master key, proven: a password by the config's authenticated
    /// key wrap, a master key by authenticating the vault's data with it
    /// (which a reverse plaintext folder cannot offer).
    pub fn master_key(
        &self,
        secret: Secret,
        limits: &ScryptLimits,
    ) -> Result<(MasterKey, KeyProof), VaultError> {
        match secret {
            Secret::Password(pw) => unlock_with_password(&self.config, &pw, limits)
                .map(|mk| (mk, KeyProof::Proven))
                .map_err(|error| VaultError::Unlock {
                    path: self.config_path.clone(),
                    error,
                }),
            Secret::MasterKey(mk) => {
                self.require_forward()?;
                let vault = UnlockedVault::new(self.root.clone(), self.config.layout(), &mk);
                let proof = keycheck::confirm_master_key(&vault)?;
                Ok((mk, proof))
            }
        }
    }
}

/// An unlocked vault: the derived ciphers and where the ciphertext lives.
pub struct UnlockedVault {
    root: PathBuf,
    layout: VaultLayout,
    content: ContentCipher,
    names: Option<NameCipher>,
    vault_id: String,
}

impl UnlockedVault {
    /// Derives the subkeys; `layout` must come from a validated config (or
    /// detection), which rules out XChaCha without HKDF.
    pub fn new(root: PathBuf, layout: VaultLayout, master_key: &MasterKey) -> UnlockedVault {
        let (content, names) = crate::format::derive_ciphers(&layout, master_key);
        let vault_id = master_key.vault_id();
        UnlockedVault {
            root,
            layout,
            content,
            names,
            vault_id,
        }
    }

    /// A stable, public identifier of the vault (derived one-way from the
    /// master key; unchanged by a password change).
    pub fn vault_id(&self) -> &str {
        &self.vault_id
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn layout(&self) -> &VaultLayout {
        &self.layout
    }

    pub fn content(&self) -> &ContentCipher {
        &self.content
    }

    pub fn names(&self) -> Option<&NameCipher> {
        self.names.as_ref()
    }
}
