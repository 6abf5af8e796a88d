//! `vaultdrill history`: past drills, their verdicts, coverage and speed.

use std::io::{self, Write};
use std::path::Path;

use vaultdrill::ExitStatus;
use vaultdrill::drill::history;
use vaultdrill::drill::state::{DrillRecord, all_drills};
use vaultdrill::manifest::store;
use vaultdrill::registry::{self, Registry};

use super::args::{Cli, HistoryArgs};

/// The remote a registered name stands for, if it is one.
fn registered_remote(name: &str, cli: &Cli) -> Option<String> {
    let path = cli.registry.clone().unwrap_or_else(registry::default_path);
    let registry = Registry::load(&path).ok()?;
    let (_, entry) = registry.resolve(Path::new(name)).ok()??;
    entry.remote.clone()
}

pub fn run(args: &HistoryArgs, cli: &Cli) -> anyhow::Result<ExitStatus> {
    let mut records: Vec<DrillRecord> = all_drills();
    if let Some(vault) = &args.vault {
        let remote = registered_remote(vault, cli);
        records.retain(|r| {
            r.remote == *vault
                || remote.as_deref() == Some(r.remote.as_str())
                || (vault.len() >= 8 && r.vault_id.starts_with(vault.as_str()))
        });
    }
    if let Some(file) = &args.html {
        let title = match &args.vault {
            Some(v) => format!("vaultdrill: drills of {v}"),
            None => "vaultdrill: drills".to_string(),
        };
        std::fs::write(file, history::html(&title, &records))
            .map_err(|e| anyhow::anyhow!("{}: writing the page: {e}", file.display()))?;
    }
    let print = || -> anyhow::Result<()> {
        let mut out = io::stdout().lock();
        if args.json {
            super::write_json(&mut out, &records)?;
        } else if records.is_empty() {
            writeln!(
                out,
                "No drills recorded{} in {}. Run `vaultdrill drill REMOTE` first.",
                args.vault
                    .as_deref()
                    .map(|v| format!(" for {v}"))
                    .unwrap_or_default(),
                store::state_dir().display()
            )?;
        } else if !cli.quiet {
            write!(out, "{}", history::table(&records))?;
        }
        if let Some(file) = &args.html
            && !args.json
            && !cli.quiet
        {
            writeln!(out, "Page: {}", file.display())?;
        }
        Ok(())
    };
    // A reader that went away changes nothing.
    Ok(super::print_then(ExitStatus::Verified, print))
}
