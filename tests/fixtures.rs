//! The read path against vaults the real gocryptfs 2.3 wrote
//! (testdata/make-fixtures.sh): every flavour, with the password and with
//! the master key, must reproduce exactly what the gocryptfs mount showed.

mod common;

use std::collections::BTreeSet;
use std::fs;

use common::*;
use vaultdrill::format::VaultConfig;

fn decrypt_and_compare(flavour: &str, secret_args: &[std::ffi::OsString]) {
    let (tmp, vault) = unpack(flavour);
    let dest = tmp.path().join("out");
    let out = vaultdrill()
        .arg("decrypt")
        .arg(&vault)
        .arg(&dest)
        .args(secret_args)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{flavour}: decrypt failed\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Every block authenticated"));
    assert_same_tree(&snapshot(&dest), &expected(flavour), flavour);
    assert_no_temp_files(&dest);
}

#[test]
fn every_flavour_decrypts_with_the_password() {
    for flavour in FLAVOURS {
        decrypt_and_compare(flavour, &["--passfile".into(), password_file().into()]);
    }
}

#[test]
fn every_flavour_decrypts_with_the_master_key() {
    for flavour in FLAVOURS {
        decrypt_and_compare(
            flavour,
            &["--masterkey-file".into(), masterkey_file(flavour).into()],
        );
    }
}

#[test]
fn ls_lists_what_the_mount_showed_with_plaintext_sizes() {
    for flavour in FLAVOURS {
        let (_tmp, vault) = unpack(flavour);
        let out = vaultdrill()
            .args(["ls", "--json", "--passfile"])
            .arg(password_file())
            .arg(&vault)
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{flavour}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut listed = BTreeSet::new();
        for line in out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let v: serde_json::Value = serde_json::from_slice(line).expect("json");
            listed.insert((
                v["path"].as_str().expect("path").to_string(),
                v["type"].as_str().expect("type").to_string(),
                v["size"].as_u64(),
                v["mtime_ns"].as_i64().map(i128::from),
            ));
        }
        let want: BTreeSet<_> = expected(flavour)
            .into_values()
            .map(|e| {
                let size = match e.kind.as_str() {
                    "symlink" => e.target.as_ref().map(|t| t.len() as u64),
                    _ => e.size,
                };
                (e.path, e.kind, size, Some(e.mtime_ns))
            })
            .collect();
        assert_eq!(listed, want, "{flavour}");
    }
}

#[test]
fn ls_text_escapes_control_characters_in_names() {
    let (_tmp, vault) = unpack("default");
    let out = vaultdrill()
        .args(["ls", "--passfile"])
        .arg(password_file())
        .arg(&vault)
        .output()
        .expect("run");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains("  new\\nline\n"), "{text}");
    assert!(text.contains("  tab\\there\n"), "{text}");
    assert!(
        text.contains("link-rel -> deep/a/b/c/d/e/leaf.txt"),
        "{text}"
    );
    assert!(text.contains("dr-x------"), "locked dir mode shown: {text}");
}

#[test]
fn configs_written_by_gocryptfs_round_trip_byte_for_byte() {
    for flavour in FLAVOURS {
        let path = testdata()
            .join("vaults")
            .join(flavour)
            .join("gocryptfs.conf");
        let bytes = fs::read(&path).expect("read config");
        let config = VaultConfig::parse(&bytes).expect("parse");
        assert_eq!(
            config.to_gocryptfs_json().as_bytes(),
            &bytes[..],
            "{flavour}"
        );
    }
}

#[test]
fn info_reports_cipher_and_name_mode_without_secrets() {
    let cases = [
        ("default", "AES-GCM-256", "per-directory IV"),
        ("aessiv", "AES-SIV-512", "per-directory IV"),
        ("xchacha", "XChaCha20-Poly1305", "unpadded base64url"),
        ("deterministic", "AES-GCM-256", "deterministic (no diriv)"),
        ("longnamemax62", "AES-GCM-256", "longer than 62 characters"),
        ("legacy", "AES-GCM-256", "padded base64url"),
        ("plaintextnames", "AES-GCM-256", "plaintext names"),
    ];
    for (flavour, cipher, names) in cases {
        let (_tmp, vault) = unpack(flavour);
        let out = vaultdrill().arg("info").arg(&vault).output().expect("run");
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).expect("utf-8");
        assert!(
            text.contains(&format!("contentEncryption: {cipher}\n")),
            "{flavour}: {text}"
        );
        assert!(text.contains(names), "{flavour}: {text}");
        let key = fs::read_to_string(masterkey_file(flavour)).expect("key");
        assert!(!text.contains(key.trim()) && !text.contains(&key.trim().replace('-', "")));
    }
    let (_tmp, vault) = unpack("legacy");
    let out = vaultdrill()
        .args(["info", "--json"])
        .arg(&vault)
        .output()
        .expect("run");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["hkdf"], false);
    assert_eq!(v["encrypted_key_bytes"], 60);
    assert_eq!(v["names"]["raw64"], false);
    assert_eq!(v["scrypt"]["n"], 1024);
}

#[test]
fn info_reads_the_plaintext_side_of_a_reverse_vault() {
    let tmp = tempfile::TempDir::new().expect("tmp");
    fs::copy(
        testdata().join("vaults/reverse/gocryptfs.conf"),
        tmp.path().join(".gocryptfs.reverse.conf"),
    )
    .expect("copy");
    let out = vaultdrill()
        .args(["info", "--json"])
        .arg(tmp.path())
        .output()
        .expect("run");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["kind"], "reverse");
    assert_eq!(v["content_encryption"], "AES-SIV-512");
    // ...but decrypting it makes no sense: that folder is plaintext.
    let out = vaultdrill()
        .args(["ls", "--passfile"])
        .arg(password_file())
        .arg(tmp.path())
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("plaintext folder of a reverse vault"));
}

#[test]
fn decrypt_selected_paths_only() {
    let (tmp, vault) = unpack("default");
    let dest = tmp.path().join("out");
    vaultdrill()
        .arg("decrypt")
        .arg(&vault)
        .arg(&dest)
        .args([
            "--path",
            "deep/a/b",
            "--path",
            "/size-4097",
            "--path",
            "locked",
        ])
        .arg("--passfile")
        .arg(password_file())
        .assert()
        .code(0);
    let got = snapshot(&dest);
    let want_all = expected("default");
    let paths: BTreeSet<&str> = got.keys().map(String::as_str).collect();
    let expected_paths: BTreeSet<&str> = [
        "deep",
        "deep/a",
        "deep/a/b",
        "deep/a/b/c",
        "deep/a/b/c/d",
        "deep/a/b/c/d/e",
        "deep/a/b/c/d/e/leaf.txt",
        "size-4097",
        "locked",
        "locked/inside",
    ]
    .into_iter()
    .collect();
    assert_eq!(paths, expected_paths);
    for (path, entry) in &got {
        assert_eq!(entry, &want_all[path], "{path}");
    }
}

#[test]
fn a_path_that_matches_nothing_is_a_usage_error() {
    let (tmp, vault) = unpack("default");
    let out = vaultdrill()
        .arg("decrypt")
        .arg(&vault)
        .arg(tmp.path().join("out"))
        .args(["--path", "no/such/file", "--passfile"])
        .arg(password_file())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("nothing in the vault matches --path no/such/file")
    );
}

#[test]
fn the_demo_vault_decrypts() {
    let tmp = tempfile::TempDir::new().expect("tmp");
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo");
    vaultdrill()
        .arg("decrypt")
        .arg(demo.join("vault"))
        .arg(tmp.path().join("out"))
        .arg("--passfile")
        .arg(demo.join("password"))
        .assert()
        .code(0);
    let thesis = fs::read_to_string(tmp.path().join("out/thesis/thesis.md")).expect("thesis");
    assert!(thesis.starts_with("# My thesis"));
    assert_eq!(
        fs::metadata(tmp.path().join("out/photos/2024/beach.raw"))
            .expect("photo")
            .len(),
        256 * 1024
    );
}

// ---- a lost gocryptfs.conf ----

fn regen_json(
    vault: &std::path::Path,
    key: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    vaultdrill()
        .args(["regen-config", "--dry-run", "--json", "--masterkey-file"])
        .arg(key)
        .arg(vault)
        .args(extra)
        .output()
        .expect("run")
}

#[test]
fn regen_config_detects_every_flavour_from_ciphertext_alone() {
    for flavour in FLAVOURS {
        let (_tmp, vault) = unpack(flavour);
        fs::remove_file(vault.join("gocryptfs.conf")).expect("rm config");
        let out = regen_json(&vault, &masterkey_file(flavour), &[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{flavour}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let original = VaultConfig::parse(
            &fs::read(
                testdata()
                    .join("vaults")
                    .join(flavour)
                    .join("gocryptfs.conf"),
            )
            .expect("conf"),
        )
        .expect("parse");
        let want: Vec<&str> = original.flags().iter().map(|f| f.as_str()).collect();
        let got: Vec<&str> = v["feature_flags"]
            .as_array()
            .expect("flags")
            .iter()
            .map(|f| f.as_str().expect("str"))
            .collect();
        assert_eq!(got, want, "{flavour}");
        assert!(v["written"].is_null());
        assert!(
            vault
                .read_dir()
                .expect("ls")
                .all(|e| e.expect("e").file_name() != "gocryptfs.conf"),
            "dry run writes nothing"
        );
    }
}

#[test]
fn decrypt_with_the_master_key_needs_no_config() {
    for flavour in FLAVOURS {
        let (tmp, vault) = unpack(flavour);
        fs::remove_file(vault.join("gocryptfs.conf")).expect("rm config");
        let dest = tmp.path().join("out");
        let out = vaultdrill()
            .arg("decrypt")
            .arg(&vault)
            .arg(&dest)
            .arg("--masterkey-file")
            .arg(masterkey_file(flavour))
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{flavour}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains("gocryptfs.conf is missing; flags detected")
        );
        assert_same_tree(&snapshot(&dest), &expected(flavour), flavour);
    }
}

#[test]
fn regen_config_refuses_a_wrong_key_and_names_what_it_cannot_tell() {
    let (_tmp, vault) = unpack("default");
    fs::remove_file(vault.join("gocryptfs.conf")).expect("rm config");
    let out = regen_json(&vault, &masterkey_file("aessiv"), &[]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("the master key authenticates nothing"));

    // Only names and empty files left: the key is proven by the names, but
    // only file data tells the cipher.
    for e in walkdir::WalkDir::new(&vault)
        .into_iter()
        .map(|e| e.expect("walk"))
    {
        let meta = fs::symlink_metadata(e.path()).expect("meta");
        let name = e.file_name().to_string_lossy();
        if (meta.is_file()
            && meta.len() > 18
            && name != "gocryptfs.diriv"
            && !name.ends_with(".name"))
            || meta.file_type().is_symlink()
        {
            fs::remove_file(e.path()).expect("rm");
        }
    }
    let out = regen_json(&vault, &masterkey_file("default"), &[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot tell the content cipher"));
    let out = regen_json(&vault, &masterkey_file("default"), &["--gcm"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // An empty vault proves nothing.
    let empty = tempfile::TempDir::new().expect("tmp");
    let out = regen_json(empty.path(), &masterkey_file("default"), &[]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn regen_config_never_replaces_a_config() {
    let (_tmp, vault) = unpack("default");
    let before = fs::read(vault.join("gocryptfs.conf")).expect("conf");
    let out = vaultdrill()
        .args(["regen-config", "--masterkey-file"])
        .arg(masterkey_file("default"))
        .arg("--new-passfile")
        .arg(password_file())
        .arg(&vault)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("regen-config never replaces one"));
    assert_eq!(
        fs::read(vault.join("gocryptfs.conf")).expect("conf"),
        before
    );
}

#[test]
fn writing_commands_refuse_guessed_flags() {
    // encrypt with a master key and no config: a wrongly guessed flag would
    // make new names unreadable once the real config is back.
    let (tmp, vault) = unpack("default");
    fs::remove_file(vault.join("gocryptfs.conf")).expect("rm");
    let plain = tmp.path().join("plain");
    fs::create_dir(&plain).expect("mkdir");
    fs::write(plain.join("new.txt"), b"x").expect("write");
    let out = vaultdrill()
        .arg("encrypt")
        .arg(&plain)
        .arg(&vault)
        .arg("--masterkey-file")
        .arg(masterkey_file("default"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("writing needs the vault's real flags"));

    // regen-config names what it had to assume and waits for a decision.
    let (tmp, vault) = unpack("longnamemax62");
    fs::remove_file(vault.join("gocryptfs.conf")).expect("rm");
    let pw = tmp.path().join("pw");
    fs::write(&pw, "new\n").expect("write");
    let regen = |extra: &[&str]| {
        vaultdrill()
            .args(["regen-config", "--scryptn", "10", "--masterkey-file"])
            .arg(masterkey_file("longnamemax62"))
            .arg("--new-passfile")
            .arg(&pw)
            .arg(&vault)
            .args(extra)
            .output()
            .expect("run")
    };
    let out = regen(&[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot tell LongNameMax"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("62 (assumed)"));
    assert!(!vault.join("gocryptfs.conf").exists());
    let out = regen(&["--longnamemax", "62"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conf =
        VaultConfig::parse(&fs::read(vault.join("gocryptfs.conf")).expect("conf")).expect("parse");
    assert_eq!(conf.long_name_max, 62);
}

#[test]
fn names_alone_do_not_prove_a_wrong_key() {
    let (_tmp, vault) = unpack("default");
    fs::remove_file(vault.join("gocryptfs.conf")).expect("rm");
    for e in walkdir::WalkDir::new(&vault)
        .into_iter()
        .map(|e| e.expect("walk"))
    {
        let meta = fs::symlink_metadata(e.path()).expect("meta");
        let name = e.file_name().to_string_lossy();
        if (meta.is_file()
            && meta.len() > 18
            && name != "gocryptfs.diriv"
            && !name.ends_with(".name"))
            || meta.file_type().is_symlink()
        {
            fs::remove_file(e.path()).expect("rm");
        }
    }
    // With 255 wrong keys, none may pass as proven.
    let tmp = tempfile::TempDir::new().expect("tmp");
    for i in 0..255u8 {
        let key = tmp.path().join(format!("k{i}"));
        fs::write(&key, blake3::hash(&[i]).to_hex().as_str()).expect("key");
        let out = vaultdrill()
            .args(["regen-config", "--dry-run", "--gcm", "--masterkey-file"])
            .arg(&key)
            .arg(&vault)
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(3),
            "key {i} was taken as proven: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn regen_for_a_reverse_folder_refuses_a_forward_view() {
    let (tmp, vault) = unpack("default");
    fs::remove_file(vault.join("gocryptfs.conf")).expect("rm");
    let plain = tmp.path().join("plain");
    fs::create_dir(&plain).expect("mkdir");
    let out = vaultdrill()
        .args(["regen-config", "--dry-run", "--masterkey-file"])
        .arg(masterkey_file("default"))
        .arg("--reverse-plaindir")
        .arg(&plain)
        .arg(&vault)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not AES-SIV"));
}
