//! The restore report, rendered from a [`RestoreOutcome`] and nothing
//! else: the verdict first, the numbered steps with what ran and what they
//! showed, every path not restored with its cause and what to do, and the
//! command that resumes. JSON is the outcome itself, serialized.

use std::fmt::Write as _;

use super::RestoreOutcome;
use crate::display::human_bytes;
use crate::drill::outcome::StepStatus;
use crate::drill::report::{cell, code, duration, findings_table, steps_section};
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

    steps_section(&mut m, &o.steps, false);

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
    findings_table(
        &mut m,
        o.findings(),
        ("Nothing.", "object", "what to do"),
        |step, f| {
            cell(if f.next.is_empty() {
                step.runbook
            } else {
                &f.next
            })
        },
    );
    let findings: Vec<_> = o.findings().collect();
    let missing: Vec<_> = findings
        .iter()
        .filter(|(_, f)| f.cause.contains("missing on the remote"))
        .collect();
    if !missing.is_empty() {
        let _ = writeln!(
            m,
            "In the manifest but missing on the remote ({}): {}.\n",
            missing.len(),
            missing
                .iter()
                .map(|(_, f)| f
                    .path
                    .as_deref()
                    .map(code)
                    .unwrap_or_else(|| code(&f.object)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    let _ = writeln!(m, "## What now\n");
    if !o.still_owed.is_empty() {
        let _ = writeln!(
            m,
            "- An earlier, unfinished restore into this folder was of {}: run it again (or \
             this command without --path) to finish it; the folder keeps its marker until then.",
            if o.still_owed == ["."] {
                "the whole vault".to_string()
            } else {
                o.still_owed
                    .iter()
                    .map(|p| code(p))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
    }
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

#[cfg(test)]
mod tests {
    use super::super::{RestoreOutcome, Totals};
    use super::*;
    use crate::drill::outcome::{Finding, Step, StepKind, verdict};
    use crate::drill::report::tests::golden;

    /// A resumed restore that met damage, with a hostile name.
    fn damaged() -> RestoreOutcome {
        let mut steps: Vec<Step> = [
            StepKind::Locate,
            StepKind::UnlockPassword,
            StepKind::Restore,
            StepKind::Finish,
        ]
        .into_iter()
        .map(Step::new)
        .collect();
        for (step, status, ran, summary) in [
            (
                0,
                StepStatus::Passed,
                "fetched gocryptfs.conf",
                "the manifest lists what to restore",
            ),
            (
                1,
                StepStatus::Passed,
                "",
                "the password opened the remote's gocryptfs.conf",
            ),
            (
                2,
                StepStatus::Failed,
                "rclone copy b2:bucket/vault WORK --files-from LIST",
                "25 of 27 files restored and verified; 2 not restored (listed below)",
            ),
            (
                3,
                StepStatus::Passed,
                "set modes",
                "4 folders, 1 symlinks, 0 FIFOs",
            ),
        ] {
            steps[step].status = status;
            steps[step].ran = ran.into();
            steps[step].summary = summary.into();
            steps[step].seconds = 1.5;
        }
        steps[2].findings = vec![
            Finding {
                label: "DAMAGED",
                path: Some("photos/a|b`c.jpg".into()),
                object: "Xk2/abc".into(),
                cause: "missing on the remote".into(),
                next: "get this object back, then run the same command again".into(),
            },
            Finding {
                label: "DAMAGED",
                path: Some("thesis/ch1.md".into()),
                object: "Xk2/def".into(),
                cause: "block 3: authentication failed".into(),
                next: String::new(),
            },
        ];
        let mut o = RestoreOutcome {
            verdict: ExitStatus::CouldNotRun,
            source: "b2:bucket/vault".into(),
            dest: "/home/ann/restored".into(),
            vault_id: Some("ab".repeat(16)),
            paths: vec![],
            manifest: "the remote's own manifest, made 2026-12-01T10:00:00Z".into(),
            started: "2026-12-05T02:00:00Z".into(),
            tool: "vaultdrill 0.1.0".into(),
            seconds: 12.0,
            resumed: true,
            complete: false,
            unmatched: vec![],
            still_owed: vec!["photos".into()],
            steps,
            totals: Totals {
                files: 27,
                bytes: 30 << 20,
                files_restored: 5,
                bytes_restored: 5 << 20,
                files_rechecked: 20,
                bytes_rechecked: 20 << 20,
                files_failed: 2,
                dirs: 4,
                symlinks: 1,
                specials: 0,
                bytes_downloaded: 6 << 20,
                download_seconds: 2.0,
                restore_seconds: 1.0,
            },
            reproduce: vec!["vaultdrill restore b2:bucket/vault /home/ann/restored".into()],
        };
        o.verdict = verdict(&o.steps);
        o
    }

    #[test]
    fn damaged_restore_report_is_as_golden() {
        let o = damaged();
        assert_eq!(o.verdict, ExitStatus::Damaged);
        let text = markdown(&o);
        assert!(text.starts_with("# INCOMPLETE: the backup is damaged; 25 of 27 files"));
        golden("restore-damaged.md", &text);
    }

    #[test]
    fn complete_restore_report_is_as_golden() {
        let mut o = damaged();
        for step in &mut o.steps {
            step.status = StepStatus::Passed;
            step.findings.clear();
        }
        o.totals.files_failed = 0;
        o.totals.files_restored = 7;
        o.complete = true;
        o.still_owed.clear();
        o.verdict = verdict(&o.steps);
        assert_eq!(o.verdict, ExitStatus::Verified);
        let text = markdown(&o);
        assert!(text.starts_with("# RESTORED: the vault from `b2:bucket/vault`"));
        golden("restore-complete.md", &text);
    }
}
