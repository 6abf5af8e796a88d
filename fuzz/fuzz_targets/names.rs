//! Encrypted names as a hostile remote could store them: base64 (both
//! variants), EME, unpadding and the validity rules (no `/`, NUL, `.`,
//! `..`), dirivs, long-name classification and `.name` sidecars. The first
//! byte picks HKDF and the encoding, the next 16 are the folder's IV.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaultdrill::format::keys::MasterKey;
use vaultdrill::format::longname::{self, LongNameKind};
use vaultdrill::format::names::{DirIv, NameCipher, NameEncoding, validate_plain_name};

fuzz_target!(|data: &[u8]| {
    if data.len() < 17 {
        return;
    }
    let (flags, rest) = data.split_at(1);
    let (iv, name) = rest.split_at(16);
    let encoding = if flags[0] & 1 == 0 {
        NameEncoding::Raw64
    } else {
        NameEncoding::Padded
    };
    let key = MasterKey::from_bytes(&mut [3u8; 32]);
    let cipher = NameCipher::new(&key, flags[0] & 2 == 0, encoding);
    let Ok(iv) = DirIv::parse(iv) else {
        return;
    };
    let _ = DirIv::parse(name);
    let text = String::from_utf8_lossy(name);
    if let Ok(plain) = cipher.decrypt(&text, &iv) {
        // Whatever decrypts is either refused or a legal name that
        // encrypts back to a name that decrypts to it.
        if validate_plain_name(&plain).is_ok() {
            let again = cipher.encrypt(&plain, &iv).expect("a valid name encrypts");
            assert_eq!(cipher.decrypt(&again, &iv).expect("decrypts"), plain);
        }
    }
    if let LongNameKind::Hashed = longname::classify(&text) {
        let _ = longname::parse_sidecar(&text, name, encoding);
    }
    let _ = longname::parse_sidecar(&longname::hashed_name(&text, encoding), name, encoding);
});
