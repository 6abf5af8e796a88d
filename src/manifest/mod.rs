//! Manifests: for every entry of a vault, its plaintext path, type, size,
//! mode, mtime and BLAKE3, and its ciphertext path, size, mtime and hashes.
//! What gocryptfs cannot prove (which blocks make which file, a file cut at
//! a block boundary, a zeroed block, a missing file) a manifest keyed by path
//! can.
//!
//! The format is JSON Lines: a header, one line per entry in walk order
//! (plaintext paths in component order, the order `Path` sorts in), and a
//! trailer with counts, so a truncated manifest is detected. Streaming both
//! ways: millions of entries in bounded memory.

pub mod build;
pub mod refresh;
pub mod store;
pub mod treehash;
pub mod verify;

use std::io::{self, BufRead, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// First field of the header line.
pub const FORMAT: &str = "vaultdrill-manifest";
pub const VERSION: u32 = 1;
/// Longest line a manifest may hold (a record is a few hundred bytes; a
/// path is at most a few KiB, hex-encoded link targets twice that).
const MAX_LINE: usize = 1 << 20;

#[derive(Debug, Error)]
pub enum ManifestError {
    #[error("the manifest cannot be read: {0}")]
    Io(#[from] io::Error),
    #[error("the manifest is not a vaultdrill manifest (line {0})")]
    NotAManifest(u64),
    #[error("the manifest has format version {0}; this vaultdrill reads version {VERSION}")]
    Version(u32),
    #[error("the manifest is damaged at line {line}: {reason}")]
    Damaged { line: u64, reason: String },
    #[error("the manifest is truncated: it has no trailer line")]
    Truncated,
}

/// A manifest that could not be used, and where it was.
#[derive(Debug, Error)]
#[error("{}: {source}", .path.display())]
pub struct ManifestFileError {
    /// The vault's `.vaultdrill/...` (shown under the cipher dir) or a file.
    pub path: PathBuf,
    /// Whether it is the vault's own manifest (then damage is the backup's).
    pub in_vault: bool,
    /// The plaintext copy in the local state directory, if there is one.
    pub local_copy: Option<PathBuf>,
    #[source]
    pub source: ManifestError,
}

impl ManifestError {
    /// Whether the manifest itself is damaged (it failed to authenticate,
    /// or is cut or malformed), rather than unreadable here or written by
    /// a newer version.
    pub fn is_damage(&self) -> bool {
        match self {
            ManifestError::Io(e) => e.kind() == io::ErrorKind::InvalidData,
            ManifestError::NotAManifest(_)
            | ManifestError::Damaged { .. }
            | ManifestError::Truncated => true,
            ManifestError::Version(_) => false,
        }
    }
}

impl ManifestFileError {
    pub fn status(&self) -> crate::ExitStatus {
        use crate::ExitStatus;
        if self.source.is_damage() && self.in_vault {
            ExitStatus::Damaged
        } else {
            ExitStatus::CouldNotRun
        }
    }

    pub fn hint(&self) -> Option<String> {
        match (&self.source, self.in_vault, &self.local_copy) {
            (ManifestError::Version(_), _, _) => {
                Some("use the vaultdrill version that wrote it, or a newer one".into())
            }
            (_, true, Some(copy)) => Some(format!(
                "check against the local copy instead: --manifest {}; `vaultdrill manifest` writes a new one",
                copy.display()
            )),
            (_, true, None) => Some(
                "`vaultdrill manifest` writes a new one (what changed before it cannot be told)"
                    .into(),
            ),
            (_, false, _) => Some(
                "give a manifest vaultdrill wrote: the copy in the state directory, or one \
                 taken from .vaultdrill/ of a mount"
                    .into(),
            ),
        }
    }
}

/// The first line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub version: u32,
    pub vault_id: String,
    pub created: String,
    pub tool: String,
    pub feature_flags: Vec<String>,
    pub content: String,
    /// Ciphertext hashes besides BLAKE3 (`sha1` for B2, `md5` for S3).
    pub remote_hashes: Vec<String>,
    /// The vault root's mtime when the manifest was made: a later change
    /// explains top-level files gone since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_mtime_ns: Option<i64>,
    /// The encrypted name of the manifest's own folder (`.vaultdrill`) in
    /// the vault root: an audit without the config knows it is ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_dir: Option<String>,
}

/// One entry (plaintext entries and the ciphertext-only config, diriv and
/// sidecar files, whose `path` is their owner's).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The path as hex when it is not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_hex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime_ns: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blake3: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_hex: Option<String>,
    pub cipher_path: String,
    pub cipher_size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cipher_mtime_ns: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cipher_blake3: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cipher_sha1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cipher_md5: Option<String>,
    /// Why the entry could not be hashed when the manifest was built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub damaged: Option<String>,
}

impl Record {
    /// Plaintext entries (not config, diriv, sidecar).
    pub fn is_plain_entry(&self) -> bool {
        !matches!(self.kind.as_str(), "config" | "diriv" | "sidecar")
    }

    pub fn plain_path(&self) -> PathBuf {
        decode_path(self.path.as_deref(), self.path_hex.as_deref())
    }

    pub fn set_plain_path(&mut self, path: &Path) {
        (self.path, self.path_hex) = encode_path(path.as_os_str().as_bytes());
    }
}

/// The last line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trailer {
    pub entries: u64,
    pub files: u64,
    pub plain_bytes: u64,
    pub cipher_bytes: u64,
    pub damaged: u64,
    /// BLAKE3 of the record lines: equal digests, equal manifests (whatever
    /// their creation times).
    pub records_blake3: String,
}

#[derive(Serialize, Deserialize)]
struct TrailerLine {
    trailer: Trailer,
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes from lowercase or uppercase hex (a record's `target_hex`).
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn encode_path(bytes: &[u8]) -> (Option<String>, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (Some(text.to_string()), None),
        Err(_) => (None, Some(hex(bytes))),
    }
}

fn decode_path(text: Option<&str>, hexed: Option<&str>) -> PathBuf {
    match (text, hexed.and_then(unhex)) {
        (_, Some(bytes)) => PathBuf::from(std::ffi::OsStr::from_bytes(&bytes)),
        (Some(text), None) => PathBuf::from(text),
        (None, None) => PathBuf::new(),
    }
}

/// Writes a manifest line by line, counting for the trailer.
pub struct ManifestWriter<W: Write> {
    out: W,
    trailer: Trailer,
    digest: blake3::Hasher,
    line: Vec<u8>,
}

impl<W: Write> ManifestWriter<W> {
    pub fn new(mut out: W, header: &Header) -> io::Result<ManifestWriter<W>> {
        serde_json::to_writer(&mut out, header)?;
        out.write_all(b"\n")?;
        Ok(ManifestWriter {
            out,
            trailer: Trailer::default(),
            digest: blake3::Hasher::new(),
            line: Vec::with_capacity(512),
        })
    }

    pub fn record(&mut self, record: &Record) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, record)?;
        if self.line.len() > MAX_LINE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an entry too long for a manifest line (over 1 MiB)",
            ));
        }
        self.line.push(b'\n');
        self.trailer.entries += 1;
        if record.kind == "file" {
            self.trailer.files += 1;
            self.trailer.plain_bytes = self
                .trailer
                .plain_bytes
                .saturating_add(record.size.unwrap_or(0));
        }
        self.trailer.cipher_bytes = self.trailer.cipher_bytes.saturating_add(record.cipher_size);
        if record.damaged.is_some() {
            self.trailer.damaged += 1;
        }
        self.digest.update(&self.line);
        self.out.write_all(&self.line)
    }

    pub fn finish(mut self) -> io::Result<(W, Trailer)> {
        self.trailer.records_blake3 = self.digest.finalize().to_hex().to_string();
        serde_json::to_writer(
            &mut self.out,
            &TrailerLine {
                trailer: self.trailer.clone(),
            },
        )?;
        self.out.write_all(b"\n")?;
        self.out.flush()?;
        Ok((self.out, self.trailer))
    }
}

/// Reads a manifest line by line; the trailer is checked against what was
/// read, so a truncated or spliced manifest is an error, not a short list.
pub struct ManifestReader<R: BufRead> {
    input: R,
    header: Header,
    line_no: u64,
    seen: Trailer,
    digest: blake3::Hasher,
    done: bool,
    line: Vec<u8>,
}

impl<R: BufRead> ManifestReader<R> {
    pub fn new(mut input: R) -> Result<ManifestReader<R>, ManifestError> {
        let mut line = Vec::new();
        read_line(&mut input, &mut line)?;
        let value: serde_json::Value =
            serde_json::from_slice(&line).map_err(|_| ManifestError::NotAManifest(1))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(ManifestError::NotAManifest(1));
        }
        let version = value.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
        if version != u64::from(VERSION) {
            return Err(ManifestError::Version(version as u32));
        }
        let header: Header = serde_json::from_value(value).map_err(|e| ManifestError::Damaged {
            line: 1,
            reason: e.to_string(),
        })?;
        Ok(ManifestReader {
            input,
            header,
            line_no: 1,
            seen: Trailer::default(),
            digest: blake3::Hasher::new(),
            done: false,
            line,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The next record; `None` after a trailer that matches what was read.
    pub fn next_record(&mut self) -> Result<Option<Record>, ManifestError> {
        if self.done {
            return Ok(None);
        }
        self.line_no += 1;
        if read_line(&mut self.input, &mut self.line)? == 0 {
            return Err(ManifestError::Truncated);
        }
        let damaged = |reason: String| ManifestError::Damaged {
            line: self.line_no,
            reason,
        };
        if self.line.starts_with(b"{\"trailer\"") {
            let t: TrailerLine =
                serde_json::from_slice(&self.line).map_err(|e| damaged(e.to_string()))?;
            self.seen.records_blake3 = self.digest.finalize().to_hex().to_string();
            if t.trailer.entries != self.seen.entries {
                return Err(damaged(format!(
                    "the trailer counts {} entries, the file holds {}",
                    t.trailer.entries, self.seen.entries
                )));
            }
            if t.trailer != self.seen {
                return Err(damaged(
                    "the records do not match the trailer (edited or spliced)".to_string(),
                ));
            }
            self.done = true;
            return Ok(None);
        }
        let record: Record =
            serde_json::from_slice(&self.line).map_err(|e| damaged(e.to_string()))?;
        self.digest.update(&self.line);
        self.digest.update(b"\n");
        self.seen.entries += 1;
        if record.kind == "file" {
            self.seen.files += 1;
            self.seen.plain_bytes = self
                .seen
                .plain_bytes
                .saturating_add(record.size.unwrap_or(0));
        }
        self.seen.cipher_bytes = self.seen.cipher_bytes.saturating_add(record.cipher_size);
        if record.damaged.is_some() {
            self.seen.damaged += 1;
        }
        Ok(Some(record))
    }

    /// The same reader behind a trait object.
    pub fn boxed<'a>(self) -> ManifestReader<Box<dyn BufRead + 'a>>
    where
        R: 'a,
    {
        ManifestReader {
            input: Box::new(self.input),
            header: self.header,
            line_no: self.line_no,
            seen: self.seen,
            digest: self.digest,
            done: self.done,
            line: self.line,
        }
    }

    /// Reads the rest, checking it, and returns the trailer.
    pub fn finish(mut self) -> Result<Trailer, ManifestError> {
        while self.next_record()?.is_some() {}
        Ok(self.seen)
    }
}

/// One line without its newline, refusing lines longer than `MAX_LINE`.
fn read_line(input: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<usize> {
    line.clear();
    let mut limited = io::Read::take(&mut *input, MAX_LINE as u64 + 1);
    let n = limited.read_until(b'\n', line)?;
    if line.len() > MAX_LINE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a manifest line is longer than 1 MiB",
        ));
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            format: FORMAT.into(),
            version: VERSION,
            vault_id: "id".into(),
            created: "2026-12-04T00:00:00Z".into(),
            tool: "test".into(),
            feature_flags: vec!["HKDF".into()],
            content: "AES-GCM-256".into(),
            remote_hashes: vec![],
            root_mtime_ns: None,
            manifest_dir: None,
        }
    }

    fn file(path: &[u8], size: u64) -> Record {
        let mut r = Record {
            kind: "file".into(),
            size: Some(size),
            cipher_path: "c".into(),
            cipher_size: size.saturating_add(50),
            ..Default::default()
        };
        r.set_plain_path(Path::new(std::ffi::OsStr::from_bytes(path)));
        r
    }

    #[test]
    fn round_trip_with_odd_names_and_a_checked_trailer() {
        let mut w = ManifestWriter::new(Vec::new(), &header()).unwrap();
        let records = [
            file(b"a/b.txt", 3),
            file(b"bad\xffname", 0),
            file("ü".as_bytes(), 9),
        ];
        for r in &records {
            w.record(r).unwrap();
        }
        let (bytes, trailer) = w.finish().unwrap();
        assert_eq!(trailer.entries, 3);
        let mut r = ManifestReader::new(&bytes[..]).unwrap();
        assert_eq!(r.header(), &header());
        let mut got = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            got.push(rec);
        }
        assert_eq!(got, records);
        assert_eq!(got[1].plain_path().as_os_str().as_bytes(), b"bad\xffname");
    }

    #[test]
    fn truncation_and_splicing_are_detected() {
        let mut w = ManifestWriter::new(Vec::new(), &header()).unwrap();
        w.record(&file(b"a", 1)).unwrap();
        w.record(&file(b"b", 2)).unwrap();
        let (bytes, _) = w.finish().unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // Without the trailer.
        let cut = lines[..3].join("\n") + "\n";
        let mut r = ManifestReader::new(cut.as_bytes()).unwrap();
        r.next_record().unwrap();
        r.next_record().unwrap();
        assert!(matches!(r.next_record(), Err(ManifestError::Truncated)));
        // A line removed, trailer kept.
        let spliced = [lines[0], lines[1], lines[3]].join("\n") + "\n";
        let mut r = ManifestReader::new(spliced.as_bytes()).unwrap();
        r.next_record().unwrap();
        assert!(matches!(
            r.next_record(),
            Err(ManifestError::Damaged { .. })
        ));
        assert!(matches!(
            ManifestReader::new(&b"{\"hello\":1}\n"[..]),
            Err(ManifestError::NotAManifest(1))
        ));
        // A record edited in place, counts unchanged.
        let edited = text.replace("\"size\":1,", "\"size\":1 ,");
        assert_ne!(edited, text);
        let r = ManifestReader::new(edited.as_bytes()).unwrap();
        assert!(matches!(r.finish(), Err(ManifestError::Damaged { .. })));
    }

    #[test]
    fn the_writer_refuses_what_the_reader_would() {
        let mut w = ManifestWriter::new(Vec::new(), &header()).unwrap();
        let long = vec![b'x'; MAX_LINE];
        assert!(w.record(&file(&long, 1)).is_err());
        w.record(&file(b"ok", 1)).unwrap();
        let (bytes, _) = w.finish().unwrap();
        let mut r = ManifestReader::new(&bytes[..]).unwrap();
        assert!(r.next_record().unwrap().is_some());
        assert!(r.next_record().unwrap().is_none());
        // Hostile sizes saturate instead of overflowing.
        let mut w = ManifestWriter::new(Vec::new(), &header()).unwrap();
        w.record(&file(b"a", u64::MAX - 10)).unwrap();
        w.record(&file(b"b", u64::MAX - 10)).unwrap();
        assert_eq!(w.finish().unwrap().1.plain_bytes, u64::MAX);
    }

    #[test]
    fn equal_records_give_equal_digests_whatever_the_header() {
        let build = |created: &str, size: u64| {
            let mut h = header();
            h.created = created.into();
            let mut w = ManifestWriter::new(Vec::new(), &h).unwrap();
            w.record(&file(b"a", size)).unwrap();
            w.finish().unwrap()
        };
        let (bytes, one) = build("2026-01-01T00:00:00Z", 1);
        let (_, two) = build("2026-02-01T00:00:00Z", 1);
        let (_, three) = build("2026-02-01T00:00:00Z", 2);
        assert_eq!(one.records_blake3, two.records_blake3);
        assert_ne!(one.records_blake3, three.records_blake3);
        assert_eq!(
            ManifestReader::new(&bytes[..]).unwrap().finish().unwrap(),
            one
        );
    }
}
