//! Helpers shared by the integration tests: running the binary, unpacking
//! fixtures, and comparing a decrypted tree with what gocryptfs showed.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use assert_cmd::Command;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

/// Every vault flavour under testdata/vaults.
pub const FLAVOURS: [&str; 8] = [
    "default",
    "plaintextnames",
    "aessiv",
    "xchacha",
    "deterministic",
    "longnamemax62",
    "legacy",
    "reverse",
];

pub fn vaultdrill() -> Command {
    let mut cmd = Command::cargo_bin("vaultdrill").expect("the vaultdrill binary is built");
    cmd.env_remove("RUST_LOG");
    cmd
}

pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

pub fn password_file() -> PathBuf {
    testdata().join("password")
}

pub fn masterkey_file(flavour: &str) -> PathBuf {
    testdata().join("vaults").join(flavour).join("masterkey")
}

/// Unpacks a fixture vault into a fresh temporary directory; returns the
/// directory (keep it alive) and the vault path inside it.
pub fn unpack(flavour: &str) -> (TempDir, PathBuf) {
    let tmp = TempDir::new().expect("temp dir");
    let vault = tmp.path().join("vault");
    fs::create_dir(&vault).expect("mkdir");
    let tar = testdata().join("vaults").join(flavour).join("cipher.tar");
    let status = StdCommand::new("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(&vault)
        .status()
        .expect("tar runs");
    assert!(status.success(), "unpacking {}", tar.display());
    (tmp, vault)
}

/// One entry as `make-fixtures.sh` recorded it from the gocryptfs mount.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Expected {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub mode: u32,
    pub mtime_ns: i128,
    pub size: Option<u64>,
    pub sha256: Option<String>,
    pub target: Option<String>,
}

pub fn expected(flavour: &str) -> BTreeMap<String, Expected> {
    let path = testdata()
        .join("vaults")
        .join(flavour)
        .join("expected.json");
    let list: Vec<Expected> =
        serde_json::from_slice(&fs::read(&path).expect("expected.json")).expect("json");
    list.into_iter().map(|e| (e.path.clone(), e)).collect()
}

pub fn sha256_file(path: &Path) -> String {
    let bytes = fs::read(path).expect("read");
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The tree under `root` in the same shape as expected.json.
pub fn snapshot(root: &Path) -> BTreeMap<String, Expected> {
    let mut out = BTreeMap::new();
    for item in walkdir::WalkDir::new(root).min_depth(1) {
        let item = item.expect("walk");
        let path = item.path();
        let rel = path
            .strip_prefix(root)
            .expect("prefix")
            .to_string_lossy()
            .into_owned();
        let meta = fs::symlink_metadata(path).expect("lstat");
        let ft = meta.file_type();
        let mut e = Expected {
            path: rel.clone(),
            kind: String::new(),
            mode: meta.permissions().mode() & 0o7777,
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            size: None,
            sha256: None,
            target: None,
        };
        if ft.is_dir() {
            e.kind = "dir".into();
        } else if ft.is_symlink() {
            e.kind = "symlink".into();
            e.target = Some(
                fs::read_link(path)
                    .expect("readlink")
                    .to_string_lossy()
                    .into_owned(),
            );
        } else {
            e.kind = "file".into();
            e.size = Some(meta.len());
            e.sha256 = Some(sha256_file(path));
        }
        out.insert(rel, e);
    }
    out
}

/// Asserts that two trees are equal, listing every difference.
pub fn assert_same_tree(
    got: &BTreeMap<String, Expected>,
    want: &BTreeMap<String, Expected>,
    context: &str,
) {
    let mut diffs = Vec::new();
    for (path, w) in want {
        match got.get(path) {
            None => diffs.push(format!("missing: {path:?}")),
            Some(g) if g != w => {
                diffs.push(format!("differs: {path:?}\n   got  {g:?}\n   want {w:?}"))
            }
            Some(_) => {}
        }
    }
    for path in got.keys() {
        if !want.contains_key(path) {
            diffs.push(format!("unexpected: {path:?}"));
        }
    }
    assert!(
        diffs.is_empty(),
        "{context}: {} differences\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// No `.vaultdrill-tmp-*` file anywhere under `root`.
pub fn assert_no_temp_files(root: &Path) {
    for item in walkdir::WalkDir::new(root) {
        let item = item.expect("walk");
        let name = item.file_name().to_string_lossy();
        assert!(
            !name.starts_with(".vaultdrill-tmp-"),
            "temp file left behind: {}",
            item.path().display()
        );
    }
}

/// The ciphertext path of the entry whose decrypted path is `plain`,
/// taken from `vaultdrill ls --json`.
pub fn cipher_path_of(vault: &Path, plain: &str) -> PathBuf {
    let out = vaultdrill()
        .args(["ls", "--json", "--passfile"])
        .arg(password_file())
        .arg(vault)
        .output()
        .expect("run ls");
    assert!(
        out.status.success(),
        "ls failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(line).expect("json line");
        if v["path"] == plain {
            return vault.join(v["cipher_path"].as_str().expect("cipher_path"));
        }
    }
    panic!("{plain} not listed in {}", vault.display());
}
