//! `vaultdrill restore`: secrets and the destination in, a report out.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use vaultdrill::ExitStatus;
use vaultdrill::display::shell_word;
use vaultdrill::format::unlock::ScryptLimits;
use vaultdrill::manifest::store;
use vaultdrill::push::Remote;
use vaultdrill::rclone::Rclone;
use vaultdrill::restore::{self, Key, ManifestChoice, RestoreOptions, dest, report};
use vaultdrill::secrets::{SecretSource, read_secret};
use vaultdrill::selection::Selection;
use vaultdrill::vault::Secret;

use super::args::{Cli, RestoreArgs};
use super::progress::{Bar, sink};

/// The destination whose work folder an interrupt clears (the marker
/// stays: the same command resumes).
static DEST: Mutex<Option<PathBuf>> = Mutex::new(None);

fn clear_work_on_interrupt() {
    let _ = ctrlc::set_handler(|| {
        if let Some(dest) = DEST.lock().ok().and_then(|mut s| s.take()) {
            let _ = dest::clear_work(&dest.join(dest::WORK_DIR));
            eprintln!(
                "vaultdrill: interrupted; what is restored in {} stays, verified; run the same \
                 command again to finish",
                dest.display()
            );
        }
        std::process::exit(130);
    });
}

/// Fills what a registered vault's entry says and the command line does not.
fn resolve(args: &RestoreArgs, cli: &Cli) -> anyhow::Result<RestoreArgs> {
    let mut args = args.clone();
    if let Some((remote, entry)) = super::registered_remote(&args.source, cli)? {
        args.source = remote;
        if args.passfile.is_none() && args.extpass.is_empty() && args.masterkey_file.is_none() {
            args.passfile = entry.passfile.clone();
            args.extpass = entry.extpass.iter().cloned().collect();
            if args.passfile.is_none() && args.extpass.is_empty() {
                args.masterkey_file = entry.masterkey_file.clone();
            }
        }
        args.transfers = args.transfers.or(entry.transfers);
        args.rclone_config = args.rclone_config.or_else(|| entry.rclone_config.clone());
    }
    Ok(args)
}

pub fn run(args: &RestoreArgs, cli: &Cli) -> anyhow::Result<ExitStatus> {
    let args = resolve(args, cli)?;
    let source = Remote::parse(&args.source);
    if source.has_inline_secret() {
        return Err(
            vaultdrill::Error::from(vaultdrill::push::PushError::InlineSecret {
                remote: source.redacted(),
            })
            .into(),
        );
    }
    let selection = Selection::parse(&args.paths).map_err(vaultdrill::Error::from)?;
    // Not while a push changes the remote, nor two restores into one folder.
    let dest_key = format!(
        "restore into {}",
        vaultdrill::decrypt::resolve_lexically(&args.dest)
            .unwrap_or_else(|_| args.dest.clone())
            .display()
    );
    let _locks = vaultdrill::lock::acquire_all(
        &[vaultdrill::lock::remote_key(&source), dest_key],
        &format!(
            "restore of {} into {}",
            source.redacted(),
            args.dest.display()
        ),
    )
    .map_err(vaultdrill::Error::from)?;
    let rclone = match source {
        Remote::Rclone(_) => Some(
            Rclone::find(args.rclone.as_deref(), args.rclone_config.as_deref())
                .map_err(vaultdrill::Error::from)?,
        ),
        Remote::Local(_) => None,
    };
    // Secrets: read once, never on a command line, wiped after use.
    let key_source = match (
        &args.masterkey_file,
        &args.passfile,
        args.extpass.is_empty(),
    ) {
        (Some(file), _, _) => SecretSource::MasterKeyFile(file.clone()),
        (None, Some(file), _) => SecretSource::Passfile(file.clone()),
        (None, None, false) => SecretSource::Extpass(args.extpass.clone()),
        (None, None, true) => SecretSource::Interactive,
    };
    let key = match read_secret(&key_source, &args.source).map_err(vaultdrill::Error::from)? {
        Secret::Password(p) => Key::Password(p),
        Secret::MasterKey(k) => Key::MasterKey(k),
    };
    let manifest = match &args.manifest {
        None => ManifestChoice::Current,
        Some(text) if Path::new(text).is_file() => ManifestChoice::File(PathBuf::from(text)),
        Some(text) => ManifestChoice::Version(text.clone()),
    };
    // The same command (it resumes), without secrets: where they come from.
    let word = |p: &Path| shell_word(&p.display().to_string());
    let mut line = format!(
        "vaultdrill restore {} {}",
        shell_word(&args.source),
        word(&args.dest)
    );
    for p in &args.paths {
        line.push_str(&format!(" --path {}", word(p)));
    }
    match (&args.masterkey_file, &args.passfile) {
        (Some(f), _) => line.push_str(&format!(" --masterkey-file {}", word(f))),
        (None, Some(f)) => line.push_str(&format!(" --passfile {}", word(f))),
        _ => {
            for part in &args.extpass {
                line.push_str(&format!(" --extpass {}", shell_word(part)));
            }
        }
    }
    if let Some(m) = &args.manifest {
        line.push_str(&format!(" --manifest {}", shell_word(m)));
    }
    if args.force {
        line.push_str(" --force");
    }
    if let Some(n) = args.transfers {
        line.push_str(&format!(" --transfers {n}"));
    }
    if let Some(b) = args.batch {
        line.push_str(&format!(" --batch {b}B"));
    }
    if let Some(c) = &args.rclone_config {
        line.push_str(&format!(" --rclone-config {}", word(c)));
    }
    if let Some(r) = &args.rclone {
        line.push_str(&format!(" --rclone {}", word(r)));
    }
    let mut reproduce = vec![line];
    if let Remote::Rclone(r) = &source {
        reproduce.push(format!("rclone lsjson -R --files-only {}", shell_word(r)));
    }
    if let Ok(mut slot) = DEST.lock() {
        *slot = Some(args.dest.clone());
    }
    clear_work_on_interrupt();
    let bar = Bar::unless_json(args.json, cli.quiet);
    let options = RestoreOptions {
        source: source.clone(),
        rclone: rclone.as_ref(),
        dest: args.dest.clone(),
        selection,
        manifest,
        force: args.force,
        transfers: args.transfers.unwrap_or(8),
        batch_bytes: args.batch,
        scrypt_limits: ScryptLimits {
            max_memory: args.scrypt_max_memory.saturating_mul(1 << 20),
            ..ScryptLimits::default()
        },
        progress: sink(&bar),
        reproduce,
    };
    let outcome = restore::restore(&options, key);
    if let Some(bar) = &bar {
        bar.finish();
    }
    if let Ok(mut slot) = DEST.lock() {
        slot.take();
    }
    let outcome = outcome.map_err(vaultdrill::Error::from)?;

    // The report: --report FILE, else the state directory's reports.
    let mut after: Vec<String> = Vec::new();
    let report_path = match &args.report {
        Some(p) => Some(p.clone()),
        None => match store::reports_dir() {
            Ok(dir) => Some(dir.join(format!(
                "restore-{}.md",
                outcome.started.replace([':', '-'], "")
            ))),
            Err(e) => {
                after.push(format!(
                    "{}: creating the reports folder: {e}; give --report FILE",
                    store::state_dir().join("reports").display()
                ));
                None
            }
        },
    };
    if let Some(path) = &report_path
        && let Err(e) = store::write_report(path, &report::markdown(&outcome))
    {
        after.push(format!(
            "{}: writing the report: {e}; give --report FILE in a writable folder",
            path.display()
        ));
    }
    // A report that could not be written turns only a success into 4.
    let verdict = super::verdict_after(outcome.verdict, &after);
    let print = || -> anyhow::Result<()> {
        let mut out = io::stdout().lock();
        if args.json {
            super::write_json(&mut out, &outcome)?;
        } else {
            for (step, f) in outcome.findings() {
                eprintln!("vaultdrill: {} (see {})", f.line(), step.runbook);
            }
            if !cli.quiet {
                writeln!(out, "{}", report::headline(&outcome).replace('`', ""))?;
                write!(
                    out,
                    "{}",
                    vaultdrill::drill::report::step_lines(&outcome.steps)
                )?;
                if !outcome.still_owed.is_empty() {
                    writeln!(
                        out,
                        "An earlier, unfinished restore into this folder (of {}) is not finished: \
                     run it again.",
                        outcome.still_owed.join(", ")
                    )?;
                }
                if let Some(path) = &report_path {
                    writeln!(out, "Report: {}", path.display())?;
                }
            }
        }
        Ok(())
    };
    Ok(super::print_then(verdict, print))
}
