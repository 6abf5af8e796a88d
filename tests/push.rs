//! `vaultdrill push` to a local folder (an external disk): no rclone
//! needed. What lands there is the vault, byte for byte; a second push
//! sends only the change; every guard refuses before anything is touched;
//! the real gocryptfs mounts the copy.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::*;
use tempfile::TempDir;

fn push(state: &Path, source: &Path, remote: &str, extra: &[&str]) -> Run {
    run_json(
        vaultdrill()
            .env("VAULTDRILL_STATE_DIR", state)
            .arg("push")
            .arg(source)
            .arg(remote)
            .arg("--json")
            .arg("--passfile")
            .arg(password_file())
            .args(extra),
    )
}

/// Every file, symlink and folder under `root`: kind, size, mode, mtime
/// and content (or link target).
/// Kind, size, mode, mtime (s, ns), content or target.
type Node = (char, u64, u32, i64, i64, Vec<u8>);

fn tree(root: &Path) -> BTreeMap<PathBuf, Node> {
    walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .map(|e| e.expect("walk"))
        .map(|e| {
            let m = e.path().symlink_metadata().expect("meta");
            let (kind, content) = if m.is_dir() {
                ('d', Vec::new())
            } else if m.file_type().is_symlink() {
                (
                    'l',
                    fs::read_link(e.path())
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes(),
                )
            } else {
                ('f', fs::read(e.path()).expect("read"))
            };
            let size = if kind == 'd' { 0 } else { m.len() };
            let mtime = if kind == 'd' {
                (0, 0)
            } else {
                (m.mtime(), m.mtime_nsec())
            };
            (
                e.path().strip_prefix(root).unwrap().to_path_buf(),
                (kind, size, m.mode() & 0o7777, mtime.0, mtime.1, content),
            )
        })
        .collect()
}

#[test]
fn a_local_folder_receives_the_vault_and_then_only_changes() {
    let (tmp, vault) = unpack("default");
    let state = tmp.path().join("state");
    let disk = tmp.path().join("disk");
    fs::create_dir(&disk).unwrap();
    fs::write(
        disk.join("other-backup.txt"),
        b"the disk holds other things",
    )
    .unwrap();
    let dest = disk.join("vault");
    fs::create_dir_all(&dest).unwrap();
    let dest_text = dest.to_str().unwrap();

    let first = push(&state, &vault, dest_text, &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.json["manifest_stored"], "first");
    assert_eq!(first.json["deleted"], 0);
    assert_eq!(first.json["problems"].as_array().unwrap().len(), 0);
    assert_eq!(
        tree(&dest),
        tree(&vault),
        "the copy is the vault, byte for byte"
    );
    assert_no_temp_files(&dest);
    let objects = first.json["remote_objects"].as_u64().unwrap();
    assert_eq!(first.json["transferred_files"].as_u64().unwrap(), objects);

    // Nothing changed: nothing sent.
    let again = push(&state, &vault, dest_text, &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.json["transferred_files"], 0);
    assert_eq!(again.json["manifest_stored"], "unchanged");

    // One new file: it, the new manifest and the kept one are sent.
    add_plain_file(&vault, "new-chapter.md", b"a new chapter");
    let third = push(&state, &vault, dest_text, &[]);
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert_eq!(third.json["manifest_stored"], "replaced");
    assert_eq!(third.json["manifest_hashed_files"], 1);
    assert_eq!(third.json["transferred_files"], 3, "{}", third.json);
    assert_eq!(tree(&dest), tree(&vault));

    // A deleted file goes from the copy too (one object, within the limit).
    fs::remove_file(cipher_path_of(&vault, "size-1")).unwrap();
    let fourth = push(&state, &vault, dest_text, &[]);
    assert_eq!(fourth.code, 0, "{}", fourth.stderr);
    assert_eq!(fourth.json["deleted"], 1);
    assert_eq!(tree(&dest), tree(&vault));
    assert!(disk.join("other-backup.txt").exists());

    // Each push is recorded.
    let history = fs::read_to_string(
        fs::read_dir(state.join("vaults"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
            .join("pushes.jsonl"),
    )
    .unwrap();
    let lines: Vec<serde_json::Value> = history
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert!(
        lines
            .iter()
            .all(|l| l["status"] == "verified" && l["remote"] == dest_text)
    );
    assert_eq!(lines[3]["deleted"], 1);

    // The real gocryptfs mounts the copy and shows what it shows of the vault.
    let pass = tmp.path().join("pass");
    fs::copy(password_file(), &pass).unwrap();
    let a = Mount::new(&["-ro"], &vault, &tmp.path().join("mnt-vault"), &pass);
    let b = Mount::new(&["-ro"], &dest, &tmp.path().join("mnt-copy"), &pass);
    assert_same_tree(&snapshot(&b.point), &snapshot(&a.point), "mounted copy");
}

#[test]
fn guards_refuse_before_anything_is_touched() {
    let (tmp, vault) = unpack("default");
    let state = tmp.path().join("state");

    // An empty folder (a disk that is not mounted).
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let run = push(&state, &empty, tmp.path().join("d1").to_str().unwrap(), &[]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("is empty"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);

    // A folder that is not a vault.
    let run = push(
        &state,
        &testdata(),
        tmp.path().join("d1").to_str().unwrap(),
        &[],
    );
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("no gocryptfs.conf"), "{}", run.stderr);
    assert!(!tmp.path().join("d1").exists());

    // A destination on a disk that is not mounted: its parent is empty.
    let mountpoint = tmp.path().join("media-usb");
    fs::create_dir(&mountpoint).unwrap();
    let run = push(
        &state,
        &vault,
        mountpoint.join("vault").to_str().unwrap(),
        &[],
    );
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("not mounted"), "{}", run.stderr);
    assert_eq!(fs::read_dir(&mountpoint).unwrap().count(), 0);

    // A gocryptfs mount (the plaintext view) instead of the vault.
    let pass = tmp.path().join("pass");
    fs::copy(password_file(), &pass).unwrap();
    {
        let mount = Mount::new(&["-ro"], &vault, &tmp.path().join("mnt"), &pass);
        let run = push(
            &state,
            &mount.point,
            tmp.path().join("d2").to_str().unwrap(),
            &[],
        );
        assert_eq!(run.code, 4, "{}", run.stderr);
        assert!(run.stderr.contains("gocryptfs mount"), "{}", run.stderr);
    }

    // Too many deletions: another vault pushed over this one's copy.
    let disk = tmp.path().join("disk");
    fs::create_dir(&disk).unwrap();
    let dest = disk.join("vault");
    fs::create_dir_all(&dest).unwrap();
    let dest_text = dest.to_str().unwrap();
    assert_eq!(push(&state, &vault, dest_text, &[]).code, 0);
    let before = tree(&dest);
    let (_tmp2, other) = unpack("plaintextnames");
    let run = push(&state, &other, dest_text, &[]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("would delete"), "{}", run.stderr);
    assert!(run.stderr.contains("--max-delete"), "{}", run.stderr);
    assert_eq!(tree(&dest), before, "nothing changed on the remote");
    // --force overrides.
    let run = push(&state, &other, dest_text, &["--force"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(tree(&dest), tree(&other));

    // Bad --max-delete values are usage errors.
    let run = push(&state, &vault, dest_text, &["--max-delete", "lots"]);
    assert_eq!(run.code, 2, "{}", run.stderr);

    // A destination inside the vault, or holding it.
    let before = tree(&vault);
    for dest in [vault.join("backup"), tmp.path().to_path_buf()] {
        let run = push(&state, &vault, dest.to_str().unwrap(), &["--force"]);
        assert_eq!(run.code, 4, "{}", run.stderr);
        assert!(run.stderr.contains("contain one another"), "{}", run.stderr);
    }
    assert_eq!(tree(&vault), before, "the vault is untouched");
}

#[test]
fn local_damage_is_not_pushed_over_a_good_copy() {
    let (tmp, vault) = unpack("default");
    let state = tmp.path().join("state");
    let disk = tmp.path().join("disk");
    fs::create_dir(&disk).unwrap();
    let dest = disk.join("vault");
    fs::create_dir_all(&dest).unwrap();
    assert_eq!(push(&state, &vault, dest.to_str().unwrap(), &[]).code, 0);
    let good = tree(&dest);
    // Rot in the local vault (the mtime moved too, so the refresh reads it).
    let file = cipher_path_of(&vault, "size-20000");
    let mut bytes = fs::read(&file).unwrap();
    bytes[5000] ^= 0x40;
    fs::write(&file, bytes).unwrap();
    let run = push(&state, &vault, dest.to_str().unwrap(), &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("DAMAGED size-20000"), "{}", run.stderr);
    assert!(
        run.stderr.contains("pushing would spread the damage"),
        "{}",
        run.stderr
    );
    assert_eq!(tree(&dest), good, "the good copy is untouched");
    // --force pushes, but the damage is still reported and the exit is 1.
    let run = push(&state, &vault, dest.to_str().unwrap(), &["--force"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.problems()
            .iter()
            .any(|p| p.starts_with("DAMAGED size-20000")),
        "{:#?}",
        run.problems()
    );
}

#[test]
fn names_that_are_not_utf8_push_to_a_folder_and_stay_in_sync() {
    let tmp = TempDir::new().unwrap();
    let vault = tmp.path().join("vault");
    let pass = tmp.path().join("pass");
    gocryptfs_init(&vault, &pass, &["-plaintextnames"]);
    {
        use std::os::unix::ffi::OsStrExt;
        let mount = Mount::new(&[], &vault, &tmp.path().join("mnt"), &pass);
        let odd = std::ffi::OsStr::from_bytes(b"bad\xffname");
        fs::write(mount.point.join(odd), b"latin-1 days").unwrap();
    }
    let dest = tmp.path().join("disk/vault");
    fs::create_dir_all(&dest).unwrap();
    let state = tmp.path().join("state");
    for round in 0..2 {
        let run = run_json(
            vaultdrill()
                .env("VAULTDRILL_STATE_DIR", &state)
                .arg("push")
                .arg(&vault)
                .arg(&dest)
                .arg("--json")
                .arg("--passfile")
                .arg(&pass),
        );
        assert_eq!(
            run.code,
            0,
            "round {round}: {} {:#?}",
            run.stderr,
            run.problems()
        );
        assert_eq!(run.json["deleted"], 0, "round {round}");
    }
    assert_eq!(tree(&dest), tree(&vault));
}

#[test]
fn without_the_config_upload_the_copy_has_no_config() {
    let (tmp, vault) = unpack("default");
    let state = tmp.path().join("state");
    let disk = tmp.path().join("disk");
    fs::create_dir(&disk).unwrap();
    let dest = disk.join("vault");
    fs::create_dir_all(&dest).unwrap();
    let run = push(
        &state,
        &vault,
        dest.to_str().unwrap(),
        &["--no-config-upload"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!dest.join("gocryptfs.conf").exists());
    assert!(dest.join("gocryptfs.diriv").exists());
    // The local state keeps the config, for the day it is needed.
    let kept = fs::read_dir(state.join("vaults"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("gocryptfs.conf");
    assert_eq!(
        fs::read(kept).unwrap(),
        fs::read(vault.join("gocryptfs.conf")).unwrap()
    );
    // A config already on the copy is left alone, and said so.
    fs::copy(vault.join("gocryptfs.conf"), dest.join("gocryptfs.conf")).unwrap();
    let out = vaultdrill()
        .env("VAULTDRILL_STATE_DIR", &state)
        .arg("push")
        .arg(&vault)
        .arg(&dest)
        .args(["--no-config-upload", "--passfile"])
        .arg(password_file())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("still holds a gocryptfs.conf"));
    assert!(dest.join("gocryptfs.conf").exists());
}

#[test]
fn a_reverse_vault_is_exported_then_pushed_and_the_copy_mounts() {
    let tmp = TempDir::new().unwrap();
    let plain = tmp.path().join("plain");
    fs::create_dir(&plain).unwrap();
    write_tree(&plain);
    let pass = tmp.path().join("pass");
    gocryptfs_init(&plain, &pass, &["-reverse"]);
    let state = tmp.path().join("state");
    let staging = tmp.path().join("staging");
    let dest = tmp.path().join("disk/vault");
    fs::create_dir_all(&dest).unwrap();
    let push_reverse = |extra: &[&str]| {
        let out = vaultdrill()
            .env("VAULTDRILL_STATE_DIR", &state)
            .args(["push", "--reverse", "--json", "--staging"])
            .arg(&staging)
            .arg(&plain)
            .arg(&dest)
            .arg("--passfile")
            .arg(&pass)
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let first = push_reverse(&[]);
    assert_eq!(first["manifest_stored"], "first");
    assert!(plain.join(".vaultdrill/manifest.jsonl").is_file());
    assert_eq!(tree(&dest), tree(&staging));
    assert_eq!(push_reverse(&[])["transferred_files"], 0);

    fs::write(plain.join("size-4096"), b"changed").unwrap();
    let third = push_reverse(&[]);
    assert_eq!(third["manifest_stored"], "replaced");
    assert_eq!(third["manifest_hashed_files"], 1);

    // The copy is what `gocryptfs -reverse` shows, and mounts forward.
    let reverse_view = Mount::new(&["-reverse", "-ro"], &plain, &tmp.path().join("rev"), &pass);
    let copy = Mount::new(&["-ro"], &dest, &tmp.path().join("mnt"), &pass);
    let mut plain_snapshot = snapshot(&plain);
    plain_snapshot.remove(".gocryptfs.reverse.conf");
    assert_same_tree(&snapshot(&copy.point), &plain_snapshot, "mounted copy");
    let mut view_snapshot = snapshot(&reverse_view.point);
    let mut dest_snapshot = snapshot(&dest);
    // Directories' mtimes are the export's to keep; compare the files.
    view_snapshot.retain(|_, e| e.kind != "dir");
    dest_snapshot.retain(|_, e| e.kind != "dir");
    assert_same_tree(&dest_snapshot, &view_snapshot, "copy vs reverse mount");
    // Both manifests travel; the kept one is the first.
    let kept: Vec<String> = fs::read_dir(copy.point.join(".vaultdrill"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
}

#[test]
fn a_registered_vault_is_pushed_by_name_and_listed_with_its_last_push() {
    let (tmp, vault) = unpack("default");
    let state = tmp.path().join("state");
    fs::create_dir_all(tmp.path().join("disk/copy")).unwrap();
    let registry = tmp.path().join("config.toml");
    fs::write(
        &registry,
        format!(
            "[vaults.thesis]\nfolder = \"vault\"\nremote = \"disk/copy\"\npassfile = \"{}\"\n\n\
             [vaults.thesis.drill]\nevery = \"monthly\"\nsample = \"5%\"\n",
            password_file().display()
        ),
    )
    .unwrap();
    let vaults = || {
        let out = vaultdrill()
            .env("VAULTDRILL_STATE_DIR", &state)
            .env("VAULTDRILL_CONFIG", &registry)
            .args(["vaults", "--json"])
            .output()
            .unwrap();
        assert!(out.status.success());
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let before = vaults();
    assert_eq!(before[0]["name"], "thesis");
    assert_eq!(before[0]["last_push"], serde_json::Value::Null);

    // By name, from another folder: the registry's paths are its own.
    let out = vaultdrill()
        .current_dir(tmp.path().join("disk"))
        .env("VAULTDRILL_STATE_DIR", &state)
        .env("VAULTDRILL_CONFIG", &registry)
        .args(["push", "thesis", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(tree(&tmp.path().join("disk/copy")), tree(&vault));
    let after = vaults();
    assert_eq!(after[0]["last_push"]["status"], "verified");
    assert_eq!(after[0]["drill_sample"], "5%");

    // A name that is not registered, and a folder without a remote.
    let out = vaultdrill()
        .env("VAULTDRILL_CONFIG", &registry)
        .args(["push", "photos"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no vault of that name"));
    let out = vaultdrill()
        .env("VAULTDRILL_CONFIG", &registry)
        .arg("push")
        .arg(&vault)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("REMOTE is missing"));
    // A broken registry names the problem.
    fs::write(&registry, "[vaults.x]\nfolder = \"v\"\npassword = \"no\"\n").unwrap();
    let out = vaultdrill()
        .env("VAULTDRILL_CONFIG", &registry)
        .args(["vaults"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("password"));
}

#[test]
fn checksum_repairs_rot_on_a_local_copy_that_kept_size_and_mtime() {
    let (tmp, vault) = unpack("default");
    let state = tmp.path().join("state");
    let dest = tmp.path().join("disk/vault");
    fs::create_dir_all(&dest).unwrap();
    let dest_text = dest.to_str().unwrap();
    assert_eq!(push(&state, &vault, dest_text, &[]).code, 0);

    // Rot on the copy: other bytes, same size, same mtime.
    let object = dest.join(
        cipher_path_of(&vault, "size-4097")
            .strip_prefix(&vault)
            .unwrap(),
    );
    let mtime = filetime::FileTime::from_last_modification_time(&fs::metadata(&object).unwrap());
    let mut bytes = fs::read(&object).unwrap();
    bytes[100] ^= 1;
    fs::write(&object, &bytes).unwrap();
    filetime::set_file_mtime(&object, mtime).unwrap();

    // By size and mtime, nothing differs.
    let plain = push(&state, &vault, dest_text, &[]);
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    assert_eq!(plain.json["transferred_files"], 0);
    assert_ne!(tree(&dest), tree(&vault));
    // By content, the rotten object is sent again.
    let checked = push(&state, &vault, dest_text, &["--checksum"]);
    assert_eq!(checked.code, 0, "{}", checked.stderr);
    assert_eq!(checked.json["transferred_files"], 1, "{}", checked.json);
    assert_eq!(tree(&dest), tree(&vault));
}
