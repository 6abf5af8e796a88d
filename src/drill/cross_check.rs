//! `--cross-check-gocryptfs`: mount the downloaded sample read-only with
//! the real gocryptfs and read every sampled file through it. Two
//! independent implementations must agree: what vaultdrill proved intact
//! reads back through gocryptfs with the manifest's hash, and what it found
//! damaged, gocryptfs refuses too (or reads back wrong).
//!
//! The secret goes to gocryptfs on its standard input, never on its
//! command line.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::display::escape_path;
use crate::manifest::ManifestReader;

/// What gocryptfs is given to unlock.
pub enum Key<'a> {
    /// The master key, with a config for the flags (the regenerated one).
    MasterKey { printed: &'a str, config: &'a Path },
    /// The password, against the vault's own config.
    Password(&'a [u8]),
}

/// A file the two implementations disagree on.
#[derive(Debug)]
pub struct Disagreement {
    pub plain_path: PathBuf,
    pub what: String,
}

#[derive(Debug, Default)]
pub struct CrossCheck {
    pub files: u64,
    pub bytes: u64,
    /// Files both found damaged.
    pub both_damaged: u64,
    pub disagreements: Vec<Disagreement>,
}

/// A mounted sample; unmounted when dropped.
struct Mount {
    point: PathBuf,
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("fusermount3")
            .arg("-u")
            .arg(&self.point)
            .stderr(Stdio::null())
            .status();
    }
}

/// Mounts `cipher_dir` at `point` with gocryptfs (`-ro`).
fn mount(cipher_dir: &Path, point: &Path, key: &Key<'_>) -> Result<Mount, String> {
    std::fs::create_dir_all(point).map_err(|e| format!("{}: {e}", point.display()))?;
    let mut cmd = Command::new("gocryptfs");
    cmd.args(["-ro", "-q", "-nosyslog"]);
    let key_bytes: &[u8] = match key {
        Key::MasterKey { printed, config } => {
            cmd.arg("-masterkey=stdin").arg("-config").arg(config);
            printed.as_bytes()
        }
        Key::Password(p) => p,
    };
    // Sized up front: a Vec that grows frees a copy it never wipes.
    let mut secret = zeroize::Zeroizing::new(Vec::with_capacity(key_bytes.len() + 1));
    secret.extend_from_slice(key_bytes);
    secret.push(b'\n');
    // gocryptfs forks a daemon that keeps its stderr: a file, not a pipe
    // (a pipe would never reach end of file while the mount lives).
    let log_path = point.with_extension("log");
    let log = File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    cmd.arg(cipher_dir)
        .arg(point)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(log);
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => {
            "gocryptfs is not installed (apt-get install gocryptfs fuse3)".to_string()
        }
        _ => format!("starting gocryptfs: {e}"),
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&secret);
    }
    let status = child.wait().map_err(|e| format!("gocryptfs: {e}"))?;
    if !status.success() {
        let why = std::fs::read_to_string(&log_path).unwrap_or_default();
        let why = why.lines().last().unwrap_or("").trim();
        return Err(format!(
            "gocryptfs could not mount the sample ({status}{}{})",
            if why.is_empty() { "" } else { ": " },
            why
        ));
    }
    Ok(Mount {
        point: point.to_path_buf(),
    })
}

/// The manifest's plaintext BLAKE3 of each of `files`.
fn expected(manifest: &Path, files: &HashSet<&Path>) -> Result<HashMap<PathBuf, String>, String> {
    let file = File::open(manifest).map_err(|e| e.to_string())?;
    let mut reader = ManifestReader::new(BufReader::new(file)).map_err(|e| e.to_string())?;
    let mut out = HashMap::new();
    while let Some(r) = reader.next_record().map_err(|e| e.to_string())? {
        let path = r.plain_path();
        if r.kind == "file"
            && files.contains(path.as_path())
            && let Some(h) = r.blake3
        {
            out.insert(path, h);
        }
    }
    Ok(out)
}

/// Mounts the sample and reads each of `files` (plaintext paths) through
/// gocryptfs; `damaged` are those vaultdrill found damaged.
pub fn run(
    cipher_dir: &Path,
    point: &Path,
    key: &Key<'_>,
    manifest: &Path,
    files: &[PathBuf],
    damaged: &HashSet<PathBuf>,
) -> Result<CrossCheck, String> {
    let wanted: HashSet<&Path> = files.iter().map(PathBuf::as_path).collect();
    let hashes = expected(manifest, &wanted)?;
    let mounted = mount(cipher_dir, point, key)?;
    let mut result = CrossCheck::default();
    for plain in files {
        result.files += 1;
        if !plain
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
        {
            result.disagreements.push(Disagreement {
                plain_path: plain.clone(),
                what: "not a plain relative path: not read through the mount".into(),
            });
            continue;
        }
        let read = File::open(mounted.point.join(plain)).and_then(|f| {
            let mut h = blake3::Hasher::new();
            h.update_reader(f)?;
            Ok((h.count(), h.finalize().to_hex().to_string()))
        });
        let ours_damaged = damaged.contains(plain);
        let want = hashes.get(plain);
        let disagreement = match (&read, ours_damaged) {
            (Ok((n, got)), false) => {
                result.bytes += n;
                (Some(got) != want).then(|| {
                    format!(
                        "vaultdrill read it intact, gocryptfs reads BLAKE3 {got} (the manifest \
                         says {})",
                        want.map_or("nothing", String::as_str)
                    )
                })
            }
            (Ok((_, got)), true) if Some(got) == want => Some(
                "vaultdrill found it damaged, gocryptfs reads it as the manifest says".to_string(),
            ),
            (Ok(_), true) | (Err(_), true) => {
                result.both_damaged += 1;
                None
            }
            (Err(e), false) => Some(format!("vaultdrill read it intact, gocryptfs cannot: {e}")),
        };
        if let Some(what) = disagreement {
            result.disagreements.push(Disagreement {
                plain_path: plain.clone(),
                what,
            });
        }
    }
    drop(mounted);
    Ok(result)
}

/// A disagreement for a report line.
pub fn describe(d: &Disagreement) -> (String, String) {
    (escape_path(&d.plain_path), d.what.clone())
}
