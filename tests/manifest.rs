//! `vaultdrill manifest` and `vaultdrill verify` on vaults the real
//! gocryptfs wrote: the manifest lists what a decryption gives, a refresh
//! reuses unchanged entries, and verify tells damage gocryptfs cannot see
//! (a cut, a swap, a zeroed block, a missing file) from honest changes.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The forward flavours (the reverse fixture is a plaintext folder).
fn forward_flavours() -> impl Iterator<Item = &'static str> {
    FLAVOURS.into_iter().filter(|f| *f != "reverse")
}

fn run_vd(state: &Path, args: &[&str], vault: &Path, extra: &[&str]) -> Run {
    run_json(
        vaultdrill()
            .env("VAULTDRILL_STATE_DIR", state)
            .args(args)
            .arg(vault)
            .arg("--json")
            .arg("--passfile")
            .arg(password_file())
            .args(extra),
    )
}

fn manifest(state: &Path, vault: &Path, extra: &[&str]) -> serde_json::Value {
    let run = run_vd(state, &["manifest"], vault, extra);
    assert_eq!(run.code, 0, "manifest failed: {}", run.stderr);
    run.json
}

fn verify(state: &Path, vault: &Path, extra: &[&str]) -> Run {
    run_vd(state, &["verify"], vault, extra)
}

/// The records of a plaintext manifest file, by kind.
fn records(path: &Path) -> Vec<serde_json::Value> {
    let text = fs::read_to_string(path).expect("manifest copy");
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().expect("header")).unwrap();
    assert_eq!(header["format"], "vaultdrill-manifest");
    assert_eq!(header["version"], 1);
    let mut out: Vec<serde_json::Value> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    let trailer = out.pop().expect("trailer");
    assert_eq!(trailer["trailer"]["entries"], out.len() as u64);
    out
}

fn local_copy(state: &Path) -> PathBuf {
    let vaults: Vec<PathBuf> = fs::read_dir(state.join("vaults"))
        .expect("state dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(vaults.len(), 1, "{vaults:?}");
    vaults[0].clone()
}

fn blake3_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

#[test]
fn manifests_list_what_decryption_gives_in_every_flavour() {
    for flavour in forward_flavours() {
        let (tmp, vault) = unpack(flavour);
        let state = tmp.path().join("state");
        let first = manifest(&state, &vault, &[]);
        assert_eq!(first["status"], "verified", "{flavour}");
        assert_eq!(first["stored"], "first", "{flavour}");
        assert_eq!(first["reused_files"], 0, "{flavour}");

        // Every plaintext entry, as a decryption of the vault shows it.
        let plain = tmp.path().join("plain");
        let out = vaultdrill()
            .arg("decrypt")
            .arg(&vault)
            .arg(&plain)
            .arg("-q")
            .arg("--passfile")
            .arg(password_file())
            .output()
            .expect("decrypt");
        assert!(out.status.success(), "{flavour}: decrypt failed");
        let listed = records(&local_copy(&state).join("manifest.jsonl"));
        let mut by_path: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        for r in listed
            .iter()
            .filter(|r| !matches!(r["type"].as_str(), Some("config" | "diriv" | "sidecar")))
        {
            by_path.insert(r["path"].as_str().expect("utf-8 path").into(), r.clone());
        }
        let expected = expected(flavour);
        assert_eq!(
            by_path.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{flavour}"
        );
        for (path, e) in &expected {
            let r = &by_path[path];
            assert_eq!(r["type"], e.kind.as_str(), "{flavour} {path}");
            assert_eq!(
                r["mtime_ns"].as_i64().map(i128::from),
                Some(e.mtime_ns),
                "{flavour} {path}"
            );
            assert_eq!(r["mode"], format!("{:04o}", e.mode), "{flavour} {path}");
            if e.kind == "file" {
                let bytes = fs::read(plain.join(path)).expect("decrypted file");
                assert_eq!(r["size"], e.size.expect("size"), "{flavour} {path}");
                assert_eq!(r["blake3"], blake3_hex(&bytes), "{flavour} {path}");
                let cipher = vault.join(r["cipher_path"].as_str().expect("cipher path"));
                let cbytes = fs::read(&cipher).expect("cipher file");
                assert_eq!(r["cipher_size"], cbytes.len() as u64, "{flavour} {path}");
                assert_eq!(r["cipher_blake3"], blake3_hex(&cbytes), "{flavour} {path}");
            }
            if e.kind == "symlink" {
                let target = e.target.as_deref().expect("target");
                let hex: String = target.bytes().map(|b| format!("{b:02x}")).collect();
                assert_eq!(r["target_hex"], hex, "{flavour} {path}");
            }
        }
        // The config and each diriv are listed with their ciphertext hash.
        let config = listed
            .iter()
            .find(|r| r["type"] == "config")
            .expect("config record");
        assert_eq!(
            config["cipher_blake3"],
            blake3_hex(&fs::read(vault.join("gocryptfs.conf")).unwrap())
        );
        if !matches!(flavour, "plaintextnames" | "legacy" | "deterministic") {
            assert!(listed.iter().any(|r| r["type"] == "diriv"), "{flavour}");
        }
        if flavour == "longnamemax62" || flavour == "default" {
            assert!(listed.iter().any(|r| r["type"] == "sidecar"), "{flavour}");
        }

        let clean = verify(&state, &vault, &[]);
        assert_eq!(clean.code, 0, "{flavour}: {}", clean.stderr);
        assert_eq!(clean.json["entries"], expected.len() as u64, "{flavour}");

        // Unchanged: nothing hashed, the vault left alone.
        let before = snapshot_cipher(&vault);
        let second = manifest(&state, &vault, &[]);
        assert_eq!(second["hashed_files"], 0, "{flavour}");
        assert_eq!(second["reused_files"], first["files"], "{flavour}");
        assert_eq!(second["stored"], "unchanged", "{flavour}");
        assert_eq!(
            snapshot_cipher(&vault),
            before,
            "{flavour}: an unchanged refresh wrote"
        );
        // --rehash reads everything again and finds the same.
        let third = manifest(&state, &vault, &["--rehash"]);
        assert_eq!(third["hashed_files"], first["files"], "{flavour}");
        assert_eq!(third["stored"], "unchanged", "{flavour}");
    }
}

/// `sha1sum`/`md5sum` of a file.
fn coreutils_hash(tool: &str, path: &Path) -> String {
    let out = run(Command::new(tool).arg(path));
    out.split_whitespace().next().expect("hash").to_string()
}

#[test]
fn remote_hashes_are_the_objects_sha1_and_md5_and_stay_once_asked_for() {
    let (tmp, vault) = unpack("default");
    let state = tmp.path().join("state");
    manifest(&state, &vault, &[]);
    // Asking for them re-reads every file once.
    let with = manifest(&state, &vault, &["--remote-hashes", "sha1,md5"]);
    assert_eq!(with["reused_files"], 0);
    assert_eq!(with["stored"], "replaced");
    // A later refresh without the option keeps them (B2 drills need them).
    let later = manifest(&state, &vault, &[]);
    assert_eq!(later["hashed_files"], 0);
    assert_eq!(later["stored"], "unchanged");
    let listed = records(&local_copy(&state).join("manifest.jsonl"));
    let mut checked = 0;
    for r in &listed {
        let Some(sha1) = r["cipher_sha1"].as_str() else {
            assert!(r["type"] == "dir", "{r}");
            continue;
        };
        let path = vault.join(r["cipher_path"].as_str().unwrap());
        if r["type"] == "symlink" {
            continue;
        }
        assert_eq!(sha1, coreutils_hash("sha1sum", &path), "{r}");
        assert_eq!(r["cipher_md5"], coreutils_hash("md5sum", &path), "{r}");
        checked += 1;
    }
    assert!(checked > 40, "{checked}");
}

/// Every ciphertext file with its size and mtime.
fn snapshot_cipher(vault: &Path) -> BTreeMap<PathBuf, (u64, i64, i64)> {
    walkdir::WalkDir::new(vault)
        .into_iter()
        .map(|e| e.expect("walk"))
        .map(|e| {
            let m = e.metadata().expect("meta");
            (e.path().to_path_buf(), (m.len(), m.mtime(), m.mtime_nsec()))
        })
        .collect()
}

#[test]
fn local_copies_are_private_and_match_the_vault() {
    let (tmp, vault) = unpack("default");
    let state = tmp.path().join("state");
    manifest(&state, &vault, &[]);
    let dir = local_copy(&state);
    assert_eq!(
        fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for name in ["manifest.jsonl", "gocryptfs.conf"] {
        let mode = fs::metadata(dir.join(name)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    assert_eq!(
        fs::read(dir.join("gocryptfs.conf")).unwrap(),
        fs::read(vault.join("gocryptfs.conf")).unwrap()
    );
    // The copy verifies the vault as its own manifest does.
    let copy = dir.join("manifest.jsonl");
    let run = verify(&state, &vault, &["--manifest", copy.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The vault's manifest decrypts to the same records (a mount shows it,
    // see interop_manifest.rs).
    let out = vaultdrill()
        .args(["decrypt", "--path", ".vaultdrill", "-q", "--passfile"])
        .arg(password_file())
        .arg(&vault)
        .arg(tmp.path().join("out"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        records(&tmp.path().join("out/.vaultdrill/manifest.jsonl")),
        records(&copy)
    );
}

/// Sets `path`'s mtime back to what it was, as rclone does on download.
fn keep_mtime(path: &Path, f: impl FnOnce(&Path)) {
    // The reference lives outside the vault: making it there would move
    // the folder's own mtime.
    let reference = tempfile::NamedTempFile::new().unwrap();
    run(Command::new("touch")
        .arg("-r")
        .arg(path)
        .arg(reference.path()));
    f(path);
    run(Command::new("touch")
        .arg("-r")
        .arg(reference.path())
        .arg(path));
}

#[test]
fn verify_finds_what_gocryptfs_cannot() {
    let (tmp, vault) = unpack("default");
    let state = tmp.path().join("state");
    manifest(&state, &vault, &[]);

    // Cut at a block boundary: every remaining block authenticates.
    let big = cipher_path_of(&vault, "size-20000");
    keep_mtime(&big, |p| {
        let f = fs::OpenOptions::new().write(true).open(p).unwrap();
        f.set_len(18 + 2 * (4096 + 32)).unwrap();
    });
    // Two files' contents swapped under their names.
    let (a, b) = (
        cipher_path_of(&vault, "size-4095"),
        cipher_path_of(&vault, "size-4096"),
    );
    let (abytes, bbytes) = (fs::read(&a).unwrap(), fs::read(&b).unwrap());
    keep_mtime(&a, |p| fs::write(p, &bbytes).unwrap());
    keep_mtime(&b, |p| fs::write(p, &abytes).unwrap());
    // A block zeroed: gocryptfs reads it as a hole.
    let z = cipher_path_of(&vault, "size-4097");
    keep_mtime(&z, |p| {
        let mut bytes = fs::read(p).unwrap();
        bytes[18..18 + 4096 + 32].fill(0);
        fs::write(p, bytes).unwrap();
    });
    // A file lost: gone, and its folder's mtime as it was (a deletion would
    // have moved it, and is a note; see below).
    let lost = cipher_path_of(&vault, "script.sh");
    keep_mtime(&vault, |_| fs::remove_file(lost).unwrap());

    let run = verify(&state, &vault, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.json["status"], "damaged");
    // Standard output on a full disk: said in one line, and the damage
    // still decides the exit code.
    let full = std::process::Command::new(env!("CARGO_BIN_EXE_vaultdrill"))
        .env("VAULTDRILL_STATE_DIR", &state)
        .arg("verify")
        .arg(&vault)
        .args(["--json", "--passfile"])
        .arg(password_file())
        .stdout(fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&full.stderr);
    assert_eq!(full.status.code(), Some(1), "{said}");
    assert!(
        said.lines()
            .any(|l| l.starts_with("vaultdrill: error: writing the outcome to standard output")),
        "{said}"
    );
    let found = run.problems();
    let expect = [
        ("script.sh", "listed in the manifest but missing"),
        ("size-20000", "8192 bytes instead of 20000"),
        ("size-4095", "4096 bytes instead of 4095"),
        ("size-4096", "4095 bytes instead of 4096"),
        ("size-4097", "plaintext BLAKE3"),
    ];
    assert_eq!(found.len(), expect.len(), "{found:#?}");
    for ((path, what), line) in expect.iter().zip(&found) {
        assert!(
            line.starts_with(&format!("DAMAGED {path}: ")) && line.contains(what),
            "{path}: {line}"
        );
    }
    // --path narrows the check to one file.
    let one = verify(&state, &vault, &["--path", "size-20000"]);
    assert_eq!(one.code, 1);
    assert_eq!(one.problems().len(), 1, "{:#?}", one.problems());
    // A deletion moves the folder's mtime: a note, not damage.
    fs::remove_file(cipher_path_of(&vault, "deep/a/b/c/d/e/leaf.txt")).unwrap();
    // A nested path: the folders on the way are not "missing".
    let nested = verify(&state, &vault, &["--path", "deep/a/b"]);
    assert_eq!(nested.code, 0, "{} {:#?}", nested.stderr, nested.problems());
    assert!(
        nested
            .problems()
            .iter()
            .all(|p| p.starts_with("NOTE deep/a/b/")),
        "{:#?}",
        nested.problems()
    );
    let other = verify(&state, &vault, &["--path", "deep"]);
    assert_eq!(other.code, 0, "{}", other.stderr);
    let notes = other.problems();
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert!(
        notes[0].starts_with("NOTE deep/a/b/c/d/e/leaf.txt: removed since the manifest"),
        "{notes:#?}"
    );
    assert_eq!(other.json["entries"], 7, "deep, a, b, c, d, e, link-up");
    // A --path that matches nothing checked nothing: a usage error, never
    // a pass (a typo in a cron job must not read as a verified backup).
    let typo = verify(&state, &vault, &["--path", "deep/a/bb"]);
    assert_eq!(typo.code, 2, "{}", typo.stderr);
    assert_eq!(typo.json["status"], "usage");
    assert_eq!(typo.json["unmatched_paths"][0], "deep/a/bb");
    let said = vaultdrill()
        .env("VAULTDRILL_STATE_DIR", &state)
        .arg("verify")
        .arg(&vault)
        .args(["--path", "deep/a/bb", "--passfile"])
        .arg(password_file())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&said.stderr);
    assert_eq!(said.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("nothing in the vault matches --path deep/a/bb"),
        "{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&said.stdout).contains("nothing checked for the --path above"),
        "{}",
        String::from_utf8_lossy(&said.stdout)
    );
    // Beside damage, damage decides.
    let both = verify(&state, &vault, &["--path", "size-20000", "--path", "nope"]);
    assert_eq!(both.code, 1, "{}", both.stderr);
}

#[test]
fn verify_damage_in_the_manifest_itself() {
    let (tmp, vault) = unpack("default");
    let state = tmp.path().join("state");
    manifest(&state, &vault, &[]);
    let listed = vaultdrill()
        .args(["ls", "--json", "--passfile"])
        .arg(password_file())
        .arg(&vault)
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["path"] == ".vaultdrill/manifest.jsonl")
        .expect("the manifest is listed");
    let cipher = vault.join(line["cipher_path"].as_str().unwrap());
    let mut bytes = fs::read(&cipher).unwrap();
    bytes[100] ^= 1;
    fs::write(&cipher, bytes).unwrap();
    let run = verify(&state, &vault, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(".vaultdrill/manifest.jsonl"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--manifest"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    // The local copy still works.
    let copy = local_copy(&state).join("manifest.jsonl");
    let run = verify(&state, &vault, &["--manifest", copy.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // A refresh replaces the unreadable one and hashes everything.
    let fresh = manifest(&state, &vault, &[]);
    assert_eq!(fresh["reused_files"], 0);
    assert_eq!(fresh["stored"], "replaced");
    assert_eq!(verify(&state, &vault, &[]).code, 0);
}

#[test]
fn verify_without_a_manifest_or_with_a_bad_file() {
    let (tmp, vault) = unpack("default");
    let state = tmp.path().join("state");
    let run = verify(&state, &vault, &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no manifest yet"), "{}", run.stderr);
    let junk = tmp.path().join("junk.jsonl");
    fs::write(&junk, "{\"format\":\"something else\"}\n").unwrap();
    let run = verify(&state, &vault, &["--manifest", junk.to_str().unwrap()]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("junk.jsonl"), "{}", run.stderr);
    let run = verify(&state, &vault, &["--manifest", "/nonexistent/m.jsonl"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("/nonexistent/m.jsonl"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_refresh_after_a_deletion_records_the_roots_new_mtime() {
    // Otherwise a later loss in the root would pass for that deletion.
    let (tmp, vault) = unpack("default");
    let state = tmp.path().join("state");
    manifest(&state, &vault, &[]);
    // Something created and deleted in the root: the entries are the same,
    // the root's mtime is not.
    fs::write(vault.join("scratch-file"), b"x").unwrap();
    fs::remove_file(vault.join("scratch-file")).unwrap();
    let refreshed = manifest(&state, &vault, &[]);
    assert_eq!(refreshed["stored"], "replaced", "{refreshed}");
    // Now a file lost without the root's mtime moving is damage.
    let lost = cipher_path_of(&vault, "script.sh");
    keep_mtime(&vault, |_| fs::remove_file(lost).unwrap());
    let run = verify(&state, &vault, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.problems()[0].starts_with("DAMAGED script.sh: listed in the manifest but missing"),
        "{:#?}",
        run.problems()
    );
}

#[test]
fn a_file_of_many_chunks_hashes_in_order_and_names_its_first_bad_block() {
    // 5.5 MiB: six 1 MiB chunks, decrypted four at a time in parallel and
    // hashed in file order.
    let (tmp, vault) = unpack("default");
    let state = tmp.path().join("state");
    let plain = content("many-chunks", 5 * (1 << 20) + (1 << 19));
    add_plain_file(&vault, "many-chunks", &plain);
    manifest(&state, &vault, &["--remote-hashes", "sha1"]);
    let record = records(&local_copy(&state).join("manifest.jsonl"))
        .into_iter()
        .find(|r| r["path"] == "many-chunks")
        .expect("a record");
    assert_eq!(record["blake3"], blake3_hex(&plain));
    let object = cipher_path_of(&vault, "many-chunks");
    assert_eq!(record["cipher_sha1"], coreutils_hash("sha1sum", &object));
    assert_eq!(
        record["cipher_blake3"],
        blake3_hex(&fs::read(&object).unwrap())
    );
    assert_eq!(verify(&state, &vault, &[]).code, 0);
    // Damage in blocks 300 (chunk 1) and 700 (chunk 2), decrypted in the
    // same parallel group: the first in file order is named.
    keep_mtime(&object, |p| {
        let mut bytes = fs::read(p).unwrap();
        for block in [700usize, 300] {
            bytes[18 + block * (4096 + 32) + 100] ^= 1;
        }
        fs::write(p, bytes).unwrap();
    });
    let run = verify(&state, &vault, &[]);
    assert_eq!(run.code, 1);
    let found = run.problems();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with("DAMAGED many-chunks: ") && found[0].contains("block 300"),
        "{found:#?}"
    );
}
