//! The `vaultdrill` command line: parse, build resources, run a command,
//! render its outcome, and map it to an exit code.

mod args;
mod cmd_decrypt;
mod cmd_demo;
mod cmd_drill;
mod cmd_encrypt;
mod cmd_export;
mod cmd_history;
mod cmd_info;
mod cmd_init;
mod cmd_ls;
mod cmd_manifest;
mod cmd_push;
mod cmd_regen;
mod cmd_restore;
mod cmd_schedule;
mod cmd_vaults;
#[cfg(test)]
mod doc_commands;
mod output;
mod progress;
mod unlock;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

use vaultdrill::ExitStatus;

pub use args::Cli;
use args::Command;

/// The registered vault `text` names, with its remote (a drill's or a
/// restore's SOURCE): `None` when `text` is an rclone remote or a folder.
pub fn registered_remote(
    text: &str,
    cli: &Cli,
) -> anyhow::Result<Option<(String, vaultdrill::registry::VaultEntry)>> {
    use vaultdrill::push::Remote;
    use vaultdrill::registry::{self, Registry, RegistryError};
    if matches!(Remote::parse(text), Remote::Rclone(_)) {
        return Ok(None);
    }
    let path = cli.registry.clone().unwrap_or_else(registry::default_path);
    if std::path::Path::new(text).exists() && !path.exists() {
        return Ok(None);
    }
    let registry = Registry::load(&path).map_err(vaultdrill::Error::from)?;
    let Some((name, entry)) = registry
        .resolve(std::path::Path::new(text))
        .map_err(vaultdrill::Error::from)?
    else {
        return Ok(None);
    };
    let remote = entry.remote.clone().ok_or_else(|| {
        vaultdrill::Error::from(RegistryError::NoRemote {
            name: name.to_string(),
            path: registry.path.clone(),
        })
    })?;
    Ok(Some((remote, entry.clone())))
}

/// A command-line mistake found after parsing.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct UsageError {
    message: String,
    hint: String,
}

impl UsageError {
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> UsageError {
        UsageError {
            message: message.into(),
            hint: hint.into(),
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Deep trees keep one directory handle per level open.
    raise_open_file_limit();
    if let Some(jobs) = cli.jobs {
        // Only fails if a pool exists already, which cannot happen here.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(jobs.max(1))
            .build_global();
    }
    let result = match &cli.command {
        Command::Info(a) => cmd_info::run(a),
        Command::Ls(a) => cmd_ls::run(a),
        Command::Decrypt(a) => cmd_decrypt::run(a, &cli),
        Command::Encrypt(a) => cmd_encrypt::run(a, &cli),
        Command::Export(a) => cmd_export::run(a, &cli),
        Command::Manifest(a) => cmd_manifest::run_manifest(a, &cli),
        Command::Verify(a) => cmd_manifest::run_verify(a, &cli),
        Command::Push(a) => cmd_push::run(a, &cli),
        Command::Vaults(a) => cmd_vaults::run(a, &cli),
        Command::Drill(a) => cmd_drill::run(a, &cli),
        Command::Restore(a) => cmd_restore::run(a, &cli),
        Command::History(a) => cmd_history::run(a, &cli),
        Command::Demo(a) => cmd_demo::run(a, &cli),
        Command::Schedule(a) => cmd_schedule::run(a, &cli),
        Command::Init(a) => cmd_init::run_init(a, &cli),
        Command::Passwd(a) => cmd_init::run_passwd(a, &cli),
        Command::RegenConfig(a) => cmd_regen::run(a, &cli),
    };
    let status = match result {
        Ok(status) => status,
        Err(err) => report_error(&err),
    };
    ExitCode::from(status.code() as u8)
}

fn raise_open_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
}

/// Whether an output error only means that the reader went away
/// (`vaultdrill ls | head`).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    let kind = err
        .downcast_ref::<io::Error>()
        .map(io::Error::kind)
        .or_else(|| {
            err.downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
        });
    kind == Some(io::ErrorKind::BrokenPipe)
}

/// Writes `value` as pretty JSON and a newline: what `--json` prints.
pub fn write_json(out: &mut impl Write, value: &impl serde::Serialize) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Says each failure of the work that follows a drill or a restore (its
/// report, its history) in one line; such a failure turns only a pass
/// into "could not run", never hides damage.
pub fn verdict_after(verdict: ExitStatus, after: &[String]) -> ExitStatus {
    for line in after {
        eprintln!("vaultdrill: error: {line}");
    }
    if after.is_empty() || verdict != ExitStatus::Verified {
        verdict
    } else {
        ExitStatus::CouldNotRun
    }
}

/// Prints a command's outcome once its status is decided: a reader that
/// went away changes nothing, and any other failure to write standard
/// output is said in one line and turns only a pass into "could not run"
/// (a full disk under `--json > file` must not hide damage).
pub fn print_then(status: ExitStatus, print: impl FnOnce() -> anyhow::Result<()>) -> ExitStatus {
    match print() {
        Ok(()) => status,
        Err(e) if is_broken_pipe(&e) => status,
        Err(e) => {
            eprintln!(
                "vaultdrill: error: writing the outcome to standard output: {e:#}; check where \
                 the output goes (a full disk?)"
            );
            if status == ExitStatus::Verified {
                ExitStatus::CouldNotRun
            } else {
                status
            }
        }
    }
}

/// Prints one line for a fatal error and returns its exit status.
fn report_error(err: &anyhow::Error) -> ExitStatus {
    let (status, hint) = if let Some(e) = err.downcast_ref::<vaultdrill::Error>() {
        (e.status(), e.hint())
    } else if let Some(e) = err.downcast_ref::<UsageError>() {
        (ExitStatus::Usage, Some(e.hint.clone()))
    } else {
        (ExitStatus::CouldNotRun, None)
    };
    match hint {
        Some(hint) => eprintln!("vaultdrill: error: {err:#}; {hint}"),
        None => eprintln!("vaultdrill: error: {err:#}"),
    }
    status
}
