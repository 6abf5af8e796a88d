//! rclone's output as a broken or hostile rclone (or remote) could print
//! it: `lsjson` lines, JSON log lines with stats, plain-text errors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaultdrill::rclone::{error_lines, parse_list_line, parse_log_line};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        let _ = parse_list_line(line, Some("md5"));
        let _ = parse_list_line(line, None);
        let _ = parse_log_line(line);
    }
    let _ = error_lines(&text);
});
