//! `vaultdrill restore`: a gocryptfs fixture vault (made by the real
//! gocryptfs) pushed to a local folder or to the S3 endpoint of `rclone
//! serve s3`, restored whole or in part, with the password or the master
//! key alone, damaged, interrupted with kill -9 and resumed, and into
//! destinations the guards must refuse.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use tempfile::TempDir;

const REMOTE: &str = "s3test:bucket/vault";

/// The fixture vault pushed to a local folder, with its state directory.
struct Setup {
    tmp: TempDir,
    vault: PathBuf,
    remote: PathBuf,
    state: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        Setup::of("default")
    }

    /// The fixture vault of that flavour, pushed to a local folder.
    fn of(flavour: &str) -> Setup {
        let (tmp, vault) = unpack(flavour);
        let state = tmp.path().join("state");
        let remote = tmp.path().join("disk/vault");
        fs::create_dir_all(&remote).unwrap();
        let s = Setup {
            tmp,
            vault,
            remote,
            state,
        };
        s.push_to(&s.remote.clone(), &[]);
        s
    }

    fn push_to(&self, remote: &Path, extra: &[&str]) {
        let out = vaultdrill()
            .env("VAULTDRILL_STATE_DIR", &self.state)
            .arg("push")
            .arg(&self.vault)
            .arg(remote)
            .args(["-q", "--passfile"])
            .arg(password_file())
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Pushed to the S3 endpoint too.
    fn on_s3(&self) -> S3Server {
        let server = S3Server::start();
        let config = server.config.to_str().unwrap().to_string();
        self.push_to(Path::new(REMOTE), &["--rclone-config", &config]);
        server
    }

    fn dest(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// `vaultdrill restore SOURCE DEST --json` with this state directory
    /// (the password unless a key is given).
    fn restore(&self, source: &str, dest: &Path, extra: &[&str]) -> Run {
        let report = self.tmp.path().join("restore.md");
        restore_json(&self.state, source, dest, &report, extra)
    }

    fn local(&self) -> String {
        self.remote.to_str().unwrap().to_string()
    }

    /// The object on the remote that holds plaintext `plain`.
    fn object(&self, plain: &str) -> PathBuf {
        let in_vault = cipher_path_of(&self.vault, plain);
        self.remote.join(
            in_vault
                .strip_prefix(&self.vault)
                .expect("inside the vault"),
        )
    }

    fn report(&self) -> String {
        fs::read_to_string(self.tmp.path().join("restore.md")).expect("a report is written")
    }
}

fn findings(run: &Run) -> Vec<String> {
    run.json["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps: {}\n{}", run.json, run.stderr))
        .iter()
        .flat_map(|s| s["findings"].as_array().unwrap().iter())
        .map(|f| {
            format!(
                "{} {} | {}",
                f["label"].as_str().unwrap(),
                f["path"].as_str().unwrap_or("-"),
                f["cause"].as_str().unwrap()
            )
        })
        .collect()
}

fn totals(run: &Run, key: &str) -> u64 {
    run.json["totals"][key].as_u64().expect(key)
}

/// The restored tree equals the original (bytes, names, links, modes,
/// mtimes), with nothing of the restore's own left in it.
fn assert_restored(dest: &Path, want: &BTreeMap<String, Expected>, context: &str) {
    assert!(
        !dest.join(".vaultdrill-restore").exists(),
        "{context}: the work folder is removed once complete"
    );
    assert_same_tree(&snapshot(dest), want, context);
    assert_no_temp_files(dest);
}

/// Every regular file under `dest` (outside the work folder) is one of
/// the original's, whole: never a half file under a final name.
fn assert_only_whole_files(dest: &Path, want: &BTreeMap<String, Expected>) -> usize {
    let mut n = 0;
    for (path, got) in snapshot(dest) {
        if path.starts_with(".vaultdrill-restore") || got.kind != "file" {
            continue;
        }
        let w = want
            .get(&path)
            .unwrap_or_else(|| panic!("unexpected {path}"));
        assert_eq!(got.sha256, w.sha256, "{path} is whole");
        n += 1;
    }
    n
}

fn subset(
    want: &BTreeMap<String, Expected>,
    keep: impl Fn(&str) -> bool,
) -> BTreeMap<String, Expected> {
    want.iter()
        .filter(|(p, _)| keep(p))
        .map(|(p, e)| (p.clone(), e.clone()))
        .collect()
}

#[test]
fn a_full_restore_from_a_local_folder_equals_the_original_tree() {
    let s = Setup::new();
    let dest = s.dest("restored");
    let run = s.restore(&s.local(), &dest, &[]);
    assert_eq!(run.code, 0, "{:#?}\n{}", findings(&run), run.stderr);
    assert_eq!(run.json["verdict"], "verified");
    assert_eq!(run.json["complete"], true);
    let want = expected("default");
    assert_restored(&dest, &want, "full restore");
    let files = want.values().filter(|e| e.kind == "file").count() as u64;
    assert_eq!(totals(&run, "files"), files);
    assert_eq!(totals(&run, "files_restored"), files);
    assert_eq!(totals(&run, "bytes_downloaded"), 0, "read in place");
    let report = s.report();
    assert!(
        report.lines().next().unwrap().starts_with("# RESTORED"),
        "{report}"
    );
    assert!(report.contains("## Not restored\n\nNothing."), "{report}");

    // Run again into the finished folder: it is not an earlier restore any
    // more (no marker), so the guard asks for --force; with it, everything
    // is hashed again and counts as restored, nothing is rewritten.
    let again = s.restore(&s.local(), &dest, &[]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(again.stderr.contains("not empty"), "{}", again.stderr);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    let forced = s.restore(&s.local(), &dest, &["--force"]);
    assert_eq!(forced.code, 0, "{:#?}", findings(&forced));
    assert_eq!(totals(&forced, "files_rechecked"), files);
    assert_eq!(totals(&forced, "files_restored"), 0);
    assert_restored(&dest, &want, "forced again");
}

#[test]
fn names_with_a_tab_or_a_line_break_restore_from_a_local_folder() {
    // A plaintext-names vault keeps such names as object names: they are
    // no path escape, and a local folder is read in place.
    let s = Setup::of("plaintextnames");
    let dest = s.dest("out");
    let run = s.restore(&s.local(), &dest, &[]);
    assert_eq!(run.code, 0, "{:#?}\n{}", findings(&run), run.stderr);
    assert_restored(&dest, &expected("plaintextnames"), "plaintext names");
    assert!(dest.join("new\nline").is_file() && dest.join("tab\there").is_file());
}

#[test]
fn a_partial_restore_by_path_fetches_only_what_it_needs() {
    let s = Setup::new();
    let server = s.on_s3();
    // An rclone that logs every --files-from-raw list it is given.
    let log = s.tmp.path().join("lists.log");
    let wrapper = s.tmp.path().join("rclone-logs");
    rclone_wrapper(
        &wrapper,
        &format!(
            "args=(\"$@\")\nfor i in \"${{!args[@]}}\"; do\n  if [ \"${{args[$i]}}\" = --files-from-raw ]; then cat \"${{args[$((i+1))]}}\" >> {log}; fi\ndone\n",
            log = log.display(),
        ),
    );
    let want = expected("default");
    let dir = want
        .values()
        .find(|e| {
            e.kind == "dir"
                && !e.path.contains('/')
                && want.keys().any(|k| k.starts_with(&format!("{}/", e.path)))
        })
        .expect("a folder with contents")
        .path
        .clone();
    let file = want
        .values()
        .find(|e| e.kind == "file" && !e.path.contains('/'))
        .expect("a top-level file")
        .path
        .clone();
    let dest = s.dest("part");
    let config = server.config.to_str().unwrap().to_string();
    let run = s.restore(
        REMOTE,
        &dest,
        &[
            "--path",
            &dir,
            "--path",
            &file,
            "--rclone-config",
            &config,
            "--rclone",
            wrapper.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{:#?}\n{}", findings(&run), run.stderr);
    let part = subset(&want, |p| {
        p == file || p == dir || p.starts_with(&format!("{dir}/"))
    });
    assert_restored(&dest, &part, "partial restore");
    let files = part.values().filter(|e| e.kind == "file").count();
    assert_eq!(totals(&run, "files_restored") as usize, files);
    // Fetched: the config and the root's diriv, the manifest folder's diriv
    // and manifest, and one object per restored file; nothing else.
    let listed: Vec<String> = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(listed.len(), 4 + files, "{listed:#?}");
}

#[test]
fn the_master_key_restores_without_gocryptfs_conf_from_s3() {
    let s = Setup::new();
    let server = s.on_s3();
    server.rclone(&["deletefile", &format!("{REMOTE}/gocryptfs.conf")]);
    let config = server.config.to_str().unwrap().to_string();
    // The password has nothing to open: damage, said with the way out.
    let run = s.restore(REMOTE, &s.dest("pw"), &["--rclone-config", &config]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let unlock = &run.json["steps"][1];
    assert_eq!(unlock["status"], "failed");
    assert!(
        unlock["summary"]
            .as_str()
            .unwrap()
            .contains("--masterkey-file"),
        "{unlock}"
    );
    // The master key alone: the flags come from the ciphertext.
    let dest = s.dest("mk");
    let key = masterkey_file("default");
    let run = s.restore(
        REMOTE,
        &dest,
        &[
            "--masterkey-file",
            key.to_str().unwrap(),
            "--rclone-config",
            &config,
        ],
    );
    assert_eq!(run.code, 0, "{:#?}\n{}", findings(&run), run.stderr);
    assert!(
        run.json["steps"][1]["summary"]
            .as_str()
            .unwrap()
            .contains("detected from the ciphertext")
    );
    assert_restored(&dest, &expected("default"), "master key, no config");
    assert!(totals(&run, "bytes_downloaded") > 0);

    // A wrong master key is refused (3), and nothing is restored.
    let wrong = s.tmp.path().join("wrong-key");
    fs::copy(masterkey_file("aessiv"), &wrong).unwrap();
    let run = s.restore(
        REMOTE,
        &s.dest("wrong"),
        &[
            "--masterkey-file",
            wrong.to_str().unwrap(),
            "--rclone-config",
            &config,
        ],
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(run.json["steps"][1]["status"], "refused");
    assert_eq!(
        fs::read_dir(s.dest("wrong")).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn an_older_manifest_restores_the_vault_as_it_was() {
    let s = Setup::new();
    add_plain_file(&s.vault, "added-later", b"not in the first push");
    s.push_to(&s.remote.clone(), &[]);
    // The current manifest has the new file.
    let dest = s.dest("now");
    let run = s.restore(&s.local(), &dest, &[]);
    assert_eq!(run.code, 0, "{:#?}", findings(&run));
    assert!(dest.join("added-later").is_file());
    // The kept one (`manifest-<time>.jsonl`, any prefix of its time) does not.
    let dest = s.dest("before");
    let run = s.restore(&s.local(), &dest, &["--manifest", "20"]);
    assert_eq!(run.code, 0, "{:#?}\n{}", findings(&run), run.stderr);
    assert!(
        run.json["manifest"]
            .as_str()
            .unwrap()
            .contains("kept manifest"),
        "{}",
        run.json["manifest"]
    );
    assert_restored(&dest, &expected("default"), "the first push's manifest");
    // An unknown version lists those the remote keeps.
    let run = s.restore(&s.local(), &s.dest("none"), &["--manifest", "1999"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let said = run.json["steps"][0]["summary"].as_str().unwrap();
    assert!(
        said.contains("manifest-20") && said.contains("manifest.jsonl"),
        "{said}"
    );
}

#[test]
fn a_wrong_password_is_refused() {
    let s = Setup::new();
    let wrong = s.tmp.path().join("wrong");
    fs::write(&wrong, "not the password\n").unwrap();
    let dest = s.dest("out");
    let run = s.restore(&s.local(), &dest, &["--passfile", wrong.to_str().unwrap()]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(s.report().starts_with("# NOT RESTORED"), "{}", s.report());
}

#[test]
fn damaged_objects_are_reported_while_the_rest_is_restored_then_a_repair_finishes_it() {
    let s = Setup::new();
    add_plain_file(&s.vault, "twin-a", &content("twin-a", 10_000));
    add_plain_file(&s.vault, "twin-b", &content("twin-b", 10_000));
    s.push_to(&s.remote.clone(), &[]);
    // A flipped byte, a deleted object, and two equal-size objects swapped
    // (each authenticates: only the manifest's BLAKE3 sees it).
    let flipped = s.object("size-20000");
    let mut bytes = fs::read(&flipped).unwrap();
    bytes[5000] ^= 0x40;
    fs::write(&flipped, bytes).unwrap();
    fs::remove_file(s.object("size-4097")).unwrap();
    let (a, b) = (s.object("twin-a"), s.object("twin-b"));
    let tmp = s.tmp.path().join("swap");
    fs::rename(&a, &tmp).unwrap();
    fs::rename(&b, &a).unwrap();
    fs::rename(&tmp, &b).unwrap();

    let dest = s.dest("out");
    let run = s.restore(&s.local(), &dest, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let all = findings(&run);
    let has = |path: &str, cause: &str| {
        all.iter()
            .any(|f| f.starts_with(&format!("DAMAGED {path} |")) && f.contains(cause))
    };
    assert!(has("size-20000", "authentication failed"), "{all:#?}");
    assert!(has("size-4097", "remote"), "{all:#?}");
    assert!(has("twin-a", "BLAKE3"), "{all:#?}");
    assert!(has("twin-b", "BLAKE3"), "{all:#?}");
    assert_eq!(all.len(), 4, "{all:#?}");
    for gone in ["size-20000", "size-4097", "twin-a", "twin-b"] {
        assert!(!dest.join(gone).exists(), "{gone} is not restored");
    }
    let mut want = expected("default");
    let restored = assert_only_whole_files(&dest, &want);
    assert_eq!(restored as u64, totals(&run, "files_restored"));
    assert_eq!(totals(&run, "files_failed"), 4);
    assert!(
        dest.join(".vaultdrill-restore/restore.json").is_file(),
        "resumable"
    );
    let report = s.report();
    assert!(
        report.starts_with("# INCOMPLETE: the backup is damaged"),
        "{report}"
    );
    assert!(report.contains("runbooks/restore-a-vault.md#files-that-were-not-restored"));
    assert!(report.contains("run the same command again"), "{report}");

    // The remote repaired from the vault: the same command finishes.
    s.push_to(&s.remote.clone(), &["--checksum"]);
    let run = s.restore(&s.local(), &dest, &[]);
    assert_eq!(run.code, 0, "{:#?}\n{}", findings(&run), run.stderr);
    assert_eq!(run.json["resumed"], true);
    assert_eq!(totals(&run, "files_restored"), 4);
    assert_eq!(totals(&run, "files_rechecked") as usize, restored);
    for twin in ["twin-a", "twin-b"] {
        let got = snapshot(&dest).remove(twin).unwrap();
        assert_eq!(fs::read(dest.join(twin)).unwrap(), content(twin, 10_000));
        want.insert(twin.into(), got);
    }
    assert_restored(&dest, &want, "after the repair");
}

#[test]
fn kill_9_mid_restore_leaves_only_whole_files_and_the_same_command_resumes() {
    let s = Setup::new();
    let server = s.on_s3();
    let config = server.config.to_str().unwrap().to_string();
    // A slow rclone: every batch (one file each) waits first.
    let wrapper = s.tmp.path().join("rclone-slow");
    rclone_wrapper(&wrapper, "sleep 0.4\n");
    let dest = s.dest("out");
    let mut child = vaultdrill_std()
        .env("VAULTDRILL_STATE_DIR", &s.state)
        .args(["restore", REMOTE])
        .arg(&dest)
        .args([
            "-q",
            "--batch",
            "1B",
            "--rclone-config",
            &config,
            "--rclone",
        ])
        .arg(&wrapper)
        .arg("--passfile")
        .arg(password_file())
        .stdout(std::process::Stdio::null())
        .stderr(fs::File::create(s.tmp.path().join("killed.log")).unwrap())
        .spawn()
        .unwrap();
    let want = expected("default");
    // Wait until a few files are in place, then kill -9.
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if !dest.exists() {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let placed = snapshot(&dest)
            .values()
            .filter(|e| e.kind == "file" && !e.path.starts_with(".vaultdrill-restore"))
            .count();
        if placed >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        dest.exists(),
        "{}",
        fs::read_to_string(s.tmp.path().join("killed.log")).unwrap()
    );
    let placed = assert_only_whole_files(&dest, &want);
    let files = want.values().filter(|e| e.kind == "file").count();
    assert!(
        placed >= 3 && placed < files,
        "killed mid-restore: {placed} of {files}"
    );
    assert!(dest.join(".vaultdrill-restore/restore.json").is_file());
    let private = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(private(&dest), 0o700, "a new destination is private");
    assert_eq!(private(&dest.join(".vaultdrill-restore")), 0o700);
    assert_no_temp_files(&dest);

    // A file that a person (or a bug) changed meanwhile is found by its
    // hash, not trusted: left alone and reported.
    let (changed, _) = snapshot(&dest)
        .into_iter()
        .find(|(p, e)| {
            e.kind == "file" && !p.starts_with(".vaultdrill-restore") && e.size > Some(0)
        })
        .unwrap();
    let original = fs::read(dest.join(&changed)).unwrap();
    let mut edited = original.clone();
    edited[0] ^= 1;
    fs::write(dest.join(&changed), &edited).unwrap();
    let run = s.restore(REMOTE, &dest, &["--rclone-config", &config]);
    assert_eq!(run.code, 4, "{:#?}\n{}", findings(&run), run.stderr);
    assert_eq!(run.json["resumed"], true);
    let all = findings(&run);
    assert!(
        all.iter()
            .any(|f| f.contains(&changed) && f.contains("left alone")),
        "{all:#?}"
    );
    assert_eq!(
        fs::read(dest.join(&changed)).unwrap(),
        edited,
        "never overwritten"
    );

    // Put back, the same command finishes: what was there is hashed again.
    fs::write(dest.join(&changed), &original).unwrap();
    let mtime = want[&changed].mtime_ns;
    let t = filetime_of(mtime);
    filetime_set(&dest.join(&changed), t);
    let run = s.restore(REMOTE, &dest, &["--rclone-config", &config]);
    assert_eq!(run.code, 0, "{:#?}\n{}", findings(&run), run.stderr);
    assert!(totals(&run, "files_rechecked") as usize >= placed);
    assert_restored(&dest, &want, "resumed after kill -9");
}

fn filetime_of(ns: i128) -> (i64, i64) {
    ((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as i64)
}

fn filetime_set(path: &Path, (sec, nsec): (i64, i64)) {
    let status = std::process::Command::new("touch")
        .arg("-m")
        .arg("-d")
        .arg(format!("@{sec}.{nsec:09}"))
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

fn vaultdrill_std() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vaultdrill"));
    cmd.env_remove("XDG_RUNTIME_DIR");
    cmd
}

#[test]
fn destinations_the_guards_refuse() {
    let s = Setup::new();
    // Inside the source.
    let run = s.restore(&s.local(), &s.remote.join("restored"), &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("inside the source"), "{}", run.stderr);
    assert!(!s.remote.join("restored").exists());

    // Not empty, not an earlier restore: refused, then --force restores
    // beside what is there, leaves a file in the way alone and says so.
    let dest = s.dest("busy");
    fs::create_dir_all(&dest).unwrap();
    fs::write(dest.join("mine.txt"), b"keep me").unwrap();
    let want = expected("default");
    let (in_the_way, _) = want
        .iter()
        .find(|(p, e)| e.kind == "file" && !p.contains('/'))
        .unwrap();
    fs::write(dest.join(in_the_way), b"also mine").unwrap();
    let run = s.restore(&s.local(), &dest, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(
        run.stderr.trim().lines().count(),
        1,
        "one line: {}",
        run.stderr
    );
    let run = s.restore(&s.local(), &dest, &["--force"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let all = findings(&run);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert!(
        all[0].contains(in_the_way.as_str()) && all[0].contains("left alone"),
        "{all:#?}"
    );
    assert_eq!(fs::read(dest.join("mine.txt")).unwrap(), b"keep me");
    assert_eq!(fs::read(dest.join(in_the_way)).unwrap(), b"also mine");
    assert_only_whole_files(
        &dest,
        &subset(&want, |p| p != in_the_way.as_str())
            .into_iter()
            .chain([
                ("mine.txt".to_string(), snapshot(&dest)["mine.txt"].clone()),
                (
                    in_the_way.clone(),
                    snapshot(&dest)[in_the_way.as_str()].clone(),
                ),
            ])
            .collect(),
    );

    // An earlier restore of another vault: refused.
    let other = s.dest("other");
    fs::create_dir_all(other.join(".vaultdrill-restore")).unwrap();
    fs::write(
        other.join(".vaultdrill-restore/restore.json"),
        format!(
            r#"{{"vault_id":"{}","source":"x","started":"y"}}"#,
            "0".repeat(32)
        ),
    )
    .unwrap();
    fs::write(other.join("theirs"), b"x").unwrap();
    let run = s.restore(&s.local(), &other, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("another vault"), "{}", run.stderr);

    // A --path that matches nothing: a usage error, said.
    let run = s.restore(&s.local(), &s.dest("nothing"), &["--path", "no/such/thing"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.json["unmatched"][0], "no/such/thing");
    assert!(
        run.json["steps"][2]["summary"]
            .as_str()
            .unwrap()
            .contains("no/such/thing"),
        "{}",
        run.json
    );
}

#[test]
fn a_full_disk_is_refused_before_anything_is_written() {
    // A 1 MiB tmpfs for a vault with a 2 MiB file (root: mount).
    let s = Setup::new();
    add_plain_file(&s.vault, "big", &content("big", 2 << 20));
    s.push_to(&s.remote.clone(), &[]);
    let mnt = s.dest("small-disk");
    fs::create_dir_all(&mnt).unwrap();
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs"])
        .arg(&mnt)
        .status()
        .expect("mount runs");
    assert!(status.success(), "mounting a tmpfs (the tests run as root)");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mnt.clone());
    let run = s.restore(&s.local(), &mnt, &[]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let summary = run.json["steps"][2]["summary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        summary.contains("not enough space") && summary.contains("free"),
        "{summary}"
    );
    assert!(summary.contains("MiB"), "names the space needed: {summary}");
    let entries: Vec<_> = fs::read_dir(&mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        entries,
        vec![std::ffi::OsString::from(".vaultdrill-restore")],
        "only the marker"
    );

    // A partial restore that fits goes through on the same disk.
    let run = s.restore(&s.local(), &mnt, &["--path", "size-20000"]);
    assert_eq!(run.code, 0, "{:#?}\n{}", findings(&run), run.stderr);
    assert_eq!(
        sha256_file(&mnt.join("size-20000")),
        expected("default")["size-20000"].sha256.clone().unwrap()
    );
}

#[test]
fn a_restore_report_and_json_name_no_secret() {
    let s = Setup::new();
    let dest = s.dest("out");
    let run = s.restore(&s.local(), &dest, &[]);
    assert_eq!(run.code, 0);
    // Reports name plaintext paths: private to their owner, also in the
    // state directory's reports folder.
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&s.tmp.path().join("restore.md")), 0o600);
    let out = vaultdrill()
        .env("VAULTDRILL_STATE_DIR", &s.state)
        .args(["restore", "-q", &s.local()])
        .arg(s.dest("default-report"))
        .arg("--passfile")
        .arg(password_file())
        .output()
        .unwrap();
    assert!(out.status.success());
    let reports = s.state.join("reports");
    assert_eq!(mode(&reports), 0o700);
    for entry in fs::read_dir(&reports).unwrap() {
        assert_eq!(mode(&entry.unwrap().path()), 0o600);
    }
    let password = fs::read_to_string(password_file()).unwrap();
    let password = password.trim();
    let key = fs::read_to_string(masterkey_file("default")).unwrap();
    let key_hex: String = key.chars().filter(char::is_ascii_hexdigit).collect();
    for text in [run.json.to_string(), run.stderr.clone(), s.report()] {
        assert!(!text.contains(password));
        assert!(!text.to_lowercase().contains(&key_hex.to_lowercase()));
    }
}

#[test]
fn a_network_cut_stops_with_4_and_the_same_command_finishes() {
    let s = Setup::new();
    let server = s.on_s3();
    let config = server.config.to_str().unwrap().to_string();
    // An rclone whose fourth download fails (the first three fetch the
    // config, the manifest folder's diriv and the manifest).
    let count = s.tmp.path().join("calls");
    let wrapper = s.tmp.path().join("rclone-cut");
    rclone_wrapper(
        &wrapper,
        &format!(
            "if [[ \" $* \" == *' copy '* ]]; then n=$(( $(cat {count} 2>/dev/null || echo 0) + 1 )); echo $n > {count}\n  if [ $n -ge 6 ]; then echo 'Failed to copy: connection reset by peer' >&2; exit 1; fi\nfi\n",
            count = count.display(),
        ),
    );
    let dest = s.dest("out");
    let run = s.restore(
        REMOTE,
        &dest,
        &[
            "--batch",
            "1B",
            "--rclone-config",
            &config,
            "--rclone",
            wrapper.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 4, "{}", run.stderr);
    let said = run.json["steps"][2]["summary"].as_str().unwrap();
    assert!(
        said.contains("connection reset") && said.contains("same command again"),
        "{said}"
    );
    let want = expected("default");
    let placed = assert_only_whole_files(&dest, &want);
    assert_eq!(placed, 2, "the two batches fetched before the cut");
    assert!(
        !dest.join(".vaultdrill-restore/objects").exists(),
        "fetched ciphertext removed"
    );
    let run = s.restore(REMOTE, &dest, &["--rclone-config", &config]);
    assert_eq!(run.code, 0, "{:#?}\n{}", findings(&run), run.stderr);
    assert_eq!(totals(&run, "files_rechecked"), 2);
    assert_restored(&dest, &want, "after the cut");
}

#[test]
fn ctrl_c_keeps_what_is_restored_and_the_marker() {
    let s = Setup::new();
    let server = s.on_s3();
    let config = server.config.to_str().unwrap().to_string();
    let wrapper = s.tmp.path().join("rclone-slow");
    rclone_wrapper(&wrapper, "sleep 0.3\n");
    let dest = s.dest("out");
    let child = vaultdrill_std()
        .env("VAULTDRILL_STATE_DIR", &s.state)
        .args(["restore", REMOTE])
        .arg(&dest)
        .args(["--batch", "1B", "--rclone-config", &config, "--rclone"])
        .arg(&wrapper)
        .arg("--passfile")
        .arg(password_file())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && !dest.join(".vaultdrill-restore/objects").exists() {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(400));
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("run the same command again"), "{stderr}");
    let work: Vec<_> = fs::read_dir(dest.join(".vaultdrill-restore"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        work,
        vec![std::ffi::OsString::from("restore.json")],
        "only the marker stays"
    );
    assert_only_whole_files(&dest, &expected("default"));
    assert_no_temp_files(&dest);
}

#[test]
fn a_hostile_manifest_or_a_planted_link_cannot_steer_writes_out_of_dest() {
    let s = Setup::new();
    // A plaintext manifest (--manifest FILE) whose paths climb out, and
    // one under a folder that is a symlink to elsewhere in DEST.
    let want = expected("default");
    let (run, _, _) = restore_renamed(&s, "../escaped");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let all = findings(&run);
    assert!(
        all.iter()
            .any(|f| f.contains("../escaped") && f.contains("not a plain relative path")),
        "{all:#?}"
    );
    assert!(
        !s.tmp.path().join("escaped").exists(),
        "nothing written outside DEST"
    );

    // A folder of the vault replaced in DEST by a link to elsewhere: the
    // files under it are not written through the link.
    let (dir, _) = want
        .iter()
        .find(|(p, e)| {
            e.kind == "dir"
                && want
                    .keys()
                    .any(|k| k.starts_with(&format!("{p}/")) && want[k].kind == "file")
        })
        .unwrap();
    let elsewhere = s.tmp.path().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    let dest = s.dest("planted");
    fs::create_dir_all(dest.join(dir).parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&elsewhere, dest.join(dir)).unwrap();
    let run = s.restore(&s.local(), &dest, &["--force"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        findings(&run)
            .iter()
            .any(|f| f.contains(dir.as_str()) && f.contains("left alone")),
        "{:#?}",
        findings(&run)
    );
    assert_eq!(
        fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "nothing written through the link"
    );
}

#[test]
fn a_vault_path_in_the_restores_own_work_folder_is_not_restored_there() {
    // The restore removes DEST/.vaultdrill-restore when it ends: a vault
    // that holds that folder (a home folder backed up mid-restore) must
    // not be restored into it, counted, then deleted.
    let s = Setup::new();
    let want = expected("default");
    let (run, dest, victim) = restore_renamed(&s, ".vaultdrill-restore/kept.txt");
    assert_eq!(run.code, 4, "{}", run.stderr);
    let all = findings(&run);
    assert!(
        all.iter()
            .any(|f| f.starts_with("FAILED .vaultdrill-restore/kept.txt")
                && f.contains("the restore's own work folder")),
        "{all:#?}"
    );
    assert!(!all.iter().any(|f| f.starts_with("DAMAGED")), "{all:#?}");
    // Not written there (the folder itself stays: the restore is not
    // complete, so its marker is kept for the next run).
    assert!(!dest.join(".vaultdrill-restore/kept.txt").exists());
    // Everything else is restored.
    let (other, _) = want
        .iter()
        .find(|(p, e)| e.kind == "file" && **p != victim)
        .unwrap();
    assert!(dest.join(other).is_file(), "{other} restored");
}

#[test]
fn a_registered_name_is_a_source_with_its_password_source() {
    let s = Setup::new();
    let registry = s.tmp.path().join("config.toml");
    fs::write(
        &registry,
        format!(
            "[vaults.thesis]\nfolder = {:?}\nremote = {:?}\npassfile = {:?}\n",
            s.vault.to_str().unwrap(),
            s.remote.to_str().unwrap(),
            password_file().to_str().unwrap()
        ),
    )
    .unwrap();
    let dest = s.dest("by-name");
    let run = run_json(
        vaultdrill()
            .env("VAULTDRILL_STATE_DIR", &s.state)
            .arg("--registry")
            .arg(&registry)
            .args(["restore", "thesis"])
            .arg(&dest)
            .arg("--json")
            .arg("--report")
            .arg(s.tmp.path().join("restore.md")),
    );
    assert_eq!(run.code, 0, "{:#?}\n{}", findings(&run), run.stderr);
    assert_eq!(run.json["source"], s.local());
    assert_restored(&dest, &expected("default"), "by name");
}

#[test]
fn a_disk_that_fills_mid_restore_stops_cleanly_and_resumes_once_there_is_room() {
    // Bytes are checked first; inodes are not: a tmpfs with 12 inodes fills
    // up part way (root: mount).
    let s = Setup::new();
    let mnt = s.dest("few-inodes");
    fs::create_dir_all(&mnt).unwrap();
    let status = std::process::Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=64m,nr_inodes=12,mode=0700",
            "tmpfs",
        ])
        .arg(&mnt)
        .status()
        .expect("mount runs");
    assert!(status.success(), "mounting a tmpfs (the tests run as root)");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mnt.clone());
    let run = s.restore(&s.local(), &mnt, &[]);
    assert_eq!(run.code, 4, "{:#?}\n{}", findings(&run), run.stderr);
    let said = run.json["steps"][2]["summary"].as_str().unwrap();
    assert!(
        said.contains("the disk is full") && said.contains("same command again"),
        "{said}"
    );
    let want = expected("default");
    let placed = assert_only_whole_files(&mnt, &want);
    assert!(placed < want.values().filter(|e| e.kind == "file").count());
    assert_no_temp_files(&mnt);
    // Room made: the same command finishes.
    let status = std::process::Command::new("mount")
        .args(["-o", "remount,nr_inodes=1000"])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(status.success());
    let run = s.restore(&s.local(), &mnt, &[]);
    assert_eq!(run.code, 0, "{:#?}\n{}", findings(&run), run.stderr);
    assert_restored(&mnt, &want, "after the disk had room again");
}

/// The local copy of the pushed manifest with each record passed through
/// `edit`, and a trailer that matches (so only the edit itself can be
/// refused); written to `name` in the test's folder.
/// A restore into a new DEST from a plaintext manifest in which one
/// top-level file's path is `path`: the run, DEST, and that file's path.
fn restore_renamed(s: &Setup, path: &str) -> (Run, PathBuf, String) {
    let want = expected("default");
    let (victim, _) = want
        .iter()
        .find(|(p, e)| e.kind == "file" && !p.contains('/'))
        .unwrap();
    let manifest = edited_manifest(s, "renamed.jsonl", |r| {
        if r["path"] == victim.as_str() {
            r["path"] = Value::from(path);
        }
    });
    let dest = s.dest("out");
    let run = s.restore(
        &s.local(),
        &dest,
        &["--manifest", manifest.to_str().unwrap()],
    );
    (run, dest, victim.clone())
}

fn edited_manifest(s: &Setup, name: &str, edit: impl Fn(&mut Value)) -> PathBuf {
    let path = s.tmp.path().join(name);
    edit_manifest(&local_manifest_copy(&s.state), &path, edit);
    path
}

#[test]
fn hostile_object_names_in_a_manifest_neither_read_nor_delete_outside() {
    // Through rclone's local backend, fetched objects are removed after
    // each batch: a manifest naming `../x` or `/abs/x` as a file's object
    // must not make that a removal (or a read) outside the work folder.
    let s = Setup::new();
    let victims = s.tmp.path().join("victims");
    fs::create_dir_all(&victims).unwrap();
    let (climb, absolute) = (victims.join("climb"), victims.join("absolute"));
    fs::write(&climb, b"keep").unwrap();
    fs::write(&absolute, b"keep").unwrap();
    let want = expected("default");
    let mut files = want
        .iter()
        .filter(|(p, e)| e.kind == "file" && !p.contains('/'));
    let (a, b) = (
        files.next().unwrap().0.clone(),
        files.next().unwrap().0.clone(),
    );
    let dest = s.dest("out");
    let depth = dest
        .join(".vaultdrill-restore/objects")
        .components()
        .count();
    let climb_name = format!(
        "{}{}",
        "../".repeat(depth),
        climb.strip_prefix("/").unwrap().display()
    );
    let manifest = edited_manifest(&s, "hostile.jsonl", |r| {
        if r["path"] == a.as_str() {
            r["cipher_path"] = Value::from(climb_name.clone());
        }
        if r["path"] == b.as_str() {
            r["cipher_path"] = Value::from(absolute.to_str().unwrap());
        }
    });
    let source = format!(":local:{}", s.local());
    let run = s.restore(&source, &dest, &["--manifest", manifest.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{:#?}\n{}", findings(&run), run.stderr);
    let all = findings(&run);
    for name in [&a, &b] {
        assert!(
            all.iter()
                .any(|f| f.starts_with(&format!("DAMAGED {name} |"))
                    && f.contains("object that is not a plain relative path")),
            "{all:#?}"
        );
        assert!(!dest.join(name).exists());
    }
    assert_eq!(fs::read(&climb).unwrap(), b"keep");
    assert_eq!(fs::read(&absolute).unwrap(), b"keep");
    // Everything else was restored.
    assert_only_whole_files(&dest, &want);
    assert_eq!(totals(&run, "files_failed"), 2);
}

#[test]
fn a_wrong_master_key_is_refused_even_with_gocryptfs_conf_there() {
    let s = Setup::new();
    let wrong = s.tmp.path().join("wrong-key");
    fs::copy(masterkey_file("aessiv"), &wrong).unwrap();
    let dest = s.dest("out");
    let run = s.restore(
        &s.local(),
        &dest,
        &["--masterkey-file", wrong.to_str().unwrap()],
    );
    assert_eq!(run.code, 3, "{:#?}\n{}", findings(&run), run.stderr);
    assert_eq!(run.json["steps"][1]["status"], "refused");
    assert!(
        findings(&run).is_empty(),
        "no file is called damaged: {:#?}",
        findings(&run)
    );
}

#[test]
fn paths_an_unfinished_restore_owes_keep_the_marker_until_restored() {
    let s = Setup::new();
    let want = expected("default");
    // A folder with a file in it, and a file elsewhere.
    let (file_in_dir, _) = want
        .iter()
        .find(|(p, e)| e.kind == "file" && p.matches('/').count() == 1)
        .unwrap();
    let dir = file_in_dir.split('/').next().unwrap().to_string();
    let (other, _) = want
        .iter()
        .find(|(p, e)| e.kind == "file" && !p.contains('/'))
        .unwrap();
    // --path DIR meets a damaged object: unfinished (exit 1).
    let object = s.object(file_in_dir);
    let good = fs::read(&object).unwrap();
    let mut bad = good.clone();
    let at = bad.len() - 1;
    bad[at] ^= 1;
    fs::write(&object, &bad).unwrap();
    let dest = s.dest("out");
    let run = s.restore(&s.local(), &dest, &["--path", &dir]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    // A half-written file left by a killed run on a file system without
    // unnamed files: ours, cleared by the next run.
    fs::write(
        dest.join(&dir).join(".vaultdrill-tmp-0123456789abcdef"),
        b"half",
    )
    .unwrap();
    // --path OTHER passes, but the folder still owes DIR: marker kept.
    let run = s.restore(&s.local(), &dest, &["--path", other]);
    assert_eq!(run.code, 0, "{:#?}", findings(&run));
    assert_eq!(run.json["complete"], false);
    assert_eq!(run.json["still_owed"], serde_json::json!([dir.clone()]));
    assert!(dest.join(".vaultdrill-restore/restore.json").is_file());
    assert!(
        s.report().contains("An earlier, unfinished restore"),
        "{}",
        s.report()
    );
    // Repaired, --path DIR finishes it all: marker gone, temp file gone.
    fs::write(&object, &good).unwrap();
    let run = s.restore(&s.local(), &dest, &["--path", &dir]);
    assert_eq!(run.code, 0, "{:#?}", findings(&run));
    assert_eq!(run.json["complete"], true);
    let part = subset(&want, |p| {
        p == other || p == dir || p.starts_with(&format!("{dir}/"))
    });
    assert_restored(&dest, &part, "owed paths restored");
}

#[test]
fn a_master_key_restore_names_no_secret_anywhere() {
    let s = Setup::new();
    let dest = s.dest("out");
    let key = masterkey_file("default");
    let run = s.restore(
        &s.local(),
        &dest,
        &["--masterkey-file", key.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{:#?}", findings(&run));
    let printed = fs::read_to_string(&key).unwrap();
    let hex: String = printed.chars().filter(char::is_ascii_hexdigit).collect();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
    for text in [run.json.to_string(), run.stderr.clone(), s.report()] {
        assert!(!text.to_lowercase().contains(&hex.to_lowercase()));
        assert!(!text.contains(&b64));
        assert!(!text.contains(printed.trim()));
    }
}

#[test]
fn no_secret_reaches_rclone_through_argv_or_environment() {
    let s = Setup::new();
    let server = s.on_s3();
    let log = s.tmp.path().join("rclone-calls.log");
    let wrapper = s.tmp.path().join("rclone-logs");
    rclone_wrapper(
        &wrapper,
        &format!(
            "{{ printf 'ARGV'; printf ' %s' \"$@\"; echo; env; cat /proc/$$/cmdline | tr '\\0' ' '; echo; }} >> {log}\n",
            log = log.display(),
        ),
    );
    let config = server.config.to_str().unwrap().to_string();
    let key = masterkey_file("default");
    for (dest, extra) in [
        ("pw", vec![]),
        ("mk", vec!["--masterkey-file", key.to_str().unwrap()]),
    ] {
        let mut args = vec![
            "--rclone-config",
            config.as_str(),
            "--rclone",
            wrapper.to_str().unwrap(),
        ];
        args.extend(extra);
        let run = s.restore(REMOTE, &s.dest(dest), &args);
        assert_eq!(run.code, 0, "{:#?}\n{}", findings(&run), run.stderr);
    }
    let calls = fs::read_to_string(&log).unwrap();
    assert!(calls.matches("ARGV").count() >= 8, "{calls}");
    let password = fs::read_to_string(password_file()).unwrap();
    let printed = fs::read_to_string(&key).unwrap();
    let hex: String = printed.chars().filter(char::is_ascii_hexdigit).collect();
    for secret in [
        password.trim(),
        printed.trim(),
        hex.as_str(),
        &hex.to_uppercase(),
    ] {
        assert!(!calls.contains(secret), "a secret reached rclone");
    }
}

#[test]
fn a_restore_into_a_fuse_file_system_is_whole() {
    // DEST inside a gocryptfs mount: FUSE, no O_TMPFILE (temporary names),
    // and a final syncfs that never reaches the daemon, so each file is
    // flushed before it is named. Everything arrives, nothing temporary stays.
    let s = Setup::new();
    let outer = s.tmp.path().join("outer");
    let passfile = s.tmp.path().join("outer-pass");
    gocryptfs_init(&outer, &passfile, &[]);
    let mount = Mount::new(&[], &outer, &s.tmp.path().join("outer-mnt"), &passfile);
    let dest = mount.point.join("restored");
    let run = s.restore(&s.local(), &dest, &[]);
    assert_eq!(run.code, 0, "{:#?}\n{}", findings(&run), run.stderr);
    assert_restored(&dest, &expected("default"), "restore onto FUSE");
    assert_no_temp_files(&dest);
}
