//! Arbitrary file contents decrypted as a vault file would be: header,
//! sizes, short and cut blocks, holes, every block's authentication; and
//! arbitrary stored symlink targets. The first byte picks the cipher and
//! HKDF.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use vaultdrill::format::content::ContentAlgorithm;
use vaultdrill::format::keys::MasterKey;
use vaultdrill::format::layout::NameMode;
use vaultdrill::format::names::NameEncoding;
use vaultdrill::format::{VaultLayout, derive_ciphers, symlink};
use vaultdrill::vault::UnlockedVault;
use vaultdrill::vault::file::{CipherFile, PlainChunk};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let content = match pick % 3 {
        0 => ContentAlgorithm::AesGcm,
        1 => ContentAlgorithm::AesSiv,
        _ => ContentAlgorithm::XChaCha20Poly1305,
    };
    let layout = VaultLayout {
        content,
        hkdf: content == ContentAlgorithm::XChaCha20Poly1305 || pick & 4 == 0,
        names: NameMode::Encrypted {
            dir_iv: true,
            raw64: true,
            long_name_max: 255,
        },
    };
    let key = MasterKey::from_bytes(&mut [5u8; 32]);
    // Sizes both ways never panic.
    let n = bytes.len() as u64;
    let _ = content.cipher_size(content.plain_size(n));

    // A stored symlink target.
    let (ciphers, _) = derive_ciphers(&layout, &key);
    let _ = symlink::decrypt_target(
        &mut ciphers.opener(),
        NameEncoding::Raw64,
        &String::from_utf8_lossy(bytes),
    );

    // The bytes as a file of the vault.
    let Ok(mut file) = tempfile::tempfile() else {
        return;
    };
    if file.write_all(bytes).is_err() {
        return;
    }
    let vault = UnlockedVault::new(std::env::temp_dir(), layout, &key);
    let Ok(cipher) = CipherFile::from_file(&vault, file) else {
        return;
    };
    let mut opener = vault.content().opener();
    let (mut cbuf, mut plain) = (Vec::new(), PlainChunk::default());
    for index in 0..cipher.chunk_count() {
        if cipher
            .decrypt_chunk(&mut opener, index, &mut cbuf, &mut plain)
            .is_err()
        {
            break;
        }
        assert!(plain.data.len() as u64 <= cipher.plain_size());
    }
});
