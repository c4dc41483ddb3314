//! Syscall and errno names from the `syscalls` crate (x86_64 tables).

use syscalls::{Errno, Sysno};

/// Name of syscall `nr`, or `[nr]` for numbers the table does not know
/// (as libbpf-tools prints them).
pub fn syscall_name(nr: u32) -> String {
    match Sysno::new(nr as usize) {
        Some(sysno) => sysno.name().to_string(),
        None => format!("[{nr}]"),
    }
}

/// Number of the syscall called `name` (`read`, `clock_nanosleep`).
pub fn syscall_number(name: &str) -> Option<u32> {
    Sysno::iter()
        .find(|s| s.name() == name)
        .map(|s| s.id() as u32)
}

/// `-s` values: comma-separated syscall names, each checked against the
/// table. The message does not repeat the value: clap's line shows it.
pub fn parse_syscall(text: &str) -> Result<u32, String> {
    syscall_number(text).ok_or_else(|| "unknown syscall (syscount -l lists the names)".to_string())
}

/// Name of errno `n` (`ENOENT`), or the number when it has none.
pub fn errno_name(n: u32) -> String {
    Errno::new(n as i32)
        .name()
        .map_or_else(|| n.to_string(), str::to_string)
}

/// Every known syscall, by number.
pub fn all_syscalls() -> impl Iterator<Item = (u32, &'static str)> {
    Sysno::iter().map(|s| (s.id() as u32, s.name()))
}

/// `-e` values: a positive errno number or a name such as `ENOENT`.
pub fn parse_errno(text: &str) -> Result<i32, String> {
    if let Ok(n) = text.parse::<i32>() {
        return if (1..4096).contains(&n) {
            Ok(n)
        } else {
            Err(format!("errno {n} is out of range 1-4095"))
        };
    }
    // Names glibc gives the same number as another (the peers accept both).
    let text = match text {
        "EWOULDBLOCK" => "EAGAIN",
        "ENOTSUP" => "EOPNOTSUPP",
        "EDEADLOCK" => "EDEADLK",
        other => other,
    };
    (1..4096)
        .find(|&n| Errno::new(n).name() == Some(text))
        .ok_or_else(|| "unknown errno name (expected e.g. ENOENT, or a number)".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(syscall_name(110), "getppid");
        assert_eq!(syscall_name(257), "openat");
        assert_eq!(syscall_name(1023), "[1023]");
        assert!(all_syscalls().any(|(nr, name)| nr == 0 && name == "read"));
        assert_eq!(syscall_number("clock_nanosleep"), Some(230));
        assert_eq!(parse_syscall("mmap"), Ok(9));
        assert_eq!(parse_errno("EWOULDBLOCK"), parse_errno("EAGAIN"));
        assert_eq!(parse_errno("ENOTSUP"), Ok(95));
        assert_eq!(parse_errno("EDEADLOCK"), Ok(35));
        assert!(
            parse_syscall("nosuchcall")
                .unwrap_err()
                .starts_with("unknown syscall")
        );
    }

    #[test]
    fn errnos() {
        assert_eq!(parse_errno("ENOENT"), Ok(2));
        assert_eq!(parse_errno("EACCES"), Ok(13));
        assert_eq!(parse_errno("13"), Ok(13));
        assert!(parse_errno("EBOGUS").is_err());
        assert!(parse_errno("0").is_err());
        assert_eq!(errno_name(22), "EINVAL");
        assert_eq!(errno_name(4000), "4000");
    }
}
