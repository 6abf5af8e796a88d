//! A drill, step by step: fetch the config and the manifest from the
//! remote, unlock with the password, audit the whole remote by listing,
//! choose and download a sample, decrypt it and compare it with the
//! manifest, prove the master key alone by regenerating a config, and
//! estimate a full restore. Every step records what it ran and what it
//! showed; a step that cannot run stops the drill and says so.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::BufReader;
use std::path::{Component, Path, PathBuf};
use std::time::{Instant, SystemTime};

use super::cross_check;
use super::outcome::{
    Coverage, Estimate, Finding, LOST_CONFIG, Outcome, Step, StepKind, StepStatus,
};
use super::sample::{self, Candidate, Order, SampleSize};
use super::state::{self, Rotation, YEAR_SECONDS};
use crate::display::{escape_bytes, escape_path, human_bytes};
use crate::encrypt::VaultDir;
use crate::fetch::{FetchManifest, Fetcher, detect_from_remote, fetch_remote_manifest, move_into};
use crate::format::config::CONFIG_NAME;
use crate::format::keys::{MasterKey, Password};
use crate::format::unlock::ScryptLimits;
use crate::manifest::build::MANIFEST_DIR;
use crate::manifest::verify::{VerifyOptions, verify_vault};
use crate::manifest::{ManifestReader, Record, store};
use crate::problem::Problem;
use crate::progress::Progress;
use crate::push::{LINK_SUFFIX, Lister, Remote, key, pick_hash};
use crate::rclone::Rclone;
use crate::selection::Selection;
use crate::vault::detect::{Hints, detect_layout};
use crate::vault::{LockedVault, Secret, UnlockedVault};

pub struct DrillOptions<'a> {
    pub remote: Remote,
    /// Needed for rclone remotes.
    pub rclone: Option<&'a Rclone>,
    /// `None`: the master-key path is skipped (on request).
    pub master_key: Option<MasterKey>,
    pub sample: SampleSize,
    pub choice: Choice,
    /// Remember what this drill proved (the rotation in the state
    /// directory); off for drills that must leave no trace.
    pub remember: bool,
    /// Stop after the audit: nothing is downloaded but the config and the
    /// manifest.
    pub audit_only: bool,
    pub transfers: usize,
    /// Download and check in batches of about this many bytes (default:
    /// an eighth of the sample, at least 64 MiB).
    pub batch_bytes: Option<u64>,
    /// Also read the sample through a read-only mount of the real
    /// gocryptfs and compare (`--cross-check-gocryptfs`).
    pub cross_check: bool,
    /// A new private folder the drill may fill; the caller removes it.
    /// A cross-check mounts at `scratch/mnt`.
    pub scratch: &'a Path,
    /// A plaintext manifest to use instead of the remote's.
    pub manifest: Option<PathBuf>,
    pub scrypt_limits: ScryptLimits,
    pub progress: &'a dyn Progress,
    /// The command line that repeats this drill (no secrets).
    pub reproduce: Vec<String>,
}

/// How the sample is chosen.
#[derive(Clone, Copy, Debug)]
pub enum Choice {
    /// `--seed`: a reproducible random sample.
    Seeded(u64),
    /// The default: least recently verified first (the seed breaks ties).
    Rotation(u64),
    /// `--subset k/n`.
    Subset(u64, u64),
}

/// Where the step of `kind` is in the report's list.
fn at(outcome: &mut Outcome, kind: StepKind) -> &mut Step {
    let i = outcome
        .steps
        .iter()
        .position(|s| s.kind == kind)
        .unwrap_or(0);
    &mut outcome.steps[i]
}

/// A running step: its time is measured until `end`.
struct Timer(Instant);

impl Timer {
    fn start() -> Timer {
        Timer(Instant::now())
    }

    fn end(self, step: &mut Step, status: StepStatus, summary: String) {
        step.seconds = self.0.elapsed().as_secs_f64();
        step.status = status;
        step.summary = summary;
    }
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

fn from_problem(p: &Problem) -> Finding {
    Finding {
        label: p.kind.label(),
        path: p.plain_path.as_deref().map(escape_path),
        object: escape_path(&p.cipher_path),
        cause: p.kind.to_string(),
        next: String::new(),
    }
}

/// The manifest, decrypted into scratch, with what the drill needs of it.
struct Manifest {
    path: PathBuf,
    vault_id: String,
    created: String,
    total_files: u64,
    total_bytes: u64,
    candidates: Vec<Candidate>,
    /// Files whose object names no fetch by name can carry (control
    /// characters, possible in a plaintext-names vault): never sampled.
    unfetchable: u64,
    meta: Vec<Record>,
    /// The manifest folder's encrypted name, when the manifest says.
    manifest_dir: Option<String>,
    records_blake3: String,
}

fn read_manifest(path: &Path) -> Result<Manifest, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reader = ManifestReader::new(BufReader::new(file))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let header = reader.header().clone();
    let mut candidates = Vec::new();
    let mut unfetchable = 0;
    let mut meta = Vec::new();
    while let Some(r) = reader
        .next_record()
        .map_err(|e| format!("{}: {e}", path.display()))?
    {
        match r.kind.as_str() {
            // A path that is not plainly relative is no file to sample
            // (a tampered manifest); its object is still audited.
            "file"
                if r.damaged.is_none()
                    && r.plain_path()
                        .components()
                        .all(|c| matches!(c, Component::Normal(_))) =>
            {
                if !crate::fetch::fetchable_by_name(&r.cipher_path) {
                    unfetchable += 1;
                    continue;
                }
                candidates.push(Candidate {
                    plain_path: r.plain_path(),
                    cipher_path: r.cipher_path.clone(),
                    cipher_size: r.cipher_size,
                    plain_size: r.size.unwrap_or(0),
                    key: state::file_key(&r.cipher_path, r.cipher_blake3.as_deref()),
                })
            }
            "config" | "diriv" | "sidecar" => meta.push(r),
            _ => {}
        }
    }
    let trailer = reader
        .finish()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Manifest {
        path: path.to_path_buf(),
        vault_id: header.vault_id,
        created: header.created,
        total_files: trailer.files,
        total_bytes: trailer.cipher_bytes,
        candidates,
        unfetchable,
        meta,
        manifest_dir: header.manifest_dir,
        records_blake3: trailer.records_blake3,
    })
}

/// What a missing object means.
fn consequence(kind: &str, plain: &Path) -> String {
    let shown = escape_path(plain);
    match kind {
        "config" => "gocryptfs.conf is missing: the password alone cannot open the vault; the \
                     master key (or a copy of the config) can"
            .into(),
        "diriv" => format!(
            "the folder's gocryptfs.diriv is missing: the names in {} cannot be decrypted",
            if shown.is_empty() {
                "the vault root".into()
            } else {
                shown
            }
        ),
        "sidecar" => "its .name file is missing: the long name cannot be decrypted".into(),
        "symlink" => "missing on the remote: the symlink is lost".into(),
        _ => "missing on the remote: this file cannot be restored from it".into(),
    }
}

/// Runs a drill. Never fails as a whole: what could not run is a step
/// that says so, and the verdict follows from the steps.
/// `password`: `None` skips the password path (on request).
pub fn drill(options: &DrillOptions<'_>, password: Option<Password>) -> Outcome {
    let started = Instant::now();
    let mut outcome = Outcome {
        verdict: crate::ExitStatus::CouldNotRun,
        remote: options.remote.to_string(),
        vault_id: None,
        started: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        tool: crate::create::creator(),
        seconds: 0.0,
        scenario: format!(
            "Your disk died today and {} is all you have. This drill did what a restore does: it \
             fetched the encrypted vault's config and manifest, audited every object of the \
             remote by listing, downloaded a sample as a restore would, unlocked it with the \
             password and with only the master key (as if gocryptfs.conf were lost), and \
             compared every decrypted byte with the manifest made when the vault was pushed.",
            options.remote
        ),
        steps: [
            StepKind::Audit,
            StepKind::Sample,
            StepKind::Download,
            StepKind::UnlockPassword,
            StepKind::UnlockMasterKey,
            StepKind::Compare,
            StepKind::CrossCheck,
            StepKind::Estimate,
        ]
        .into_iter()
        .filter(|&k| k != StepKind::CrossCheck || options.cross_check)
        .map(Step::new)
        .collect(),
        coverage: Coverage::default(),
        estimate: None,
        not_proven: Vec::new(),
        reproduce: options.reproduce.clone(),
    };
    run(&mut outcome, options, password);
    for step in &outcome.steps {
        if step.status == StepStatus::NotRun {
            outcome
                .not_proven
                .push(format!("{} (not reached)", step.title));
        }
    }
    outcome.seconds = started.elapsed().as_secs_f64();
    outcome.conclude();
    outcome
}

fn run(outcome: &mut Outcome, o: &DrillOptions<'_>, password: Option<Password>) {
    let password_for_gocryptfs = password
        .as_ref()
        .filter(|_| o.cross_check)
        .map(Password::duplicate);
    let vault_dir = o.scratch.join("vault");
    if let Err(e) = fs::create_dir_all(&vault_dir) {
        let step = at(outcome, StepKind::Audit);
        step.status = StepStatus::Error;
        step.summary = format!(
            "{}: cannot create the scratch folder: {e}",
            vault_dir.display()
        );
        return;
    }
    let Some(fetcher) = Fetcher::new(&o.remote, o.rclone, o.scratch, o.transfers, o.progress)
    else {
        let step = at(outcome, StepKind::Audit);
        step.status = StepStatus::Error;
        step.summary = "rclone is needed for this remote".into();
        return;
    };
    let lister = fetcher.lister();
    o.progress.stage("fetching the config");

    // The config and the root diriv: what any unlock needs first.
    let t = Timer::start();
    if let Err(e) = fetcher.fetch(&[CONFIG_NAME, "gocryptfs.diriv"], &vault_dir) {
        let step = at(outcome, StepKind::UnlockPassword);
        t.end(
            step,
            StepStatus::Error,
            format!("fetching gocryptfs.conf failed: {e}"),
        );
        return;
    }
    let config_there = vault_dir.join(CONFIG_NAME).is_file();
    if !config_there && !vault_dir.join("gocryptfs.diriv").is_file() {
        // Neither: an empty or absent remote (a disk not mounted, a wrong
        // path) is a drill that could not run, not a damaged backup.
        let mut objects = 0u64;
        let listed = lister.list(None, &mut |_| objects += 1);
        let why = match listed {
            Err(e) => Some(format!("listing the remote failed: {e}")),
            Ok(()) if objects == 0 => Some(format!(
                "nothing is at {}: is the disk mounted, the bucket and path right?",
                o.remote
            )),
            Ok(()) => None,
        };
        if let Some(why) = why {
            let step = at(outcome, StepKind::Audit);
            step.ran = "looked for gocryptfs.conf and gocryptfs.diriv on the remote".into();
            t.end(step, StepStatus::Error, why);
            return;
        }
    }

    // Step 4: the password, against the remote's config.
    let mut unlocked: Option<(UnlockedVault, &'static str)> = None;
    // The key opened something it could not have opened were it wrong (the
    // config under the password; objects under the master key).
    let mut key_proven = false;
    {
        let step = at(outcome, StepKind::UnlockPassword);
        step.ran = "unlocked the downloaded gocryptfs.conf with the password (scrypt, then the \
                    key wrap's authentication)"
            .into();
        match password {
            None => {
                t.end(
                    step,
                    StepStatus::Skipped,
                    "skipped on request (--no-password)".into(),
                );
                outcome
                    .not_proven
                    .push("that the password opens the remote's gocryptfs.conf".into());
            }
            // The audit names the missing object.
            Some(_) if !config_there => {
                step.runbook = LOST_CONFIG;
                t.end(
                    step,
                    StepStatus::Failed,
                    "gocryptfs.conf is not on the remote: the password has nothing to open".into(),
                )
            }
            Some(password) => match LockedVault::open(&vault_dir, None).and_then(|locked| {
                let layout = locked.config().layout();
                locked
                    .master_key(Secret::Password(password), &o.scrypt_limits)
                    .map(|(mk, _)| (layout, mk))
            }) {
                Ok((layout, mk)) => {
                    key_proven = true;
                    unlocked = Some((
                        UnlockedVault::new(vault_dir.clone(), layout, &mk),
                        "the password",
                    ));
                    t.end(
                        step,
                        StepStatus::Passed,
                        "the password opened the remote's gocryptfs.conf".into(),
                    );
                }
                Err(e) => {
                    // A wrong password is refused; a config damaged (a
                    // key of the wrong length, bad scrypt parameters) is
                    // damage; one from a newer gocryptfs could not be read.
                    let status = StepStatus::of(e.status());
                    if status == StepStatus::Failed {
                        step.findings.push(finding(
                            "DAMAGED",
                            None,
                            CONFIG_NAME,
                            format!("the config cannot be used: {e}"),
                        ));
                    }
                    t.end(step, status, format!("{e}"));
                }
            },
        }
    }
    // Without the password, the master key with the config's flags opens
    // the manifest (the key itself is proven in step 5).
    if unlocked.is_none()
        && let (Some(mk), true) = (&o.master_key, config_there)
        && let Ok(locked) = LockedVault::open(&vault_dir, None)
    {
        unlocked = Some((
            UnlockedVault::new(vault_dir.clone(), locked.config().layout(), mk),
            "the master key",
        ));
    }

    // No config on the remote: with only the master key, detect the flags
    // from a few objects (as regen-config does), to open the remote's own
    // manifest as a restore on a new machine would.
    if unlocked.is_none()
        && !config_there
        && o.manifest.is_none()
        && let Some(mk) = &o.master_key
    {
        o.progress.stage("detecting the flags with the master key");
        if let Ok(Some(layout)) =
            detect_from_remote(&fetcher, &vault_dir, &o.scratch.join("detect"), mk)
        {
            key_proven = true;
            unlocked = Some((
                UnlockedVault::new(vault_dir.clone(), layout, mk),
                "the master key (flags detected from the ciphertext)",
            ));
        }
    }

    // The manifest: --manifest, else the remote's, else the local copy.
    o.progress.stage("fetching the manifest");
    let manifest_path = o.scratch.join("manifest.jsonl");
    let mut manifest_note = String::new();
    // What is wrong with the remote's own manifest, if anything.
    let mut manifest_findings: Vec<Finding> = Vec::new();
    let mut remote_manifest_problem: Option<String> = None;
    // The remote's manifest failed to authenticate (not merely absent).
    let mut remote_manifest_damaged = false;
    let mut manifest_unchecked: Option<String> = None;
    let mut from_remote = false;
    let manifest_source: Option<PathBuf> = if let Some(given) = &o.manifest {
        manifest_note = format!("the manifest given with --manifest ({})", given.display());
        Some(given.clone())
    } else if let Some((vault, _)) = &unlocked {
        match fetch_remote_manifest(vault, &fetcher, None, &manifest_path) {
            Ok(true) => {
                manifest_note = "the remote's own manifest (.vaultdrill/manifest.jsonl)".into();
                from_remote = true;
                Some(manifest_path.clone())
            }
            Ok(false) => {
                remote_manifest_problem = Some(
                    "the remote holds no manifest (.vaultdrill/manifest.jsonl): a restore from \
                     it cannot be checked file by file"
                        .into(),
                );
                None
            }
            Err(FetchManifest::Damaged(e)) => {
                remote_manifest_problem = Some(format!(
                    "the remote's manifest cannot be read ({e}): damaged or tampered"
                ));
                remote_manifest_damaged = true;
                None
            }
            Err(FetchManifest::CouldNotRun(e)) => {
                manifest_unchecked = Some(format!(
                    "the remote's manifest could not be fetched ({e}); the local copy was used, \
                     and the remote's own manifest is unchecked"
                ));
                None
            }
        }
    } else {
        None
    };
    let manifest_source = manifest_source.or_else(|| {
        let id = unlocked
            .as_ref()
            .map(|(v, _)| v.vault_id().to_string())
            .or_else(|| o.master_key.as_ref().map(MasterKey::vault_id))?;
        let copy = store::local_copy(&id)?;
        manifest_note = format!(
            "the local copy of the newest manifest ({}); the remote's could not be read",
            copy.display()
        );
        Some(copy)
    });
    // One private copy in scratch, read from there: the drill reads it
    // several times, and a push may replace the local copy meanwhile.
    let manifest_source = match manifest_source {
        Some(src) if src != manifest_path => match fs::copy(&src, &manifest_path) {
            Ok(_) => Some(manifest_path.clone()),
            Err(e) => {
                let step = at(outcome, StepKind::Audit);
                step.status = StepStatus::Error;
                step.summary = format!("{}: the manifest cannot be copied: {e}", src.display());
                return;
            }
        },
        other => other,
    };
    if let (Some(problem), Some(_)) = (&remote_manifest_problem, &manifest_source) {
        manifest_findings.push(finding(
            "DAMAGED",
            None,
            MANIFEST_OBJECT,
            format!("{problem}; the local copy was used"),
        ));
    }
    let manifest = match manifest_source.as_deref().map(read_manifest) {
        Some(Ok(m)) if !store::is_vault_id(&m.vault_id) || m.vault_id == "unknown" => {
            let step = at(outcome, StepKind::Audit);
            step.status = StepStatus::Error;
            step.summary = format!(
                "{manifest_note}: its vault id {:?} is not one (a damaged or tampered manifest)",
                m.vault_id
            );
            return;
        }
        Some(Ok(m)) => m,
        other => {
            let no_copy = other.is_none();
            let step = at(outcome, StepKind::Audit);
            step.status = StepStatus::Error;
            step.summary = match other {
                Some(Err(e)) => format!("the manifest cannot be read: {e}"),
                _ => "no manifest: the remote has none that could be read, and there is no local \
                      copy; push with `vaultdrill push` first, or give one with --manifest"
                    .into(),
            };
            if !config_there {
                // Damage is known even so: the config is gone.
                step.findings.push(finding(
                    "DAMAGED",
                    None,
                    CONFIG_NAME,
                    consequence("config", Path::new("")),
                ));
                step.status = StepStatus::Failed;
                step.summary = "gocryptfs.conf is missing on the remote, and without it no \
                                manifest could be opened (no local copy): give a copy with \
                                --manifest FILE, or follow runbooks/lost-config.md"
                    .into();
                step.runbook = super::outcome::LOST_CONFIG;
            } else if let (Some(problem), true, true, true) = (
                &remote_manifest_problem,
                remote_manifest_damaged,
                key_proven,
                no_copy,
            ) {
                // The key opened the vault, and the manifest does not
                // authenticate under it: damage, even with nothing to
                // audit against.
                step.findings.push(finding(
                    "DAMAGED",
                    None,
                    MANIFEST_OBJECT,
                    format!("{problem}; there is no local copy to audit the remote against"),
                ));
                step.status = StepStatus::Failed;
                step.summary = "the remote's manifest is damaged and this machine has no copy \
                                of it: push again from the vault (`vaultdrill push`), or give a \
                                copy with --manifest FILE"
                    .into();
            }
            return;
        }
    };
    if let Some((vault, _)) = &unlocked
        && vault.vault_id() != manifest.vault_id
    {
        let step = at(outcome, StepKind::Audit);
        step.status = StepStatus::Error;
        step.summary = format!(
            "{manifest_note} belongs to another vault (id {}, this vault is {})",
            manifest.vault_id,
            vault.vault_id()
        );
        return;
    }
    // A remote rolled back to an older push: the last push from here
    // stored a newer manifest than the one found there.
    let mut manifest = manifest;
    if from_remote
        && let Some(pushed) = crate::push::run::last_push_to(&manifest.vault_id, &outcome.remote)
            .and_then(|r| Some((r.time, r.manifest_created?, r.manifest_records?)))
            .filter(|(_, created, records)| {
                *records != manifest.records_blake3 && *created >= manifest.created
            })
    {
        manifest_findings.push(finding(
            "DAMAGED",
            None,
            MANIFEST_OBJECT,
            format!(
                "the remote's manifest was made {}, but the push from here at {} stored one \
                     made {}: the remote was rolled back or overwritten with an older copy",
                manifest.created, pushed.0, pushed.1
            ),
        ));
        // Audit against the newer one, when it is here: what was pushed
        // since shows as missing.
        let newer = store::local_copy(&manifest.vault_id).filter(|_| {
            store::local_copy_identity(&manifest.vault_id).map(|(_, r)| r) == Some(pushed.2.clone())
        });
        if let Some(newer) = newer
            && fs::copy(&newer, &manifest_path).is_ok()
            && let Ok(m) = read_manifest(&manifest_path)
        {
            manifest_note = format!(
                "the local copy of the manifest the last push stored ({}), newer than \
                             the remote's",
                newer.display()
            );
            manifest = m;
        }
    }
    let manifest_note = format!("{manifest_note}, made {}", manifest.created);
    outcome.coverage.files_total = manifest.total_files;
    outcome.coverage.bytes_total = manifest.total_bytes;
    outcome.vault_id = Some(manifest.vault_id.clone());

    // Step 1: audit every object by listing.
    let manifest_dir = unlocked
        .as_ref()
        .and_then(|(vault, _)| {
            VaultDir::open(vault, Path::new(""))
                .ok()?
                .cipher_name(vault, MANIFEST_DIR.as_ref())
                .ok()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .or_else(|| manifest.manifest_dir.clone());
    audit(
        outcome,
        o,
        &lister,
        &manifest,
        &manifest_note,
        manifest_dir.as_deref(),
    );
    {
        let step = at(outcome, StepKind::Audit);
        if !manifest_findings.is_empty() {
            step.findings.splice(0..0, manifest_findings);
            if step.status == StepStatus::Passed {
                step.status = StepStatus::Failed;
                step.summary
                    .push_str("; the remote's manifest is not the one last pushed");
            }
        }
        // Not fetched is not proven: never a pass.
        if let Some(why) = manifest_unchecked {
            step.findings
                .insert(0, finding("FAILED", None, MANIFEST_OBJECT, why));
            if step.status == StepStatus::Passed {
                step.status = StepStatus::Error;
                step.summary
                    .push_str("; the remote's manifest could not be fetched");
            }
        }
        if step.status == StepStatus::Error {
            return;
        }
    }
    if o.audit_only {
        for kind in [
            StepKind::Sample,
            StepKind::Download,
            StepKind::UnlockMasterKey,
            StepKind::Compare,
            StepKind::Estimate,
        ] {
            let step = at(outcome, kind);
            step.status = StepStatus::Skipped;
            step.summary = "skipped: --audit-only".into();
        }
        outcome
            .not_proven
            .push("that the objects decrypt (--audit-only downloaded no sample)".into());
        return;
    }

    // Step 2: the sample.
    let t = Timer::start();
    let mut rotation = Rotation::load(&manifest.vault_id);
    let order = match o.choice {
        Choice::Seeded(seed) => Order::Seeded(seed),
        Choice::Rotation(seed) => Order::Rotation {
            seed,
            rotation: &rotation,
        },
        Choice::Subset(k, n) => Order::Subset { k, n },
    };
    let chosen = sample::build(&manifest.candidates, &manifest.meta, o.sample, order);
    outcome.coverage.chosen_by = match o.choice {
        Choice::Seeded(seed) => format!("--sample {} --seed {seed}", o.sample.cli_form()),
        Choice::Rotation(_) => format!(
            "--sample {}, least recently verified files first ({} of the {} files verified \
             before)",
            o.sample.cli_form(),
            manifest
                .candidates
                .iter()
                .filter(|c| rotation.last(c.key).is_some())
                .count(),
            manifest.candidates.len()
        ),
        Choice::Subset(k, n) => format!("--subset {k}/{n}"),
    };
    if manifest.unfetchable > 0 {
        outcome.not_proven.push(format!(
            "{} file(s) whose encrypted names hold a line break (a plaintext-names vault allows \
             it) were not sampled: no fetch by name can carry such a name; check them with \
             `vaultdrill verify` on a local copy",
            manifest.unfetchable
        ));
    }
    {
        let ran = format!("chose by {}", outcome.coverage.chosen_by);
        let step = at(outcome, StepKind::Sample);
        step.ran = ran;
        let dirivs = chosen
            .objects
            .iter()
            .filter(|x| x.plain_path.is_none() && x.cipher_path.ends_with("gocryptfs.diriv"))
            .count();
        let sidecars = chosen
            .objects
            .iter()
            .filter(|x| x.cipher_path.ends_with(".name"))
            .count();
        t.end(
            step,
            StepStatus::Passed,
            format!(
                "{} of {} files ({} of ciphertext{}{}), with the config, {dirivs} diriv and \
                 {sidecars} .name files they need: {} objects",
                chosen.files.len(),
                manifest.candidates.len(),
                human_bytes(chosen.file_bytes),
                if chosen.empty_included {
                    "; an empty file"
                } else {
                    ""
                },
                chosen
                    .largest
                    .as_ref()
                    .map(|(p, n)| format!("; the largest, {}, {}", escape_path(p), human_bytes(*n)))
                    .unwrap_or_default(),
                chosen.objects.len()
            ),
        );
    }
    outcome.coverage.files_sampled = chosen.files.len() as u64;

    // Steps 3 and 6, overlapped: the sample comes in batches, and while
    // the next batch downloads, the last one is hashed, decrypted and
    // compared.
    let Some(Piped {
        download_rate,
        mut decrypt_rate,
        compare_problems,
    }) = download_and_compare(
        outcome,
        o,
        &fetcher,
        &vault_dir,
        &manifest,
        &chosen,
        unlocked.as_ref(),
    )
    else {
        return;
    };

    // Step 5: only the master key: regenerate a config and decrypt again.
    let mk_rate = master_key_path(
        outcome,
        o,
        &manifest,
        &chosen,
        &compare_problems,
        unlocked.as_ref().map(|(v, _)| v),
    );
    if at(outcome, StepKind::Compare).status == StepStatus::NotRun {
        // The master key path decrypted and compared for it.
        let mk = at(outcome, StepKind::UnlockMasterKey).clone();
        let step = at(outcome, StepKind::Compare);
        step.status = match mk.status {
            StepStatus::Passed => StepStatus::Passed,
            StepStatus::Failed => StepStatus::Failed,
            _ => StepStatus::NotRun,
        };
        step.summary = mk.summary.clone();
    }
    if decrypt_rate == 0.0 {
        decrypt_rate = mk_rate;
    }
    // A drill that decrypted no byte proved nothing about the contents.
    if manifest.candidates.iter().any(|c| c.plain_size > 0) && outcome.coverage.bytes_decrypted == 0
    {
        let by = outcome.coverage.chosen_by.clone();
        let step = at(outcome, StepKind::Compare);
        if matches!(step.status, StepStatus::Passed | StepStatus::NotRun) {
            step.status = StepStatus::Error;
            step.summary = format!(
                "nothing with content was decrypted ({by}): no file's contents were proven; \
                 sample more (--sample), or a smaller slice count (--subset)"
            );
        }
    }
    if o.cross_check {
        cross_check_step(
            outcome,
            o,
            &vault_dir,
            &manifest,
            &chosen,
            password_for_gocryptfs.as_ref(),
        );
    }
    remember(outcome, o, &manifest, &chosen, &mut rotation);

    // Step 7: measure and estimate.
    let step = at(outcome, StepKind::Estimate);
    if download_rate > 0.0 && decrypt_rate > 0.0 {
        let total = manifest.total_bytes;
        let seconds =
            total as f64 / (download_rate * 1048576.0) + total as f64 / (decrypt_rate * 1048576.0);
        step.status = StepStatus::Passed;
        step.summary = format!(
            "download {download_rate:.1} MiB/s, decryption {decrypt_rate:.1} MiB/s: a full \
             restore of {} needs about {}",
            human_bytes(total),
            if seconds > 120.0 {
                format!("{:.0} min", seconds / 60.0)
            } else {
                format!("{seconds:.0} s")
            }
        );
        outcome.estimate = Some(Estimate {
            download_mib_s: download_rate,
            decrypt_mib_s: decrypt_rate,
            egress_bytes: total,
            restore_seconds: seconds,
            assumptions: format!(
                "Assumes the whole vault downloads at this drill's rate with --transfers {} \
                 (larger downloads are often faster per byte), decryption on this machine, and \
                 that the download and the decryption do not overlap. Egress fees are not \
                 included.",
                o.transfers
            ),
        });
    } else {
        step.status = StepStatus::Passed;
        step.summary = "too little was downloaded or decrypted to measure".into();
    }
}

/// What the overlapped download and comparison measured.
struct Piped {
    download_rate: f64,
    decrypt_rate: f64,
    /// Objects the comparison found wrong (escaped cipher paths).
    compare_problems: HashSet<String>,
}

/// The sample's objects in batches: every config, diriv and sidecar in the
/// first (names need them), then files, about an eighth of the bytes (at
/// least 64 MiB) each.
fn batches(chosen: &sample::Sample, batch_bytes: Option<u64>) -> Vec<Vec<usize>> {
    let per = batch_bytes
        .unwrap_or((chosen.download_bytes / 8).max(64 << 20))
        .max(1);
    let mut out: Vec<Vec<usize>> = vec![Vec::new()];
    let mut used = 0u64;
    for (i, x) in chosen.objects.iter().enumerate() {
        if x.plain_path.is_none() {
            out[0].push(i);
        }
    }
    for (i, x) in chosen.objects.iter().enumerate() {
        if x.plain_path.is_none() {
            continue;
        }
        if used >= per {
            out.push(Vec::new());
            used = 0;
        }
        if let Some(last) = out.last_mut() {
            last.push(i);
        }
        used += x.cipher_size;
    }
    out
}

/// What the verifier thread found over all batches.
#[derive(Default)]
struct Checked {
    downloaded: u64,
    hash_findings: Vec<Finding>,
    not_arrived: Vec<String>,
    problems: Vec<Problem>,
    files: u64,
    bytes: u64,
    verify_error: Option<String>,
    busy: f64,
    /// Objects the manifest has no ciphertext hash for.
    unhashed: u64,
}

/// Steps 3 and 6: fetches the sample batch by batch while a second thread
/// hashes each arrived batch (ciphertext BLAKE3 against the manifest) and,
/// with an unlocked vault, decrypts and compares it. `None`: the drill
/// stops (the step says why).
fn download_and_compare(
    outcome: &mut Outcome,
    o: &DrillOptions<'_>,
    fetcher: &Fetcher<'_>,
    vault_dir: &Path,
    manifest: &Manifest,
    chosen: &sample::Sample,
    unlocked: Option<&(UnlockedVault, &'static str)>,
) -> Option<Piped> {
    o.progress.stage("downloading and comparing the sample");
    o.progress
        .set_total(chosen.objects.len() as u64, chosen.download_bytes);
    let wanted: HashSet<&str> = chosen
        .objects
        .iter()
        .map(|x| x.cipher_path.as_str())
        .collect();
    let cipher_hashes = match sample_hashes(&manifest.path, &wanted) {
        Ok(h) => h,
        Err(e) => {
            let step = at(outcome, StepKind::Download);
            step.status = StepStatus::Error;
            step.summary = format!("the manifest cannot be read again: {e}");
            return None;
        }
    };
    let batches = batches(chosen, o.batch_bytes);
    let (tx, rx) = std::sync::mpsc::channel::<usize>();
    let mut fetch_error: Option<String> = None;
    let mut fetch_seconds = 0.0;
    let checked = std::thread::scope(|scope| {
        let verifier = scope.spawn(|| {
            let mut c = Checked::default();
            let mut seen: HashSet<(PathBuf, String)> = HashSet::new();
            for k in rx {
                let started = Instant::now();
                let batch: Vec<&sample::SampleObject> =
                    batches[k].iter().map(|&i| &chosen.objects[i]).collect();
                // Hashed streaming (bounded memory), objects in parallel.
                let hashed: Vec<Option<(u64, String)>> = {
                    use rayon::prelude::*;
                    batch
                        .par_iter()
                        .map(|object| {
                            let file = File::open(vault_dir.join(&object.cipher_path)).ok()?;
                            let mut hasher = blake3::Hasher::new();
                            let len = hasher.update_reader(file).ok()?.count();
                            Some((len, hasher.finalize().to_hex().to_string()))
                        })
                        .collect()
                };
                for (object, got) in batch.iter().zip(hashed) {
                    let Some((len, got)) = got else {
                        c.not_arrived.push(object.cipher_path.clone());
                        continue;
                    };
                    c.downloaded += len;
                    if !cipher_hashes.contains_key(&object.cipher_path) {
                        c.unhashed += 1;
                    }
                    if let Some(want) = cipher_hashes.get(&object.cipher_path)
                        && got != *want
                    {
                        c.hash_findings.push(finding(
                            "DAMAGED",
                            object.plain_path.as_deref(),
                            &object.cipher_path,
                            format!(
                                "the downloaded object's BLAKE3 is {got}, the manifest says \
                                     {want}"
                            ),
                        ));
                    }
                }
                let files: Vec<PathBuf> =
                    batch.iter().filter_map(|x| x.plain_path.clone()).collect();
                if let (Some((vault, _)), false, None) =
                    (unlocked, files.is_empty(), &c.verify_error)
                {
                    match verify_sample(vault, &manifest.path, &files, o.progress) {
                        Ok(summary) => {
                            c.files += summary.files;
                            c.bytes += summary.bytes;
                            // Config and diriv files are compared with
                            // every batch: each finding once.
                            // The config is the audit's, the download's
                            // and the password step's to judge.
                            for p in summary.problems {
                                if p.cipher_path == Path::new(CONFIG_NAME) {
                                    continue;
                                }
                                if seen.insert((p.cipher_path.clone(), p.kind.to_string())) {
                                    c.problems.push(p);
                                }
                            }
                        }
                        Err(e) => c.verify_error = Some(e),
                    }
                }
                c.busy += started.elapsed().as_secs_f64();
            }
            c
        });
        for (k, batch) in batches.iter().enumerate() {
            let names: Vec<&str> = batch
                .iter()
                .map(|&i| chosen.objects[i].cipher_path.as_str())
                .collect();
            let started = Instant::now();
            // Into a folder of its own, then moved into place whole: the
            // verifier, walking the vault meanwhile, never meets a
            // half-written object or rclone's temporary names.
            let incoming = o.scratch.join("incoming");
            let fetched = fetcher
                .fetch(&names, &incoming)
                .and_then(|()| move_into(&incoming, vault_dir, &names));
            fetch_seconds += started.elapsed().as_secs_f64();
            if let Err(e) = fetched {
                fetch_error = Some(e.to_string());
                break;
            }
            if tx.send(k).is_err() {
                break;
            }
        }
        drop(tx);
        verifier.join().unwrap_or_else(|_| {
            // Never a pass by default: a checker that stopped checked nothing.
            fetch_error = Some("the thread checking the sample stopped unexpectedly".into());
            Checked::default()
        })
    });

    // Step 3's verdict.
    outcome.coverage.bytes_downloaded = checked.downloaded;
    let missing_known = audit_missing(outcome);
    let step = at(outcome, StepKind::Download);
    step.ran = match &o.remote {
        Remote::Local(p) => format!(
            "copied {} objects from {} in {} batch(es), each hashed as it arrived",
            chosen.objects.len(),
            p.display(),
            batches.len()
        ),
        Remote::Rclone(r) => format!(
            "rclone copy {r} SCRATCH --files-from LIST --no-traverse --transfers {} ({} \
             objects in {} batch(es), each hashed as it arrived)",
            o.transfers,
            chosen.objects.len(),
            batches.len()
        ),
    };
    step.findings = checked.hash_findings;
    if let Some(e) = fetch_error {
        step.seconds = fetch_seconds;
        step.status = StepStatus::Error;
        step.summary = format!("the download failed: {e}");
        return None;
    }
    let unexplained: Vec<String> = checked
        .not_arrived
        .into_iter()
        .filter(|n| !missing_known.contains(&escape_bytes(n.as_bytes())))
        .collect();
    if !unexplained.is_empty() {
        for n in &unexplained {
            step.findings.push(finding(
                "FAILED",
                None,
                n,
                "listed on the remote, but the download did not bring it".into(),
            ));
        }
        step.seconds = fetch_seconds;
        step.status = StepStatus::Error;
        step.summary = format!("{} object(s) did not arrive", unexplained.len());
        return None;
    }
    let damaged = step.findings.len();
    step.seconds = fetch_seconds;
    step.status = if damaged > 0 {
        StepStatus::Failed
    } else {
        StepStatus::Passed
    };
    step.summary = format!(
        "{} in {fetch_seconds:.1} s; {}",
        human_bytes(checked.downloaded),
        if damaged > 0 {
            format!("{damaged} object(s) differ from the manifest")
        } else if checked.unhashed > 0 {
            format!(
                "the BLAKE3 of every object the manifest has one for as in it ({} without one)",
                checked.unhashed
            )
        } else {
            "every object's BLAKE3 as in the manifest".into()
        }
    );
    let download_rate = rate(checked.downloaded, fetch_seconds);

    // Step 6's verdict.
    let mut compare_problems: HashSet<String> = HashSet::new();
    let step = at(outcome, StepKind::Compare);
    let Some((_, how)) = unlocked else {
        step.ran = "decrypting with the master key alone (step 5)".into();
        return Some(Piped {
            download_rate,
            decrypt_rate: 0.0,
            compare_problems,
        });
    };
    step.ran = format!(
        "decrypted every sampled file (unlocked with {how}) as its batch arrived, and compared \
         its plaintext BLAKE3, size and path with the manifest"
    );
    step.seconds = checked.busy;
    if let Some(e) = checked.verify_error {
        step.status = StepStatus::Error;
        step.summary = e;
        return Some(Piped {
            download_rate,
            decrypt_rate: 0.0,
            compare_problems,
        });
    }
    for p in &checked.problems {
        compare_problems.insert(escape_path(&p.cipher_path));
        step.findings.push(from_problem(p));
    }
    outcome.coverage.files_decrypted = checked.files;
    outcome.coverage.bytes_decrypted = checked.bytes;
    let step = at(outcome, StepKind::Compare);
    let damaged = checked
        .problems
        .iter()
        .filter(|p| p.status() == crate::ExitStatus::Damaged)
        .count();
    // Something that could not be read was not checked: never a pass.
    let unchecked = checked
        .problems
        .iter()
        .any(|p| p.status() == crate::ExitStatus::CouldNotRun);
    step.status = if damaged > 0 {
        StepStatus::Failed
    } else if unchecked {
        StepStatus::Error
    } else {
        StepStatus::Passed
    };
    step.summary = format!(
        "{} files, {} of plaintext: {}",
        checked.files,
        human_bytes(checked.bytes),
        if damaged > 0 {
            format!("{damaged} damaged")
        } else {
            "every block authenticated, every hash as in the manifest".into()
        }
    );
    Some(Piped {
        download_rate,
        decrypt_rate: rate(checked.bytes, checked.busy),
        compare_problems,
    })
}

/// Step 6b: the sample through a read-only gocryptfs mount, compared with
/// what vaultdrill found.
fn cross_check_step(
    outcome: &mut Outcome,
    o: &DrillOptions<'_>,
    vault_dir: &Path,
    manifest: &Manifest,
    chosen: &sample::Sample,
    password: Option<&Password>,
) {
    o.progress.stage("cross-checking with gocryptfs");
    let t = Timer::start();
    let regenerated = o.scratch.join("regenerated").join(CONFIG_NAME);
    let mk_passed = at(outcome, StepKind::UnlockMasterKey).status == StepStatus::Passed;
    let pw_passed = at(outcome, StepKind::UnlockPassword).status == StepStatus::Passed;
    let printed = o.master_key.as_ref().map(MasterKey::to_printed);
    let (key, how) = match (&printed, password) {
        (Some(printed), _) if mk_passed && regenerated.is_file() => (
            cross_check::Key::MasterKey {
                printed,
                config: &regenerated,
            },
            "the master key and the regenerated config",
        ),
        (_, Some(p)) if pw_passed => (
            cross_check::Key::Password(p.bytes()),
            "the password and the remote's gocryptfs.conf",
        ),
        _ => {
            let step = at(outcome, StepKind::CrossCheck);
            t.end(
                step,
                StepStatus::Error,
                "nothing unlocked the sample, so gocryptfs has nothing to mount".into(),
            );
            return;
        }
    };
    let bad: HashSet<String> = outcome
        .findings()
        .filter(|(_, f)| f.label == "DAMAGED")
        .map(|(_, f)| f.object.clone())
        .collect();
    let damaged: HashSet<PathBuf> = chosen
        .objects
        .iter()
        .filter(|x| bad.contains(&escape_path(Path::new(&x.cipher_path))))
        .filter_map(|x| x.plain_path.clone())
        .collect();
    let result = cross_check::run(
        vault_dir,
        &o.scratch.join("mnt"),
        &key,
        &manifest.path,
        &chosen.files,
        &damaged,
    );
    let step = at(outcome, StepKind::CrossCheck);
    step.ran = format!(
        "mounted the downloaded sample read-only with gocryptfs ({}, unlocked with {how}, the \
         secret on its standard input) and read every sampled file through the mount",
        gocryptfs_version()
    );
    match result {
        Err(e) => t.end(step, StepStatus::Error, e),
        Ok(r) => {
            for d in &r.disagreements {
                let (path, what) = cross_check::describe(d);
                let object = chosen
                    .objects
                    .iter()
                    .find(|x| x.plain_path.as_ref() == Some(&d.plain_path))
                    .map_or_else(
                        || "-".to_string(),
                        |x| escape_bytes(x.cipher_path.as_bytes()),
                    );
                step.findings.push(Finding {
                    label: "FAILED",
                    path: Some(path),
                    object,
                    cause: format!("{what}; the two implementations disagree: please report it"),
                    next: String::new(),
                });
            }
            let agree = r.disagreements.is_empty();
            t.end(
                step,
                if agree {
                    StepStatus::Passed
                } else {
                    StepStatus::Error
                },
                format!(
                    "{} files ({}) read through gocryptfs: {}{}",
                    r.files,
                    human_bytes(r.bytes),
                    if agree {
                        "the same as vaultdrill found, file by file".to_string()
                    } else {
                        format!("{} disagreement(s)", r.disagreements.len())
                    },
                    if r.both_damaged > 0 {
                        format!("; {} damaged for both", r.both_damaged)
                    } else {
                        String::new()
                    }
                ),
            );
        }
    }
}

/// `gocryptfs -version`'s first words, for the report.
fn gocryptfs_version() -> String {
    std::process::Command::new("gocryptfs")
        .arg("-version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split(';')
                .next()
                .map(|s| s.trim().to_string())
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "gocryptfs".into())
}

/// Marks the sampled files no step found wrong as verified now (when a
/// decryption ran), saves the rotation, and counts the share of the vault
/// verified in the last 12 months.
fn remember(
    outcome: &mut Outcome,
    o: &DrillOptions<'_>,
    manifest: &Manifest,
    chosen: &sample::Sample,
    rotation: &mut Rotation,
) {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let decrypted = matches!(
        at(outcome, StepKind::Compare).status,
        StepStatus::Passed | StepStatus::Failed
    );
    if decrypted {
        let wrong: HashSet<String> = outcome.findings().map(|(_, f)| f.object.clone()).collect();
        let sampled: HashSet<&str> = chosen
            .objects
            .iter()
            .filter(|x| x.plain_path.is_some())
            .map(|x| x.cipher_path.as_str())
            .collect();
        for c in &manifest.candidates {
            if !sampled.contains(c.cipher_path.as_str()) {
                continue;
            }
            // A file found damaged is not verified, whenever it was
            // (findings name objects escaped).
            if wrong.contains(&escape_bytes(c.cipher_path.as_bytes())) {
                rotation.verified.remove(&c.key);
            } else {
                rotation.verified.insert(c.key, now);
            }
        }
    }
    let since = now.saturating_sub(YEAR_SECONDS);
    let recent = manifest
        .candidates
        .iter()
        .filter(|c| rotation.last(c.key).is_some_and(|t| t >= since))
        .count() as u64;
    outcome.coverage.verified_12m_files = recent;
    outcome.coverage.verified_12m_percent = if manifest.candidates.is_empty() {
        100.0
    } else {
        100.0 * recent as f64 / manifest.candidates.len() as f64
    };
    if o.remember && decrypted {
        let keys: Vec<u128> = manifest.candidates.iter().map(|c| c.key).collect();
        if let Err(e) = rotation.save(&manifest.vault_id, &keys) {
            outcome.not_proven.push(format!(
                "nothing: but what this drill proved could not be remembered for the next \
                 one ({e}); check the state directory {}",
                store::state_dir().display()
            ));
        }
    }
}

fn rate(bytes: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        bytes as f64 / 1048576.0 / seconds
    } else {
        0.0
    }
}

/// Cipher path -> ciphertext BLAKE3 of the `wanted` objects (a second
/// pass over the manifest, holding only the sample's hashes).
fn sample_hashes(
    manifest: &Path,
    wanted: &HashSet<&str>,
) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    let file = File::open(manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let mut reader = ManifestReader::new(BufReader::new(file)).map_err(|e| e.to_string())?;
    while let Some(r) = reader.next_record().map_err(|e| e.to_string())? {
        if wanted.contains(r.cipher_path.as_str())
            && let Some(h) = r.cipher_blake3
        {
            out.insert(r.cipher_path, h);
        }
    }
    Ok(out)
}

/// How findings about the manifest name their object.
const MANIFEST_OBJECT: &str = ".vaultdrill/manifest.jsonl (encrypted)";

/// Unexpected objects named one by one at most.
const MAX_NOTES: u64 = 100;

/// Objects the audit found missing (their names).
fn audit_missing(outcome: &Outcome) -> HashSet<String> {
    outcome
        .steps
        .iter()
        .filter(|s| s.kind == StepKind::Audit)
        .flat_map(|s| s.findings.iter())
        .filter(|f| f.cause.starts_with("missing") || f.cause.contains("is missing"))
        .map(|f| f.object.clone())
        .collect()
}

/// Step 1: lists the remote (with the hash it keeps) and compares every
/// object with the manifest: missing, wrong size, wrong hash, unexpected.
fn audit(
    outcome: &mut Outcome,
    o: &DrillOptions<'_>,
    lister: &Lister<'_>,
    manifest: &Manifest,
    manifest_note: &str,
    manifest_dir: Option<&str>,
) {
    o.progress.stage("auditing the remote");
    let t = Timer::start();
    let links = matches!(o.remote, Remote::Rclone(_));
    // A hash the remote keeps; not one it would compute by reading every
    // object (an audit "without downloading" must not read the vault).
    let features = match (&o.remote, o.rclone) {
        (Remote::Rclone(_), Some(rclone)) => {
            o.remote.root().and_then(|root| rclone.features(root).ok())
        }
        _ => None,
    };
    let slow = features.as_ref().is_some_and(|f| f.slow_hash());
    let hash = features
        .filter(|f| !f.slow_hash())
        .and_then(|f| pick_hash(&f.hashes));
    // Expected objects: key -> (size, hash, seen).
    struct Want {
        size: u64,
        hash: Option<String>,
        seen: bool,
    }
    let object_name = |r: &Record| {
        let mut name = r.cipher_path.clone();
        if links && r.kind == "symlink" {
            name.push_str(LINK_SUFFIX);
        }
        name
    };
    let mut expected: HashMap<u128, Want> = HashMap::new();
    let read = |each: &mut dyn FnMut(Record)| -> Result<(), String> {
        let file = File::open(&manifest.path).map_err(|e| e.to_string())?;
        let mut reader = ManifestReader::new(BufReader::new(file)).map_err(|e| e.to_string())?;
        while let Some(r) = reader.next_record().map_err(|e| e.to_string())? {
            if r.kind != "dir" {
                each(r);
            }
        }
        Ok(())
    };
    let filled = read(&mut |r: Record| {
        let hash_value = match hash {
            Some("blake3") => r.cipher_blake3.clone(),
            Some("sha1") => r.cipher_sha1.clone(),
            Some("md5") => r.cipher_md5.clone(),
            _ => None,
        };
        expected.insert(
            key(object_name(&r).as_bytes()),
            Want {
                size: r.cipher_size,
                hash: hash_value,
                seen: false,
            },
        );
    });
    let step = at(outcome, StepKind::Audit);
    step.ran = format!(
        "{} and compared every object with {manifest_note}",
        match &o.remote {
            Remote::Local(p) => format!("listed every file under {}", p.display()),
            Remote::Rclone(r) => format!(
                "rclone lsjson -R --files-only{} {r}",
                hash.map(|h| format!(" --hash --hash-type {h}"))
                    .unwrap_or_default()
            ),
        }
    );
    if let Err(e) = filled {
        t.end(
            step,
            StepStatus::Error,
            format!("the manifest cannot be read: {e}"),
        );
        return;
    }
    let mut findings = Vec::new();
    let mut unexpected = 0u64;
    // Objects found different: key -> finding, for naming their plaintext.
    let mut differing: HashMap<u128, usize> = HashMap::new();
    let (mut listed, mut hashed) = (0u64, 0u64);
    let prefix = manifest_dir.map(|d| format!("{d}/"));
    let listing = lister.list(hash, &mut |object| {
        listed += 1;
        if prefix
            .as_deref()
            .is_some_and(|p| object.path.starts_with(p))
        {
            return;
        }
        let Some(want) = expected.get_mut(&key(&object.raw)) else {
            // Named up to a hundred; a remote full of strangers is one note.
            unexpected += 1;
            if unexpected <= MAX_NOTES {
                findings.push(finding(
                    "NOTE",
                    None,
                    &object.path,
                    "on the remote but not in the manifest (an object another program wrote?)"
                        .into(),
                ));
            }
            return;
        };
        want.seen = true;
        let before = findings.len();
        if object.size >= 0 && object.size as u64 != want.size {
            findings.push(finding(
                "DAMAGED",
                None,
                &object.path,
                format!(
                    "{} bytes on the remote, {} in the manifest",
                    object.size, want.size
                ),
            ));
        } else if let (Some(theirs), Some(ours)) = (&object.hash, &want.hash) {
            hashed += 1;
            if !theirs.eq_ignore_ascii_case(ours) {
                findings.push(finding(
                    "DAMAGED",
                    None,
                    &object.path,
                    format!(
                        "{} {theirs} on the remote, {ours} in the manifest",
                        hash.unwrap_or("hash")
                    ),
                ));
            }
        }
        if findings.len() > before {
            differing.insert(key(&object.raw), before);
        }
    });
    if let Err(e) = listing {
        let step = at(outcome, StepKind::Audit);
        t.end(
            step,
            StepStatus::Error,
            format!("listing the remote failed: {e}"),
        );
        return;
    }
    // Missing objects, named with what their loss means.
    let missing: HashSet<u128> = expected
        .iter()
        .filter(|(_, w)| !w.seen)
        .map(|(k, _)| *k)
        .collect();
    if !missing.is_empty() || !differing.is_empty() {
        let _ = read(&mut |r: Record| {
            let name = object_name(&r);
            let k = key(name.as_bytes());
            if let Some(&i) = differing.get(&k)
                && matches!(r.kind.as_str(), "file" | "symlink")
            {
                findings[i].path = Some(escape_path(&r.plain_path()));
            }
            if missing.contains(&k) {
                let plain = r.plain_path();
                let shown = matches!(r.kind.as_str(), "file" | "symlink" | "sidecar")
                    .then_some(plain.as_path());
                findings.push(finding(
                    "DAMAGED",
                    shown,
                    &name,
                    consequence(&r.kind, &plain),
                ));
            }
        });
    }
    if unexpected > MAX_NOTES {
        findings.push(finding(
            "NOTE",
            None,
            "...",
            format!(
                "and {} more objects on the remote that are not in the manifest",
                unexpected - MAX_NOTES
            ),
        ));
    }
    let damaged = findings.iter().filter(|f| f.label == "DAMAGED").count();
    let notes = unexpected;
    outcome.coverage.objects_audited = listed;
    let step = at(outcome, StepKind::Audit);
    step.findings = findings;
    t.end(
        step,
        if damaged > 0 {
            StepStatus::Failed
        } else {
            StepStatus::Passed
        },
        format!(
            "{listed} objects listed; {}{}{}",
            if damaged > 0 {
                format!("{damaged} missing or different")
            } else {
                "every object of the manifest present with its size".into()
            },
            match hash {
                Some(h) if hashed > 0 => format!(", {hashed} checked by {h} without downloading"),
                Some(h) => format!(
                    ", sizes only (the manifest has no {h} hashes; `vaultdrill push` records them)"
                ),
                None if slow => ", sizes only (this remote computes hashes by reading each \
                                  object; the download checks the sample's bytes)"
                    .into(),
                None => ", sizes only (this remote keeps no hash the manifest has)".into(),
            },
            if notes > 0 {
                format!(", {notes} unexpected")
            } else {
                ", nothing unexpected".into()
            }
        ),
    );
}

/// Decrypts the sampled files of `vault` and compares them with the
/// manifest at `manifest`.
/// Exactly `files`: none is nothing (an empty selection would mean the
/// whole vault, which scratch does not hold).
fn verify_sample(
    vault: &UnlockedVault,
    manifest: &Path,
    files: &[PathBuf],
    progress: &dyn Progress,
) -> Result<crate::manifest::verify::VerifySummary, String> {
    if files.is_empty() {
        return Ok(Default::default());
    }
    let selection = Selection::parse(files)
        .map_err(|e| format!("the manifest lists a path that cannot be selected: {e}"))?;
    let selection = &selection;
    let file = File::open(manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let reader = ManifestReader::new(BufReader::new(file)).map_err(|e| e.to_string())?;
    verify_vault(
        vault,
        reader,
        &VerifyOptions {
            selection,
            progress,
            strict: true,
        },
    )
    .map_err(|e| e.to_string())
}

/// Step 5: detects the flags from the downloaded ciphertext with the
/// master key alone, regenerates a config under a throwaway password,
/// unlocks with it and decrypts the sample again. Returns the decryption
/// rate when it ran.
fn master_key_path(
    outcome: &mut Outcome,
    o: &DrillOptions<'_>,
    manifest: &Manifest,
    chosen: &sample::Sample,
    seen: &HashSet<String>,
    decrypted_with: Option<&UnlockedVault>,
) -> f64 {
    let vault_dir = o.scratch.join("vault");
    let vault_dir = vault_dir.as_path();
    let Some(mk) = &o.master_key else {
        let step = at(outcome, StepKind::UnlockMasterKey);
        step.status = StepStatus::Skipped;
        step.summary = "skipped on request (--no-masterkey)".into();
        outcome
            .not_proven
            .push("that the master key alone, without gocryptfs.conf, restores the vault".into());
        return 0.0;
    };
    o.progress.stage("proving the master key");
    let t = Timer::start();
    let regen = o.scratch.join("regenerated");
    let attempt = (|| -> Result<(UnlockedVault, String), (StepStatus, String)> {
        let detection = detect_layout(vault_dir, mk, &Hints::default()).map_err(|e| {
            let status = if e.status() == crate::ExitStatus::Unlock {
                StepStatus::Refused
            } else {
                StepStatus::Error
            };
            (status, e.to_string())
        })?;
        let flags = detection
            .findings
            .iter()
            .map(|f| format!("{} {}", f.what, f.value))
            .collect::<Vec<_>>()
            .join(", ");
        fs::create_dir_all(&regen).map_err(|e| (StepStatus::Error, e.to_string()))?;
        let mut random = [0u8; 24];
        getrandom::fill(&mut random).map_err(|e| (StepStatus::Error, e.to_string()))?;
        let throwaway = Password::new(zeroize::Zeroizing::new(
            crate::manifest::hex(&random).into_bytes(),
        ))
        .ok_or((StepStatus::Error, "no throwaway password".to_string()))?;
        let (config, _) =
            crate::create::regenerate_config(&regen, false, &detection.layout, mk, &throwaway, 10)
                .map_err(|e| (StepStatus::Error, e.to_string()))?;
        let locked = LockedVault::open(vault_dir, Some(&config))
            .map_err(|e| (StepStatus::Error, e.to_string()))?;
        let layout = locked.config().layout();
        let (key, _) = locked
            .master_key(Secret::Password(throwaway), &o.scrypt_limits)
            .map_err(|e| (StepStatus::Error, e.to_string()))?;
        Ok((
            UnlockedVault::new(vault_dir.to_path_buf(), layout, &key),
            flags,
        ))
    })();
    let (vault, flags) = match attempt {
        Ok(v) => v,
        Err((status, why)) => {
            let step = at(outcome, StepKind::UnlockMasterKey);
            step.ran = "detected the vault's flags from the downloaded ciphertext with the master key (as `vaultdrill regen-config` does)"
                .into();
            t.end(step, status, why);
            return 0.0;
        }
    };
    // Step 6 decrypted the sample already. If the regenerated config gives
    // the same key and the same flags it used, decrypting again would
    // compute the same function of the same bytes: the proof is the
    // equality (and the blocks the detection authenticated), not a second
    // pass over the whole sample.
    let compared = matches!(
        at(outcome, StepKind::Compare).status,
        StepStatus::Passed | StepStatus::Failed
    );
    let same = decrypted_with.is_some_and(|v| {
        compared && v.vault_id() == vault.vault_id() && v.layout() == vault.layout()
    });
    // With the same key and flags, a few files decrypted again prove the
    // regenerated config end to end; the rest decrypt alike.
    let (files, again) = if same {
        let mut files: Vec<&sample::SampleObject> = chosen
            .objects
            .iter()
            .filter(|x| x.plain_path.is_some())
            .collect();
        files.sort_by_key(|x| x.cipher_size);
        // Up to 16 files and 32 MiB, at least one (the smallest).
        let mut budget = 32u64 << 20;
        let few: Vec<PathBuf> = files
            .iter()
            .enumerate()
            .take_while(|(i, x)| {
                let fits = *i == 0 || x.cipher_size <= budget;
                budget = budget.saturating_sub(x.cipher_size);
                fits
            })
            .take(16)
            .filter_map(|(_, x)| x.plain_path.clone())
            .collect();
        let n = few.len();
        (few, Some(n))
    } else {
        (chosen.files.clone(), None)
    };
    let decrypt = Instant::now();
    let result = verify_sample(&vault, &manifest.path, &files, o.progress);
    let decrypt_seconds = decrypt.elapsed().as_secs_f64();
    let step = at(outcome, StepKind::UnlockMasterKey);
    step.ran = match again {
        None => {
            "detected the vault's flags from the downloaded ciphertext with the master key (as \
                 `vaultdrill regen-config` does), wrote a new gocryptfs.conf under a throwaway \
                 password in scratch, unlocked with it and decrypted the sample again"
                .into()
        }
        Some(n) => format!(
            "detected the vault's flags from the downloaded ciphertext with the master key (as \
             `vaultdrill regen-config` does), wrote a new gocryptfs.conf under a throwaway \
             password in scratch, unlocked with it, found it gives the same key and flags step 6 \
             decrypted with, and decrypted the {n} smallest sampled files again with it (the \
             others decrypt alike: the same key and flags make the same plaintext)"
        ),
    };
    match result {
        Ok(summary) => {
            // The regenerated config stands in for the remote's; its loss
            // or change is the audit's and the password step's finding.
            let problems: Vec<&Problem> = summary
                .problems
                .iter()
                .filter(|p| p.cipher_path != Path::new(CONFIG_NAME))
                .collect();
            let new: Vec<&Problem> = problems
                .iter()
                .copied()
                .filter(|p| !seen.contains(&escape_path(&p.cipher_path)))
                .collect();
            let damaged = problems
                .iter()
                .filter(|p| p.status() == crate::ExitStatus::Damaged)
                .count();
            for p in &new {
                step.findings.push(from_problem(p));
            }
            let unchecked = problems
                .iter()
                .any(|p| p.status() == crate::ExitStatus::CouldNotRun);
            if again.is_none() {
                outcome.coverage.files_decrypted =
                    outcome.coverage.files_decrypted.max(summary.files);
                outcome.coverage.bytes_decrypted =
                    outcome.coverage.bytes_decrypted.max(summary.bytes);
            }
            let step = at(outcome, StepKind::UnlockMasterKey);
            t.end(
                step,
                if damaged > 0 {
                    StepStatus::Failed
                } else if unchecked {
                    StepStatus::Error
                } else {
                    StepStatus::Passed
                },
                format!(
                    "flags found: {flags}; the regenerated config decrypted {} files ({}){}",
                    summary.files,
                    human_bytes(summary.bytes),
                    if damaged > 0 {
                        format!(", {damaged} damaged")
                    } else {
                        ", every hash as in the manifest".into()
                    }
                ),
            );
            rate(summary.bytes, decrypt_seconds)
        }
        Err(e) => {
            t.end(step, StepStatus::Error, e);
            0.0
        }
    }
}
