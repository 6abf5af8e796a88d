//! Counters and problems shared by the worker threads of a run that
//! writes files (encrypt, export).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::exit::ExitStatus;
use crate::problem::{Problem, ProblemKind};
use crate::progress::Progress;

/// A finished file waiting in a [`crate::staging::DurableBatch`].
pub struct Finished {
    pub plain: PathBuf,
    pub cipher: PathBuf,
    pub bytes: u64,
}

pub struct Tally<'a> {
    problems: Mutex<Vec<Problem>>,
    written: AtomicU64,
    unchanged: AtomicU64,
    bytes: AtomicU64,
    pub progress: &'a dyn Progress,
}

/// What a tally ends as.
pub struct Totals {
    pub written: u64,
    pub unchanged: u64,
    pub bytes: u64,
    /// Sorted by plaintext path.
    pub problems: Vec<Problem>,
}

impl<'a> Tally<'a> {
    pub fn new(progress: &'a dyn Progress) -> Tally<'a> {
        Tally {
            problems: Mutex::new(Vec::new()),
            written: AtomicU64::new(0),
            unchanged: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            progress,
        }
    }

    pub fn report(&self, plain: &Path, cipher: &Path, kind: ProblemKind) {
        self.problems
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Problem {
                cipher_path: cipher.to_path_buf(),
                plain_path: Some(plain.to_path_buf()),
                plain_dir: plain.parent().map(Path::to_path_buf).unwrap_or_default(),
                kind,
            });
    }

    /// The outcome of a batch of finished files: each is written, or a
    /// problem (its data could not be flushed, or its name not taken).
    pub fn placed(&self, outcomes: Vec<(Finished, io::Result<()>)>) {
        for (file, outcome) in outcomes {
            match outcome {
                Ok(()) => self.wrote(file.bytes),
                Err(error) => self.report(
                    &file.plain,
                    &file.cipher,
                    ProblemKind::Io {
                        action: "flushing the finished file to disk and naming it",
                        error,
                    },
                ),
            }
        }
    }

    pub fn wrote(&self, bytes: u64) {
        self.written.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn skipped(&self) {
        self.unchanged.fetch_add(1, Ordering::Relaxed);
    }

    pub fn finish(self) -> Totals {
        let mut problems = self
            .problems
            .into_inner()
            .unwrap_or_else(|p| p.into_inner());
        problems.sort_by(|a, b| a.plain_path.cmp(&b.plain_path));
        Totals {
            written: self.written.into_inner(),
            unchanged: self.unchanged.into_inner(),
            bytes: self.bytes.into_inner(),
            problems,
        }
    }
}

/// The status of a writing run: every problem kept something from being
/// written, so any problem means it could not do all it was asked.
pub fn writing_status(problems: &[Problem]) -> ExitStatus {
    if problems.iter().any(|p| p.status() != ExitStatus::Verified) {
        ExitStatus::CouldNotRun
    } else {
        ExitStatus::Verified
    }
}
