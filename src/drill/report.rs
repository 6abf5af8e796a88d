//! Reports rendered from a drill's [`Outcome`]: a runbook-style Markdown
//! page (verdict on the first line, numbered steps, findings by path,
//! coverage, the restore estimate, what to do, how to reproduce) and a
//! JUnit file for CI systems. JSON is the outcome itself, serialized.

use std::fmt::Write as _;

use super::outcome::{Outcome, StepStatus};
use crate::display::human_bytes;
use crate::exit::ExitStatus;

/// `text` as a Markdown code span, whatever backticks it holds.
pub(crate) fn code(text: &str) -> String {
    let run = text
        .as_bytes()
        .split(|&b| b != b'`')
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(run + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// A table cell: no pipes or line breaks.
pub(crate) fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

pub(crate) fn duration(seconds: f64) -> String {
    if seconds >= 3600.0 {
        format!("{:.1} h", seconds / 3600.0)
    } else if seconds >= 120.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{seconds:.1} s")
    }
}

/// The numbered steps: title, status, time, what ran and what it showed
/// (and, with `count_findings`, how many findings are listed below).
pub(crate) fn steps_section(m: &mut String, steps: &[super::outcome::Step], count_findings: bool) {
    let _ = writeln!(m, "## Steps\n");
    for (i, step) in steps.iter().enumerate() {
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
        if count_findings && !step.findings.is_empty() {
            let _ = writeln!(m, "   - {} finding(s), listed below.", step.findings.len());
        }
    }
    m.push('\n');
}

/// The findings as a table (path, object, cause, and a last column from
/// `last`), or the words for none. `words`: (none, object header, last
/// column header).
pub(crate) fn findings_table<'a>(
    m: &mut String,
    findings: impl Iterator<Item = (&'a super::outcome::Step, &'a super::outcome::Finding)>,
    words: (&str, &str, &str),
    last: impl Fn(&super::outcome::Step, &super::outcome::Finding) -> String,
) {
    let (none, object, last_header) = words;
    let mut any = false;
    for (step, f) in findings {
        if !any {
            let _ = writeln!(m, "| | path | {object} | cause | {last_header} |");
            let _ = writeln!(m, "|---|---|---|---|---|");
            any = true;
        }
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
            last(step, f)
        );
    }
    let _ = writeln!(m, "{}", if any { "" } else { none });
    if !any {
        m.push('\n');
    }
}

/// The steps as terminal lines: "  1. Title: status (summary)".
pub fn step_lines(steps: &[super::outcome::Step]) -> String {
    let mut out = String::new();
    for (i, step) in steps.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {}. {}: {}{}",
            i + 1,
            step.title,
            step.status.word(),
            if step.summary.is_empty() {
                String::new()
            } else {
                format!(" ({})", step.summary)
            }
        );
    }
    out
}

/// The first line: the verdict, in words.
pub fn headline(o: &Outcome) -> String {
    let remote = code(&o.remote);
    let damaged = o.findings().filter(|(_, f)| f.label == "DAMAGED").count();
    let audit_only = o
        .steps
        .iter()
        .any(|s| s.kind == super::outcome::StepKind::Sample && s.status == StepStatus::Skipped);
    match o.verdict {
        ExitStatus::Verified if audit_only => format!(
            "PASSED (audit only): every object of the backup at {remote} is there as listed; \
             nothing was decrypted"
        ),
        ExitStatus::Verified => format!("PASSED: the backup at {remote} can be restored"),
        ExitStatus::Damaged => format!(
            "FAILED: the backup at {remote} is damaged ({damaged} finding{})",
            if damaged == 1 { "" } else { "s" }
        ),
        ExitStatus::Unlock => format!("FAILED: the backup at {remote} could not be unlocked"),
        ExitStatus::CouldNotRun | ExitStatus::Usage => {
            format!("NOT PROVEN: the drill of {remote} could not run to the end")
        }
    }
}

/// The Markdown report.
pub fn markdown(o: &Outcome) -> String {
    let mut m = String::new();
    let _ = writeln!(m, "# {}\n", headline(o));
    let _ = writeln!(
        m,
        "Drill of {} started {} by {}, {}. Exit code {}.\n",
        code(&o.remote),
        o.started,
        o.tool,
        duration(o.seconds),
        o.verdict.code()
    );
    let _ = writeln!(m, "## Scenario\n\n{}\n", o.scenario);

    steps_section(&mut m, &o.steps, true);

    let _ = writeln!(m, "## Findings\n");
    findings_table(
        &mut m,
        o.findings(),
        ("None.", "object on the remote", "step"),
        |step, _| step.title.to_string(),
    );

    let c = &o.coverage;
    let _ = writeln!(m, "## Coverage\n");
    let share = if c.files_total > 0 {
        100.0 * c.files_decrypted as f64 / c.files_total as f64
    } else {
        0.0
    };
    let _ = writeln!(
        m,
        "This drill sampled {} of the vault's {} files and decrypted {} ({share:.1} % of the \
         vault), downloading {}; the listing audited {} objects (every object of the remote, by \
         size and by hash where the remote keeps one).\n",
        c.files_sampled,
        c.files_total,
        c.files_decrypted,
        human_bytes(c.bytes_downloaded),
        c.objects_audited
    );
    if !c.chosen_by.is_empty() {
        let _ = writeln!(
            m,
            "The sample was chosen by {}. Drills have verified {} of the {} files ({:.1} %) in \
             the last 12 months, counting this one (as remembered in the state directory; an \
             edited file counts as new).\n",
            c.chosen_by, c.verified_12m_files, c.files_total, c.verified_12m_percent
        );
    }

    if let Some(e) = &o.estimate {
        let _ = writeln!(m, "## Restore estimate\n");
        let _ = writeln!(
            m,
            "A full restore would download {} and take about {} \
             (download {:.1} MiB/s, decryption {:.1} MiB/s as measured here). {}\n",
            human_bytes(e.egress_bytes),
            duration(e.restore_seconds),
            e.download_mib_s,
            e.decrypt_mib_s,
            e.assumptions
        );
    }

    if !o.not_proven.is_empty() {
        let _ = writeln!(m, "## Not proven by this drill\n");
        for item in &o.not_proven {
            let _ = writeln!(m, "- {item}");
        }
        m.push('\n');
    }

    let _ = writeln!(m, "## If this failed, do this\n");
    let failed: Vec<_> = o
        .steps
        .iter()
        .filter(|s| {
            matches!(
                s.status,
                StepStatus::Failed | StepStatus::Error | StepStatus::Refused
            )
        })
        .collect();
    if failed.is_empty() {
        let _ = writeln!(
            m,
            "Nothing to do. Keep drilling: the next drill samples other files \
             (runbooks/monthly-drill.md).\n"
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
        m.push('\n');
    }

    let _ = writeln!(m, "## Reproduce\n\n```sh");
    for line in &o.reproduce {
        let _ = writeln!(m, "{line}");
    }
    let _ = writeln!(m, "```");
    m
}

fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// A JUnit XML file: one test case per step.
pub fn junit(o: &Outcome) -> String {
    let count = |s: StepStatus| o.steps.iter().filter(|x| x.status == s).count();
    let failures = count(StepStatus::Failed) + count(StepStatus::Refused);
    let errors = count(StepStatus::Error) + count(StepStatus::NotRun);
    let skipped = count(StepStatus::Skipped);
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuite name=\"vaultdrill drill {}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{:.3}\" timestamp=\"{}\">",
        xml(&o.remote),
        o.steps.len(),
        o.seconds,
        xml(&o.started)
    );
    for (i, step) in o.steps.iter().enumerate() {
        let _ = write!(
            x,
            "  <testcase classname=\"vaultdrill.drill\" name=\"{}. {}\" time=\"{:.3}\"",
            i + 1,
            xml(step.title),
            step.seconds
        );
        let details = || {
            let mut d = step.summary.clone();
            for f in &step.findings {
                let _ = write!(
                    d,
                    "\n{} {} [{}]: {}",
                    f.label,
                    f.path.as_deref().unwrap_or("-"),
                    f.object,
                    f.cause
                );
            }
            xml(&d)
        };
        match step.status {
            StepStatus::Passed => x.push_str("/>\n"),
            StepStatus::Failed | StepStatus::Refused => {
                let _ = writeln!(
                    x,
                    ">\n    <failure message=\"{}\">{}</failure>\n  </testcase>",
                    xml(&step.summary),
                    details()
                );
            }
            StepStatus::Error | StepStatus::NotRun => {
                let _ = writeln!(
                    x,
                    ">\n    <error message=\"{}\">{}</error>\n  </testcase>",
                    xml(step.status.word()),
                    details()
                );
            }
            StepStatus::Skipped => {
                let _ = writeln!(
                    x,
                    ">\n    <skipped message=\"{}\"/>\n  </testcase>",
                    xml(&step.summary)
                );
            }
        }
    }
    x.push_str("</testsuite>\n");
    x
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::outcome::{Coverage, Estimate, Finding, Step, StepKind};
    use super::*;

    /// A drill that found a bit of everything, with hostile names.
    fn damaged() -> Outcome {
        let mut steps: Vec<Step> = [
            StepKind::Audit,
            StepKind::Sample,
            StepKind::Download,
            StepKind::UnlockPassword,
            StepKind::UnlockMasterKey,
            StepKind::Compare,
            StepKind::Estimate,
        ]
        .into_iter()
        .map(Step::new)
        .collect();
        for (step, status, ran, summary) in [
            (
                0,
                StepStatus::Failed,
                "rclone lsjson -R --files-only b2:bucket/vault",
                "40 objects listed; 1 missing",
            ),
            (
                1,
                StepStatus::Passed,
                "chose by --sample 5% --seed 7",
                "3 of 30 files",
            ),
            (2, StepStatus::Passed, "rclone copy", "12.0 KiB in 0.1 s"),
            (
                3,
                StepStatus::Refused,
                "unlocked the downloaded gocryptfs.conf",
                "wrong password",
            ),
            (
                4,
                StepStatus::Skipped,
                "",
                "skipped on request (--no-masterkey)",
            ),
            (
                5,
                StepStatus::Failed,
                "decrypted every sampled file",
                "3 files: 1 damaged",
            ),
            (6, StepStatus::Passed, "", "download 1.0 MiB/s"),
        ] {
            steps[step].status = status;
            steps[step].ran = ran.into();
            steps[step].summary = summary.into();
            steps[step].seconds = 0.25 * step as f64;
        }
        steps[0].findings.push(Finding {
            label: "DAMAGED",
            path: Some("thesis/`final` | draft\\n<v2>.tex".into()),
            object: "AbC/dEf".into(),
            cause: "missing on the remote: this file cannot be restored from it".into(),
            next: String::new(),
        });
        steps[5].findings.push(Finding {
            label: "DAMAGED",
            path: Some("photos/2024 & more.jpg".into()),
            object: "XyZ".into(),
            cause: "block 2: authentication failed".into(),
            next: String::new(),
        });
        let mut o = Outcome {
            verdict: ExitStatus::Verified,
            remote: "b2:bucket/vault".into(),
            vault_id: Some("c991de2efbf936cbb9ec8adbf1f85bdd".into()),
            started: "2026-12-01T03:00:00Z".into(),
            tool: "vaultdrill 0.1.0".into(),
            seconds: 12.5,
            scenario: "Your disk died today.".into(),
            steps,
            coverage: Coverage {
                files_total: 30,
                bytes_total: 1 << 20,
                files_sampled: 3,
                files_decrypted: 3,
                bytes_decrypted: 3000,
                bytes_downloaded: 12 << 10,
                objects_audited: 40,
                verified_12m_files: 9,
                verified_12m_percent: 30.0,
                chosen_by: "--sample 5% --seed 7".into(),
            },
            estimate: Some(Estimate {
                download_mib_s: 1.0,
                decrypt_mib_s: 200.0,
                egress_bytes: 1 << 20,
                restore_seconds: 1.005,
                assumptions: "Assumes the same rate.".into(),
            }),
            not_proven: vec![
                "that the master key alone, without gocryptfs.conf, restores the vault".into(),
            ],
            reproduce: vec![
                "vaultdrill drill b2:bucket/vault --sample 5% --seed 7 --no-masterkey".into(),
            ],
        };
        o.conclude();
        o
    }

    /// Compares `text` with the golden file `name` in testdata/golden;
    /// `VAULTDRILL_BLESS=1` rewrites it (then review the diff).
    pub(crate) fn golden(name: &str, text: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/golden")
            .join(name);
        if std::env::var_os("VAULTDRILL_BLESS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (VAULTDRILL_BLESS=1 writes it)", path.display()));
        assert_eq!(
            text,
            want,
            "{} differs (VAULTDRILL_BLESS=1 rewrites it)",
            path.display()
        );
    }

    #[test]
    fn damaged_drill_report_is_as_golden() {
        let o = damaged();
        assert_eq!(o.verdict, ExitStatus::Damaged);
        golden("drill-damaged.md", &markdown(&o));
        golden("drill-damaged.xml", &junit(&o));
    }

    #[test]
    fn passed_drill_report_is_as_golden() {
        let mut o = damaged();
        for step in &mut o.steps {
            step.status = StepStatus::Passed;
            step.findings.clear();
        }
        o.not_proven.clear();
        o.conclude();
        assert_eq!(o.verdict, ExitStatus::Verified);
        golden("drill-passed.md", &markdown(&o));
        golden("drill-passed.xml", &junit(&o));
    }

    #[test]
    fn code_spans_survive_backticks() {
        assert_eq!(code("a"), "`a`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x"), "`` `x ``");
    }

    #[test]
    fn xml_escapes() {
        assert_eq!(xml("<a & \"b\">\u{1}"), "&lt;a &amp; &quot;b&quot;&gt;?");
    }
}
