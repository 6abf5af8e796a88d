//! A full local scrub against a manifest: every block of every file
//! authenticated and its plaintext BLAKE3 compared, every diriv and sidecar
//! compared, what the manifest lists but the vault lacks reported, path by
//! path. Changes that the vault's own metadata explains (a newer mtime, a
//! new file) are notices; differences it does not explain are damage.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::build::{Hashes, RemoteHashes, digest_file, digest_meta, is_manifest_path};
use super::{ManifestError, ManifestReader, Record};
use crate::ExitStatus;
use crate::format::config::CONFIG_NAME;
use crate::problem::{Problem, ProblemKind, selected_status};
use crate::progress::Progress;
use crate::selection::{Selection, Want};
use crate::throttle::Throttle;
use crate::vault::UnlockedVault;
use crate::vault::walk::{Entry, EntryKind, WalkItem, Walker};

pub struct VerifyOptions<'a> {
    pub selection: &'a Selection,
    pub progress: &'a dyn Progress,
    /// A copy that must match its manifest exactly (a remote, a drill's
    /// download): nothing is explained by a newer mtime, every difference
    /// but a rewritten config is damage.
    pub strict: bool,
}

/// What a verification found.
#[derive(Debug, Default)]
pub struct VerifySummary {
    pub manifest_created: String,
    pub entries: u64,
    pub files: u64,
    pub bytes: u64,
    /// Sorted by plaintext path.
    pub problems: Vec<Problem>,
    /// `--path` values that matched nothing in the vault.
    pub unmatched: Vec<PathBuf>,
    pub elapsed: Duration,
}

impl VerifySummary {
    /// Damage outranks everything; a `--path` that matched nothing turns
    /// a pass into a usage error (nothing was checked for it).
    pub fn status(&self) -> ExitStatus {
        selected_status(&self.problems, &self.unmatched)
    }
}

fn problem(path: &Path, cipher: &str, kind: ProblemKind) -> Problem {
    Problem {
        cipher_path: cipher.into(),
        plain_path: Some(path.to_path_buf()),
        plain_dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        kind,
    }
}

fn ns(sec: i64, nsec: i64) -> i64 {
    sec.saturating_mul(1_000_000_000).saturating_add(nsec)
}

fn compare_file(fresh: &Record, listed: &Record, strict: bool) -> Option<ProblemKind> {
    // gocryptfs keeps the plaintext mtime on the ciphertext, and rclone
    // carries it to the remote and back: an edit moves it, rot and
    // tampering (a truncated or swapped object) do not. A strict copy
    // explains nothing by its mtime.
    let unchanged = strict
        || fresh.cipher_path == listed.cipher_path
            && fresh.cipher_mtime_ns == listed.cipher_mtime_ns;
    let same = fresh.blake3 == listed.blake3 && fresh.size == listed.size;
    let why = if strict {
        ""
    } else {
        ", though the mtime did not change"
    };
    match (same, unchanged) {
        (true, _) => None,
        (false, true) if listed.damaged.is_some() => None,
        (false, true) if fresh.size != listed.size => Some(ProblemKind::ManifestMismatch(format!(
            "{} bytes instead of {}{why} (cut or replaced)",
            fresh.size.unwrap_or(0),
            listed.size.unwrap_or(0)
        ))),
        (false, true) => Some(ProblemKind::ManifestMismatch(format!(
            "plaintext BLAKE3 {} instead of {}{why}",
            fresh.blake3.as_deref().unwrap_or("?"),
            listed.blake3.as_deref().unwrap_or("?")
        ))),
        (false, false) => Some(ProblemKind::ChangedSinceManifest(format!(
            "size {} -> {}, mtime changed",
            listed.size.unwrap_or(0),
            fresh.size.unwrap_or(0)
        ))),
    }
}

pub fn verify_vault<R: BufRead>(
    vault: &UnlockedVault,
    mut manifest: ManifestReader<R>,
    options: &VerifyOptions<'_>,
) -> Result<VerifySummary, ManifestError> {
    let started = Instant::now();
    let mut summary = VerifySummary {
        manifest_created: manifest.header().created.clone(),
        ..Default::default()
    };
    let problems = Mutex::new(Vec::new());
    let report = |p: Problem| problems.lock().unwrap_or_else(|e| e.into_inner()).push(p);
    let files = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    // Meta files are compared on the way to what is selected; entries
    // only when selected themselves.
    let wanted = |path: &Path| options.selection.wants(path) != Want::No;
    let selected = |path: &Path| options.selection.wants(path) == Want::Selected;
    let mut listed_meta: HashMap<String, Record> = HashMap::new();
    let strict = options.strict;
    let mut found_meta: HashMap<String, Record> = HashMap::new();
    // Folders whose mtime moved since the manifest (or that are new): what
    // is gone from them was deleted or renamed, not lost. And the entries
    // found gone, so their diriv and sidecar files are not reported twice.
    let mut changed_dirs: HashSet<PathBuf> = HashSet::new();
    let mut gone: HashMap<PathBuf, bool> = HashMap::new();
    if manifest.header().root_mtime_ns != super::build::root_mtime_ns(vault) {
        changed_dirs.insert(PathBuf::new());
    }
    let mut lookahead = manifest.next_record()?;
    let throttle = Throttle::for_workers();

    // Consumes the manifest up to `until` (walk order): records before it
    // are missing from the vault, the one equal to it is returned.
    // Folders the walk could not read: what the manifest lists under them
    // is unknown, not missing (their problem is reported already).
    let unexplored: std::cell::RefCell<Vec<PathBuf>> = std::cell::RefCell::new(Vec::new());
    let mut catch_up = |lookahead: &mut Option<Record>,
                        until: Option<&Path>,
                        listed_meta: &mut HashMap<String, Record>,
                        changed_dirs: &HashSet<PathBuf>,
                        gone: &mut HashMap<PathBuf, bool>|
     -> Result<Option<Record>, ManifestError> {
        while let Some(r) = lookahead.take() {
            let order = until.map(|p| r.plain_path().as_path().cmp(p));
            if !r.is_plain_entry() {
                listed_meta.insert(r.cipher_path.clone(), r);
            } else if order == Some(std::cmp::Ordering::Greater) {
                *lookahead = Some(r);
                return Ok(None);
            } else if order == Some(std::cmp::Ordering::Equal) {
                *lookahead = manifest.next_record()?;
                return Ok(Some(r));
            } else if selected(&r.plain_path())
                && !is_manifest_path(&r.plain_path())
                && !unexplored
                    .borrow()
                    .iter()
                    .any(|d| r.plain_path().starts_with(d))
            {
                let path = r.plain_path();
                let parent = path.parent().unwrap_or(Path::new(""));
                let explained =
                    changed_dirs.contains(parent) || gone.get(parent).copied().unwrap_or(false);
                let kind = if explained {
                    ProblemKind::RemovedSinceManifest
                } else {
                    ProblemKind::MissingSinceManifest
                };
                report(problem(&path, &r.cipher_path, kind));
                gone.insert(path, explained);
            }
            *lookahead = manifest.next_record()?;
        }
        Ok(None)
    };

    let mut walker = Walker::new(vault, options.selection).with_meta();
    rayon::in_place_scope(|scope| -> Result<(), ManifestError> {
        for item in walker.by_ref() {
            let entry: Entry = match item {
                WalkItem::Problem(p) => {
                    if p.status() == crate::ExitStatus::CouldNotRun {
                        unexplored
                            .borrow_mut()
                            .push(p.plain_path.clone().unwrap_or_else(|| p.plain_dir.clone()));
                    }
                    report(p);
                    continue;
                }
                WalkItem::Meta(meta) => {
                    match digest_meta(&meta, RemoteHashes::default()) {
                        Ok(r) => {
                            found_meta.insert(r.cipher_path.clone(), r);
                        }
                        Err(kind) => report(problem(
                            &meta.owner,
                            &meta.cipher_path.to_string_lossy(),
                            kind,
                        )),
                    }
                    continue;
                }
                WalkItem::Entry(e) => e,
            };
            if is_manifest_path(&entry.plain_path) || entry.want == Want::Ancestor {
                continue;
            }
            let listed = catch_up(
                &mut lookahead,
                Some(&entry.plain_path),
                &mut listed_meta,
                &changed_dirs,
                &mut gone,
            )?;
            if matches!(entry.kind, EntryKind::Dir)
                && listed.as_ref().and_then(|l| l.mtime_ns)
                    != Some(ns(entry.mtime_sec, entry.mtime_nsec))
            {
                changed_dirs.insert(entry.plain_path.clone());
            }
            summary.entries += 1;
            options.progress.add_file();
            let cipher = entry.cipher_path.to_string_lossy().into_owned();
            match (&entry.kind, listed) {
                (EntryKind::File { .. }, listed) => {
                    throttle.acquire();
                    let (report, throttle, files, bytes) = (&report, &throttle, &files, &bytes);
                    let progress = options.progress;
                    scope.spawn(move |_| {
                        match digest_file(vault, &entry, Hashes::Plain, progress) {
                            Ok(fresh) => {
                                files.fetch_add(1, Ordering::Relaxed);
                                bytes.fetch_add(fresh.size.unwrap_or(0), Ordering::Relaxed);
                                let kind = match &listed {
                                    None => Some(ProblemKind::NotInManifest),
                                    Some(l) if l.kind != "file" => {
                                        Some(ProblemKind::ChangedSinceManifest(format!(
                                            "was a {}",
                                            l.kind
                                        )))
                                    }
                                    Some(l) => compare_file(&fresh, l, strict),
                                };
                                if let Some(kind) = kind {
                                    report(problem(&entry.plain_path, &cipher, kind));
                                }
                            }
                            Err(kind) => report(problem(&entry.plain_path, &cipher, kind)),
                        }
                        throttle.release();
                    });
                }
                (_, None) => report(problem(
                    &entry.plain_path,
                    &cipher,
                    ProblemKind::NotInManifest,
                )),
                (kind, Some(l)) if l.kind != kind.label() => report(problem(
                    &entry.plain_path,
                    &cipher,
                    ProblemKind::ChangedSinceManifest(format!(
                        "was a {}, is a {}",
                        l.kind,
                        kind.label()
                    )),
                )),
                (EntryKind::Symlink { target }, Some(l))
                    if l.target_hex.as_deref() != Some(super::hex(target).as_str()) =>
                {
                    let kind = if l.mtime_ns == Some(ns(entry.mtime_sec, entry.mtime_nsec)) {
                        ProblemKind::ManifestMismatch("the link target differs".into())
                    } else {
                        ProblemKind::ChangedSinceManifest("new link target".into())
                    };
                    report(problem(&entry.plain_path, &cipher, kind));
                }
                _ => {}
            }
        }
        Ok(())
    })?;
    catch_up(
        &mut lookahead,
        None,
        &mut listed_meta,
        &changed_dirs,
        &mut gone,
    )?;

    // Config, diriv and sidecar files.
    for (cipher, listed) in &listed_meta {
        let owner = listed.plain_path();
        if !wanted(&owner) || is_manifest_path(&owner) && !owner.as_os_str().is_empty() {
            continue;
        }
        match found_meta.get(cipher) {
            // Its owner is gone, and said so.
            None if gone.contains_key(&owner) => {}
            None => report(problem(&owner, cipher, ProblemKind::MissingSinceManifest)),
            Some(found) if found.cipher_blake3 != listed.cipher_blake3 => {
                let kind = if listed.kind == "config" {
                    // A password change rewrites the config legitimately.
                    ProblemKind::ChangedSinceManifest(
                        "the config was rewritten (a password change?)".into(),
                    )
                } else {
                    ProblemKind::ManifestMismatch(format!(
                        "the {} file's content changed",
                        listed.kind
                    ))
                };
                report(problem(&owner, cipher, kind));
            }
            Some(_) => {}
        }
    }

    let mut problems = problems.into_inner().unwrap_or_else(|e| e.into_inner());
    if options.strict {
        for p in &mut problems {
            p.kind = match std::mem::replace(&mut p.kind, ProblemKind::NotInManifest) {
                ProblemKind::ChangedSinceManifest(what)
                    if p.cipher_path != Path::new(CONFIG_NAME) =>
                {
                    ProblemKind::ManifestMismatch(format!(
                        "{what}; a backup must hold exactly what its manifest lists"
                    ))
                }
                ProblemKind::RemovedSinceManifest => ProblemKind::MissingSinceManifest,
                other => other,
            };
        }
    }
    problems.sort_by(|a, b| {
        a.plain_path
            .cmp(&b.plain_path)
            .then(a.cipher_path.cmp(&b.cipher_path))
    });
    // A --path the manifest lists under which something was judged (lost,
    // removed) was checked, though nothing in the vault matched it.
    summary.unmatched = walker
        .unmatched()
        .into_iter()
        .filter(|p| {
            !problems
                .iter()
                .any(|pr| pr.plain_path.as_deref().is_some_and(|q| q.starts_with(p)))
        })
        .collect();
    summary.problems = problems;
    summary.files = files.into_inner();
    summary.bytes = bytes.into_inner();
    summary.elapsed = started.elapsed();
    Ok(summary)
}
