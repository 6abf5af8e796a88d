//! `vaultdrill drill` against a pushed copy of a vault made by the real
//! gocryptfs, on a local-folder remote (an external disk) and on the S3
//! endpoint of `rclone serve s3`, with faults injected into the remote.
//! Each fault must end in a failing drill whose report names the path and
//! the cause, with the right exit code and nothing left in scratch; the
//! clean vault must pass with both unlock paths proven.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;
use tempfile::TempDir;

/// Two files of the same size, added to the fixture (a swap of their
/// objects keeps every size right).
const TWIN: usize = 10_000;

/// A fixture vault pushed to a local folder, with its state directory.
struct Pushed {
    tmp: TempDir,
    vault: PathBuf,
    remote: PathBuf,
    state: PathBuf,
    flavour: &'static str,
}

impl Pushed {
    fn new() -> Pushed {
        Pushed::of("default")
    }

    /// The fixture vault of that flavour, pushed.
    fn of(flavour: &'static str) -> Pushed {
        let (tmp, vault) = unpack(flavour);
        add_plain_file(&vault, "twin-a", &content("twin-a", TWIN));
        add_plain_file(&vault, "twin-b", &content("twin-b", TWIN));
        let state = tmp.path().join("state");
        let remote = tmp.path().join("disk/vault");
        fs::create_dir_all(&remote).unwrap();
        fs::create_dir_all(tmp.path().join("scratch")).unwrap();
        let pushed = Pushed {
            tmp,
            vault,
            remote,
            state,
            flavour,
        };
        pushed.push();
        pushed
    }

    /// `vaultdrill push VAULT REMOTE -q --passfile ...` with this state.
    fn push_to(&self, remote: impl AsRef<std::ffi::OsStr>) -> assert_cmd::Command {
        let mut cmd = vaultdrill();
        cmd.env("VAULTDRILL_STATE_DIR", &self.state)
            .arg("push")
            .arg(&self.vault)
            .arg(remote)
            .args(["-q", "--passfile"])
            .arg(password_file());
        cmd
    }

    /// Pushes the vault to the local remote again (a refreshed manifest).
    fn push(&self) {
        assert_pushed(self.push_to(&self.remote).output().expect("push runs"));
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

    fn drill(&self, extra: &[&str]) -> Drill {
        self.drill_remote(self.remote.to_str().unwrap(), extra)
    }

    /// Runs a full drill (100 % sample) of `remote`; checks that scratch
    /// is left empty whatever happened.
    fn drill_remote(&self, remote: &str, extra: &[&str]) -> Drill {
        let scratch = self.tmp.path().join("scratch");
        let report = self.tmp.path().join("report.md");
        let junit = self.tmp.path().join("drill.xml");
        let _ = fs::remove_file(&report);
        let _ = fs::remove_file(&junit);
        let mut cmd = vaultdrill();
        cmd.env("VAULTDRILL_STATE_DIR", &self.state)
            .args(["drill", remote, "--json"]);
        if !extra.contains(&"--sample") && !extra.contains(&"--subset") {
            cmd.args(["--sample", "100%", "--seed", "7"]);
        }
        cmd.arg("--scratch")
            .arg(&scratch)
            .arg("--report")
            .arg(&report)
            .arg("--junit")
            .arg(&junit);
        if !extra.contains(&"--passfile") && !extra.contains(&"--no-password") {
            cmd.arg("--passfile").arg(password_file());
        }
        if !extra.contains(&"--masterkey-file") && !extra.contains(&"--no-masterkey") {
            cmd.arg("--masterkey-file")
                .arg(masterkey_file(self.flavour));
        }
        let run = run_json(cmd.args(extra));
        let left: Vec<_> = fs::read_dir(&scratch).unwrap().collect();
        assert!(left.is_empty(), "scratch not cleaned: {left:?}");
        Drill {
            report: fs::read_to_string(&report).expect("a report is always written"),
            junit: fs::read_to_string(&junit).expect("a JUnit file is always written"),
            run,
        }
    }
}

struct Drill {
    run: Run,
    report: String,
    junit: String,
}

impl Drill {
    fn step(&self, kind: &str) -> &Value {
        step_of(&self.run.json, kind)
    }

    fn status(&self, kind: &str) -> &str {
        self.step(kind)["status"].as_str().expect("status")
    }

    /// Every finding as "LABEL path | object | cause".
    fn findings(&self) -> Vec<String> {
        self.run.json["steps"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["findings"].as_array().unwrap().iter())
            .map(|f| {
                format!(
                    "{} {} | {} | {}",
                    f["label"].as_str().unwrap(),
                    f["path"].as_str().unwrap_or("-"),
                    f["object"].as_str().unwrap(),
                    f["cause"].as_str().unwrap()
                )
            })
            .collect()
    }

    /// Asserts the drill failed with `code`, a finding on `path` whose
    /// cause contains `cause`, and a report and JUnit file that say so.
    fn assert_fails(&self, code: i32, path: &str, cause: &str) {
        let all = self.findings();
        assert_eq!(self.run.code, code, "{all:#?}\n{}", self.run.stderr);
        assert!(
            all.iter()
                .any(|f| f.contains(&format!(" {path} |")) && f.contains(cause)),
            "no finding on {path} with {cause:?}: {all:#?}"
        );
        let first = self.report.lines().next().unwrap();
        assert!(first.contains("FAILED") || first.contains("NOT"), "{first}");
        assert!(self.report.contains(path), "the report names {path}");
        assert!(self.junit.contains("<failure"), "{}", self.junit);
    }
}

fn flip_byte(path: &Path, at: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at as usize] ^= 0x40;
    fs::write(path, bytes).unwrap();
}

#[test]
fn a_clean_vault_passes_with_both_unlock_paths_proven() {
    let p = Pushed::new();
    let d = p.drill(&[]);
    assert_eq!(d.run.code, 0, "{:#?}\n{}", d.findings(), d.run.stderr);
    assert_eq!(d.run.json["verdict"], "verified");
    for kind in [
        "audit",
        "sample",
        "download",
        "unlock_password",
        "unlock_master_key",
        "compare",
        "estimate",
    ] {
        assert_eq!(d.status(kind), "passed", "{kind}: {}", d.step(kind));
    }
    assert!(d.findings().is_empty(), "{:#?}", d.findings());
    let files = d.run.json["coverage"]["files_total"].as_u64().unwrap();
    assert_eq!(
        d.run.json["coverage"]["files_sampled"].as_u64(),
        Some(files)
    );
    assert!(d.run.json["not_proven"].as_array().unwrap().is_empty());
    assert!(d.report.lines().next().unwrap().contains("PASSED"));
    assert!(!d.junit.contains("<failure"), "{}", d.junit);
    // The master key path found the flags from the ciphertext itself.
    let mk = d.step("unlock_master_key")["summary"].as_str().unwrap();
    assert!(mk.contains("flags found"), "{mk}");
}

#[test]
fn a_flipped_byte_is_damage_named_by_path() {
    let p = Pushed::new();
    flip_byte(&p.object("size-20000"), 5000);
    let d = p.drill(&[]);
    d.assert_fails(1, "size-20000", "BLAKE3");
    d.assert_fails(1, "size-20000", "authentication failed");
    assert_eq!(d.status("download"), "failed");
    assert_eq!(d.status("compare"), "failed");
}

#[test]
fn an_object_name_with_a_newline_cannot_forge_a_line() {
    // The remote lists names we did not write: an extra object whose name
    // holds a newline and a fake verdict is a note, escaped everywhere.
    let p = Pushed::new();
    let forged = "x\nvaultdrill: PASSED: the backup can be restored";
    fs::write(p.remote.join(forged), b"planted").unwrap();
    let d = p.drill(&[]);
    assert_eq!(d.run.code, 0, "{:#?}\n{}", d.findings(), d.run.stderr);
    let all = d.findings();
    assert!(
        all.iter().any(|f| f.starts_with("NOTE")
            && f.contains("| x\\nvaultdrill: PASSED: the backup can be restored |")),
        "{all:#?}"
    );
    for text in [&d.run.stderr, &d.report] {
        assert!(
            !text.lines().any(|l| l.starts_with("vaultdrill: PASSED")),
            "{text}"
        );
    }
}

#[test]
fn a_lost_object_whose_name_needs_escaping_is_named_and_the_drill_goes_on() {
    // Plaintext names: the object's name is the file's, backslash and all.
    // The audit's finding names it escaped; the download must still know
    // it as the missing one (not an object that "did not arrive").
    let p = Pushed::of("plaintextnames");
    add_plain_file(&p.vault, "notes\\2024.txt", b"a backslash in the name");
    p.push();
    fs::remove_file(p.remote.join("notes\\2024.txt")).unwrap();
    let d = p.drill(&[]);
    d.assert_fails(1, "notes\\\\2024.txt", "missing");
    assert_ne!(d.status("download"), "error", "{}", d.step("download"));
    // The fixture's "new\nline" cannot be fetched by name: not sampled,
    // and the report says so (never "could not run"); "tab\there" is.
    let not_proven = d.run.json["not_proven"].to_string();
    assert!(
        not_proven.contains("1 file(s) whose encrypted names hold a line break"),
        "{not_proven}"
    );
    assert_eq!(
        d.run.json["coverage"]["files_sampled"].as_u64(),
        d.run.json["coverage"]["files_total"]
            .as_u64()
            .map(|n| n - 1),
        "every other file, the tab's included, was sampled"
    );
    // Every step ran (the lost file is damage wherever it is decrypted).
    for kind in ["unlock_master_key", "compare"] {
        assert!(
            matches!(d.status(kind), "passed" | "failed"),
            "{kind}: {}",
            d.step(kind)
        );
    }
}

#[test]
fn a_truncated_object_is_damage() {
    let p = Pushed::new();
    let object = p.object("size-20000");
    let len = fs::metadata(&object).unwrap().len();
    fs::File::options()
        .write(true)
        .open(&object)
        .unwrap()
        .set_len(len - 100)
        .unwrap();
    let d = p.drill(&[]);
    d.assert_fails(1, "size-20000", "bytes on the remote");
    assert_eq!(d.status("audit"), "failed");
}

#[test]
fn a_cut_at_a_block_boundary_is_caught_by_the_manifest() {
    // Ciphertext blocks are 4096+32 bytes after an 18-byte header; a cut
    // after the second block leaves a file that authenticates.
    let p = Pushed::new();
    let object = p.object("size-20000");
    fs::File::options()
        .write(true)
        .open(&object)
        .unwrap()
        .set_len(18 + 2 * 4128)
        .unwrap();
    let d = p.drill(&[]);
    d.assert_fails(1, "size-20000", "bytes on the remote");
    // Decrypted, it authenticates but is short: the manifest says so.
    assert_eq!(d.status("compare"), "failed", "{}", d.step("compare"));
}

#[test]
fn a_zeroed_block_is_damage() {
    let p = Pushed::new();
    let object = p.object("size-20000");
    let mut bytes = fs::read(&object).unwrap();
    bytes[18 + 4128..18 + 2 * 4128].fill(0);
    fs::write(&object, bytes).unwrap();
    let d = p.drill(&[]);
    // gocryptfs reads an all-zero block as a hole: it decrypts, to zeros.
    // Only the manifest's plaintext hash sees it.
    d.assert_fails(1, "size-20000", "plaintext BLAKE3");
}

#[test]
fn two_swapped_objects_of_equal_size_are_damage() {
    // Each object still authenticates (its own file ID is in its header):
    // only the path-keyed hashes of the manifest see the swap.
    let p = Pushed::new();
    let (a, b) = (p.object("twin-a"), p.object("twin-b"));
    let (bytes_a, bytes_b) = (fs::read(&a).unwrap(), fs::read(&b).unwrap());
    assert_eq!(bytes_a.len(), bytes_b.len());
    fs::write(&a, bytes_b).unwrap();
    fs::write(&b, bytes_a).unwrap();
    let d = p.drill(&[]);
    d.assert_fails(1, "twin-a", "BLAKE3");
    d.assert_fails(1, "twin-b", "BLAKE3");
    assert_eq!(d.status("audit"), "passed", "sizes are all right");
    assert_eq!(d.status("compare"), "failed");
}

#[test]
fn a_deleted_object_is_damage_with_its_consequence() {
    let p = Pushed::new();
    fs::remove_file(p.object("emoji-🦀.md")).unwrap();
    let d = p.drill(&[]);
    d.assert_fails(1, "emoji-🦀.md", "cannot be restored");
    assert_eq!(d.status("audit"), "failed");
    // The rest was still downloaded and proven.
    assert_eq!(d.status("download"), "passed", "{}", d.step("download"));
}

#[test]
fn a_lost_config_fails_the_password_but_the_master_key_still_restores() {
    let p = Pushed::new();
    fs::remove_file(p.remote.join("gocryptfs.conf")).unwrap();
    let d = p.drill(&[]);
    assert_eq!(d.run.code, 1, "{:#?}", d.findings());
    assert_eq!(d.status("unlock_password"), "failed");
    assert_eq!(
        d.status("unlock_master_key"),
        "passed",
        "{}",
        d.step("unlock_master_key")
    );
    assert_eq!(d.status("compare"), "passed", "{}", d.step("compare"));
    assert!(
        d.findings()
            .iter()
            .any(|f| f.contains("gocryptfs.conf") && f.contains("master key")),
        "{:#?}",
        d.findings()
    );
    assert!(
        d.report.contains("runbooks/lost-config.md") || d.report.contains("forgotten-password")
    );
}

#[test]
fn a_deleted_diriv_is_damage_naming_the_folder() {
    let p = Pushed::new();
    let dir = p.object("deep");
    fs::remove_file(dir.join("gocryptfs.diriv")).unwrap();
    let d = p.drill(&[]);
    assert_eq!(d.run.code, 1, "{:#?}", d.findings());
    assert!(
        d.findings()
            .iter()
            .any(|f| f.contains("gocryptfs.diriv") && f.contains("names in deep")),
        "{:#?}",
        d.findings()
    );
    assert!(d.report.contains("names in deep"));
}

#[test]
fn a_wrong_password_is_refused() {
    let p = Pushed::new();
    let wrong = p.tmp.path().join("wrong");
    fs::write(&wrong, "not the password\n").unwrap();
    let d = p.drill(&["--passfile", wrong.to_str().unwrap()]);
    assert_eq!(d.run.code, 3, "{:#?}\n{}", d.findings(), d.run.stderr);
    assert_eq!(d.status("unlock_password"), "refused");
    // The master key alone still proved the backup.
    assert_eq!(d.status("unlock_master_key"), "passed");
    assert!(!d.report.contains("not the password"));
    assert!(d.report.contains("runbooks/forgotten-password.md"));
}

#[test]
fn a_wrong_master_key_is_refused() {
    let p = Pushed::new();
    let wrong = p.tmp.path().join("wrong-key");
    fs::copy(masterkey_file("aessiv"), &wrong).unwrap();
    let d = p.drill(&["--masterkey-file", wrong.to_str().unwrap()]);
    assert_eq!(d.run.code, 3, "{:#?}\n{}", d.findings(), d.run.stderr);
    assert_eq!(d.status("unlock_password"), "passed");
    assert_eq!(d.status("unlock_master_key"), "refused");
    let key = fs::read_to_string(&wrong).unwrap();
    let first_group = key.trim().split('-').next().unwrap();
    assert!(!d.report.contains(first_group), "no key in the report");
}

#[test]
fn a_remote_that_is_not_there_could_not_run() {
    let p = Pushed::new();
    fs::remove_dir_all(&p.remote).unwrap();
    let d = p.drill(&[]);
    assert_eq!(d.run.code, 4, "{:#?}\n{}", d.findings(), d.run.stderr);
    assert_ne!(d.run.json["verdict"], "verified");
    assert!(!d.report.lines().next().unwrap().contains("PASSED"));
}

#[test]
fn drills_rotate_over_the_whole_vault_and_are_remembered() {
    let p = Pushed::new();
    let files = 29; // the fixture's 27 and the twins
    let mut coverage = Vec::new();
    for _ in 0..7 {
        let d = p.drill(&["--sample", "6"]);
        assert_eq!(d.run.code, 0, "{:#?}", d.findings());
        assert_eq!(d.run.json["coverage"]["files_total"], files);
        assert_eq!(d.run.json["coverage"]["files_sampled"], 6);
        let by = d.run.json["coverage"]["chosen_by"].as_str().unwrap();
        assert!(by.contains("least recently verified"), "{by}");
        coverage.push(
            d.run.json["coverage"]["verified_12m_files"]
                .as_u64()
                .unwrap(),
        );
        assert!(d.report.contains("in the last 12 months"), "{}", d.report);
    }
    // Each drill proves files not proven before, until all are: four at
    // least (the empty file comes every time, it costs nothing; the huge
    // one rotates among the largest 10 %, here two files).
    assert_eq!(coverage[0], 6);
    for pair in coverage.windows(2) {
        assert!(
            pair[1] == files || pair[1] >= pair[0] + 4,
            "least recently verified first: {coverage:?}"
        );
    }
    assert_eq!(coverage[6], files, "{coverage:?}");

    // A changed file is a new file: the next drill takes it first.
    add_plain_file(&p.vault, "twin-a", b"edited");
    p.push();
    let d = p.drill(&["--sample", "1"]);
    assert_eq!(d.run.code, 0, "{:#?}", d.findings());
    assert_eq!(d.run.json["coverage"]["verified_12m_files"], files);
    let sampled = d.step("sample")["summary"].as_str().unwrap().to_string();
    assert!(sampled.starts_with("1 of 29"), "{sampled}");

    // The history has every drill, with its verdict and coverage.
    let history = run_json(
        vaultdrill()
            .env("VAULTDRILL_STATE_DIR", &p.state)
            .args(["history", p.remote.to_str().unwrap(), "--json", "--html"])
            .arg(p.tmp.path().join("drills.html")),
    );
    assert_eq!(history.code, 0, "{}", history.stderr);
    let records = history.json.as_array().unwrap();
    assert_eq!(records.len(), 8);
    assert!(records.iter().all(|r| r["verdict"] == "verified"));
    let pct: Vec<f64> = records
        .iter()
        .map(|r| r["coverage_12m"].as_f64().unwrap())
        .collect();
    assert!(pct.windows(2).all(|w| w[0] <= w[1]), "{pct:?}");
    assert_eq!(pct[6], 100.0);
    let page = fs::read_to_string(p.tmp.path().join("drills.html")).unwrap();
    assert_eq!(page.matches("<circle").count(), 8, "one dot per drill");

    // `vaults` shows a registered vault's last drill.
    let registry = p.tmp.path().join("config.toml");
    fs::write(
        &registry,
        format!(
            "[vaults.thesis]\nfolder = {:?}\nremote = {:?}\n",
            p.vault.to_str().unwrap(),
            p.remote.to_str().unwrap()
        ),
    )
    .unwrap();
    let vaults = vaultdrill()
        .env("VAULTDRILL_STATE_DIR", &p.state)
        .arg("--registry")
        .arg(&registry)
        .arg("vaults")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&vaults.stdout);
    assert!(
        text.contains("last drill") && text.contains("passed"),
        "{text}"
    );
    // And `history thesis` finds the drills by the registered name.
    let by_name = run_json(
        vaultdrill()
            .env("VAULTDRILL_STATE_DIR", &p.state)
            .arg("--registry")
            .arg(&registry)
            .args(["history", "thesis", "--json"]),
    );
    assert_eq!(by_name.json.as_array().unwrap().len(), 8);
}

#[test]
fn subsets_cover_the_vault_and_no_state_leaves_no_trace() {
    let p = Pushed::new();
    let mut total = 0;
    for k in 1..=3 {
        let slice = format!("{k}/3");
        let d = p.drill(&["--subset", &slice, "--no-state"]);
        assert_eq!(d.run.code, 0, "{:#?}", d.findings());
        total += d.run.json["coverage"]["files_sampled"].as_u64().unwrap();
        assert!(d.report.contains(&format!("--subset {slice}")));
    }
    assert_eq!(total, 29, "three slices of three cover every file once");
    let drills = p.state.join("vaults");
    let traces: Vec<_> = walkdir::WalkDir::new(&drills)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name().to_string_lossy();
            n == "drills.jsonl" || n == "verified.tsv"
        })
        .collect();
    assert!(traces.is_empty(), "{traces:?}");
    // Without --report, the report is the output, and no file is left.
    let out = vaultdrill()
        .env("VAULTDRILL_STATE_DIR", &p.state)
        .args([
            "drill",
            p.remote.to_str().unwrap(),
            "--no-state",
            "--passfile",
        ])
        .arg(password_file())
        .arg("--masterkey-file")
        .arg(masterkey_file("default"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("# PASSED"));
    assert!(!p.state.join("reports").exists());
}

// ---- through rclone, on the S3 endpoint ----

const REMOTE: &str = "s3test:bucket/vault";

/// The vault pushed to the S3 endpoint too (the manifest then records
/// the MD5 the endpoint keeps).
fn on_s3(p: &Pushed) -> S3Server {
    let server = S3Server::start();
    assert_pushed(
        p.push_to(REMOTE)
            .arg("--rclone-config")
            .arg(&server.config)
            .output()
            .expect("push runs"),
    );
    server
}

fn assert_pushed(out: std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn s3_clean_passes_and_faults_fail() {
    let p = Pushed::new();
    let server = on_s3(&p);
    let config = server.config.to_str().unwrap().to_string();
    let d = p.drill_remote(REMOTE, &["--rclone-config", &config]);
    assert_eq!(d.run.code, 0, "{:#?}\n{}", d.findings(), d.run.stderr);
    let audit = d.step("audit")["summary"].as_str().unwrap();
    assert!(audit.contains("checked by md5"), "{audit}");
    // In many batches, each downloaded by rclone while the last is checked:
    // rclone's temporary files never meet the checker.
    let d = p.drill_remote(REMOTE, &["--rclone-config", &config, "--batch", "4KiB"]);
    assert_eq!(d.run.code, 0, "{:#?}\n{}", d.findings(), d.run.stderr);

    // Behind our back, through S3 (the server caches its listings): a
    // flipped byte, which the listing's MD5 already sees and the download
    // and the decryption confirm; and a deleted object.
    let name = |plain: &str| {
        let object = p.object(plain);
        let rel = object.strip_prefix(&p.remote).unwrap();
        format!("{REMOTE}/{}", rel.to_str().unwrap())
    };
    let rotten = p.tmp.path().join("rotten");
    fs::copy(p.object("size-4097"), &rotten).unwrap();
    flip_byte(&rotten, 100);
    server.rclone(&["copyto", rotten.to_str().unwrap(), &name("size-4097")]);
    server.rclone(&["deletefile", &name("len15-xxxxxxxxx")]);
    let d = p.drill_remote(REMOTE, &["--rclone-config", &config]);
    d.assert_fails(1, "size-4097", "md5");
    d.assert_fails(1, "size-4097", "authentication failed");
    d.assert_fails(1, "len15-xxxxxxxxx", "cannot be restored");
}

#[test]
fn rclone_failing_mid_download_could_not_run() {
    let p = Pushed::new();
    let server = on_s3(&p);
    let config = server.config.to_str().unwrap().to_string();
    // An rclone that copies half of the sample list, then fails.
    let wrapper = p.tmp.path().join("rclone-breaks");
    fs::write(
        &wrapper,
        format!(
            r#"#!/bin/bash
args=("$@")
for i in "${{!args[@]}}"; do
  if [ "${{args[$i]}}" = --files-from-raw ] && [ "$(wc -l < "${{args[$((i+1))]}}")" -gt 4 ]; then
    list="${{args[$((i+1))]}}"
    half=$(( $(wc -l < "$list") / 2 ))
    head -n "$half" "$list" > "$list.half"
    args[$((i+1))]="$list.half"
    {real} "${{args[@]}}"
    echo '{{"level":"error","msg":"connection reset by peer (injected)"}}' >&2
    exit 1
  fi
done
exec {real} "$@"
"#,
            real = require("rclone").display()
        ),
    )
    .unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    let d = p.drill_remote(
        REMOTE,
        &[
            "--rclone-config",
            &config,
            "--rclone",
            wrapper.to_str().unwrap(),
        ],
    );
    assert_eq!(d.run.code, 4, "{:#?}\n{}", d.findings(), d.run.stderr);
    assert_eq!(d.status("download"), "error", "{}", d.step("download"));
    let summary = d.step("download")["summary"].as_str().unwrap();
    assert!(summary.contains("connection reset"), "{summary}");
    assert!(d.report.contains("connection reset"));
    assert!(!d.report.lines().next().unwrap().contains("PASSED"));
}

#[test]
fn scheduled_drills_run_the_registered_vault() {
    let p = Pushed::new();
    let registry = p.tmp.path().join("config.toml");
    let entry = |masterkey: bool| {
        format!(
            "[vaults.thesis]\nfolder = {:?}\nremote = {:?}\npassfile = {:?}\n{}\
             [vaults.thesis.drill]\nevery = \"weekly\"\nsample = \"100%\"\n",
            p.vault.to_str().unwrap(),
            p.remote.to_str().unwrap(),
            password_file().to_str().unwrap(),
            if masterkey {
                format!(
                    "masterkey-file = {:?}\n",
                    masterkey_file("default").to_str().unwrap()
                )
            } else {
                String::new()
            }
        )
    };
    fs::write(&registry, entry(true)).unwrap();
    let schedule = |args: &[&str], path: &str| {
        vaultdrill()
            .env("VAULTDRILL_STATE_DIR", &p.state)
            .env("XDG_CONFIG_HOME", p.tmp.path().join("xdg"))
            .env("PATH", path)
            .arg("--registry")
            .arg(&registry)
            .arg("schedule")
            .args(args)
            .output()
            .unwrap()
    };
    let out = schedule(&["thesis"], "/usr/bin:/bin");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let units = String::from_utf8(out.stdout).unwrap();
    assert!(
        units.contains("OnCalendar=Mon *-*-* 03:17:00"),
        "weekly from the entry: {units}"
    );
    // The service's command, run as systemd would: a passing drill.
    let exec = units
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let words: Vec<&str> = exec.split(' ').collect();
    assert!(Path::new(words[0]).is_absolute());
    assert_eq!(&words[1..3], ["--registry", registry.to_str().unwrap()]);
    assert_eq!(&words[3..], ["drill", "thesis", "--quiet"]);
    let scratch = p.tmp.path().join("scratch");
    let ran = std::process::Command::new(words[0])
        .args(&words[1..])
        .env_remove("XDG_RUNTIME_DIR")
        .env("VAULTDRILL_STATE_DIR", &p.state)
        .env("TMPDIR", &scratch)
        .output()
        .unwrap();
    assert_eq!(
        ran.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let history = run_json(vaultdrill().env("VAULTDRILL_STATE_DIR", &p.state).args([
        "history",
        p.remote.to_str().unwrap(),
        "--json",
    ]));
    let last = &history.json.as_array().unwrap()[0];
    assert_eq!(last["verdict"], "verified");
    assert_eq!(last["files_sampled"], 29, "the entry's sample, 100 %");

    // cron: the same command after the schedule.
    let cron = schedule(&["thesis", "--cron", "--every", "monthly"], "/usr/bin:/bin");
    let line = String::from_utf8(cron.stdout).unwrap();
    let line = line
        .lines()
        .find(|l| !l.starts_with('#'))
        .unwrap()
        .to_string();
    // (The state directory of this run travels with it, as in the service.)
    let state = format!("VAULTDRILL_STATE_DIR={}", p.state.display());
    assert_eq!(line, format!("17 3 1 * * {state} {exec}"));
    assert!(units.contains(&format!("Environment={state}\n")));

    // --install: units written, the timer enabled through systemctl --user.
    let bin = p.tmp.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let log = p.tmp.path().join("systemctl.log");
    fs::write(
        bin.join("systemctl"),
        format!("#!/bin/sh\necho \"$@\" >> {}\n", log.display()),
    )
    .unwrap();
    fs::set_permissions(bin.join("systemctl"), fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let installed = schedule(&["thesis", "--install"], &path);
    assert_eq!(
        installed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&installed.stderr)
    );
    let unit_dir = p.tmp.path().join("xdg/systemd/user");
    assert!(
        fs::read_to_string(unit_dir.join("vaultdrill-drill-thesis.service"))
            .unwrap()
            .contains(exec)
    );
    assert!(unit_dir.join("vaultdrill-drill-thesis.timer").is_file());
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "--user daemon-reload\n--user enable --now vaultdrill-drill-thesis.timer\n"
    );
    // Without a working systemctl: the units are there, the exit code says
    // the timer is not enabled, and the message says what to run.
    fs::write(bin.join("systemctl"), "#!/bin/sh\nexit 1\n").unwrap();
    let failed = schedule(&["thesis", "--install"], &path);
    assert_eq!(failed.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("systemctl --user enable --now"));

    // No master key file: refused unless the drills may skip that proof.
    fs::write(&registry, entry(false)).unwrap();
    let refused = schedule(&["thesis"], "/usr/bin:/bin");
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--no-masterkey"));
    let skipping = schedule(&["thesis", "--no-masterkey"], "/usr/bin:/bin");
    assert!(
        String::from_utf8_lossy(&skipping.stdout).contains("drill thesis --quiet --no-masterkey")
    );
    // Not registered: refused with the way to register it.
    let unknown = schedule(&["nothere"], "/usr/bin:/bin");
    assert_eq!(unknown.status.code(), Some(2));
}

// ---- --cross-check-gocryptfs: the real gocryptfs reads the sample too ----

#[test]
fn gocryptfs_agrees_on_a_clean_sample_and_on_damage() {
    require("gocryptfs");
    require("fusermount3");
    let p = Pushed::new();
    let d = p.drill(&["--cross-check-gocryptfs"]);
    assert_eq!(d.run.code, 0, "{:#?}\n{}", d.findings(), d.run.stderr);
    assert_eq!(
        d.status("cross_check"),
        "passed",
        "{}",
        d.step("cross_check")
    );
    let summary = d.step("cross_check")["summary"].as_str().unwrap();
    assert!(summary.starts_with("29 files"), "{summary}");
    assert!(
        d.step("cross_check")["ran"]
            .as_str()
            .unwrap()
            .contains("gocryptfs 2.")
    );

    // A flipped byte: vaultdrill finds it, gocryptfs refuses it too.
    flip_byte(&p.object("size-20000"), 5000);
    // A swap: both decrypt, both differ from the manifest.
    let (a, b) = (p.object("twin-a"), p.object("twin-b"));
    let (bytes_a, bytes_b) = (fs::read(&a).unwrap(), fs::read(&b).unwrap());
    fs::write(&a, bytes_b).unwrap();
    fs::write(&b, bytes_a).unwrap();
    let d = p.drill(&["--cross-check-gocryptfs"]);
    assert_eq!(d.run.code, 1, "{:#?}", d.findings());
    assert_eq!(
        d.status("cross_check"),
        "passed",
        "{}",
        d.step("cross_check")
    );
    let summary = d.step("cross_check")["summary"].as_str().unwrap();
    assert!(summary.contains("3 damaged for both"), "{summary}");
    // The mount is gone with the scratch folder (checked by drill()).
    let mounts = fs::read_to_string("/proc/mounts").unwrap();
    assert!(!mounts.contains(p.tmp.path().to_str().unwrap()), "{mounts}");
}

/// A drill with `--cross-check-gocryptfs` and a stand-in `gocryptfs`
/// (a shell script) first on PATH.
fn cross_check_with(p: &Pushed, gocryptfs: &str) -> Run {
    let bin = p.tmp.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    for (name, script) in [
        ("gocryptfs", gocryptfs),
        ("fusermount3", "#!/bin/sh\nexit 0\n"),
    ] {
        fs::write(bin.join(name), script).unwrap();
        fs::set_permissions(bin.join(name), fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut cmd = vaultdrill();
    let scratch = p.tmp.path().join("scratch");
    let out = cmd
        .env("VAULTDRILL_STATE_DIR", &p.state)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .args([
            "drill",
            p.remote.to_str().unwrap(),
            "--json",
            "--sample",
            "100%",
        ])
        .arg("--passfile")
        .arg(password_file())
        .arg("--masterkey-file")
        .arg(masterkey_file("default"))
        .arg("--scratch")
        .arg(&scratch)
        .arg("--report")
        .arg(p.tmp.path().join("r.md"))
        .arg("--cross-check-gocryptfs");
    let run = run_json(out);
    assert_eq!(fs::read_dir(&scratch).unwrap().count(), 0);
    run
}

fn cross_check_step(run: &Run) -> Value {
    step_of(&run.json, "cross_check").clone()
}

/// The step of `kind` in a drill's JSON outcome.
fn step_of<'j>(json: &'j Value, kind: &str) -> &'j Value {
    json["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["kind"] == kind)
        .unwrap_or_else(|| panic!("no step {kind}"))
}

#[test]
fn a_cross_check_that_cannot_run_is_not_a_pass() {
    // gocryptfs fails to mount: everything else passed, yet exit 4.
    let p = Pushed::new();
    let run = cross_check_with(
        &p,
        "#!/bin/sh\necho 'fuse: device not found' >&2\nexit 12\n",
    );
    assert_eq!(run.code, 4, "{}", run.stderr);
    let step = cross_check_step(&run);
    assert_eq!(step["status"], "error");
    assert!(
        step["summary"]
            .as_str()
            .unwrap()
            .contains("device not found"),
        "{step}"
    );
}

#[test]
fn a_disagreement_with_gocryptfs_is_named_and_not_a_pass() {
    // A "gocryptfs" whose mount shows the right tree but one file with
    // other bytes: the disagreement is named by path, exit 4.
    let p = Pushed::new();
    let plain = p.tmp.path().join("plain");
    let out = vaultdrill()
        .arg("decrypt")
        .arg(&p.vault)
        .arg(&plain)
        .arg("--passfile")
        .arg(password_file())
        .output()
        .unwrap();
    assert!(out.status.success());
    let script = format!(
        "#!/bin/sh\ncat > /dev/null\nfor last; do :; done\ncp -a {}/. \"$last\"/\n\
         chmod u+w \"$last/size-4097\"\necho tampered > \"$last/size-4097\"\n",
        plain.display()
    );
    let run = cross_check_with(&p, &script);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let step = cross_check_step(&run);
    assert_eq!(step["status"], "error");
    let findings = step["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{step}");
    assert_eq!(findings[0]["path"], "size-4097");
    assert!(findings[0]["cause"].as_str().unwrap().contains("disagree"));
}

#[test]
fn small_batches_find_the_same_damage_once() {
    // Batches of 8 KiB: the fixture comes in many batches, each hashed,
    // decrypted and compared while the next downloads.
    let p = Pushed::new();
    let clean = p.drill(&["--batch", "8KiB"]);
    assert_eq!(clean.run.code, 0, "{:#?}", clean.findings());
    let ran = clean.step("download")["ran"].as_str().unwrap().to_string();
    let batches: u32 = ran
        .split(" in ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{ran}"));
    assert!(batches >= 5, "{ran}");
    assert_eq!(
        clean.step("compare")["summary"]
            .as_str()
            .unwrap()
            .split(' ')
            .next(),
        Some("29"),
        "every file compared once"
    );

    flip_byte(&p.object("size-20000"), 5000);
    let (a, b) = (p.object("twin-a"), p.object("twin-b"));
    let (bytes_a, bytes_b) = (fs::read(&a).unwrap(), fs::read(&b).unwrap());
    fs::write(&a, bytes_b).unwrap();
    fs::write(&b, bytes_a).unwrap();
    fs::remove_file(p.object("deep").join("gocryptfs.diriv")).unwrap();
    let d = p.drill(&["--batch", "8KiB"]);
    let all = d.findings();
    d.assert_fails(1, "size-20000", "authentication failed");
    d.assert_fails(1, "twin-a", "plaintext BLAKE3");
    d.assert_fails(1, "twin-b", "plaintext BLAKE3");
    // Each finding once, though the root's files are compared per batch.
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), all.len(), "{all:#?}");
    assert!(all.iter().any(|f| f.contains("names in deep")), "{all:#?}");
}

#[test]
fn keep_keeps_ciphertext_only_in_a_private_folder() {
    let p = Pushed::new();
    let parent = p.tmp.path().join("kept");
    fs::create_dir_all(&parent).unwrap();
    let out = vaultdrill()
        .env("VAULTDRILL_STATE_DIR", &p.state)
        .args([
            "drill",
            p.remote.to_str().unwrap(),
            "--sample",
            "100%",
            "--keep",
        ])
        .arg("--passfile")
        .arg(password_file())
        .arg("--masterkey-file")
        .arg(masterkey_file("default"))
        .arg("--scratch")
        .arg(&parent)
        .arg("--report")
        .arg(p.tmp.path().join("r.md"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kept: Vec<PathBuf> = fs::read_dir(&parent)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(kept.len(), 1);
    let mode = fs::metadata(&kept[0]).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "scratch is private");
    let top: Vec<String> = fs::read_dir(&kept[0])
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(top, ["vault"], "ciphertext only: {top:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Scratch kept (ciphertext only)"));
    // Every kept file is an object of the remote, byte for byte.
    for e in walkdir::WalkDir::new(kept[0].join("vault")) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let rel = e.path().strip_prefix(kept[0].join("vault")).unwrap();
            assert_eq!(
                fs::read(e.path()).unwrap(),
                fs::read(p.remote.join(rel)).unwrap()
            );
        }
    }
}

#[test]
fn an_interrupted_drill_removes_its_scratch() {
    // An rclone that hangs in the sample's download; Ctrl-C (SIGINT), or
    // a stop from systemd or CI (SIGTERM).
    for signal in [libc::SIGINT, libc::SIGTERM] {
        interrupted_by(signal);
    }
}

/// A drill of the S3 remote whose rclone hangs in the sample's download;
/// returns once it hangs there.
fn hanging_drill(p: &Pushed, server: &S3Server) -> std::process::Child {
    let wrapper = p.tmp.path().join("rclone-hangs");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/bash\ncase \" $* \" in\n  *\" lsjson \"*) touch {marker} ;;\n  \
             *\" copy \"*) [ -e {marker} ] && exec sleep 61 ;;\nesac\nexec {real} \"$@\"\n",
            marker = p.tmp.path().join("listed").display(),
            real = require("rclone").display()
        ),
    )
    .unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    let scratch = p.tmp.path().join("hang-scratch");
    fs::create_dir_all(&scratch).unwrap();
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("vaultdrill"))
        .env_remove("XDG_RUNTIME_DIR")
        .env("VAULTDRILL_STATE_DIR", &p.state)
        .args(["drill", REMOTE, "--sample", "100%", "--rclone-config"])
        .arg(&server.config)
        .arg("--rclone")
        .arg(&wrapper)
        .arg("--passfile")
        .arg(password_file())
        .arg("--masterkey-file")
        .arg(masterkey_file("default"))
        .arg("--scratch")
        .arg(&scratch)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !p.tmp.path().join("listed").exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        fs::read_dir(&scratch).unwrap().count(),
        1,
        "a drill is running"
    );
    child
}

fn interrupted_by(signal: i32) {
    let p = Pushed::new();
    let server = on_s3(&p);
    let scratch = p.tmp.path().join("hang-scratch");
    let child = hanging_drill(&p, &server);
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert!(String::from_utf8_lossy(&out.stderr).contains("scratch folder"));
    assert_eq!(
        fs::read_dir(&scratch).unwrap().count(),
        0,
        "scratch removed"
    );
    // (The hanging rclone's sleep ends by itself; killing it by name would
    // hit other tests' sleeps.)
}

#[test]
fn s3_fault_matrix() {
    // Each fault injected through S3 (the server caches listings, so
    // never behind its back), drilled, then repaired from the vault.
    let p = Pushed::new();
    let server = on_s3(&p);
    let config = server.config.to_str().unwrap().to_string();
    let rel = |plain: &str| {
        p.object(plain)
            .strip_prefix(&p.remote)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    };
    let upload = |bytes: &[u8], rel: &str| {
        let tmp = p.tmp.path().join("upload");
        fs::write(&tmp, bytes).unwrap();
        server.rclone(&["copyto", tmp.to_str().unwrap(), &format!("{REMOTE}/{rel}")]);
    };
    let original = |rel: &str| fs::read(p.vault.join(rel)).unwrap();
    let repair = || {
        server.rclone(&[
            "sync",
            "--links",
            "--checksum",
            p.vault.to_str().unwrap(),
            REMOTE,
        ]);
    };
    let drill = |extra: &[&str]| {
        let mut args = vec!["--rclone-config", config.as_str()];
        args.extend_from_slice(extra);
        p.drill_remote(REMOTE, &args)
    };
    let big = rel("size-20000");

    // Truncated mid-block.
    let bytes = original(&big);
    upload(&bytes[..bytes.len() - 100], &big);
    drill(&[]).assert_fails(1, "size-20000", "bytes on the remote");
    repair();
    // Cut at a block boundary: authenticates, but short.
    upload(&bytes[..18 + 2 * 4128], &big);
    let d = drill(&[]);
    d.assert_fails(1, "size-20000", "bytes on the remote");
    assert_eq!(d.status("compare"), "failed");
    repair();
    // A zeroed block: same size; S3's MD5 sees it, the plaintext hash too.
    let mut zeroed = bytes.clone();
    zeroed[18 + 4128..18 + 2 * 4128].fill(0);
    upload(&zeroed, &big);
    let d = drill(&[]);
    d.assert_fails(1, "size-20000", "md5");
    d.assert_fails(1, "size-20000", "plaintext BLAKE3");
    repair();
    // Two objects of equal size swapped.
    let (a, b) = (rel("twin-a"), rel("twin-b"));
    upload(&original(&b), &a);
    upload(&original(&a), &b);
    let d = drill(&[]);
    d.assert_fails(1, "twin-a", "plaintext BLAKE3");
    d.assert_fails(1, "twin-b", "md5");
    repair();
    // gocryptfs.conf deleted: the master key still restores.
    server.rclone(&["deletefile", &format!("{REMOTE}/gocryptfs.conf")]);
    let d = drill(&[]);
    assert_eq!(d.run.code, 1, "{:#?}", d.findings());
    assert_eq!(d.status("unlock_master_key"), "passed");
    assert!(d.report.contains("gocryptfs.conf is missing"));
    repair();
    // A diriv deleted.
    let diriv = format!("{}/gocryptfs.diriv", rel("deep"));
    server.rclone(&["deletefile", &format!("{REMOTE}/{diriv}")]);
    let d = drill(&[]);
    assert_eq!(d.run.code, 1, "{:#?}", d.findings());
    assert!(d.report.contains("names in deep"), "{}", d.report);
    repair();
    // Wrong password, wrong master key.
    let wrong = p.tmp.path().join("wrong");
    fs::write(&wrong, "not the password\n").unwrap();
    let d = drill(&["--passfile", wrong.to_str().unwrap()]);
    assert_eq!(d.run.code, 3, "{:#?}", d.findings());
    let d = drill(&[
        "--masterkey-file",
        masterkey_file("xchacha").to_str().unwrap(),
    ]);
    assert_eq!(d.run.code, 3, "{:#?}", d.findings());
    // Repaired, it passes.
    let d = drill(&[]);
    assert_eq!(d.run.code, 0, "{:#?}", d.findings());
}

/// Every form a secret could leak in: as is, hex, base64 (standard and
/// URL-safe, padded or not).
fn leak_forms(secret: &[u8]) -> Vec<String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let mut forms = vec![
        hex.clone(),
        hex.to_uppercase(),
        STANDARD.encode(secret).trim_end_matches('=').to_string(),
        URL_SAFE_NO_PAD.encode(secret),
    ];
    if let Ok(text) = std::str::from_utf8(secret) {
        forms.push(text.to_string());
    }
    forms
}

/// The fixture's master key and password in every form they could leak in
/// (the key also as printed, dashed).
fn fixture_secrets() -> Vec<String> {
    let key_text = fs::read_to_string(masterkey_file("default")).unwrap();
    let key_hex: String = key_text.chars().filter(char::is_ascii_hexdigit).collect();
    let key: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&key_hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let password = fs::read_to_string(password_file()).unwrap();
    let mut secrets = leak_forms(&key);
    secrets.push(key_text.lines().next().unwrap().trim().to_string());
    secrets.extend(leak_forms(password.trim_end_matches('\n').as_bytes()));
    secrets
}

#[test]
fn no_output_of_a_drill_holds_a_secret() {
    let p = Pushed::new();
    let wrong = p.tmp.path().join("wrong");
    fs::write(&wrong, "Tr0ub4dor&3 wrong one\n").unwrap();
    let mut secrets = fixture_secrets();
    secrets.extend(leak_forms(b"Tr0ub4dor&3 wrong one"));

    let mut outputs: Vec<(String, String)> = Vec::new();
    for extra in [vec![], vec!["--passfile", wrong.to_str().unwrap()]] {
        let d = p.drill(&extra);
        outputs.push(("report".into(), d.report.clone()));
        outputs.push(("junit".into(), d.junit.clone()));
        outputs.push(("json".into(), d.run.json.to_string()));
        outputs.push(("stderr".into(), d.run.stderr.clone()));
    }
    for e in walkdir::WalkDir::new(&p.state) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let name = e.path().display().to_string();
            outputs.push((
                name,
                String::from_utf8_lossy(&fs::read(e.path()).unwrap()).into(),
            ));
        }
    }
    let history = vaultdrill()
        .env("VAULTDRILL_STATE_DIR", &p.state)
        .args(["history", "--json"])
        .output()
        .unwrap();
    outputs.push((
        "history".into(),
        String::from_utf8_lossy(&history.stdout).into(),
    ));
    assert!(outputs.len() > 10);
    for (name, text) in &outputs {
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{name} holds a secret ({} chars)",
                secret.len()
            );
        }
    }
}

#[test]
fn a_rolled_back_remote_and_a_damaged_manifest_are_damage() {
    let p = Pushed::new();
    // The remote as it was after the first push.
    let old = p.tmp.path().join("old-remote");
    assert!(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(&p.remote)
            .arg(&old)
            .status()
            .unwrap()
            .success()
    );
    add_plain_file(&p.vault, "chapter-9.md", b"pushed since");
    p.push();
    // A clean drill of the new state passes (an unchanged re-push too).
    assert_eq!(p.drill(&[]).run.code, 0);
    // Rolled back: everything on the remote is consistent, but old. (The
    // remote spelled with a trailing slash: the same remote.)
    fs::remove_dir_all(&p.remote).unwrap();
    fs::rename(&old, &p.remote).unwrap();
    let d = p.drill_remote(&format!("{}/", p.remote.display()), &[]);
    assert_eq!(d.run.code, 1, "{:#?}", d.findings());
    assert!(
        d.findings().iter().any(|f| f.contains("rolled back")),
        "{:#?}",
        d.findings()
    );
    // Audited against the newer manifest: the file pushed since is missing.
    d.assert_fails(1, "chapter-9.md", "cannot be restored");

    // A damaged manifest on the remote: damage, though every file is fine.
    let p = Pushed::new();
    let manifest_dir = fs::read_dir(&p.remote)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|d| {
            d.is_dir() && fs::read_dir(d).unwrap().count() <= 3 && {
                // The manifest folder: its own diriv and the manifest.
                let name = d.file_name().unwrap().to_str().unwrap().to_string();
                name == cipher_path_of(&p.vault, ".vaultdrill")
                    .file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
            }
        })
        .expect("the manifest folder");
    let current = fs::read_dir(&manifest_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|f| !f.ends_with("gocryptfs.diriv"))
        .unwrap();
    flip_byte(&current, 100);
    let d = p.drill(&[]);
    assert_eq!(d.run.code, 1, "{:#?}", d.findings());
    assert!(
        d.findings()
            .iter()
            .any(|f| f.contains("manifest cannot be read")),
        "{:#?}",
        d.findings()
    );
    // The same on a new machine (no local copy to fall back on): the
    // password proved the key, so a manifest that does not authenticate
    // is damage (1), not "could not run" (4).
    let run = run_json(
        vaultdrill()
            .env("VAULTDRILL_STATE_DIR", p.tmp.path().join("new-machine"))
            .args(["drill", p.remote.to_str().unwrap(), "--json", "--passfile"])
            .arg(password_file())
            .arg("--masterkey-file")
            .arg(masterkey_file("default"))
            .arg("--report")
            .arg(p.tmp.path().join("new-machine.md")),
    );
    assert_eq!(run.code, 1, "{:#}\n{}", run.json, run.stderr);
    let audit = step_of(&run.json, "audit");
    assert_eq!(audit["status"], "failed", "{audit:#}");
    assert!(
        audit["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["label"] == "DAMAGED"
                && f["cause"].as_str().unwrap().contains("no local copy")),
        "{audit:#}"
    );
}

#[test]
fn large_files_only_and_an_unwritable_state_keep_the_verdict() {
    // A vault whose only file is over the 32 MiB the master-key path
    // decrypts again: it takes that file anyway, and nothing is "missing".
    let tmp = TempDir::new().unwrap();
    let run = |args: &[&str]| {
        let out = vaultdrill()
            .current_dir(tmp.path())
            .env("VAULTDRILL_STATE_DIR", tmp.path().join("state"))
            .args(args)
            .arg("--passfile")
            .arg(password_file())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    fs::create_dir(tmp.path().join("plain")).unwrap();
    fs::write(tmp.path().join("plain/big.iso"), content("big", 33 << 20)).unwrap();
    run(&[
        "init",
        "vault",
        "--scryptn",
        "10",
        "--recovery-kit",
        "kit.md",
    ]);
    run(&["encrypt", "plain", "vault", "-q"]);
    fs::create_dir(tmp.path().join("remote")).unwrap();
    run(&["push", "vault", "remote", "-q"]);
    let kit = fs::read_to_string(tmp.path().join("kit.md")).unwrap();
    let key = vaultdrill::recovery_kit::printed_master_key(&kit).expect("a key in the sheet");
    fs::write(tmp.path().join("key"), key.as_bytes()).unwrap();
    let out = vaultdrill()
        .current_dir(tmp.path())
        .env("VAULTDRILL_STATE_DIR", tmp.path().join("state"))
        .args([
            "drill",
            "remote",
            "--sample",
            "100%",
            "--json",
            "--passfile",
        ])
        .arg(password_file())
        .args(["--masterkey-file", "key", "--report", "r.md"])
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{json:#}");
    let mk = json["steps"][4]["ran"].as_str().unwrap();
    assert!(mk.contains("decrypted the 1 smallest"), "{mk}");

    // Damage, and a state directory that cannot be written: still exit 1,
    // the report still written where asked, the state problem said.
    let p = Pushed::new();
    flip_byte(&p.object("size-20000"), 5000);
    let report = p.tmp.path().join("r.md");
    let not_a_dir = p.tmp.path().join("state-is-a-file");
    fs::write(&not_a_dir, "x").unwrap();
    let out = vaultdrill()
        .env("VAULTDRILL_STATE_DIR", &not_a_dir)
        .args([
            "drill",
            p.remote.to_str().unwrap(),
            "--sample",
            "100%",
            "--passfile",
        ])
        .arg(password_file())
        .arg("--masterkey-file")
        .arg(masterkey_file("default"))
        .arg("--manifest")
        .arg(manifest_copy(&p))
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("recording the drill"), "{stderr}");
    assert!(fs::read_to_string(&report).unwrap().starts_with("# FAILED"));
}

/// The plaintext local copy of the fixture's newest manifest.
fn manifest_copy(p: &Pushed) -> PathBuf {
    walkdir::WalkDir::new(p.state.join("vaults"))
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .find(|f| f.file_name().is_some_and(|n| n == "manifest.jsonl"))
        .expect("a local copy")
}

#[test]
fn a_lost_config_on_a_new_machine_is_drilled_with_the_master_key_alone() {
    // The disk died: no local state, no local manifest copy; the remote
    // lost gocryptfs.conf. The master key opens the remote's own manifest.
    let p = Pushed::new();
    fs::remove_file(p.remote.join("gocryptfs.conf")).unwrap();
    let fresh = p.tmp.path().join("new-machine-state");
    for extra in [
        &["--passfile", password_file().to_str().unwrap()][..],
        &["--no-password"][..],
    ] {
        let run = run_json(
            vaultdrill()
                .env("VAULTDRILL_STATE_DIR", &fresh)
                .args([
                    "drill",
                    p.remote.to_str().unwrap(),
                    "--json",
                    "--sample",
                    "100%",
                ])
                .args(extra)
                .arg("--masterkey-file")
                .arg(masterkey_file("default"))
                .arg("--report")
                .arg(p.tmp.path().join("r.md")),
        );
        assert_eq!(run.code, 1, "{:#}", run.json);
        let step = |kind: &str| step_of(&run.json, kind).clone();
        let audit = step("audit");
        assert!(
            audit["ran"]
                .as_str()
                .unwrap()
                .contains("the remote's own manifest"),
            "{audit}"
        );
        assert!(
            audit.to_string().contains("gocryptfs.conf is missing"),
            "{audit}"
        );
        assert_eq!(step("unlock_master_key")["status"], "passed");
        assert_eq!(step("compare")["status"], "passed", "{}", step("compare"));
        assert_eq!(run.json["coverage"]["files_decrypted"], 29);
        // The only damage is the config (detection left nothing behind).
        for s in run.json["steps"].as_array().unwrap() {
            for f in s["findings"].as_array().unwrap() {
                assert_eq!(f["object"], "gocryptfs.conf", "{f}");
            }
        }
    }
}

#[test]
fn one_vaultdrill_at_a_time_per_remote_and_a_killed_one_is_no_obstacle() {
    let p = Pushed::new();
    let server = on_s3(&p);
    let mut first = hanging_drill(&p, &server);
    // A second drill and a push of the same remote are refused (4),
    // naming the holder.
    let second = run_json(
        vaultdrill()
            .env("VAULTDRILL_STATE_DIR", &p.state)
            .args(["drill", REMOTE, "--json", "--rclone-config"])
            .arg(&server.config)
            .arg("--passfile")
            .arg(password_file())
            .arg("--masterkey-file")
            .arg(masterkey_file("default")),
    );
    assert_eq!(second.code, 4, "{}", second.stderr);
    assert!(
        second.stderr.contains("in use by another vaultdrill"),
        "{}",
        second.stderr
    );
    assert!(
        second.stderr.contains(&format!("pid {}", first.id())),
        "{}",
        second.stderr
    );
    let push = p
        .push_to(REMOTE)
        .arg("--rclone-config")
        .arg(&server.config)
        .output()
        .unwrap();
    assert_eq!(
        push.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&push.stderr)
    );
    assert!(String::from_utf8_lossy(&push.stderr).contains("drill of s3test:bucket/vault"));
    // Another remote of the same vault is free (the local folder).
    let other = p.drill(&[]);
    assert_eq!(other.run.code, 0, "{}", other.run.stderr);

    // SIGKILL: nothing runs its cleanup, yet the next drill proceeds and
    // says a holder ended without releasing.
    first.kill().unwrap();
    first.wait().unwrap();
    let after = p.drill_remote(
        REMOTE,
        &["--rclone-config", server.config.to_str().unwrap()],
    );
    assert_eq!(after.run.code, 0, "{}", after.run.stderr);
    assert!(
        after.run.stderr.contains("ended without releasing"),
        "{}",
        after.run.stderr
    );
    // Its scratch folder (ciphertext, the decrypted manifest) is still
    // there; the next drill using that folder removes it.
    let hang = p.tmp.path().join("hang-scratch");
    assert_eq!(fs::read_dir(&hang).unwrap().count(), 1, "left by the kill");
    let next = vaultdrill()
        .env("VAULTDRILL_STATE_DIR", &p.state)
        .args([
            "drill",
            p.remote.to_str().unwrap(),
            "--no-state",
            "--no-masterkey",
        ])
        .arg("--passfile")
        .arg(password_file())
        .arg("--scratch")
        .arg(&hang)
        .output()
        .unwrap();
    assert_eq!(
        next.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&next.stderr)
    );
    assert!(String::from_utf8_lossy(&next.stderr).contains("left by a drill that was killed"));
    assert_eq!(fs::read_dir(&hang).unwrap().count(), 0, "swept");
}

#[test]
fn no_secret_reaches_rclone_through_argv_or_environment() {
    let p = Pushed::new();
    let server = on_s3(&p);
    let log = p.tmp.path().join("rclone-calls.log");
    let wrapper = p.tmp.path().join("rclone-logs");
    rclone_wrapper(
        &wrapper,
        &format!(
            "{{ printf 'ARGV'; printf ' %s' \"$@\"; echo; env; cat /proc/$$/cmdline | tr '\\0' ' '; echo; }} >> {log}\n",
            log = log.display(),
        ),
    );
    let config = server.config.to_str().unwrap().to_string();
    let wrapper_text = wrapper.to_str().unwrap().to_string();
    // A push and a drill, every rclone call through the logging wrapper.
    assert_pushed(
        p.push_to(REMOTE)
            .args(["--rclone-config", &config, "--rclone", &wrapper_text])
            .output()
            .unwrap(),
    );
    let d = p.drill_remote(
        REMOTE,
        &["--rclone-config", &config, "--rclone", &wrapper_text],
    );
    assert_eq!(d.run.code, 0, "{}", d.run.stderr);
    let calls = fs::read_to_string(&log).unwrap();
    assert!(calls.matches("ARGV").count() >= 6, "{calls}");
    for secret in &fixture_secrets() {
        assert!(!calls.contains(secret.as_str()), "a secret reached rclone");
    }
}

#[test]
fn a_drill_that_decrypts_nothing_is_not_a_pass() {
    let p = Pushed::new();
    // A slice holding no file (29 files in 60 slices leaves most empty).
    let empty = (1..=60)
        .map(|k| p.drill(&["--subset", &format!("{k}/60"), "--no-state"]))
        .find(|d| d.run.json["coverage"]["files_sampled"] == 0)
        .expect("an empty slice");
    assert_eq!(empty.run.code, 4, "{}", empty.step("compare"));
    assert_eq!(empty.status("compare"), "error");
    assert!(empty.report.lines().next().unwrap().contains("NOT PROVEN"));
    // One file asked for: a file with content is always among them.
    for seed in 0..8 {
        let seed = seed.to_string();
        let d = p.drill(&["--sample", "1", "--seed", &seed, "--no-state"]);
        assert_eq!(d.run.code, 0, "{:#?}", d.findings());
        assert!(d.run.json["coverage"]["bytes_decrypted"].as_u64().unwrap() > 0);
    }
}
