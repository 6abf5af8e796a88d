//! What drills remember between runs, in the vault's folder of the state
//! directory: when each file was last proven (the rotation that makes
//! successive drills cover the whole vault, least recently verified
//! first), and one line per drill (the history and its trend).
//!
//! A file is identified by its encrypted path and ciphertext hash: an
//! edited file is a new file, never verified, and so comes soon.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::outcome::Outcome;
use crate::manifest::store;

const VERIFIED: &str = "verified.tsv";
const DRILLS: &str = "drills.jsonl";

/// A year, the window of "verified recently".
pub const YEAR_SECONDS: u64 = 365 * 24 * 3600;

/// The identity of one version of one file.
pub fn file_key(cipher_path: &str, cipher_blake3: Option<&str>) -> u128 {
    let mut h = blake3::Hasher::new();
    h.update(cipher_path.as_bytes());
    h.update(&[0]);
    h.update(cipher_blake3.unwrap_or("").as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    u128::from_le_bytes(out)
}

/// When each file version was last proven (Unix seconds).
#[derive(Debug, Default)]
pub struct Rotation {
    pub verified: HashMap<u128, u64>,
}

impl Rotation {
    /// The vault's rotation; empty when there is none yet (or it cannot be
    /// read: the drill then samples as if nothing had been verified).
    pub fn load(vault_id: &str) -> Rotation {
        let Some(dir) = store::vault_path(vault_id) else {
            return Rotation::default();
        };
        let Ok(file) = File::open(dir.join(VERIFIED)) else {
            return Rotation::default();
        };
        let verified = BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .filter_map(|line| {
                let (key, when) = line.split_once('\t')?;
                Some((
                    u128::from_str_radix(key, 16).ok()?,
                    when.parse::<u64>().ok()?,
                ))
            })
            .collect();
        Rotation { verified }
    }

    pub fn last(&self, key: u128) -> Option<u64> {
        self.verified.get(&key).copied()
    }

    /// Keeps only `current` keys (files of the newest manifest) and
    /// writes the rotation back, privately and atomically.
    pub fn save(&mut self, vault_id: &str, current: &[u128]) -> io::Result<()> {
        let mut kept: Vec<(u128, u64)> = current
            .iter()
            .filter_map(|k| self.verified.get(k).map(|&t| (*k, t)))
            .collect();
        kept.sort_unstable();
        kept.dedup();
        let mut text = String::with_capacity(kept.len() * 48);
        for (key, when) in &kept {
            text.push_str(&format!("{key:032x}\t{when}\n"));
        }
        self.verified = kept.into_iter().collect();
        let dir = store::vault_state_dir(vault_id)?;
        store::write_private(&dir, VERIFIED, text.as_bytes())
    }
}

/// One drill, as the history keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DrillRecord {
    pub started: String,
    pub remote: String,
    #[serde(default)]
    pub vault_id: String,
    /// "verified", "damaged", "unlock", "could_not_run".
    pub verdict: String,
    pub exit_code: i32,
    pub seconds: f64,
    pub files_total: u64,
    pub files_sampled: u64,
    pub bytes_downloaded: u64,
    /// Share of the vault's files proven in the last 12 months (%).
    pub coverage_12m: f64,
    pub download_mib_s: f64,
    pub decrypt_mib_s: f64,
    pub findings: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<PathBuf>,
}

impl DrillRecord {
    pub fn from_outcome(outcome: &Outcome, report: Option<&Path>) -> DrillRecord {
        DrillRecord {
            started: outcome.started.clone(),
            remote: outcome.remote.clone(),
            vault_id: outcome.vault_id.clone().unwrap_or_default(),
            verdict: outcome.verdict.word().to_string(),
            exit_code: outcome.verdict.code(),
            seconds: outcome.seconds,
            files_total: outcome.coverage.files_total,
            files_sampled: outcome.coverage.files_sampled,
            bytes_downloaded: outcome.coverage.bytes_downloaded,
            coverage_12m: outcome.coverage.verified_12m_percent,
            download_mib_s: outcome.estimate.as_ref().map_or(0.0, |e| e.download_mib_s),
            decrypt_mib_s: outcome.estimate.as_ref().map_or(0.0, |e| e.decrypt_mib_s),
            findings: outcome.findings().count() as u64,
            report: report.map(Path::to_path_buf),
        }
    }
}

/// Appends a drill to its vault's history (a drill that did not learn the
/// vault's id goes to the history of unknown vaults).
pub fn record_drill(record: &DrillRecord) -> io::Result<()> {
    let id = if record.vault_id.is_empty() {
        "unknown"
    } else {
        &record.vault_id
    };
    let dir = store::vault_state_dir(id)?;
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(dir.join(DRILLS))?;
    let mut line = serde_json::to_vec(record)?;
    line.push(b'\n');
    file.write_all(&line)
}

/// Every recorded drill of every vault, oldest first.
pub fn all_drills() -> Vec<DrillRecord> {
    let mut all: Vec<DrillRecord> = store::vault_paths()
        .into_iter()
        .flat_map(|v| store::read_jsonl::<DrillRecord>(&v.join(DRILLS)))
        .collect();
    all.sort_by(|a, b| a.started.cmp(&b.started));
    all
}

/// The last drill of `remote`, if any.
pub fn last_drill_of(remote: &str) -> Option<DrillRecord> {
    all_drills().into_iter().rev().find(|r| r.remote == remote)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_file_is_a_new_key() {
        let a = file_key("x/y", Some("aa"));
        assert_eq!(a, file_key("x/y", Some("aa")));
        assert_ne!(a, file_key("x/y", Some("ab")));
        assert_ne!(a, file_key("x/z", Some("aa")));
    }
}
