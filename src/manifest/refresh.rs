//! One call that brings a vault's manifest up to date: build it (reusing
//! the previous one), store it in the vault, keep the local copies. Used by
//! `vaultdrill manifest` and before every push.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter};
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::build::{BuildOptions, BuildSummary, MANIFEST_DIR, RemoteHashes, build_manifest};
use super::store::{self, CURRENT, Stored};
use super::{ManifestError, ManifestReader};
use crate::exit::ExitStatus;
use crate::problem::ProblemKind;
use crate::vault::UnlockedVault;

#[derive(Debug, Error)]
pub enum RefreshError {
    #[error("{}: {action}: {kind}", .path.display())]
    Vault {
        path: PathBuf,
        action: &'static str,
        kind: ProblemKind,
    },
    #[error("{}: {action}: {error}", .path.display())]
    State {
        path: PathBuf,
        action: &'static str,
        error: io::Error,
    },
    #[error("{}: writing the manifest: {source}", .path.display())]
    Build {
        path: PathBuf,
        source: ManifestError,
    },
}

impl RefreshError {
    pub fn status(&self) -> ExitStatus {
        ExitStatus::CouldNotRun
    }

    pub fn hint(&self) -> Option<String> {
        Some(match self {
            RefreshError::Vault { .. } => {
                "the vault must be writable: manifests are stored in it (.vaultdrill/)".into()
            }
            RefreshError::State { .. } | RefreshError::Build { .. } => format!(
                "the local state directory must be writable: set VAULTDRILL_STATE_DIR or \
                 XDG_STATE_HOME (now {})",
                store::state_dir().display()
            ),
        })
    }
}

/// Where a vault's manifests live.
#[derive(Clone, Copy, Debug)]
pub enum ManifestHome<'a> {
    /// Inside the (forward) vault, encrypted: `.vaultdrill/` of the mount.
    Vault,
    /// In the plaintext folder of a reverse vault, `PLAINDIR/.vaultdrill/`,
    /// which an export then carries (the vault is the exported view).
    PlainDir(&'a Path),
}

/// What a refresh did.
#[derive(Debug)]
pub struct Refreshed {
    pub summary: BuildSummary,
    pub stored: Stored,
    /// The state directory folder holding the plaintext copy and the config.
    pub local_dir: PathBuf,
    /// The remote hashes the manifest carries.
    pub remote_hashes: RemoteHashes,
    /// Why the previous manifest could not be used (everything was hashed).
    pub previous_unreadable: Option<String>,
}

/// Creates `PLAINDIR/.vaultdrill/` (mode 0700) before the export that the
/// manifest describes, so the folder's mtime stays what it records.
pub fn prepare_plain(plaindir: &Path) -> Result<(), RefreshError> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = plaindir.join(MANIFEST_DIR);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(&dir)
        .map_err(|error| RefreshError::State {
            path: dir,
            action: "creating the manifest folder",
            error,
        })
}

/// Builds `vault`'s manifest and stores it. The remote hashes asked for are
/// added to those the previous manifest carried (they stay once asked for).
/// `config` is the config file's content, kept as a local copy.
pub fn refresh(
    vault: &UnlockedVault,
    config: Option<&[u8]>,
    options: &BuildOptions<'_>,
    home: ManifestHome<'_>,
) -> Result<Refreshed, RefreshError> {
    let root = vault.root().to_path_buf();
    let opened: Result<Option<ManifestReader<Box<dyn BufRead + '_>>>, ManifestError> = match home {
        ManifestHome::Vault => store::open_current(vault).map(|r| r.map(ManifestReader::boxed)),
        ManifestHome::PlainDir(dir) => match File::open(dir.join(MANIFEST_DIR).join(CURRENT)) {
            Ok(file) => {
                let input: Box<dyn BufRead> = Box::new(BufReader::new(file));
                ManifestReader::new(input).map(Some)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        },
    };
    let (previous, previous_unreadable) = match opened {
        Ok(previous) => (previous, None),
        Err(e) => (None, Some(e.to_string())),
    };
    let mut remote_hashes = options.remote_hashes;
    if let Some(previous) = &previous {
        let carried = &previous.header().remote_hashes;
        remote_hashes.sha1 |= carried.iter().any(|h| h == "sha1");
        remote_hashes.md5 |= carried.iter().any(|h| h == "md5");
    }
    match home {
        ManifestHome::Vault => store::prepare(vault).map_err(|kind| RefreshError::Vault {
            path: root.clone(),
            action: "creating .vaultdrill/ in the vault",
            kind,
        })?,
        ManifestHome::PlainDir(dir) => prepare_plain(dir)?,
    }
    let state_error = |path: &Path, action| {
        let path = path.to_path_buf();
        move |error| RefreshError::State {
            path,
            action,
            error,
        }
    };
    let state_root = store::state_dir();
    let state = store::vault_state_dir(vault.vault_id())
        .map_err(state_error(&state_root, "creating the state directory"))?;
    let work = tempfile::Builder::new()
        .prefix(".build-")
        .tempdir_in(&state)
        .map_err(state_error(&state, "creating a work folder"))?;
    let path = work.path().join(CURRENT);
    let out =
        BufWriter::new(File::create(&path).map_err(state_error(&path, "creating the manifest"))?);
    let build = BuildOptions {
        rehash: options.rehash,
        remote_hashes,
        progress: options.progress,
    };
    let (out, summary) =
        build_manifest(vault, previous, out, &build).map_err(|source| RefreshError::Build {
            path: path.clone(),
            source,
        })?;
    out.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .map_err(state_error(&path, "writing the manifest"))?;
    let root_mtime = summary.root_mtime_ns;
    let stored = match home {
        ManifestHome::Vault => store::store(
            vault,
            work.path(),
            CURRENT.as_ref(),
            &summary.trailer,
            root_mtime,
        )
        .map_err(|kind| RefreshError::Vault {
            path: root.clone(),
            action: "storing the manifest in the vault",
            kind,
        })?,
        ManifestHome::PlainDir(dir) => store::store_plain(dir, &path, &summary.trailer, root_mtime)
            .map_err(state_error(&dir.join(MANIFEST_DIR), "storing the manifest"))?,
    };
    let local_dir = store::save_local_copies(vault, &path, config)
        .map_err(state_error(&state, "keeping the local copies"))?;
    Ok(Refreshed {
        summary,
        stored,
        local_dir,
        remote_hashes,
        previous_unreadable,
    })
}
