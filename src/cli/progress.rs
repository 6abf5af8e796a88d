//! The progress bar: indicatif on standard error, only for a person
//! watching (stderr is a terminal, no --quiet, no --json).

use std::io::IsTerminal;

use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use vaultdrill::progress::{NoProgress, Progress};

pub struct Bar {
    bar: ProgressBar,
    /// The stage's name, and its files done and to do (when known).
    stage: std::sync::Mutex<String>,
    files_done: AtomicU64,
    files_total: AtomicU64,
}

impl Bar {
    /// A bar when someone can see it, otherwise `None`.
    pub fn for_terminal(quiet: bool) -> Option<Bar> {
        if quiet || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg} [{elapsed_precise}] [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Some(Bar {
            bar,
            stage: std::sync::Mutex::new(String::new()),
            files_done: AtomicU64::new(0),
            files_total: AtomicU64::new(0),
        })
    }

    /// A bar unless the output is JSON (or quiet, or not a terminal).
    pub fn unless_json(json: bool, quiet: bool) -> Option<Bar> {
        if json { None } else { Bar::for_terminal(quiet) }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Bar {
    fn set_total(&self, files: u64, bytes: u64) {
        self.files_total.store(files, Ordering::Relaxed);
        self.bar.set_length(bytes);
    }

    fn add_file(&self) {
        let done = self.files_done.fetch_add(1, Ordering::Relaxed) + 1;
        let total = self.files_total.load(Ordering::Relaxed);
        if total > 0 && (done.is_multiple_of(64) || done == total) {
            let stage = self.stage.lock().map(|s| s.clone()).unwrap_or_default();
            self.bar.set_message(
                format!("{stage} {done}/{total} files")
                    .trim_start()
                    .to_string(),
            );
        }
    }

    fn add_bytes(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    fn set_message(&self, msg: &str) {
        let stage = self.stage.lock().map(|s| s.clone()).unwrap_or_default();
        self.bar
            .set_message(format!("{stage} {msg}").trim_start().to_string());
    }

    fn stage(&self, name: &str) {
        if let Ok(mut stage) = self.stage.lock() {
            *stage = name.to_string();
        }
        self.files_done.store(0, Ordering::Relaxed);
        self.files_total.store(0, Ordering::Relaxed);
        self.bar.reset();
        self.bar.set_length(0);
        self.bar.set_message(name.to_string());
    }

    fn set_done(&self, _files: u64, bytes: u64) {
        self.bar.set_position(bytes);
    }

    fn visible(&self) -> bool {
        true
    }
}

/// Where the library reports progress: the bar, or nowhere.
pub fn sink(bar: &Option<Bar>) -> &dyn Progress {
    match bar {
        Some(b) => b,
        None => &NoProgress,
    }
}
