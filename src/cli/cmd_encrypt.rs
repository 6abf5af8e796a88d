//! `vaultdrill encrypt`: a plaintext folder into a vault.

use std::io::{self, Write};

use serde::Serialize;
use vaultdrill::ExitStatus;
use vaultdrill::display::escape_path;
use vaultdrill::encrypt::{EncryptSummary, encrypt_tree};
use vaultdrill::progress::Progress;

use super::args::{Cli, EncryptArgs};
use super::output::{human_bytes, problem_line};
use super::progress::{Bar, sink};
use super::unlock::{Use, unlock};

#[derive(Serialize)]
struct JsonSummary {
    status: ExitStatus,
    exit_code: i32,
    files_written: u64,
    files_unchanged: u64,
    dirs_created: u64,
    symlinks_written: u64,
    bytes: u64,
    seconds: f64,
    problems: Vec<String>,
}

fn plain_bytes(dir: &std::path::Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

pub fn run(args: &EncryptArgs, cli: &Cli) -> anyhow::Result<ExitStatus> {
    let vault = unlock(&args.cipherdir, &args.unlock, cli.quiet, Use::Write)?;
    let bar = Bar::unless_json(args.json, cli.quiet);
    if let Some(bar) = &bar {
        bar.set_total(0, plain_bytes(&args.plaindir));
    }
    let progress = sink(&bar);
    let summary =
        encrypt_tree(&vault, &args.plaindir, progress).map_err(vaultdrill::Error::from)?;
    if let Some(bar) = &bar {
        bar.finish();
    }
    let status = summary.status();
    // The status is decided: what happens to the output must not change it.
    Ok(super::print_then(status, || print(&summary, args, cli)))
}

fn print(s: &EncryptSummary, args: &EncryptArgs, cli: &Cli) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    if args.json {
        let json = JsonSummary {
            status: s.status(),
            exit_code: s.status().code(),
            files_written: s.files_written,
            files_unchanged: s.files_unchanged,
            dirs_created: s.dirs_created,
            symlinks_written: s.symlinks_written,
            bytes: s.bytes,
            seconds: s.elapsed.as_secs_f64(),
            problems: s.problems.iter().map(problem_line).collect(),
        };
        super::write_json(&mut out, &json)?;
        return Ok(());
    }
    for p in &s.problems {
        eprintln!("vaultdrill: {}", problem_line(p));
    }
    if !cli.quiet {
        writeln!(
            out,
            "Encrypted {} files ({}) into {}, {} unchanged; {} directories created, {} symlinks written, in {:.2} s.",
            s.files_written,
            human_bytes(s.bytes),
            escape_path(&args.cipherdir),
            s.files_unchanged,
            s.dirs_created,
            s.symlinks_written,
            s.elapsed.as_secs_f64()
        )?;
    }
    Ok(())
}
