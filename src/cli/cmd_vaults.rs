//! `vaultdrill vaults`: the registry, with each vault's last push.

use std::io::{self, Write};

use serde::Serialize;
use vaultdrill::ExitStatus;
use vaultdrill::display::escape_path;
use vaultdrill::drill::history::verdict_word;
use vaultdrill::drill::state::{DrillRecord, last_drill_of};
use vaultdrill::push::run::last_push_of;
use vaultdrill::registry::{self, Mode, Registry};

use super::args::{Cli, VaultsArgs};

#[derive(Serialize)]
struct JsonVault {
    name: String,
    mode: &'static str,
    folder: String,
    remote: Option<String>,
    drill_every: Option<String>,
    drill_sample: Option<String>,
    last_push: Option<vaultdrill::push::run::PushRecord>,
    last_drill: Option<DrillRecord>,
}

pub fn run(args: &VaultsArgs, cli: &Cli) -> anyhow::Result<ExitStatus> {
    let path = cli.registry.clone().unwrap_or_else(registry::default_path);
    let registry = Registry::load(&path).map_err(vaultdrill::Error::from)?;
    let list: Vec<JsonVault> = registry
        .vaults
        .iter()
        .map(|(name, entry)| JsonVault {
            name: name.clone(),
            mode: match entry.mode {
                Mode::Forward => "forward",
                Mode::Reverse => "reverse",
            },
            folder: escape_path(&entry.folder),
            remote: entry.remote.clone(),
            drill_every: entry.drill.every.clone(),
            drill_sample: entry.drill.sample.clone(),
            last_push: last_push_of(&entry.folder),
            last_drill: entry.remote.as_deref().and_then(last_drill_of),
        })
        .collect();
    let print = || -> anyhow::Result<()> {
        let mut out = io::stdout().lock();
        if args.json {
            super::write_json(&mut out, &list)?;
            return Ok(());
        }
        if list.is_empty() {
            writeln!(
                out,
                "No vaults registered in {}. See `vaultdrill vaults --help` for the format; plain \
             paths work without it.",
                path.display()
            )?;
            return Ok(());
        }
        writeln!(out, "Vaults in {}:", path.display())?;
        for v in &list {
            let push = match &v.last_push {
                Some(p) => format!(
                    "last push {} to {}: {}{}",
                    p.time,
                    p.remote,
                    p.status,
                    if p.problems > 0 {
                        format!(" ({} problems)", p.problems)
                    } else {
                        String::new()
                    }
                ),
                None => "never pushed".to_string(),
            };
            let drill = match &v.last_drill {
                Some(d) => format!(
                    "last drill {}: {} ({:.0} % of the files verified in 12 months)",
                    d.started,
                    verdict_word(&d.verdict),
                    d.coverage_12m
                ),
                None => "never drilled".to_string(),
            };
            writeln!(
                out,
                "  {}  {} {} -> {}\n      {push}{}\n      {drill}",
                v.name,
                v.mode,
                v.folder,
                v.remote.as_deref().unwrap_or("(no remote)"),
                match (&v.drill_every, &v.drill_sample) {
                    (None, None) => String::new(),
                    (every, sample) => format!(
                        " (policy: {} {})",
                        every.as_deref().unwrap_or(""),
                        sample
                            .as_deref()
                            .map(|s| format!("sample {s}"))
                            .unwrap_or_default()
                    ),
                }
            )?;
        }
        Ok(())
    };
    // A reader that went away changes nothing.
    Ok(super::print_then(ExitStatus::Verified, print))
}
