//! Building a manifest natively: walk the vault, decrypt and hash what
//! changed, reuse the previous manifest's lines for files whose ciphertext
//! path, size and mtime did not change (a streaming merge: both are in walk
//! order), and write the result in walk order although files are hashed in
//! parallel (a bounded reorder buffer).

use std::collections::BTreeMap;
use std::io::{self, BufRead, Read, Write};
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use blake3::hazmat::ChainingValue;

use sha1::Digest as _;

use super::treehash;
use super::{
    FORMAT, Header, ManifestError, ManifestReader, ManifestWriter, Record, Trailer, VERSION, hex,
};
use crate::at;
use crate::problem::{Problem, ProblemKind};
use crate::progress::Progress;
use crate::selection::Selection;
use crate::throttle::Throttle;
use crate::vault::UnlockedVault;
use crate::vault::file::{CHUNK_PLAIN_LEN, CipherFile, PlainChunk};
use crate::vault::walk::{Entry, EntryKind, MetaEntry, WalkItem, Walker};

/// The folder (plaintext path) where manifests live inside a vault.
pub const MANIFEST_DIR: &str = ".vaultdrill";

/// Ciphertext hashes to compute besides BLAKE3, for remotes that keep them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RemoteHashes {
    pub sha1: bool,
    pub md5: bool,
}

impl RemoteHashes {
    pub fn names(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.sha1 {
            v.push("sha1".to_string());
        }
        if self.md5 {
            v.push("md5".to_string());
        }
        v
    }

    fn satisfied_by(&self, r: &Record) -> bool {
        (!self.sha1 || r.cipher_sha1.is_some()) && (!self.md5 || r.cipher_md5.is_some())
    }
}

pub struct BuildOptions<'a> {
    /// Hash everything again, even what the previous manifest has.
    pub rehash: bool,
    pub remote_hashes: RemoteHashes,
    pub progress: &'a dyn Progress,
}

/// What a build did.
#[derive(Debug, Default)]
pub struct BuildSummary {
    pub trailer: Trailer,
    /// When the manifest was made (its header).
    pub created: String,
    /// The vault root's mtime the header records.
    pub root_mtime_ns: Option<i64>,
    pub hashed_files: u64,
    pub reused_files: u64,
    pub hashed_bytes: u64,
    /// Entries that could not be hashed (the vault is damaged there) and
    /// entries that could not be read.
    pub problems: Vec<Problem>,
    pub elapsed: Duration,
}

/// Which hashes [`digest_file`] computes.
#[derive(Clone, Copy, Debug)]
pub enum Hashes {
    /// The plaintext's BLAKE3 only: all `verify` compares for a file
    /// (every block is authenticated either way).
    Plain,
    /// The plaintext's BLAKE3, the ciphertext's BLAKE3 and the hashes the
    /// remote keeps: a manifest record.
    All(RemoteHashes),
}

/// Hashes of one ciphertext object and, for files, its plaintext.
struct Digests {
    cipher: blake3::Hasher,
    sha1: Option<sha1::Sha1>,
    md5: Option<md5::Md5>,
}

impl Digests {
    fn new(kinds: RemoteHashes) -> Digests {
        Digests {
            cipher: blake3::Hasher::new(),
            sha1: kinds.sha1.then(sha1::Sha1::new),
            md5: kinds.md5.then(md5::Md5::new),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        self.cipher.update(bytes);
        if let Some(h) = &mut self.sha1 {
            h.update(bytes);
        }
        if let Some(h) = &mut self.md5 {
            h.update(bytes);
        }
    }

    fn finish_into(self, record: &mut Record) {
        record.cipher_blake3 = Some(self.cipher.finalize().to_hex().to_string());
        record.cipher_sha1 = self.sha1.map(|h| hex(&h.finalize()));
        record.cipher_md5 = self.md5.map(|h| hex(&h.finalize()));
    }
}

fn ns(sec: i64, nsec: i64) -> i64 {
    sec.saturating_mul(1_000_000_000).saturating_add(nsec)
}

/// The record of an entry, without content hashes.
pub fn base_record(entry: &Entry) -> Record {
    let mut r = Record {
        kind: entry.kind.label().to_string(),
        mode: Some(format!("{:04o}", entry.mode)),
        mtime_ns: Some(ns(entry.mtime_sec, entry.mtime_nsec)),
        cipher_path: entry.cipher_path.to_string_lossy().into_owned(),
        cipher_size: entry.cipher_size,
        cipher_mtime_ns: Some(ns(entry.mtime_sec, entry.mtime_nsec)),
        ..Default::default()
    };
    r.set_plain_path(&entry.plain_path);
    match &entry.kind {
        EntryKind::File { plain_size } => r.size = Some(*plain_size),
        EntryKind::Symlink { target } => {
            r.size = Some(target.len() as u64);
            r.target_hex = Some(hex(target));
        }
        _ => {}
    }
    r
}

/// Chunks (1 MiB each) of one large file decrypted in parallel before
/// they are hashed in order: the memory a large file holds (about three
/// times this in MiB).
const GROUP: u64 = 4;

/// One chunk in flight: the read buffer, a copy of its ciphertext when
/// the ciphertext is hashed (the read buffer is decrypted in place), its
/// plaintext and the plaintext's BLAKE3 chaining value.
#[derive(Default)]
struct InFlight {
    cbuf: Vec<u8>,
    raw: Vec<u8>,
    plain: PlainChunk,
    cv: ChainingValue,
}

/// Decrypts and hashes one file: plaintext BLAKE3, ciphertext hashes. The
/// chunks of a large file are decrypted a group at a time in parallel, each
/// hashing its own plaintext as a piece of BLAKE3's tree; the ciphertext is
/// hashed in order.
pub fn digest_file(
    vault: &UnlockedVault,
    entry: &Entry,
    hashes: Hashes,
    progress: &dyn Progress,
) -> Result<Record, ProblemKind> {
    use rayon::prelude::*;
    let mut record = base_record(entry);
    let file = CipherFile::open(vault, entry)?;
    let mut cipher = match hashes {
        Hashes::Plain => None,
        Hashes::All(kinds) => Some(Digests::new(kinds)),
    };
    let want_raw = cipher.is_some();
    if let Some(cipher) = &mut cipher {
        cipher.update(&file.header_bytes());
    }
    let chunks = file.chunk_count();
    let plain: blake3::Hash;
    if chunks <= 1 {
        let mut opener = vault.content().opener();
        let (mut cbuf, mut chunk) = (Vec::new(), PlainChunk::default());
        let mut hasher = blake3::Hasher::new();
        for index in 0..chunks {
            file.decrypt_chunk_observed(&mut opener, index, &mut cbuf, &mut chunk, |raw| {
                if let Some(cipher) = &mut cipher {
                    cipher.update(raw)
                }
            })?;
            hasher.update(&chunk.data);
            progress.add_bytes(chunk.data.len() as u64);
        }
        plain = hasher.finalize();
    } else {
        // Decrypts chunks `first..` (a group) into `group`; the first bad
        // block in file order, as a sequential read would name it.
        let decrypt = |group: &mut Vec<InFlight>, first: u64| -> Result<(), ProblemKind> {
            let last = (first + GROUP).min(chunks);
            group.resize_with((last - first) as usize, InFlight::default);
            let results: Vec<Result<(), ProblemKind>> = group
                .par_iter_mut()
                .enumerate()
                .map_init(
                    || vault.content().opener(),
                    |opener, (i, c)| {
                        let index = first + i as u64;
                        file.decrypt_chunk_observed(
                            opener,
                            index,
                            &mut c.cbuf,
                            &mut c.plain,
                            |raw| {
                                c.raw.clear();
                                if want_raw {
                                    c.raw.extend_from_slice(raw);
                                }
                            },
                        )?;
                        c.cv = treehash::piece_cv(index, &c.plain.data);
                        Ok(())
                    },
                )
                .collect();
            results
                .into_iter()
                .collect::<Result<Vec<()>, _>>()
                .map(drop)
        };
        // Hashing a group in order overlaps the decryption of the next.
        let (mut cur, mut next): (Vec<InFlight>, Vec<InFlight>) = (Vec::new(), Vec::new());
        let mut joiner = treehash::Joiner::default();
        decrypt(&mut cur, 0)?;
        let mut first = 0;
        loop {
            let after = first + GROUP;
            let mut hash = |cur: &Vec<InFlight>| {
                for c in cur {
                    if let Some(cipher) = &mut cipher {
                        cipher.update(&c.raw);
                    }
                    joiner.push(c.cv);
                    progress.add_bytes(c.plain.data.len() as u64);
                }
            };
            if after >= chunks {
                hash(&cur);
                break;
            }
            let ((), decrypted) = rayon::join(|| hash(&cur), || decrypt(&mut next, after));
            decrypted?;
            std::mem::swap(&mut cur, &mut next);
            first = after;
        }
        // One piece per chunk: the chunks are the pieces of BLAKE3's tree.
        const _: () = assert!(CHUNK_PLAIN_LEN == treehash::PIECE);
        let joined = joiner
            .finish(file.plain_size())
            .ok_or_else(|| ProblemKind::Io {
                action: "hashing the plaintext",
                error: io::Error::other("the file's chunks do not add up to its size"),
            })?;
        plain = joined;
    }
    record.size = Some(file.plain_size());
    record.cipher_size = file.cipher_size();
    record.blake3 = Some(plain.to_hex().to_string());
    if let Some(cipher) = cipher {
        cipher.finish_into(&mut record);
    }
    Ok(record)
}

/// The record of a config, diriv or sidecar file.
pub fn digest_meta(meta: &MetaEntry, kinds: RemoteHashes) -> Result<Record, ProblemKind> {
    let file = at::open_regular_at(meta.parent.as_fd(), &meta.cipher_name).map_err(|error| {
        ProblemKind::Unreadable {
            action: "reading the file",
            error,
        }
    })?;
    let info = at::fstat(&file).map_err(|error| ProblemKind::Unreadable {
        action: "reading metadata",
        error,
    })?;
    let mut bytes = Vec::new();
    file.take(1 << 20)
        .read_to_end(&mut bytes)
        .map_err(|error| ProblemKind::Unreadable {
            action: "reading the file",
            error,
        })?;
    let mut record = Record {
        kind: meta.kind.label().to_string(),
        cipher_path: meta.cipher_path.to_string_lossy().into_owned(),
        cipher_size: bytes.len() as u64,
        cipher_mtime_ns: Some(ns(info.mtime_sec, info.mtime_nsec)),
        ..Default::default()
    };
    record.set_plain_path(&meta.owner);
    let mut d = Digests::new(kinds);
    d.update(&bytes);
    d.finish_into(&mut record);
    Ok(record)
}

/// The stored (encrypted) symlink target is the object a remote keeps.
fn digest_symlink(entry: &Entry, kinds: RemoteHashes) -> Result<Record, ProblemKind> {
    let mut record = base_record(entry);
    let stored = at::readlink_at(entry.parent.as_fd(), &entry.cipher_name).map_err(|error| {
        ProblemKind::Unreadable {
            action: "reading the symlink",
            error,
        }
    })?;
    record.cipher_size = stored.len() as u64;
    let mut d = Digests::new(kinds);
    d.update(&stored);
    d.finish_into(&mut record);
    Ok(record)
}

/// Whether `path` is the manifests' own folder or inside it.
pub fn is_manifest_path(path: &Path) -> bool {
    path.starts_with(MANIFEST_DIR)
}

/// Outputs finished out of order, written in order.
struct Reorder {
    done: Mutex<BTreeMap<u64, (Record, Option<Problem>)>>,
    changed: Condvar,
}

impl Reorder {
    fn put(&self, seq: u64, out: (Record, Option<Problem>)) {
        self.done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(seq, out);
        self.changed.notify_all();
    }

    /// Takes the outputs from `next` on that are ready, in order; with
    /// `wait`, first blocks until `next` is ready.
    fn take_ready(&self, next: &mut u64, wait: bool) -> Vec<(Record, Option<Problem>)> {
        let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        while wait && !done.contains_key(next) {
            done = self.changed.wait(done).unwrap_or_else(|p| p.into_inner());
        }
        let mut out = Vec::new();
        while let Some(item) = done.remove(next) {
            out.push(item);
            *next += 1;
        }
        out
    }
}

/// How many outputs may wait behind a slow file before the walk pauses.
const MAX_WAITING: u64 = 4096;

fn problem_for(path: &Path, cipher: &Path, kind: ProblemKind) -> Problem {
    Problem {
        cipher_path: cipher.to_path_buf(),
        plain_path: Some(path.to_path_buf()),
        plain_dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        kind,
    }
}

/// The vault root's mtime in nanoseconds.
pub fn root_mtime_ns(vault: &UnlockedVault) -> Option<i64> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(vault.root()).ok()?;
    Some(
        meta.mtime()
            .saturating_mul(1_000_000_000)
            .saturating_add(meta.mtime_nsec()),
    )
}

/// The record of an entry that could not be hashed, and its problem.
fn damaged_record(entry: &Entry, kind: ProblemKind) -> (Record, Option<Problem>) {
    let mut r = base_record(entry);
    r.damaged = Some(kind.to_string());
    (
        r,
        Some(problem_for(&entry.plain_path, &entry.cipher_path, kind)),
    )
}

/// Builds the manifest of `vault` into `out`, reusing `previous` where the
/// ciphertext did not change.
pub fn build_manifest<W: Write, R: BufRead>(
    vault: &UnlockedVault,
    mut previous: Option<ManifestReader<R>>,
    out: W,
    options: &BuildOptions<'_>,
) -> Result<(W, BuildSummary), ManifestError> {
    let started = Instant::now();
    let header = Header {
        format: FORMAT.to_string(),
        version: VERSION,
        vault_id: vault.vault_id().to_string(),
        created: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        tool: crate::create::creator(),
        feature_flags: crate::format::config::feature_flags_for(vault.layout())
            .iter()
            .map(|f| f.as_str().to_string())
            .collect(),
        content: vault.layout().content.gocryptfs_name().to_string(),
        remote_hashes: options.remote_hashes.names(),
        root_mtime_ns: root_mtime_ns(vault),
        manifest_dir: crate::encrypt::VaultDir::open(vault, Path::new(""))
            .ok()
            .and_then(|root| root.cipher_name(vault, MANIFEST_DIR.as_ref()).ok())
            .map(|name| name.to_string_lossy().into_owned()),
    };
    let header_root_mtime = header.root_mtime_ns;
    let header_created = header.created.clone();
    let mut writer = ManifestWriter::new(out, &header)?;
    let mut summary = BuildSummary::default();
    let mut lookahead: Option<Record> = None;
    let advance = |previous: &mut Option<ManifestReader<R>>| -> Option<Record> {
        let reader = previous.as_mut()?;
        match reader.next_record() {
            Ok(r) => r,
            Err(_) => {
                // A damaged old manifest only costs a full hash.
                *previous = None;
                None
            }
        }
    };
    if options.rehash {
        previous = None;
    }
    lookahead = lookahead.or_else(|| advance(&mut previous));

    let reorder = Reorder {
        done: Mutex::new(BTreeMap::new()),
        changed: Condvar::new(),
    };
    let throttle = Throttle::for_workers();
    let selection = Selection::all();
    let mut next_seq = 0u64;
    let mut next_out = 0u64;
    let mut write_error: Option<io::Error> = None;
    let hashed = std::sync::atomic::AtomicU64::new(0);
    let hashed_bytes = std::sync::atomic::AtomicU64::new(0);

    let drain = |wait: bool,
                 next_out: &mut u64,
                 writer: &mut ManifestWriter<W>,
                 summary: &mut BuildSummary,
                 write_error: &mut Option<io::Error>| {
        for (record, problem) in reorder.take_ready(next_out, wait) {
            if let Some(p) = problem {
                summary.problems.push(p);
            }
            if write_error.is_none()
                && let Err(e) = writer.record(&record)
            {
                *write_error = Some(e);
            }
        }
    };

    rayon::in_place_scope(|scope| {
        for item in Walker::new(vault, &selection).with_meta() {
            let seq = next_seq;
            match item {
                WalkItem::Problem(p) => {
                    summary.problems.push(p);
                    continue;
                }
                WalkItem::Meta(meta) => {
                    if is_manifest_path(&meta.owner) && !meta.owner.as_os_str().is_empty() {
                        continue;
                    }
                    let out = match digest_meta(&meta, options.remote_hashes) {
                        Ok(r) => (r, None),
                        Err(kind) => {
                            let mut r = Record {
                                kind: meta.kind.label().into(),
                                cipher_path: meta.cipher_path.to_string_lossy().into_owned(),
                                ..Default::default()
                            };
                            r.set_plain_path(&meta.owner);
                            r.damaged = Some(kind.to_string());
                            (r, Some(problem_for(&meta.owner, &meta.cipher_path, kind)))
                        }
                    };
                    reorder.put(seq, out);
                }
                WalkItem::Entry(entry) => {
                    if is_manifest_path(&entry.plain_path) {
                        continue;
                    }
                    // Merge with the previous manifest (both in walk order).
                    while let Some(r) = &lookahead {
                        if r.is_plain_entry() && r.plain_path() >= entry.plain_path {
                            break;
                        }
                        lookahead = advance(&mut previous);
                    }
                    let reusable = lookahead.as_ref().filter(|r| {
                        r.plain_path() == entry.plain_path
                            && r.kind == "file"
                            && r.damaged.is_none()
                            && r.blake3.is_some()
                            && r.cipher_path == entry.cipher_path.to_string_lossy()
                            && r.cipher_size == entry.cipher_size
                            && r.cipher_mtime_ns == Some(ns(entry.mtime_sec, entry.mtime_nsec))
                            && options.remote_hashes.satisfied_by(r)
                    });
                    match &entry.kind {
                        EntryKind::File { .. } if reusable.is_some() => {
                            let mut r = reusable.cloned().unwrap_or_default();
                            // Mode changes do not touch the content.
                            r.mode = Some(format!("{:04o}", entry.mode));
                            summary.reused_files += 1;
                            options.progress.add_bytes(r.size.unwrap_or(0));
                            reorder.put(seq, (r, None));
                        }
                        EntryKind::File { .. } => {
                            throttle.acquire();
                            let (reorder, throttle, hashed, hashed_bytes) =
                                (&reorder, &throttle, &hashed, &hashed_bytes);
                            let kinds = options.remote_hashes;
                            let progress = options.progress;
                            scope.spawn(move |_| {
                                let out = match digest_file(
                                    vault,
                                    &entry,
                                    Hashes::All(kinds),
                                    progress,
                                ) {
                                    Ok(r) => {
                                        hashed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                        hashed_bytes.fetch_add(
                                            r.size.unwrap_or(0),
                                            std::sync::atomic::Ordering::Relaxed,
                                        );
                                        (r, None)
                                    }
                                    Err(kind) => damaged_record(&entry, kind),
                                };
                                reorder.put(seq, out);
                                throttle.release();
                            });
                        }
                        EntryKind::Symlink { .. } => {
                            let out = match digest_symlink(&entry, options.remote_hashes) {
                                Ok(r) => (r, None),
                                Err(kind) => damaged_record(&entry, kind),
                            };
                            reorder.put(seq, out);
                        }
                        _ => reorder.put(seq, (base_record(&entry), None)),
                    }
                }
            }
            next_seq += 1;
            options.progress.add_file();
            let waiting = next_seq - next_out;
            drain(
                waiting > MAX_WAITING,
                &mut next_out,
                &mut writer,
                &mut summary,
                &mut write_error,
            );
        }
    });
    while next_out < next_seq {
        drain(
            true,
            &mut next_out,
            &mut writer,
            &mut summary,
            &mut write_error,
        );
    }
    if let Some(e) = write_error {
        return Err(ManifestError::Io(e));
    }
    let (out, trailer) = writer.finish()?;
    summary.trailer = trailer;
    summary.root_mtime_ns = header_root_mtime;
    summary.created = header_created;
    summary.hashed_files = hashed.into_inner();
    summary.hashed_bytes = hashed_bytes.into_inner();
    summary
        .problems
        .sort_by(|a, b| a.plain_path.cmp(&b.plain_path));
    summary.elapsed = started.elapsed();
    Ok((out, summary))
}
