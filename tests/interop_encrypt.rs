//! `vaultdrill encrypt` checked with the real gocryptfs 2.3: whatever it
//! writes, in every vault mode, a gocryptfs mount reads back byte for byte,
//! name for name, with modes and mtimes; a rerun rewrites only what changed.
//! Never skipped: without gocryptfs these fail.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use tempfile::TempDir;

/// A vault made by the real gocryptfs with `init_args`, empty.
fn gocryptfs_vault(tmp: &Path, init_args: &[&str]) -> (PathBuf, PathBuf) {
    let cipher = tmp.join("vault");
    let passfile = tmp.join("pass");
    fs::create_dir(&cipher).expect("mkdir");
    fs::write(&passfile, format!("{PASSWORD}\n")).expect("write");
    run(Command::new(require("gocryptfs"))
        .args(["-init", "-q", "-nosyslog", "-scryptn", "10", "-passfile"])
        .arg(&passfile)
        .args(init_args)
        .arg(&cipher));
    (cipher, passfile)
}

fn encrypt(plain: &Path, cipher: &Path, passfile: &Path) -> serde_json::Value {
    let out = vaultdrill()
        .arg("encrypt")
        .arg(plain)
        .arg(cipher)
        .arg("--json")
        .arg("--passfile")
        .arg(passfile)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

fn mounted_equals_plain(tmp: &Path, cipher: &Path, passfile: &Path, plain: &Path, what: &str) {
    let mount = Mount::new(&["-ro"], cipher, &tmp.join("mnt"), passfile);
    assert_same_tree(&snapshot(&mount.point), &snapshot(plain), what);
}

fn mode_case(what: &str, init_args: &[&str]) {
    let tmp = TempDir::new().expect("tmp");
    let (cipher, passfile) = gocryptfs_vault(tmp.path(), init_args);
    let plain = tmp.path().join("plain");
    fs::create_dir(&plain).expect("mkdir");
    write_tree(&plain);
    let first = encrypt(&plain, &cipher, &passfile);
    assert!(
        first["files_written"].as_u64().expect("n") >= 15,
        "{what}: {first}"
    );
    mounted_equals_plain(tmp.path(), &cipher, &passfile, &plain, what);
    // vaultdrill reads it too, with the password and the master key.
    let out_dir = TempDir::new().expect("tmp");
    vaultdrill()
        .arg("decrypt")
        .arg(&cipher)
        .arg(out_dir.path().join("out"))
        .arg("--passfile")
        .arg(&passfile)
        .assert()
        .code(0);
    assert_same_tree(
        &snapshot(&out_dir.path().join("out")),
        &snapshot(&plain),
        what,
    );
}

#[test]
fn encrypt_into_every_gocryptfs_mode() {
    for (what, args) in [
        ("default", &[][..]),
        ("-plaintextnames", &["-plaintextnames"][..]),
        ("-aessiv", &["-aessiv"][..]),
        ("-xchacha", &["-xchacha"][..]),
        ("-deterministic-names", &["-deterministic-names"][..]),
        ("-longnamemax 62", &["-longnamemax", "62"][..]),
    ] {
        mode_case(what, args);
    }
}

#[test]
fn encrypt_into_a_legacy_vault_without_hkdf_and_raw64() {
    let (tmp, vault) = unpack("legacy");
    let plain = tmp.path().join("plain");
    fs::create_dir(&plain).expect("mkdir");
    write_tree(&plain);
    // The fixture already holds a tree; add ours under a new top-level folder.
    let wrapper = tmp.path().join("wrapper");
    fs::create_dir(&wrapper).expect("mkdir");
    fs::rename(&plain, wrapper.join("added")).expect("mv");
    encrypt(&wrapper, &vault, &password_file());
    let mount = Mount::new(&["-ro"], &vault, &tmp.path().join("mnt"), &password_file());
    let mut mounted = snapshot(&mount.point);
    mounted.retain(|p, _| p.starts_with("added"));
    let mut want = snapshot(&wrapper);
    want.retain(|p, _| p.starts_with("added"));
    assert_same_tree(&mounted, &want, "legacy vault");
    // The fixture's own files are still there and intact.
    let mut old = snapshot(&mount.point);
    old.retain(|p, _| !p.starts_with("added"));
    assert_same_tree(&old, &expected("legacy"), "legacy originals");
}

#[test]
fn a_rerun_rewrites_only_what_changed() {
    let tmp = TempDir::new().expect("tmp");
    let (cipher, passfile) = gocryptfs_vault(tmp.path(), &[]);
    let plain = tmp.path().join("plain");
    fs::create_dir(&plain).expect("mkdir");
    write_tree(&plain);
    encrypt(&plain, &cipher, &passfile);
    let inodes = |root: &Path| -> std::collections::BTreeMap<String, (u64, i64)> {
        walkdir::WalkDir::new(root)
            .into_iter()
            .map(|e| e.expect("walk"))
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                let m = e.metadata().expect("meta");
                (
                    e.path()
                        .strip_prefix(root)
                        .expect("rel")
                        .to_string_lossy()
                        .into_owned(),
                    (m.ino(), m.ctime_nsec() + m.ctime() * 1_000_000_000),
                )
            })
            .collect()
    };
    let before = inodes(&cipher);

    let again = encrypt(&plain, &cipher, &passfile);
    assert_eq!(again["files_written"], 0, "{again}");
    assert_eq!(
        inodes(&cipher),
        before,
        "nothing rewritten when nothing changed"
    );

    // Change one file, add one, touch nothing else.
    fs::write(plain.join("size-4097"), content("changed", 5000)).expect("write");
    fs::write(plain.join("d1/new-file"), b"new").expect("write");
    let third = encrypt(&plain, &cipher, &passfile);
    assert_eq!(third["files_written"], 2, "{third}");
    let after = inodes(&cipher);
    let changed: Vec<_> = before
        .iter()
        .filter(|(p, v)| after.get(*p) != Some(v))
        .map(|(p, _)| p.clone())
        .collect();
    assert_eq!(
        changed.len(),
        1,
        "only the changed file's ciphertext was replaced: {changed:?}"
    );
    mounted_equals_plain(tmp.path(), &cipher, &passfile, &plain, "after the update");
}

#[test]
fn encrypt_refuses_overlapping_folders() {
    let tmp = TempDir::new().expect("tmp");
    let (cipher, passfile) = gocryptfs_vault(tmp.path(), &[]);
    let out = vaultdrill()
        .arg("encrypt")
        .arg(tmp.path())
        .arg(&cipher)
        .arg("--passfile")
        .arg(&passfile)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("contain one another"));
}

#[test]
fn encrypt_into_a_vault_on_a_fuse_file_system() {
    // The vault's folder is inside a gocryptfs mount: a FUSE file system,
    // without O_TMPFILE, where one syncfs may not reach the daemon. Files
    // are staged under temporary names and flushed one by one there, and
    // every one of them arrives whole under its name.
    let tmp = TempDir::new().expect("tmp");
    let outer = tmp.path().join("outer");
    let passfile = tmp.path().join("pass");
    gocryptfs_init(&outer, &passfile, &[]);
    let outer_mount = Mount::new(&[], &outer, &tmp.path().join("outer-mnt"), &passfile);
    let inner = outer_mount.point.join("vault");
    gocryptfs_init(&inner, &passfile, &[]);
    let plain = tmp.path().join("plain");
    fs::create_dir(&plain).expect("mkdir");
    write_tree(&plain);
    let summary = encrypt(&plain, &inner, &passfile);
    assert!(
        summary["files_written"].as_u64().expect("n") >= 15,
        "{summary}"
    );
    assert_no_temp_files(&inner);
    mounted_equals_plain(tmp.path(), &inner, &passfile, &plain, "a vault on FUSE");
}
