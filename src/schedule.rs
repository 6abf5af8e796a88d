//! Scheduled drills: a systemd user timer and service, or a crontab line,
//! that run `vaultdrill drill NAME` for a registered vault (whose entry
//! names the password and master-key sources: a timer has no terminal).

use std::fmt;
use std::path::{Path, PathBuf};

/// How often.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Every {
    Daily,
    Weekly,
    Monthly,
}

impl Every {
    pub fn parse(text: &str) -> Option<Every> {
        match text.trim().to_ascii_lowercase().as_str() {
            "daily" => Some(Every::Daily),
            "weekly" => Some(Every::Weekly),
            "monthly" => Some(Every::Monthly),
            _ => None,
        }
    }

    /// systemd's calendar expression: at 03:17, the first of the month,
    /// on Mondays, or every day.
    fn on_calendar(self) -> &'static str {
        match self {
            Every::Daily => "*-*-* 03:17:00",
            Every::Weekly => "Mon *-*-* 03:17:00",
            Every::Monthly => "*-*-01 03:17:00",
        }
    }

    /// cron's five fields for the same times.
    fn cron(self) -> &'static str {
        match self {
            Every::Daily => "17 3 * * *",
            Every::Weekly => "17 3 * * 1",
            Every::Monthly => "17 3 1 * *",
        }
    }
}

impl fmt::Display for Every {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Every::Daily => "daily",
            Every::Weekly => "weekly",
            Every::Monthly => "monthly",
        })
    }
}

/// What the schedule runs.
pub struct Job<'a> {
    /// The registered vault's name.
    pub name: &'a str,
    pub every: Every,
    /// The vaultdrill binary (absolute).
    pub binary: &'a Path,
    /// The registry the name is in (absolute).
    pub registry: &'a Path,
    /// The state directory, when it is not the default.
    pub state_dir: Option<&'a Path>,
    /// Extra drill options (e.g. `--no-masterkey`).
    pub extra: Vec<String>,
}

/// A word for a unit file's ExecStart or a crontab line: quoted when it
/// holds anything but safe characters. `%` is special to both (systemd
/// specifiers, cron's newline): doubled for systemd, escaped for cron.
fn word(text: &str, cron: bool) -> String {
    let quoted = crate::display::shell_word(text);
    if cron {
        quoted.replace('%', "\\%")
    } else {
        quoted.replace('%', "%%")
    }
}

impl Job<'_> {
    /// The unit's base name: `vaultdrill-drill-NAME`, NAME kept to the
    /// characters systemd allows.
    pub fn unit(&self) -> String {
        let name: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("vaultdrill-drill-{name}")
    }

    fn command(&self, cron: bool) -> String {
        let mut words = vec![
            word(&self.binary.to_string_lossy(), cron),
            "--registry".into(),
            word(&self.registry.to_string_lossy(), cron),
            "drill".into(),
            word(self.name, cron),
            "--quiet".into(),
        ];
        words.extend(self.extra.iter().map(|w| word(w, cron)));
        words.join(" ")
    }

    pub fn service(&self) -> String {
        let mut s = format!(
            "[Unit]\n\
             Description=vaultdrill recovery drill of {name} ({every})\n\
             Wants=network-online.target\n\
             After=network-online.target\n\
             \n\
             [Service]\n\
             Type=oneshot\n\
             # Exit codes: 0 passed, 1 the backup is damaged, 3 could not unlock,\n\
             # 4 the drill could not run. Anything but 0 marks the unit failed:\n\
             # `systemctl --user status {unit}.service`, and the report in the\n\
             # state directory says what to do.\n\
             ExecStart={command}\n\
             Nice=10\n\
             IOSchedulingClass=idle\n",
            name = self.name,
            every = self.every,
            unit = self.unit(),
            command = self.command(false),
        );
        if let Some(dir) = self.state_dir {
            s.push_str(&format!(
                "Environment={}\n",
                word(&format!("VAULTDRILL_STATE_DIR={}", dir.display()), false)
            ));
        }
        s
    }

    pub fn timer(&self) -> String {
        format!(
            "[Unit]\n\
             Description=vaultdrill recovery drill of {name}, {every}\n\
             \n\
             [Timer]\n\
             OnCalendar={calendar}\n\
             # Spread drills out; run a missed one at the next boot.\n\
             RandomizedDelaySec=1h\n\
             Persistent=true\n\
             \n\
             [Install]\n\
             WantedBy=timers.target\n",
            name = self.name,
            every = self.every,
            calendar = self.every.on_calendar(),
        )
    }

    pub fn crontab_line(&self) -> String {
        let env = self
            .state_dir
            .map(|d| {
                format!(
                    "{} ",
                    word(&format!("VAULTDRILL_STATE_DIR={}", d.display()), true)
                )
            })
            .unwrap_or_default();
        format!("{} {env}{}", self.every.cron(), self.command(true))
    }
}

/// Where systemd looks for user units.
pub fn user_unit_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("systemd/user");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/".into());
    PathBuf::from(home).join(".config/systemd/user")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str) -> Job<'_> {
        Job {
            name,
            every: Every::Monthly,
            binary: Path::new("/usr/local/bin/vaultdrill"),
            registry: Path::new("/home/ana/.config/vaultdrill/config.toml"),
            state_dir: None,
            extra: vec!["--sample".into(), "5%".into()],
        }
    }

    #[test]
    fn units_run_the_drill_of_the_registered_vault() {
        let j = job("photos");
        assert_eq!(j.unit(), "vaultdrill-drill-photos");
        let service = j.service();
        assert!(service.contains(
            "ExecStart=/usr/local/bin/vaultdrill --registry \
             /home/ana/.config/vaultdrill/config.toml drill photos --quiet --sample 5%%\n"
        ));
        assert!(service.contains("Type=oneshot"));
        let timer = j.timer();
        assert!(timer.contains("OnCalendar=*-*-01 03:17:00"));
        assert!(timer.contains("Persistent=true"));
        assert_eq!(
            j.crontab_line(),
            "17 3 1 * * /usr/local/bin/vaultdrill --registry \
             /home/ana/.config/vaultdrill/config.toml drill photos --quiet --sample 5\\%"
        );
    }

    #[test]
    fn odd_names_are_quoted_and_units_sanitised() {
        let j = job("my photos; rm -rf ~");
        assert_eq!(j.unit(), "vaultdrill-drill-my_photos__rm_-rf__");
        assert!(
            j.crontab_line()
                .contains("drill 'my photos; rm -rf ~' --quiet")
        );
        assert_eq!(Every::parse("Weekly"), Some(Every::Weekly));
        assert_eq!(Every::parse("hourly"), None);
    }
}
