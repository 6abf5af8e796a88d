//! Progress reporting as a seam: the library reports, the binary decides
//! whether that becomes a progress bar (indicatif lives only there).

/// Receives progress from long-running work. Called from worker threads.
pub trait Progress: Sync {
    /// The amount of work, when known in advance.
    fn set_total(&self, _files: u64, _bytes: u64) {}
    /// Plaintext bytes processed.
    fn add_bytes(&self, _bytes: u64) {}
    /// One more entry finished.
    fn add_file(&self) {}
    /// The name of what is being worked on, for display.
    fn set_message(&self, _msg: &str) {}
    /// A new stage of the work begins (counts start again).
    fn stage(&self, _name: &str) {}
    /// Absolute counts, for work measured elsewhere (rclone's stats).
    fn set_done(&self, _files: u64, _bytes: u64) {}
    /// Whether anyone sees the progress (worth measuring the work first).
    fn visible(&self) -> bool {
        false
    }
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}
