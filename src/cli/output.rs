//! Shared rendering helpers: modes, times, sizes, problem lines.

use std::time::{Duration, UNIX_EPOCH};

use vaultdrill::display::escape_path;
use vaultdrill::problem::{Problem, ProblemKind};

/// `ls -l` style type and permission string.
pub fn mode_string(type_char: char, mode: u32) -> String {
    let mut s = String::with_capacity(10);
    s.push(type_char);
    let bits = [
        (0o400, 'r'),
        (0o200, 'w'),
        (0o100, 'x'),
        (0o040, 'r'),
        (0o020, 'w'),
        (0o010, 'x'),
        (0o004, 'r'),
        (0o002, 'w'),
        (0o001, 'x'),
    ];
    for (i, (bit, c)) in bits.iter().enumerate() {
        let set = mode & bit != 0;
        let special = match i {
            2 => mode & 0o4000 != 0,
            5 => mode & 0o2000 != 0,
            8 => mode & 0o1000 != 0,
            _ => false,
        };
        s.push(match (set, special, i) {
            (true, true, 8) => 't',
            (false, true, 8) => 'T',
            (true, true, _) => 's',
            (false, true, _) => 'S',
            (true, false, _) => *c,
            (false, false, _) => '-',
        });
    }
    s
}

/// RFC 3339 UTC time of a Unix timestamp, to the second.
pub fn rfc3339(sec: i64, nsec: i64) -> String {
    if sec < 0 {
        return format!("@{sec}");
    }
    // humantime cannot format years after 9999; such times come only from
    // damaged or hostile metadata.
    if sec >= 253_402_300_800 {
        return format!("@{sec}");
    }
    let t = UNIX_EPOCH + Duration::new(sec as u64, nsec.clamp(0, 999_999_999) as u32);
    humantime::format_rfc3339_seconds(t).to_string()
}

pub use vaultdrill::display::human_bytes;

/// One line per problem: what, where (decrypted and encrypted path).
pub fn problem_line(p: &Problem) -> String {
    if matches!(
        p.kind,
        ProblemKind::RemoteMissing | ProblemKind::RemoteMismatch(_)
    ) {
        return format!(
            "{} remote object {}: {}",
            p.kind.label(),
            escape_path(&p.cipher_path),
            p.kind
        );
    }
    let plain = match &p.plain_path {
        Some(path) => escape_path(path),
        None if p.plain_dir.as_os_str().is_empty() => "(vault root)/?".to_string(),
        None => format!("{}/?", escape_path(&p.plain_dir)),
    };
    format!(
        "{} {}: {} [encrypted path: {}]",
        p.kind.label(),
        plain,
        p.kind,
        escape_path(&p.cipher_path)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_like_ls() {
        assert_eq!(mode_string('-', 0o644), "-rw-r--r--");
        assert_eq!(mode_string('d', 0o1777), "drwxrwxrwt");
        assert_eq!(mode_string('-', 0o4755), "-rwsr-xr-x");
        assert_eq!(mode_string('-', 0o2640), "-rw-r-S---");
    }

    #[test]
    fn units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(rfc3339(1622548815, 5), "2021-06-01T12:00:15Z");
        assert_eq!(rfc3339(253_402_300_799, 0), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(300_000_000_000, 0), "@300000000000");
        assert_eq!(rfc3339(-5, 0), "@-5");
    }
}
