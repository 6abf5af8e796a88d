//! Rebuilding a lost config's flags from the ciphertext and the master key:
//! the content cipher and HKDF by trial authentication of real file blocks
//! (and symlink targets), the name scheme by decrypting real names, the
//! base64 variant and LongNameMax from the shapes of the names. Each
//! decision records its evidence; what the vault cannot tell is listed as
//! undecided, to be given as an option.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use thiserror::Error;

use crate::at::{self, Kind};
use crate::format::config::CONFIG_NAME;
use crate::format::content::{
    ContentAlgorithm, ContentCipher, FileHeader, HEADER_LEN, OpenedBlock,
};
use crate::format::keys::MasterKey;
use crate::format::layout::{NameMode, VaultLayout};
use crate::format::longname::{self, LongNameKind, SIDECAR_MAX};
use crate::format::names::{DIRIV_LEN, DIRIV_NAME, DirIv, NameCipher, NameEncoding};
use crate::format::symlink;

/// Limits of the sample, so detection stays quick on any vault.
const MAX_DIRS: usize = 64;
const MAX_FILES: usize = 16;
const MAX_NAMES: usize = 2000;
const MAX_LINKS: usize = 16;

/// What the user already knows, to settle what the ciphertext cannot.
#[derive(Clone, Copy, Debug, Default)]
pub struct Hints {
    pub content: Option<ContentAlgorithm>,
    pub hkdf: Option<bool>,
    pub raw64: Option<bool>,
    pub plaintext_names: Option<bool>,
    pub dir_iv: Option<bool>,
    pub long_name_max: Option<u8>,
}

/// A decision and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub what: &'static str,
    pub value: String,
    pub evidence: String,
    /// Not decided by the ciphertext: gocryptfs's default (or the smallest
    /// consistent value) was taken. Reading is unaffected; writing a config
    /// or new names with it needs the user's confirmation.
    pub assumed: bool,
}

/// The outcome of detection.
#[derive(Debug)]
pub struct Detection {
    pub layout: VaultLayout,
    pub findings: Vec<Finding>,
}

impl DetectError {
    pub fn status(&self) -> crate::exit::ExitStatus {
        use crate::exit::ExitStatus;
        match self {
            DetectError::KeyDoesNotMatch(_) => ExitStatus::Unlock,
            DetectError::Undecided { .. } => ExitStatus::Usage,
            DetectError::Io { .. } => ExitStatus::CouldNotRun,
        }
    }

    pub fn hint(&self) -> Option<String> {
        Some(match self {
            DetectError::KeyDoesNotMatch(_) => {
                "check the master key (the one printed at `gocryptfs -init` for this vault) and the folder".into()
            }
            DetectError::Undecided { .. } => "give what you know as options (see --help), then run again".into(),
            DetectError::Io { .. } => "check the path and its permissions".into(),
        })
    }
}

#[derive(Debug, Error)]
pub enum DetectError {
    #[error("the master key authenticates nothing in this vault ({0})")]
    KeyDoesNotMatch(String),
    #[error("cannot tell {} from this vault ({reason})", .undecided.join(", "))]
    Undecided {
        undecided: Vec<&'static str>,
        reason: String,
    },
    #[error("{}: {error}", .path)]
    Io { path: String, error: std::io::Error },
}

struct DirSample {
    iv: Option<DirIv>,
    has_diriv: bool,
    short: Vec<String>,
    /// Encrypted names read from the .name sidecars of hashed entries.
    long: Vec<String>,
    other: Vec<Vec<u8>>,
}

struct FileSample {
    header: [u8; HEADER_LEN],
    block: Vec<u8>,
    size: u64,
    /// The end of the file (its last block for every cipher), for files
    /// whose first block is a hole.
    tail: Vec<u8>,
    tail_start: u64,
}

/// Reads the last `len` bytes of a regular file.
fn read_tail(dir: &OwnedFd, name: &OsStr, size: u64, len: u64) -> Option<(Vec<u8>, u64)> {
    use std::os::unix::fs::FileExt;
    let file = at::open_regular_at(dir.as_fd(), name).ok()?;
    let start = size.saturating_sub(len).max(HEADER_LEN as u64);
    let mut buf = vec![0u8; (size - start) as usize];
    file.read_exact_at(&mut buf, start).ok()?;
    Some((buf, start))
}

#[derive(Default)]
struct Samples {
    dirs: Vec<DirSample>,
    files: Vec<FileSample>,
    links: Vec<Vec<u8>>,
}

fn read_sample(dir: &OwnedFd, name: &OsStr, len: usize) -> Option<Vec<u8>> {
    let file = at::open_regular_at(dir.as_fd(), name).ok()?;
    let mut buf = Vec::with_capacity(len);
    file.take(len as u64).read_to_end(&mut buf).ok()?;
    Some(buf)
}

/// Breadth-first sample of the tree: names per directory with its IV,
/// first blocks of some files, some symlink targets.
fn collect(root: &Path) -> Result<Samples, DetectError> {
    let io = |error| DetectError::Io {
        path: root.display().to_string(),
        error,
    };
    let mut samples = Samples::default();
    let mut queue = VecDeque::from([(at::open_dir(root).map_err(io)?, true)]);
    let mut names_seen = 0;
    while let Some((dir, is_root)) = queue.pop_front() {
        if samples.dirs.len() >= MAX_DIRS || names_seen >= MAX_NAMES {
            break;
        }
        let Ok(mut names) = at::list(dir.as_fd()) else {
            continue;
        };
        names.sort();
        let iv_bytes = read_sample(&dir, OsStr::new(DIRIV_NAME), DIRIV_LEN + 1);
        let mut sample = DirSample {
            iv: iv_bytes.as_deref().and_then(|b| DirIv::parse(b).ok()),
            has_diriv: iv_bytes.is_some(),
            short: Vec::new(),
            long: Vec::new(),
            other: Vec::new(),
        };
        for name in names {
            if (is_root
                && (name == CONFIG_NAME
                    || name == "gocryptfs.conf.bak"
                    || name == "gocryptfs.conf.tmp"))
                || name == DIRIV_NAME
            {
                continue;
            }
            names_seen += 1;
            let Ok(meta) = at::lstat_at(dir.as_fd(), &name) else {
                continue;
            };
            match name.to_str() {
                Some(text) => match longname::classify(text) {
                    LongNameKind::Sidecar => continue,
                    LongNameKind::Hashed => {
                        if let Some(cname) = read_sample(
                            &dir,
                            OsStr::new(&longname::sidecar_name(text)),
                            SIDECAR_MAX,
                        )
                        .and_then(|b| String::from_utf8(b).ok())
                        {
                            sample.long.push(cname);
                        }
                    }
                    LongNameKind::Short => sample.short.push(text.to_string()),
                },
                None => sample
                    .other
                    .push(std::os::unix::ffi::OsStrExt::as_bytes(name.as_os_str()).to_vec()),
            }
            match meta.kind {
                Kind::File if meta.size > HEADER_LEN as u64 && samples.files.len() < MAX_FILES => {
                    let want = HEADER_LEN + ContentAlgorithm::XChaCha20Poly1305.cipher_block_len();
                    if let Some(bytes) = read_sample(&dir, &name, want)
                        && bytes.len() > HEADER_LEN
                    {
                        let mut header = [0u8; HEADER_LEN];
                        header.copy_from_slice(&bytes[..HEADER_LEN]);
                        let tail_len =
                            2 * ContentAlgorithm::XChaCha20Poly1305.cipher_block_len() as u64;
                        let (tail, tail_start) = read_tail(&dir, &name, meta.size, tail_len)
                            .unwrap_or((Vec::new(), meta.size));
                        samples.files.push(FileSample {
                            header,
                            block: bytes[HEADER_LEN..].to_vec(),
                            size: meta.size,
                            tail,
                            tail_start,
                        });
                    }
                }
                Kind::Dir if samples.dirs.len() + queue.len() < MAX_DIRS => {
                    if let Ok(sub) = at::open_dir_at(dir.as_fd(), &name) {
                        queue.push_back((sub, false));
                    }
                }
                Kind::Symlink if samples.links.len() < MAX_LINKS => {
                    if let Ok(target) = at::readlink_at(dir.as_fd(), &name) {
                        samples.links.push(target);
                    }
                }
                _ => {}
            }
        }
        samples.dirs.push(sample);
    }
    Ok(samples)
}

const COMBOS: [(ContentAlgorithm, bool); 5] = [
    (ContentAlgorithm::AesGcm, true),
    (ContentAlgorithm::AesGcm, false),
    (ContentAlgorithm::AesSiv, true),
    (ContentAlgorithm::AesSiv, false),
    (ContentAlgorithm::XChaCha20Poly1305, true),
];

fn content_name(algo: ContentAlgorithm, hkdf: bool) -> String {
    format!(
        "{}, HKDF {}",
        algo.gocryptfs_name(),
        if hkdf { "on" } else { "off" }
    )
}

/// Which (cipher, HKDF) pairs authenticate the sampled first blocks, and
/// how many files (or, lacking files, symlink targets) were tried.
fn detect_content(
    mk: &MasterKey,
    samples: &Samples,
    hints: &Hints,
) -> (Vec<(ContentAlgorithm, bool)>, usize, &'static str) {
    let candidates: Vec<_> = COMBOS
        .into_iter()
        .filter(|(a, h)| {
            hints.content.is_none_or(|c| c == *a) && hints.hkdf.is_none_or(|x| x == *h)
        })
        .collect();
    let mut winners = Vec::new();
    let mut tried = 0;
    for file in &samples.files {
        let Ok(header) = FileHeader::parse(&file.header) else {
            continue;
        };
        let mut counted = false;
        for &(algo, hkdf) in &candidates {
            let Ok(cipher) = ContentCipher::new(mk, algo, hkdf) else {
                continue;
            };
            // Block 0, or the last block when block 0 is a hole (a hole, at
            // this cipher's block size, proves nothing).
            let cbs = algo.cipher_block_len() as u64;
            let len = cbs.min(file.size - HEADER_LEN as u64) as usize;
            let last = algo.block_count(file.size).saturating_sub(1);
            let last_start = HEADER_LEN as u64 + last * cbs;
            let (block_no, bytes) =
                if file.block.len() >= len && file.block[..len].iter().any(|&b| b != 0) {
                    (0, &file.block[..len])
                } else if last > 0 && last_start >= file.tail_start {
                    (last, &file.tail[(last_start - file.tail_start) as usize..])
                } else {
                    continue;
                };
            if bytes.is_empty() || bytes.iter().all(|&b| b == 0) {
                continue;
            }
            if !counted {
                tried += 1;
                counted = true;
            }
            let mut block = bytes.to_vec();
            if let Ok(OpenedBlock::Data(_)) =
                cipher
                    .opener()
                    .open(block_no, Some(&header.file_id), &mut block)
                && !winners.contains(&(algo, hkdf))
            {
                winners.push((algo, hkdf));
            }
        }
    }
    if tried > 0 {
        return (winners, tried, "files");
    }
    // No file with data: encrypted-name vaults store symlink targets as
    // content blocks (block 0, no file id).
    for target in &samples.links {
        let Ok(text) = std::str::from_utf8(target) else {
            continue;
        };
        tried += 1;
        for &(algo, hkdf) in &candidates {
            let Ok(cipher) = ContentCipher::new(mk, algo, hkdf) else {
                continue;
            };
            for enc in [NameEncoding::Raw64, NameEncoding::Padded] {
                let opened = symlink::decrypt_target(&mut cipher.opener(), enc, text);
                if opened.is_ok_and(|t| !t.is_empty()) && !winners.contains(&(algo, hkdf)) {
                    winners.push((algo, hkdf));
                }
            }
        }
    }
    (winners, tried, "symlink targets")
}

fn encodings(samples: &Samples, hints: &Hints) -> (Vec<NameEncoding>, String) {
    if let Some(raw) = hints.raw64 {
        let e = if raw {
            NameEncoding::Raw64
        } else {
            NameEncoding::Padded
        };
        return (vec![e], "given as an option".into());
    }
    let all = samples
        .dirs
        .iter()
        .flat_map(|d| d.short.iter().chain(&d.long));
    let (mut padded, mut raw) = (false, false);
    for name in all {
        if name.ends_with('=') {
            padded = true;
        } else if name.len() % 4 != 0 {
            raw = true;
        }
    }
    match (raw, padded) {
        (true, false) => (
            vec![NameEncoding::Raw64],
            "names whose length is not a multiple of 4 (unpadded base64)".into(),
        ),
        (false, true) => (
            vec![NameEncoding::Padded],
            "names ending in '=' (padded base64)".into(),
        ),
        _ => (
            vec![NameEncoding::Raw64, NameEncoding::Padded],
            String::new(),
        ),
    }
}

struct NameScore {
    hkdf: bool,
    encoding: NameEncoding,
    ok: usize,
    total: usize,
}

fn score_names(mk: &MasterKey, samples: &Samples, hkdf: bool, encoding: NameEncoding) -> NameScore {
    let names = NameCipher::new(mk, hkdf, encoding);
    let (mut ok, mut total) = (0, 0);
    for dir in &samples.dirs {
        let iv = match (dir.has_diriv, dir.iv) {
            (true, Some(iv)) => iv,
            (true, None) => continue,
            (false, _) => DirIv::ZERO,
        };
        for cname in dir.short.iter().chain(&dir.long) {
            total += 1;
            if names.decrypt(cname, &iv).is_ok() {
                ok += 1;
            }
        }
    }
    NameScore {
        hkdf,
        encoding,
        ok,
        total,
    }
}

/// Lengths an encrypted name can have: base64 of 16..=256 bytes.
fn possible_name_lengths(raw64: bool) -> impl Iterator<Item = usize> {
    (1..=16usize).map(move |blocks| {
        let bytes = blocks * 16;
        if raw64 {
            (bytes * 4).div_ceil(3)
        } else {
            bytes.div_ceil(3) * 4
        }
    })
}

/// LongNameMax from the shapes of short and hashed names. Every threshold
/// between the longest short name and the shortest hashed one fits the
/// vault; they only differ for name lengths the vault does not have, which
/// matters for names written later: then the value is marked assumed.
fn long_name_max(samples: &Samples, hint: Option<u8>, raw64: bool) -> Finding {
    if let Some(n) = hint {
        return Finding {
            what: "LongNameMax",
            value: n.to_string(),
            evidence: "given as an option".into(),
            assumed: false,
        };
    }
    let short_max = samples
        .dirs
        .iter()
        .flat_map(|d| &d.short)
        .map(String::len)
        .max()
        .unwrap_or(0);
    let long_min = samples
        .dirs
        .iter()
        .flat_map(|d| &d.long)
        .map(String::len)
        .min();
    let lo = short_max.max(62);
    let hi = long_min.map_or(255, |l| l.saturating_sub(1)).min(255);
    let ambiguous = possible_name_lengths(raw64).any(|len| len > lo && len <= hi);
    let value = if !ambiguous || long_min.is_none_or(|l| l > 255) {
        hi.max(lo).min(255)
    } else {
        lo.min(255)
    };
    let evidence = match long_min {
        Some(l) => format!("hashed names from {l} characters, short names up to {short_max}"),
        None => format!("no hashed names; short names up to {short_max} characters"),
    };
    let evidence = if ambiguous {
        format!(
            "{evidence}: any value from {lo} to {hi} fits, {value} assumed; give --longnamemax N if the vault was made with -longnamemax"
        )
    } else {
        evidence
    };
    Finding {
        what: "LongNameMax",
        value: value.to_string(),
        evidence,
        assumed: ambiguous,
    }
}

/// Detects the layout of the vault at `root` under `mk`, proving the key on
/// the way: an authenticated block or names that decrypt.
pub fn detect_layout(root: &Path, mk: &MasterKey, hints: &Hints) -> Result<Detection, DetectError> {
    let samples = collect(root)?;
    let mut findings = Vec::new();

    let (winners, tried, what_tried) = detect_content(mk, &samples, hints);
    let content = match winners.as_slice() {
        [one] => {
            findings.push(Finding {
                what: "content cipher",
                value: content_name(one.0, one.1),
                evidence: format!("sampled {what_tried} authenticate only with it ({tried} tried)"),
                assumed: false,
            });
            Some(*one)
        }
        [] if tried > 0 => {
            return Err(DetectError::KeyDoesNotMatch(format!(
                "none of {tried} sampled {what_tried} authenticates under any cipher"
            )));
        }
        [] => match (hints.content, hints.hkdf) {
            (Some(c), Some(h)) => {
                findings.push(Finding {
                    what: "content cipher",
                    value: content_name(c, h),
                    evidence: "given as options".into(),
                    assumed: false,
                });
                Some((c, h))
            }
            _ => None,
        },
        _ => {
            return Err(DetectError::Undecided {
                undecided: vec![
                    "the content cipher (several authenticate; give --gcm, --aessiv or --xchacha)",
                ],
                reason: format!("{tried} {what_tried} tried"),
            });
        }
    };

    let has_diriv = samples.dirs.iter().any(|d| d.has_diriv);
    let name_count: usize = samples
        .dirs
        .iter()
        .map(|d| d.short.len() + d.long.len() + d.other.len())
        .sum();
    let (enc_candidates, enc_evidence) = encodings(&samples, hints);
    let hkdf_candidates = match (content, hints.hkdf) {
        (Some((_, h)), _) | (None, Some(h)) => vec![h],
        (None, None) => vec![true, false],
    };
    let mut best: Option<NameScore> = None;
    if hints.plaintext_names != Some(true) {
        for &hkdf in &hkdf_candidates {
            for &encoding in &enc_candidates {
                let s = score_names(mk, &samples, hkdf, encoding);
                if s.ok > 0 && best.as_ref().is_none_or(|b| s.ok > b.ok) {
                    best = Some(s);
                }
            }
        }
    }

    // Without an authenticated block, names must prove the key: a wrong key
    // makes about 1 name in 256 unpad by chance, so demand (nearly) all of
    // enough names that a chance match is below 2^-32.
    if content.is_none()
        && let Some(score) = &best
    {
        let proven = (score.ok == score.total && score.ok >= 5)
            || (score.ok >= 8 && score.ok * 20 >= score.total * 19);
        if !proven {
            return Err(DetectError::KeyDoesNotMatch(format!(
                "no file with data to authenticate, and only {} of {} names decrypt: too few to prove the key",
                score.ok, score.total
            )));
        }
    }
    let (hkdf, names) = match best {
        Some(score) if score.ok * 2 >= score.total => {
            let dir_iv = hints.dir_iv.unwrap_or(has_diriv);
            findings.push(Finding {
                what: "names",
                value: if dir_iv {
                    "encrypted, per-directory IV (DirIV)"
                } else {
                    "encrypted, deterministic (no diriv)"
                }
                .into(),
                evidence: format!("{} of {} sampled names decrypt", score.ok, score.total),
                assumed: false,
            });
            let raw64 = score.encoding == NameEncoding::Raw64;
            findings.push(Finding {
                what: "name encoding",
                value: if raw64 { "Raw64 (unpadded base64url)" } else { "padded base64url" }.into(),
                assumed: enc_evidence.is_empty(),
                evidence: if enc_evidence.is_empty() {
                    "no name tells the two apart (all lengths are multiples of 4): gocryptfs 2.x's default assumed; give --raw64=false if the vault predates gocryptfs 1.3".into()
                } else {
                    enc_evidence
                },
            });
            if content.is_none() {
                findings.push(Finding {
                    what: "HKDF",
                    value: if score.hkdf { "on" } else { "off" }.into(),
                    evidence: "names decrypt only with this key derivation".into(),
                    assumed: false,
                });
            }
            let lnm = long_name_max(&samples, hints.long_name_max, raw64);
            let long_name_max = lnm.value.parse().unwrap_or(255);
            findings.push(lnm);
            (
                score.hkdf,
                NameMode::Encrypted {
                    dir_iv,
                    raw64,
                    long_name_max,
                },
            )
        }
        _ if name_count > 0 && has_diriv && hints.plaintext_names != Some(true) => {
            return Err(DetectError::KeyDoesNotMatch(format!(
                "none of {name_count} sampled names decrypts, though the vault has gocryptfs.diriv files"
            )));
        }
        _ if content.is_some() && (name_count > 0 || hints.plaintext_names == Some(true)) => {
            findings.push(Finding {
                what: "names",
                value: "plaintext (PlaintextNames)".into(),
                evidence: if hints.plaintext_names == Some(true) {
                    "given as an option".into()
                } else {
                    format!("none of {name_count} names decrypts under any key derivation or encoding, and there is no gocryptfs.diriv")
                },
                assumed: false,
            });
            (content.is_none_or(|c| c.1), NameMode::Plaintext)
        }
        _ => {
            return Err(if tried == 0 && name_count == 0 {
                DetectError::KeyDoesNotMatch(
                    "the vault has no file with data and no name that could prove the key".into(),
                )
            } else {
                DetectError::KeyDoesNotMatch(format!(
                    "no name decrypts and no file authenticates ({name_count} names, {tried} {what_tried})"
                ))
            });
        }
    };

    let Some((algo, content_hkdf)) = content.or_else(|| hints.content.map(|c| (c, hkdf))) else {
        return Err(DetectError::Undecided {
            undecided: vec![
                "the content cipher (no file has data: give --gcm, --aessiv or --xchacha)",
            ],
            reason: "the names prove the key, but only file data tells the cipher".into(),
        });
    };
    if content_hkdf != hkdf {
        return Err(DetectError::KeyDoesNotMatch(
            "file contents and names need different key derivations".into(),
        ));
    }
    if content.is_none() {
        findings.push(Finding {
            what: "content cipher",
            value: content_name(algo, hkdf),
            evidence: "given as an option".into(),
            assumed: false,
        });
    }
    if algo == ContentAlgorithm::XChaCha20Poly1305 && !hkdf {
        return Err(DetectError::KeyDoesNotMatch(
            "XChaCha20-Poly1305 always uses HKDF".into(),
        ));
    }
    Ok(Detection {
        layout: VaultLayout {
            content: algo,
            hkdf,
            names,
        },
        findings,
    })
}
