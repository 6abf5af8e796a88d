//! EME (ECB-Mix-ECB, Halevi & Rogaway 2003), the wide-block mode gocryptfs
//! uses to encrypt file names, with a message length chosen at run time
//! (1 to 128 AES blocks). Behaves like github:rfjakob/eme; the tests prove
//! it against the `eme-mode` crate and against names the real gocryptfs wrote.

use aes::Aes256;
use aes::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use thiserror::Error;

const BLOCK: usize = 16;
/// EME is defined for 1..=128 blocks.
pub const MAX_BLOCKS: usize = 128;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("EME input of {0} bytes is not 1 to 128 whole 16-byte blocks")]
pub struct EmeLengthError(pub usize);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Encrypt,
    Decrypt,
}

/// EME over AES-256.
pub struct Eme {
    aes: Aes256,
}

/// Multiplication by x in GF(2^128) in EME's little-endian byte order.
fn double(block: &mut [u8; BLOCK]) {
    let carry_out = block[15] >> 7;
    for j in (1..BLOCK).rev() {
        block[j] = (block[j] << 1) | (block[j - 1] >> 7);
    }
    block[0] = (block[0] << 1) ^ (carry_out * 135);
}

fn xor_into(dst: &mut [u8], src: &[u8; BLOCK]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d ^= s;
    }
}

impl Eme {
    pub fn new(key: &[u8; 32]) -> Eme {
        Eme {
            aes: Aes256::new(&(*key).into()),
        }
    }

    pub fn encrypt(&self, tweak: &[u8; BLOCK], data: &mut [u8]) -> Result<(), EmeLengthError> {
        self.transform(tweak, data, Direction::Encrypt)
    }

    pub fn decrypt(&self, tweak: &[u8; BLOCK], data: &mut [u8]) -> Result<(), EmeLengthError> {
        self.transform(tweak, data, Direction::Decrypt)
    }

    fn block_op(&self, block: &mut [u8], direction: Direction) {
        let b: &mut Array<u8, _> = block.try_into().expect("16-byte block");
        match direction {
            Direction::Encrypt => self.aes.encrypt_block(b),
            Direction::Decrypt => self.aes.decrypt_block(b),
        }
    }

    fn transform(
        &self,
        tweak: &[u8; BLOCK],
        data: &mut [u8],
        direction: Direction,
    ) -> Result<(), EmeLengthError> {
        let m = data.len() / BLOCK;
        if !data.len().is_multiple_of(BLOCK) || m == 0 || m > MAX_BLOCKS {
            return Err(EmeLengthError(data.len()));
        }
        // L = 2·AES-enc(K, 0): always the forward cipher, in both directions.
        let mut l0 = [0u8; BLOCK];
        self.aes.encrypt_block((&mut l0).into());
        double(&mut l0);

        // PPP_j = AES(K, P_j ⊕ 2^(j-1)·L)
        let mut l = l0;
        for chunk in data.chunks_exact_mut(BLOCK) {
            xor_into(chunk, &l);
            self.block_op(chunk, direction);
            double(&mut l);
        }

        // MP = (⊕ PPP_j) ⊕ T ; MC = AES(K, MP) ; M = MP ⊕ MC
        let mut mp = *tweak;
        for chunk in data.chunks_exact(BLOCK) {
            for (a, b) in mp.iter_mut().zip(chunk) {
                *a ^= b;
            }
        }
        let mut mc = mp;
        self.block_op(&mut mc, direction);
        let mut mask = mp;
        xor_into(&mut mask, &mc);

        // CCC_j = PPP_j ⊕ 2^(j-1)·M for j ≥ 2
        for chunk in data.chunks_exact_mut(BLOCK).skip(1) {
            double(&mut mask);
            xor_into(chunk, &mask);
        }

        // CCC_1 = MC ⊕ T ⊕ (⊕_{j≥2} CCC_j)
        let mut ccc1 = mc;
        xor_into(&mut ccc1, tweak);
        for chunk in data.chunks_exact(BLOCK).skip(1) {
            for (a, b) in ccc1.iter_mut().zip(chunk) {
                *a ^= b;
            }
        }
        data[..BLOCK].copy_from_slice(&ccc1);

        // C_j = AES(K, CCC_j) ⊕ 2^(j-1)·L
        let mut l = l0;
        for chunk in data.chunks_exact_mut(BLOCK) {
            self.block_op(chunk, direction);
            xor_into(chunk, &l);
            double(&mut l);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eme_mode::DynamicEme;
    use eme_mode::cipher::KeyIvInit;

    #[test]
    fn matches_eme_mode_crate_for_every_name_length_and_the_maximum() {
        let key: [u8; 32] = std::array::from_fn(|i| (i * 13 + 1) as u8);
        let tweak: [u8; 16] = std::array::from_fn(|i| (i * 5 + 2) as u8);
        let ours = Eme::new(&key);
        for blocks in (1..=16).chain([127, 128]) {
            let plain: Vec<u8> = (0..blocks * 16).map(|i| (i * 31 + 7) as u8).collect();
            let mut mine = plain.clone();
            ours.encrypt(&tweak, &mut mine).unwrap();
            let mut theirs = plain.clone();
            DynamicEme::<aes08::Aes256>::new_from_slices(&key, &tweak)
                .unwrap()
                .encrypt_block_mut(&mut theirs);
            assert_eq!(mine, theirs, "EME of {blocks} blocks differs from eme-mode");
            ours.decrypt(&tweak, &mut mine).unwrap();
            assert_eq!(mine, plain);
        }
    }

    #[test]
    fn rejects_bad_lengths() {
        let eme = Eme::new(&[0; 32]);
        let tweak = [0; 16];
        assert_eq!(eme.encrypt(&tweak, &mut []), Err(EmeLengthError(0)));
        assert_eq!(eme.encrypt(&tweak, &mut [0; 17]), Err(EmeLengthError(17)));
        assert_eq!(
            eme.decrypt(&tweak, &mut vec![0; 16 * 129]),
            Err(EmeLengthError(16 * 129))
        );
        assert!(eme.decrypt(&tweak, &mut vec![0; 16 * 128]).is_ok());
    }

    #[test]
    fn doubling_carries_like_rfjakob_eme() {
        let mut b = [0u8; 16];
        b[15] = 0x80;
        b[0] = 0x80;
        double(&mut b);
        assert_eq!(b[0], 135);
        assert_eq!(b[1], 1);
        assert_eq!(b[15], 0);
    }
}
