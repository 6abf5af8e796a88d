//! Reverse mode's deterministic IVs (`internal/pathiv` of gocryptfs): every
//! IV, file id and nonce of the encrypted view is derived from the entry's
//! encrypted path, so the same plaintext always gives the same ciphertext.

use sha2::{Digest, Sha256};

/// What a derived value is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    DirIv,
    FileId,
    SymlinkIv,
    Block0Iv,
}

impl Purpose {
    fn tag(self) -> &'static [u8] {
        match self {
            Purpose::DirIv => b"DIRIV",
            Purpose::FileId => b"FILEID",
            Purpose::SymlinkIv => b"SYMLINKIV",
            Purpose::Block0Iv => b"BLOCK0IV",
        }
    }
}

/// `SHA-256(path ‖ 0x00 ‖ purpose)[..16]`; `path` is the encrypted path
/// relative to the root, components joined by `/`, the root being empty.
pub fn derive(path: &[u8], purpose: Purpose) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(path);
    h.update([0u8]);
    h.update(purpose.tag());
    let digest = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// The nonce of block `block_no`: bytes 8..16 of the block-0 IV read as a
/// big-endian counter plus the block number (wrapping).
pub fn block_iv(block0: &[u8; 16], block_no: u64) -> [u8; 16] {
    let mut iv = *block0;
    let low = u64::from_be_bytes(iv[8..].try_into().expect("8 bytes")).wrapping_add(block_no);
    iv[8..].copy_from_slice(&low.to_be_bytes());
    iv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_ivs_count_in_the_low_half_and_wrap() {
        let mut b0 = [0u8; 16];
        b0[0] = 9;
        b0[15] = 0xfe;
        assert_eq!(block_iv(&b0, 1)[15], 0xff);
        assert_eq!(block_iv(&b0, 2)[14..], [1, 0]);
        assert_eq!(block_iv(&b0, 2)[0], 9, "the high half never changes");
        let top = [0xffu8; 16];
        assert_eq!(block_iv(&top, 1)[8..], [0; 8]);
    }

    #[test]
    fn derivation_separates_paths_and_purposes() {
        assert_ne!(derive(b"a", Purpose::DirIv), derive(b"a", Purpose::FileId));
        assert_ne!(derive(b"a", Purpose::DirIv), derive(b"b", Purpose::DirIv));
        assert_eq!(derive(b"", Purpose::DirIv), derive(b"", Purpose::DirIv));
    }
}
