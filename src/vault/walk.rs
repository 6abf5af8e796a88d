//! Walking the ciphertext tree and decrypting its names: a streaming,
//! depth-first iterator of entries (directory before its contents, each
//! directory sorted by plaintext name) and of per-entry problems.
//!
//! Only one directory listing is held at a time per level, so memory grows
//! with the depth and the widest directory, not with the vault.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::format::config::CONFIG_NAME;
use crate::format::content::BlockOpener;
use crate::format::layout::NameMode;
use crate::format::longname::{self, LongNameKind, SIDECAR_MAX};
use crate::format::names::{DIRIV_LEN, DIRIV_NAME, DirIv, DirIvError, NameError};
use crate::format::symlink;
use crate::problem::{Problem, ProblemKind};
use crate::selection::{Selection, Want};

use super::UnlockedVault;

/// The type of a decrypted entry, with what is specific to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File { plain_size: u64 },
    Dir,
    Symlink { target: Vec<u8> },
    Fifo,
    Socket,
    CharDevice { rdev: u64 },
    BlockDevice { rdev: u64 },
}

impl EntryKind {
    /// A short name for listings and JSON.
    pub fn label(&self) -> &'static str {
        match self {
            EntryKind::File { .. } => "file",
            EntryKind::Dir => "dir",
            EntryKind::Symlink { .. } => "symlink",
            EntryKind::Fifo => "fifo",
            EntryKind::Socket => "socket",
            EntryKind::CharDevice { .. } => "char_device",
            EntryKind::BlockDevice { .. } => "block_device",
        }
    }
}

/// A decrypted entry of the vault.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Path relative to the vault root, decrypted.
    pub plain_path: PathBuf,
    /// Path relative to the vault root, as stored.
    pub cipher_path: PathBuf,
    pub kind: EntryKind,
    /// Permission bits (including setuid, setgid, sticky).
    pub mode: u32,
    pub mtime_sec: i64,
    pub mtime_nsec: i64,
    pub cipher_size: u64,
    /// Whether the entry was selected, or is only a directory on the way
    /// to a selected path.
    pub want: Want,
}

/// What the walk yields.
#[derive(Debug)]
pub enum WalkItem {
    Entry(Entry),
    Problem(Problem),
}

/// A streaming walk over an unlocked vault.
pub struct Walker<'v> {
    vault: &'v UnlockedVault,
    selection: &'v Selection,
    opener: BlockOpener<'v>,
    stack: Vec<std::vec::IntoIter<WalkItem>>,
    descend: Option<(PathBuf, PathBuf)>,
    matched: Vec<bool>,
}

enum IvState {
    Iv(DirIv),
    Plain,
    Missing,
    Damaged(DirIvError),
    Unreadable(io::Error),
}

impl<'v> Walker<'v> {
    pub fn new(vault: &'v UnlockedVault, selection: &'v Selection) -> Walker<'v> {
        let mut walker = Walker {
            vault,
            selection,
            opener: vault.content().opener(),
            stack: Vec::new(),
            descend: Some((PathBuf::new(), PathBuf::new())),
            matched: vec![false; selection.paths().len()],
        };
        walker.matched.shrink_to_fit();
        walker
    }

    /// Selected paths that no entry matched (call after the walk).
    pub fn unmatched(&self) -> Vec<PathBuf> {
        self.selection
            .paths()
            .iter()
            .zip(&self.matched)
            .filter(|(_, m)| !**m)
            .map(|(p, _)| p.clone())
            .collect()
    }

    fn read_dir_iv(&self, dir: &Path) -> IvState {
        match self.vault.layout().names {
            NameMode::Plaintext => IvState::Plain,
            NameMode::Encrypted { dir_iv: false, .. } => IvState::Iv(DirIv::ZERO),
            NameMode::Encrypted { dir_iv: true, .. } => {
                let path = dir.join(DIRIV_NAME);
                let file = fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&path);
                let mut buf = Vec::with_capacity(DIRIV_LEN + 1);
                match file.and_then(|f| f.take(DIRIV_LEN as u64 + 1).read_to_end(&mut buf)) {
                    Ok(_) => match DirIv::parse(&buf) {
                        Ok(iv) => IvState::Iv(iv),
                        Err(e) => IvState::Damaged(e),
                    },
                    Err(e) if e.kind() == io::ErrorKind::NotFound => IvState::Missing,
                    // A symlink or a directory where the diriv should be.
                    Err(e)
                        if e.raw_os_error() == Some(libc::ELOOP)
                            || e.raw_os_error() == Some(libc::EISDIR) =>
                    {
                        IvState::Damaged(DirIvError::Length(0))
                    }
                    Err(e) => IvState::Unreadable(e),
                }
            }
        }
    }

    /// Lists one directory: decrypted entries sorted by name, then problems.
    fn list_dir(&mut self, cipher_rel: &Path, plain_rel: &Path) -> Vec<WalkItem> {
        let vault = self.vault;
        let abs = vault.root().join(cipher_rel);
        let problem = |cipher: PathBuf, plain: Option<PathBuf>, kind| {
            WalkItem::Problem(Problem {
                cipher_path: cipher,
                plain_path: plain,
                plain_dir: plain_rel.to_path_buf(),
                kind,
            })
        };
        let mut names: Vec<OsString> = Vec::new();
        match fs::read_dir(&abs) {
            Ok(rd) => {
                for item in rd {
                    match item {
                        Ok(e) => names.push(e.file_name()),
                        Err(error) => {
                            return vec![problem(
                                cipher_rel.to_path_buf(),
                                Some(plain_rel.to_path_buf()),
                                ProblemKind::Io {
                                    action: "listing the directory",
                                    error,
                                },
                            )];
                        }
                    }
                }
            }
            Err(error) => {
                return vec![problem(
                    cipher_rel.to_path_buf(),
                    Some(plain_rel.to_path_buf()),
                    ProblemKind::Io {
                        action: "listing the directory",
                        error,
                    },
                )];
            }
        }
        names.sort();
        let is_root = cipher_rel.as_os_str().is_empty();
        let iv = self.read_dir_iv(&abs);
        let layout = *vault.layout();
        let mut seen: HashSet<Vec<u8>> = HashSet::with_capacity(names.len());
        let mut entries: Vec<(Vec<u8>, WalkItem)> = Vec::with_capacity(names.len());
        let mut problems = Vec::new();

        for name in &names {
            if is_root && name == CONFIG_NAME {
                continue;
            }
            let cipher_path = cipher_rel.join(name);
            let plain_name: Vec<u8> = match (layout.names, vault.names()) {
                (NameMode::Plaintext, _) | (_, None) => name.as_bytes().to_vec(),
                (NameMode::Encrypted { dir_iv, .. }, Some(cipher)) => {
                    if dir_iv && name == DIRIV_NAME {
                        continue;
                    }
                    if is_transient(name, is_root) {
                        continue;
                    }
                    let Some(text) = name.to_str() else {
                        problems.push(problem(
                            cipher_path,
                            None,
                            ProblemKind::Name(NameError::Base64),
                        ));
                        continue;
                    };
                    let cipher_name = match longname::classify(text) {
                        LongNameKind::Sidecar => continue,
                        LongNameKind::Short => text.to_string(),
                        LongNameKind::Hashed => match read_sidecar(&abs, text, cipher.encoding()) {
                            Ok(n) => n,
                            Err(kind) => {
                                problems.push(problem(cipher_path, None, kind));
                                continue;
                            }
                        },
                    };
                    let iv = match &iv {
                        IvState::Iv(iv) => iv,
                        IvState::Plain => &DirIv::ZERO,
                        IvState::Missing => {
                            problems.push(problem(cipher_path, None, ProblemKind::DirIvMissing));
                            continue;
                        }
                        IvState::Damaged(e) => {
                            problems.push(problem(
                                cipher_path,
                                None,
                                ProblemKind::DirIvDamaged(e.clone()),
                            ));
                            continue;
                        }
                        IvState::Unreadable(e) => {
                            let error = io::Error::new(e.kind(), e.to_string());
                            problems.push(problem(
                                cipher_path,
                                None,
                                ProblemKind::Io {
                                    action: "reading gocryptfs.diriv",
                                    error,
                                },
                            ));
                            continue;
                        }
                    };
                    match cipher.decrypt(&cipher_name, iv) {
                        Ok(plain) => plain,
                        Err(e) => {
                            problems.push(problem(cipher_path, None, ProblemKind::Name(e)));
                            continue;
                        }
                    }
                }
            };
            let plain_path = plain_rel.join(OsStr::from_bytes(&plain_name));
            if !seen.insert(plain_name.clone()) {
                problems.push(problem(
                    cipher_path,
                    Some(plain_path),
                    ProblemKind::DuplicateName,
                ));
                continue;
            }
            let meta = match fs::symlink_metadata(abs.join(name)) {
                Ok(m) => m,
                Err(error) => {
                    problems.push(problem(
                        cipher_path,
                        Some(plain_path),
                        ProblemKind::Io {
                            action: "reading metadata",
                            error,
                        },
                    ));
                    continue;
                }
            };
            let ft = meta.file_type();
            let kind = if ft.is_file() {
                EntryKind::File {
                    plain_size: layout.content.plain_size(meta.len()),
                }
            } else if ft.is_dir() {
                EntryKind::Dir
            } else if ft.is_symlink() {
                match self.symlink_target(&abs.join(name)) {
                    Ok(target) => EntryKind::Symlink { target },
                    Err(kind) => {
                        problems.push(problem(cipher_path, Some(plain_path), kind));
                        continue;
                    }
                }
            } else if ft.is_fifo() {
                EntryKind::Fifo
            } else if ft.is_socket() {
                EntryKind::Socket
            } else if ft.is_char_device() {
                EntryKind::CharDevice { rdev: meta.rdev() }
            } else {
                EntryKind::BlockDevice { rdev: meta.rdev() }
            };
            let entry = Entry {
                plain_path,
                cipher_path,
                kind,
                mode: meta.mode() & 0o7777,
                mtime_sec: meta.mtime(),
                mtime_nsec: meta.mtime_nsec(),
                cipher_size: meta.len(),
                want: Want::Selected,
            };
            entries.push((plain_name, WalkItem::Entry(entry)));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<WalkItem> = entries.into_iter().map(|(_, item)| item).collect();
        out.extend(problems);
        out
    }

    fn symlink_target(&mut self, path: &Path) -> Result<Vec<u8>, ProblemKind> {
        let stored = fs::read_link(path)
            .map_err(|error| ProblemKind::Io {
                action: "reading the symlink",
                error,
            })?
            .into_os_string()
            .into_vec();
        match self.vault.names() {
            None => Ok(stored),
            Some(names) => {
                let text = std::str::from_utf8(&stored)
                    .map_err(|_| ProblemKind::SymlinkTarget(symlink::SymlinkError::Base64))?;
                symlink::decrypt_target(&mut self.opener, names.encoding(), text)
                    .map_err(ProblemKind::SymlinkTarget)
            }
        }
    }
}

/// Leftovers of interrupted gocryptfs operations, which a mount skips and
/// which carry no user data.
fn is_transient(name: &OsStr, is_root: bool) -> bool {
    let bytes = name.as_bytes();
    (is_root && (bytes == b"gocryptfs.conf.tmp" || bytes == b"gocryptfs.conf.bak"))
        || bytes.starts_with(b"gocryptfs.diriv.rmdir.")
}

fn read_sidecar(
    dir: &Path,
    hashed: &str,
    encoding: crate::format::names::NameEncoding,
) -> Result<String, ProblemKind> {
    let path = dir.join(longname::sidecar_name(hashed));
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path);
    let mut buf = Vec::with_capacity(SIDECAR_MAX + 1);
    match file.and_then(|f| f.take(SIDECAR_MAX as u64 + 1).read_to_end(&mut buf)) {
        Ok(_) => {
            longname::parse_sidecar(hashed, &buf, encoding).map_err(ProblemKind::SidecarDamaged)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ProblemKind::SidecarMissing),
        Err(error) => Err(ProblemKind::Io {
            action: "reading the .name sidecar",
            error,
        }),
    }
}

impl Iterator for Walker<'_> {
    type Item = WalkItem;

    fn next(&mut self) -> Option<WalkItem> {
        loop {
            if let Some((cipher, plain)) = self.descend.take() {
                let items = self.list_dir(&cipher, &plain);
                self.stack.push(items.into_iter());
            }
            let top = self.stack.last_mut()?;
            let Some(item) = top.next() else {
                self.stack.pop();
                continue;
            };
            let WalkItem::Entry(mut entry) = item else {
                return Some(item);
            };
            entry.want = self.selection.wants(&entry.plain_path);
            if entry.want == Want::No {
                continue;
            }
            for (sel, matched) in self.selection.paths().iter().zip(self.matched.iter_mut()) {
                if entry.plain_path == *sel {
                    *matched = true;
                }
            }
            if entry.kind == EntryKind::Dir {
                self.descend = Some((entry.cipher_path.clone(), entry.plain_path.clone()));
            }
            return Some(WalkItem::Entry(entry));
        }
    }
}
