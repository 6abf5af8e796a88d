//! Symlink targets: in encrypted-name vaults the on-disk target is the
//! base64 (name alphabet) of one content block, block number 0, no file id.

use thiserror::Error;

use super::content::{BlockError, BlockOpener, OpenedBlock, PLAIN_BLOCK_LEN};
use super::names::{NameEncoding, NameError};

#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum SymlinkError {
    #[error("symlink target is not valid base64")]
    Base64,
    #[error("symlink target: {0}")]
    Block(#[from] BlockError),
    #[error("symlink target is a hole block")]
    Hole,
}

impl From<NameError> for SymlinkError {
    fn from(_: NameError) -> Self {
        SymlinkError::Base64
    }
}

/// Decrypts a stored symlink target. The empty string stays empty.
pub fn decrypt_target(
    opener: &mut BlockOpener<'_>,
    encoding: NameEncoding,
    stored: &str,
) -> Result<Vec<u8>, SymlinkError> {
    if stored.is_empty() {
        return Ok(Vec::new());
    }
    let mut block = encoding.decode(stored)?;
    match opener.open(0, None, &mut block)? {
        OpenedBlock::Data(range) => Ok(block[range].to_vec()),
        OpenedBlock::Hole => Err(SymlinkError::Hole),
    }
}

/// Encrypts a symlink target with the given nonce.
pub fn encrypt_target(
    opener: &mut BlockOpener<'_>,
    encoding: NameEncoding,
    nonce: &[u8],
    target: &[u8],
) -> Result<String, SymlinkError> {
    if target.is_empty() {
        return Ok(String::new());
    }
    if target.len() > PLAIN_BLOCK_LEN {
        return Err(SymlinkError::Block(BlockError::TooLong));
    }
    let mut out = Vec::with_capacity(target.len() + 40);
    opener.seal(0, None, nonce, target, &mut out)?;
    Ok(encoding.encode(&out))
}
