//! vaultdrill: prove that encrypted gocryptfs backups can be restored, and
//! restore them, natively (no FUSE, no gocryptfs binary).
//!
//! - [`format`]: the gocryptfs on-disk format, pure and I/O-free.
//! - [`vault`]: a vault on disk: config, unlock, walking and reading files.
//! - [`decrypt`]: writing a plaintext tree, safely and in parallel.
//! - [`encrypt`], [`export`], [`create`]: writing vaults as gocryptfs does.
//! - [`manifest`]: BLAKE3 manifests stored in the vault, and `verify`.
//! - [`rclone`]: the one door to object storage.
//! - [`secrets`]: where passwords and master keys come from.
//! - [`exit`], [`error`], [`problem`]: outcomes, as data.

pub mod at;
pub mod create;
pub mod decrypt;
pub mod demo;
pub mod display;
pub mod drill;
pub mod encrypt;
pub mod error;
pub mod exclude;
pub mod exit;
pub mod export;
pub mod fetch;
pub mod format;
pub mod lock;
pub mod manifest;
pub mod problem;
pub mod progress;
pub mod push;
pub mod rclone;
pub mod recovery_kit;
pub mod registry;
pub mod restore;
pub mod schedule;
pub mod secrets;
pub mod selection;
pub mod staging;
pub mod tally;
pub mod throttle;
pub mod vault;
pub mod writebehind;

pub use error::Error;
pub use exit::ExitStatus;
