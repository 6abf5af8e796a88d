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
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use tempfile::TempDir;

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
    gocryptfs_init(&plain, &passfile, &["-reverse"]);
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

#[test]
fn a_file_that_starts_with_a_hole_still_proves_the_key() {
    let tmp = TempDir::new().expect("tmp");
    let cipher = tmp.path().join("cipher");
    let passfile = tmp.path().join("pass");
    let masterkey = tmp.path().join("masterkey");
    fs::create_dir(&cipher).expect("mkdir");
    fs::write(&passfile, format!("{PASSWORD}\n")).expect("write");
    run(Command::new(require("gocryptfs"))
        .args(["-init", "-q", "-nosyslog", "-scryptn", "10", "-passfile"])
        .arg(&passfile)
        .arg(&cipher));
    dump_masterkey(&cipher.join("gocryptfs.conf"), &passfile, &masterkey);
    {
        let mount = Mount::new(&[], &cipher, &tmp.path().join("mnt"), &passfile);
        let f = fs::File::create(mount.point.join("hole-first")).expect("create");
        std::os::unix::fs::FileExt::write_all_at(&f, b"data after a hole", 3 * 4096)
            .expect("write");
    }
    fs::remove_file(cipher.join("gocryptfs.conf")).expect("lose the config");
    let out_dir = TempDir::new().expect("tmp");
    let out = vaultdrill()
        .arg("decrypt")
        .arg(&cipher)
        .arg(out_dir.path().join("out"))
        .arg("--masterkey-file")
        .arg(&masterkey)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = fs::read(out_dir.path().join("out/hole-first")).expect("read");
    assert_eq!(&data[3 * 4096..], b"data after a hole");
}
