//! Vaults created and re-keyed by vaultdrill, checked with the real
//! gocryptfs 2.3: it must mount what `vaultdrill init` wrote, in every mode,
//! and read back every byte; `vaultdrill passwd` must leave a config it
//! opens with the new password. Never skipped: without gocryptfs these fail.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use tempfile::TempDir;

struct Made {
    tmp: TempDir,
    cipher: PathBuf,
    passfile: PathBuf,
    kit: PathBuf,
}

fn init(args: &[&str]) -> Made {
    let tmp = TempDir::new().expect("tmp");
    let cipher = tmp.path().join("vault");
    let passfile = tmp.path().join("pass");
    let kit = tmp.path().join("recovery.md");
    fs::write(&passfile, format!("{PASSWORD}\n")).expect("write");
    let out = vaultdrill()
        .arg("init")
        .arg(&cipher)
        .args(["--scryptn", "10", "--passfile"])
        .arg(&passfile)
        .arg("--recovery-kit")
        .arg(&kit)
        .args(args)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "init {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Made {
        tmp,
        cipher,
        passfile,
        kit,
    }
}

/// The master key as the recovery sheet prints it (two indented lines).
fn kit_key(kit: &Path) -> String {
    let text = fs::read_to_string(kit).expect("kit");
    let after = text.split("## Master key\n\n").nth(1).expect("key section");
    after
        .lines()
        .take(2)
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("")
}

fn xray_key(config: &Path, passfile: &Path) -> String {
    run(Command::new(require("gocryptfs-xray"))
        .arg("-dumpmasterkey")
        .arg(config)
        .stdin(fs::File::open(passfile).expect("passfile")))
    .trim()
    .to_string()
}

fn decrypt_matches(
    cipher: &Path,
    args: &[std::ffi::OsString],
    expected: &std::collections::BTreeMap<String, Expected>,
    what: &str,
) {
    let out_dir = TempDir::new().expect("tmp");
    let dest = out_dir.path().join("restored");
    let out = vaultdrill()
        .arg("decrypt")
        .arg(cipher)
        .arg(&dest)
        .args(args)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_same_tree(&snapshot(&dest), expected, what);
}

fn mode_case(what: &str, init_args: &[&str], gocryptfs_flags: &[&str]) {
    let made = init(init_args);
    let info = run(Command::new(require("gocryptfs"))
        .arg("-info")
        .arg(&made.cipher));
    assert!(
        info.contains("Creator:           vaultdrill "),
        "{what}: {info}"
    );
    // The key shown to the user is the key gocryptfs finds in the config.
    let key = kit_key(&made.kit);
    assert_eq!(
        key.replace('-', ""),
        xray_key(&made.cipher.join("gocryptfs.conf"), &made.passfile),
        "{what}"
    );
    assert_eq!(
        fs::metadata(&made.kit).expect("kit").permissions().mode() & 0o777,
        0o600
    );

    let expected = {
        let mount = Mount::new(
            &[],
            &made.cipher,
            &made.tmp.path().join("mnt"),
            &made.passfile,
        );
        write_tree(&mount.point);
        snapshot(&mount.point)
    };
    decrypt_matches(
        &made.cipher,
        &["--passfile".into(), made.passfile.clone().into()],
        &expected,
        what,
    );
    let keyfile = made.tmp.path().join("key.txt");
    fs::write(&keyfile, &key).expect("key");
    decrypt_matches(
        &made.cipher,
        &["--masterkey-file".into(), keyfile.clone().into()],
        &expected,
        what,
    );

    // gocryptfs with the master key and the flags the sheet lists, as if
    // the config were lost.
    let sheet = fs::read_to_string(&made.kit).expect("kit");
    let line = format!(
        "gocryptfs -masterkey=stdin {}",
        gocryptfs_flags
            .iter()
            .map(|f| format!("{f} "))
            .collect::<String>()
    );
    assert!(
        sheet.contains(&line),
        "{what}: the sheet should say `{line}`"
    );
    let hidden = made.tmp.path().join("gocryptfs.conf.away");
    fs::rename(made.cipher.join("gocryptfs.conf"), &hidden).expect("hide config");
    let point = made.tmp.path().join("mnt2");
    fs::create_dir(&point).expect("mkdir");
    // Exactly the sheet's command line, run by a shell.
    let command = format!(
        "tr -d ' \\n' < \"$1\" | {} -q -nosyslog -ro -masterkey=stdin {} \"$2\" \"$3\"",
        require("gocryptfs").display(),
        gocryptfs_flags.join(" ")
    );
    let status = Command::new("sh")
        .arg("-c")
        .arg(command)
        .arg("sh")
        .arg(&keyfile)
        .arg(&made.cipher)
        .arg(&point)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("gocryptfs");
    assert!(
        status.success(),
        "{what}: gocryptfs -masterkey with the sheet's flags"
    );
    let mounted = Mount { point };
    assert_same_tree(
        &snapshot(&mounted.point),
        &expected,
        &format!("{what} via gocryptfs -masterkey"),
    );
}

#[test]
fn init_default() {
    mode_case("default", &[], &[]);
}

#[test]
fn init_plaintextnames() {
    mode_case(
        "--plaintextnames",
        &["--plaintextnames"],
        &["-plaintextnames"],
    );
}

#[test]
fn init_aessiv() {
    mode_case("--aessiv", &["--aessiv"], &["-aessiv"]);
}

#[test]
fn init_xchacha() {
    mode_case("--xchacha", &["--xchacha"], &["-xchacha"]);
}

#[test]
fn init_deterministic_names() {
    mode_case(
        "--deterministic-names",
        &["--deterministic-names"],
        &["-deterministic-names"],
    );
}

#[test]
fn init_longnamemax() {
    mode_case(
        "--longnamemax 62",
        &["--longnamemax", "62"],
        &["-longnamemax 62"],
    );
}

#[test]
fn init_reverse() {
    let tmp = TempDir::new().expect("tmp");
    let plain = tmp.path().join("plain");
    fs::create_dir(&plain).expect("mkdir");
    write_tree(&plain);
    let expected = snapshot(&plain);
    let passfile = tmp.path().join("pass");
    fs::write(&passfile, format!("{PASSWORD}\n")).expect("write");
    let out = vaultdrill()
        .args([
            "init",
            "--reverse",
            "--scryptn",
            "10",
            "--print-masterkey",
            "--passfile",
        ])
        .arg(&passfile)
        .arg(&plain)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(plain.join(".gocryptfs.reverse.conf").is_file());
    let cipher = tmp.path().join("cipher");
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
    decrypt_matches(
        &cipher,
        &["--passfile".into(), passfile.into()],
        &expected,
        "init --reverse",
    );
}

#[test]
fn init_refuses_to_overwrite_or_to_lose_the_key() {
    let made = init(&[]);
    let before = fs::read(made.cipher.join("gocryptfs.conf")).expect("config");
    let again = |dir: &Path, extra: &[&str]| {
        vaultdrill()
            .arg("init")
            .arg(dir)
            .args(["--scryptn", "10", "--print-masterkey", "--passfile"])
            .arg(&made.passfile)
            .args(extra)
            .output()
            .expect("run")
    };
    let out = again(&made.cipher, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("a config already exists here"));
    assert_eq!(
        fs::read(made.cipher.join("gocryptfs.conf")).expect("config"),
        before
    );

    let busy = made.tmp.path().join("busy");
    fs::create_dir(&busy).expect("mkdir");
    fs::write(busy.join("file"), "x").expect("write");
    let out = again(&busy, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));

    let plain = made.tmp.path().join("plain");
    fs::create_dir(&plain).expect("mkdir");
    assert_eq!(again(&plain, &["--reverse"]).status.code(), Some(0));
    let out = again(&plain, &["--reverse"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a second reverse init must not replace the config"
    );

    // Not a terminal and no --recovery-kit: refused before anything exists.
    let fresh = made.tmp.path().join("fresh");
    let out = vaultdrill()
        .arg("init")
        .arg(&fresh)
        .arg("--passfile")
        .arg(&made.passfile)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(!fresh.exists());
    // An existing recovery-sheet file is refused, and no vault is made.
    let out = vaultdrill()
        .arg("init")
        .arg(&fresh)
        .arg("--passfile")
        .arg(&made.passfile)
        .arg("--recovery-kit")
        .arg(&made.kit)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(!fresh.exists());
}

#[test]
fn passwd_with_the_old_password_and_with_the_master_key() {
    let made = init(&[]);
    let config = made.cipher.join("gocryptfs.conf");
    let new_pw = made.tmp.path().join("new");
    fs::write(&new_pw, "a brand new password\n").expect("write");
    let out = vaultdrill()
        .arg("passwd")
        .arg(&made.cipher)
        .arg("--passfile")
        .arg(&made.passfile)
        .arg("--new-passfile")
        .arg(&new_pw)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // gocryptfs opens the new config with the new password only; the
    // backup still opens with the old one.
    let key = kit_key(&made.kit).replace('-', "");
    assert_eq!(xray_key(&config, &new_pw), key);
    let old = Command::new(require("gocryptfs-xray"))
        .arg("-dumpmasterkey")
        .arg(&config)
        .stdin(fs::File::open(&made.passfile).expect("pw"))
        .output()
        .expect("xray");
    assert!(
        !old.status.success(),
        "the old password must no longer open the config"
    );
    assert_eq!(
        xray_key(&made.cipher.join("gocryptfs.conf.bak"), &made.passfile),
        key
    );

    // A second change refuses to overwrite the backup.
    let out = vaultdrill()
        .arg("passwd")
        .arg(&made.cipher)
        .arg("--passfile")
        .arg(&new_pw)
        .arg("--new-passfile")
        .arg(&made.passfile)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("a backup of the previous config already exists")
    );

    // Password forgotten: the master key sets a new one. gocryptfs mounts it.
    fs::remove_file(made.cipher.join("gocryptfs.conf.bak")).expect("rm");
    let keyfile = made.tmp.path().join("key.txt");
    fs::write(&keyfile, kit_key(&made.kit)).expect("key");
    let third = made.tmp.path().join("third");
    fs::write(&third, "third password\n").expect("write");
    let passwd_with_key = |extra: &[&str]| {
        vaultdrill()
            .arg("passwd")
            .arg(&made.cipher)
            .arg("--masterkey-file")
            .arg(&keyfile)
            .arg("--new-passfile")
            .arg(&third)
            .args(extra)
            .output()
            .expect("run")
    };
    // An empty vault cannot prove a key: a typo would become the vault's key.
    let out = passwd_with_key(&[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("nothing in this vault proves the master key")
    );
    {
        let mount = Mount::new(&[], &made.cipher, &made.tmp.path().join("mnt0"), &new_pw);
        fs::write(
            mount.point.join("data.txt"),
            "something to check the key against",
        )
        .expect("write");
    }
    let out = vaultdrill()
        .arg("passwd")
        .arg(&made.cipher)
        .arg("--masterkey-file")
        .arg(&keyfile)
        .arg("--new-passfile")
        .arg(&third)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mount = Mount::new(&[], &made.cipher, &made.tmp.path().join("mnt"), &third);
    fs::write(
        mount.point.join("proof.txt"),
        "mounted with the third password",
    )
    .expect("write through gocryptfs");
}

#[test]
fn passwd_on_a_vault_made_by_gocryptfs_keeps_its_flags() {
    for flavour in ["legacy", "aessiv", "longnamemax62"] {
        let (tmp, vault) = unpack(flavour);
        let new_pw = tmp.path().join("new");
        fs::write(&new_pw, "changed\n").expect("write");
        let out = vaultdrill()
            .arg("passwd")
            .arg(&vault)
            .arg("--passfile")
            .arg(password_file())
            .arg("--new-passfile")
            .arg(&new_pw)
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{flavour}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let old = fs::read_to_string(vault.join("gocryptfs.conf.bak")).expect("bak");
        let new = fs::read_to_string(vault.join("gocryptfs.conf")).expect("conf");
        let flags = |s: &str| s.split("\"FeatureFlags\"").nth(1).map(str::to_string);
        assert_eq!(flags(&old), flags(&new), "{flavour}: flags unchanged");
        let expected_key = fs::read_to_string(masterkey_file(flavour))
            .expect("key")
            .trim()
            .replace('-', "");
        assert_eq!(
            xray_key(&vault.join("gocryptfs.conf"), &new_pw),
            expected_key,
            "{flavour}"
        );
        let out_dir = TempDir::new().expect("tmp");
        vaultdrill()
            .arg("decrypt")
            .arg(&vault)
            .arg(out_dir.path().join("out"))
            .arg("--passfile")
            .arg(&new_pw)
            .assert()
            .code(0);
    }
}

#[test]
fn passwd_with_a_wrong_password_changes_nothing() {
    let made = init(&[]);
    let before = fs::read(made.cipher.join("gocryptfs.conf")).expect("config");
    let wrong = made.tmp.path().join("wrong");
    fs::write(&wrong, "nope\n").expect("write");
    let out = vaultdrill()
        .arg("passwd")
        .arg(&made.cipher)
        .arg("--passfile")
        .arg(&wrong)
        .arg("--new-passfile")
        .arg(&wrong)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        fs::read(made.cipher.join("gocryptfs.conf")).expect("config"),
        before
    );
    assert!(!made.cipher.join("gocryptfs.conf.bak").exists());
}

#[test]
fn regen_config_writes_a_config_gocryptfs_mounts() {
    for flavour in [
        "default",
        "plaintextnames",
        "aessiv",
        "xchacha",
        "deterministic",
        "longnamemax62",
        "legacy",
    ] {
        let (tmp, vault) = unpack(flavour);
        fs::remove_file(vault.join("gocryptfs.conf")).expect("rm config");
        let new_pw = tmp.path().join("new");
        fs::write(&new_pw, "after the loss\n").expect("write");
        let out = vaultdrill()
            .args(["regen-config", "--scryptn", "10", "--masterkey-file"])
            .arg(masterkey_file(flavour))
            .arg("--new-passfile")
            .arg(&new_pw)
            .arg(&vault)
            // What the ciphertext cannot tell, the user says.
            .args(if flavour == "longnamemax62" {
                &["--longnamemax", "62"][..]
            } else {
                &[][..]
            })
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{flavour}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mount = Mount::new(&["-ro"], &vault, &tmp.path().join("mnt"), &new_pw);
        assert_same_tree(
            &snapshot(&mount.point),
            &expected(flavour),
            &format!("{flavour}: gocryptfs on the regenerated config"),
        );
    }
}

#[test]
fn regen_config_for_a_reverse_vault_from_an_exported_copy() {
    let tmp = TempDir::new().expect("tmp");
    let plain = tmp.path().join("plain");
    fs::create_dir(&plain).expect("mkdir");
    write_tree(&plain);
    let passfile = tmp.path().join("pass");
    fs::write(&passfile, format!("{PASSWORD}\n")).expect("write");
    gocryptfs_init(&plain, &passfile, &["-reverse"]);
    let key = tmp.path().join("key");
    fs::write(
        &key,
        xray_key(&plain.join(".gocryptfs.reverse.conf"), &passfile),
    )
    .expect("key");
    let export = |to: &Path, pw: &Path| {
        let mount = Mount::new(&["-reverse", "-ro"], &plain, &tmp.path().join("mnt"), pw);
        fs::create_dir(to).expect("mkdir");
        run(Command::new("cp")
            .arg("-a")
            .arg(mount.point.join("."))
            .arg(to));
    };
    let before = tmp.path().join("export-before");
    export(&before, &passfile);
    fs::remove_file(plain.join(".gocryptfs.reverse.conf")).expect("lose the config");
    fs::remove_file(before.join("gocryptfs.conf")).expect("the export's copy is lost too");
    let new_pw = tmp.path().join("new");
    fs::write(&new_pw, "new reverse password\n").expect("write");
    let out = vaultdrill()
        .args(["regen-config", "--scryptn", "10", "--masterkey-file"])
        .arg(&key)
        .arg("--new-passfile")
        .arg(&new_pw)
        .arg("--reverse-plaindir")
        .arg(&plain)
        .arg(&before)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Reverse mode is deterministic: with the rebuilt config, gocryptfs
    // shows exactly the same encrypted view as before the loss.
    let after = tmp.path().join("export-after");
    export(&after, &new_pw);
    fs::remove_file(after.join("gocryptfs.conf")).expect("rm");
    let (a, b) = (snapshot(&before), snapshot(&after));
    assert_eq!(a.len(), b.len());
    for (path, entry) in &a {
        let other = &b[path];
        assert_eq!(
            (&entry.kind, &entry.sha256, &entry.target, entry.size),
            (&other.kind, &other.sha256, &other.target, other.size),
            "{path}"
        );
    }
}
