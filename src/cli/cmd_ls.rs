//! `vaultdrill ls`: decrypted paths, types and sizes.

use std::io::{self, BufWriter, Write};

use serde::Serialize;
use vaultdrill::ExitStatus;
use vaultdrill::display::{escape_bytes, escape_path};
use vaultdrill::problem::{Problem, overall_status, selected_status};
use vaultdrill::selection::{Selection, Want};
use vaultdrill::vault::walk::{Entry, EntryKind, WalkItem, Walker};

use super::args::LsArgs;
use super::output::{mode_string, problem_line, rfc3339};
use super::unlock::{Use, unlock};

#[derive(Serialize)]
struct ListedEntry {
    #[serde(rename = "type")]
    kind: &'static str,
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    mode: String,
    mtime: String,
    mtime_ns: i128,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    cipher_path: String,
    cipher_size: u64,
}

#[derive(Serialize)]
struct ListedProblem {
    #[serde(rename = "type")]
    kind: &'static str,
    status: vaultdrill::ExitStatus,
    path: Option<String>,
    dir: String,
    cipher_path: String,
    problem: String,
}

fn listed(e: &Entry) -> ListedEntry {
    ListedEntry {
        kind: e.kind.label(),
        path: e.plain_path.to_string_lossy().into_owned(),
        size: match &e.kind {
            EntryKind::File { plain_size } => Some(*plain_size),
            EntryKind::Symlink { target } => Some(target.len() as u64),
            _ => None,
        },
        mode: format!("{:04o}", e.mode),
        mtime: rfc3339(e.mtime_sec, e.mtime_nsec),
        mtime_ns: i128::from(e.mtime_sec) * 1_000_000_000 + i128::from(e.mtime_nsec),
        target: match &e.kind {
            EntryKind::Symlink { target } => Some(String::from_utf8_lossy(target).into_owned()),
            _ => None,
        },
        cipher_path: e.cipher_path.to_string_lossy().into_owned(),
        cipher_size: e.cipher_size,
    }
}

fn text_line(e: &Entry) -> String {
    let (type_char, size) = match &e.kind {
        EntryKind::File { plain_size } => ('-', plain_size.to_string()),
        EntryKind::Dir => ('d', "-".into()),
        EntryKind::Symlink { target } => ('l', target.len().to_string()),
        EntryKind::Fifo => ('p', "-".into()),
        EntryKind::Socket => ('s', "-".into()),
        EntryKind::CharDevice { .. } => ('c', "-".into()),
        EntryKind::BlockDevice { .. } => ('b', "-".into()),
    };
    let mut line = format!(
        "{} {:>12}  {}  {}",
        mode_string(type_char, e.mode),
        size,
        rfc3339(e.mtime_sec, e.mtime_nsec),
        escape_path(&e.plain_path)
    );
    match &e.kind {
        EntryKind::Dir => line.push('/'),
        EntryKind::Symlink { target } => {
            line.push_str(" -> ");
            line.push_str(&escape_bytes(target));
        }
        _ => {}
    }
    line
}

fn problem_json(p: &Problem) -> ListedProblem {
    ListedProblem {
        kind: "problem",
        status: p.status(),
        path: p
            .plain_path
            .as_ref()
            .map(|x| x.to_string_lossy().into_owned()),
        dir: p.plain_dir.to_string_lossy().into_owned(),
        cipher_path: p.cipher_path.to_string_lossy().into_owned(),
        problem: p.kind.to_string(),
    }
}

pub fn run(args: &LsArgs) -> anyhow::Result<ExitStatus> {
    let selection = Selection::parse(&args.paths).map_err(vaultdrill::Error::from)?;
    let vault = unlock(&args.cipherdir, &args.unlock, false, Use::Read)?;
    let mut problems = Vec::new();
    let mut walker = Walker::new(&vault, &selection);
    match list(&mut walker, args, &mut problems) {
        Ok(()) => {}
        // The reader went away: what was found so far still counts.
        Err(e) if super::is_broken_pipe(&e) => return Ok(overall_status(&problems)),
        Err(e) => return Err(e),
    }
    let unmatched = walker.unmatched();
    for path in &unmatched {
        eprintln!(
            "vaultdrill: nothing in the vault matches --path {}",
            escape_path(path)
        );
    }
    Ok(selected_status(&problems, &unmatched))
}

fn list(walker: &mut Walker<'_>, args: &LsArgs, problems: &mut Vec<Problem>) -> anyhow::Result<()> {
    let mut out = BufWriter::new(io::stdout().lock());
    for item in walker {
        match item {
            WalkItem::Entry(e) if e.want == Want::Ancestor => {}
            WalkItem::Entry(e) => {
                if args.json {
                    serde_json::to_writer(&mut out, &listed(&e))?;
                    writeln!(out)?;
                } else {
                    writeln!(out, "{}", text_line(&e))?;
                }
            }
            WalkItem::Meta(_) => {}
            WalkItem::Problem(p) => {
                if args.json {
                    serde_json::to_writer(&mut out, &problem_json(&p))?;
                    writeln!(out)?;
                } else {
                    out.flush()?;
                    eprintln!("vaultdrill: {}", problem_line(&p));
                }
                problems.push(p);
            }
        }
    }
    out.flush()?;
    Ok(())
}
