//! `vaultdrill demo`, README's first command: it must run end to end with
//! nothing but the binary, and its reports must tell the story it claims.

mod common;

use std::fs;

use common::vaultdrill;
use tempfile::TempDir;

#[test]
fn the_demo_runs_end_to_end_and_its_reports_tell_the_story() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("demo");
    // The user's own registry is unreadable and their runtime folder
    // unusable: the demo touches neither.
    let registry = tmp.path().join("user-registry.toml");
    fs::write(&registry, "this is [not toml").unwrap();
    let runtime = tmp.path().join("runtime-is-a-file");
    fs::write(&runtime, "").unwrap();
    let out = vaultdrill()
        .args(["demo", "--dir"])
        .arg(&dir)
        .env_remove("VAULTDRILL_STATE_DIR")
        .env("VAULTDRILL_CONFIG", &registry)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("HOME", tmp.path().join("home"))
        .env("PATH", "/nonexistent") // no rclone, no gocryptfs
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first_line = |name: &str| {
        fs::read_to_string(dir.join("reports").join(name))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string()
    };
    assert!(first_line("1-clean.md").starts_with("# PASSED"));
    assert!(first_line("2-after-rot.md").starts_with("# FAILED"));
    assert!(first_line("3-repaired.md").starts_with("# PASSED"));
    let rot = fs::read_to_string(dir.join("reports/2-after-rot.md")).unwrap();
    assert!(rot.contains("`photos/2024/harbour.jpg`"), "{rot}");
    assert!(rot.contains("authentication failed"));
    assert!(rot.contains("runbooks/damaged-objects.md"));
    assert!(
        fs::read_to_string(dir.join("reports/history.html"))
            .unwrap()
            .contains("<svg")
    );
    // Its state stayed in the demo folder, not in HOME.
    assert!(dir.join("state").is_dir());
    assert!(!tmp.path().join("home").exists());
    // Secrets: files private, and never in a report.
    let password = fs::read_to_string(dir.join("password")).unwrap();
    let key = fs::read_to_string(dir.join("masterkey.txt")).unwrap();
    let key_hex: String = key.chars().filter(char::is_ascii_hexdigit).collect();
    assert_eq!(key_hex.len(), 64);
    for report in ["1-clean.md", "2-after-rot.md", "3-repaired.md"] {
        let text = fs::read_to_string(dir.join("reports").join(report)).unwrap();
        assert!(!text.contains(password.trim()));
        assert!(!text.contains(&key_hex[..16]) && !text.contains(&key[..8]));
    }
    assert!(
        !stdout.contains(&key[..17]),
        "the demo does not print the key"
    );
    use std::os::unix::fs::PermissionsExt;
    for secret in ["password", "masterkey.txt", "recovery-kit.md"] {
        let mode = fs::metadata(dir.join(secret)).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{secret} is private");
    }
    // A second run into the same folder is refused (usage, nothing touched).
    let again = vaultdrill()
        .args(["demo", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
}
