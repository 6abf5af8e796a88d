//! What a drill found, as data: the verdict, the steps with their
//! evidence, the findings by path, coverage and the restore estimate.
//! Reports (Markdown, JSON, JUnit) are rendered from this and nothing else.

use serde::Serialize;

use crate::exit::ExitStatus;

/// How a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Passed,
    /// It ran and found damage.
    Failed,
    /// It could not run (a tool, the network, a local error).
    Error,
    /// The password or master key was refused.
    Refused,
    /// Skipped on request; the report says what was then not proven.
    Skipped,
    /// Not reached: an earlier step stopped the drill.
    NotRun,
}

impl StepStatus {
    /// How a step ends on an error of that exit status: a refused key is
    /// REFUSED, damage FAILED, anything else "could not run".
    pub fn of(status: ExitStatus) -> StepStatus {
        match status {
            ExitStatus::Verified => StepStatus::Passed,
            ExitStatus::Damaged => StepStatus::Failed,
            ExitStatus::Unlock => StepStatus::Refused,
            ExitStatus::Usage | ExitStatus::CouldNotRun => StepStatus::Error,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            StepStatus::Passed => "passed",
            StepStatus::Failed => "FAILED",
            StepStatus::Error => "could not run",
            StepStatus::Refused => "REFUSED",
            StepStatus::Skipped => "skipped",
            StepStatus::NotRun => "not run",
        }
    }
}

/// Which step (the report's numbering).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    Audit,
    Sample,
    Download,
    UnlockPassword,
    UnlockMasterKey,
    Compare,
    CrossCheck,
    Estimate,
    /// A restore's first step: the config, the unlock and the manifest.
    Locate,
    /// A restore's files: fetched, decrypted, verified, placed.
    Restore,
    /// A restore's folders, symlinks, modes and times.
    Finish,
}

impl StepKind {
    pub fn title(self) -> &'static str {
        match self {
            StepKind::Audit => "Audit the remote without downloading",
            StepKind::Sample => "Choose the sample",
            StepKind::Download => "Download the sample",
            StepKind::UnlockPassword => "Unlock with the password",
            StepKind::UnlockMasterKey => "Unlock with only the master key (config regenerated)",
            StepKind::Compare => "Decrypt and compare with the manifest",
            StepKind::CrossCheck => "Cross-check with the real gocryptfs",
            StepKind::Estimate => "Measure and estimate a full restore",
            StepKind::Locate => "Fetch the config and the manifest",
            StepKind::Restore => "Download, decrypt, verify and place the files",
            StepKind::Finish => "Folders, symlinks, modes and times",
        }
    }

    /// The runbook section to follow when this step finds damage or a
    /// refusal.
    pub fn runbook(self) -> &'static str {
        match self {
            StepKind::Audit => "runbooks/damaged-objects.md#missing-objects",
            StepKind::Download => {
                "runbooks/damaged-objects.md#objects-that-differ-from-the-manifest"
            }
            StepKind::Compare => {
                "runbooks/damaged-objects.md#files-that-do-not-decrypt-or-do-not-match"
            }
            StepKind::UnlockPassword => "runbooks/forgotten-password.md#the-password-was-refused",
            StepKind::UnlockMasterKey => {
                "runbooks/forgotten-password.md#the-master-key-was-refused"
            }
            StepKind::Sample | StepKind::Estimate | StepKind::CrossCheck => {
                "runbooks/monthly-drill.md#read-the-report"
            }
            StepKind::Locate => "runbooks/restore-a-vault.md#when-the-restore-cannot-start",
            StepKind::Restore | StepKind::Finish => {
                "runbooks/restore-a-vault.md#files-that-were-not-restored"
            }
        }
    }
}

/// The verdict of a run from its steps: damage outranks a refused secret,
/// which outranks "could not run"; a run that did not finish every step it
/// was asked to is never a pass.
pub fn verdict(steps: &[Step]) -> ExitStatus {
    let any = |s: StepStatus| steps.iter().any(|step| step.status == s);
    if any(StepStatus::Failed) {
        ExitStatus::Damaged
    } else if any(StepStatus::Refused) {
        ExitStatus::Unlock
    } else if any(StepStatus::Error) || any(StepStatus::NotRun) {
        ExitStatus::CouldNotRun
    } else {
        ExitStatus::Verified
    }
}

/// One finding, about one path.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// "DAMAGED", "NOTE" or "FAILED".
    pub label: &'static str,
    /// The plaintext path when known (escaped for display).
    pub path: Option<String>,
    /// The object on the remote.
    pub object: String,
    pub cause: String,
    /// What to do about it, when more precise than the step's runbook.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub next: String,
}

impl Finding {
    /// The finding as one line of the terminal's error output (before the
    /// caller's pointer to a step or runbook).
    pub fn line(&self) -> String {
        format!(
            "{} {}: {} [object: {}]",
            self.label,
            self.path.as_deref().unwrap_or("-"),
            self.cause,
            self.object
        )
    }
}

/// One step of the drill.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub kind: StepKind,
    pub title: &'static str,
    pub status: StepStatus,
    /// What was run, in words a person can repeat.
    pub ran: String,
    pub seconds: f64,
    /// What it showed.
    pub summary: String,
    pub findings: Vec<Finding>,
    /// The runbook section to follow if it did not pass.
    pub runbook: &'static str,
}

/// Where to go when a step could not run.
pub const COULD_NOT_RUN: &str = "runbooks/monthly-drill.md#when-the-drill-could-not-run";

/// Where to go when the config is lost.
pub const LOST_CONFIG: &str = "runbooks/lost-config.md";

impl Step {
    pub fn new(kind: StepKind) -> Step {
        Step {
            kind,
            title: kind.title(),
            status: StepStatus::NotRun,
            ran: String::new(),
            seconds: 0.0,
            summary: String::new(),
            findings: Vec::new(),
            runbook: kind.runbook(),
        }
    }
}

/// How much of the vault this drill read.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Coverage {
    pub files_total: u64,
    pub bytes_total: u64,
    pub files_sampled: u64,
    /// Sampled files decrypted and compared (fewer when a step stopped).
    pub files_decrypted: u64,
    /// Their plaintext bytes.
    pub bytes_decrypted: u64,
    pub bytes_downloaded: u64,
    pub objects_audited: u64,
    /// Files of the newest manifest proven by a drill in the last 12
    /// months (this one included), as remembered in the state directory.
    pub verified_12m_files: u64,
    pub verified_12m_percent: f64,
    /// How the sample was chosen, in words.
    pub chosen_by: String,
}

/// A full restore, estimated from what this drill measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Estimate {
    pub download_mib_s: f64,
    pub decrypt_mib_s: f64,
    pub egress_bytes: u64,
    pub restore_seconds: f64,
    pub assumptions: String,
}

/// The whole drill.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub verdict: ExitStatus,
    pub remote: String,
    /// The vault's id, once the drill learned it.
    pub vault_id: Option<String>,
    pub started: String,
    pub tool: String,
    pub seconds: f64,
    pub scenario: String,
    pub steps: Vec<Step>,
    pub coverage: Coverage,
    pub estimate: Option<Estimate>,
    /// What was not proven (skipped unlock paths, steps not reached).
    pub not_proven: Vec<String>,
    /// Commands that repeat this drill.
    pub reproduce: Vec<String>,
}

impl Outcome {
    /// The verdict from the steps: damage outranks "could not run"; a
    /// drill that did not run every step it was asked to is never passed.
    pub fn conclude(&mut self) {
        for step in &mut self.steps {
            if matches!(step.status, StepStatus::Error | StepStatus::NotRun) {
                step.runbook = COULD_NOT_RUN;
            }
        }
        self.verdict = verdict(&self.steps);
    }

    pub fn findings(&self) -> impl Iterator<Item = (&Step, &Finding)> {
        self.steps
            .iter()
            .flat_map(|s| s.findings.iter().map(move |f| (s, f)))
    }
}
