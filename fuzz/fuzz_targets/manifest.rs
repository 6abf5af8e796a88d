//! Manifests as a damaged or tampered vault could hold them: every line
//! read, paths decoded, the trailer checked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaultdrill::manifest::ManifestReader;

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = ManifestReader::new(data) else {
        return;
    };
    let _ = reader.header();
    loop {
        match reader.next_record() {
            Ok(Some(record)) => {
                let _ = record.plain_path();
                let _ = record.is_plain_entry();
                if let Some(hex) = &record.target_hex {
                    let _ = vaultdrill::manifest::unhex(hex);
                }
            }
            Ok(None) => {
                let _ = reader.finish();
                return;
            }
            Err(_) => return,
        }
    }
});
