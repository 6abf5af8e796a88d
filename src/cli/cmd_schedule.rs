//! `vaultdrill schedule NAME`: print (or install) a systemd user timer, or
//! a crontab line, that drills a registered vault regularly.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use vaultdrill::ExitStatus;
use vaultdrill::registry::{self, Registry};
use vaultdrill::schedule::{Every, Job, user_unit_dir};

use super::UsageError;
use super::args::{Cli, ScheduleArgs};

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

pub fn run(args: &ScheduleArgs, cli: &Cli) -> anyhow::Result<ExitStatus> {
    let registry_path = absolute(&cli.registry.clone().unwrap_or_else(registry::default_path));
    let registry = Registry::load(&registry_path).map_err(vaultdrill::Error::from)?;
    let entry = registry.vaults.get(&args.name).ok_or_else(|| {
        UsageError::new(
            format!(
                "{}: no vault named {:?} in the registry",
                registry_path.display(),
                args.name
            ),
            "a scheduled drill runs without a terminal, so it needs a registered vault whose \
             entry says where the password and master key come from; add [vaults.NAME] with \
             folder, remote, passfile or extpass, and masterkey-file (see `vaultdrill vaults \
             --help`)",
        )
    })?;
    if entry.remote.is_none() {
        return Err(UsageError::new(
            format!(
                "{}: vault {:?} has no remote",
                registry_path.display(),
                args.name
            ),
            "add remote = \"b2-backup:bucket/vault\" (or a folder) to its entry",
        )
        .into());
    }
    if entry.passfile.is_none() && entry.extpass.is_none() {
        return Err(UsageError::new(
            format!(
                "{}: vault {:?} names no password source",
                registry_path.display(),
                args.name
            ),
            "a timer has no terminal to ask on: add passfile = \"...\" or extpass = \"...\" \
             (e.g. `secret-tool lookup vault NAME`) to its entry",
        )
        .into());
    }
    let mut extra = Vec::new();
    if entry.masterkey_file.is_none() {
        if !args.no_masterkey {
            return Err(UsageError::new(
                format!(
                    "{}: vault {:?} names no master key file",
                    registry_path.display(),
                    args.name
                ),
                "add masterkey-file = \"...\" to its entry so each drill proves the master key \
                 too, or pass --no-masterkey to schedule drills that skip that proof",
            )
            .into());
        }
        extra.push("--no-masterkey".to_string());
    }
    let every = match (&args.every, &entry.drill.every) {
        (Some(e), _) => *e,
        (None, Some(text)) => Every::parse(text).ok_or_else(|| {
            UsageError::new(
                format!(
                    "{}: vault {:?}: drill.every = {text:?} is not daily, weekly or monthly",
                    registry_path.display(),
                    args.name
                ),
                "fix the entry or give --every",
            )
        })?,
        (None, None) => Every::Monthly,
    };
    let binary = std::env::current_exe()?;
    let state = std::env::var_os("VAULTDRILL_STATE_DIR")
        .filter(|d| !d.is_empty())
        .map(|d| absolute(Path::new(&d)));
    let job = Job {
        name: &args.name,
        every,
        binary: &binary,
        registry: &registry_path,
        state_dir: state.as_deref(),
        extra,
    };
    let mut out = io::stdout().lock();
    if args.cron {
        if !cli.quiet {
            writeln!(
                out,
                "# Add this line with `crontab -e` ({every} drill of {}; mail from cron \
                 reports failures):",
                args.name
            )?;
        }
        writeln!(out, "{}", job.crontab_line())?;
        return Ok(ExitStatus::Verified);
    }
    let unit = job.unit();
    if !args.install {
        writeln!(
            out,
            "# ~/.config/systemd/user/{unit}.service\n{}",
            job.service()
        )?;
        writeln!(
            out,
            "# ~/.config/systemd/user/{unit}.timer\n{}",
            job.timer()
        )?;
        if !cli.quiet {
            writeln!(
                out,
                "# Install both and start the timer: vaultdrill schedule {} --install\n\
                 # (or copy them there and run: systemctl --user enable --now {unit}.timer;\n\
                 # to run without being logged in: loginctl enable-linger)",
                args.name
            )?;
        }
        return Ok(ExitStatus::Verified);
    }
    let dir = user_unit_dir();
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("{}: creating the unit folder: {e}", dir.display()))?;
    for (suffix, text) in [("service", job.service()), ("timer", job.timer())] {
        let path = dir.join(format!("{unit}.{suffix}"));
        std::fs::write(&path, text)
            .map_err(|e| anyhow::anyhow!("{}: writing the unit: {e}", path.display()))?;
        writeln!(out, "Wrote {}", path.display())?;
    }
    let enable = |args: &[&str]| -> Result<(), String> {
        let status = Command::new("systemctl")
            .arg("--user")
            .args(args)
            .status()
            .map_err(|e| format!("systemctl: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "systemctl --user {} failed ({status})",
                args.join(" ")
            ))
        }
    };
    let timer = format!("{unit}.timer");
    match enable(&["daemon-reload"]).and_then(|()| enable(&["enable", "--now", &timer])) {
        Ok(()) => {
            writeln!(
                out,
                "Enabled {timer}: the next drill shows in `systemctl --user list-timers`."
            )?;
            Ok(ExitStatus::Verified)
        }
        Err(e) => {
            eprintln!(
                "vaultdrill: error: the units are written to {}, but the timer could not be \
                 enabled ({e}); run `systemctl --user enable --now {timer}` in your session, or \
                 use `vaultdrill schedule {} --cron` where there is no systemd",
                dir.display(),
                args.name
            );
            Ok(ExitStatus::CouldNotRun)
        }
    }
}
