//! Drill scratch folders left by a drill that was killed (SIGKILL, a
//! power cut): each scratch folder names its owner's process, and the next
//! drill removes those whose owner is gone.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The prefix of a drill's scratch folder.
pub const PREFIX: &str = "vaultdrill-drill-";
/// The file in a scratch folder naming the process that owns it.
const OWNER: &str = "owner.pid";

/// Names this process as the owner of `scratch`.
pub fn mark(scratch: &Path) -> io::Result<()> {
    fs::write(scratch.join(OWNER), std::process::id().to_string())
}

/// Whether the process `pid` is alive (or not ours to see: kept).
fn alive(pid: i32) -> bool {
    match rustix::process::Pid::from_raw(pid) {
        None => false,
        Some(pid) => !matches!(
            rustix::process::test_kill_process(pid),
            Err(rustix::io::Errno::SRCH)
        ),
    }
}

/// Removes the scratch folders in `parent` whose owner is gone; returns
/// them. Folders without an owner file (another version's, or made this
/// instant) and folders that cannot be read are left alone.
pub fn sweep(parent: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(listing) = fs::read_dir(parent) else {
        return removed;
    };
    for entry in listing.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(PREFIX)
            || !entry.file_type().is_ok_and(|t| t.is_dir())
        {
            continue;
        }
        let dir = entry.path();
        let Some(pid) = fs::read_to_string(dir.join(OWNER))
            .ok()
            .and_then(|text| text.trim().parse::<i32>().ok())
        else {
            continue;
        };
        if !alive(pid) && fs::remove_dir_all(&dir).is_ok() {
            removed.push(dir);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_owners_scratch_goes_a_living_ones_stays() {
        let tmp = tempfile::tempdir().unwrap();
        let mine = tmp.path().join(format!("{PREFIX}mine"));
        fs::create_dir(&mine).unwrap();
        mark(&mine).unwrap();
        // A process that has ended: its pid is free (until reused).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let stale = tmp.path().join(format!("{PREFIX}stale"));
        fs::create_dir(&stale).unwrap();
        fs::write(stale.join(OWNER), dead.to_string()).unwrap();
        fs::write(stale.join("manifest.jsonl"), b"plaintext names").unwrap();
        let unowned = tmp.path().join(format!("{PREFIX}unowned"));
        fs::create_dir(&unowned).unwrap();
        let other = tmp.path().join("someone-elses");
        fs::create_dir(&other).unwrap();
        fs::write(other.join(OWNER), dead.to_string()).unwrap();

        assert_eq!(sweep(tmp.path()), vec![stale.clone()]);
        assert!(!stale.exists());
        assert!(mine.exists() && unowned.exists() && other.exists());
    }
}
