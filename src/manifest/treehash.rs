//! The BLAKE3 of a large file hashed in 1 MiB pieces on any thread and in
//! any order, then joined: every piece of a file (at a multiple of 1 MiB,
//! 1 MiB long except the last) is a complete subtree of BLAKE3's tree, so
//! its chaining value can be computed where the piece was decrypted, and
//! the file's hash is the tree built over those values. Equal to
//! `blake3::hash` of the whole file (tested against it); only files longer
//! than one piece take this route.

use blake3::hazmat::{
    ChainingValue, HasherExt, Mode, merge_subtrees_non_root, merge_subtrees_root,
};

/// Bytes in a piece: a power of two, so a piece is a subtree.
pub const PIECE: u64 = 1 << 20;

/// The chaining value of piece `index`: `bytes` at `index * PIECE`,
/// exactly `PIECE` long unless it is the file's last piece.
pub fn piece_cv(index: u64, bytes: &[u8]) -> ChainingValue {
    debug_assert!(bytes.len() as u64 <= PIECE);
    blake3::Hasher::new()
        .set_input_offset(index * PIECE)
        .update(bytes)
        .finalize_non_root()
}

/// Joins pieces' chaining values, given in file order, into the file's
/// BLAKE3, holding O(log n) of them: BLAKE3's own incremental rule (before
/// a piece is added, merge down to as many subtrees as the count of pieces
/// so far has bits set; at the end, merge from the right, the last merge
/// being the root), in units of pieces.
#[derive(Default)]
pub struct Joiner {
    stack: Vec<ChainingValue>,
    pieces: u64,
}

impl Joiner {
    pub fn push(&mut self, cv: ChainingValue) {
        while self.stack.len() > self.pieces.count_ones() as usize {
            self.merge_top();
        }
        self.stack.push(cv);
        self.pieces += 1;
    }

    fn merge_top(&mut self) {
        if let (Some(right), Some(left)) = (self.stack.pop(), self.stack.pop()) {
            self.stack
                .push(merge_subtrees_non_root(&left, &right, Mode::Hash));
        }
    }

    /// The BLAKE3 of the `len` bytes pushed as pieces; `None` unless `len`
    /// is more than one piece and the pieces pushed are exactly its.
    pub fn finish(mut self, len: u64) -> Option<blake3::Hash> {
        if len <= PIECE || self.pieces != len.div_ceil(PIECE) {
            return None;
        }
        while self.stack.len() > 2 {
            self.merge_top();
        }
        match self.stack.as_slice() {
            [left, right] => Some(merge_subtrees_root(left, right, Mode::Hash)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(cvs: &[ChainingValue], len: u64) -> Option<blake3::Hash> {
        let mut joiner = Joiner::default();
        for cv in cvs {
            joiner.push(*cv);
        }
        joiner.finish(len)
    }

    fn data(len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        blake3::Hasher::new()
            .update(b"treehash")
            .finalize_xof()
            .fill(&mut out);
        out
    }

    #[test]
    fn joined_pieces_equal_the_whole_hash() {
        let p = PIECE as usize;
        let all = data(33 * p + 3);
        for len in [
            16 * p,
            16 * p + 1,
            17 * p,
            31 * p + 77,
            32 * p,
            33 * p + 3,
            p + 1,
            2 * p - 1,
            2 * p,
            2 * p + 1,
            3 * p,
            3 * p + 1024,
            4 * p,
            5 * p + p / 2,
            7 * p + 1,
            8 * p,
            8 * p + 1,
            9 * p + 3,
        ] {
            let input = &all[..len];
            // Computed in reverse order, as parallel workers may finish.
            let mut cvs: Vec<(u64, ChainingValue)> = input
                .chunks(p)
                .enumerate()
                .rev()
                .map(|(i, piece)| (i as u64, piece_cv(i as u64, piece)))
                .collect();
            cvs.sort_by_key(|(i, _)| *i);
            let cvs: Vec<ChainingValue> = cvs.into_iter().map(|(_, cv)| cv).collect();
            assert_eq!(
                join(&cvs, len as u64),
                Some(blake3::hash(input)),
                "length {len}"
            );
        }
    }

    #[test]
    fn a_joiner_holds_log_n_values() {
        let mut joiner = Joiner::default();
        for i in 0..5000u64 {
            joiner.push(piece_cv(i, b"x"));
            assert!(joiner.stack.len() <= 64 - i.leading_zeros() as usize + 1);
        }
        assert!(joiner.stack.len() <= 13);
    }

    #[test]
    fn wrong_counts_and_small_inputs_are_refused() {
        let p = PIECE as usize;
        let input = data(3 * p);
        let cvs: Vec<ChainingValue> = input
            .chunks(p)
            .enumerate()
            .map(|(i, piece)| piece_cv(i as u64, piece))
            .collect();
        assert_eq!(join(&cvs[..2], 3 * PIECE), None);
        assert_eq!(join(&cvs[..1], PIECE), None);
        // A piece out of place gives another hash.
        let swapped = [cvs[1], cvs[0], cvs[2]];
        assert_ne!(join(&swapped, 3 * PIECE), Some(blake3::hash(&input)));
    }
}
