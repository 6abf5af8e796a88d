//! `vaultdrill drill`: secrets and scratch in, reports out.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use vaultdrill::ExitStatus;
use vaultdrill::display::shell_word;
use vaultdrill::drill::report;
use vaultdrill::drill::run::{Choice, DrillOptions, drill};
use vaultdrill::drill::sample::SampleSize;
use vaultdrill::drill::state::{self, DrillRecord};
use vaultdrill::format::unlock::ScryptLimits;
use vaultdrill::manifest::store;
use vaultdrill::push::Remote;
use vaultdrill::rclone::Rclone;
use vaultdrill::secrets::{SecretSource, read_secret};
use vaultdrill::vault::Secret;

use super::UsageError;
use super::args::{Cli, DrillArgs};
use super::progress::{Bar, sink};

/// The scratch folder to remove if the drill is interrupted.
static SCRATCH: Mutex<Option<PathBuf>> = Mutex::new(None);

fn remove_scratch_on_interrupt() {
    let _ = ctrlc::set_handler(|| {
        if let Some(dir) = SCRATCH.lock().ok().and_then(|mut s| s.take()) {
            // A cross-check's mount first (lazily: it may be busy).
            let mnt = dir.join("mnt");
            if mnt.exists() {
                let _ = std::process::Command::new("fusermount3")
                    .arg("-u")
                    .arg("-z")
                    .arg(&mnt)
                    .stderr(std::process::Stdio::null())
                    .status();
            }
            let _ = std::fs::remove_dir_all(&dir);
            eprintln!(
                "vaultdrill: interrupted; the scratch folder {} was removed",
                dir.display()
            );
        }
        std::process::exit(130);
    });
}

/// Fills what a registered vault's entry says and the command line does not.
fn resolve(args: &DrillArgs, cli: &Cli) -> anyhow::Result<DrillArgs> {
    let mut args = args.clone();
    if let Some((remote, entry)) = super::registered_remote(&args.remote, cli)? {
        args.remote = remote;
        if args.passfile.is_none() && args.extpass.is_empty() && !args.no_password {
            args.passfile = entry.passfile.clone();
            args.extpass = entry.extpass.iter().cloned().collect();
        }
        if args.masterkey_file.is_none() && !args.no_masterkey {
            args.masterkey_file = entry.masterkey_file.clone();
        }
        args.transfers = args.transfers.or(entry.transfers);
        args.rclone_config = args.rclone_config.or_else(|| entry.rclone_config.clone());
        if args.sample.is_none() {
            args.sample = entry
                .drill
                .sample
                .as_deref()
                .and_then(|s| s.parse::<SampleSize>().ok());
        }
    }
    Ok(args)
}

pub fn run(args: &DrillArgs, cli: &Cli) -> anyhow::Result<ExitStatus> {
    let args = resolve(args, cli)?;
    let remote = Remote::parse(&args.remote);
    if remote.has_inline_secret() {
        return Err(
            vaultdrill::Error::from(vaultdrill::push::PushError::InlineSecret {
                remote: remote.redacted(),
            })
            .into(),
        );
    }
    // One at a time per remote, with pushes too (released on exit).
    let _locks = vaultdrill::lock::acquire_all(
        &[vaultdrill::lock::remote_key(&remote)],
        &format!("drill of {}", remote.redacted()),
    )
    .map_err(vaultdrill::Error::from)?;
    if args.masterkey_file.is_none() && !args.no_masterkey && !args.audit_only {
        return Err(UsageError::new(
            format!(
                "{}: the drill proves the master key too, and none was given",
                args.remote
            ),
            "give --masterkey-file FILE (the key gocryptfs printed at -init, or the recovery \
             sheet's), or --no-masterkey to skip that proof (the report will say so)",
        )
        .into());
    }
    let rclone = match remote {
        Remote::Rclone(_) => Some(
            Rclone::find(args.rclone.as_deref(), args.rclone_config.as_deref())
                .map_err(vaultdrill::Error::from)?,
        ),
        Remote::Local(_) => None,
    };
    // Secrets: read once, never on a command line, wiped after use.
    let password = if args.no_password {
        None
    } else {
        let source = match (&args.passfile, args.extpass.is_empty()) {
            (Some(file), _) => SecretSource::Passfile(file.clone()),
            (None, false) => SecretSource::Extpass(args.extpass.clone()),
            (None, true) => SecretSource::Interactive,
        };
        match read_secret(&source, &args.remote).map_err(vaultdrill::Error::from)? {
            Secret::Password(p) => Some(p),
            Secret::MasterKey(_) => None,
        }
    };
    let master_key = match &args.masterkey_file {
        None => None,
        Some(file) => match read_secret(&SecretSource::MasterKeyFile(file.clone()), &args.remote)
            .map_err(vaultdrill::Error::from)?
        {
            Secret::MasterKey(k) => Some(k),
            Secret::Password(_) => None,
        },
    };

    let parent = args.scratch.clone().unwrap_or_else(std::env::temp_dir);
    // What killed drills left here (ciphertext, a decrypted manifest) goes.
    for dir in vaultdrill::drill::scratch::sweep(&parent) {
        eprintln!(
            "vaultdrill: NOTE removed {}, left by a drill that was killed",
            dir.display()
        );
    }
    let scratch = tempfile::Builder::new()
        .prefix(vaultdrill::drill::scratch::PREFIX)
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir_in(&parent)
        .map_err(|e| {
            anyhow::anyhow!(
                "{}: cannot create the scratch folder: {e}",
                parent.display()
            )
        })?;
    vaultdrill::drill::scratch::mark(scratch.path()).map_err(|e| {
        anyhow::anyhow!(
            "{}: cannot write in the scratch folder: {e}",
            scratch.path().display()
        )
    })?;
    if let Ok(mut slot) = SCRATCH.lock() {
        *slot = Some(scratch.path().to_path_buf());
    }
    remove_scratch_on_interrupt();

    let sample = args.sample.unwrap_or(SampleSize::Percent(5.0));
    let random = || {
        let mut b = [0u8; 8];
        let _ = getrandom::fill(&mut b);
        u64::from_le_bytes(b) >> 16
    };
    let (choice, seed) = match (args.seed, args.subset) {
        (Some(seed), _) => (Choice::Seeded(seed), Some(seed)),
        (None, Some((k, n))) => (Choice::Subset(k, n), None),
        (None, None) if args.no_state => {
            let seed = random();
            (Choice::Seeded(seed), Some(seed))
        }
        (None, None) => (Choice::Rotation(random()), None),
    };
    let transfers = args.transfers.unwrap_or(4);
    let mut reproduce = vec![format!(
        "vaultdrill drill {} {}{}{}{}",
        shell_word(&args.remote),
        match (choice, seed) {
            (Choice::Subset(k, n), _) => format!("--subset {k}/{n}"),
            (_, Some(seed)) => format!("--sample {} --seed {seed}", sample.cli_form()),
            // The rotation moves on: the same command drills the next files.
            _ => format!("--sample {}", sample.cli_form()),
        },
        match (&args.passfile, args.no_password) {
            (_, true) => " --no-password".to_string(),
            (Some(f), _) => format!(" --passfile {}", shell_word(&f.display().to_string())),
            _ => String::new(),
        },
        match (&args.masterkey_file, args.no_masterkey) {
            (_, true) => " --no-masterkey".to_string(),
            (Some(f), _) => format!(" --masterkey-file {}", shell_word(&f.display().to_string())),
            _ => String::new(),
        },
        args.rclone_config
            .as_ref()
            .map(|c| format!(" --rclone-config {}", shell_word(&c.display().to_string())))
            .unwrap_or_default()
    )];
    if let Remote::Rclone(r) = &remote {
        reproduce.push(format!("rclone lsjson -R --files-only {}", shell_word(r)));
    }
    let bar = Bar::unless_json(args.json, cli.quiet);
    let options = DrillOptions {
        remote: remote.clone(),
        rclone: rclone.as_ref(),
        master_key,
        sample,
        choice,
        remember: !args.no_state,
        cross_check: args.cross_check_gocryptfs,
        batch_bytes: args.batch,
        audit_only: args.audit_only,
        transfers,
        scratch: scratch.path(),
        manifest: args.manifest.clone(),
        scrypt_limits: ScryptLimits {
            max_memory: args.scrypt_max_memory.saturating_mul(1 << 20),
            ..ScryptLimits::default()
        },
        progress: sink(&bar),
        reproduce,
    };
    let outcome = drill(&options, password);
    if let Some(bar) = &bar {
        bar.finish();
    }
    // What follows the drill must not hide its verdict: a failure here is
    // said, and turns only a pass into "could not run".
    let mut after: Vec<String> = Vec::new();
    let kept = if args.keep {
        if let Ok(mut slot) = SCRATCH.lock() {
            slot.take();
        }
        // Ciphertext only: the decrypted manifest (plaintext names and
        // hashes), the regenerated config and the cross-check's leftovers go.
        let dir = scratch.path();
        for name in ["manifest.jsonl", "files-from.txt", "mnt.log", "owner.pid"] {
            let _ = std::fs::remove_file(dir.join(name));
        }
        for name in ["regenerated", "mnt"] {
            let _ = std::fs::remove_dir_all(dir.join(name));
        }
        Some(scratch.keep())
    } else {
        let path = scratch.path().to_path_buf();
        if let Err(e) = scratch.close() {
            after.push(format!(
                "{}: removing the scratch folder: {e}; remove it by hand",
                path.display()
            ));
        }
        // Only now: an interrupt until here still removes it.
        if let Ok(mut slot) = SCRATCH.lock() {
            slot.take();
        }
        None
    };

    // The report: --report FILE; else in the state directory; with
    // --no-state (no trace there) on standard output unless --json.
    let report_path = match &args.report {
        Some(p) => Some(p.clone()),
        None if args.no_state => None,
        None => match store::reports_dir() {
            Ok(dir) => Some(dir.join(format!(
                "drill-{}-{}.md",
                outcome.started.replace([':', '-'], ""),
                file_word(&outcome.remote)
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
    if let Some(junit) = &args.junit
        && let Err(e) = std::fs::write(junit, report::junit(&outcome))
    {
        after.push(format!("{}: writing the JUnit file: {e}", junit.display()));
    }
    if !args.no_state {
        let report_path = report_path
            .as_ref()
            .map(|p| p.canonicalize().unwrap_or(p.clone()));
        let record = DrillRecord::from_outcome(&outcome, report_path.as_deref());
        if let Err(e) = state::record_drill(&record) {
            after.push(format!(
                "{}: recording the drill in the history: {e}; check the state directory \
                 (VAULTDRILL_STATE_DIR)",
                store::state_dir().display()
            ));
        }
    }
    let verdict = super::verdict_after(outcome.verdict, &after);
    let print = || -> anyhow::Result<()> {
        let mut out = io::stdout().lock();
        if args.json {
            super::write_json(&mut out, &outcome)?;
        } else {
            for (step, f) in outcome.findings() {
                eprintln!("vaultdrill: {} (step: {})", f.line(), step.title);
            }
            if report_path.is_none() && args.no_state {
                // --no-state without --report: the report itself.
                write!(out, "{}", report::markdown(&outcome))?;
            } else if !cli.quiet {
                writeln!(out, "{}", report::headline(&outcome).replace('`', ""))?;
                write!(
                    out,
                    "{}",
                    vaultdrill::drill::report::step_lines(&outcome.steps)
                )?;
                if let Some(path) = &report_path {
                    writeln!(out, "Report: {}", path.display())?;
                }
                if let Some(dir) = &kept {
                    writeln!(out, "Scratch kept (ciphertext only): {}", dir.display())?;
                }
            }
        }
        Ok(())
    };
    Ok(super::print_then(verdict, print))
}

/// A remote as part of a file name.
fn file_word(text: &str) -> String {
    let word: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    word.trim_matches('_').chars().take(60).collect()
}
