//! Helpers shared by the integration tests: running the binary, unpacking
//! fixtures, and comparing a decrypted tree with what gocryptfs showed.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::Duration;

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
    // Locks live in the (per-test) state directory, not a shared runtime one.
    cmd.env_remove("XDG_RUNTIME_DIR");
    // Keep the tests' manifests out of the user's state directory.
    cmd.env(
        "VAULTDRILL_STATE_DIR",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("state"),
    );
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

// ---- the real gocryptfs (interop tests) ----

pub const PASSWORD: &str = "interop test password";

pub fn require(tool: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let candidate = Path::new(dir).join(tool);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "{tool} is required by the gocryptfs interop tests and is not installed: run `bash .ci/run` \
         (or apt-get install gocryptfs fuse3). These tests fail rather than skip."
    );
}

pub fn run(cmd: &mut StdCommand) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `gocryptfs -init` of `dir` (cheap scrypt) with `extra` flags; writes the
/// interop password to `passfile`.
pub fn gocryptfs_init(dir: &Path, passfile: &Path, extra: &[&str]) {
    fs::create_dir_all(dir).expect("mkdir");
    fs::write(passfile, format!("{PASSWORD}\n")).expect("passfile");
    run(StdCommand::new(require("gocryptfs"))
        .args(["-init", "-q", "-nosyslog", "-scryptn", "10", "-passfile"])
        .arg(passfile)
        .args(extra)
        .arg(dir));
}

/// A FUSE mount that is unmounted when dropped.
pub struct Mount {
    pub point: PathBuf,
}

impl Mount {
    pub fn new(args: &[&str], source: &Path, point: &Path, passfile: &Path) -> Mount {
        require("fusermount3");
        fs::create_dir_all(point).expect("mountpoint");
        // gocryptfs daemonizes and the daemon keeps inherited pipes open, so
        // wait for the exit status only, with output going to a file.
        let log = point.with_extension("log");
        let status = StdCommand::new(require("gocryptfs"))
            .args(["-q", "-nosyslog", "-passfile"])
            .arg(passfile)
            .args(args)
            .arg(source)
            .arg(point)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).expect("log"))
            .status()
            .expect("gocryptfs runs");
        assert!(
            status.success(),
            "mounting {} failed: {}",
            source.display(),
            fs::read_to_string(&log).unwrap_or_default()
        );
        Mount {
            point: point.to_path_buf(),
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        for attempt in 0..50 {
            let ok = StdCommand::new("fusermount3")
                .arg("-u")
                .arg(&self.point)
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
            std::thread::sleep(Duration::from_millis(100 * (attempt % 5 + 1)));
        }
        let _ = StdCommand::new("fusermount3")
            .arg("-uz")
            .arg(&self.point)
            .status();
    }
}

pub fn content(seed: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(seed.as_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

pub fn write_file(root: &Path, rel: &str, len: usize, mode: u32) {
    let path = root.join(rel);
    fs::write(&path, content(rel, len)).expect("write");
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The tree of the issue: boundary sizes, several MiB, holes, name
/// lengths 1..255, unicode, deep directories, symlinks, modes, mtimes.
pub fn write_tree(root: &Path) {
    for size in [0usize, 1, 4095, 4096, 4097, 5 * 1024 * 1024 + 7] {
        write_file(root, &format!("size-{size}"), size, 0o644);
    }
    {
        let mut f = fs::File::create(root.join("sparse")).expect("create");
        f.write_all(&content("sparse-head", 3000)).expect("write");
        f.seek(SeekFrom::Start(40 * 4096 + 11)).expect("seek");
        f.write_all(&content("sparse-mid", 5000)).expect("write");
        f.set_len(300 * 4096)
            .expect("extend with a hole at the end");
    }
    for len in [1usize, 15, 16, 17, 175, 176, 255] {
        let name: String = format!("{len}-{}", "n".repeat(len))
            .chars()
            .take(len)
            .collect();
        write_file(root, &name, len * 3, 0o644);
    }
    write_file(root, "Grüße, 世界 🦀.txt", 777, 0o644);
    let deep = "d1/d2/d3/d4/d5/d6/d7/d8";
    fs::create_dir_all(root.join(deep)).expect("mkdir");
    write_file(root, &format!("{deep}/bottom.bin"), 9000, 0o600);
    let long_dir = "L".repeat(200);
    fs::create_dir(root.join(&long_dir)).expect("mkdir");
    write_file(root, &format!("{long_dir}/{}", "f".repeat(255)), 100, 0o644);
    fs::create_dir(root.join("empty")).expect("mkdir");
    write_file(root, "exec.sh", 20, 0o755);
    write_file(root, "ro.txt", 20, 0o444);
    symlink("d1/d2/d3/d4/d5/d6/d7/d8/bottom.bin", root.join("rel-link")).expect("symlink");
    symlink("/usr/share/doc", root.join("abs-link")).expect("symlink");
    symlink("../../size-1", root.join("d1/d2/up-link")).expect("symlink");
    fs::set_permissions(root.join("d1/d2/d3"), fs::Permissions::from_mode(0o750)).expect("chmod");
    // Distinct mtimes, deepest first so directories keep theirs.
    let mut paths: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .map(|e| e.expect("walk").into_path())
        .collect();
    paths.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for (i, p) in paths.iter().enumerate() {
        let t = filetime::FileTime::from_unix_time(1_600_000_000 + i as i64 * 61, 987_654_321);
        filetime::set_symlink_file_times(p, t, t).expect("utimes");
    }
}

/// Copies a tree (a mount's view) by reading every byte: `cp -a` asks a
/// gocryptfs reverse mount for holes, gets the plaintext's, and writes zeros
/// where the view has encrypted zero blocks.
pub fn copy_tree_reading_everything(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    let status = StdCommand::new("sh")
        .arg("-c")
        .arg("tar --format=posix -C \"$1\" -cf - . | tar -C \"$2\" -xf -")
        .arg("sh")
        .arg(from)
        .arg(to)
        .status()
        .expect("tar");
    assert!(status.success(), "copying {}", from.display());
}

// ---- rclone (push tests) ----

/// `rclone serve s3` on a free port of 127.0.0.1, serving a temporary
/// folder, with an rclone config naming it `s3test`; stopped when dropped.
pub struct S3Server {
    child: std::process::Child,
    pub root: PathBuf,
    pub config: PathBuf,
    pub port: u16,
    _dir: TempDir,
}

impl S3Server {
    pub fn start() -> S3Server {
        let rclone = require("rclone");
        let dir = TempDir::new().expect("tmp");
        let root = dir.path().join("served");
        fs::create_dir_all(root.join("bucket")).expect("mkdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let config = dir.path().join("rclone.conf");
        fs::write(
            &config,
            format!(
                "[s3test]\ntype = s3\nprovider = Rclone\nendpoint = http://127.0.0.1:{port}\n\
                 access_key_id = testid\nsecret_access_key = testsecret\n\n\
                 [s3wrongkey]\ntype = s3\nprovider = Rclone\nendpoint = http://127.0.0.1:{port}\n\
                 access_key_id = testid\nsecret_access_key = wrongsecret\n"
            ),
        )
        .expect("config");
        let child = StdCommand::new(rclone)
            .args(["serve", "s3", "--addr"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["--auth-key", "testid,testsecret"])
            .arg(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.path().join("serve.log")).expect("log"))
            .spawn()
            .expect("rclone serve s3 starts");
        let server = S3Server {
            child,
            root,
            config,
            port,
            _dir: dir,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("rclone serve s3 did not start on port {port}");
    }

    /// Runs rclone with this server's config.
    pub fn rclone(&self, args: &[&str]) -> String {
        run(StdCommand::new(require("rclone"))
            .arg("--config")
            .arg(&self.config)
            .args(args))
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---- vaultdrill runs with JSON output ----

/// A finished run: exit code, standard output as JSON (null when empty),
/// standard error.
pub struct Run {
    pub code: i32,
    pub json: serde_json::Value,
    pub stderr: String,
}

impl Run {
    /// The `problems` lines of the JSON output.
    pub fn problems(&self) -> Vec<String> {
        self.json["problems"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| p.as_str().expect("line").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Runs `cmd` (a vaultdrill command with `--json`) to the end.
pub fn run_json(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("vaultdrill runs");
    let json = if out.stdout.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
    };
    Run {
        code: out.status.code().expect("exit code"),
        json,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Adds the file `name` with `content` to a fixture vault (password from
/// testdata), through `vaultdrill encrypt`.
pub fn add_plain_file(vault: &Path, name: &str, content: &[u8]) {
    let plain = TempDir::new().expect("tmp");
    fs::write(plain.path().join(name), content).expect("write");
    let out = vaultdrill()
        .arg("encrypt")
        .arg(plain.path())
        .arg(vault)
        .args(["-q", "--passfile"])
        .arg(password_file())
        .output()
        .expect("encrypt runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An executable stand-in for rclone at `path`: the bash `prelude` runs
/// first, then the real rclone with the same arguments.
pub fn rclone_wrapper(path: &Path, prelude: &str) {
    fs::write(
        path,
        format!(
            "#!/bin/bash\n{prelude}exec {} \"$@\"\n",
            require("rclone").display()
        ),
    )
    .expect("write the wrapper");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("make it executable");
}

/// Writes to `to` the plaintext manifest `from` with each record passed
/// through `edit` and a trailer that matches, so that only the edit
/// itself can be refused.
pub fn edit_manifest(from: &Path, to: &Path, edit: impl Fn(&mut serde_json::Value)) {
    let text = fs::read_to_string(from).expect("manifest");
    let lines: Vec<&str> = text.lines().collect();
    let mut digest = blake3::Hasher::new();
    let mut out = format!("{}\n", lines[0]);
    for line in &lines[1..lines.len() - 1] {
        let mut record: serde_json::Value = serde_json::from_str(line).expect("record");
        edit(&mut record);
        let line = format!("{record}\n");
        digest.update(line.as_bytes());
        out.push_str(&line);
    }
    let mut trailer: serde_json::Value =
        serde_json::from_str(lines[lines.len() - 1]).expect("trailer");
    trailer["trailer"]["records_blake3"] =
        serde_json::Value::from(digest.finalize().to_hex().to_string());
    out.push_str(&format!("{trailer}\n"));
    fs::write(to, out).expect("write the manifest");
}

/// The local plaintext copy of the newest manifest in the state directory
/// `state` (one vault).
pub fn local_manifest_copy(state: &Path) -> PathBuf {
    fs::read_dir(state.join("vaults"))
        .expect("state directory")
        .map(|e| e.expect("entry").path().join("manifest.jsonl"))
        .find(|p| p.is_file())
        .expect("the local copy of the manifest")
}

/// `vaultdrill restore SOURCE DEST --json --report REPORT` with the state
/// directory `state`; the fixtures' password unless `extra` gives a
/// passfile or a master key.
pub fn restore_json(state: &Path, source: &str, dest: &Path, report: &Path, extra: &[&str]) -> Run {
    let mut cmd = vaultdrill();
    cmd.env("VAULTDRILL_STATE_DIR", state)
        .args(["restore", source])
        .arg(dest)
        .arg("--json")
        .arg("--report")
        .arg(report);
    if !extra.contains(&"--masterkey-file") && !extra.contains(&"--passfile") {
        cmd.arg("--passfile").arg(password_file());
    }
    run_json(cmd.args(extra))
}
