//! A file past the write-behind threshold (64 MiB), with a hole, through
//! every writer: written behind and dropped from the cache as it goes, its
//! bytes must still be exactly what the real gocryptfs 2.3 (through fuse3)
//! reads and writes. Never skipped.

mod common;

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;

use common::*;
use tempfile::TempDir;

/// 30 MiB of data, a 4 MiB hole, then 50 MiB and a few bytes.
fn write_large(path: &Path) -> Vec<u8> {
    let head = content("large-head", 30 << 20);
    let tail = content("large-tail", (50 << 20) + 12_345);
    let mut f = fs::File::create(path).expect("create");
    f.write_all(&head).expect("write");
    f.seek(SeekFrom::Current(4 << 20)).expect("seek");
    f.write_all(&tail).expect("write");
    let mut all = head;
    all.resize(all.len() + (4 << 20), 0);
    all.extend_from_slice(&tail);
    all
}

fn same_bytes(got: &Path, want: &[u8], what: &str) {
    let got = fs::read(got).unwrap_or_else(|e| panic!("{what}: reading {}: {e}", got.display()));
    assert_eq!(got.len(), want.len(), "{what}: size");
    assert!(got == want, "{what}: contents differ");
}

#[test]
fn a_large_file_goes_through_every_writer_byte_for_byte() {
    let tmp = TempDir::new().expect("tmp");
    let plain = tmp.path().join("plain");
    fs::create_dir(&plain).expect("mkdir");
    let want = write_large(&plain.join("large.bin"));
    let passfile = tmp.path().join("pass");

    // gocryptfs writes it, vaultdrill decrypts it.
    let by_gocryptfs = tmp.path().join("by-gocryptfs");
    gocryptfs_init(&by_gocryptfs, &passfile, &[]);
    {
        let mount = Mount::new(&[], &by_gocryptfs, &tmp.path().join("mnt-w"), &passfile);
        run(Command::new("cp")
            .arg("--sparse=always")
            .arg(plain.join("large.bin"))
            .arg(&mount.point));
    }
    let out = tmp.path().join("decrypted");
    vaultdrill()
        .arg("decrypt")
        .arg(&by_gocryptfs)
        .arg(&out)
        .arg("--passfile")
        .arg(&passfile)
        .assert()
        .code(0);
    same_bytes(&out.join("large.bin"), &want, "decrypt");

    // vaultdrill restores it from the vault as a local folder.
    vaultdrill()
        .env("VAULTDRILL_STATE_DIR", tmp.path().join("state"))
        .arg("manifest")
        .arg("-q")
        .arg(&by_gocryptfs)
        .arg("--passfile")
        .arg(&passfile)
        .assert()
        .code(0);
    let dest = tmp.path().join("restored");
    let restored = restore_json(
        &tmp.path().join("state"),
        by_gocryptfs.to_str().expect("utf-8 path"),
        &dest,
        &tmp.path().join("report.md"),
        &["--passfile", passfile.to_str().expect("utf-8 path")],
    );
    assert_eq!(restored.code, 0, "{}", restored.stderr);
    same_bytes(&dest.join("large.bin"), &want, "restore");

    // vaultdrill encrypts it, gocryptfs reads it.
    let by_vaultdrill = tmp.path().join("by-vaultdrill");
    gocryptfs_init(&by_vaultdrill, &passfile, &[]);
    vaultdrill()
        .arg("encrypt")
        .arg(&plain)
        .arg(&by_vaultdrill)
        .arg("--passfile")
        .arg(&passfile)
        .assert()
        .code(0);
    {
        let mount = Mount::new(
            &["-ro"],
            &by_vaultdrill,
            &tmp.path().join("mnt-r"),
            &passfile,
        );
        same_bytes(&mount.point.join("large.bin"), &want, "encrypt");
    }

    // vaultdrill exports the reverse view: the same bytes as the mount's.
    gocryptfs_init(&plain, &passfile, &["-reverse"]);
    let exported = tmp.path().join("exported");
    vaultdrill()
        .arg("export")
        .arg(&plain)
        .arg(&exported)
        .arg("--passfile")
        .arg(&passfile)
        .assert()
        .code(0);
    let mount = Mount::new(
        &["-reverse", "-ro"],
        &plain,
        &tmp.path().join("mnt-x"),
        &passfile,
    );
    let view = fs::read_dir(&mount.point)
        .expect("reverse view")
        .map(|e| e.expect("entry").file_name())
        .find(|n| fs::metadata(mount.point.join(n)).is_ok_and(|m| m.len() > 64 << 20))
        .expect("the large file in the reverse view");
    let from_mount = fs::read(mount.point.join(&view)).expect("read the view");
    same_bytes(&exported.join(&view), &from_mount, "export");
}
