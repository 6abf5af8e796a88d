//! `vaultdrill push`: guards, manifest, sync, remote check, record.

use std::io::{self, Write};

use serde::Serialize;
use vaultdrill::ExitStatus;
use vaultdrill::display::escape_path;
use vaultdrill::exclude::Excluder;
use vaultdrill::export::ReverseKeys;
use vaultdrill::format::config::{CONFIG_NAME, REVERSE_CONFIG_NAME};
use vaultdrill::manifest::store;
use vaultdrill::manifest::store::Stored;
use vaultdrill::push::run::{PushOptions, PushRecord, PushReport, PushSource, push, record_push};
use vaultdrill::push::{DeleteLimit, PushError, Remote, check_source};
use vaultdrill::rclone::Rclone;
use vaultdrill::registry::{self, Mode, Registry, RegistryError};
use vaultdrill::vault::UnlockedVault;

use super::UsageError;
use super::args::{Cli, PushArgs};
use super::output::{human_bytes, problem_line};
use super::progress::{Bar, sink};
use super::unlock::{Use, unlock, unlock_reverse};

#[derive(Serialize)]
struct JsonPush {
    status: ExitStatus,
    exit_code: i32,
    remote: String,
    rclone: Option<String>,
    manifest_entries: u64,
    manifest_hashed_files: u64,
    manifest_reused_files: u64,
    manifest_stored: &'static str,
    remote_objects_before: u64,
    deleted: u64,
    transferred_files: u64,
    transferred_bytes: u64,
    remote_objects: u64,
    remote_bytes: u64,
    hash_checked: Option<&'static str>,
    hashed_objects: u64,
    not_pushed: Vec<String>,
    seconds: f64,
    problems: Vec<String>,
}

fn stored_word(stored: &Stored) -> &'static str {
    match stored {
        Stored::First => "first",
        Stored::Replaced { .. } => "replaced",
        Stored::Unchanged { .. } => "unchanged",
    }
}

/// Fills what a registered vault's entry says and the command line does
/// not. A folder given as a path (with a remote) needs no registry.
fn resolve(args: &PushArgs, cli: &Cli) -> anyhow::Result<(PushArgs, String)> {
    let mut args = args.clone();
    if !(args.source.exists() && args.remote.is_some()) {
        let path = cli.registry.clone().unwrap_or_else(registry::default_path);
        let registry = Registry::load(&path).map_err(vaultdrill::Error::from)?;
        if let Some((name, entry)) = registry
            .resolve(&args.source)
            .map_err(vaultdrill::Error::from)?
        {
            args.source = entry.folder.clone();
            args.reverse |= entry.mode == Mode::Reverse;
            args.remote = args.remote.or_else(|| entry.remote.clone());
            let u = &mut args.unlock;
            let secret_given = u.passfile.is_some()
                || !u.extpass.is_empty()
                || u.masterkey_file.is_some()
                || u.masterkey_stdin;
            if !secret_given {
                u.passfile = entry.passfile.clone();
                u.extpass = entry.extpass.iter().cloned().collect();
                u.masterkey_file = entry.masterkey_file.clone();
            }
            u.config = u.config.take().or_else(|| entry.config.clone());
            args.transfers = args.transfers.or(entry.transfers);
            args.rclone_config = args.rclone_config.or_else(|| entry.rclone_config.clone());
            args.staging = args.staging.or_else(|| entry.staging.clone());
            if args.remote.is_none() {
                return Err(vaultdrill::Error::from(RegistryError::NoRemote {
                    name: name.to_string(),
                    path: registry.path.clone(),
                })
                .into());
            }
        }
    }
    let remote = args.remote.clone().ok_or_else(|| {
        UsageError::new(
            format!("{}: where to? REMOTE is missing", args.source.display()),
            "give a remote (`b2:bucket/vault`, `/media/usb/vault`) or register the vault \
             with one (see `vaultdrill vaults --help`)",
        )
    })?;
    Ok((args, remote))
}

pub fn run(args: &PushArgs, cli: &Cli) -> anyhow::Result<ExitStatus> {
    let (args, remote_text) = resolve(args, cli)?;
    let args = &args;
    // Guards and tools first: no password is asked for a push that cannot run.
    check_source(&args.source, args.reverse, args.unlock.config.as_deref())
        .map_err(vaultdrill::Error::from)?;
    let remote = Remote::parse(&remote_text);
    if remote.has_inline_secret() {
        return Err(vaultdrill::Error::from(PushError::InlineSecret {
            remote: remote.redacted(),
        })
        .into());
    }
    let rclone = match remote {
        Remote::Rclone(_) => Some(
            Rclone::find(args.rclone.as_deref(), args.rclone_config.as_deref())
                .map_err(vaultdrill::Error::from)?,
        ),
        Remote::Local(_) => None,
    };
    // One at a time per remote and per vault folder (released on exit).
    let source_key = format!(
        "vault {}",
        args.source
            .canonicalize()
            .unwrap_or_else(|_| args.source.clone())
            .display()
    );
    let _locks = vaultdrill::lock::acquire_all(
        &[vaultdrill::lock::remote_key(&remote), source_key],
        &format!("push of {} to {}", args.source.display(), remote.redacted()),
    )
    .map_err(vaultdrill::Error::from)?;
    let unlocked = if args.reverse {
        unlock_reverse_source(args)?
    } else {
        Unlocked {
            vault: unlock(&args.source, &args.unlock, cli.quiet, Use::Write)?,
            reverse_keys: None,
        }
    };
    let default_config = if args.reverse {
        REVERSE_CONFIG_NAME
    } else {
        CONFIG_NAME
    };
    let config = std::fs::read(
        args.unlock
            .config
            .clone()
            .unwrap_or_else(|| args.source.join(default_config)),
    )
    .ok();
    let excluder = Excluder::new(&args.exclude, &args.exclude_wildcard);
    let vault = &unlocked.vault;
    let source = match &unlocked.reverse_keys {
        None => PushSource::Forward(vault),
        Some(keys) => PushSource::Reverse {
            plaindir: &args.source,
            staging: vault,
            keys,
            excluder: &excluder,
        },
    };
    let bar = Bar::unless_json(args.json, cli.quiet);
    let progress = sink(&bar);
    let options = PushOptions {
        transfers: args.transfers.unwrap_or(4),
        checksum: args.checksum,
        max_delete: args.max_delete.unwrap_or(DeleteLimit::Default),
        force: args.force,
        upload_config: !args.no_config_upload,
        rclone: rclone.as_ref(),
        config: config.as_deref(),
        progress,
    };
    let result = push(&source, &remote, &options);
    if let Some(bar) = &bar {
        bar.finish();
    }
    let report = match result {
        Ok(report) => report,
        Err(error) => {
            if let PushError::LocalDamage { problems, .. }
            | PushError::ExportProblems { problems, .. } = &error
            {
                for p in problems {
                    eprintln!("vaultdrill: {}", problem_line(p));
                }
            }
            let status = error.status();
            let record = PushRecord {
                status: status.word().to_string(),
                exit_code: status.code(),
                error: Some(error.to_string()),
                ..PushRecord::now(&remote_text, &args.source)
            };
            if let Err(e) = record_push(vault.vault_id(), &record) {
                eprintln!(
                    "vaultdrill: NOTE the push could not be recorded in the state directory: {e}"
                );
            }
            return Err(vaultdrill::Error::from(error).into());
        }
    };
    // This push's own manifest (not the shared local copy, which another
    // push of the same vault may have replaced meanwhile).
    let record = PushRecord {
        manifest_created: Some(report.manifest.summary.created.clone()),
        manifest_records: Some(report.manifest.summary.trailer.records_blake3.clone()),
        ..PushRecord::from_report(&report, &args.source)
    };
    if let Err(e) = record_push(vault.vault_id(), &record) {
        eprintln!("vaultdrill: NOTE the push could not be recorded in the state directory: {e}");
    }
    // The status is decided: what happens to the output must not change it.
    Ok(super::print_then(report.status(), || {
        print_report(&report, args, rclone.as_ref(), cli)
    }))
}

/// The vault to push: a forward vault, or the staging folder of a reverse
/// one (read as the vault the remote gets) with the keys to export it.
struct Unlocked {
    vault: UnlockedVault,
    reverse_keys: Option<ReverseKeys>,
}

/// Unlocks the reverse vault whose plaintext folder is SOURCE; its staging
/// folder is read as the vault the remote gets.
fn unlock_reverse_source(args: &PushArgs) -> anyhow::Result<Unlocked> {
    let (layout, master_key, keys) = unlock_reverse(&args.source, &args.unlock)?;
    let staging = match &args.staging {
        Some(dir) => dir.clone(),
        None => store::cache_dir()
            .join(master_key.vault_id())
            .join("export"),
    };
    Ok(Unlocked {
        vault: UnlockedVault::new(staging, layout, &master_key),
        reverse_keys: Some(keys),
    })
}

fn print_report(
    report: &PushReport,
    args: &PushArgs,
    rclone: Option<&Rclone>,
    cli: &Cli,
) -> anyhow::Result<()> {
    let status = report.status();
    let m = &report.manifest;
    let (entries, hashed, reused, stored) = (
        m.summary.trailer.entries,
        m.summary.hashed_files,
        m.summary.reused_files,
        stored_word(&m.stored),
    );
    let problems: Vec<String> = report
        .forced
        .iter()
        .chain(&report.check.problems)
        .map(problem_line)
        .collect();
    let mut stdout = io::stdout().lock();
    if args.json {
        let json = JsonPush {
            status,
            exit_code: status.code(),
            remote: report.remote.clone(),
            rclone: rclone.map(|r| r.version().to_string()),
            manifest_entries: entries,
            manifest_hashed_files: hashed,
            manifest_reused_files: reused,
            manifest_stored: stored,
            remote_objects_before: report.plan.remote_objects,
            deleted: report.deleted,
            transferred_files: report.transferred_files,
            transferred_bytes: report.transferred_bytes,
            remote_objects: report.check.objects,
            remote_bytes: report.check.bytes,
            hash_checked: report.check.hash,
            hashed_objects: report.check.hashed,
            not_pushed: report.specials.iter().map(|p| escape_path(p)).collect(),
            seconds: report.elapsed.as_secs_f64(),
            problems,
        };
        super::write_json(&mut stdout, &json)?;
        return Ok(());
    }
    for line in &problems {
        eprintln!("vaultdrill: {line}");
    }
    if !report.forced.is_empty() {
        eprintln!(
            "vaultdrill: --force pushed a vault with {} damaged or unexported path(s), listed above",
            report.forced.len()
        );
    }
    for special in &report.specials {
        eprintln!(
            "vaultdrill: NOTE {}: a named pipe, socket or device node; no remote can hold it (it is in the manifest)",
            escape_path(special)
        );
    }
    if report.plan.remote_config_kept {
        eprintln!(
            "vaultdrill: NOTE the remote still holds a gocryptfs.conf from an earlier push (--no-config-upload leaves it alone)"
        );
    }
    if cli.quiet {
        return Ok(());
    }
    let verdict = match (status, report.check.hash) {
        (ExitStatus::Verified, Some(hash)) => format!(
            "every object present with its size, {} checked by {hash}, nothing unexpected",
            report.check.hashed
        ),
        (ExitStatus::Verified, None) => {
            "every object present with its size, nothing unexpected".to_string()
        }
        _ => format!("{} problem(s) listed above", problems.len()),
    };
    writeln!(
        stdout,
        "Manifest: {entries} entries, {hashed} files hashed, {reused} reused{}.\n\
         Pushed to {}: {} files sent ({}), {} deleted, in {:.1} s.",
        if stored == "unchanged" {
            ", unchanged"
        } else {
            ""
        },
        report.remote,
        report.transferred_files,
        human_bytes(report.transferred_bytes),
        report.deleted,
        report.elapsed.as_secs_f64(),
    )?;
    writeln!(
        stdout,
        "Remote check of {}: {} objects ({}): {verdict}.",
        report.remote,
        report.check.objects,
        human_bytes(report.check.bytes),
    )?;
    Ok(())
}
