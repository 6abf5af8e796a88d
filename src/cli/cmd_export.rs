//! `vaultdrill export`: the reverse view, written natively.

use std::io::{self, Write};

use serde::Serialize;
use vaultdrill::ExitStatus;
use vaultdrill::display::escape_path;
use vaultdrill::exclude::Excluder;
use vaultdrill::export::{ExportSummary, ReverseKeys, export_tree};
use vaultdrill::format::unlock::ScryptLimits;
use vaultdrill::progress::{NoProgress, Progress};
use vaultdrill::secrets::read_secret;
use vaultdrill::vault::{LockedVault, VaultKind};

use super::UsageError;
use super::args::{Cli, ExportArgs};
use super::output::{human_bytes, problem_line};
use super::progress::Bar;
use super::unlock::secret_source;

#[derive(Serialize)]
struct JsonSummary {
    status: ExitStatus,
    exit_code: i32,
    files_written: u64,
    files_unchanged: u64,
    removed: u64,
    dirs: u64,
    bytes: u64,
    seconds: f64,
    problems: Vec<String>,
}

pub fn run(args: &ExportArgs, cli: &Cli) -> anyhow::Result<ExitStatus> {
    let source = secret_source(&args.unlock)?;
    let locked = LockedVault::open(&args.plaindir, args.unlock.config.as_deref())
        .map_err(vaultdrill::Error::from)?;
    if locked.kind() != VaultKind::ReversePlaintext {
        return Err(UsageError::new(
            format!(
                "{}: not the plaintext folder of a reverse vault (no .gocryptfs.reverse.conf)",
                args.plaindir.display()
            ),
            "create one with `vaultdrill init --reverse PLAINDIR` (or gocryptfs -init -reverse)",
        )
        .into());
    }
    let excluder = Excluder::new(&args.exclude, &args.exclude_wildcard);
    let secret = read_secret(&source, &args.plaindir.display().to_string())
        .map_err(vaultdrill::Error::from)?;
    let limits = ScryptLimits {
        max_memory: args.unlock.scrypt_max_memory.saturating_mul(1 << 20),
        ..ScryptLimits::default()
    };
    let (master_key, _) = locked
        .master_key(secret, &limits)
        .map_err(vaultdrill::Error::from)?;
    let keys =
        ReverseKeys::new(locked.config().layout(), &master_key).map_err(vaultdrill::Error::from)?;
    let bar = if args.json {
        None
    } else {
        Bar::for_terminal(cli.quiet)
    };
    let progress: &dyn Progress = match &bar {
        Some(b) => b,
        None => &NoProgress,
    };
    let summary = export_tree(&args.plaindir, &args.dest, &keys, &excluder, progress)
        .map_err(vaultdrill::Error::from)?;
    if let Some(bar) = &bar {
        bar.finish();
    }
    let status = summary.status();
    if let Err(e) = print(&summary, args, cli) {
        if !super::is_broken_pipe(&e) {
            return Err(e);
        }
    }
    Ok(status)
}

fn print(s: &ExportSummary, args: &ExportArgs, cli: &Cli) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    if args.json {
        let json = JsonSummary {
            status: s.status(),
            exit_code: s.status().code(),
            files_written: s.files_written,
            files_unchanged: s.files_unchanged,
            removed: s.removed,
            dirs: s.dirs,
            bytes: s.bytes,
            seconds: s.elapsed.as_secs_f64(),
            problems: s.problems.iter().map(problem_line).collect(),
        };
        serde_json::to_writer_pretty(&mut out, &json)?;
        writeln!(out)?;
        return Ok(());
    }
    for p in &s.problems {
        eprintln!("vaultdrill: {}", problem_line(p));
    }
    if !cli.quiet {
        writeln!(
            out,
            "Exported {} files ({}) to {}, {} unchanged, {} stale entries removed, in {:.2} s.",
            s.files_written,
            human_bytes(s.bytes),
            escape_path(&args.dest),
            s.files_unchanged,
            s.removed,
            s.elapsed.as_secs_f64()
        )?;
    }
    Ok(())
}
