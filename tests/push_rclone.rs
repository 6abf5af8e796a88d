//! `vaultdrill push` through the real rclone to a real S3 endpoint on
//! 127.0.0.1 (`rclone serve s3`, the protocol B2 also speaks), started and
//! stopped by each test. Never skipped: without rclone these fail.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::*;

fn push(server: &S3Server, state: &Path, vault: &Path, remote: &str, extra: &[&str]) -> Run {
    run_json(
        vaultdrill()
            .env("VAULTDRILL_STATE_DIR", state)
            .arg("push")
            .arg(vault)
            .arg(remote)
            .arg("--rclone-config")
            .arg(&server.config)
            .arg("--json")
            .arg("--passfile")
            .arg(password_file())
            .args(extra),
    )
}

const REMOTE: &str = "s3test:bucket/vault";

#[test]
fn push_to_s3_sends_changes_only_and_the_remote_restores_the_vault() {
    let server = S3Server::start();
    let (tmp, vault) = unpack("default");
    let state = tmp.path().join("state");

    let first = push(&server, &state, &vault, REMOTE, &["--transfers", "8"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.json["hash_checked"], "md5", "S3 keeps MD5");
    let objects = first.json["remote_objects"].as_u64().unwrap();
    assert!(objects > 40, "{}", first.json);
    assert_eq!(first.json["transferred_files"].as_u64(), Some(objects));
    // Every object but the manifest folder's own is checked by hash.
    assert!(first.json["hashed_objects"].as_u64().unwrap() >= objects - 3);

    // Only the change travels (the file and the new manifest); the previous
    // manifest is kept, copied on the remote rather than uploaded again.
    add_plain_file(&vault, "new.txt", b"fresh");
    let second = push(&server, &state, &vault, REMOTE, &[]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.json["manifest_stored"], "replaced");
    assert_eq!(second.json["transferred_files"], 2, "{}", second.json);
    assert_eq!(second.json["deleted"], 0);
    assert_eq!(second.json["remote_objects"].as_u64(), Some(objects + 2));

    // What the remote holds is the vault: fetched back with rclone, the
    // real gocryptfs mounts it and shows the same tree.
    let back = tmp.path().join("back");
    server.rclone(&["copy", "--links", REMOTE, back.to_str().unwrap()]);
    let pass = tmp.path().join("pass");
    fs::copy(password_file(), &pass).unwrap();
    let a = Mount::new(&["-ro"], &vault, &tmp.path().join("mnt-a"), &pass);
    let b = Mount::new(&["-ro"], &back, &tmp.path().join("mnt-b"), &pass);
    // Objects carry content and mtime; modes and folder mtimes are the
    // manifest's to restore.
    let content_only = |root: &Path| {
        let mut tree = snapshot(root);
        for e in tree.values_mut() {
            e.mode = 0;
            if e.kind == "dir" {
                e.mtime_ns = 0;
            }
        }
        tree
    };
    assert_same_tree(
        &content_only(&b.point),
        &content_only(&a.point),
        "restored from S3",
    );
    let kept: Vec<PathBuf> = fs::read_dir(b.point.join(".vaultdrill"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(kept.len(), 2, "current and previous manifest: {kept:?}");
}

#[test]
fn a_remote_that_keeps_blake3_is_checked_with_the_manifests_own_hashes() {
    // An rclone remote of type local keeps BLAKE3 (rclone >= 1.65).
    let (tmp, vault) = unpack("default");
    let state = tmp.path().join("state");
    let config = tmp.path().join("rclone.conf");
    fs::write(&config, "[disk]\ntype = local\n").unwrap();
    let target = tmp.path().join("disk-copy");
    let out = vaultdrill()
        .env("VAULTDRILL_STATE_DIR", &state)
        .arg("push")
        .arg(&vault)
        .arg(format!("disk:{}", target.display()))
        .arg("--rclone-config")
        .arg(&config)
        .args(["--json", "--passfile"])
        .arg(password_file())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["hash_checked"], "blake3");
    let objects = json["remote_objects"].as_u64().unwrap();
    assert!(
        json["hashed_objects"].as_u64().unwrap() >= objects - 3,
        "{json}"
    );
}

#[test]
fn the_remote_check_finds_rot_loss_and_strangers() {
    let server = S3Server::start();
    let (tmp, vault) = unpack("default");
    let state = tmp.path().join("state");
    assert_eq!(push(&server, &state, &vault, REMOTE, &[]).code, 0);

    let lost = cipher_path_of(&vault, "size-4097");
    let lost_rel = lost
        .strip_prefix(&vault)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let rotten = cipher_path_of(&vault, "size-4096");
    let rotten_rel = rotten
        .strip_prefix(&vault)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let size = fs::metadata(&rotten).unwrap().len() as usize;
    // Behind our back, through S3: an object deleted, one replaced by
    // garbage of the same size, a stranger added.
    server.rclone(&["deletefile", &format!("{REMOTE}/{lost_rel}")]);
    let garbage = tmp.path().join("garbage");
    fs::write(&garbage, vec![0x5a; size]).unwrap();
    server.rclone(&[
        "copyto",
        garbage.to_str().unwrap(),
        &format!("{REMOTE}/{rotten_rel}"),
    ]);
    server.rclone(&[
        "copyto",
        garbage.to_str().unwrap(),
        &format!("{REMOTE}/stranger"),
    ]);

    // A drill's audit (listing only) finds all three.
    let audit = audit_only(&server, &state);
    assert_eq!(audit.code, 1, "{}", audit.stderr);
    let findings = audit_findings(&audit);
    assert_eq!(findings.len(), 3, "{findings:#?}");
    let has = |label: &str, object: &str, cause: &str| {
        findings
            .iter()
            .any(|(l, o, c)| l == label && o == object && c.contains(cause))
    };
    assert!(
        has("DAMAGED", &lost_rel, "missing on the remote"),
        "{findings:#?}"
    );
    assert!(has("DAMAGED", &rotten_rel, "md5"), "{findings:#?}");
    assert!(
        has("NOTE", "stranger", "not in the manifest"),
        "{findings:#?}"
    );

    // A push repairs all three.
    let repair = push(&server, &state, &vault, REMOTE, &[]);
    assert_eq!(repair.code, 0, "{}", repair.stderr);
    assert_eq!(repair.json["deleted"], 1);
    let clean = audit_only(&server, &state);
    assert_eq!(clean.code, 0, "{}", clean.stderr);
    assert!(audit_findings(&clean).is_empty());
}

/// `vaultdrill drill --audit-only` of the S3 remote: listing only.
fn audit_only(server: &S3Server, state: &Path) -> Run {
    run_json(
        vaultdrill()
            .env("VAULTDRILL_STATE_DIR", state)
            .args(["drill", REMOTE, "--audit-only", "--json", "--rclone-config"])
            .arg(&server.config)
            .arg("--passfile")
            .arg(password_file())
            .arg("--report")
            .arg(state.join("report.md")),
    )
}

/// (label, object, cause) of the audit step's findings.
fn audit_findings(run: &Run) -> Vec<(String, String, String)> {
    run.json["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| s["kind"] == "audit")
        .flat_map(|s| s["findings"].as_array().cloned().unwrap_or_default())
        .map(|f| {
            (
                f["label"].as_str().unwrap_or("").to_string(),
                f["object"].as_str().unwrap_or("").to_string(),
                f["cause"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn rclone_failures_are_one_line_and_exit_4() {
    let mut server = S3Server::start();
    let (tmp, vault) = unpack("default");
    let state = tmp.path().join("state");

    // Not in rclone's config.
    let run = push(&server, &state, &vault, "nosuch:bucket/vault", &[]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("not in rclone's config"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);

    // Wrong credentials.
    let run = push(&server, &state, &vault, "s3wrongkey:bucket/vault", &[]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("refused the credentials"),
        "{}",
        run.stderr
    );

    // rclone not installed (an empty PATH), or too old.
    let empty = tmp.path().join("empty-path");
    fs::create_dir(&empty).unwrap();
    let out = vaultdrill()
        .env("VAULTDRILL_STATE_DIR", &state)
        .env("PATH", &empty)
        .arg("push")
        .arg(&vault)
        .arg(REMOTE)
        .arg("--passfile")
        .arg(password_file())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rclone is not installed"));
    let fake = tmp.path().join("old-rclone");
    fs::write(&fake, "#!/bin/sh\necho 'rclone v1.50.2'\n").unwrap();
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    let run = push(
        &server,
        &state,
        &vault,
        REMOTE,
        &["--rclone", fake.to_str().unwrap()],
    );
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("too old"), "{}", run.stderr);

    // Credentials in the remote string are refused before rclone runs.
    let run = push(
        &server,
        &state,
        &vault,
        ":s3,access_key_id=x,secret_access_key=y:bucket",
        &[],
    );
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("credentials"), "{}", run.stderr);

    // The remote goes down: a clear line, nothing deleted.
    assert_eq!(push(&server, &state, &vault, REMOTE, &[]).code, 0);
    let served: Vec<PathBuf> = walkdir::WalkDir::new(&server.root)
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .collect();
    server.stop();
    let started = std::time::Instant::now();
    let run = push(&server, &state, &vault, REMOTE, &[]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("cannot be reached"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        started.elapsed().as_secs() < 120,
        "failing took {:?}",
        started.elapsed()
    );
    let after: Vec<PathBuf> = walkdir::WalkDir::new(&server.root)
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .collect();
    assert_eq!(after, served);
    // The failure is in the push history.
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
    let last: serde_json::Value = serde_json::from_str(history.lines().last().unwrap()).unwrap();
    assert_eq!(last["status"], "could_not_run");
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains("listing the remote failed")
    );
}

#[test]
fn too_many_deletions_on_s3_are_refused() {
    let server = S3Server::start();
    let (tmp, vault) = unpack("default");
    let state = tmp.path().join("state");
    assert_eq!(push(&server, &state, &vault, REMOTE, &[]).code, 0);
    let before = server.rclone(&["lsf", "-R", REMOTE]);
    // Half the files gone locally (say, a sync from a half-mounted disk).
    let mut removed = 0;
    for entry in fs::read_dir(&vault).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_file() && removed < 12 && !name.starts_with("gocryptfs.") {
            fs::remove_file(path).unwrap();
            removed += 1;
        }
    }
    let run = push(&server, &state, &vault, REMOTE, &[]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("would delete"), "{}", run.stderr);
    assert_eq!(server.rclone(&["lsf", "-R", REMOTE]), before);
    let run = push(&server, &state, &vault, REMOTE, &["--max-delete", "50%"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.json["deleted"].as_u64().unwrap() >= 12);
}

#[test]
fn with_checksum_rot_that_kept_its_mtime_is_found_before_it_travels() {
    let (tmp, vault) = unpack("default");
    let state = tmp.path().join("state");
    let config = tmp.path().join("rclone.conf");
    fs::write(&config, "[disk]\ntype = local\n").unwrap();
    let target = tmp.path().join("disk-copy");
    let remote = format!("disk:{}", target.display());
    let push_local = |extra: &[&str]| {
        run_json(
            vaultdrill()
                .env("VAULTDRILL_STATE_DIR", &state)
                .arg("push")
                .arg(&vault)
                .arg(&remote)
                .arg("--rclone-config")
                .arg(&config)
                .args(["--json", "--passfile"])
                .arg(password_file())
                .args(extra),
        )
    };
    assert_eq!(push_local(&[]).code, 0);
    let file = cipher_path_of(&vault, "size-20000");
    let good = fs::read(target.join(file.strip_prefix(&vault).unwrap())).unwrap();
    // Rot: a flipped bit, the mtime as it was.
    let mtime = filetime::FileTime::from_last_modification_time(&fs::metadata(&file).unwrap());
    let mut bytes = fs::read(&file).unwrap();
    bytes[6000] ^= 0x10;
    fs::write(&file, bytes).unwrap();
    filetime::set_file_mtime(&file, mtime).unwrap();
    let run = push_local(&["--checksum"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("pushing would spread the damage"),
        "{}",
        run.stderr
    );
    let remote_bytes = fs::read(target.join(file.strip_prefix(&vault).unwrap())).unwrap();
    assert_eq!(remote_bytes, good, "the good remote copy is untouched");
}
