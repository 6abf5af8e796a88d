//! vaultdrill: prove that encrypted gocryptfs backups can be restored, and
//! restore them, natively (no FUSE, no gocryptfs binary).
//!
//! - [`format`]: the gocryptfs on-disk format, pure and I/O-free.

pub mod format;
