//! The fault matrix: one row per fault a backup (or the machine restoring
//! it) can suffer, each with its expected outcome: the exit code, the path
//! named, and that nothing else is lost (every other file restored whole,
//! nothing written outside the destination). README.md ("Fault matrix")
//! lists the rows; keep the two in step.
//!
//! Every row starts from a fresh copy of one pushed remote (the default
//! gocryptfs fixture plus two files of equal size) and restores it with
//! `vaultdrill restore`, the command of the bad day; rows about metadata a
//! restore does not need (dirivs, `.name` files) also decrypt the copy with
//! `vaultdrill decrypt`, which does.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use common::*;
use tempfile::TempDir;

const TWIN: usize = 10_000;
/// Ciphertext layout of the default vault (AES-256-GCM, 128-bit nonces).
const HEADER: u64 = 18;
const NONCE: u64 = 16;
const BLOCK: u64 = 4096 + 32;

/// The pushed remote every row copies, made once.
struct World {
    _tmp: TempDir,
    vault: PathBuf,
    remote: PathBuf,
    want: BTreeMap<String, Expected>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let (tmp, vault) = unpack("default");
        add_plain_file(&vault, "twin-a", &content("twin-a", TWIN));
        add_plain_file(&vault, "twin-b", &content("twin-b", TWIN));
        let remote = tmp.path().join("pristine");
        let out = vaultdrill()
            .env("VAULTDRILL_STATE_DIR", tmp.path().join("state"))
            .arg("push")
            .arg(&vault)
            .arg(&remote)
            .args(["-q", "--passfile"])
            .arg(password_file())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut want = expected("default");
        let plain = TempDir::new().unwrap();
        for twin in ["twin-a", "twin-b"] {
            fs::write(plain.path().join(twin), content(twin, TWIN)).unwrap();
            let mut e = snapshot(plain.path()).remove(twin).unwrap();
            e.mode = 0o644;
            want.insert(twin.into(), e);
        }
        World {
            _tmp: tmp,
            vault,
            remote,
            want,
        }
    })
}

/// One row's own copy of the remote, and where it restores to.
struct Row {
    tmp: TempDir,
    remote: PathBuf,
}

impl Row {
    fn new() -> Row {
        let tmp = TempDir::new().unwrap();
        let remote = tmp.path().join("remote");
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(&world().remote)
            .arg(&remote)
            .status()
            .unwrap();
        assert!(status.success());
        Row { tmp, remote }
    }

    /// The object holding plaintext `plain` in this copy.
    fn object(&self, plain: &str) -> PathBuf {
        let w = world();
        let in_vault = cipher_path_of(&w.vault, plain);
        self.remote.join(in_vault.strip_prefix(&w.vault).unwrap())
    }

    fn dest(&self) -> PathBuf {
        self.tmp.path().join("restored")
    }

    /// `vaultdrill restore` of this copy (the password unless a key or a
    /// passfile is given) with its own state directory.
    fn restore(&self, extra: &[&str]) -> Run {
        self.restore_from(self.remote.to_str().unwrap(), extra)
    }

    fn restore_from(&self, source: &str, extra: &[&str]) -> Run {
        let (state, report) = (
            self.tmp.path().join("state"),
            self.tmp.path().join("report.md"),
        );
        restore_json(&state, source, &self.dest(), &report, extra)
    }

    /// `vaultdrill decrypt` of this copy into a new folder.
    fn decrypt(&self) -> Output {
        vaultdrill()
            .arg("decrypt")
            .arg(&self.remote)
            .arg(self.tmp.path().join("decrypted"))
            .args(["--passfile"])
            .arg(password_file())
            .output()
            .unwrap()
    }

    /// Every finding of a restore and its error output, one string.
    /// With the remote's config gone or damaged: the password has nothing
    /// to open (1, naming gocryptfs.conf); the master key alone restores
    /// everything.
    fn config_lost_but_the_key_restores(&self) {
        let run = self.restore(&[]);
        assert_eq!(run.code, 1, "{}", Row::said(&run));
        assert!(Row::said(&run).contains("gocryptfs.conf"));
        let key = masterkey_file("default");
        self.expect(
            &self.restore(&["--masterkey-file", key.to_str().unwrap()]),
            0,
            &[],
        );
    }

    fn said(run: &Run) -> String {
        format!("{}\n{}", run.json, run.stderr)
    }

    /// The row's outcome: `code`, every path of `named` named, and every
    /// other file restored whole (nothing lost).
    fn expect(&self, run: &Run, code: i32, named: &[&str]) {
        let said = Row::said(run);
        assert_eq!(run.code, code, "{said}");
        for path in named {
            assert!(said.contains(path), "{path} is named: {said}");
        }
        self.nothing_lost(named);
    }

    /// Every file of the original but `except` is in the destination,
    /// whole; nothing else is there.
    fn nothing_lost(&self, except: &[&str]) {
        let got = snapshot(&self.dest());
        for (path, w) in &world().want {
            if w.kind != "file" || except.contains(&path.as_str()) {
                continue;
            }
            let g = got.get(path).unwrap_or_else(|| panic!("{path} was lost"));
            assert_eq!(g.sha256, w.sha256, "{path} is whole");
        }
        for (path, g) in &got {
            if g.kind == "file" && !path.starts_with(".vaultdrill-restore") {
                assert!(world().want.contains_key(path), "unexpected {path}");
                assert!(
                    !except.contains(&path.as_str()),
                    "{path} restored though damaged"
                );
            }
        }
        assert_no_temp_files(&self.dest());
    }
}

fn flip(path: &Path, offset: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x20;
    fs::write(path, bytes).unwrap();
}

fn cut(path: &Path, len: u64) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

const F: &str = "size-20000";

// ---- content of one file ----

#[test]
fn bit_flip_in_the_header() {
    let row = Row::new();
    flip(&row.object(F), 5);
    row.expect(&row.restore(&[]), 1, &[F]);
}

#[test]
fn bit_flip_in_a_nonce() {
    let row = Row::new();
    flip(&row.object(F), HEADER + BLOCK + 3);
    row.expect(&row.restore(&[]), 1, &[F]);
}

#[test]
fn bit_flip_in_the_ciphertext() {
    let row = Row::new();
    flip(&row.object(F), HEADER + NONCE + 100);
    row.expect(&row.restore(&[]), 1, &[F]);
}

#[test]
fn bit_flip_in_a_tag() {
    let row = Row::new();
    flip(&row.object(F), HEADER + 2 * BLOCK - 3);
    row.expect(&row.restore(&[]), 1, &[F]);
}

#[test]
fn truncated_mid_block() {
    let row = Row::new();
    let object = row.object(F);
    cut(&object, fs::metadata(&object).unwrap().len() - 100);
    row.expect(&row.restore(&[]), 1, &[F]);
}

#[test]
fn truncated_at_a_block_boundary() {
    // Every remaining block authenticates: only the manifest sees it.
    let row = Row::new();
    cut(&row.object(F), HEADER + 2 * BLOCK);
    row.expect(&row.restore(&[]), 1, &[F]);
}

#[test]
fn extended() {
    let row = Row::new();
    let object = row.object(F);
    let mut bytes = fs::read(&object).unwrap();
    bytes.extend_from_slice(&[0x55; 50]);
    fs::write(&object, bytes).unwrap();
    row.expect(&row.restore(&[]), 1, &[F]);
}

#[test]
fn a_zeroed_block() {
    // gocryptfs reads an all-zero block as a hole: only the manifest's
    // plaintext hash sees it.
    let row = Row::new();
    let object = row.object(F);
    let mut bytes = fs::read(&object).unwrap();
    let start = (HEADER + BLOCK) as usize;
    bytes[start..start + BLOCK as usize].fill(0);
    fs::write(&object, bytes).unwrap();
    row.expect(&row.restore(&[]), 1, &[F]);
}

#[test]
fn two_files_swapped() {
    let row = Row::new();
    let (a, b) = (row.object("twin-a"), row.object("twin-b"));
    let tmp = row.tmp.path().join("swap");
    fs::rename(&a, &tmp).unwrap();
    fs::rename(&b, &a).unwrap();
    fs::rename(&tmp, &b).unwrap();
    row.expect(&row.restore(&[]), 1, &["twin-a", "twin-b"]);
}

#[test]
fn a_missing_file() {
    let row = Row::new();
    fs::remove_file(row.object(F)).unwrap();
    let run = row.restore(&[]);
    row.expect(&run, 1, &[F]);
    assert!(Row::said(&run).contains("missing on the remote"));
}

// ---- metadata: dirivs, long names, the config ----

#[test]
fn a_missing_diriv() {
    // A restore takes names from the manifest: nothing is lost; decrypting
    // the copy names the folder whose names are gone.
    let row = Row::new();
    fs::remove_file(row.object("deep/a").join("gocryptfs.diriv")).unwrap();
    row.expect(&row.restore(&[]), 0, &[]);
    let out = row.decrypt();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("deep/a"));
}

#[test]
fn a_damaged_diriv() {
    let row = Row::new();
    fs::write(row.object("deep/a").join("gocryptfs.diriv"), b"short").unwrap();
    row.expect(&row.restore(&[]), 0, &[]);
    let out = row.decrypt();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("deep/a"));
}

fn long_name() -> &'static str {
    world()
        .want
        .keys()
        .find(|p| p.starts_with("len255-"))
        .unwrap()
}

#[test]
fn a_missing_name_sidecar() {
    let row = Row::new();
    let object = row.object(long_name());
    fs::remove_file(format!("{}.name", object.display())).unwrap();
    row.expect(&row.restore(&[]), 0, &[]);
    let out = row.decrypt();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(".name"));
}

#[test]
fn a_damaged_name_sidecar() {
    let row = Row::new();
    let object = row.object(long_name());
    fs::write(format!("{}.name", object.display()), b"not-base64!").unwrap();
    row.expect(&row.restore(&[]), 0, &[]);
    assert_eq!(row.decrypt().status.code(), Some(1));
}

#[test]
fn a_missing_config() {
    // The password has nothing to open (1, with the way out); the master
    // key alone restores everything.
    let row = Row::new();
    fs::remove_file(row.remote.join("gocryptfs.conf")).unwrap();
    row.config_lost_but_the_key_restores();
}

#[test]
fn a_damaged_config() {
    let row = Row::new();
    let config = row.remote.join("gocryptfs.conf");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, &text[..text.len() / 2]).unwrap();
    row.config_lost_but_the_key_restores();
}

/// The remote's gocryptfs.conf with `edit` applied to its JSON.
fn edit_config(row: &Row, edit: impl Fn(&mut serde_json::Value)) {
    let config = row.remote.join("gocryptfs.conf");
    let mut json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&config).unwrap()).unwrap();
    edit(&mut json);
    fs::write(&config, serde_json::to_string_pretty(&json).unwrap()).unwrap();
}

#[test]
fn a_config_whose_encrypted_key_has_the_wrong_length() {
    // Damage (1), not a refused password (3): no password can open it.
    let row = Row::new();
    edit_config(&row, |c| c["EncryptedKey"] = "A".repeat(40).into());
    row.config_lost_but_the_key_restores();
    assert!(
        !Row::said(&row.restore(&[])).contains("forgotten-password"),
        "not sent to the forgotten-password runbook"
    );
}

#[test]
fn a_config_from_a_newer_gocryptfs() {
    // A feature flag this version does not know: the check could not run
    // (4), the backup is not called damaged.
    let row = Row::new();
    edit_config(&row, |c| {
        c["FeatureFlags"]
            .as_array_mut()
            .unwrap()
            .push("SomeFutureFlag".into())
    });
    let run = row.restore(&[]);
    assert_eq!(run.code, 4, "{}", Row::said(&run));
    assert!(
        Row::said(&run).contains("SomeFutureFlag"),
        "{}",
        Row::said(&run)
    );
}

#[test]
fn a_hostile_config_demanding_a_huge_scrypt_n() {
    // Refused at once (3), never attempted: N = 2^30 needs 1 TiB.
    let row = Row::new();
    fs::copy(
        testdata().join("configs/scrypt-n-2pow30.conf"),
        row.remote.join("gocryptfs.conf"),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let run = row.restore(&[]);
    assert_eq!(run.code, 3, "{}", Row::said(&run));
    assert!(Row::said(&run).contains("scrypt"), "{}", Row::said(&run));
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

// ---- secrets ----

#[test]
fn a_wrong_password() {
    let row = Row::new();
    let wrong = row.tmp.path().join("wrong");
    fs::write(&wrong, "not it\n").unwrap();
    let run = row.restore(&["--passfile", wrong.to_str().unwrap()]);
    assert_eq!(run.code, 3, "{}", Row::said(&run));
    assert_eq!(
        fs::read_dir(row.dest()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn a_wrong_master_key() {
    let row = Row::new();
    let run = row.restore(&[
        "--masterkey-file",
        masterkey_file("xchacha").to_str().unwrap(),
    ]);
    assert_eq!(run.code, 3, "{}", Row::said(&run));
    assert_eq!(
        fs::read_dir(row.dest()).unwrap().count(),
        0,
        "nothing written"
    );
}

// ---- hostile names ----

/// A restore following a manifest whose entry for `victim` now has the
/// plaintext path `path` (the trailer made to match, so only the path
/// itself can be refused).
fn with_hostile_path(row: &Row, victim: &str, path: &str) -> Run {
    let manifest = row.tmp.path().join("hostile.jsonl");
    let copy = local_manifest_copy(&world()._tmp.path().join("state"));
    edit_manifest(&copy, &manifest, |record| {
        if record["path"] == victim {
            record["path"] = serde_json::Value::from(path);
        }
    });
    row.restore(&["--manifest", manifest.to_str().unwrap()])
}

#[test]
fn hostile_names_in_the_manifest() {
    for hostile in ["../escaped", "/etc/escaped", "a/../../escaped", "nul\0byte"] {
        let row = Row::new();
        let run = with_hostile_path(&row, F, hostile);
        assert_eq!(run.code, 1, "{hostile}: {}", Row::said(&run));
        assert!(
            Row::said(&run).contains("not a plain relative path"),
            "{hostile}"
        );
        row.nothing_lost(&[F]);
        assert!(!row.tmp.path().join("escaped").exists());
    }
    // A name longer than any file system takes.
    let row = Row::new();
    let run = with_hostile_path(&row, F, &"x".repeat(256));
    assert_eq!(run.code, 1, "{}", Row::said(&run));
    row.nothing_lost(&[F]);
}

// ---- the way to the remote ----

#[test]
fn rclone_missing() {
    let row = Row::new();
    let source = format!(":local:{}", row.remote.display());
    let run = row.restore_from(&source, &["--rclone", "/nonexistent/rclone"]);
    assert_eq!(run.code, 4, "{}", Row::said(&run));
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("rclone"));
}

#[test]
fn rclone_failing_mid_transfer_then_resumed() {
    let row = Row::new();
    let count = row.tmp.path().join("calls");
    let wrapper = row.tmp.path().join("rclone-cut");
    rclone_wrapper(
        &wrapper,
        &format!(
            "if [[ \" $* \" == *' copy '* ]]; then n=$(( $(cat {count} 2>/dev/null || echo 0) + 1 )); echo $n > {count}\n  if [ $n -ge 5 ]; then echo 'Failed to copy: connection reset by peer' >&2; exit 1; fi\nfi\n",
            count = count.display(),
        ),
    );
    let source = format!(":local:{}", row.remote.display());
    let run = row.restore_from(
        &source,
        &["--batch", "1B", "--rclone", wrapper.to_str().unwrap()],
    );
    assert_eq!(run.code, 4, "{}", Row::said(&run));
    assert!(Row::said(&run).contains("connection reset"));
    let run = row.restore_from(&source, &[]);
    row.expect(&run, 0, &[]);
}

#[test]
fn the_remote_unreachable() {
    let row = Row::new();
    let config = row.tmp.path().join("rclone.conf");
    fs::write(
        &config,
        "[gone]\ntype = s3\nprovider = Rclone\nendpoint = http://127.0.0.1:9\n\
         access_key_id = x\nsecret_access_key = y\n",
    )
    .unwrap();
    let run = row.restore_from(
        "gone:bucket/vault",
        &["--rclone-config", config.to_str().unwrap()],
    );
    assert_eq!(run.code, 4, "{}", Row::said(&run));
    assert_eq!(run.json["steps"][0]["status"], "error");
}

// ---- the destination ----

/// A tmpfs mounted at `dir` with `options` (the tests run as root),
/// unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, options: &str) -> Tmpfs {
        fs::create_dir_all(dir).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(status.success(), "mounting a tmpfs (the tests run as root)");
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn the_destination_disk_full() {
    let row = Row::new();
    // 40 KiB for 86 KiB of files.
    let _disk = Tmpfs::mount(&row.dest(), "size=40k,mode=0700");
    let run = row.restore(&[]);
    assert_eq!(run.code, 4, "{}", Row::said(&run));
    assert!(Row::said(&run).contains("not enough space"));
}

#[test]
fn the_destination_read_only() {
    let row = Row::new();
    let _disk = Tmpfs::mount(&row.dest(), "ro,mode=0700");
    let run = row.restore(&[]);
    assert_eq!(run.code, 4, "{}", Row::said(&run));
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("Read-only file system"),
        "{}",
        run.stderr
    );
}

#[test]
fn sigkill_mid_restore_then_resumed() {
    let row = Row::new();
    let wrapper = row.tmp.path().join("rclone-slow");
    rclone_wrapper(&wrapper, "sleep 0.3\n");
    let source = format!(":local:{}", row.remote.display());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vaultdrill"))
        .env_remove("XDG_RUNTIME_DIR")
        .env("VAULTDRILL_STATE_DIR", row.tmp.path().join("state"))
        .args(["restore", &source])
        .arg(row.dest())
        .args(["-q", "--batch", "1B", "--rclone"])
        .arg(&wrapper)
        .arg("--passfile")
        .arg(password_file())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let placed = || {
        row.dest().exists()
            && snapshot(&row.dest())
                .iter()
                .filter(|(p, e)| e.kind == "file" && !p.starts_with(".vaultdrill-restore"))
                .count()
                >= 3
    };
    while std::time::Instant::now() < deadline && !placed() {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Only whole files under final names.
    for (path, e) in snapshot(&row.dest()) {
        if e.kind == "file" && !path.starts_with(".vaultdrill-restore") {
            assert_eq!(e.sha256, world().want[&path].sha256, "{path}");
        }
    }
    row.expect(&row.restore_from(&source, &[]), 0, &[]);
}
