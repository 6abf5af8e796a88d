//! Where passwords and master keys come from, shared by every command that
//! unlocks. A secret is never taken as a plain argument value (it would
//! show in `ps` and shell history); it is read from a terminal without
//! echo, a file, a program, or standard input, into zeroizing memory.
//!
//! Password rules follow gocryptfs (`internal/readpassword`): the first line
//! (split on `\n` only), at most 2048 bytes, never empty.

use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use thiserror::Error;
use zeroize::Zeroizing;

use crate::exit::ExitStatus;
use crate::format::keys::{MasterKey, MasterKeyParseError, Password};
use crate::vault::Secret;

/// gocryptfs's limit.
pub const MAX_PASSWORD_LEN: usize = 2048;
/// A master key file holds 71 characters; allow generous whitespace.
const MAX_MASTERKEY_FILE: u64 = 4096;

/// The user's choice of secret input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// Prompt on the terminal without echo, or read a line from standard
    /// input when it is not a terminal (as gocryptfs does).
    Interactive,
    Passfile(PathBuf),
    /// A program and its arguments; one string is split on spaces, as
    /// gocryptfs's `-extpass`.
    Extpass(Vec<String>),
    MasterKeyFile(PathBuf),
    MasterKeyStdin,
}

#[derive(Debug, Error)]
pub enum SecretError {
    #[error("{}: cannot read the password file: {error}", .path.display())]
    PassfileRead { path: PathBuf, error: io::Error },
    #[error("{}: the first line of the password file is empty", .0.display())]
    PassfileEmpty(PathBuf),
    #[error("{}: the password is longer than {MAX_PASSWORD_LEN} bytes", .0.display())]
    PassfileTooLong(PathBuf),
    #[error("--extpass: cannot run {program:?}: {error}")]
    ExtpassStart { program: String, error: io::Error },
    #[error("--extpass: {program:?} failed ({status})")]
    ExtpassFailed { program: String, status: String },
    #[error("--extpass: {0:?} printed an empty password")]
    ExtpassEmpty(String),
    #[error("--extpass: the password from {0:?} is longer than {MAX_PASSWORD_LEN} bytes")]
    ExtpassTooLong(String),
    #[error("{0}: got an empty password")]
    Empty(&'static str),
    #[error("{0}: the password is longer than {MAX_PASSWORD_LEN} bytes")]
    TooLong(&'static str),
    #[error("cannot read the password from the terminal: {0}")]
    Terminal(io::Error),
    #[error("standard input: {0}")]
    Stdin(io::Error),
    #[error("the two passwords typed do not match")]
    Mismatch,
    #[error("{}: cannot read the master key file: {error}", .path.display())]
    MasterKeyFileRead { path: PathBuf, error: io::Error },
    #[error("{origin}: the master key {error}")]
    MasterKeyMalformed {
        origin: String,
        error: MasterKeyParseError,
    },
}

impl SecretError {
    pub fn status(&self) -> ExitStatus {
        match self {
            SecretError::MasterKeyMalformed { .. } => ExitStatus::Unlock,
            SecretError::ExtpassStart { .. }
            | SecretError::ExtpassFailed { .. }
            | SecretError::Terminal(_) => ExitStatus::CouldNotRun,
            SecretError::Stdin(_) => ExitStatus::CouldNotRun,
            _ => ExitStatus::Usage,
        }
    }

    pub fn hint(&self) -> Option<String> {
        Some(match self {
            SecretError::PassfileRead { .. } | SecretError::MasterKeyFileRead { .. } => {
                "check the path; the file must be readable by this user".into()
            }
            SecretError::PassfileEmpty(_) | SecretError::PassfileTooLong(_) => {
                "the password is the file's first line, as with gocryptfs -passfile".into()
            }
            SecretError::ExtpassStart { .. }
            | SecretError::ExtpassFailed { .. }
            | SecretError::ExtpassEmpty(_) => {
                "run the --extpass program by hand: it must print the password on its first line"
                    .into()
            }
            SecretError::ExtpassTooLong(_) | SecretError::TooLong(_) => {
                "gocryptfs passwords are at most 2048 bytes: is this the right input?".into()
            }
            SecretError::Empty(_) => {
                "give the password on standard input, or use --passfile or --extpass".into()
            }
            SecretError::Mismatch => "type the same password twice".into(),
            SecretError::Terminal(_) => {
                "use --passfile, --extpass or --masterkey-file instead".into()
            }
            SecretError::Stdin(_) => "check what is connected to standard input".into(),
            SecretError::MasterKeyMalformed { .. } => {
                "copy the key exactly as gocryptfs printed it: 64 hex digits in 8 groups of 8"
                    .into()
            }
        })
    }
}

/// Reads the secret from `source`. `what` names the vault in prompts.
pub fn read_secret(source: &SecretSource, what: &str) -> Result<Secret, SecretError> {
    match source {
        SecretSource::Interactive => {
            if io::stdin().is_terminal() {
                let line = prompt_no_echo(&format!("Password for {what}: "))
                    .map_err(SecretError::Terminal)?;
                check_line(line, "terminal").map(Secret::Password)
            } else {
                let line = read_first_line(RawStdin).map_err(SecretError::Stdin)?;
                check_line(line, "standard input").map(Secret::Password)
            }
        }
        SecretSource::Passfile(path) => read_passfile(path).map(Secret::Password),
        SecretSource::Extpass(args) => run_extpass(args).map(Secret::Password),
        SecretSource::MasterKeyFile(path) => {
            let mut text = Zeroizing::new(Vec::with_capacity(MAX_MASTERKEY_FILE as usize + 1));
            File::open(path)
                .and_then(|f| f.take(MAX_MASTERKEY_FILE).read_to_end(&mut text))
                .map_err(|error| SecretError::MasterKeyFileRead {
                    path: path.clone(),
                    error,
                })?;
            parse_master_key(&text, &path.display().to_string())
        }
        SecretSource::MasterKeyStdin => {
            let mut text: Zeroizing<Vec<u8>> =
                Zeroizing::new(Vec::with_capacity(MAX_MASTERKEY_FILE as usize + 1));
            if io::stdin().is_terminal() {
                // The printed form may span two lines: read until 64 digits.
                while text.iter().filter(|c| c.is_ascii_hexdigit()).count() < 64 {
                    let line = prompt_no_echo("Master key: ").map_err(SecretError::Terminal)?;
                    if line.is_empty() || text.len() + line.len() > MAX_MASTERKEY_FILE as usize {
                        break;
                    }
                    text.extend_from_slice(&line);
                }
            } else {
                RawStdin
                    .take(MAX_MASTERKEY_FILE)
                    .read_to_end(&mut text)
                    .map_err(SecretError::Stdin)?;
            }
            parse_master_key(&text, "standard input")
        }
    }
}

/// Standard input read straight from file descriptor 0: the standard
/// library's `Stdin` would copy the secret into its shared buffer, which is
/// never wiped.
struct RawStdin;

impl Read for RawStdin {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(rustix::io::read(io::stdin().as_fd(), buf)?)
    }
}

/// Restores the terminal's settings when dropped.
struct EchoOff {
    saved: rustix::termios::Termios,
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(
            io::stdin().as_fd(),
            rustix::termios::OptionalActions::Now,
            &self.saved,
        );
    }
}

/// Reads one line from the terminal on standard input with echo off, as
/// gocryptfs does (Go's `term.ReadPassword`): line editing stays on, every
/// other byte is kept as typed.
fn prompt_no_echo(prompt: &str) -> io::Result<Zeroizing<Vec<u8>>> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = io::stdin();
    let fd = stdin.as_fd();
    let saved = tcgetattr(fd)?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    quiet.local_modes.insert(LocalModes::ICANON);
    {
        let mut err = io::stderr().lock();
        write!(err, "{prompt}")?;
        err.flush()?;
    }
    tcsetattr(fd, OptionalActions::Now, &quiet)?;
    let restore = EchoOff { saved };
    let line = read_first_line(RawStdin);
    drop(restore);
    eprintln!();
    line
}

/// Reads a new password (for init and passwd): from a file or a program as
/// with [`read_secret`], or typed twice on the terminal, or one line of
/// standard input when it is not a terminal.
pub fn read_new_password(source: &SecretSource) -> Result<Password, SecretError> {
    match source {
        SecretSource::Passfile(path) => read_passfile(path),
        SecretSource::Extpass(args) => run_extpass(args),
        _ if io::stdin().is_terminal() => {
            let first = check_line(
                prompt_no_echo("New password: ").map_err(SecretError::Terminal)?,
                "terminal",
            )?;
            let again = prompt_no_echo("Repeat: ").map_err(SecretError::Terminal)?;
            if first.bytes() != again.as_slice() {
                return Err(SecretError::Mismatch);
            }
            Ok(first)
        }
        _ => check_line(
            read_first_line(RawStdin).map_err(SecretError::Stdin)?,
            "standard input",
        ),
    }
}

fn parse_master_key(text: &[u8], origin: &str) -> Result<Secret, SecretError> {
    MasterKey::parse(text)
        .map(Secret::MasterKey)
        .map_err(|error| SecretError::MasterKeyMalformed {
            origin: origin.to_string(),
            error,
        })
}

/// Up to and excluding the first `\n`, reading at most one byte past the
/// password limit. Byte by byte on purpose: a password is short, and
/// nothing after the line is consumed from an unbuffered source (as
/// gocryptfs's readLineUnbuffered).
#[allow(clippy::unbuffered_bytes)]
fn read_first_line(reader: impl Read) -> io::Result<Zeroizing<Vec<u8>>> {
    // Allocated once, big enough: a growing Vec would leave copies of the
    // password in freed memory.
    let mut line = Zeroizing::new(Vec::with_capacity(MAX_PASSWORD_LEN + 2));
    for byte in reader.bytes().take(MAX_PASSWORD_LEN + 2) {
        let byte = byte?;
        if byte == b'\n' {
            break;
        }
        line.push(byte);
    }
    Ok(line)
}

fn check_line(line: Zeroizing<Vec<u8>>, origin: &'static str) -> Result<Password, SecretError> {
    if line.len() > MAX_PASSWORD_LEN {
        return Err(SecretError::TooLong(origin));
    }
    Password::new(line).ok_or(SecretError::Empty(origin))
}

fn read_passfile(path: &PathBuf) -> Result<Password, SecretError> {
    let file = File::open(path).map_err(|error| SecretError::PassfileRead {
        path: path.clone(),
        error,
    })?;
    let line = read_first_line(file).map_err(|error| SecretError::PassfileRead {
        path: path.clone(),
        error,
    })?;
    if line.len() > MAX_PASSWORD_LEN {
        return Err(SecretError::PassfileTooLong(path.clone()));
    }
    Password::new(line).ok_or_else(|| SecretError::PassfileEmpty(path.clone()))
}

fn run_extpass(args: &[String]) -> Result<Password, SecretError> {
    let parts: Vec<String> = match args {
        [single] => single.split(' ').map(str::to_string).collect(),
        many => many.to_vec(),
    };
    let Some((program, rest)) = parts.split_first() else {
        return Err(SecretError::ExtpassEmpty(String::new()));
    };
    let mut child = Command::new(program)
        .args(rest)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|error| SecretError::ExtpassStart {
            program: program.clone(),
            error,
        })?;
    let line = match child.stdout.take() {
        Some(out) => read_first_line(out),
        None => Ok(Zeroizing::new(Vec::new())),
    };
    let status = child.wait().map_err(|error| SecretError::ExtpassStart {
        program: program.clone(),
        error,
    })?;
    if !status.success() {
        return Err(SecretError::ExtpassFailed {
            program: program.clone(),
            status: status.to_string(),
        });
    }
    let line = line.map_err(|error| SecretError::ExtpassStart {
        program: program.clone(),
        error,
    })?;
    if line.len() > MAX_PASSWORD_LEN {
        return Err(SecretError::ExtpassTooLong(program.clone()));
    }
    Password::new(line).ok_or_else(|| SecretError::ExtpassEmpty(program.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_rules() {
        assert_eq!(read_first_line(&b"pw\nrest"[..]).unwrap().as_slice(), b"pw");
        assert_eq!(read_first_line(&b"pw"[..]).unwrap().as_slice(), b"pw");
        // CR is part of the password, as in gocryptfs.
        assert_eq!(read_first_line(&b"pw\r\n"[..]).unwrap().as_slice(), b"pw\r");
        assert!(read_first_line(&b"\nsecond"[..]).unwrap().is_empty());
        let long = vec![b'a'; 5000];
        assert_eq!(
            read_first_line(&long[..]).unwrap().len(),
            MAX_PASSWORD_LEN + 2
        );
    }

    #[test]
    fn extpass_splits_on_spaces_and_reports_failure() {
        match run_extpass(&["echo hello".to_string()]) {
            Ok(pw) => assert_eq!(pw.bytes(), b"hello"),
            Err(e) => panic!("echo should give a password: {e}"),
        }
        match run_extpass(&["printf".into(), "two words\nignored".into()]) {
            Ok(pw) => assert_eq!(pw.bytes(), b"two words"),
            Err(e) => panic!("printf should give a password: {e}"),
        }
        assert!(matches!(
            run_extpass(&["false".into()]),
            Err(SecretError::ExtpassFailed { .. })
        ));
        assert!(matches!(
            run_extpass(&["true".into()]),
            Err(SecretError::ExtpassEmpty(_))
        ));
        assert!(matches!(
            run_extpass(&["/nonexistent/askpass".into()]),
            Err(SecretError::ExtpassStart { .. })
        ));
    }
}
