//! The restore report, rendered from a [`RestoreOutcome`] and nothing
//! else: the verdict first, the numbered steps with what ran and what they
//! showed, every path not restored with its cause and what to do, and the
//! command that resumes. JSON is the outcome itself, serialized.

use std::fmt::Write as _;

use super::RestoreOutcome;
use crate::display::human_bytes;
use crate::drill::outcome::StepStatus;
use crate::drill::report::{cell, code, duration};
use crate::exit::ExitStatus;

/// The first line: the verdict, in words.
pub fn headline(o: &RestoreOutcome) -> String {
    let t = &o.totals;
    let what = if o.paths.is_empty() {
        "the vault".to_string()
    } else {
        o.paths
            .iter()
            .map(|p| code(p))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let dest = code(&o.dest);
    match o.verdict {
        ExitStatus::Verified => format!(
            "RESTORED: {what} from {} into {dest}, {} files ({}), every one verified",
            code(&o.source),
            t.files_restored + t.files_rechecked,
            human_bytes(t.bytes_restored + t.bytes_rechecked)
        ),
        ExitStatus::Damaged => format!(
            "INCOMPLETE: the backup is damaged; {} of {} files restored and verified into {dest}, {} not",
            t.files_restored + t.files_rechecked,
            t.files,
            t.files.saturating_sub(t.files_restored + t.files_rechecked)
        ),
        ExitStatus::Unlock => format!(
            "NOT RESTORED: the vault at {} could not be unlocked",
            code(&o.source)
        ),
        ExitStatus::CouldNotRun | ExitStatus::Usage => format!(
            "INCOMPLETE: the restore into {dest} could not finish; {} of {} files restored and verified so far",
            t.files_restored + t.files_rechecked,
            t.files
        ),
    }
}

/// The Markdown report.
pub fn markdown(o: &RestoreOutcome) -> String {
    let mut m = String::new();
    let _ = writeln!(m, "# {}\n", headline(o));
    let _ = writeln!(
        m,
        "Restore from {} into {} started {} by {}, {}. Exit code {}.{}\n",
        code(&o.source),
        code(&o.dest),
        o.started,
        o.tool,
        duration(o.seconds),
        o.verdict.code(),
        if o.resumed {
            " It resumed an earlier, unfinished restore into the same folder."
        } else {
            ""
        }
    );
    if !o.manifest.is_empty() {
        let _ = writeln!(m, "Followed {}.\n", o.manifest);
    }

    let _ = writeln!(m, "## Steps\n");
    for (i, step) in o.steps.iter().enumerate() {
        let _ = writeln!(
            m,
            "{}. **{}**: {} ({})",
            i + 1,
            step.title,
            step.status.word(),
            duration(step.seconds)
        );
        if !step.ran.is_empty() {
            let _ = writeln!(m, "   - Ran: {}", step.ran);
        }
        if !step.summary.is_empty() {
            let _ = writeln!(m, "   - Showed: {}", step.summary);
        }
    }
    m.push('\n');

    let t = &o.totals;
    let _ = writeln!(m, "## Restored\n");
    let _ = writeln!(m, "| | files | bytes |\n|---|---|---|");
    let _ = writeln!(m, "| to restore | {} | {} |", t.files, human_bytes(t.bytes));
    let _ = writeln!(
        m,
        "| restored and verified by this run | {} | {} |",
        t.files_restored,
        human_bytes(t.bytes_restored)
    );
    let _ = writeln!(
        m,
        "| there from an earlier run, hashed again | {} | {} |",
        t.files_rechecked,
        human_bytes(t.bytes_rechecked)
    );
    let _ = writeln!(m, "| not restored | {} | |\n", t.files_failed);
    let _ = writeln!(
        m,
        "Also {} folders, {} symlinks, {} FIFOs. Downloaded {} of ciphertext in {}; decryption \
         and verification took {} (overlapped with the download).\n",
        t.dirs,
        t.symlinks,
        t.specials,
        human_bytes(t.bytes_downloaded),
        duration(t.download_seconds),
        duration(t.restore_seconds)
    );

    let _ = writeln!(m, "## Not restored\n");
    let findings: Vec<_> = o.findings().collect();
    if findings.is_empty() {
        let _ = writeln!(m, "Nothing.\n");
    } else {
        let _ = writeln!(m, "| | path | object | cause | what to do |");
        let _ = writeln!(m, "|---|---|---|---|---|");
        for (step, f) in &findings {
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} | {} |",
                f.label,
                f.path
                    .as_deref()
                    .map(|p| cell(&code(p)))
                    .unwrap_or_else(|| "-".into()),
                cell(&code(&f.object)),
                cell(&f.cause),
                step.runbook
            );
        }
        m.push('\n');
    }

    let _ = writeln!(m, "## What now\n");
    let failed: Vec<_> = o
        .steps
        .iter()
        .filter(|s| {
            matches!(
                s.status,
                StepStatus::Failed | StepStatus::Error | StepStatus::Refused | StepStatus::NotRun
            )
        })
        .collect();
    if failed.is_empty() {
        let _ = writeln!(
            m,
            "Nothing: every file is in place and matches the manifest. Open a few files you know \
             before you rely on them, then keep a copy elsewhere (runbooks/restore-a-vault.md).\n"
        );
    } else {
        for step in failed {
            let _ = writeln!(
                m,
                "- {} {}: follow {}.",
                step.title,
                step.status.word(),
                step.runbook
            );
        }
        let _ = writeln!(
            m,
            "- Then run the same command again: what is restored stays and is checked again, \
             the rest is restored. Nothing in the folder is ever overwritten or deleted.\n"
        );
    }

    let _ = writeln!(m, "## Reproduce\n\n```sh");
    for line in &o.reproduce {
        let _ = writeln!(m, "{line}");
    }
    let _ = writeln!(m, "```");
    m
}
