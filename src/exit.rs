//! The exit-code contract every verifying command keeps (documented in
//! README.md; CI jobs and cron wrappers depend on it).

/// What a run concluded. The numeric values are the process exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitStatus {
    /// Everything that was asked for was verified.
    Verified = 0,
    /// The backup is damaged: authentication failure, missing or
    /// mismatching data, undecryptable names, a corrupt config.
    Damaged = 1,
    /// The command line was wrong.
    Usage = 2,
    /// The vault could not be unlocked: wrong password or master key.
    Unlock = 3,
    /// The check could not run: missing tool, unreachable remote, local
    /// I/O error, an unsupported vault feature.
    CouldNotRun = 4,
}

impl ExitStatus {
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The name used in JSON output and records.
    pub fn word(self) -> &'static str {
        match self {
            ExitStatus::Verified => "verified",
            ExitStatus::Damaged => "damaged",
            ExitStatus::Usage => "usage",
            ExitStatus::Unlock => "unlock",
            ExitStatus::CouldNotRun => "could_not_run",
        }
    }
}
