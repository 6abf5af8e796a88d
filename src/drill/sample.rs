//! Which files a drill downloads: a budget (a share of the vault's bytes, a
//! number of files, or a byte count), filled in an order a seed makes
//! reproducible, always with a zero-byte file and the largest file that
//! fits, plus the config, the diriv files and the `.name` sidecars the
//! chosen files need to be decrypted.

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::manifest::Record;

/// How much of the vault a drill downloads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SampleSize {
    /// A share of the vault's ciphertext bytes.
    Percent(f64),
    /// A number of files.
    Files(u64),
    /// A byte budget (egress costs money).
    Bytes(u64),
}

impl FromStr for SampleSize {
    type Err = String;

    fn from_str(text: &str) -> Result<SampleSize, String> {
        let t = text.trim();
        let bad = || format!("{text:?} is not a sample size: 2%, 50 (files) or 5GiB");
        if let Some(p) = t.strip_suffix('%') {
            let p: f64 = p.trim().parse().map_err(|_| bad())?;
            return if p > 0.0 && p <= 100.0 {
                Ok(SampleSize::Percent(p))
            } else {
                Err(bad())
            };
        }
        let units: [(&str, u64); 8] = [
            ("KiB", 1 << 10),
            ("MiB", 1 << 20),
            ("GiB", 1 << 30),
            ("TiB", 1 << 40),
            ("KB", 1000),
            ("MB", 1_000_000),
            ("GB", 1_000_000_000),
            ("B", 1),
        ];
        for (suffix, factor) in units {
            if let Some(n) = t.strip_suffix(suffix) {
                let n: f64 = n.trim().parse().map_err(|_| bad())?;
                if n <= 0.0 {
                    return Err(bad());
                }
                return Ok(SampleSize::Bytes((n * factor as f64) as u64));
            }
        }
        match t.parse::<u64>() {
            Ok(0) | Err(_) => Err(bad()),
            Ok(n) => Ok(SampleSize::Files(n)),
        }
    }
}

impl SampleSize {
    /// As written on the command line.
    pub fn cli_form(&self) -> String {
        match self {
            SampleSize::Percent(p) => format!("{p}%"),
            SampleSize::Files(n) => n.to_string(),
            SampleSize::Bytes(b) => format!("{b}B"),
        }
    }
}

impl fmt::Display for SampleSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SampleSize::Percent(p) => write!(f, "{p}% of the bytes"),
            SampleSize::Files(n) => write!(f, "{n} files"),
            SampleSize::Bytes(n) => write!(f, "{n} bytes"),
        }
    }
}

/// One object to download and what it is for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SampleObject {
    pub cipher_path: String,
    pub cipher_size: u64,
    /// The plaintext path of a sampled file (None for config, diriv, sidecar).
    pub plain_path: Option<PathBuf>,
}

/// The chosen sample.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// Sampled files (plaintext paths), sorted.
    pub files: Vec<PathBuf>,
    /// Every object to download: the files' and what they need.
    pub objects: Vec<SampleObject>,
    pub file_bytes: u64,
    pub download_bytes: u64,
    /// Whether an empty file is in the sample.
    pub empty_included: bool,
    /// The largest sampled file and its ciphertext size.
    pub largest: Option<(PathBuf, u64)>,
}

/// A file candidate from the manifest.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub plain_path: PathBuf,
    pub cipher_path: String,
    pub cipher_size: u64,
    pub plain_size: u64,
}

fn score(seed: u64, cipher_path: &str) -> [u8; 8] {
    let mut h = blake3::Hasher::new();
    h.update(&seed.to_le_bytes());
    h.update(cipher_path.as_bytes());
    let mut out = [0u8; 8];
    out.copy_from_slice(&h.finalize().as_bytes()[..8]);
    out
}

/// Picks the files: a zero-byte file and the largest file that fits first
/// (both kinds of file are represented), then the others in seeded order
/// until the budget is used.
pub fn choose(candidates: &[Candidate], size: SampleSize, seed: u64) -> Vec<usize> {
    let total: u64 = candidates.iter().map(|c| c.cipher_size).sum();
    let budget = match size {
        SampleSize::Percent(p) => ((total as f64) * p / 100.0).ceil() as u64,
        SampleSize::Bytes(b) => b,
        SampleSize::Files(_) => u64::MAX,
    };
    let max_files = match size {
        SampleSize::Files(n) => n as usize,
        _ => usize::MAX,
    };
    let mut chosen: Vec<usize> = Vec::new();
    let mut used = 0u64;
    let take = |i: usize, chosen: &mut Vec<usize>, used: &mut u64| -> bool {
        if chosen.len() >= max_files || chosen.contains(&i) {
            return false;
        }
        if *used + candidates[i].cipher_size > budget && !chosen.is_empty() {
            return false;
        }
        chosen.push(i);
        *used += candidates[i].cipher_size;
        true
    };
    if let Some(empty) = candidates.iter().position(|c| c.plain_size == 0) {
        take(empty, &mut chosen, &mut used);
    }
    let mut by_size: Vec<usize> = (0..candidates.len()).collect();
    by_size.sort_by(|&a, &b| {
        candidates[b]
            .cipher_size
            .cmp(&candidates[a].cipher_size)
            .then_with(|| candidates[a].cipher_path.cmp(&candidates[b].cipher_path))
    });
    if let Some(&largest) = by_size
        .iter()
        .find(|&&i| used + candidates[i].cipher_size <= budget || chosen.is_empty())
    {
        take(largest, &mut chosen, &mut used);
    }
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by_cached_key(|&i| score(seed, &candidates[i].cipher_path));
    for i in order {
        if chosen.len() >= max_files || used >= budget {
            break;
        }
        take(i, &mut chosen, &mut used);
    }
    chosen.sort_by(|&a, &b| candidates[a].plain_path.cmp(&candidates[b].plain_path));
    chosen
}

/// What a sampled file needs from the remote besides itself: the config,
/// the diriv of every folder on its path, its own `.name` sidecar and the
/// sidecars of long-named folders on its path. `meta` are the manifest's
/// config/diriv/sidecar records.
pub fn needed_meta<'m>(files: &[&Candidate], meta: &'m [Record]) -> Vec<&'m Record> {
    let mut wanted_dirs: BTreeSet<PathBuf> = BTreeSet::new();
    let mut wanted_owners: BTreeSet<PathBuf> = BTreeSet::new();
    for c in files {
        wanted_owners.insert(c.plain_path.clone());
        let mut dir = c.plain_path.parent();
        while let Some(d) = dir {
            wanted_dirs.insert(d.to_path_buf());
            wanted_owners.insert(d.to_path_buf());
            dir = d.parent();
        }
    }
    let mut needed: Vec<&Record> = meta
        .iter()
        .filter(|r| match r.kind.as_str() {
            "config" => true,
            "diriv" => wanted_dirs.contains(&r.plain_path()),
            "sidecar" => wanted_owners.contains(&r.plain_path()),
            _ => false,
        })
        .collect();
    needed.sort_by(|a, b| a.cipher_path.cmp(&b.cipher_path));
    needed
}

/// Builds the sample from the manifest's file candidates and meta records.
pub fn build(candidates: &[Candidate], meta: &[Record], size: SampleSize, seed: u64) -> Sample {
    let picked = choose(candidates, size, seed);
    let files: Vec<&Candidate> = picked.iter().map(|&i| &candidates[i]).collect();
    let mut objects: Vec<SampleObject> = files
        .iter()
        .map(|c| SampleObject {
            cipher_path: c.cipher_path.clone(),
            cipher_size: c.cipher_size,
            plain_path: Some(c.plain_path.clone()),
        })
        .collect();
    for r in needed_meta(&files, meta) {
        objects.push(SampleObject {
            cipher_path: r.cipher_path.clone(),
            cipher_size: r.cipher_size,
            plain_path: None,
        });
    }
    objects.sort();
    objects.dedup_by(|a, b| a.cipher_path == b.cipher_path);
    Sample {
        empty_included: files.iter().any(|c| c.plain_size == 0),
        largest: files
            .iter()
            .max_by_key(|c| c.cipher_size)
            .map(|c| (c.plain_path.clone(), c.cipher_size)),
        files: files.iter().map(|c| c.plain_path.clone()).collect(),
        file_bytes: files.iter().map(|c| c.cipher_size).sum(),
        download_bytes: objects.iter().map(|o| o.cipher_size).sum(),
        objects,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cand(path: &str, size: u64) -> Candidate {
        Candidate {
            plain_path: PathBuf::from(path),
            cipher_path: format!("c/{path}"),
            cipher_size: if size == 0 { 0 } else { size + 50 },
            plain_size: size,
        }
    }

    #[test]
    fn sizes_parse() {
        assert_eq!("2%".parse(), Ok(SampleSize::Percent(2.0)));
        assert_eq!("50".parse(), Ok(SampleSize::Files(50)));
        assert_eq!("5GiB".parse(), Ok(SampleSize::Bytes(5 << 30)));
        assert_eq!("1.5MB".parse(), Ok(SampleSize::Bytes(1_500_000)));
        for bad in ["0", "0%", "150%", "-1", "lots", "5XB", ""] {
            assert!(bad.parse::<SampleSize>().is_err(), "{bad}");
        }
    }

    #[test]
    fn samples_are_reproducible_and_hold_empty_and_large_files() {
        let mut c: Vec<Candidate> = (0..200)
            .map(|i| cand(&format!("f{i:03}"), 1000 + i))
            .collect();
        c.push(cand("empty", 0));
        c.push(cand("huge", 100_000));
        let a = choose(&c, SampleSize::Files(10), 7);
        assert_eq!(a, choose(&c, SampleSize::Files(10), 7));
        assert_ne!(a, choose(&c, SampleSize::Files(10), 8));
        assert_eq!(a.len(), 10);
        let names: Vec<&str> = a
            .iter()
            .map(|&i| c[i].plain_path.to_str().unwrap())
            .collect();
        assert!(
            names.contains(&"empty") && names.contains(&"huge"),
            "{names:?}"
        );
        // A byte budget is kept; the largest file that fits is taken.
        let b = choose(&c, SampleSize::Bytes(20_000), 1);
        let used: u64 = b.iter().map(|&i| c[i].cipher_size).sum();
        assert!(used <= 20_000, "{used}");
        assert!(b.iter().any(|&i| c[i].plain_size == 0));
        // A budget smaller than any file still takes one file.
        assert_eq!(choose(&c[..5], SampleSize::Bytes(10), 1).len(), 1);
        // 100 % takes everything.
        assert_eq!(choose(&c, SampleSize::Percent(100.0), 3).len(), c.len());
    }

    #[test]
    fn a_file_needs_the_dirivs_on_its_path_its_sidecar_and_the_config() {
        let mut meta = Vec::new();
        for (kind, owner, cpath) in [
            ("config", "", "gocryptfs.conf"),
            ("diriv", "", "gocryptfs.diriv"),
            ("diriv", "a", "A/gocryptfs.diriv"),
            ("diriv", "a/b", "A/B/gocryptfs.diriv"),
            ("diriv", "z", "Z/gocryptfs.diriv"),
            ("sidecar", "a/b/long", "A/B/gocryptfs.longname.X.name"),
            ("sidecar", "other", "gocryptfs.longname.Y.name"),
        ] {
            let mut r = Record {
                kind: kind.into(),
                cipher_path: cpath.into(),
                cipher_size: 16,
                ..Default::default()
            };
            r.set_plain_path(Path::new(owner));
            meta.push(r);
        }
        let file = cand("a/b/long", 10);
        let needed: Vec<&str> = needed_meta(&[&file], &meta)
            .into_iter()
            .map(|r| r.cipher_path.as_str())
            .collect();
        assert_eq!(
            needed,
            [
                "A/B/gocryptfs.diriv",
                "A/B/gocryptfs.longname.X.name",
                "A/gocryptfs.diriv",
                "gocryptfs.conf",
                "gocryptfs.diriv"
            ]
        );
    }
}
