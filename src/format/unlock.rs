//! From password to master key: scrypt with the config's parameters (capped,
//! because a config may come from a hostile remote), then unwrapping
//! `EncryptedKey` with AES-256-GCM.

use thiserror::Error;
use zeroize::Zeroizing;

use super::config::{FeatureFlag, ScryptParams, VaultConfig};
use super::content::{open_key_wrap, seal_key_wrap};
use super::keys::{KEY_LEN, MasterKey, Password};

/// How much work a config may demand from scrypt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScryptLimits {
    /// Bytes of memory (128 · N · r). The default, 4 GiB, admits N = 2^22
    /// at r = 8; `gocryptfs -init` uses 2^16 (64 MiB) unless told otherwise.
    pub max_memory: u64,
    /// Bound on the parallelism parameter P (gocryptfs always writes 1).
    pub max_p: u64,
}

impl Default for ScryptLimits {
    fn default() -> Self {
        ScryptLimits {
            max_memory: 4 << 30,
            max_p: 16,
        }
    }
}

#[derive(Debug, Error)]
pub enum UnlockError {
    #[error("wrong password: it does not open this vault's EncryptedKey")]
    WrongPassword,
    #[error("this vault's key is protected by a FIDO2 token, not a password")]
    Fido2,
    #[error(
        "the config asks scrypt for N=2^{log_n}, R={r}, P={p} ({mib} MiB of memory), above the safety cap of {cap_mib} MiB"
    )]
    ScryptTooExpensive {
        log_n: u8,
        r: u64,
        p: u64,
        mib: u128,
        cap_mib: u64,
    },
    #[error("invalid scrypt parameters")]
    ScryptParams,
    #[error("EncryptedKey has {0} bytes; expected {1}")]
    EncryptedKeyLength(usize, usize),
}

fn derive_kek(
    params: &ScryptParams,
    password: &Password,
    limits: &ScryptLimits,
) -> Result<Zeroizing<[u8; KEY_LEN]>, UnlockError> {
    params.validate().map_err(|_| UnlockError::ScryptParams)?;
    if params.memory_bytes() > u128::from(limits.max_memory) || params.p > limits.max_p {
        return Err(UnlockError::ScryptTooExpensive {
            log_n: params.log_n(),
            r: params.r,
            p: params.p,
            mib: params.memory_bytes() >> 20,
            cap_mib: limits.max_memory >> 20,
        });
    }
    let r = u32::try_from(params.r).map_err(|_| UnlockError::ScryptParams)?;
    let p = u32::try_from(params.p).map_err(|_| UnlockError::ScryptParams)?;
    let scrypt_params =
        scrypt::Params::new(params.log_n(), r, p).map_err(|_| UnlockError::ScryptParams)?;
    let mut kek = Zeroizing::new([0u8; KEY_LEN]);
    scrypt::scrypt(password.bytes(), &params.salt, &scrypt_params, &mut kek[..])
        .map_err(|_| UnlockError::ScryptParams)?;
    Ok(kek)
}

/// Opens the master key of `config` with `password`.
pub fn unlock_with_password(
    config: &VaultConfig,
    password: &Password,
    limits: &ScryptLimits,
) -> Result<MasterKey, UnlockError> {
    if config.has(FeatureFlag::FIDO2) {
        return Err(UnlockError::Fido2);
    }
    let hkdf = config.has(FeatureFlag::HKDF);
    let expected = if hkdf { 16 } else { 12 } + KEY_LEN + 16;
    if config.encrypted_key.len() != expected {
        return Err(UnlockError::EncryptedKeyLength(
            config.encrypted_key.len(),
            expected,
        ));
    }
    let kek = derive_kek(&config.scrypt, password, limits)?;
    let plain =
        open_key_wrap(&kek, hkdf, &config.encrypted_key).ok_or(UnlockError::WrongPassword)?;
    let mut bytes: [u8; KEY_LEN] = plain
        .as_slice()
        .try_into()
        .map_err(|_| UnlockError::WrongPassword)?;
    Ok(MasterKey::from_bytes(&mut bytes))
}

/// Fills a config's key material: a fresh salt and `EncryptedKey` (the
/// master key wrapped under `password`, as gocryptfs's `EncryptKey`).
/// `nonce` is 16 bytes with HKDF, 12 without. Used by init and passwd.
pub fn seal_master_key(
    config: &mut VaultConfig,
    master_key: &MasterKey,
    password: &Password,
    log_n: u8,
    salt: [u8; 32],
    nonce: &[u8],
) -> Result<(), UnlockError> {
    config.scrypt = ScryptParams {
        salt: salt.to_vec(),
        n: 1u64 << log_n,
        r: 8,
        p: 1,
        key_len: 32,
    };
    config.encrypted_key = wrap_master_key(
        master_key,
        password,
        &config.scrypt,
        config.has(FeatureFlag::HKDF),
        nonce,
    )?;
    Ok(())
}

/// Wraps `master_key` under `password` into `EncryptedKey` bytes, as
/// gocryptfs's `EncryptKey` does. `nonce` is 16 bytes with HKDF, 12 without.
pub fn wrap_master_key(
    master_key: &MasterKey,
    password: &Password,
    params: &ScryptParams,
    hkdf: bool,
    nonce: &[u8],
) -> Result<Vec<u8>, UnlockError> {
    let kek = derive_kek(
        params,
        password,
        &ScryptLimits {
            max_memory: u64::MAX,
            max_p: u64::MAX,
        },
    )?;
    seal_key_wrap(&kek, hkdf, nonce, master_key.bytes()).ok_or(UnlockError::ScryptParams)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_with(flags: &[&str], n: u64) -> VaultConfig {
        let text = format!(
            r#"{{"Creator":"t","EncryptedKey":"","ScryptObject":{{"Salt":"{}","N":{n},"R":8,"P":1,"KeyLen":32}},"Version":2,"FeatureFlags":[{}]}}"#,
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            flags
                .iter()
                .map(|f| format!("\"{f}\""))
                .collect::<Vec<_>>()
                .join(",")
        );
        VaultConfig::parse(text.as_bytes()).unwrap()
    }

    fn pw(s: &str) -> Password {
        Password::new(Zeroizing::new(s.as_bytes().to_vec())).unwrap()
    }

    #[test]
    fn wrap_then_unlock_with_and_without_hkdf() {
        for (flags, nonce_len) in [(&["HKDF", "GCMIV128"][..], 16), (&["GCMIV128"][..], 12)] {
            let mut cfg = config_with(flags, 1024);
            let mk = MasterKey::from_bytes(&mut [0x5a; 32]);
            cfg.encrypted_key = wrap_master_key(
                &mk,
                &pw("secret"),
                &cfg.scrypt,
                cfg.has(FeatureFlag::HKDF),
                &vec![7; nonce_len],
            )
            .unwrap();
            assert_eq!(cfg.encrypted_key.len(), nonce_len + 48);
            let got = unlock_with_password(&cfg, &pw("secret"), &ScryptLimits::default()).unwrap();
            assert_eq!(got.bytes(), mk.bytes());
            assert!(matches!(
                unlock_with_password(&cfg, &pw("Secret"), &ScryptLimits::default()),
                Err(UnlockError::WrongPassword)
            ));
        }
    }

    #[test]
    fn caps_hostile_scrypt_cost_before_computing() {
        let mut cfg = config_with(&["HKDF", "GCMIV128"], 1 << 30);
        cfg.encrypted_key = vec![1; 64];
        let Err(err) = unlock_with_password(&cfg, &pw("x"), &ScryptLimits::default()) else {
            panic!("a hostile scrypt cost was accepted");
        };
        assert!(
            matches!(err, UnlockError::ScryptTooExpensive { log_n: 30, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("1048576 MiB"), "{err}");
    }

    #[test]
    fn fido2_is_refused_with_its_own_error() {
        let mut cfg = config_with(&["HKDF", "GCMIV128", "FIDO2"], 1024);
        cfg.encrypted_key = vec![1; 64];
        assert!(matches!(
            unlock_with_password(&cfg, &pw("x"), &ScryptLimits::default()),
            Err(UnlockError::Fido2)
        ));
    }
}
