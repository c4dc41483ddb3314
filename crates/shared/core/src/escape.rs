//! Names that other users control, made safe to print: a process's comm or
//! command line, an interface name set in another network namespace, a
//! cgroup or file name. Any of them can hold terminal escapes, a newline
//! that forges an output line, bytes that are not UTF-8, or characters XML
//! forbids. Every name from the kernel or from another user goes through
//! [`escape_bytes`] (or [`escape_str`]) once, where it is first decoded,
//! so text, heatmaps, SVG, JSON and OpenMetrics all show the same safe
//! string.

use alloc::{borrow::Cow, string::String};
use core::{fmt, fmt::Write as _};

/// Whether `c` is shown escaped: control characters (C0, DEL, C1: terminal
/// escapes, newlines, and what XML 1.0 forbids), the bidirectional
/// overrides that reorder what a terminal shows, and the two
/// non-characters XML forbids.
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
                | '\u{fffe}' | '\u{ffff}'
        )
}

fn push_escaped(out: &mut String, c: char) {
    let _ = match u32::from(c) {
        n @ 0..=0xff => write!(out, "\\x{n:02x}"),
        n => write!(out, "\\u{{{n:04x}}}"),
    };
}

/// `bytes` as text: valid UTF-8 as it is, except characters that are
/// [`hidden`], shown as `\xNN` (or `\u{NNNN}`); each byte that is not UTF-8
/// shown as `\xNN`.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if hidden(c) {
                push_escaped(&mut out, c);
            } else {
                out.push(c);
            }
        }
        for &b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// [`escape_bytes`] for text already decoded: borrowed when nothing needs
/// escaping, the common case.
pub fn escape_str(text: &str) -> Cow<'_, str> {
    if text.chars().any(hidden) {
        Cow::Owned(escape_bytes(text.as_bytes()))
    } else {
        Cow::Borrowed(text)
    }
}

/// Displays bytes (a path, an argument) through [`escape_bytes`].
pub struct Shown<'a>(pub &'a [u8]);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape_bytes(self.0))
    }
}

/// Longest value echoed back whole in a message.
const CLIPPED: usize = 64;

/// A value given on the command line, as an error message echoes it:
/// escaped, and cut after [`CLIPPED`] characters with the length said (a
/// 100 KB typo is not printed back).
pub fn clip(value: &str) -> String {
    let shown = escape_str(value);
    match shown.char_indices().nth(CLIPPED) {
        Some((cut, _)) => alloc::format!("{}... ({} bytes)", &shown[..cut], value.len()),
        None => shown.into_owned(),
    }
}

/// A NUL-terminated kernel name (`comm`, `ifname`) up to its first NUL,
/// escaped.
pub fn c_name(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    escape_bytes(&bytes[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_unchanged() {
        assert_eq!(escape_bytes(b"kworker/0:1-events"), "kworker/0:1-events");
        assert_eq!(escape_str("caf\u{e9} \u{1f600}"), "caf\u{e9} \u{1f600}");
        assert!(matches!(escape_str("bash"), Cow::Borrowed(_)));
        // systemd's own escapes in unit names are printable text.
        assert_eq!(escape_str("dev-disk-by\\x2duuid"), "dev-disk-by\\x2duuid");
    }

    #[test]
    fn controls_invalid_bytes_and_overrides_are_escaped() {
        assert_eq!(escape_bytes(b"a\x07b\x1b[31m\n"), "a\\x07b\\x1b[31m\\x0a");
        assert_eq!(escape_bytes(b"\xff.svg"), "\\xff.svg");
        assert_eq!(
            escape_bytes("x\u{202e}y\u{85}".as_bytes()),
            "x\\u{202e}y\\x85"
        );
        assert_eq!(escape_str("\x7f"), "\\x7f");
        assert_eq!(c_name(b"sh\tx\0garbage"), "sh\\x09x");
        assert_eq!(Shown(b"/tmp/\xff").to_string(), "/tmp/\\xff");
        assert_eq!(clip("read"), "read");
        let long = "x".repeat(100_000);
        assert_eq!(clip(&long), format!("{}... (100000 bytes)", "x".repeat(64)));
    }
}
