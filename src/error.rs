//! The library's error type at the command boundary: every failure that
//! stops a command, with its exit status and a hint of what to do.

use thiserror::Error;

use crate::create::CreateError;
use crate::decrypt::DestinationError;
use crate::encrypt::EncryptError;
use crate::exit::ExitStatus;
use crate::export::ExportError;
use crate::lock::LockError;
use crate::manifest::ManifestFileError;
use crate::manifest::refresh::RefreshError;
use crate::push::PushError;
use crate::rclone::RcloneError;
use crate::registry::RegistryError;
use crate::restore::dest::DestError;
use crate::secrets::SecretError;
use crate::selection::SelectionError;
use crate::vault::VaultError;
use crate::vault::detect::DetectError;

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Destination(#[from] DestinationError),
    #[error(transparent)]
    Selection(#[from] SelectionError),
    #[error(transparent)]
    Create(#[from] CreateError),
    #[error(transparent)]
    Detect(#[from] DetectError),
    #[error(transparent)]
    Encrypt(#[from] EncryptError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Manifest(#[from] ManifestFileError),
    #[error(transparent)]
    Refresh(#[from] RefreshError),
    #[error(transparent)]
    Rclone(#[from] RcloneError),
    #[error(transparent)]
    Push(#[from] PushError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    RestoreDest(#[from] DestError),
}

impl Error {
    pub fn status(&self) -> ExitStatus {
        match self {
            Error::Vault(e) => e.status(),
            Error::Secret(e) => e.status(),
            Error::Destination(e) => e.status(),
            Error::Selection(_) => ExitStatus::Usage,
            Error::Create(e) => e.status(),
            Error::Detect(e) => e.status(),
            Error::Encrypt(e) => e.status(),
            Error::Export(e) => e.status(),
            Error::Manifest(e) => e.status(),
            Error::Refresh(e) => e.status(),
            Error::Rclone(e) => e.status(),
            Error::Push(e) => e.status(),
            Error::Registry(e) => e.status(),
            Error::Lock(e) => e.status(),
            Error::RestoreDest(e) => e.status(),
        }
    }

    /// One sentence telling the user what to do next.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Vault(e) => e.hint(),
            Error::Secret(e) => e.hint(),
            Error::Destination(e) => e.hint(),
            Error::Selection(_) => {
                Some("paths are relative to the vault root, as `vaultdrill ls` shows them".into())
            }
            Error::Create(e) => e.hint(),
            Error::Detect(e) => e.hint(),
            Error::Encrypt(e) => e.hint(),
            Error::Export(e) => e.hint(),
            Error::Manifest(e) => e.hint(),
            Error::Refresh(e) => e.hint(),
            Error::Rclone(e) => e.hint(),
            Error::Push(e) => e.hint(),
            Error::Registry(e) => e.hint(),
            Error::Lock(e) => e.hint(),
            Error::RestoreDest(e) => Some(e.hint()),
        }
    }
}
