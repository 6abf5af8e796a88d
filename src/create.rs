//! Creating vaults and changing their password, natively: the files
//! `gocryptfs -init` and `gocryptfs -passwd` write, written the way
//! gocryptfs writes them (a `.tmp` file created exclusively, mode 0400,
//! fsynced, then moved into place), and never over an existing config.

use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use thiserror::Error;
use zeroize::Zeroizing;

use crate::at;
use crate::exit::ExitStatus;
use crate::format::config::{
    CONFIG_NAME, ConfigError, NewVaultOptions, REVERSE_CONFIG_NAME, VaultConfig,
};
use crate::format::keys::{KEY_LEN, MasterKey, Password};
use crate::format::names::{DIRIV_LEN, DIRIV_NAME};
use crate::format::unlock::{UnlockError, seal_master_key};

/// What `init` writes into `Creator`.
pub fn creator() -> String {
    format!("vaultdrill {}", env!("CARGO_PKG_VERSION"))
}

#[derive(Debug, Error)]
pub enum CreateError {
    #[error("{}: not empty; a new vault needs an empty folder", .0.display())]
    NotEmpty(PathBuf),
    #[error("{}: a config already exists here", .0.display())]
    ConfigExists(PathBuf),
    #[error("{}: not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("{}: a backup of the previous config already exists", .0.display())]
    BackupExists(PathBuf),
    #[error("{}: a temporary config from an interrupted run exists", .0.display())]
    TempExists(PathBuf),
    #[error("{0}")]
    Options(#[from] ConfigError),
    #[error("{0}")]
    Key(#[from] UnlockError),
    #[error("FIDO2 vaults cannot change their password here (gocryptfs refuses too)")]
    Fido2,
    #[error("{}: {error}", .path.display())]
    Io { path: PathBuf, error: io::Error },
}

impl CreateError {
    pub fn status(&self) -> ExitStatus {
        match self {
            CreateError::Io { .. } | CreateError::Key(_) => ExitStatus::CouldNotRun,
            _ => ExitStatus::Usage,
        }
    }

    pub fn hint(&self) -> Option<String> {
        Some(match self {
            CreateError::NotEmpty(_) => "choose a new or empty folder for the encrypted files".into(),
            CreateError::ConfigExists(_) => {
                "this folder is a vault already; vaultdrill never overwrites a config (use `vaultdrill passwd`)".into()
            }
            CreateError::NotADirectory(_) => "give a folder".into(),
            CreateError::BackupExists(_) => {
                "check that the current password works, delete the old .bak, and run passwd again".into()
            }
            CreateError::TempExists(_) => "a previous run was interrupted: check the config, then remove the .tmp file".into(),
            CreateError::Options(_) => "see `vaultdrill init --help` for the allowed values".into(),
            CreateError::Key(_) => "this should not happen; please report it".into(),
            CreateError::Fido2 => "unlock with the master key and create a new vault, or use gocryptfs with the token".into(),
            CreateError::Io { .. } => "check that the folder is writable and has free space".into(),
        })
    }
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> CreateError + '_ {
    move |error| CreateError::Io {
        path: path.to_path_buf(),
        error,
    }
}

fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>, CreateError> {
    let mut buf = Zeroizing::new([0u8; N]);
    getrandom::fill(&mut buf[..]).map_err(|e| CreateError::Io {
        path: PathBuf::from("(system random generator)"),
        error: io::Error::other(e.to_string()),
    })?;
    Ok(buf)
}

/// A config with fresh key material for `master_key` under `password`.
fn sealed(
    mut config: VaultConfig,
    master_key: &MasterKey,
    password: &Password,
    log_n: u8,
) -> Result<VaultConfig, CreateError> {
    let salt = random::<32>()?;
    let nonce = random::<16>()?;
    let nonce_len = if config.has(crate::format::FeatureFlag::HKDF) {
        16
    } else {
        12
    };
    seal_master_key(
        &mut config,
        master_key,
        password,
        log_n,
        *salt,
        &nonce[..nonce_len],
    )?;
    Ok(config)
}

/// Writes `bytes` to `<name>.tmp` (exclusive, mode 0400, fsynced) in `dir`.
fn write_temp(
    dir: BorrowedFd<'_>,
    dir_path: &Path,
    name: &OsStr,
    bytes: &[u8],
) -> Result<std::ffi::OsString, CreateError> {
    let mut temp = name.to_os_string();
    temp.push(".tmp");
    let path = dir_path.join(&temp);
    let mut file = at::create_new_at(dir, &temp, 0o400).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            CreateError::TempExists(path.clone())
        } else {
            CreateError::Io {
                path: path.clone(),
                error: e,
            }
        }
    })?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io_err(&path))?;
    Ok(temp)
}

/// Writes `config` as `name` in `dir`, the way gocryptfs does, refusing to
/// replace an existing file.
fn place_new_config(
    dir_fd: BorrowedFd<'_>,
    dir: &Path,
    name: &str,
    config: &VaultConfig,
) -> Result<(), CreateError> {
    let path = dir.join(name);
    let temp = write_temp(
        dir_fd,
        dir,
        OsStr::new(name),
        config.to_gocryptfs_json().as_bytes(),
    )?;
    if let Err(e) = at::rename_noreplace_at(dir_fd, &temp, OsStr::new(name)) {
        let _ = at::unlink_at(dir_fd, &temp);
        return Err(if e.kind() == io::ErrorKind::AlreadyExists {
            CreateError::ConfigExists(path)
        } else {
            CreateError::Io { path, error: e }
        });
    }
    rustix::fs::fsync(dir_fd).map_err(|e| CreateError::Io {
        path: dir.to_path_buf(),
        error: e.into(),
    })
}

/// Writes a new config for a vault whose config is lost: `layout` as
/// detected, the master key wrapped under `password`. `dir` is the
/// encrypted folder (`gocryptfs.conf`) or, with `reverse`, the plaintext
/// folder (`.gocryptfs.reverse.conf`). Never replaces an existing config.
pub fn regenerate_config(
    dir: &Path,
    reverse: bool,
    layout: &crate::format::VaultLayout,
    master_key: &MasterKey,
    password: &Password,
    log_n: u8,
) -> Result<(PathBuf, VaultConfig), CreateError> {
    let name = if reverse {
        REVERSE_CONFIG_NAME
    } else {
        CONFIG_NAME
    };
    let config = VaultConfig::for_layout(layout, log_n, &creator())?;
    let config = sealed(config, master_key, password, log_n)?;
    let dir_fd = at::open_dir(dir).map_err(io_err(dir))?;
    place_new_config(dir_fd.as_fd(), dir, name, &config)?;
    Ok((dir.join(name), config))
}

/// What `init` made.
pub struct CreatedVault {
    pub config_path: PathBuf,
    pub config: VaultConfig,
    pub master_key: MasterKey,
}

/// Creates a vault: for a forward vault in the empty (or new) folder `dir`,
/// `gocryptfs.conf` and the root `gocryptfs.diriv`; for a reverse vault,
/// `.gocryptfs.reverse.conf` in the existing plaintext folder `dir`.
pub fn init_vault(
    dir: &Path,
    options: &NewVaultOptions,
    password: &Password,
    before_write: impl FnOnce(&VaultConfig, &MasterKey) -> Result<(), CreateError>,
) -> Result<CreatedVault, CreateError> {
    let config = VaultConfig::new_for(options, &creator())?;
    let config_name = if options.reverse {
        REVERSE_CONFIG_NAME
    } else {
        CONFIG_NAME
    };
    let config_path = dir.join(config_name);
    let not_a_dir = |e: io::Error| match e.raw_os_error() {
        Some(libc::ENOTDIR) => CreateError::NotADirectory(dir.to_path_buf()),
        _ => CreateError::Io {
            path: dir.to_path_buf(),
            error: e,
        },
    };
    let missing = !options.reverse && !dir.exists();
    if !missing {
        let names = at::list(at::open_dir(dir).map_err(not_a_dir)?.as_fd()).map_err(io_err(dir))?;
        if names
            .iter()
            .any(|n| n == CONFIG_NAME || n == REVERSE_CONFIG_NAME)
        {
            return Err(CreateError::ConfigExists(config_path));
        }
        if !options.reverse && !names.is_empty() {
            return Err(CreateError::NotEmpty(dir.to_path_buf()));
        }
    }

    let mut key_bytes = random::<KEY_LEN>()?;
    let master_key = MasterKey::from_bytes(&mut key_bytes);
    let config = sealed(config, &master_key, password, options.scrypt_log_n)?;
    // The caller saves the key (recovery sheet) before anything exists:
    // a vault whose key nobody saw must never be left behind.
    before_write(&config, &master_key)?;

    if missing {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let dir_fd = at::open_dir(dir).map_err(not_a_dir)?;
    place_new_config(dir_fd.as_fd(), dir, config_name, &config)?;
    if !options.reverse && config.layout().has_dir_iv() {
        let iv = random::<DIRIV_LEN>()?;
        let path = dir.join(DIRIV_NAME);
        let mut file = at::create_new_at(dir_fd.as_fd(), OsStr::new(DIRIV_NAME), 0o444)
            .map_err(io_err(&path))?;
        file.write_all(&iv[..])
            .and_then(|()| file.sync_all())
            .map_err(io_err(&path))?;
    }
    rustix::fs::fsync(&dir_fd).map_err(|e| CreateError::Io {
        path: dir.to_path_buf(),
        error: e.into(),
    })?;
    Ok(CreatedVault {
        config_path,
        config,
        master_key,
    })
}

/// Re-wraps the master key under `new_password`. The previous config is
/// kept as `<config>.bak` (refused if one exists: it may be the only copy
/// that opens with the old password); the new one replaces the config
/// atomically. Returns the backup's path.
pub fn change_password(
    config_path: &Path,
    config: &VaultConfig,
    master_key: &MasterKey,
    new_password: &Password,
    log_n: Option<u8>,
) -> Result<PathBuf, CreateError> {
    if config.has(crate::format::FeatureFlag::FIDO2) {
        return Err(CreateError::Fido2);
    }
    let log_n = log_n.unwrap_or_else(|| config.scrypt.log_n());
    if !(10..=28).contains(&log_n) {
        return Err(CreateError::Options(ConfigError::Scrypt(format!(
            "scrypt N=2^{log_n} is outside 2^10..2^28"
        ))));
    }
    let updated = sealed(config.clone(), master_key, new_password, log_n)?;
    let dir = config_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Some(name) = config_path.file_name() else {
        return Err(CreateError::NotADirectory(config_path.to_path_buf()));
    };
    let dir_fd = at::open_dir(dir).map_err(io_err(dir))?;
    let mut backup = name.to_os_string();
    backup.push(".bak");
    let backup_path = dir.join(&backup);
    rustix::fs::linkat(
        &dir_fd,
        name,
        &dir_fd,
        backup.as_os_str(),
        rustix::fs::AtFlags::empty(),
    )
    .map_err(|e| {
        if e == rustix::io::Errno::EXIST {
            CreateError::BackupExists(backup_path.clone())
        } else {
            CreateError::Io {
                path: backup_path.clone(),
                error: e.into(),
            }
        }
    })?;
    let temp = write_temp(
        dir_fd.as_fd(),
        dir,
        name,
        updated.to_gocryptfs_json().as_bytes(),
    )?;
    rustix::fs::renameat(&dir_fd, temp.as_os_str(), &dir_fd, name).map_err(|e| {
        CreateError::Io {
            path: config_path.to_path_buf(),
            error: e.into(),
        }
    })?;
    rustix::fs::fsync(&dir_fd).map_err(|e| CreateError::Io {
        path: dir.to_path_buf(),
        error: e.into(),
    })?;
    Ok(backup_path)
}
