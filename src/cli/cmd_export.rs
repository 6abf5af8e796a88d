//! `vaultdrill export`: the reverse view, written natively.

use std::io::{self, Write};

use serde::Serialize;
use vaultdrill::ExitStatus;
use vaultdrill::display::escape_path;
use vaultdrill::exclude::Excluder;
use vaultdrill::export::{ExportSummary, export_tree};

use super::args::{Cli, ExportArgs};
use super::output::{human_bytes, problem_line};
use super::progress::{Bar, sink};
use super::unlock::unlock_reverse;

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
    let excluder = Excluder::new(&args.exclude, &args.exclude_wildcard);
    let (_, _, keys) = unlock_reverse(&args.plaindir, &args.unlock)?;
    let bar = Bar::unless_json(args.json, cli.quiet);
    let progress = sink(&bar);
    let summary = export_tree(&args.plaindir, &args.dest, &keys, &excluder, progress)
        .map_err(vaultdrill::Error::from)?;
    if let Some(bar) = &bar {
        bar.finish();
    }
    let status = summary.status();
    // The status is decided: what happens to the output must not change it.
    Ok(super::print_then(status, || print(&summary, args, cli)))
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
        super::write_json(&mut out, &json)?;
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
