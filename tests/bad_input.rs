//! Bad input, each with its clear one-line message and its exit code:
//! wrong secrets, broken configs, tampered content, missing metadata,
//! hostile names, unsafe destinations.

mod common;

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;
use vaultdrill::format::names::{DirIv, NameCipher, NameEncoding};
use vaultdrill::format::{MasterKey, longname};

fn decrypt(vault: &Path, dest: &Path, extra: &[&str]) -> Output {
    vaultdrill()
        .arg("decrypt")
        .arg(vault)
        .arg(dest)
        .arg("--passfile")
        .arg(password_file())
        .args(extra)
        .output()
        .expect("run vaultdrill")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fatal error is exactly one line on stderr and names what to do.
fn assert_one_line_error(out: &Output, code: i32, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    assert!(err.starts_with("vaultdrill: error: "), "{err}");
    assert!(err.contains(needle), "{needle:?} not in: {err}");
    assert!(err.contains("; "), "no hint in: {err}");
}

fn flip_byte(path: &Path, offset: u64) {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open");
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset).expect("read");
    b[0] ^= 0x01;
    f.write_all_at(&b, offset).expect("write");
}

// ---- secrets and unlock ----

#[test]
fn wrong_password_exits_3() {
    let (tmp, vault) = unpack("default");
    let pw = tmp.path().join("pw");
    fs::write(&pw, "not the password\n").expect("write");
    let out = vaultdrill()
        .arg("ls")
        .arg(&vault)
        .arg("--passfile")
        .arg(&pw)
        .output()
        .expect("run");
    assert_one_line_error(&out, 3, "wrong password");
    assert!(stderr(&out).contains("--masterkey-file"));
}

#[test]
fn wrong_master_key_exits_3() {
    for flavour in ["default", "plaintextnames", "aessiv"] {
        let (tmp, vault) = unpack(flavour);
        let out = vaultdrill()
            .arg("decrypt")
            .arg(&vault)
            .arg(tmp.path().join("out"))
            .arg("--masterkey-file")
            .arg(masterkey_file("xchacha"))
            .output()
            .expect("run");
        assert_one_line_error(&out, 3, "master key does not match");
        assert!(
            !tmp.path().join("out").exists(),
            "{flavour}: nothing is written with a wrong key"
        );
    }
}

#[test]
fn malformed_master_key_exits_3_without_echoing_it() {
    let (tmp, vault) = unpack("default");
    let key = tmp.path().join("key");
    fs::write(
        &key,
        "b99b2e61-61787571-c43dfa2c-90d4f020-c6e774ea-b96cdffc-1e706344\n",
    )
    .expect("write");
    let out = vaultdrill()
        .arg("ls")
        .arg(&vault)
        .arg("--masterkey-file")
        .arg(&key)
        .output()
        .expect("run");
    assert_one_line_error(&out, 3, "has 56 hex digits");
    assert!(!stderr(&out).contains("b99b2e61"));
}

#[test]
fn master_key_with_line_breaks_and_upper_case_works() {
    let (tmp, vault) = unpack("default");
    let printed = fs::read_to_string(masterkey_file("default")).expect("key");
    let groups: Vec<&str> = printed.trim().split('-').collect();
    let messy = format!(
        "  {}-\n    {}\n",
        groups[..4].join("-").to_uppercase(),
        groups[4..].join(" ")
    );
    let key = tmp.path().join("key");
    fs::write(&key, messy).expect("write");
    vaultdrill()
        .arg("ls")
        .arg(&vault)
        .arg("--masterkey-file")
        .arg(&key)
        .assert()
        .code(0);
}

#[test]
fn secrets_on_the_command_line_are_refused() {
    let (_tmp, vault) = unpack("default");
    let out = vaultdrill()
        .arg("ls")
        .arg(&vault)
        .args(["--password", "hunter2"])
        .output()
        .expect("run");
    assert_one_line_error(&out, 2, "--password is not accepted");
    let key = fs::read_to_string(masterkey_file("default")).expect("key");
    let out = vaultdrill()
        .arg("ls")
        .arg(&vault)
        .args(["--masterkey", key.trim()])
        .output()
        .expect("run");
    assert_one_line_error(&out, 2, "--masterkey KEY is not accepted");
    assert!(!stderr(&out).contains(key.trim()));
}

#[test]
fn master_key_and_password_from_stdin_and_extpass() {
    let (_tmp, vault) = unpack("default");
    let key = fs::read(masterkey_file("default")).expect("key");
    vaultdrill()
        .arg("ls")
        .arg(&vault)
        .arg("--masterkey-stdin")
        .write_stdin(key.clone())
        .assert()
        .code(0);
    // gocryptfs spelling: -masterkey=stdin
    vaultdrill()
        .arg("ls")
        .arg(&vault)
        .arg("--masterkey=stdin")
        .write_stdin(key)
        .assert()
        .code(0);
    // No secret option and stdin not a terminal: one line from stdin, as gocryptfs.
    let pw = fs::read(password_file()).expect("pw");
    vaultdrill()
        .arg("ls")
        .arg(&vault)
        .write_stdin(pw)
        .assert()
        .code(0);
    let out = vaultdrill()
        .arg("ls")
        .arg(&vault)
        .write_stdin("")
        .output()
        .expect("run");
    assert_one_line_error(&out, 2, "empty password");
    let cat = format!("cat {}", password_file().display());
    vaultdrill()
        .arg("ls")
        .arg(&vault)
        .args(["--extpass", &cat])
        .assert()
        .code(0);
    let out = vaultdrill()
        .arg("ls")
        .arg(&vault)
        .args(["--extpass", "false"])
        .output()
        .expect("run");
    assert_one_line_error(&out, 4, "--extpass");
}

#[test]
fn passfile_problems_are_usage_errors() {
    let (tmp, vault) = unpack("default");
    let out = vaultdrill()
        .arg("ls")
        .arg(&vault)
        .args(["--passfile", "/nonexistent/pw"])
        .output()
        .expect("run");
    assert_one_line_error(&out, 2, "/nonexistent/pw");
    let empty = tmp.path().join("empty");
    fs::write(&empty, "\nsecond line\n").expect("write");
    let out = vaultdrill()
        .arg("ls")
        .arg(&vault)
        .arg("--passfile")
        .arg(&empty)
        .output()
        .expect("run");
    assert_one_line_error(&out, 2, "first line of the password file is empty");
}

// ---- configs ----

fn with_config(name: &str) -> Output {
    let (_tmp, vault) = unpack("default");
    vaultdrill()
        .arg("ls")
        .arg(&vault)
        .arg("--config")
        .arg(testdata().join("configs").join(name))
        .arg("--passfile")
        .arg(password_file())
        .output()
        .expect("run")
}

#[test]
fn broken_configs_each_have_their_message_and_code() {
    assert_one_line_error(
        &with_config("unknown-flag.conf"),
        4,
        "unknown feature flag \"QuantumNames\"",
    );
    assert_one_line_error(
        &with_config("version-3.conf"),
        4,
        "unsupported on-disk format version 3",
    );
    assert_one_line_error(
        &with_config("aessiv-and-xchacha.conf"),
        1,
        "XChaCha20Poly1305 and AESSIV exclude each other",
    );
    assert_one_line_error(&with_config("truncated.conf"), 1, "not valid JSON");
    let fido = with_config("fido2-handmade.conf");
    assert_one_line_error(&fido, 3, "FIDO2");
    assert!(stderr(&fido).contains("--masterkey-file"));
    let huge = with_config("scrypt-n-2pow30.conf");
    assert_one_line_error(&huge, 3, "N=2^30");
    assert!(stderr(&huge).contains("safety cap"));
}

#[test]
fn missing_config_and_non_vaults() {
    let (tmp, vault) = unpack("default");
    fs::remove_file(vault.join("gocryptfs.conf")).expect("rm");
    let out = vaultdrill().arg("info").arg(&vault).output().expect("run");
    assert_one_line_error(&out, 1, "the config file is missing");
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).expect("mkdir");
    assert_one_line_error(
        &vaultdrill().arg("info").arg(&empty).output().expect("run"),
        2,
        "not a gocryptfs vault",
    );
    assert_one_line_error(
        &vaultdrill()
            .arg("info")
            .arg(tmp.path().join("nope"))
            .output()
            .expect("run"),
        2,
        "not a directory",
    );
}

// ---- tampered content ----

/// Flips one byte of `size-20000` (five blocks) at `offset`, decrypts, and
/// checks that only that file is reported, at `block`, and not written.
fn tampered_file_is_reported(flavour: &str, offset: impl Fn(usize, usize) -> u64, needle: &str) {
    let (tmp, vault) = unpack(flavour);
    let victim = cipher_path_of(&vault, "size-20000");
    let len = fs::metadata(&victim).expect("meta").len() as usize;
    let cbs = match flavour {
        "xchacha" => 4136,
        _ => 4128,
    };
    flip_byte(&victim, offset(cbs, len));
    let dest = tmp.path().join("out");
    let out = decrypt(&vault, &dest, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{flavour}: {err}");
    assert!(
        err.contains("DAMAGED size-20000: ") && err.contains(needle),
        "{flavour}: {needle:?} not in {err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.contains("DAMAGED")).count(),
        1,
        "{err}"
    );
    assert!(
        !dest.join("size-20000").exists(),
        "a damaged file must not appear under its name"
    );
    assert_no_temp_files(&dest);
    let mut want = expected(flavour);
    want.remove("size-20000");
    assert_same_tree(&snapshot(&dest), &want, flavour);
}

#[test]
fn bit_flip_in_the_header_file_id() {
    tampered_file_is_reported("default", |_, _| 7, "block 0: authentication failed");
}

#[test]
fn bit_flip_in_the_header_version() {
    tampered_file_is_reported("default", |_, _| 1, "file header has version 3");
}

#[test]
fn bit_flip_in_a_nonce() {
    for flavour in ["default", "aessiv", "xchacha"] {
        tampered_file_is_reported(
            flavour,
            |cbs, _| 18 + 2 * cbs as u64 + 3,
            "block 2: authentication failed",
        );
    }
}

#[test]
fn bit_flip_in_ciphertext() {
    for flavour in ["default", "aessiv", "xchacha"] {
        tampered_file_is_reported(
            flavour,
            |cbs, _| 18 + 3 * cbs as u64 + 1000,
            "block 3: authentication failed",
        );
    }
}

#[test]
fn bit_flip_in_the_tag() {
    // The GCM/Poly1305 tag ends each block; the SIV tag follows the nonce.
    tampered_file_is_reported(
        "default",
        |_, len| len as u64 - 1,
        "block 4: authentication failed",
    );
    tampered_file_is_reported(
        "xchacha",
        |_, len| len as u64 - 5,
        "block 4: authentication failed",
    );
    tampered_file_is_reported(
        "aessiv",
        |cbs, _| 18 + 4 * cbs as u64 + 16 + 4,
        "block 4: authentication failed",
    );
}

#[test]
fn truncated_files() {
    let (tmp, vault) = unpack("default");
    let cut_mid_tag = cipher_path_of(&vault, "size-20000");
    fs::OpenOptions::new()
        .write(true)
        .open(&cut_mid_tag)
        .expect("open")
        .set_len(18 + 2 * 4128 + 10)
        .expect("cut");
    let header_only = cipher_path_of(&vault, "size-4097");
    fs::OpenOptions::new()
        .write(true)
        .open(&header_only)
        .expect("open")
        .set_len(18)
        .expect("cut");
    let dest = tmp.path().join("out");
    let out = decrypt(&vault, &dest, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("DAMAGED size-20000: block 2 is cut off (10 bytes"),
        "{err}"
    );
    assert!(
        err.contains("DAMAGED size-4097: file has a header but no data"),
        "{err}"
    );
    assert!(!dest.join("size-20000").exists() && !dest.join("size-4097").exists());
}

#[test]
fn a_cut_at_a_block_boundary_is_invisible_to_gocryptfs_crypto() {
    // gocryptfs authenticates blocks, not file length: a file cut exactly
    // between blocks decrypts cleanly, just shorter. Only a manifest of
    // plaintext hashes (vaultdrill manifest) can catch this.
    let (tmp, vault) = unpack("default");
    let victim = cipher_path_of(&vault, "size-20000");
    fs::OpenOptions::new()
        .write(true)
        .open(&victim)
        .expect("open")
        .set_len(18 + 2 * 4128)
        .expect("cut");
    let dest = tmp.path().join("out");
    assert_eq!(decrypt(&vault, &dest, &[]).status.code(), Some(0));
    assert_eq!(
        fs::metadata(dest.join("size-20000")).expect("meta").len(),
        8192
    );
}

// ---- names and directory metadata ----

#[test]
fn missing_diriv_reports_that_directory_and_restores_the_rest() {
    let (tmp, vault) = unpack("default");
    let dir = cipher_path_of(&vault, "deep/a");
    let mtime = filetime::FileTime::from_last_modification_time(&fs::metadata(&dir).expect("meta"));
    fs::remove_file(dir.join("gocryptfs.diriv")).expect("rm");
    // Keep the directory's mtime (the plaintext mtime) as it was.
    filetime::set_file_mtime(&dir, mtime).expect("mtime");
    let dest = tmp.path().join("out");
    let out = decrypt(&vault, &dest, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "one line per entry of deep/a (b/ and link-up): {err}"
    );
    assert!(lines.iter().all(|l| {
        l.starts_with("vaultdrill: DAMAGED deep/a/?: the directory's gocryptfs.diriv is missing")
    }));
    let mut want = expected("default");
    want.retain(|p, _| !p.starts_with("deep/a/"));
    assert_same_tree(&snapshot(&dest), &want, "missing diriv");
}

#[test]
fn damaged_diriv_is_named() {
    let (tmp, vault) = unpack("default");
    let dir = cipher_path_of(&vault, "deep/a");
    let iv = dir.join("gocryptfs.diriv");
    let mut perms = fs::metadata(&iv).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o644);
    fs::set_permissions(&iv, perms).expect("chmod");
    fs::write(&iv, [7u8; 15]).expect("write");
    let out = decrypt(&vault, &tmp.path().join("out"), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("gocryptfs.diriv has 15 bytes, expected 16"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn missing_and_swapped_long_name_sidecars() {
    let (tmp, vault) = unpack("default");
    let long = cipher_path_of(&vault, &format!("len176-{}", "x".repeat(169)));
    let long255 = cipher_path_of(&vault, &format!("len255-{}", "x".repeat(248)));
    let longdir = cipher_path_of(&vault, &"D".repeat(176));
    let side = |p: &PathBuf| PathBuf::from(format!("{}.name", p.display()));
    // Swap the content of two sidecars: each now names the other's entry.
    let a = fs::read(side(&long)).expect("sidecar");
    let b = fs::read(side(&long255)).expect("sidecar");
    fs::remove_file(side(&long)).expect("rm");
    fs::remove_file(side(&long255)).expect("rm");
    fs::write(side(&long255), a).expect("write");
    // And one directory whose sidecar is simply gone.
    fs::remove_file(side(&longdir)).expect("rm");
    drop(b);
    let out = decrypt(&vault, &tmp.path().join("out"), &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("long name without its .name sidecar"), "{err}");
    assert!(err.contains("belongs to another entry"), "{err}");
    assert_eq!(err.lines().count(), 3, "{err}");
}

#[test]
fn hostile_names_are_never_written() {
    let (tmp, vault) = unpack("default");
    let key_text = fs::read(masterkey_file("default")).expect("key");
    let mk = MasterKey::parse(&key_text).expect("key parses");
    let names = NameCipher::new(&mk, true, NameEncoding::Raw64);
    let iv = DirIv::parse(&fs::read(vault.join("gocryptfs.diriv")).expect("diriv")).expect("iv");
    let real_file = cipher_path_of(&vault, "size-1");
    let hostile: [&[u8]; 6] = [
        b"..",
        b".",
        b"../escaped",
        b"a/b",
        b"nul\0byte",
        &[b'L'; 256],
    ];
    for plain in hostile {
        let cname = names.encrypt_unchecked(plain, &iv);
        let on_disk = if longname::needs_hashing(&cname, 255) {
            let hashed = longname::hashed_name(&cname, NameEncoding::Raw64);
            fs::write(vault.join(longname::sidecar_name(&hashed)), &cname).expect("sidecar");
            hashed
        } else {
            cname
        };
        // Real, authenticated content under a hostile name.
        fs::copy(&real_file, vault.join(on_disk)).expect("copy");
    }
    let dest = tmp.path().join("out");
    let out = decrypt(&vault, &dest, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.lines()
            .filter(|l| l.starts_with("vaultdrill: DAMAGED (vault root)/?: "))
            .count(),
        6,
        "{err}"
    );
    // The 256-byte name is too long even for a sidecar; the rest fail validation.
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("decrypts to a forbidden name"))
            .count(),
        5,
        "{err}"
    );
    // Nothing beside the destination, and the tree inside is the original.
    let beside: Vec<_> = fs::read_dir(tmp.path())
        .expect("ls")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(beside.len(), 2, "only vault/ and out/: {beside:?}");
    assert_same_tree(&snapshot(&dest), &expected("default"), "hostile names");
}

#[test]
fn a_name_stored_in_the_wrong_form_is_reported_and_the_real_entry_restored() {
    // gocryptfs looks names up by re-encrypting them: a short name stored
    // as a long name (a moved or crafted entry) cannot be opened through a
    // mount, and `gocryptfs -fsck` counts it as corrupt. So does vaultdrill,
    // and the canonical entry with that name wins.
    let (tmp, vault) = unpack("default");
    let key_text = fs::read(masterkey_file("default")).expect("key");
    let mk = MasterKey::parse(&key_text).expect("key parses");
    let names = NameCipher::new(&mk, true, NameEncoding::Raw64);
    let iv = DirIv::parse(&fs::read(vault.join("gocryptfs.diriv")).expect("diriv")).expect("iv");
    let cname = names.encrypt(b"size-1", &iv).expect("encrypt");
    let hashed = longname::hashed_name(&cname, NameEncoding::Raw64);
    fs::write(vault.join(longname::sidecar_name(&hashed)), &cname).expect("sidecar");
    fs::copy(cipher_path_of(&vault, "size-4096"), vault.join(&hashed)).expect("copy");
    let dest = tmp.path().join("out");
    let out = decrypt(&vault, &dest, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("DAMAGED (vault root)/?: the name decrypts but is not stored the way gocryptfs stores it"), "{err}");
    assert_eq!(fs::metadata(dest.join("size-1")).expect("meta").len(), 1);
}

#[test]
fn a_fifo_in_place_of_metadata_files_does_not_hang() {
    let (tmp, vault) = unpack("default");
    let dir = cipher_path_of(&vault, "deep/a");
    let long = cipher_path_of(&vault, &format!("len255-{}", "x".repeat(248)));
    let iv = dir.join("gocryptfs.diriv");
    fs::remove_file(&iv).expect("rm");
    let status = std::process::Command::new("mkfifo")
        .arg(&iv)
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let sidecar = PathBuf::from(format!("{}.name", long.display()));
    fs::remove_file(&sidecar).expect("rm");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&sidecar)
            .status()
            .expect("mkfifo")
            .success()
    );
    let out = vaultdrill()
        .arg("decrypt")
        .arg(&vault)
        .arg(tmp.path().join("out"))
        .arg("--passfile")
        .arg(password_file())
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .expect("run");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("gocryptfs.diriv is not a regular file"),
        "{err}"
    );
    assert!(
        err.contains("the .name sidecar is not a regular file"),
        "{err}"
    );
}

#[test]
fn right_master_key_on_a_damaged_vault_reports_damage_not_a_wrong_key() {
    let (tmp, vault) = unpack("default");
    for name in [
        "size-1",
        "size-4095",
        "size-4096",
        "size-4097",
        "size-20000",
        "sparse",
    ] {
        flip_byte(&cipher_path_of(&vault, name), 30);
    }
    let out = vaultdrill()
        .arg("decrypt")
        .arg(&vault)
        .arg(tmp.path().join("out"))
        .arg("--masterkey-file")
        .arg(masterkey_file("default"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn setuid_bits_and_device_nodes_need_explicit_consent() {
    let (tmp, vault) = unpack("default");
    let script = cipher_path_of(&vault, "script.sh");
    let mut perms = fs::metadata(&script).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o4755);
    fs::set_permissions(&script, perms).expect("chmod");
    // A device node under a valid encrypted name (only metadata: no key needed to plant it).
    let key_text = fs::read(masterkey_file("default")).expect("key");
    let mk = MasterKey::parse(&key_text).expect("key parses");
    let names = NameCipher::new(&mk, true, NameEncoding::Raw64);
    let iv = DirIv::parse(&fs::read(vault.join("gocryptfs.diriv")).expect("diriv")).expect("iv");
    let dev = vault.join(names.encrypt(b"disk", &iv).expect("encrypt"));
    let made = std::process::Command::new("mknod")
        .arg(&dev)
        .args(["c", "1", "3"])
        .status()
        .expect("mknod");
    assert!(made.success(), "tests run as root (FUSE needs it too)");

    let dest = tmp.path().join("out");
    let out = decrypt(&vault, &dest, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("SKIPPED disk: device files (without --devices) are not restored"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("setuid/setgid bits cleared on 1 files"));
    let mode = fs::metadata(dest.join("script.sh"))
        .expect("meta")
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o7777,
        0o755
    );
    assert!(!dest.join("disk").exists());

    let dest2 = tmp.path().join("out2");
    let out = decrypt(&vault, &dest2, &["--keep-setuid", "--devices"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mode = fs::metadata(dest2.join("script.sh"))
        .expect("meta")
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o7777,
        0o4755
    );
    use std::os::unix::fs::FileTypeExt;
    assert!(
        fs::symlink_metadata(dest2.join("disk"))
            .expect("dev")
            .file_type()
            .is_char_device()
    );
}

#[test]
fn a_closed_stdout_does_not_hide_damage() {
    let (tmp, vault) = unpack("default");
    flip_byte(&cipher_path_of(&vault, "size-4097"), 40);
    for json in [false, true] {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("vaultdrill"));
        cmd.arg("decrypt")
            .arg(&vault)
            .arg(tmp.path().join(format!("out-{json}")))
            .arg("--passfile")
            .arg(password_file())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        if json {
            cmd.arg("--json");
        }
        let mut child = cmd.spawn().expect("spawn");
        drop(child.stdout.take()); // the reader goes away at once
        let status = child.wait().expect("wait");
        assert_eq!(status.code(), Some(1), "json={json}");
    }
}

// ---- destinations ----

#[test]
fn destination_guards() {
    let (tmp, vault) = unpack("default");
    assert_one_line_error(
        &decrypt(&vault, &vault.join("restored"), &[]),
        2,
        "inside the vault",
    );
    assert_one_line_error(
        &decrypt(&vault, &vault.join("x/../y"), &[]),
        2,
        "inside the vault",
    );
    let busy = tmp.path().join("busy");
    fs::create_dir(&busy).expect("mkdir");
    fs::write(busy.join("keep-me"), "precious").expect("write");
    assert_one_line_error(&decrypt(&vault, &busy, &[]), 2, "not empty");
    assert_eq!(
        fs::read_to_string(busy.join("keep-me")).expect("read"),
        "precious"
    );
    let file = tmp.path().join("file");
    fs::write(&file, "x").expect("write");
    assert_one_line_error(&decrypt(&vault, &file, &[]), 2, "not a directory");
    // An empty existing folder is fine.
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).expect("mkdir");
    assert_eq!(decrypt(&vault, &empty, &[]).status.code(), Some(0));
}

#[test]
fn json_summary_lists_problems_and_status() {
    let (tmp, vault) = unpack("default");
    flip_byte(&cipher_path_of(&vault, "size-4097"), 18 + 4128 + 20);
    let out = decrypt(&vault, &tmp.path().join("out"), &["--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["status"], "damaged");
    assert_eq!(v["exit_code"], 1);
    assert_eq!(v["problems"][0]["path"], "size-4097");
    assert_eq!(
        v["problems"][0]["problem"],
        "block 1: authentication failed"
    );
    assert_eq!(v["files"], 26);
}
