//! gocryptfs.conf as a hostile remote could hand it over: parsed,
//! validated, its layout derived, and unlocked with a password under a
//! tight scrypt cap (a huge N must be refused, not attempted).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaultdrill::format::config::VaultConfig;
use vaultdrill::format::derive_ciphers;
use vaultdrill::format::keys::{MasterKey, Password};
use vaultdrill::format::unlock::{ScryptLimits, unlock_with_password};
use zeroize::Zeroizing;

fuzz_target!(|data: &[u8]| {
    // Key files too: the printed master key as users type it.
    let _ = MasterKey::parse(data);
    let Ok(config) = VaultConfig::parse(data) else {
        return;
    };
    let _ = config.to_gocryptfs_json();
    if config.validate().is_err() {
        return;
    }
    let layout = config.layout();
    let key = MasterKey::from_bytes(&mut [7u8; 32]);
    let _ = derive_ciphers(&layout, &key);
    let limits = ScryptLimits {
        max_memory: 1 << 20,
        max_p: 2,
    };
    if let Some(password) = Password::new(Zeroizing::new(b"fuzz".to_vec())) {
        let _ = unlock_with_password(&config, &password, &limits);
    }
});
