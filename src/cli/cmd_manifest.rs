//! `vaultdrill manifest` and `vaultdrill verify`.

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use vaultdrill::ExitStatus;
use vaultdrill::decrypt::measure;
use vaultdrill::display::escape_path;
use vaultdrill::manifest::build::{BuildOptions, RemoteHashes};
use vaultdrill::manifest::refresh::{ManifestHome, Refreshed, refresh};
use vaultdrill::manifest::store::{self, CURRENT, Stored};
use vaultdrill::manifest::verify::{VerifyOptions, verify_vault};
use vaultdrill::manifest::{ManifestError, ManifestFileError, ManifestReader};
use vaultdrill::problem::overall_status;
use vaultdrill::progress::Progress;
use vaultdrill::selection::Selection;

use super::UsageError;
use super::args::{Cli, ManifestArgs, VerifyArgs};
use super::output::{human_bytes, problem_line};
use super::progress::{Bar, sink};
use super::unlock::{Use, unlock};

#[derive(Serialize)]
struct JsonBuild {
    status: ExitStatus,
    exit_code: i32,
    entries: u64,
    files: u64,
    plain_bytes: u64,
    hashed_files: u64,
    reused_files: u64,
    hashed_bytes: u64,
    seconds: f64,
    /// "first", "replaced" or "unchanged".
    stored: &'static str,
    /// The name the previous manifest is kept under (in `.vaultdrill/`).
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_kept_as: Option<String>,
    local_copy: String,
    problems: Vec<String>,
}

#[derive(Serialize)]
struct JsonVerify {
    status: ExitStatus,
    exit_code: i32,
    manifest_created: String,
    entries: u64,
    files: u64,
    bytes: u64,
    seconds: f64,
    problems: Vec<String>,
    /// `--path` values that matched nothing (exit 2 when nothing else failed).
    unmatched_paths: Vec<String>,
}

/// Where the vault's own manifest is, for messages.
fn in_vault(cipherdir: &Path) -> PathBuf {
    cipherdir.join(".vaultdrill").join(CURRENT)
}

pub fn run_manifest(args: &ManifestArgs, cli: &Cli) -> anyhow::Result<ExitStatus> {
    let vault = unlock(&args.cipherdir, &args.unlock, cli.quiet, Use::Write)?;
    let remote_hashes = RemoteHashes {
        sha1: args.remote_hashes.iter().any(|h| h == "sha1"),
        md5: args.remote_hashes.iter().any(|h| h == "md5"),
    };
    let bar = Bar::unless_json(args.json, cli.quiet);
    if let Some(bar) = &bar {
        let (files, bytes) = measure(&vault, &Selection::all());
        bar.set_total(files, bytes);
    }
    let progress = sink(&bar);
    let config = std::fs::read(
        args.unlock
            .config
            .clone()
            .unwrap_or_else(|| args.cipherdir.join("gocryptfs.conf")),
    )
    .ok();
    let options = BuildOptions {
        rehash: args.rehash,
        remote_hashes,
        progress,
    };
    let Refreshed {
        summary,
        stored,
        local_dir: local,
        previous_unreadable,
        ..
    } = refresh(&vault, config.as_deref(), &options, ManifestHome::Vault)
        .map_err(vaultdrill::Error::from)?;
    if let Some(why) = previous_unreadable {
        eprintln!(
            "vaultdrill: NOTE the previous manifest could not be read ({why}); everything was hashed"
        );
    }
    if let Some(bar) = &bar {
        bar.finish();
    }
    let status = overall_status(&summary.problems);
    let print = || -> anyhow::Result<()> {
        let mut stdout = io::stdout().lock();
        if args.json {
            let json = JsonBuild {
                status,
                exit_code: status.code(),
                entries: summary.trailer.entries,
                files: summary.trailer.files,
                plain_bytes: summary.trailer.plain_bytes,
                hashed_files: summary.hashed_files,
                reused_files: summary.reused_files,
                hashed_bytes: summary.hashed_bytes,
                seconds: summary.elapsed.as_secs_f64(),
                stored: match &stored {
                    Stored::First => "first",
                    Stored::Replaced { .. } => "replaced",
                    Stored::Unchanged { .. } => "unchanged",
                },
                previous_kept_as: match &stored {
                    Stored::Replaced { kept } => Some(kept.clone()),
                    _ => None,
                },
                local_copy: local.join(CURRENT).display().to_string(),
                problems: summary.problems.iter().map(problem_line).collect(),
            };
            super::write_json(&mut stdout, &json)?;
        } else {
            for p in &summary.problems {
                eprintln!("vaultdrill: {}", problem_line(p));
            }
            if !cli.quiet {
                let where_ = match &stored {
                    Stored::First => format!("Stored in the vault as .vaultdrill/{CURRENT}"),
                    Stored::Replaced { kept } => format!(
                        "Stored in the vault as .vaultdrill/{CURRENT} (the previous one kept as .vaultdrill/{kept})"
                    ),
                    Stored::Unchanged { created } => format!(
                        "Nothing changed since the manifest of {created}: the vault was left as it is"
                    ),
                };
                writeln!(
                    stdout,
                    "Manifest of {} entries ({} files, {}): {} files hashed, {} reused, in {:.2} s.\n{where_}; local copy in {}.",
                    summary.trailer.entries,
                    summary.trailer.files,
                    human_bytes(summary.trailer.plain_bytes),
                    summary.hashed_files,
                    summary.reused_files,
                    summary.elapsed.as_secs_f64(),
                    local.display()
                )?;
            }
        }
        Ok(())
    };
    Ok(super::print_then(status, print))
}

pub fn run_verify(args: &VerifyArgs, cli: &Cli) -> anyhow::Result<ExitStatus> {
    let selection = Selection::parse(&args.paths).map_err(vaultdrill::Error::from)?;
    let vault = unlock(&args.cipherdir, &args.unlock, cli.quiet, Use::Read)?;
    let bar = Bar::unless_json(args.json, cli.quiet);
    if let Some(bar) = &bar {
        let (files, bytes) = measure(&vault, &selection);
        bar.set_total(files, bytes);
    }
    let progress = sink(&bar);
    let options = VerifyOptions {
        selection: &selection,
        progress,
        strict: false,
    };
    let local_copy = store::local_copy(vault.vault_id());
    let file_error = |path: &Path, in_vault: bool| {
        let local_copy = local_copy.clone();
        let path = path.to_path_buf();
        move |source: ManifestError| {
            vaultdrill::Error::from(ManifestFileError {
                path,
                in_vault,
                local_copy,
                source,
            })
        }
    };
    let summary = match &args.manifest {
        Some(path) => {
            let file = File::open(path).map_err(|e| file_error(path, false)(e.into()))?;
            let reader =
                ManifestReader::new(BufReader::new(file)).map_err(file_error(path, false))?;
            verify_vault(&vault, reader, &options).map_err(file_error(path, false))?
        }
        None => {
            let path = in_vault(&args.cipherdir);
            match store::open_current(&vault).map_err(file_error(&path, true))? {
                Some(reader) => {
                    verify_vault(&vault, reader, &options).map_err(file_error(&path, true))?
                }
                None => {
                    return Err(UsageError::new(
                        format!(
                            "{}: the vault has no manifest yet",
                            args.cipherdir.display()
                        ),
                        "build one with `vaultdrill manifest`, or give a copy with --manifest FILE",
                    )
                    .into());
                }
            }
        }
    };
    if let Some(bar) = &bar {
        bar.finish();
    }
    let status = summary.status();
    let print = || -> anyhow::Result<()> {
        let mut stdout = io::stdout().lock();
        let unmatched: Vec<String> = summary.unmatched.iter().map(|p| escape_path(p)).collect();
        if args.json {
            let json = JsonVerify {
                status,
                exit_code: status.code(),
                manifest_created: summary.manifest_created.clone(),
                entries: summary.entries,
                files: summary.files,
                bytes: summary.bytes,
                seconds: summary.elapsed.as_secs_f64(),
                problems: summary.problems.iter().map(problem_line).collect(),
                unmatched_paths: unmatched,
            };
            super::write_json(&mut stdout, &json)?;
        } else {
            for p in &summary.problems {
                eprintln!("vaultdrill: {}", problem_line(p));
            }
            for path in &unmatched {
                eprintln!(
                    "vaultdrill: nothing in the vault matches --path {path}: check the spelling \
                 (`vaultdrill ls` lists what is there)"
                );
            }
            if !cli.quiet {
                let verdict = match status {
                    ExitStatus::Verified => {
                        "every block authenticated, every hash as in the manifest".to_string()
                    }
                    ExitStatus::Usage => "nothing checked for the --path above".to_string(),
                    _ => format!("{} problem(s) listed above", summary.problems.len()),
                };
                writeln!(
                    stdout,
                    "Verified {} entries ({} files, {}) against the manifest of {} in {:.2} s: {verdict}.",
                    summary.entries,
                    summary.files,
                    human_bytes(summary.bytes),
                    summary.manifest_created,
                    summary.elapsed.as_secs_f64()
                )?;
            }
        }
        Ok(())
    };
    Ok(super::print_then(status, print))
}
