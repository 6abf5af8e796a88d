//! `vaultdrill export` against a live `gocryptfs -reverse` mount of the
//! same folder (gocryptfs 2.3 through fuse3): file by file and name by name,
//! every byte, mode, mtime and link target must be the same, also after
//! incremental updates and with exclusions. Never skipped.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::*;
use tempfile::TempDir;

struct Reverse {
    tmp: TempDir,
    plain: PathBuf,
    passfile: PathBuf,
}

fn reverse_vault(gocryptfs_init: bool, extra: &[&str]) -> Reverse {
    let tmp = TempDir::new().expect("tmp");
    let plain = tmp.path().join("plain");
    fs::create_dir(&plain).expect("mkdir");
    write_tree(&plain);
    let passfile = tmp.path().join("pass");
    fs::write(&passfile, format!("{PASSWORD}\n")).expect("write");
    if gocryptfs_init {
        common::gocryptfs_init(&plain, &passfile, &[&["-reverse"], extra].concat());
    } else {
        vaultdrill()
            .args([
                "init",
                "--reverse",
                "--scryptn",
                "10",
                "--print-masterkey",
                "--passfile",
            ])
            .arg(&passfile)
            .args(extra)
            .arg(&plain)
            .assert()
            .code(0);
    }
    Reverse {
        tmp,
        plain,
        passfile,
    }
}

fn export(r: &Reverse, dest: &Path, extra: &[&str]) -> serde_json::Value {
    let out = vaultdrill()
        .arg("export")
        .arg(&r.plain)
        .arg(dest)
        .args(["--json", "--passfile"])
        .arg(&r.passfile)
        .args(extra)
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

/// What the live reverse mount shows, read through FUSE.
fn live_view(r: &Reverse, mount_args: &[&str]) -> BTreeMap<String, Expected> {
    let mut args = vec!["-reverse", "-ro"];
    args.extend_from_slice(mount_args);
    let mount = Mount::new(&args, &r.plain, &r.tmp.path().join("mnt"), &r.passfile);
    snapshot(&mount.point)
}

fn inodes(root: &Path) -> BTreeMap<String, u64> {
    walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .map(|e| e.expect("walk"))
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path()
                    .strip_prefix(root)
                    .expect("rel")
                    .to_string_lossy()
                    .into_owned(),
                e.metadata().expect("meta").ino(),
            )
        })
        .collect()
}

#[test]
fn export_equals_the_live_reverse_mount() {
    for (what, gocryptfs_init, extra) in [
        ("gocryptfs -init -reverse", true, &[][..]),
        ("vaultdrill init --reverse", false, &[][..]),
        ("-plaintextnames", true, &["-plaintextnames"][..]),
        ("-deterministic-names", true, &["-deterministic-names"][..]),
        ("-longnamemax 62", true, &["-longnamemax", "62"][..]),
    ] {
        let r = reverse_vault(gocryptfs_init, extra);
        let dest = r.tmp.path().join("export");
        let summary = export(&r, &dest, &[]);
        assert!(
            summary["files_written"].as_u64().expect("n") >= 15,
            "{what}: {summary}"
        );
        assert_same_tree(&snapshot(&dest), &live_view(&r, &[]), what);
    }
}

#[test]
fn a_second_export_rewrites_only_what_changed_and_removes_what_went() {
    let r = reverse_vault(true, &[]);
    let dest = r.tmp.path().join("export");
    export(&r, &dest, &[]);
    let before = inodes(&dest);
    let again = export(&r, &dest, &[]);
    assert_eq!(
        (again["files_written"].as_u64(), again["removed"].as_u64()),
        (Some(0), Some(0)),
        "{again}"
    );
    assert_eq!(inodes(&dest), before, "an unchanged tree rewrites nothing");

    fs::write(r.plain.join("size-4097"), content("edited", 4097)).expect("edit");
    fs::remove_file(r.plain.join("exec.sh")).expect("rm");
    fs::remove_dir_all(r.plain.join("d1/d2/d3/d4")).expect("rm -r");
    fs::rename(r.plain.join("empty"), r.plain.join("empty-renamed")).expect("mv");
    fs::write(r.plain.join("added.txt"), b"new file").expect("add");
    let third = export(&r, &dest, &[]);
    assert_eq!(
        third["files_written"], 2,
        "the edited and the added file: {third}"
    );
    assert!(third["removed"].as_u64().expect("n") >= 3, "{third}");
    assert_same_tree(&snapshot(&dest), &live_view(&r, &[]), "after the update");
    // Untouched content files were not rewritten: of the exported files
    // over 1000 bytes that still exist, only the edited one changed inode.
    // (diriv files of directories whose mtime changed are rewritten: their
    // mtime is the directory's, as on the mount.)
    let after = inodes(&dest);
    let sizes = snapshot(&dest);
    let rewritten: Vec<_> = before
        .iter()
        .filter(|(p, _)| sizes.get(*p).and_then(|e| e.size).is_some_and(|s| s > 1000))
        .filter(|(p, ino)| after.get(*p) != Some(ino))
        .collect();
    assert_eq!(rewritten.len(), 1, "{rewritten:?}");
}

#[test]
fn exclusions_match_gocryptfs() {
    let r = reverse_vault(true, &[]);
    let dest = r.tmp.path().join("export");
    export(
        &r,
        &dest,
        &[
            "--exclude",
            "d1/d2",
            "--exclude-wildcard",
            "*.sh",
            "--exclude-wildcard",
            "size-4*",
        ],
    );
    let live = live_view(
        &r,
        &[
            "-exclude",
            "d1/d2",
            "-exclude-wildcard",
            "*.sh",
            "-exclude-wildcard",
            "size-4*",
        ],
    );
    assert!(live.len() > 10);
    assert_same_tree(&snapshot(&dest), &live, "with exclusions");
}

#[test]
fn export_refuses_a_foreign_destination() {
    let r = reverse_vault(true, &[]);
    let other = r.tmp.path().join("other");
    fs::create_dir(&other).expect("mkdir");
    fs::write(other.join("precious.txt"), b"keep").expect("write");
    let out = vaultdrill()
        .arg("export")
        .arg(&r.plain)
        .arg(&other)
        .arg("--passfile")
        .arg(&r.passfile)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an export of this vault"));
    assert_eq!(
        fs::read(other.join("precious.txt")).expect("still there"),
        b"keep"
    );
    // A forward vault is not an export either.
    let (_t, vault) = unpack("default");
    let out = vaultdrill()
        .arg("export")
        .arg(&r.plain)
        .arg(&vault)
        .arg("--passfile")
        .arg(&r.passfile)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert_same_tree(
        &snapshot(&vault),
        &{
            let (_t2, fresh) = unpack("default");
            snapshot(&fresh)
        },
        "the forward vault is untouched",
    );
}

#[test]
fn a_folder_of_random_names_is_not_mistaken_for_an_export() {
    // A content-addressed store (names like hex hashes): some names unpad by
    // chance under any key. The update would delete them all as "stale".
    let r = reverse_vault(true, &[]);
    let store = r.tmp.path().join("store");
    fs::create_dir(&store).expect("mkdir");
    for i in 0..300u32 {
        let name: String = blake3::hash(&i.to_le_bytes()).to_hex().to_string();
        fs::write(store.join(name), b"object").expect("write");
    }
    let out = vaultdrill()
        .arg("export")
        .arg(&r.plain)
        .arg(&store)
        .arg("--passfile")
        .arg(&r.passfile)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::read_dir(&store).expect("ls").count(),
        300,
        "nothing deleted"
    );
}

#[test]
fn exclusion_quirks_match_gocryptfs() {
    let r = reverse_vault(true, &[]);
    fs::write(r.plain.join("abc"), b"1").expect("write");
    fs::write(r.plain.join("a?c"), b"2").expect("write");
    fs::write(r.plain.join("my file (1).txt"), b"3").expect("write");
    for (i, patterns) in [
        &[
            "--exclude-wildcard",
            "a?c",
            "--exclude-wildcard",
            "d1/",
            "--exclude-wildcard",
            "[!e]xec.sh",
        ][..],
        &[
            "--exclude-wildcard",
            ".*",
            "--exclude-wildcard",
            "my file (1).txt",
            "--exclude",
            "/abc",
        ][..],
        &[
            "--exclude-wildcard",
            "L*/**",
            "--exclude-wildcard",
            "*.txt",
            "--exclude-wildcard",
            "!Grüße*",
        ][..],
    ]
    .iter()
    .enumerate()
    {
        let dest = r.tmp.path().join(format!("export-{i}"));
        export(&r, &dest, patterns);
        let gocryptfs_args: Vec<&str> = patterns
            .iter()
            .map(|a| if a.starts_with("--") { &a[1..] } else { a })
            .collect();
        assert_same_tree(
            &snapshot(&dest),
            &live_view(&r, &gocryptfs_args),
            &format!("{patterns:?}"),
        );
    }
}

#[test]
fn a_reverse_config_without_aes_siv_is_refused() {
    let r = reverse_vault(true, &[]);
    let conf = r.plain.join(".gocryptfs.reverse.conf");
    let text = fs::read_to_string(&conf)
        .expect("conf")
        .replace(",\n\t\t\"AESSIV\"", "");
    assert!(!text.contains("AESSIV"));
    let mut perms = fs::metadata(&conf).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
    fs::set_permissions(&conf, perms).expect("chmod");
    fs::write(&conf, text).expect("write");
    let out = vaultdrill()
        .arg("export")
        .arg(&r.plain)
        .arg(r.tmp.path().join("export"))
        .arg("--passfile")
        .arg(&r.passfile)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("must use AESSIV"));
    assert!(!r.tmp.path().join("export").exists());
}
