//! `vaultdrill init` and `vaultdrill passwd`.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::SystemTime;

use vaultdrill::ExitStatus;
use vaultdrill::create::{CreateError, change_password, init_vault};
use vaultdrill::format::config::NewVaultOptions;
use vaultdrill::format::unlock::ScryptLimits;
use vaultdrill::recovery_kit::RecoveryKit;
use vaultdrill::secrets::{SecretSource, read_new_password, read_secret};
use vaultdrill::vault::{KeyProof, LockedVault};

use super::UsageError;
use super::args::{Cli, InitArgs, PasswdArgs};
use super::unlock::secret_source;

const REMINDER: &str = "\
If the gocryptfs.conf file becomes corrupted or you ever forget your password,
there is only one hope for recovery: The master key. Print it to a piece of
paper and store it in a drawer. This message is only printed once.";

fn new_password_source(passfile: &Option<std::path::PathBuf>, extpass: &[String]) -> SecretSource {
    match (passfile, extpass) {
        (Some(p), _) => SecretSource::Passfile(p.clone()),
        (None, []) => SecretSource::Interactive,
        (None, args) => SecretSource::Extpass(args.to_vec()),
    }
}

/// Creates the recovery sheet's file before the vault, so that a path
/// problem cannot leave a vault whose key nobody saw.
fn open_kit(path: &Path) -> anyhow::Result<File> {
    File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            UsageError::new(
                format!("{}: cannot create the recovery sheet: {e}", path.display()),
                "give a path to a new file in a folder you can write to",
            )
            .into()
        })
}

pub fn run_init(args: &InitArgs, cli: &Cli) -> anyhow::Result<ExitStatus> {
    let options = NewVaultOptions {
        plaintext_names: args.plaintextnames,
        aessiv: args.aessiv,
        xchacha: args.xchacha,
        deterministic_names: args.deterministic_names,
        long_name_max: args.longnamemax.unwrap_or(0),
        scrypt_log_n: args.scryptn,
        reverse: args.reverse,
    };
    let show_key = io::stdout().is_terminal() || args.print_masterkey;
    if !show_key && args.recovery_kit.is_none() {
        return Err(UsageError::new(
            "standard output is not a terminal, so the master key would be lost or end up in a log",
            "pass --recovery-kit FILE to save it, or --print-masterkey to print it anyway",
        )
        .into());
    }
    let mut kit_file = args.recovery_kit.as_deref().map(open_kit).transpose()?;
    let created = read_new_password(&new_password_source(&args.passfile, &args.extpass))
        .map_err(vaultdrill::Error::from)
        .and_then(|pw| {
            init_vault(&args.dir, &options, &pw, |config, master_key| {
                // The sheet is on disk before the vault exists.
                let (Some(file), Some(path)) = (kit_file.as_mut(), &args.recovery_kit) else {
                    return Ok(());
                };
                let kit = RecoveryKit {
                    vault_path: &args.dir,
                    reverse: args.reverse,
                    created: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
                    config,
                    master_key,
                };
                file.write_all(kit.render_markdown().as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|error| CreateError::Io {
                        path: path.clone(),
                        error,
                    })
            })
            .map_err(vaultdrill::Error::from)
        });
    let created = match created {
        Ok(c) => c,
        Err(e) => {
            // Nothing was created; the (empty or partial) sheet goes too.
            if let Some(path) = &args.recovery_kit {
                drop(kit_file.take());
                let _ = std::fs::remove_file(path);
            }
            return Err(e.into());
        }
    };
    let mut out = io::stdout().lock();
    if show_key {
        let key = created.master_key.to_printed_two_lines();
        writeln!(out, "\nYour master key is:\n")?;
        for line in key.lines() {
            writeln!(out, "    {line}")?;
        }
        writeln!(out, "\n{REMINDER}\n")?;
    }
    if !cli.quiet {
        let flags: Vec<&str> = created.config.flags().iter().map(|f| f.as_str()).collect();
        writeln!(
            out,
            "Created {} ({}).",
            created.config_path.display(),
            flags.join(" ")
        )?;
        if let Some(path) = &args.recovery_kit {
            writeln!(
                out,
                "Recovery sheet written to {} (mode 0600): print it, then delete the file.",
                path.display()
            )?;
        }
        if args.reverse {
            writeln!(
                out,
                "Upload the encrypted view: `gocryptfs -reverse {} MOUNTPOINT`.",
                args.dir.display()
            )?;
        } else {
            writeln!(
                out,
                "Mount it with `gocryptfs {} MOUNTPOINT`.",
                args.dir.display()
            )?;
        }
    }
    Ok(ExitStatus::Verified)
}

pub fn run_passwd(args: &PasswdArgs, cli: &Cli) -> anyhow::Result<ExitStatus> {
    let source = secret_source(&args.unlock)?;
    let locked = LockedVault::open(&args.dir, args.unlock.config.as_deref())
        .map_err(vaultdrill::Error::from)?;
    let secret =
        read_secret(&source, &args.dir.display().to_string()).map_err(vaultdrill::Error::from)?;
    let limits = ScryptLimits {
        max_memory: args.unlock.scrypt_max_memory.saturating_mul(1 << 20),
        ..ScryptLimits::default()
    };
    let (master_key, proof) = locked
        .master_key(secret, &limits)
        .map_err(vaultdrill::Error::from)?;
    if proof == KeyProof::Unproven && !args.force {
        return Err(UsageError::new(
            format!("{}: nothing in this vault proves the master key (too little data to check it against)", args.dir.display()),
            "a mistyped key would become the vault's key; check it, then pass --force",
        )
        .into());
    }
    let new_password =
        read_new_password(&new_password_source(&args.new_passfile, &args.new_extpass))
            .map_err(vaultdrill::Error::from)?;
    let backup = change_password(
        locked.config_path(),
        locked.config(),
        &master_key,
        &new_password,
        args.scryptn,
    )
    .map_err(vaultdrill::Error::from)?;
    if !cli.quiet {
        println!(
            "Password changed. The previous config is kept as {}: delete it once the new password works.",
            backup.display()
        );
    }
    Ok(ExitStatus::Verified)
}
