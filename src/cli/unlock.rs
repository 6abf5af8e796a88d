//! Turning the unlock options into an unlocked vault.

use std::path::Path;

use vaultdrill::format::unlock::ScryptLimits;
use vaultdrill::secrets::{SecretSource, read_secret};
use vaultdrill::vault::detect::{Hints, detect_layout};
use vaultdrill::vault::{LockedVault, Secret, UnlockedVault, VaultError};

use super::UsageError;
use super::args::UnlockArgs;

/// Unlocks the reverse vault whose plaintext folder is `plaindir`: its
/// layout, master key and the keys that derive its encrypted view.
pub fn unlock_reverse(
    plaindir: &Path,
    args: &UnlockArgs,
) -> anyhow::Result<(
    vaultdrill::format::layout::VaultLayout,
    vaultdrill::format::keys::MasterKey,
    vaultdrill::export::ReverseKeys,
)> {
    let source = secret_source(args)?;
    let locked =
        LockedVault::open(plaindir, args.config.as_deref()).map_err(vaultdrill::Error::from)?;
    if locked.kind() != vaultdrill::vault::VaultKind::ReversePlaintext {
        return Err(UsageError::new(
            format!(
                "{}: not the plaintext folder of a reverse vault (no .gocryptfs.reverse.conf)",
                plaindir.display()
            ),
            "create one with `vaultdrill init --reverse PLAINDIR` (or gocryptfs -init -reverse)",
        )
        .into());
    }
    let secret =
        read_secret(&source, &plaindir.display().to_string()).map_err(vaultdrill::Error::from)?;
    let limits = ScryptLimits {
        max_memory: args.scrypt_max_memory.saturating_mul(1 << 20),
        ..ScryptLimits::default()
    };
    let (master_key, _) = locked
        .master_key(secret, &limits)
        .map_err(vaultdrill::Error::from)?;
    let layout = locked.config().layout();
    let keys = vaultdrill::export::ReverseKeys::new(layout, &master_key)
        .map_err(vaultdrill::Error::from)?;
    Ok((layout, master_key, keys))
}

/// Which secret source the options name.
pub fn secret_source(args: &UnlockArgs) -> Result<SecretSource, UsageError> {
    if args.password.is_some() {
        return Err(UsageError::new(
            "--password is not accepted: a password on the command line is visible in `ps` and shell history",
            "use --passfile FILE, --extpass CMD, or type it at the prompt",
        ));
    }
    if let Some(value) = &args.masterkey {
        if value == "stdin"
            && args.passfile.is_none()
            && args.extpass.is_empty()
            && args.masterkey_file.is_none()
        {
            return Ok(SecretSource::MasterKeyStdin);
        }
        return Err(UsageError::new(
            "--masterkey KEY is not accepted: a key on the command line is visible in `ps` and shell history",
            "use --masterkey-file FILE or --masterkey-stdin",
        ));
    }
    Ok(if let Some(p) = &args.passfile {
        SecretSource::Passfile(p.clone())
    } else if !args.extpass.is_empty() {
        SecretSource::Extpass(args.extpass.clone())
    } else if let Some(p) = &args.masterkey_file {
        SecretSource::MasterKeyFile(p.clone())
    } else if args.masterkey_stdin {
        SecretSource::MasterKeyStdin
    } else {
        SecretSource::Interactive
    })
}

/// What the unlocked vault will be used for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Use {
    Read,
    Write,
}

/// Opens and unlocks the vault at `dir` as the options say. With a master
/// key and no config, the flags are detected from the ciphertext (for
/// reading only: writing with a guessed flag could make new names
/// unreadable once the real config is back).
pub fn unlock(
    dir: &Path,
    args: &UnlockArgs,
    quiet: bool,
    usage: Use,
) -> anyhow::Result<UnlockedVault> {
    let source = secret_source(args)?;
    let is_key = matches!(
        source,
        SecretSource::MasterKeyFile(_) | SecretSource::MasterKeyStdin
    );
    let locked = match LockedVault::open(dir, args.config.as_deref()) {
        Err(VaultError::ConfigMissing(_)) if usage == Use::Write => {
            return Err(UsageError::new(
                format!(
                    "{}: gocryptfs.conf is missing; writing needs the vault's real flags",
                    dir.display()
                ),
                "rebuild the config first: `vaultdrill regen-config DIR --masterkey-file FILE`",
            )
            .into());
        }
        Err(VaultError::ConfigMissing(_) | VaultError::NotAVault(_))
            if is_key && args.config.is_none() =>
        {
            let Secret::MasterKey(key) = read_secret(&source, &dir.display().to_string())
                .map_err(vaultdrill::Error::from)?
            else {
                unreachable!("a master-key source yields a master key");
            };
            let detection =
                detect_layout(dir, &key, &Hints::default()).map_err(vaultdrill::Error::from)?;
            if !quiet {
                eprintln!(
                    "vaultdrill: gocryptfs.conf is missing; flags detected from the ciphertext with the master key:\n{}",
                    super::cmd_regen::findings_text(&detection)
                );
            }
            return Ok(UnlockedVault::new(
                dir.to_path_buf(),
                detection.layout,
                &key,
            ));
        }
        other => other.map_err(vaultdrill::Error::from)?,
    };
    // Say so before asking for a password that cannot help.
    locked.require_forward().map_err(vaultdrill::Error::from)?;
    let secret =
        read_secret(&source, &dir.display().to_string()).map_err(vaultdrill::Error::from)?;
    let limits = ScryptLimits {
        max_memory: args.scrypt_max_memory.saturating_mul(1 << 20),
        ..ScryptLimits::default()
    };
    Ok(locked
        .unlock(secret, &limits)
        .map_err(vaultdrill::Error::from)?)
}
