//! The vault registry: `~/.config/vaultdrill/config.toml` names vaults, so
//! `vaultdrill push photos` needs no paths and cron jobs stay short.
//!
//! ```toml
//! [vaults.photos]
//! folder = "/home/ana/vault"          # the encrypted folder (forward)
//! remote = "b2-backup:photo-bucket/vault"
//! passfile = "/home/ana/.vault-pass"  # or extpass = "pass show vault"
//! transfers = 20
//!
//! [vaults.documents]
//! mode = "reverse"                    # folder is the plaintext folder
//! folder = "/home/ana/Documents"
//! remote = "/media/usb/documents"
//! extpass = "secret-tool lookup vault documents"
//!
//! [vaults.documents.drill]
//! every = "monthly"
//! sample = "5%"
//! ```
//!
//! Secrets never live here: only where to get them (a file, a command).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::exit::ExitStatus;

#[derive(Debug, Error)]
pub enum RegistryError {
    #[error("{}: cannot be read: {error}", .path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: {reason}", .path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("{name:?} is not a folder, and no vault of that name is registered in {}", .path.display())]
    Unknown { name: String, path: PathBuf },
    #[error("{name:?} is both a folder here and a registered vault")]
    Ambiguous { name: String },
    #[error("vault {name:?} has no remote in {}, and none was given", .path.display())]
    NoRemote { name: String, path: PathBuf },
}

impl RegistryError {
    pub fn status(&self) -> ExitStatus {
        match self {
            RegistryError::Read { .. } => ExitStatus::CouldNotRun,
            _ => ExitStatus::Usage,
        }
    }

    pub fn hint(&self) -> Option<String> {
        Some(match self {
            RegistryError::Read { .. } => "check the file's permissions".into(),
            RegistryError::Invalid { .. } => "see `vaultdrill vaults --help` for the format".into(),
            RegistryError::Unknown { .. } => {
                "give the folder's path, or register it (`vaultdrill vaults` lists them)".into()
            }
            RegistryError::Ambiguous { name } => {
                format!("write ./{name} for the folder")
            }
            RegistryError::NoRemote { .. } => "add `remote = \"...\"` to its entry".into(),
        })
    }
}

/// Forward (the folder is encrypted) or reverse (the folder is plaintext).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Forward,
    Reverse,
}

/// How often and how much to drill (read by drills; shown by `vaults`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DrillPolicy {
    /// "daily", "weekly", "monthly" (informational: the timer runs it).
    #[serde(default)]
    pub every: Option<String>,
    /// How much of the remote a drill downloads: "5%" or a size ("2GiB").
    #[serde(default)]
    pub sample: Option<String>,
}

/// One registered vault.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct VaultEntry {
    /// The encrypted folder (forward), or the plaintext folder (reverse).
    pub folder: PathBuf,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub remote: Option<String>,
    #[serde(default)]
    pub passfile: Option<PathBuf>,
    /// A command printing the password (split on spaces, as gocryptfs).
    #[serde(default)]
    pub extpass: Option<String>,
    #[serde(default, rename = "masterkey-file")]
    pub masterkey_file: Option<PathBuf>,
    /// The gocryptfs config, when it is not in the folder.
    #[serde(default)]
    pub config: Option<PathBuf>,
    #[serde(default)]
    pub transfers: Option<usize>,
    /// rclone's config file for this vault's remote.
    #[serde(default, rename = "rclone-config")]
    pub rclone_config: Option<PathBuf>,
    /// With mode = "reverse": where the exported view is kept.
    #[serde(default)]
    pub staging: Option<PathBuf>,
    #[serde(default)]
    pub drill: DrillPolicy,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    vaults: BTreeMap<String, VaultEntry>,
}

/// The registry file's default place: `$VAULTDRILL_CONFIG`, else
/// `$XDG_CONFIG_HOME/vaultdrill/config.toml`, else
/// `~/.config/vaultdrill/config.toml`.
pub fn default_path() -> PathBuf {
    if let Some(path) = std::env::var_os("VAULTDRILL_CONFIG").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("vaultdrill/config.toml");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| OsString::from("/"));
    PathBuf::from(home).join(".config/vaultdrill/config.toml")
}

/// The registered vaults, by name.
#[derive(Debug, Default)]
pub struct Registry {
    pub path: PathBuf,
    pub vaults: BTreeMap<String, VaultEntry>,
}

/// Relative paths in the file are relative to the file's folder.
fn anchor(base: &Path, path: &mut PathBuf) {
    if path.is_relative() {
        *path = base.join(&*path);
    }
}

impl Registry {
    /// Loads `path`; a missing file is an empty registry.
    pub fn load(path: &Path) -> Result<Registry, RegistryError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Registry {
                    path: path.to_path_buf(),
                    vaults: BTreeMap::new(),
                });
            }
            Err(error) => {
                return Err(RegistryError::Read {
                    path: path.to_path_buf(),
                    error,
                });
            }
        };
        let file: File = toml::from_str(&text).map_err(|e| RegistryError::Invalid {
            path: path.to_path_buf(),
            reason: e.message().to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut vaults = file.vaults;
        for entry in vaults.values_mut() {
            anchor(base, &mut entry.folder);
            for p in [
                &mut entry.passfile,
                &mut entry.masterkey_file,
                &mut entry.config,
                &mut entry.rclone_config,
                &mut entry.staging,
            ]
            .into_iter()
            .flatten()
            {
                anchor(base, p);
            }
            // A local folder as the remote, relative to the file too.
            if let Some(remote) = &mut entry.remote
                && let crate::push::Remote::Local(path) = crate::push::Remote::parse(remote)
                && path.is_relative()
            {
                *remote = base.join(path).to_string_lossy().into_owned();
            }
        }
        Ok(Registry {
            path: path.to_path_buf(),
            vaults,
        })
    }

    /// `arg` as a folder, or as a registered vault's name. A plain name
    /// (no `/`) that is both is ambiguous.
    pub fn resolve<'r>(
        &'r self,
        arg: &Path,
    ) -> Result<Option<(&'r str, &'r VaultEntry)>, RegistryError> {
        let text = arg.to_string_lossy();
        let plain_name = !text.contains('/');
        let registered = plain_name
            .then(|| self.vaults.get_key_value(text.as_ref()))
            .flatten();
        match (registered, arg.exists()) {
            (Some(_), true) => Err(RegistryError::Ambiguous {
                name: text.into_owned(),
            }),
            (Some((name, entry)), false) => Ok(Some((name.as_str(), entry))),
            (None, true) => Ok(None),
            (None, false) if plain_name && !self.vaults.is_empty() => Err(RegistryError::Unknown {
                name: text.into_owned(),
                path: self.path.clone(),
            }),
            (None, false) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_resolve_by_name_and_paths_are_anchored() {
        let tmp = tempfile::TempDir::new().unwrap();
        let path = tmp.path().join("config.toml");
        std::fs::write(
            &path,
            r#"
[vaults.photos]
folder = "vault"
remote = "b2:bucket/v"
passfile = "pass"
transfers = 20

[vaults.usb]
folder = "/v"
remote = "usb/copy"

[vaults.docs]
mode = "reverse"
folder = "/home/ana/Documents"
extpass = "pass show docs"

[vaults.docs.drill]
every = "monthly"
sample = "5%"
"#,
        )
        .unwrap();
        let registry = Registry::load(&path).unwrap();
        let (name, photos) = registry.resolve(Path::new("photos")).unwrap().unwrap();
        assert_eq!(name, "photos");
        assert_eq!(photos.folder, tmp.path().join("vault"));
        assert_eq!(
            photos.passfile.as_deref(),
            Some(tmp.path().join("pass").as_path())
        );
        assert_eq!(photos.mode, Mode::Forward);
        assert_eq!(photos.transfers, Some(20));
        assert_eq!(photos.remote.as_deref(), Some("b2:bucket/v"));
        assert_eq!(
            registry.vaults["usb"].remote,
            Some(tmp.path().join("usb/copy").to_string_lossy().into_owned())
        );
        let docs = &registry.vaults["docs"];
        assert_eq!(docs.mode, Mode::Reverse);
        assert_eq!(docs.drill.sample.as_deref(), Some("5%"));
        assert!(matches!(
            registry.resolve(Path::new("nope")),
            Err(RegistryError::Unknown { .. })
        ));
        // A real folder wins when the name is not registered.
        assert!(registry.resolve(tmp.path()).unwrap().is_none());
    }

    #[test]
    fn bad_files_name_the_problem() {
        let tmp = tempfile::TempDir::new().unwrap();
        let path = tmp.path().join("config.toml");
        std::fs::write(
            &path,
            "[vaults.x]\nfolder = \"/v\"\npassword = \"hunter2\"\n",
        )
        .unwrap();
        let err = Registry::load(&path).unwrap_err();
        assert!(err.to_string().contains("password"), "{err}");
        std::fs::write(&path, "[vaults.x]\nfolder = \"/v\"\nmode = \"sideways\"\n").unwrap();
        assert!(Registry::load(&path).is_err());
        assert!(
            Registry::load(&tmp.path().join("missing.toml"))
                .unwrap()
                .vaults
                .is_empty()
        );
    }
}
