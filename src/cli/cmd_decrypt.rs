//! `vaultdrill decrypt`: the plaintext tree, every block authenticated.

use std::io::{self, Write};

use serde::Serialize;
use vaultdrill::ExitStatus;
use vaultdrill::decrypt::{
    DecryptOptions, DecryptSummary, decrypt_tree, measure, prepare_destination,
};
use vaultdrill::display::escape_path;
use vaultdrill::progress::NoProgress;
use vaultdrill::selection::Selection;

use super::args::{Cli, DecryptArgs};
use super::output::{human_bytes, problem_line};
use super::progress::Bar;
use super::unlock::{Use, unlock};

#[derive(Serialize)]
struct JsonProblem {
    status: ExitStatus,
    path: Option<String>,
    cipher_path: String,
    problem: String,
}

#[derive(Serialize)]
struct JsonSummary {
    status: ExitStatus,
    exit_code: i32,
    dest: String,
    files: u64,
    dirs: u64,
    symlinks: u64,
    specials: u64,
    setuid_cleared: u64,
    bytes: u64,
    seconds: f64,
    problems: Vec<JsonProblem>,
    unmatched_paths: Vec<String>,
}

fn json_summary(s: &DecryptSummary, dest: &std::path::Path) -> JsonSummary {
    JsonSummary {
        status: s.status(),
        exit_code: s.status().code(),
        dest: dest.display().to_string(),
        files: s.files,
        dirs: s.dirs,
        symlinks: s.symlinks,
        specials: s.specials,
        setuid_cleared: s.setuid_cleared,
        bytes: s.bytes,
        seconds: s.elapsed.as_secs_f64(),
        problems: s
            .problems
            .iter()
            .map(|p| JsonProblem {
                status: p.status(),
                path: p
                    .plain_path
                    .as_ref()
                    .map(|x| x.to_string_lossy().into_owned()),
                cipher_path: p.cipher_path.to_string_lossy().into_owned(),
                problem: p.kind.to_string(),
            })
            .collect(),
        unmatched_paths: s
            .unmatched
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect(),
    }
}

fn text_summary(s: &DecryptSummary, dest: &std::path::Path) -> String {
    let secs = s.elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        format!(", {}/s", human_bytes((s.bytes as f64 / secs) as u64))
    } else {
        String::new()
    };
    let what = format!(
        "{} files ({}), {} directories, {} symlinks{} into {} in {:.2} s{}",
        s.files,
        human_bytes(s.bytes),
        s.dirs,
        s.symlinks,
        if s.specials > 0 {
            format!(", {} special files", s.specials)
        } else {
            String::new()
        },
        escape_path(dest),
        secs,
        rate
    );
    let what = if s.setuid_cleared > 0 {
        format!(
            "{what} (setuid/setgid bits cleared on {} files; --keep-setuid keeps them)",
            s.setuid_cleared
        )
    } else {
        what
    };
    match s.status() {
        ExitStatus::Verified => format!("Decrypted {what}. Every block authenticated."),
        ExitStatus::Damaged => format!(
            "Decrypted {what}. {} problem(s) listed above: the backup is damaged; nothing damaged was written under a final name.",
            s.problems.len()
        ),
        ExitStatus::Usage => format!("Decrypted {what}. Some --path matched nothing."),
        _ => format!(
            "Decrypted {what}. {} problem(s) listed above stopped parts of the run.",
            s.problems.len()
        ),
    }
}

pub fn run(args: &DecryptArgs, cli: &Cli) -> anyhow::Result<ExitStatus> {
    let selection = Selection::parse(&args.paths).map_err(vaultdrill::Error::from)?;
    let vault = unlock(&args.cipherdir, &args.unlock, cli.quiet, Use::Read)?;
    let created = prepare_destination(vault.root(), &args.dest).map_err(vaultdrill::Error::from)?;
    let bar = Bar::unless_json(args.json, cli.quiet);
    if let Some(bar) = &bar {
        let (files, bytes) = measure(&vault, &selection);
        vaultdrill::progress::Progress::set_total(bar, files, bytes);
    }
    let options = DecryptOptions {
        selection: &selection,
        keep_setuid: args.keep_setuid,
        devices: args.devices,
        progress: match &bar {
            Some(b) => b,
            None => &NoProgress,
        },
    };
    let summary = decrypt_tree(&vault, &args.dest, created, &options);
    if let Some(bar) = &bar {
        bar.finish();
    }
    let status = summary.status();
    // The status is decided: what happens to the output must not change it.
    Ok(super::print_then(status, || {
        print_outcome(&summary, args, cli)
    }))
}

fn print_outcome(summary: &DecryptSummary, args: &DecryptArgs, cli: &Cli) -> anyhow::Result<()> {
    if args.json {
        let mut out = io::stdout().lock();
        super::write_json(&mut out, &json_summary(summary, &args.dest))?;
        return Ok(());
    }
    let mut err = io::stderr().lock();
    for p in &summary.problems {
        writeln!(err, "vaultdrill: {}", problem_line(p))?;
    }
    for path in &summary.unmatched {
        writeln!(
            err,
            "vaultdrill: nothing in the vault matches --path {}",
            escape_path(path)
        )?;
    }
    if !cli.quiet {
        writeln!(io::stdout().lock(), "{}", text_summary(summary, &args.dest))?;
    }
    Ok(())
}
