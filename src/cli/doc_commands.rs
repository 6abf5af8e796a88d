//! Every `vaultdrill ...` command shown in the runbooks and the README must
//! parse with the current command line: a runbook followed under stress
//! cannot carry a flag that no longer exists.

use std::path::Path;

use clap::Parser;

use super::args::Cli;

/// Shell words of `line` up to the first unquoted `|`, `;`, `&`, `>`, `<`
/// or comment; quotes and backslashes as the shell reads them (no
/// expansion: `~` and `$VAR` stay as written, which is fine for parsing).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    w.push(q);
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => w.extend(chars.next()),
                        q => w.push(q),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            '#' if word.is_none() => break,
            '|' | ';' | '&' | '>' | '<' => break,
            c if c.is_whitespace() => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// The `vaultdrill` command lines in the fenced code blocks of `text`: a
/// line whose first word is `vaultdrill`, or that runs it after a cron
/// schedule or a CI `run:` key.
fn commands(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            continue;
        }
        let words = shell_words(
            trimmed
                .trim_start_matches("- run:")
                .trim_start_matches("$ "),
        );
        if let Some(at) = words.iter().position(|w| w == "vaultdrill") {
            let before = &words[..at];
            let cron = before.len() == 5;
            if before.is_empty() || cron {
                out.push((i + 1, words[at..].to_vec()));
            }
        }
    }
    out
}

#[test]
fn every_documented_command_parses() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    let mut runbooks: Vec<_> = std::fs::read_dir(root.join("runbooks"))
        .expect("runbooks/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    runbooks.sort();
    files.extend(runbooks);
    let mut checked = 0;
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable");
        for (line, words) in commands(&text) {
            checked += 1;
            if let Err(e) = Cli::try_parse_from(&words) {
                let first = e.to_string().lines().next().unwrap_or("").to_string();
                failures.push(format!(
                    "{}:{line}: {}: {first}",
                    file.display(),
                    words.join(" ")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        checked >= 40,
        "only {checked} commands found: is the extraction broken?"
    );
}

#[test]
fn extraction_reads_what_the_shell_would() {
    assert_eq!(
        shell_words(r#"vaultdrill drill 'b2:a b' --report "x\"y" # note"#),
        ["vaultdrill", "drill", "b2:a b", "--report", "x\"y"]
    );
    assert_eq!(
        shell_words("vaultdrill ls v | head"),
        ["vaultdrill", "ls", "v"]
    );
    let text = "```sh\nvaultdrill info v\n0 3 1 * * vaultdrill drill x\nrclone copy a b\n```\nvaultdrill outside\n```yaml\n  - run: vaultdrill vaults\n```\n";
    let found: Vec<String> = commands(text)
        .into_iter()
        .map(|(_, w)| w.join(" "))
        .collect();
    assert_eq!(
        found,
        [
            "vaultdrill info v",
            "vaultdrill drill x",
            "vaultdrill vaults"
        ]
    );
    // A misspelt flag is caught.
    assert!(Cli::try_parse_from(["vaultdrill", "drill", "r", "--sampel", "5%"]).is_err());
}
