//! Interoperability with the real gocryptfs (Debian's 2.3, mounted through
//! fuse3): vaults created by `gocryptfs -init` in each mode it offers,
//! written through a real mount, must decrypt with vaultdrill, with the
//! password and with the master key, to exactly what the mount showed.
//!
//! These tests never skip: without gocryptfs or FUSE they fail, saying
//! what to install (`bash .ci/run` installs it).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use tempfile::TempDir;

const PASSWORD: &str = "interop test password";

fn require(tool: &str) -> PathBuf {
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

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A FUSE mount that is unmounted when dropped.
struct Mount {
    point: PathBuf,
}

impl Mount {
    fn new(args: &[&str], source: &Path, point: &Path, passfile: &Path) -> Mount {
        require("fusermount3");
        fs::create_dir_all(point).expect("mountpoint");
        // gocryptfs daemonizes and the daemon keeps inherited pipes open, so
        // wait for the exit status only, with output going to a file.
        let log = point.with_extension("log");
        let status = Command::new(require("gocryptfs"))
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
            let ok = Command::new("fusermount3")
                .arg("-u")
                .arg(&self.point)
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
            std::thread::sleep(Duration::from_millis(100 * (attempt % 5 + 1)));
        }
        let _ = Command::new("fusermount3")
            .arg("-uz")
            .arg(&self.point)
            .status();
    }
}

fn content(seed: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(seed.as_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

fn write_file(root: &Path, rel: &str, len: usize, mode: u32) {
    let path = root.join(rel);
    fs::write(&path, content(rel, len)).expect("write");
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The tree of the issue: boundary sizes, several MiB, holes, name
/// lengths 1..255, unicode, deep directories, symlinks, modes, mtimes.
fn write_tree(root: &Path) {
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

struct Vault {
    _tmp: TempDir,
    cipher: PathBuf,
    passfile: PathBuf,
    masterkey: PathBuf,
    expected: BTreeMap<String, Expected>,
}

fn dump_masterkey(config: &Path, passfile: &Path, out: &Path) {
    let hex = run(Command::new(require("gocryptfs-xray"))
        .arg("-dumpmasterkey")
        .arg(config)
        .stdin(fs::File::open(passfile).expect("passfile")));
    fs::write(out, hex).expect("write key");
}

/// `gocryptfs -init` with `init_args`, the tree written through a mount.
fn forward_vault(init_args: &[&str], legacy: bool) -> Vault {
    let tmp = TempDir::new().expect("tmp");
    let cipher = tmp.path().join("cipher");
    let passfile = tmp.path().join("pass");
    let masterkey = tmp.path().join("masterkey");
    fs::create_dir(&cipher).expect("mkdir");
    fs::write(&passfile, format!("{PASSWORD}\n")).expect("write");
    run(Command::new(require("gocryptfs"))
        .args(["-init", "-q", "-nosyslog", "-scryptn", "10", "-passfile"])
        .arg(&passfile)
        .args(init_args)
        .arg(&cipher));
    let config = cipher.join("gocryptfs.conf");
    dump_masterkey(&config, &passfile, &masterkey);
    if legacy {
        make_legacy(&cipher, &passfile, &masterkey);
    }
    let expected = {
        let mount = Mount::new(&[], &cipher, &tmp.path().join("mnt"), &passfile);
        write_tree(&mount.point);
        snapshot(&mount.point)
    };
    Vault {
        _tmp: tmp,
        cipher,
        passfile,
        masterkey,
        expected,
    }
}

/// gocryptfs 2.3 always sets HKDF and Raw64 at -init; vaults from gocryptfs
/// 1.0-1.2 have neither. Drop both flags and let gocryptfs itself re-wrap
/// the master key for that flag set.
fn make_legacy(cipher: &Path, passfile: &Path, masterkey: &Path) {
    let config = cipher.join("gocryptfs.conf");
    let text = fs::read_to_string(&config).expect("config");
    let edited = text
        .replace("\t\t\"HKDF\",\n", "")
        .replace(",\n\t\t\"Raw64\"\n", "\n");
    assert!(
        !edited.contains("HKDF") && !edited.contains("Raw64"),
        "{edited}"
    );
    fs::set_permissions(&config, fs::Permissions::from_mode(0o600)).expect("chmod");
    fs::write(&config, edited).expect("write");
    let key = fs::read_to_string(masterkey).expect("key");
    let mut child = Command::new(require("gocryptfs"))
        .args(["-passwd", "-q", "-nosyslog", "-masterkey=stdin"])
        .arg(cipher)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("gocryptfs -passwd");
    let stdin = child.stdin.as_mut().expect("stdin");
    writeln!(stdin, "{}", key.trim()).expect("key");
    writeln!(
        stdin,
        "{}",
        fs::read_to_string(passfile).expect("pw").trim()
    )
    .expect("pw");
    assert!(child.wait().expect("wait").success(), "gocryptfs -passwd");
    fs::remove_file(cipher.join("gocryptfs.conf.bak")).expect("rm .bak");
}

fn check_decrypts(v: &Vault, what: &str) {
    assert!(
        v.expected.len() > 30 && v.expected.contains_key("size-5242887"),
        "{what}: the tree was not written"
    );
    for (how, args) in [
        (
            "password",
            vec!["--passfile".into(), v.passfile.clone().into_os_string()],
        ),
        (
            "master key",
            vec![
                "--masterkey-file".into(),
                v.masterkey.clone().into_os_string(),
            ],
        ),
    ] {
        let out_dir = TempDir::new().expect("tmp");
        let dest = out_dir.path().join("restored");
        let out = vaultdrill()
            .arg("decrypt")
            .arg(&v.cipher)
            .arg(&dest)
            .args(&args)
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{what} with the {how}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_same_tree(
            &snapshot(&dest),
            &v.expected,
            &format!("{what} with the {how}"),
        );
        // Holes stay holes: the sparse file does not occupy its full size.
        let blocks = std::os::unix::fs::MetadataExt::blocks(
            &fs::metadata(dest.join("sparse")).expect("sparse"),
        );
        assert!(
            blocks * 512 < 300 * 4096 / 2,
            "{what}: sparse file was written densely ({blocks} blocks)"
        );
    }
}

fn check_info_matches_gocryptfs(v: &Vault, what: &str) {
    let theirs = run(Command::new(require("gocryptfs"))
        .arg("-info")
        .arg(&v.cipher));
    let out = vaultdrill()
        .arg("info")
        .arg(&v.cipher)
        .output()
        .expect("run");
    assert!(out.status.success());
    let ours = String::from_utf8(out.stdout).expect("utf-8");
    let ours_head: Vec<&str> = ours.lines().take(5).collect();
    let theirs_lines: Vec<&str> = theirs.lines().collect();
    assert_eq!(
        ours_head, theirs_lines,
        "{what}: info differs from gocryptfs -info"
    );
}

fn forward_case(what: &str, init_args: &[&str], legacy: bool) {
    let vault = forward_vault(init_args, legacy);
    check_info_matches_gocryptfs(&vault, what);
    check_decrypts(&vault, what);
}

#[test]
fn default_mode() {
    forward_case("default", &[], false);
}

#[test]
fn plaintextnames() {
    forward_case("-plaintextnames", &["-plaintextnames"], false);
}

#[test]
fn aessiv() {
    forward_case("-aessiv", &["-aessiv"], false);
}

#[test]
fn xchacha() {
    forward_case("-xchacha", &["-xchacha"], false);
}

#[test]
fn deterministic_names() {
    forward_case("-deterministic-names", &["-deterministic-names"], false);
}

#[test]
fn longnamemax_62() {
    forward_case("-longnamemax 62", &["-longnamemax", "62"], false);
}

#[test]
fn without_hkdf_and_raw64() {
    forward_case("-raw64=false -hkdf=false (v1.2-style config)", &[], true);
}

#[test]
fn reverse_mode_view_as_uploaded() {
    let tmp = TempDir::new().expect("tmp");
    let plain = tmp.path().join("plain");
    let cipher = tmp.path().join("cipher");
    let passfile = tmp.path().join("pass");
    let masterkey = tmp.path().join("masterkey");
    fs::create_dir(&plain).expect("mkdir");
    fs::write(&passfile, format!("{PASSWORD}\n")).expect("write");
    write_tree(&plain);
    let expected = snapshot(&plain);
    run(Command::new(require("gocryptfs"))
        .args([
            "-init",
            "-reverse",
            "-q",
            "-nosyslog",
            "-scryptn",
            "10",
            "-passfile",
        ])
        .arg(&passfile)
        .arg(&plain));
    dump_masterkey(
        &plain.join(".gocryptfs.reverse.conf"),
        &passfile,
        &masterkey,
    );
    {
        let mount = Mount::new(
            &["-reverse", "-ro"],
            &plain,
            &tmp.path().join("mnt"),
            &passfile,
        );
        fs::create_dir(&cipher).expect("mkdir");
        run(Command::new("cp")
            .arg("-a")
            .arg(mount.point.join("."))
            .arg(&cipher));
    }
    let vault = Vault {
        _tmp: tmp,
        cipher,
        passfile,
        masterkey,
        expected,
    };
    check_info_matches_gocryptfs(&vault, "reverse view");
    check_decrypts(&vault, "reverse view");
}

#[test]
fn gocryptfs_fsck_and_vaultdrill_agree_on_damage() {
    let vault = forward_vault(&[], false);
    // Damage block 2 of the 5 MiB file.
    let listing = vaultdrill()
        .args(["ls", "--json", "--passfile"])
        .arg(&vault.passfile)
        .arg(&vault.cipher)
        .output()
        .expect("ls");
    let victim = listing
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice::<serde_json::Value>(l).expect("json"))
        .find(|v| v["path"] == "size-5242887")
        .map(|v| {
            vault
                .cipher
                .join(v["cipher_path"].as_str().expect("cipher_path"))
        })
        .expect("listed");
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&victim)
        .expect("open");
    std::os::unix::fs::FileExt::write_all_at(&f, b"\xff\xff", 18 + 2 * 4128 + 100).expect("write");
    let fsck = Command::new(require("gocryptfs"))
        .args(["-fsck", "-q", "-nosyslog", "-passfile"])
        .arg(&vault.passfile)
        .arg(&vault.cipher)
        .output()
        .expect("fsck");
    assert_eq!(
        fsck.status.code(),
        Some(26),
        "gocryptfs -fsck sees the damage too"
    );
    let dest = TempDir::new().expect("tmp");
    let out = vaultdrill()
        .arg("decrypt")
        .arg(&vault.cipher)
        .arg(dest.path().join("out"))
        .arg("--passfile")
        .arg(&vault.passfile)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("DAMAGED size-5242887: block 2: authentication failed")
    );
}

#[test]
fn a_tree_deeper_than_path_max_in_ciphertext() {
    // 200 levels of 10-character names: 2.2 KB of plaintext path, but well
    // over PATH_MAX (4096) once encrypted. gocryptfs handles it (it works
    // relative to directory handles); so must vaultdrill.
    let tmp = TempDir::new().expect("tmp");
    let cipher = tmp.path().join("cipher");
    let passfile = tmp.path().join("pass");
    fs::create_dir(&cipher).expect("mkdir");
    fs::write(&passfile, format!("{PASSWORD}\n")).expect("write");
    run(Command::new(require("gocryptfs"))
        .args(["-init", "-q", "-nosyslog", "-scryptn", "10", "-passfile"])
        .arg(&passfile)
        .arg(&cipher));
    let rel: PathBuf = (0..200).map(|i| format!("level-{i:04}")).collect();
    let expected = {
        let mount = Mount::new(&[], &cipher, &tmp.path().join("mnt"), &passfile);
        fs::create_dir_all(mount.point.join(&rel)).expect("deep mkdir through the mount");
        fs::write(mount.point.join(&rel).join("bottom.txt"), b"found me").expect("write");
        snapshot(&mount.point)
    };
    // Each 10-byte name pads to 16 bytes, 22 base64 characters: the
    // ciphertext path is over 200 x 23 = 4600 bytes. (walkdir cannot even
    // list it, which is the point.)
    let first_level = fs::read_dir(&cipher)
        .expect("ls")
        .map(|e| e.expect("entry").file_name())
        .find(|n| n.len() == 22);
    assert!(first_level.is_some(), "encrypted names are 22 characters");
    let out_dir = TempDir::new().expect("tmp");
    let dest = out_dir.path().join("restored");
    let out = vaultdrill()
        .arg("decrypt")
        .arg(&cipher)
        .arg(&dest)
        .arg("--passfile")
        .arg(&passfile)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_same_tree(&snapshot(&dest), &expected, "deep tree");
}
