//! Manifests in vaults of the real gocryptfs 2.3: a mount shows them as
//! ordinary files, `gocryptfs -fsck` finds the vault clean after vaultdrill
//! wrote them, and changes made through a mount are notes for `verify`,
//! then picked up by a refresh that keeps the previous manifest.
//! Never skipped: without gocryptfs these fail.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use common::*;
use tempfile::TempDir;

fn vaultdrill_json(
    state: &Path,
    args: &[&str],
    vault: &Path,
    passfile: &Path,
) -> (i32, serde_json::Value, String) {
    let run = run_json(
        vaultdrill()
            .env("VAULTDRILL_STATE_DIR", state)
            .args(args)
            .arg(vault)
            .arg("--json")
            .arg("--passfile")
            .arg(passfile),
    );
    (run.code, run.json, run.stderr)
}

fn fsck(vault: &Path, passfile: &Path) {
    run(Command::new(require("gocryptfs"))
        .args(["-fsck", "-q", "-nosyslog", "-passfile"])
        .arg(passfile)
        .arg(vault));
}

#[test]
fn manifests_live_in_the_vault_and_follow_changes_made_through_a_mount() {
    let tmp = TempDir::new().expect("tmp");
    let vault = tmp.path().join("vault");
    let passfile = tmp.path().join("pass");
    let state = tmp.path().join("state");
    gocryptfs_init(&vault, &passfile, &[]);
    {
        let mount = Mount::new(&[], &vault, &tmp.path().join("mnt"), &passfile);
        write_tree(&mount.point);
    }

    let (code, first, err) = vaultdrill_json(&state, &["manifest"], &vault, &passfile);
    assert_eq!(code, 0, "{err}");
    assert_eq!(first["stored"], "first");
    fsck(&vault, &passfile);
    let copy_dir = fs::read_dir(state.join("vaults"))
        .unwrap()
        .next()
        .expect("a vault state dir")
        .unwrap()
        .path();
    let first_bytes = fs::read(copy_dir.join("manifest.jsonl")).unwrap();
    {
        let mount = Mount::new(&["-ro"], &vault, &tmp.path().join("mnt"), &passfile);
        assert_eq!(
            fs::read(mount.point.join(".vaultdrill/manifest.jsonl")).expect("the mount shows it"),
            first_bytes
        );
    }

    // Honest changes, through the mount.
    {
        let mount = Mount::new(&[], &vault, &tmp.path().join("mnt"), &passfile);
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(mount.point.join("size-4096"))
            .unwrap();
        f.write_all(b"one more line\n").unwrap();
        drop(f);
        fs::write(mount.point.join("d1/new.txt"), b"new").unwrap();
        fs::rename(mount.point.join("exec.sh"), mount.point.join("d1/exec.sh")).unwrap();
        fs::remove_file(mount.point.join("size-1")).unwrap();
    }
    let (code, verified, err) = vaultdrill_json(&state, &["verify"], &vault, &passfile);
    assert_eq!(code, 0, "{err}");
    let notes: Vec<String> = verified["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    let expect = [
        "NOTE d1/exec.sh: not in the manifest",
        "NOTE d1/new.txt: not in the manifest",
        "NOTE exec.sh: removed since the manifest",
        "NOTE size-1: removed since the manifest",
        "NOTE size-4096: changed since the manifest",
    ];
    assert_eq!(notes.len(), expect.len(), "{notes:#?}");
    for (want, got) in expect.iter().zip(&notes) {
        assert!(got.starts_with(want), "{want} / {got}");
    }

    // A refresh hashes the three new contents, keeps the previous manifest.
    let (code, second, err) = vaultdrill_json(&state, &["manifest"], &vault, &passfile);
    assert_eq!(code, 0, "{err}");
    assert_eq!(second["hashed_files"], 3, "{second}");
    assert_eq!(second["stored"], "replaced");
    let kept = second["previous_kept_as"]
        .as_str()
        .expect("kept name")
        .to_string();
    fsck(&vault, &passfile);
    let (code, clean, err) = vaultdrill_json(&state, &["verify"], &vault, &passfile);
    assert_eq!(code, 0, "{err}");
    assert_eq!(clean["problems"].as_array().unwrap().len(), 0, "{clean}");
    {
        let mount = Mount::new(&["-ro"], &vault, &tmp.path().join("mnt"), &passfile);
        let old = fs::read(mount.point.join(".vaultdrill").join(&kept)).expect("kept");
        assert_eq!(
            old, first_bytes,
            "the kept manifest is the first one, intact"
        );
        let text = String::from_utf8(old).unwrap();
        assert!(
            text.contains("\"path\":\"size-1\""),
            "the old manifest lists size-1"
        );
        let new = fs::read_to_string(mount.point.join(".vaultdrill/manifest.jsonl")).unwrap();
        assert!(!new.contains("\"path\":\"size-1\""));
        assert!(new.contains("\"path\":\"d1/new.txt\""));
    }

    // Only a few previous manifests stay.
    for round in 0..6 {
        {
            let mount = Mount::new(&[], &vault, &tmp.path().join("mnt"), &passfile);
            fs::write(mount.point.join("round.txt"), format!("{round}")).unwrap();
        }
        let (code, _, err) = vaultdrill_json(&state, &["manifest"], &vault, &passfile);
        assert_eq!(code, 0, "{err}");
    }
    let mount = Mount::new(&["-ro"], &vault, &tmp.path().join("mnt"), &passfile);
    let mut names: Vec<String> = fs::read_dir(mount.point.join(".vaultdrill"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 5, "{names:?}");
    assert_eq!(names.last().map(String::as_str), Some("manifest.jsonl"));
    assert!(
        names[..4]
            .iter()
            .all(|n| n.starts_with("manifest-") && n.ends_with(".jsonl")),
        "{names:?}"
    );
    // The four kept are the newest: rounds 1 to 4 (5 is current), even when
    // several were made within one second.
    let mut rounds: Vec<String> = names[..4]
        .iter()
        .map(|n| {
            let text = fs::read_to_string(mount.point.join(".vaultdrill").join(n)).unwrap();
            let line = text
                .lines()
                .find(|l| l.contains("\"path\":\"round.txt\""))
                .unwrap_or_else(|| panic!("round.txt not in {n} of {names:?}"));
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            let hash = record["blake3"].as_str().unwrap().to_string();
            (0..6)
                .find(|r| blake3::hash(format!("{r}").as_bytes()).to_hex().as_str() == hash)
                .expect("a round's content")
                .to_string()
        })
        .collect();
    rounds.sort();
    assert_eq!(rounds, ["1", "2", "3", "4"]);
}
