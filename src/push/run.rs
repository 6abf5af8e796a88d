//! A whole push of a forward vault, stage by stage, and its record in the
//! local state.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::local::{self, LocalSyncOptions};
use super::{
    DeleteLimit, Inventory, InventoryOptions, Lister, Plan, PushError, Remote, RemoteCheck,
    check_local_destination, check_plan, check_remote, inventory, pick_hash, plan, snapshot,
};
use crate::encrypt::VaultDir;
use crate::exclude::Excluder;
use crate::exit::ExitStatus;
use crate::export::{ReverseKeys, export_tree};
use crate::manifest::ManifestReader;
use crate::manifest::build::{BuildOptions, MANIFEST_DIR, RemoteHashes};
use crate::manifest::refresh::{ManifestHome, Refreshed, prepare_plain, refresh};
use crate::manifest::store::{self, CURRENT, Stored};
use crate::problem::{Problem, overall_status};
use crate::progress::Progress;
use crate::rclone::{Rclone, SyncOptions};
use crate::staging::TEMP_PREFIX;
use crate::vault::UnlockedVault;

pub struct PushOptions<'a> {
    /// rclone's parallel transfers.
    pub transfers: usize,
    /// Compare by checksum instead of size and mtime (rclone `--checksum`).
    pub checksum: bool,
    pub max_delete: DeleteLimit,
    /// Override the delete limit and the local-damage guard.
    pub force: bool,
    /// Upload `gocryptfs.conf` (the default).
    pub upload_config: bool,
    /// Needed for rclone remotes.
    pub rclone: Option<&'a Rclone>,
    /// The config file's content, kept as a local copy.
    pub config: Option<&'a [u8]>,
    pub progress: &'a dyn Progress,
}

/// What a push did.
#[derive(Debug)]
pub struct PushReport {
    pub remote: String,
    pub manifest: Refreshed,
    pub plan: Plan,
    pub transferred_files: u64,
    pub transferred_bytes: u64,
    pub deleted: u64,
    pub check: RemoteCheck,
    /// Damage in the local vault (or files that could not be exported)
    /// that --force pushed anyway.
    pub forced: Vec<Problem>,
    /// Named pipes, sockets, device nodes: in the manifest, not pushed.
    pub specials: Vec<PathBuf>,
    pub elapsed: Duration,
}

impl PushReport {
    /// What the remote check found, and the local damage --force pushed.
    pub fn status(&self) -> ExitStatus {
        overall_status(self.check.problems.iter().chain(&self.forced))
    }
}

/// The manifests' folder as stored in the vault root.
fn manifest_dir_name(vault: &UnlockedVault) -> Result<OsString, PushError> {
    let root = vault.root().to_path_buf();
    let dir = VaultDir::open(vault, Path::new("")).map_err(|kind| PushError::Io {
        path: root.clone(),
        action: "opening the vault",
        error: std::io::Error::other(kind.to_string()),
    })?;
    dir.cipher_name(vault, MANIFEST_DIR.as_ref())
        .map_err(|kind| PushError::Io {
            path: root,
            action: "naming the manifest folder",
            error: std::io::Error::other(kind.to_string()),
        })
}

/// What is pushed.
pub enum PushSource<'a> {
    /// A forward vault: its folder is sent as it is.
    Forward(&'a UnlockedVault),
    /// A reverse vault: its plaintext folder is exported (encrypted) into
    /// `staging`, which is sent; `staging` is the vault the manifest
    /// describes, and the manifest lives in the plaintext folder.
    Reverse {
        plaindir: &'a Path,
        staging: &'a UnlockedVault,
        keys: &'a ReverseKeys,
        excluder: &'a Excluder,
    },
}

/// Exports a reverse vault's plaintext folder into its staging folder;
/// problems (unreadable files) stop the push unless forced, and are
/// returned when forced.
fn export(
    plaindir: &Path,
    staging: &Path,
    keys: &ReverseKeys,
    excluder: &Excluder,
    options: &PushOptions<'_>,
) -> Result<Vec<Problem>, PushError> {
    let summary = export_tree(plaindir, staging, keys, excluder, options.progress)?;
    if !summary.problems.is_empty() && !options.force {
        return Err(PushError::ExportProblems {
            path: plaindir.to_path_buf(),
            count: summary.problems.len(),
            problems: summary.problems,
        });
    }
    Ok(summary.problems)
}

/// The stored names of the current manifest and of `kept` in the vault's
/// manifest folder.
fn manifest_names(vault: &UnlockedVault, kept: &str) -> Option<(String, String)> {
    let dir = VaultDir::open(vault, Path::new(MANIFEST_DIR)).ok()?;
    let current = dir.cipher_name(vault, CURRENT.as_ref()).ok()?;
    let kept = dir.cipher_name(vault, kept.as_ref()).ok()?;
    Some((
        current.to_string_lossy().into_owned(),
        kept.to_string_lossy().into_owned(),
    ))
}

/// Pushes `source` to `remote`.
pub fn push(
    source: &PushSource<'_>,
    remote: &Remote,
    options: &PushOptions<'_>,
) -> Result<PushReport, PushError> {
    let started = Instant::now();
    let vault = match source {
        PushSource::Forward(vault) => vault,
        PushSource::Reverse { staging, .. } => staging,
    };
    let source_dir = vault.root().to_path_buf();
    if remote.has_inline_secret() {
        return Err(PushError::InlineSecret {
            remote: remote.redacted(),
        });
    }
    let remote_text = remote.to_string();
    let (lister, hash) = match remote {
        Remote::Local(dst) => {
            check_local_destination(&source_dir, dst)?;
            (Lister::Local(dst), None)
        }
        Remote::Rclone(text) => {
            let rclone = options.rclone.ok_or(crate::rclone::RcloneError::NotFound)?;
            let features = rclone.features(remote.root().unwrap_or(text))?;
            (Lister::Rclone(rclone, text), pick_hash(&features.hashes))
        }
    };

    let inv_options = InventoryOptions {
        upload_config: options.upload_config,
        links_as_objects: matches!(remote, Remote::Rclone(_)),
    };
    let forced_export = std::cell::RefCell::new(Vec::new());
    let reexport = |options: &PushOptions<'_>| -> Result<(), PushError> {
        if let PushSource::Reverse {
            plaindir,
            staging,
            keys,
            excluder,
        } = source
        {
            options.progress.stage("exporting");
            let problems = export(plaindir, staging.root(), keys, excluder, options)?;
            // The last export's problems are the ones that stand.
            *forced_export.borrow_mut() = problems;
        }
        Ok(())
    };
    if let PushSource::Reverse { plaindir, .. } = source {
        // Before the export, so the folder's mtime stays what the manifest records.
        prepare_plain(plaindir)?;
    }
    reexport(options)?;
    // Reachable? Listed before the (possibly long) manifest refresh.
    options.progress.stage("listing the remote");
    let before = snapshot(&lister)?;

    options.progress.stage("manifest");
    if options.progress.visible() {
        let (files, bytes) = crate::decrypt::measure(vault, &crate::selection::Selection::all());
        options.progress.set_total(files, bytes);
    }
    let remote_hashes = RemoteHashes {
        sha1: hash == Some("sha1"),
        md5: hash == Some("md5"),
    };
    let mut manifest = refresh(
        vault,
        options.config,
        &BuildOptions {
            // rclone --checksum sends whatever differs by content: rot that
            // kept its mtime would go too, unless every file is read first.
            rehash: options.checksum,
            remote_hashes,
            progress: options.progress,
        },
        match source {
            PushSource::Forward(_) => ManifestHome::Vault,
            PushSource::Reverse { plaindir, .. } => ManifestHome::PlainDir(plaindir),
        },
    )?;
    let damaged = manifest
        .summary
        .problems
        .iter()
        .any(|p| p.status() == ExitStatus::Damaged);
    let mut forced = std::mem::take(&mut *forced_export.borrow_mut());
    if damaged {
        let problems: Vec<Problem> = std::mem::take(&mut manifest.summary.problems)
            .into_iter()
            .filter(|p| p.status() == ExitStatus::Damaged)
            .collect();
        if !options.force {
            return Err(PushError::LocalDamage {
                path: source_dir,
                count: problems.len(),
                problems,
            });
        }
        forced.extend(problems);
    }
    if !matches!(manifest.stored, Stored::Unchanged { .. }) {
        // The new manifest, from the plaintext folder into the export.
        reexport(options)?;
    }

    let inv: Inventory = inventory(&source_dir, &inv_options)?;
    let plan = plan(&inv, &before, options.upload_config);
    drop(before);
    check_plan(&plan, options.max_delete, options.force, remote)?;

    options.progress.stage("sending");
    options
        .progress
        .set_total(inv.objects.len() as u64, inv.bytes);
    let mdir = manifest_dir_name(vault)?;
    let (transferred_files, transferred_bytes, deleted) = match remote {
        Remote::Local(dst) => {
            let stats = local::sync(
                &source_dir,
                dst,
                &LocalSyncOptions {
                    upload_config: options.upload_config,
                    last: Some(&mdir),
                    max_delete: plan.deletes,
                    checksum: options.checksum,
                    progress: options.progress,
                },
            )?;
            (stats.copied, stats.copied_bytes, stats.deleted)
        }
        Remote::Rclone(text) => {
            let rclone = options.rclone.ok_or(crate::rclone::RcloneError::NotFound)?;
            let mdir_text = mdir.to_string_lossy().into_owned();
            let temp_rule = format!("{TEMP_PREFIX}*");
            let mut excludes = vec![format!("/{mdir_text}/**"), temp_rule.clone()];
            if !options.upload_config {
                excludes.push(format!("/{}", crate::format::config::CONFIG_NAME));
            }
            let mut sync = SyncOptions {
                transfers: options.transfers,
                checksum: options.checksum,
                max_delete: Some(plan.deletes),
                excludes,
            };
            let on_stats = |s: &crate::rclone::Stats| {
                // rclone counts what it sends, not the whole vault.
                options.progress.set_total(s.total_transfers, s.total_bytes);
                options.progress.set_done(s.transfers, s.bytes);
            };
            let data = rclone.sync(&source_dir, text, &sync, on_stats)?;
            // The manifests last: an interrupted push leaves the previous
            // manifest, describing the previous complete push.
            // The kept manifest is the remote's current one under a new
            // name: copied there on the remote, not uploaded again (a
            // manifest of a million files is hundreds of MB). If the copy
            // fails, the sync uploads it.
            if let Stored::Replaced { kept } = &manifest.stored
                && let Some((current_c, kept_c)) = manifest_names(vault, kept)
            {
                let dir = remote.join(&mdir_text);
                let _ = rclone.copy_within(
                    &dir.join(&current_c).to_string(),
                    &dir.join(&kept_c).to_string(),
                );
            }
            sync.excludes = vec![temp_rule];
            // What is left of the deletion budget.
            sync.max_delete = Some(plan.deletes.saturating_sub(data.deletes));
            let last = rclone.sync(
                &source_dir.join(&mdir),
                &remote.join(&mdir_text).to_string(),
                &sync,
                on_stats,
            )?;
            (
                data.transfers + last.transfers,
                data.bytes + last.bytes,
                data.deletes + last.deletes,
            )
        }
    };

    options.progress.stage("checking the remote");
    let copy = manifest.local_dir.join(CURRENT);
    let reader = File::open(&copy)
        .ok()
        .and_then(|f| ManifestReader::new(BufReader::new(f)).ok());
    let check = check_remote(&source_dir, &inv, &inv_options, reader, hash, &lister)?;
    Ok(PushReport {
        remote: remote_text,
        manifest,
        plan,
        transferred_files,
        transferred_bytes,
        deleted,
        check,
        forced,
        specials: inv.specials,
        elapsed: started.elapsed(),
    })
}

/// One line of a vault's push history (`pushes.jsonl` in its state folder).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PushRecord {
    pub time: String,
    pub remote: String,
    /// The pushed folder (canonical path), for `vaultdrill vaults`.
    #[serde(default)]
    pub source: String,
    pub status: String,
    pub exit_code: i32,
    #[serde(default)]
    pub transferred_files: u64,
    #[serde(default)]
    pub transferred_bytes: u64,
    #[serde(default)]
    pub deleted: u64,
    #[serde(default)]
    pub remote_objects: u64,
    #[serde(default)]
    pub remote_bytes: u64,
    #[serde(default)]
    pub problems: u64,
    #[serde(default)]
    pub seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the manifest this push stored was made (a drill that finds an
    /// older one on the remote knows it was rolled back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_created: Option<String>,
    /// And the BLAKE3 of its records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_records: Option<String>,
}

impl PushRecord {
    /// A record of a push of `source` to `remote`, made now.
    pub fn now(remote: &str, source: &Path) -> PushRecord {
        let source = source
            .canonicalize()
            .unwrap_or_else(|_| source.to_path_buf());
        PushRecord {
            time: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            remote: remote.to_string(),
            source: source.to_string_lossy().into_owned(),
            ..Default::default()
        }
    }

    pub fn from_report(report: &PushReport, source: &Path) -> PushRecord {
        let status = report.status();
        PushRecord {
            status: status.word().to_string(),
            exit_code: status.code(),
            transferred_files: report.transferred_files,
            transferred_bytes: report.transferred_bytes,
            deleted: report.deleted,
            remote_objects: report.check.objects,
            remote_bytes: report.check.bytes,
            problems: report.check.problems.len() as u64,
            seconds: report.elapsed.as_secs_f64(),
            ..PushRecord::now(&report.remote, source)
        }
    }
}

const HISTORY: &str = "pushes.jsonl";

/// Appends `record` to the vault's push history.
pub fn record_push(vault_id: &str, record: &PushRecord) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = store::vault_state_dir(vault_id)?;
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(dir.join(HISTORY))?;
    let mut line = serde_json::to_vec(record)?;
    line.push(b'\n');
    file.write_all(&line)
}

/// The last recorded push of the folder `source`, whatever the vault.
pub fn last_push_of(source: &Path) -> Option<PushRecord> {
    let source = source.canonicalize().ok()?;
    let source = source.to_string_lossy();
    store::vault_paths()
        .into_iter()
        .flat_map(|v| store::read_jsonl::<PushRecord>(&v.join(HISTORY)))
        .filter(|r| r.source == source)
        .max_by(|a, b| a.time.cmp(&b.time))
}

/// A vault's recorded pushes, oldest first.
fn pushes(vault_id: &str) -> Vec<PushRecord> {
    store::vault_path(vault_id)
        .map(|dir| store::read_jsonl(&dir.join(HISTORY)))
        .unwrap_or_default()
}

/// The vault's last recorded push to `remote` that stored a manifest.
pub fn last_push_to(vault_id: &str, remote: &str) -> Option<PushRecord> {
    // The same remote however it was spelled (trailing slash, relative).
    let wanted = crate::lock::remote_key(&Remote::parse(remote));
    pushes(vault_id).into_iter().rev().find(|r| {
        r.manifest_created.is_some()
            && (r.remote == remote || crate::lock::remote_key(&Remote::parse(&r.remote)) == wanted)
    })
}

/// The vault's last recorded push, if any.
pub fn last_push(vault_id: &str) -> Option<PushRecord> {
    pushes(vault_id).pop()
}
