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
    /// This version of the file ([`super::state::file_key`]).
    pub key: u128,
}

/// In which order files fill the sample.
#[derive(Clone, Copy)]
pub enum Order<'a> {
    /// A seeded shuffle: the same seed picks the same files.
    Seeded(u64),
    /// Least recently verified first (never verified, e.g. changed, first
    /// of all), ties in seeded order.
    Rotation {
        seed: u64,
        rotation: &'a super::state::Rotation,
    },
    /// The fixed slice `k` of `n` (1-based), whole, as restic's
    /// `--read-data-subset k/n`: n drills cover every file once.
    Subset { k: u64, n: u64 },
}

/// The slice (0-based) of `n` a file falls in: by its encrypted path, so a
/// file keeps its slice when it changes.
pub fn subset_of(cipher_path: &str, n: u64) -> u64 {
    let hash = blake3::hash(cipher_path.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_le_bytes(first) % n.max(1)
}

/// Parses `k/n` (1 <= k <= n).
pub fn parse_subset(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("{text:?} is not a subset: k/n with 1 <= k <= n, e.g. 3/12");
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let k: u64 = k.trim().parse().map_err(|_| bad())?;
    let n: u64 = n.trim().parse().map_err(|_| bad())?;
    if k == 0 || n == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

fn score(seed: u64, cipher_path: &str) -> [u8; 8] {
    let mut h = blake3::Hasher::new();
    h.update(&seed.to_le_bytes());
    h.update(cipher_path.as_bytes());
    let mut out = [0u8; 8];
    out.copy_from_slice(&h.finalize().as_bytes()[..8]);
    out
}

pub fn choose(candidates: &[Candidate], size: SampleSize, order: Order<'_>) -> Vec<usize> {
    let by_path = |chosen: &mut Vec<usize>| {
        chosen.sort_by(|&a, &b| candidates[a].plain_path.cmp(&candidates[b].plain_path));
    };
    if let Order::Subset { k, n } = order {
        let mut chosen: Vec<usize> = (0..candidates.len())
            .filter(|&i| subset_of(&candidates[i].cipher_path, n) == k - 1)
            .collect();
        by_path(&mut chosen);
        return chosen;
    }
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
    let mut taken = vec![false; candidates.len()];
    let mut used = 0u64;
    let mut take = |i: usize, chosen: &mut Vec<usize>, used: &mut u64| -> bool {
        if chosen.len() >= max_files || taken[i] {
            return false;
        }
        if *used + candidates[i].cipher_size > budget {
            return false;
        }
        taken[i] = true;
        chosen.push(i);
        *used += candidates[i].cipher_size;
        true
    };
    let mut order_of: Vec<usize> = (0..candidates.len()).collect();
    match order {
        Order::Seeded(seed) => {
            order_of.sort_by_cached_key(|&i| score(seed, &candidates[i].cipher_path));
        }
        Order::Rotation { seed, rotation } => order_of.sort_by_cached_key(|&i| {
            (
                rotation.last(candidates[i].key).unwrap_or(0),
                score(seed, &candidates[i].cipher_path),
            )
        }),
        Order::Subset { .. } => {}
    }
    // Both kinds of file represented: a zero-byte file (it costs nothing
    // to download), and a huge one: among the largest 1 % (10 % in a
    // rotation, so it does not download the same huge file every time)
    // the first in order that fits; else the largest that fits.
    // (Not when the sample is one or two files: those go by the order.)
    let represent = max_files >= 3;
    if let Some(&empty) = order_of
        .iter()
        .find(|&&i| represent && candidates[i].plain_size == 0)
    {
        take(empty, &mut chosen, &mut used);
    }
    let mut by_size: Vec<usize> = (0..candidates.len()).collect();
    by_size.sort_by(|&a, &b| {
        candidates[b]
            .cipher_size
            .cmp(&candidates[a].cipher_size)
            .then_with(|| candidates[a].cipher_path.cmp(&candidates[b].cipher_path))
    });
    let fits = |i: usize, used: u64, _chosen: &[usize]| used + candidates[i].cipher_size <= budget;
    let share = match order {
        Order::Rotation { .. } => 10,
        _ => 100,
    };
    let top = by_size
        .get((candidates.len() / share).max(1) - 1)
        .map_or(0, |&i| candidates[i].cipher_size);
    let huge = order_of
        .iter()
        .find(|&&i| candidates[i].cipher_size >= top && fits(i, used, &chosen))
        .or_else(|| by_size.iter().find(|&&i| fits(i, used, &chosen)));
    if let Some(&huge) = huge.filter(|_| represent) {
        take(huge, &mut chosen, &mut used);
    }
    for &i in &order_of {
        if chosen.len() >= max_files || used >= budget {
            break;
        }
        take(i, &mut chosen, &mut used);
    }
    // A budget smaller than every file with content: its smallest file,
    // the least egress that still decrypts something.
    if !chosen.iter().any(|&i| candidates[i].cipher_size > 0)
        && let Some(&smallest) = by_size
            .iter()
            .rev()
            .find(|&&i| candidates[i].cipher_size > 0)
    {
        taken[smallest] = true;
        chosen.push(smallest);
    }
    by_path(&mut chosen);
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
pub fn build(
    candidates: &[Candidate],
    meta: &[Record],
    size: SampleSize,
    order: Order<'_>,
) -> Sample {
    let picked = choose(candidates, size, order);
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
            key: super::super::state::file_key(&format!("c/{path}"), Some("h")),
        }
    }

    fn names(c: &[Candidate], picked: &[usize]) -> Vec<String> {
        picked
            .iter()
            .map(|&i| c[i].plain_path.display().to_string())
            .collect()
    }

    #[test]
    fn rotation_takes_the_least_recently_verified_first() {
        let c: Vec<Candidate> = (0..30).map(|i| cand(&format!("f{i:02}"), 100)).collect();
        let mut rotation = super::super::state::Rotation::default();
        // Everything verified, f05 long ago, f17 recently, f20 never
        // (changed since, a new key).
        for (i, x) in c.iter().enumerate() {
            rotation.verified.insert(x.key, 1000 + i as u64);
        }
        rotation.verified.insert(c[5].key, 1);
        rotation.verified.remove(&c[20].key);
        let order = Order::Rotation {
            seed: 9,
            rotation: &rotation,
        };
        let picked = names(&c, &choose(&c, SampleSize::Files(3), order));
        // The largest file first (all are equal: the first by cipher
        // path), then never verified, then the oldest.
        assert!(picked.contains(&"f20".to_string()), "{picked:?}");
        assert!(picked.contains(&"f05".to_string()), "{picked:?}");
        // Successive drills that remember cover everything in turn.
        let mut seen = std::collections::BTreeSet::new();
        for round in 0..10u64 {
            let order = Order::Rotation {
                seed: round,
                rotation: &rotation,
            };
            for i in choose(&c, SampleSize::Files(3), order) {
                seen.insert(i);
                rotation.verified.insert(c[i].key, 10_000 + round);
            }
        }
        assert_eq!(
            seen.len(),
            c.len(),
            "ten drills of three cover thirty files"
        );
    }

    #[test]
    fn subsets_partition_the_vault() {
        let c: Vec<Candidate> = (0..100).map(|i| cand(&format!("f{i:03}"), 10)).collect();
        let mut all: Vec<usize> = (1..=4)
            .flat_map(|k| choose(&c, SampleSize::Files(1), Order::Subset { k, n: 4 }))
            .collect();
        all.sort();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_eq!(parse_subset("3/12"), Ok((3, 12)));
        for bad in ["0/3", "4/3", "3", "a/b", "1/0"] {
            assert!(parse_subset(bad).is_err(), "{bad}");
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
        let seeded = Order::Seeded;
        let a = choose(&c, SampleSize::Files(10), seeded(7));
        assert_eq!(a, choose(&c, SampleSize::Files(10), seeded(7)));
        assert_ne!(a, choose(&c, SampleSize::Files(10), seeded(8)));
        assert_eq!(a.len(), 10);
        let names: Vec<&str> = a
            .iter()
            .map(|&i| c[i].plain_path.to_str().unwrap())
            .collect();
        // The two largest (1 % of 202) are "huge" and "f199".
        assert!(
            names.contains(&"empty") && (names.contains(&"huge") || names.contains(&"f199")),
            "{names:?}"
        );
        // A byte budget is kept; the largest file that fits is taken.
        let b = choose(&c, SampleSize::Bytes(20_000), seeded(1));
        let used: u64 = b.iter().map(|&i| c[i].cipher_size).sum();
        assert!(used <= 20_000, "{used}");
        assert!(b.iter().any(|&i| c[i].plain_size == 0));
        // A budget smaller than any file takes the smallest one only.
        let tiny = choose(&c[..5], SampleSize::Bytes(10), seeded(1));
        assert_eq!(self::names(&c, &tiny), ["f000"]);
        // Without an empty file, the huge pick keeps to the budget too.
        let no_empty: Vec<Candidate> = c.iter().filter(|x| x.plain_size > 0).cloned().collect();
        for seed in 0..20 {
            let b = choose(&no_empty, SampleSize::Bytes(20_000), seeded(seed));
            let used: u64 = b.iter().map(|&i| no_empty[i].cipher_size).sum();
            assert!(used <= 20_000 && !b.is_empty(), "{used}");
        }
        // 100 % takes everything.
        assert_eq!(
            choose(&c, SampleSize::Percent(100.0), seeded(3)).len(),
            c.len()
        );
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
