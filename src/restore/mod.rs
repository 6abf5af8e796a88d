//! Emergency restore: everything, or chosen paths, from a remote (or a
//! local copy such as an external disk) into a new folder, driven by the
//! vault's manifest.
//!
//! Pipelined: the objects come in batches (rclone, parallel transfers)
//! while a second thread decrypts the batch before. Verified: a file
//! appears under its name only when every block authenticated and its
//! plaintext BLAKE3 and size are the manifest's. Resumable: the
//! destination keeps a marker until the restore is complete; the same
//! command again hashes what is there (never trusting it) and restores
//! the rest. Never overwrites or deletes anything in the destination.

pub mod dest;
pub mod report;
pub mod write;

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, BufReader};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use rayon::prelude::*;
use serde::Serialize;

use crate::at;
use crate::display::{escape_bytes, escape_path, human_bytes};
use crate::drill::outcome::{Finding, Step, StepKind, StepStatus, verdict};
use crate::exit::ExitStatus;
use crate::fetch::{FetchManifest, Fetcher, detect_from_remote, fetch_remote_manifest, move_into};
use crate::format::config::CONFIG_NAME;
use crate::format::keys::{MasterKey, Password};
use crate::format::unlock::ScryptLimits;
use crate::manifest::{ManifestReader, Record, store};
use crate::problem::ProblemKind;
use crate::progress::{NoProgress, Progress};
use crate::push::Remote;
use crate::rclone::Rclone;
use crate::selection::{Selection, Want};
use crate::vault::{LockedVault, Secret, UnlockedVault};

use dest::{DestError, DestTree, Marker, Prepared};
use write::{Expected, NotRestored};

/// Which manifest a restore follows.
#[derive(Clone, Debug)]
pub enum ManifestChoice {
    /// The remote's current one (else the local copy of the newest).
    Current,
    /// A kept one of the remote, by name or time prefix.
    Version(String),
    /// A plaintext manifest file.
    File(PathBuf),
}

/// What unlocks the vault.
pub enum Key {
    Password(Password),
    MasterKey(MasterKey),
}

pub struct RestoreOptions<'a> {
    pub source: Remote,
    /// Needed for rclone remotes.
    pub rclone: Option<&'a Rclone>,
    pub dest: PathBuf,
    pub selection: Selection,
    pub manifest: ManifestChoice,
    /// Restore into a folder that is not empty.
    pub force: bool,
    pub transfers: usize,
    /// Download and restore in batches of about this many bytes.
    pub batch_bytes: Option<u64>,
    pub scrypt_limits: ScryptLimits,
    pub progress: &'a dyn Progress,
    /// The command line that repeats (and resumes) this restore.
    pub reproduce: Vec<String>,
}

/// What a restore did, in numbers.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    /// Files of the manifest (within `--path`) to restore.
    pub files: u64,
    pub bytes: u64,
    /// Restored by this run.
    pub files_restored: u64,
    pub bytes_restored: u64,
    /// Found already restored (by an earlier run) and hashed again.
    pub files_rechecked: u64,
    pub bytes_rechecked: u64,
    /// Not restored (see the findings).
    pub files_failed: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub specials: u64,
    /// Ciphertext fetched from the remote (0 for a local folder: read in
    /// place).
    pub bytes_downloaded: u64,
    pub download_seconds: f64,
    pub restore_seconds: f64,
}

/// The whole restore, as data; reports are rendered from it.
#[derive(Clone, Debug, Serialize)]
pub struct RestoreOutcome {
    pub verdict: ExitStatus,
    pub source: String,
    pub dest: String,
    pub vault_id: Option<String>,
    /// `--path` values (empty: everything).
    pub paths: Vec<String>,
    /// Which manifest was followed, in words.
    pub manifest: String,
    pub started: String,
    pub tool: String,
    pub seconds: f64,
    /// Whether the destination held an earlier, unfinished restore.
    pub resumed: bool,
    /// Whether the restore is complete (the marker is gone).
    pub complete: bool,
    /// `--path` values that match nothing in the manifest (exit 2).
    pub unmatched: Vec<String>,
    /// What an earlier, unfinished restore into this folder still owes
    /// (its `--path` values; empty: nothing, or everything when the
    /// restore is not complete).
    pub still_owed: Vec<String>,
    pub steps: Vec<Step>,
    pub totals: Totals,
    /// Commands that repeat this restore (no secrets).
    pub reproduce: Vec<String>,
}

impl RestoreOutcome {
    pub fn findings(&self) -> impl Iterator<Item = (&Step, &Finding)> {
        self.steps
            .iter()
            .flat_map(|s| s.findings.iter().map(move |f| (s, f)))
    }
}

fn step(outcome: &mut RestoreOutcome, kind: StepKind) -> &mut Step {
    let i = outcome
        .steps
        .iter()
        .position(|s| s.kind == kind)
        .unwrap_or(0);
    &mut outcome.steps[i]
}

fn finding(label: &'static str, path: Option<&Path>, object: &str, cause: String) -> Finding {
    Finding {
        label,
        path: path.map(escape_path),
        // Object names come from the remote's listing: escaped, so a name
        // with a newline cannot forge a line of the report or the log.
        object: escape_bytes(object.as_bytes()),
        cause,
        next: String::new(),
    }
}

fn finding_next(
    label: &'static str,
    path: Option<&Path>,
    object: &str,
    cause: String,
    next: &str,
) -> Finding {
    Finding {
        next: next.to_string(),
        ..finding(label, path, object, cause)
    }
}

/// Restores; the destination's guards answer first (`Err`: nothing was
/// done). Everything after is a step of the outcome.
pub fn restore(o: &RestoreOptions<'_>, key: Key) -> Result<RestoreOutcome, DestError> {
    let started = Instant::now();
    let prepared = dest::prepare(&o.dest, local_source(&o.source), o.force)?;
    let unlock_kind = match key {
        Key::Password(_) => StepKind::UnlockPassword,
        Key::MasterKey(_) => StepKind::UnlockMasterKey,
    };
    let mut outcome = RestoreOutcome {
        verdict: ExitStatus::CouldNotRun,
        source: o.source.to_string(),
        dest: o.dest.display().to_string(),
        vault_id: None,
        paths: o.selection.paths().iter().map(|p| escape_path(p)).collect(),
        manifest: String::new(),
        started: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        tool: crate::create::creator(),
        seconds: 0.0,
        resumed: prepared.earlier.is_some(),
        complete: false,
        unmatched: Vec::new(),
        still_owed: Vec::new(),
        steps: [
            StepKind::Locate,
            unlock_kind,
            StepKind::Restore,
            StepKind::Finish,
        ]
        .into_iter()
        .map(|kind| {
            let mut step = Step::new(kind);
            if kind == StepKind::UnlockMasterKey {
                // No config is regenerated here: the key opens the objects.
                step.title = "Unlock with the master key";
            }
            step
        })
        .collect(),
        totals: Totals::default(),
        reproduce: o.reproduce.clone(),
    };
    let owed = run(&mut outcome, o, key, &prepared)?;
    outcome.verdict = verdict(&outcome.steps);
    if !outcome.unmatched.is_empty() {
        outcome.verdict = ExitStatus::Usage;
    }
    // Complete, and no earlier run into this folder still owes paths: the
    // marker and the work folder go.
    let work = o.dest.join(dest::WORK_DIR);
    let done_here = dest::covers(&outcome.paths, owed.as_deref().unwrap_or(&[]));
    if outcome.verdict == ExitStatus::Verified && !done_here {
        // What this run restored is no longer owed; the rest stays in the
        // marker ("everything" stays everything).
        let owed = owed.unwrap_or_default();
        let left: Vec<String> = owed
            .iter()
            .filter(|p| !dest::covers(&outcome.paths, std::slice::from_ref(*p)))
            .cloned()
            .collect();
        if !owed.is_empty()
            && let Some(mut marker) = dest::read_marker(&o.dest)
        {
            marker.paths = left.clone();
            let _ = dest::write_marker(&work, &marker);
        }
        outcome.still_owed = if owed.is_empty() {
            vec![".".into()]
        } else {
            left
        };
    }
    if outcome.verdict == ExitStatus::Verified && done_here {
        match fs::remove_dir_all(&work) {
            Ok(()) => outcome.complete = true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => outcome.complete = true,
            Err(e) => {
                let s = step(&mut outcome, StepKind::Finish);
                s.status = StepStatus::Error;
                s.summary = format!("{}: removing the work folder: {e}", work.display());
                outcome.verdict = ExitStatus::CouldNotRun;
            }
        }
    } else if let Err(e) = dest::clear_work(&work).or_else(|e| {
        // No work folder: the run stopped before it claimed the folder.
        if e.kind() == io::ErrorKind::NotFound {
            Ok(())
        } else {
            Err(e)
        }
    }) {
        let s = step(&mut outcome, StepKind::Finish);
        s.findings.push(finding(
            "FAILED",
            None,
            &work.display().to_string(),
            format!("clearing the work folder: {e}; remove it by hand when done"),
        ));
    }
    outcome.seconds = started.elapsed().as_secs_f64();
    Ok(outcome)
}

fn local_source(source: &Remote) -> Option<&Path> {
    match source {
        Remote::Local(p) => Some(p),
        Remote::Rclone(_) => None,
    }
}

/// A plaintext path from the manifest, checked: relative, plain parts of
/// at most 255 bytes (what any file system and gocryptfs allow), no NUL.
fn safe_plain(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    !path.as_os_str().is_empty()
        && !path.as_os_str().as_bytes().contains(&0)
        && path.components().all(|c| match c {
            Component::Normal(part) => part.len() <= 255,
            _ => false,
        })
}

fn parse_mode(r: &Record, default: u32) -> u32 {
    r.mode
        .as_deref()
        .and_then(|m| u32::from_str_radix(m, 8).ok())
        .map_or(default, |m| m & 0o7777)
}

fn mtime_of(r: &Record) -> Option<(i64, i64)> {
    r.mtime_ns
        .map(|ns| (ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000)))
}

/// The work of the steps; `Err` only for a destination guard. Returns
/// the paths the folder's marker owes, once it was claimed.
fn run(
    outcome: &mut RestoreOutcome,
    o: &RestoreOptions<'_>,
    key: Key,
    prepared: &Prepared,
) -> Result<Option<Vec<String>>, DestError> {
    let t = Instant::now();
    // Until the vault is known, its config and the manifest go to a
    // private folder outside the destination.
    let pre = match tempfile::Builder::new()
        .prefix("vaultdrill-restore-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
    {
        Ok(d) => d,
        Err(e) => {
            let s = step(outcome, StepKind::Locate);
            s.status = StepStatus::Error;
            s.summary = format!("cannot create a private temporary folder: {e}");
            return Ok(None);
        }
    };
    let vault_dir = pre.path().join("vault");
    let _ = fs::create_dir_all(&vault_dir);
    let Some(fetcher) = Fetcher::new(&o.source, o.rclone, pre.path(), o.transfers, &NoProgress)
    else {
        let s = step(outcome, StepKind::Locate);
        s.status = StepStatus::Error;
        s.summary = "rclone is needed for this remote".into();
        return Ok(None);
    };
    o.progress.stage("fetching the config and the manifest");
    if let Err(e) = fetcher.fetch(&[CONFIG_NAME, "gocryptfs.diriv"], &vault_dir) {
        let s = step(outcome, StepKind::Locate);
        s.status = StepStatus::Error;
        s.summary = format!("fetching gocryptfs.conf failed: {e}");
        return Ok(None);
    }
    let config_there = vault_dir.join(CONFIG_NAME).is_file();
    if !config_there && !vault_dir.join("gocryptfs.diriv").is_file() {
        let mut objects = 0u64;
        let listed = fetcher.lister().list(None, &mut |_| objects += 1);
        let s = step(outcome, StepKind::Locate);
        s.status = StepStatus::Error;
        s.summary = match listed {
            Err(e) => format!("listing the source failed: {e}"),
            Ok(()) if objects == 0 => format!(
                "nothing is at {}: is the disk mounted, the bucket and path right?",
                o.source
            ),
            Ok(()) => format!(
                "{} holds neither gocryptfs.conf nor gocryptfs.diriv at its top: is it the \
                 vault's folder?",
                o.source
            ),
        };
        return Ok(None);
    }

    // Unlock.
    let unlock_kind = outcome.steps[1].kind;
    let tu = Instant::now();
    // A password is proven by the config's key wrap; a master key by an
    // object that authenticates with it.
    let mut key_proven = matches!(key, Key::Password(_));
    let unlocked: UnlockedVault = {
        let result: Result<(UnlockedVault, String), (StepStatus, String)> = match key {
            Key::Password(_) if !config_there => Err((
                StepStatus::Failed,
                "gocryptfs.conf is not on the remote: the password has nothing to open; restore \
                 with the master key (--masterkey-file), see runbooks/lost-config.md"
                    .into(),
            )),
            Key::Password(password) => match LockedVault::open(&vault_dir, None).and_then(|l| {
                let layout = l.config().layout();
                l.master_key(Secret::Password(password), &o.scrypt_limits)
                    .map(|(mk, _)| (layout, mk))
            }) {
                Ok((layout, mk)) => Ok((
                    UnlockedVault::new(vault_dir.clone(), layout, &mk),
                    "the password opened the remote's gocryptfs.conf".into(),
                )),
                Err(e) => Err(match StepStatus::of(e.status()) {
                    StepStatus::Refused => (StepStatus::Refused, e.to_string()),
                    status => (
                        status,
                        format!("the remote's gocryptfs.conf cannot be used: {e}"),
                    ),
                }),
            },
            Key::MasterKey(mk) => {
                o.progress.stage("proving the master key on a few objects");
                let detected =
                    detect_from_remote(&fetcher, &vault_dir, &pre.path().join("detect"), &mk);
                let from_config = LockedVault::open(&vault_dir, None)
                    .ok()
                    .map(|l| l.config().layout());
                key_proven = matches!(detected, Ok(Some(_)));
                match (detected, from_config) {
                    (Err(e), _) => Err((
                        StepStatus::Error,
                        format!("the master key could not be tried on the remote's objects: {e}"),
                    )),
                    (Ok(Some(_)), Some(layout)) => Ok((
                        UnlockedVault::new(vault_dir.clone(), layout, &mk),
                        "the master key authenticated objects of the remote; the flags are the \
                         remote's gocryptfs.conf's"
                            .into(),
                    )),
                    (Ok(Some(layout)), None) => Ok((
                        UnlockedVault::new(vault_dir.clone(), layout, &mk),
                        "the master key authenticated objects of the remote; gocryptfs.conf is \
                         not needed (the flags were detected from the ciphertext)"
                            .into(),
                    )),
                    (Ok(None), Some(layout)) => Ok((
                        UnlockedVault::new(vault_dir.clone(), layout, &mk),
                        "the flags are the remote's gocryptfs.conf's; no small object proved the \
                         key (the manifest will)"
                            .into(),
                    )),
                    (Ok(None), None) => Err((
                        StepStatus::Refused,
                        "no object of the remote authenticates with this master key under any \
                         flags: a wrong key (or a vault with no readable file)"
                            .into(),
                    )),
                }
            }
        };
        let s = step(outcome, unlock_kind);
        s.seconds = tu.elapsed().as_secs_f64();
        match result {
            Ok((vault, said)) => {
                s.status = StepStatus::Passed;
                s.summary = said;
                vault
            }
            Err((status, said)) => {
                s.status = status;
                s.summary = said;
                if status == StepStatus::Error {
                    return Ok(None);
                }
                if status == StepStatus::Refused {
                    s.runbook = match unlock_kind {
                        StepKind::UnlockPassword => {
                            "runbooks/forgotten-password.md#the-password-was-refused"
                        }
                        _ => "runbooks/forgotten-password.md#the-master-key-was-refused",
                    };
                } else {
                    s.runbook = crate::drill::outcome::LOST_CONFIG;
                }
                return Ok(None);
            }
        }
    };

    // The manifest.
    o.progress.stage("fetching the manifest");
    let manifest_path = pre.path().join("manifest.jsonl");
    let mut notes: Vec<Finding> = Vec::new();
    let source_note: Result<String, String> = match &o.manifest {
        ManifestChoice::File(file) => fs::copy(file, &manifest_path)
            .map(|_| format!("the manifest given with --manifest ({})", file.display()))
            .map_err(|e| format!("{}: the manifest cannot be read: {e}", file.display())),
        choice => {
            let version = match choice {
                ManifestChoice::Version(v) => Some(v.as_str()),
                _ => None,
            };
            match fetch_remote_manifest(&unlocked, &fetcher, version, &manifest_path) {
                // A master key no object proved, that finds or opens no
                // manifest either: a wrong key, not a damaged backup.
                Ok(false) | Err(FetchManifest::Damaged(_)) if !key_proven => {
                    let s = step(outcome, unlock_kind);
                    s.status = StepStatus::Refused;
                    s.summary = "the master key authenticates none of the remote's small \
                                 objects and does not open its manifest: a wrong key"
                        .into();
                    s.runbook = "runbooks/forgotten-password.md#the-master-key-was-refused";
                    return Ok(None);
                }
                Ok(true) => Ok(match version {
                    Some(v) => format!("the remote's kept manifest {v:?}"),
                    None => "the remote's own manifest (.vaultdrill/manifest.jsonl)".into(),
                }),
                Ok(false) if version.is_none() => local_manifest(&unlocked, &manifest_path)
                    .ok_or_else(|| {
                        "the remote holds no manifest, and there is no local copy: without one \
                         nothing can be verified; give one with --manifest FILE, or decrypt \
                         without a manifest (rclone copy, then vaultdrill decrypt)"
                            .into()
                    }),
                Ok(false) => Err("the remote holds no manifest folder".into()),
                Err(FetchManifest::Damaged(e)) => {
                    notes.push(finding(
                        "DAMAGED",
                        None,
                        ".vaultdrill/manifest.jsonl (encrypted)",
                        format!("the remote's manifest cannot be read ({e})"),
                    ));
                    local_manifest(&unlocked, &manifest_path).ok_or_else(|| {
                        format!(
                            "the remote's manifest cannot be read ({e}), and there is no local \
                             copy: give one with --manifest FILE"
                        )
                    })
                }
                Err(FetchManifest::CouldNotRun(e)) => Err(format!("the manifest: {e}")),
            }
        }
    };
    let header = source_note.and_then(|note| {
        let file = File::open(&manifest_path).map_err(|e| e.to_string())?;
        let mut reader = ManifestReader::new(BufReader::new(file)).map_err(|e| e.to_string())?;
        let header = reader.header().clone();
        // The whole manifest must read to its trailer before anything is
        // restored from it.
        while reader.next_record().map_err(|e| e.to_string())?.is_some() {}
        reader.finish().map_err(|e| e.to_string())?;
        Ok((note, header))
    });
    let (note, header) = match header {
        Ok(x) => x,
        Err(e) => {
            let s = step(outcome, StepKind::Locate);
            s.findings = notes;
            s.status = if s.findings.is_empty() {
                StepStatus::Error
            } else {
                StepStatus::Failed
            };
            s.summary = e;
            s.seconds = t.elapsed().as_secs_f64();
            return Ok(None);
        }
    };
    if header.vault_id != unlocked.vault_id() {
        let s = step(outcome, StepKind::Locate);
        s.status = StepStatus::Error;
        s.summary = format!(
            "{note} belongs to another vault (id {}; the remote's vault is {})",
            header.vault_id,
            unlocked.vault_id()
        );
        return Ok(None);
    }
    outcome.vault_id = Some(header.vault_id.clone());
    outcome.manifest = format!("{note}, made {}", header.created);

    // The destination is ours from here: the marker says so.
    let marker = Marker {
        vault_id: header.vault_id.clone(),
        source: o.source.to_string(),
        started: outcome.started.clone(),
        paths: outcome.paths.clone(),
    };
    let (work, owed) = dest::claim(&o.dest, prepared, &marker, o.force)?;
    let manifest_in_work = work.join("manifest.jsonl");
    if let Err(e) = fs::copy(&manifest_path, &manifest_in_work) {
        let s = step(outcome, StepKind::Locate);
        s.status = StepStatus::Error;
        s.summary = format!("{}: {e}", manifest_in_work.display());
        return Ok(None);
    }
    {
        let unlock_seconds = step_seconds(outcome, unlock_kind);
        let ran = format!(
            "fetched gocryptfs.conf and gocryptfs.diriv from {}; read {}",
            o.source, outcome.manifest
        );
        let s = step(outcome, StepKind::Locate);
        s.ran = ran;
        s.findings = notes;
        s.status = if s.findings.is_empty() {
            StepStatus::Passed
        } else {
            StepStatus::Failed
        };
        s.summary = if s.findings.is_empty() {
            format!(
                "the manifest of vault {} lists what to restore",
                header.vault_id
            )
        } else {
            "the remote's manifest is damaged; the local copy was followed".into()
        };
        s.seconds = t.elapsed().as_secs_f64() - unlock_seconds;
    }
    // Our own earlier run's folder: what is in it is ours to finish.
    let ours = prepared
        .earlier
        .as_ref()
        .is_some_and(|m| m.vault_id == header.vault_id);
    restore_files(outcome, o, &unlocked, &manifest_in_work, &work, ours);
    drop(pre);
    Ok(Some(owed))
}

fn step_seconds(outcome: &RestoreOutcome, kind: StepKind) -> f64 {
    outcome
        .steps
        .iter()
        .find(|s| s.kind == kind)
        .map_or(0.0, |s| s.seconds)
}

/// The local copy of the newest manifest, copied to `out`; its note.
fn local_manifest(vault: &UnlockedVault, out: &Path) -> Option<String> {
    let copy = store::local_copy(vault.vault_id())?;
    fs::copy(&copy, out).ok()?;
    Some(format!(
        "the local copy of the newest manifest ({}): the remote's could not be used",
        copy.display()
    ))
}

/// One file to restore (or to check again).
struct Job {
    plain: PathBuf,
    /// Checked by [`crate::fetch::safe_relative`] when the job was made.
    cipher: String,
    size: u64,
    blake3: String,
    mode: u32,
    mtime: Option<(i64, i64)>,
    /// Something is at its name already (an earlier run's): hash it.
    recheck: bool,
}

/// A folder, symlink or FIFO, finished after the files.
struct Later {
    plain: PathBuf,
    cipher: String,
    kind: LaterKind,
    mode: u32,
    mtime: Option<(i64, i64)>,
    /// A folder that was in the destination before any restore into it
    /// (`--force`): its mode and time are the user's, left alone.
    foreign: bool,
}

enum LaterKind {
    Dir,
    Symlink(Vec<u8>),
    Fifo,
}

/// What the restoring thread found.
#[derive(Default)]
struct Done {
    files: u64,
    bytes: u64,
    rechecked: u64,
    rechecked_bytes: u64,
    failed: u64,
    /// Jobs never tried (the run stopped first).
    not_tried: u64,
    findings: Vec<(ExitStatus, Finding)>,
    seconds: f64,
}

/// What to do about a file that was not restored, by its cause.
const GET_IT_BACK: &str = "get this object back (the bucket's old versions, another copy: \
                           runbooks/damaged-objects.md), then run the same command again";
const MOVE_IT_AWAY: &str = "move what is at this name away, then run the same command again";

/// Whether an I/O error means the destination is full.
fn is_full(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::ENOSPC) | Some(libc::EDQUOT)
    )
}

/// Shows the download of the next batch on the progress bar.
struct Downloading<'a>(&'a dyn Progress);

impl Progress for Downloading<'_> {
    fn set_done(&self, _files: u64, bytes: u64) {
        self.0
            .set_message(&format!("downloading {}", human_bytes(bytes)));
    }
}

/// The files: batches fetched into the work folder (or read in place from
/// a local folder) while the batch before is decrypted into place. `ours`:
/// the destination holds an earlier run's restore of this vault.
fn restore_files(
    outcome: &mut RestoreOutcome,
    o: &RestoreOptions<'_>,
    vault: &UnlockedVault,
    manifest: &Path,
    work: &Path,
    ours: bool,
) {
    let t = Instant::now();
    let root = match at::open_dir(&o.dest) {
        Ok(fd) => Arc::new(fd),
        Err(e) => {
            let s = step(outcome, StepKind::Restore);
            s.status = StepStatus::Error;
            s.summary = format!("{}: opening the destination: {e}", o.dest.display());
            return;
        }
    };
    let downloading = Downloading(o.progress);
    let Some(fetcher) = Fetcher::new(&o.source, o.rclone, work, o.transfers, &downloading) else {
        return;
    };
    let objects = work.join("objects");
    let incoming = work.join("incoming");

    // Pass 1: what is selected, what is there, what it needs; folders,
    // symlinks and FIFOs are kept for later (the files stream in pass 2).
    let mut plan_findings: Vec<(ExitStatus, Finding)> = Vec::new();
    let mut later: Vec<Later> = Vec::new();
    let mut matched = vec![false; o.selection.paths().len()];
    let (mut files, mut bytes, mut missing_bytes, mut cipher_bytes) = (0u64, 0u64, 0u64, 0u64);
    let read = each_record(manifest, |r| {
        let plain = r.plain_path();
        let want = o.selection.wants(&plain);
        if want == Want::No || !r.is_plain_entry() {
            return;
        }
        for (m, p) in matched.iter_mut().zip(o.selection.paths()) {
            *m |= plain.starts_with(p);
        }
        if let Some(why) = unsafe_record(r, &plain) {
            if want == Want::Selected {
                plan_findings.push((
                    ExitStatus::Damaged,
                    finding_next(
                        "DAMAGED",
                        Some(&plain),
                        &r.cipher_path,
                        format!("{why}: not restored (a damaged or tampered manifest)"),
                        "restore from another manifest (--manifest) or another copy",
                    ),
                ));
            }
            return;
        }
        if in_work_dir(&plain) {
            if want == Want::Selected {
                plan_findings.push((
                    ExitStatus::CouldNotRun,
                    finding_next(
                        "FAILED",
                        Some(&plain),
                        &r.cipher_path,
                        format!(
                            "`{}` is the name of the restore's own work folder (removed when \
                             the restore ends): not restored",
                            dest::WORK_DIR
                        ),
                        "decrypt it into another folder: vaultdrill decrypt VAULT OUT --path PATH",
                    ),
                ));
            }
            return;
        }
        let mtime = mtime_of(r);
        match r.kind.as_str() {
            "dir" => later.push(Later {
                foreign: !ours && fs::symlink_metadata(o.dest.join(&plain)).is_ok(),
                plain,
                cipher: r.cipher_path.clone(),
                kind: LaterKind::Dir,
                mode: parse_mode(r, 0o700) & !0o6000,
                mtime,
            }),
            _ if want == Want::Ancestor => {}
            "file" => {
                files += 1;
                let size = r.size.unwrap_or(0);
                bytes += size;
                if fs::symlink_metadata(o.dest.join(&plain)).is_err() {
                    missing_bytes += size;
                    cipher_bytes += r.cipher_size;
                }
            }
            "symlink" => match r.target_hex.as_deref().and_then(crate::manifest::unhex) {
                Some(target) if !target.is_empty() => later.push(Later {
                    plain,
                    cipher: r.cipher_path.clone(),
                    kind: LaterKind::Symlink(target),
                    mode: 0o777,
                    mtime,
                    foreign: false,
                }),
                _ => plan_findings.push((
                    ExitStatus::Damaged,
                    finding_next(
                        "DAMAGED",
                        Some(&plain),
                        &r.cipher_path,
                        "the manifest holds no readable target for this symlink".into(),
                        "restore from another manifest (--manifest) or another copy",
                    ),
                )),
            },
            "fifo" => later.push(Later {
                plain,
                cipher: r.cipher_path.clone(),
                kind: LaterKind::Fifo,
                mode: parse_mode(r, 0o600) & !0o6000,
                mtime,
                foreign: false,
            }),
            other => plan_findings.push((
                ExitStatus::Verified,
                finding(
                    "SKIPPED",
                    Some(&plain),
                    &r.cipher_path,
                    format!("a {other} is not restored"),
                ),
            )),
        }
    });
    if let Err(e) = read {
        let s = step(outcome, StepKind::Restore);
        s.status = StepStatus::Error;
        s.summary = format!("the manifest cannot be read again: {e}");
        return;
    }
    outcome.totals.files = files;
    outcome.totals.bytes = bytes;
    outcome.unmatched = o
        .selection
        .paths()
        .iter()
        .zip(&matched)
        .filter(|(_, m)| !**m)
        .map(|(p, _)| escape_path(p))
        .collect();
    if !outcome.unmatched.is_empty() {
        let said = outcome.unmatched.join(", ");
        let s = step(outcome, StepKind::Restore);
        s.status = StepStatus::Error;
        s.summary = format!(
            "nothing in the manifest matches --path {said}: check the spelling (paths are \
             relative to the vault's top, as `vaultdrill ls` shows them)"
        );
        return;
    }

    // Space: what is still to restore, and for a remote three batches of
    // ciphertext in the work folder.
    let per = o
        .batch_bytes
        .unwrap_or((cipher_bytes / 16).clamp(64 << 20, 512 << 20))
        .max(1);
    let staging = if fetcher.local_root().is_some() {
        0
    } else {
        (3 * per).min(cipher_bytes)
    };
    if let Ok(st) = rustix::fs::statvfs(&o.dest) {
        let free = st.f_bavail.saturating_mul(st.f_frsize);
        let need = missing_bytes + staging;
        if free < need {
            let s = step(outcome, StepKind::Restore);
            s.status = StepStatus::Error;
            s.summary = format!(
                "{}: not enough space: the restore needs {} ({} of files{}), {} is free; free \
                 space or choose another destination, then run the same command again",
                o.dest.display(),
                human_bytes(need),
                human_bytes(missing_bytes),
                if staging > 0 {
                    format!(", {} for downloads in flight", human_bytes(staging))
                } else {
                    String::new()
                },
                human_bytes(free)
            );
            return;
        }
    }

    // Folders first (parents before children, as the manifest lists
    // them), so that files have somewhere to go.
    let mut tree = DestTree::new(Arc::clone(&root));
    let mut dir_findings: Vec<(ExitStatus, Finding)> = Vec::new();
    for l in later.iter().filter(|l| matches!(l.kind, LaterKind::Dir)) {
        match tree.dir(&l.plain, true) {
            // An earlier run's half-written files (where no unnamed file
            // could be made) are ours to clear.
            Ok(fd) if ours => sweep_temp_files(&fd),
            Ok(_) => {}
            Err(e) => dir_findings.push((
                ExitStatus::CouldNotRun,
                if e.kind() == io::ErrorKind::NotADirectory || e.raw_os_error() == Some(libc::ELOOP)
                {
                    finding_next(
                        "FAILED",
                        Some(&l.plain),
                        &l.cipher,
                        "something other than a folder is at its name in the destination; left \
                         alone (nothing is restored under it)"
                            .into(),
                        MOVE_IT_AWAY,
                    )
                } else {
                    finding(
                        "FAILED",
                        Some(&l.plain),
                        &l.cipher,
                        format!("creating the folder: {e}"),
                    )
                },
            )),
        }
    }
    if ours {
        sweep_temp_files(&root);
    }
    drop(tree);

    // Pass 2: the files, in batches.
    o.progress.stage("restoring");
    o.progress.set_total(files, bytes);
    let full = AtomicBool::new(false);
    let downloaded = AtomicU64::new(0);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Job>>(1);
    let mut fetch_error: Option<String> = None;
    let mut fetch_seconds = 0.0;
    let local_root = fetcher.local_root();
    let done = std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let mut done = Done::default();
            for batch in rx {
                let started = Instant::now();
                let results: Vec<Option<Result<u64, NotRestored>>> = batch
                    .par_iter()
                    .map_init(
                        || DestTree::new(Arc::clone(&root)),
                        |tree, job| {
                            if full.load(Ordering::Relaxed) {
                                return None;
                            }
                            let r =
                                one_file(vault, job, tree, local_root, &objects, o.progress, ours);
                            if let Err(NotRestored::Problem(ProblemKind::Io { error, .. })) = &r
                                && is_full(error)
                            {
                                full.store(true, Ordering::Relaxed);
                            }
                            o.progress.add_file();
                            Some(r)
                        },
                    )
                    .collect();
                for (job, r) in batch.iter().zip(results) {
                    match r {
                        None => done.not_tried += 1,
                        Some(Ok(n)) if job.recheck => {
                            done.rechecked += 1;
                            done.rechecked_bytes += n;
                        }
                        Some(Ok(n)) => {
                            done.files += 1;
                            done.bytes += n;
                        }
                        Some(Err(NotRestored::Conflict(why))) => {
                            done.failed += 1;
                            done.findings.push((
                                ExitStatus::CouldNotRun,
                                finding_next(
                                    "FAILED",
                                    Some(&job.plain),
                                    &job.cipher,
                                    why,
                                    MOVE_IT_AWAY,
                                ),
                            ));
                        }
                        Some(Err(NotRestored::Problem(kind))) => {
                            done.failed += 1;
                            let status = kind.status();
                            let next = match status {
                                ExitStatus::Damaged => GET_IT_BACK,
                                _ => "fix what it names, then run the same command again",
                            };
                            done.findings.push((
                                status,
                                finding_next(
                                    kind.label(),
                                    Some(&job.plain),
                                    &job.cipher,
                                    kind.to_string(),
                                    next,
                                ),
                            ));
                        }
                    }
                }
                // The batch's ciphertext is no longer needed (names were
                // checked when the jobs were made).
                if local_root.is_none() {
                    for job in batch.iter().filter(|j| !j.recheck) {
                        if let Some(rel) = crate::fetch::safe_relative(&job.cipher) {
                            let _ = fs::remove_file(objects.join(rel));
                        }
                    }
                }
                done.seconds += started.elapsed().as_secs_f64();
            }
            done
        });

        // Fetches a batch (from a remote) and hands it over; false: stop.
        let mut dispatch = |batch: Vec<Job>, fetch_error: &mut Option<String>| -> bool {
            if full.load(Ordering::Relaxed) {
                return false;
            }
            if local_root.is_none() {
                let names: Vec<&str> = batch
                    .iter()
                    .filter(|j| !j.recheck)
                    .map(|j| j.cipher.as_str())
                    .collect();
                if !names.is_empty() {
                    let started = Instant::now();
                    let fetched = fetcher.fetch(&names, &incoming).and_then(|()| {
                        for name in &names {
                            if let Ok(m) = fs::metadata(incoming.join(name)) {
                                downloaded.fetch_add(m.len(), Ordering::Relaxed);
                            }
                        }
                        move_into(&incoming, &objects, &names)
                    });
                    fetch_seconds += started.elapsed().as_secs_f64();
                    if let Err(e) = fetched {
                        if is_full(&e) || dest_is_full(&o.dest, per) {
                            full.store(true, Ordering::Relaxed);
                        }
                        *fetch_error = Some(e.to_string());
                        return false;
                    }
                }
            }
            tx.send(batch).is_ok()
        };
        let mut batch: Vec<Job> = Vec::new();
        let mut batch_bytes = 0u64;
        let mut halted = false;
        let read = each_record(manifest, |r| {
            if halted || r.kind != "file" {
                return;
            }
            let plain = r.plain_path();
            if o.selection.wants(&plain) != Want::Selected
                || in_work_dir(&plain)
                || unsafe_record(r, &plain).is_some()
            {
                return;
            }
            let (Some(blake3), None) = (&r.blake3, &r.damaged) else {
                plan_findings.push(unverifiable(&plain, r));
                return;
            };
            let recheck = fs::symlink_metadata(o.dest.join(&plain)).is_ok();
            if !recheck {
                batch_bytes += r.cipher_size;
            }
            batch.push(Job {
                plain,
                cipher: r.cipher_path.clone(),
                size: r.size.unwrap_or(0),
                blake3: blake3.clone(),
                mode: parse_mode(r, 0o600) & !0o6000,
                mtime: mtime_of(r),
                recheck,
            });
            if batch_bytes >= per || batch.len() >= 20_000 {
                batch_bytes = 0;
                halted = !dispatch(std::mem::take(&mut batch), &mut fetch_error);
            }
        });
        if let Err(e) = read {
            fetch_error.get_or_insert(format!("the manifest cannot be read again: {e}"));
        } else if !batch.is_empty() && !halted {
            dispatch(std::mem::take(&mut batch), &mut fetch_error);
        }
        drop(tx);
        worker.join().unwrap_or_else(|_| {
            fetch_error = Some("the restoring thread stopped unexpectedly".into());
            Done::default()
        })
    });
    let _ = fs::remove_dir_all(&incoming);

    let unverifiable = plan_findings
        .iter()
        .filter(|(st, _)| *st == ExitStatus::Damaged)
        .count() as u64;
    let totals = &mut outcome.totals;
    totals.files_restored = done.files;
    totals.bytes_restored = done.bytes;
    totals.files_rechecked = done.rechecked;
    totals.bytes_rechecked = done.rechecked_bytes;
    totals.files_failed = done.failed + unverifiable;
    totals.bytes_downloaded = downloaded.into_inner();
    totals.download_seconds = fetch_seconds;
    totals.restore_seconds = done.seconds;
    let finished = done.files + done.rechecked;
    let left = bytes.saturating_sub(done.bytes + done.rechecked_bytes);
    let s = step(outcome, StepKind::Restore);
    s.ran = match &o.source {
        Remote::Local(p) => format!(
            "read the objects in place from {}, decrypted each file in parallel under no name, \
             compared its BLAKE3 and size with the manifest, then linked it under its name",
            p.display()
        ),
        Remote::Rclone(r) => format!(
            "rclone copy {r} WORK --files-from LIST --no-traverse --transfers {} in batches of \
             about {}, each decrypted under no name while the next downloaded, compared with the \
             manifest (BLAKE3, size), then linked under its name",
            o.transfers,
            human_bytes(per)
        ),
    };
    let all: Vec<&(ExitStatus, Finding)> = plan_findings
        .iter()
        .chain(&dir_findings)
        .chain(&done.findings)
        .collect();
    s.findings = all.iter().map(|(_, f)| f.clone()).collect();
    let worst = all
        .iter()
        .map(|(st, _)| *st)
        .max()
        .unwrap_or(ExitStatus::Verified);
    s.seconds = t.elapsed().as_secs_f64();
    let mut summary = format!(
        "{finished} of {files} files ({} of {}) restored and verified{}",
        human_bytes(done.bytes + done.rechecked_bytes),
        human_bytes(bytes),
        if done.rechecked > 0 {
            format!(
                "; {} of them were already there from an earlier run and were hashed again",
                done.rechecked
            )
        } else {
            String::new()
        }
    );
    if done.failed + unverifiable > 0 {
        summary.push_str(&format!(
            "; {} not restored (listed below)",
            done.failed + unverifiable
        ));
    }
    s.status = if full.load(Ordering::Relaxed) {
        summary = format!(
            "{}: the disk is full, with about {} still to restore ({summary}); free space and \
             run the same command again: what is restored stays, nothing is half-written",
            o.dest.display(),
            human_bytes(left)
        );
        StepStatus::Error
    } else if let Some(e) = fetch_error {
        summary = format!(
            "the download stopped: {e} ({summary}); run the same command again to finish: what \
             is restored stays"
        );
        StepStatus::Error
    } else {
        match worst {
            ExitStatus::Damaged => StepStatus::Failed,
            ExitStatus::CouldNotRun | ExitStatus::Usage | ExitStatus::Unlock => StepStatus::Error,
            ExitStatus::Verified if finished < files => StepStatus::Error,
            ExitStatus::Verified => StepStatus::Passed,
        }
    };
    s.summary = summary;
    let complete = s.status == StepStatus::Passed;
    finish(outcome, o, &root, &later, complete);
}

/// Whether a vault's path lies in the restore's own work folder
/// ([`dest::WORK_DIR`] at the top of DEST), which the restore removes
/// when it ends: such a path is never restored there.
fn in_work_dir(plain: &Path) -> bool {
    plain.components().next() == Some(Component::Normal(OsStr::new(dest::WORK_DIR)))
}

/// Why a record of the manifest cannot be followed safely, if so: its
/// plaintext path must be plainly relative, and its object's name too.
fn unsafe_record(r: &Record, plain: &Path) -> Option<String> {
    if !safe_plain(plain) {
        return Some("the manifest names a path that is not a plain relative path".into());
    }
    if r.kind == "file" && crate::fetch::safe_relative(&r.cipher_path).is_none() {
        return Some("the manifest names an object that is not a plain relative path".into());
    }
    None
}

/// The finding for a file the manifest could not hash when it was made.
fn unverifiable(plain: &Path, r: &Record) -> (ExitStatus, Finding) {
    (
        ExitStatus::Damaged,
        finding_next(
            "DAMAGED",
            Some(plain),
            &r.cipher_path,
            match &r.damaged {
                Some(why) => {
                    format!("it could not be read when the manifest was made ({why}): not restored")
                }
                None => "the manifest has no BLAKE3 for it: it cannot be verified, so it is not \
                         restored"
                    .into(),
            },
            "restore it from another copy, or decrypt it without the manifest (vaultdrill \
             decrypt --path)",
        ),
    )
}

/// Whether the destination has less than `room` bytes free.
fn dest_is_full(dest: &Path, room: u64) -> bool {
    rustix::fs::statvfs(dest)
        .map(|st| st.f_bavail.saturating_mul(st.f_frsize) < room)
        .unwrap_or(false)
}

/// Removes an earlier run's fallback temporary files from a folder of the
/// destination (only ever called on a folder an earlier restore of this
/// vault wrote).
fn sweep_temp_files(dir: &OwnedFd) {
    if let Ok(names) = at::list(dir.as_fd()) {
        for name in names {
            if name
                .to_string_lossy()
                .starts_with(crate::staging::TEMP_PREFIX)
            {
                let _ = at::unlink_at(dir.as_fd(), &name);
            }
        }
    }
}

/// Restores (or checks again) one file.
fn one_file(
    vault: &UnlockedVault,
    job: &Job,
    tree: &mut DestTree,
    local_root: Option<&Path>,
    objects: &Path,
    progress: &dyn Progress,
    ours: bool,
) -> Result<u64, NotRestored> {
    let parent = tree.parent_of(&job.plain, true).map_err(|error| {
        if error.kind() == io::ErrorKind::NotADirectory || error.raw_os_error() == Some(libc::ELOOP)
        {
            NotRestored::Conflict(
                "a folder on its path is something else in the destination; left alone".into(),
            )
        } else {
            NotRestored::Problem(ProblemKind::Io {
                action: "opening the destination folder",
                error,
            })
        }
    })?;
    let name = job.plain.file_name().unwrap_or_default();
    let want = Expected {
        size: job.size,
        blake3: &job.blake3,
        mode: job.mode,
        mtime: job.mtime,
    };
    let on_bytes = |n: u64| progress.add_bytes(n);
    if job.recheck {
        return write::recheck(&parent, name, &want, ours, &on_bytes);
    }
    let Some(rel) = crate::fetch::safe_relative(&job.cipher) else {
        return Err(ProblemKind::ManifestMismatch(
            "the manifest's object name is not a plain relative path".into(),
        )
        .into());
    };
    let from = local_root.unwrap_or(objects).join(rel);
    let cipher = match at::open_regular(&from) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(ProblemKind::RemoteMissing.into());
        }
        Err(error) => {
            return Err(ProblemKind::Unreadable {
                action: "opening the encrypted file",
                error,
            }
            .into());
        }
    };
    write::restore_file(vault, cipher, parent, name, &want, &on_bytes)
}

/// Symlinks, FIFOs, then folders deepest first (modes and times last, so
/// that a read-only folder is finished after what is in it; only once the
/// files are complete, so that a resume can still write into them).
fn finish(
    outcome: &mut RestoreOutcome,
    o: &RestoreOptions<'_>,
    root: &Arc<OwnedFd>,
    later: &[Later],
    complete: bool,
) {
    let t = Instant::now();
    o.progress.stage("folders, links, modes and times");
    let mut tree = DestTree::new(Arc::clone(root));
    let mut findings: Vec<Finding> = Vec::new();
    let (mut links, mut specials, mut dirs) = (0u64, 0u64, 0u64);
    let selected = |l: &Later| o.selection.wants(&l.plain) == Want::Selected;
    for l in later.iter().filter(|l| selected(l)) {
        let name = l.plain.file_name().unwrap_or_default();
        let made: io::Result<bool> =
            match &l.kind {
                LaterKind::Dir => continue,
                LaterKind::Symlink(target) => tree.parent_of(&l.plain, true).and_then(|parent| {
                    match at::readlink_at(parent.as_fd(), name) {
                        Ok(existing) => Ok(existing == *target),
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {
                            at::symlink_at(target, parent.as_fd(), name)?;
                            if let Some((sec, nsec)) = l.mtime {
                                at::set_mtime_at(parent.as_fd(), name, sec, nsec)?;
                            }
                            Ok(true)
                        }
                        // Something that is not a symlink is there.
                        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(false),
                        Err(e) => Err(e),
                    }
                }),
                LaterKind::Fifo => tree.parent_of(&l.plain, true).and_then(|parent| {
                    match at::lstat_at(parent.as_fd(), name) {
                        Ok(m) => Ok(m.kind == at::Kind::Fifo),
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {
                            at::mknod_at(parent.as_fd(), name, at::Kind::Fifo, 0o600, 0)?;
                            at::chmod_at(parent.as_fd(), name, l.mode)?;
                            if let Some((sec, nsec)) = l.mtime {
                                at::set_mtime_at(parent.as_fd(), name, sec, nsec)?;
                            }
                            Ok(true)
                        }
                        Err(e) => Err(e),
                    }
                }),
            };
        match (made, &l.kind) {
            (Ok(true), LaterKind::Symlink(_)) => links += 1,
            (Ok(true), _) => specials += 1,
            (Ok(false), _) => findings.push(finding_next(
                "FAILED",
                Some(&l.plain),
                &l.cipher,
                "something else is at its name in the destination; left alone".into(),
                MOVE_IT_AWAY,
            )),
            (Err(e), _) => findings.push(finding(
                "FAILED",
                Some(&l.plain),
                &l.cipher,
                format!("creating it: {e}"),
            )),
        }
    }
    let mut ordered: Vec<&Later> = later
        .iter()
        .filter(|l| matches!(l.kind, LaterKind::Dir) && !l.foreign)
        .collect();
    ordered.sort_by_key(|l| std::cmp::Reverse(l.plain.components().count()));
    if complete {
        for l in ordered {
            let finished = tree.dir(&l.plain, false).and_then(|fd| {
                at::chmod(&*fd, l.mode)?;
                if let Some((sec, nsec)) = l.mtime {
                    at::set_mtime(&*fd, sec, nsec)?;
                }
                Ok(())
            });
            match finished {
                Ok(()) => dirs += 1,
                Err(e) => findings.push(finding(
                    "FAILED",
                    Some(&l.plain),
                    &l.cipher,
                    format!("setting the folder's mode and time: {e}"),
                )),
            }
        }
    }
    // What is written must be on the disk before the marker goes.
    let synced = at::syncfs(root.as_fd());
    outcome.totals.symlinks = links;
    outcome.totals.specials = specials;
    outcome.totals.dirs = dirs;
    let s = step(outcome, StepKind::Finish);
    s.ran = "created the symlinks and FIFOs, then set every folder's mode and modification \
             time, deepest first, and flushed the destination's file system"
        .into();
    s.seconds = t.elapsed().as_secs_f64();
    s.summary = if complete {
        format!("{dirs} folders, {links} symlinks, {specials} FIFOs")
    } else {
        format!(
            "{links} symlinks, {specials} FIFOs; folder modes and times are set once every file \
             is in place (folders stay writable for the next run)"
        )
    };
    s.status = if findings.is_empty() {
        StepStatus::Passed
    } else {
        StepStatus::Error
    };
    if let Err(e) = synced {
        s.status = StepStatus::Error;
        s.summary
            .push_str(&format!("; flushing to disk failed: {e}"));
    }
    s.findings = findings;
}

/// Calls `each` for every record of a plaintext manifest, streaming.
fn each_record(manifest: &Path, mut each: impl FnMut(&Record)) -> Result<(), String> {
    let file = File::open(manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let mut reader = ManifestReader::new(BufReader::new(file)).map_err(|e| e.to_string())?;
    while let Some(r) = reader.next_record().map_err(|e| e.to_string())? {
        each(&r);
    }
    Ok(())
}
