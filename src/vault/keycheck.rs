//! Confirming a master key. A password is checked by the config's
//! authenticated key wrap; a master key can only be checked against the
//! data: an authenticated block (file content or symlink target) proves it,
//! and names that decrypt with valid padding are strong evidence.

use crate::problem::ProblemKind;
use crate::selection::Selection;

use super::file::CipherFile;
use super::walk::{EntryKind, WalkItem, Walker};
use super::{UnlockedVault, VaultError};

/// Entries looked at before giving up on finding evidence.
const MAX_ENTRIES: usize = 256;
/// Files whose first blocks are tried.
const MAX_FILES: usize = 8;

/// How well the data vouches for a master key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyProof {
    /// A block authenticated, or enough names decrypted.
    Proven,
    /// Nothing contradicts the key, but nothing proves it either (an empty
    /// vault, a few names only).
    Unproven,
}

pub(crate) fn confirm_master_key(vault: &UnlockedVault) -> Result<KeyProof, VaultError> {
    let selection = Selection::all();
    let mut blocks_ok = 0usize;
    let mut blocks_bad = 0usize;
    let mut names_ok = 0usize;
    let mut names_bad = 0usize;
    let mut files_tried = 0usize;
    let encrypted_names = vault.names().is_some();
    let mut opener = vault.content().opener();
    let mut cbuf = Vec::new();
    let mut plain = Default::default();
    for item in Walker::new(vault, &selection).take(MAX_ENTRIES) {
        match item {
            WalkItem::Entry(entry) => {
                if encrypted_names {
                    names_ok += 1;
                }
                match entry.kind {
                    EntryKind::Symlink { ref target } if encrypted_names && !target.is_empty() => {
                        blocks_ok += 1
                    }
                    EntryKind::File { plain_size } if plain_size > 0 && files_tried < MAX_FILES => {
                        files_tried += 1;
                        let Ok(file) = CipherFile::open(vault, &entry) else {
                            continue;
                        };
                        match file.decrypt_chunk(&mut opener, 0, &mut cbuf, &mut plain) {
                            Ok(()) if plain.holes.iter().any(|h| !h) => blocks_ok += 1,
                            Ok(()) => {}
                            Err(ProblemKind::Block { .. }) => blocks_bad += 1,
                            Err(_) => {}
                        }
                    }
                    _ => {}
                }
            }
            WalkItem::Meta(_) => {}
            WalkItem::Problem(p) => match p.kind {
                ProblemKind::Name(_) => names_bad += 1,
                ProblemKind::SymlinkTarget(_) => blocks_bad += 1,
                _ => {}
            },
        }
        if blocks_ok > 0 {
            return Ok(KeyProof::Proven);
        }
    }
    // With the right key nearly every name decrypts; with a wrong one about
    // one in 256 happens to unpad. A damaged vault opened with the right
    // key must report damage (exit 1), not "wrong key" (exit 3).
    let wrong = if encrypted_names {
        names_bad > 0 && names_ok <= names_bad
    } else {
        blocks_bad > 0
    };
    if !wrong {
        // About 1 name in 256 unpads by chance under a wrong key.
        let names_prove = encrypted_names
            && ((names_bad == 0 && names_ok >= 5)
                || (names_ok >= 8 && names_ok * 20 >= (names_ok + names_bad) * 19));
        return Ok(if names_prove {
            KeyProof::Proven
        } else {
            KeyProof::Unproven
        });
    }
    Err(VaultError::MasterKeyMismatch {
        path: vault.root().to_path_buf(),
        checked: format!(
            "{blocks_bad} encrypted blocks failed authentication and {names_bad} of {} names failed to decrypt",
            names_ok + names_bad
        ),
    })
}
