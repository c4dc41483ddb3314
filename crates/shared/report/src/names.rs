//! Syscall and errno names from the `syscalls` crate: this build's
//! architecture's syscall table, with the other architectures' to explain
//! a name that exists only there (`open` on arm64).

use syscalls::Errno;

/// The architectures the toolkit builds for, each with its own syscall
/// numbering: x86_64 its own table, arm64 the generic one (no `open`,
/// `fork` or `stat`: `openat`, `clone`, `newfstatat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("the toolkit's syscall names are x86_64's or aarch64's");

impl Arch {
    /// The architecture this binary (and so the kernel it traces) is.
    pub const NATIVE: Self = if cfg!(target_arch = "aarch64") {
        Self::Aarch64
    } else {
        Self::X86_64
    };
    const ALL: [Self; 2] = [Self::X86_64, Self::Aarch64];

    /// The name `uname -m` gives.
    pub fn name(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Aarch64 => "aarch64",
        }
    }

    /// Every syscall of this architecture's table, by number.
    pub fn syscalls(self) -> Box<dyn Iterator<Item = (u32, &'static str)>> {
        match self {
            Self::X86_64 => {
                Box::new(syscalls::x86_64::Sysno::iter().map(|s| (s.id() as u32, s.name())))
            }
            Self::Aarch64 => Box::new(
                syscalls::aarch64::Sysno::iter()
                    .filter(|s| !TIME64_ONLY_32BIT.contains(&(s.id() as u32)))
                    .map(|s| (s.id() as u32, kernel_name(s.name()))),
            ),
        }
    }

    /// The name of syscall `nr` in this architecture's table.
    pub fn syscall_name(self, nr: u32) -> Option<&'static str> {
        self.syscalls()
            .find(|(n, _)| *n == nr)
            .map(|(_, name)| name)
    }

    /// The number of the syscall called `name` in this architecture's table.
    pub fn syscall_number(self, name: &str) -> Option<u32> {
        self.syscalls().find(|(_, n)| *n == name).map(|(nr, _)| nr)
    }

    /// `-s` values on this architecture: the number, or why there is none.
    /// A name from another architecture's table says so, with the call
    /// programs make here instead (what glibc and musl use).
    pub fn parse_syscall(self, name: &str) -> Result<u32, String> {
        if let Some(nr) = self.syscall_number(name) {
            return Ok(nr);
        }
        let here = self.name();
        let Some(there) = Self::ALL
            .into_iter()
            .find(|a| a.syscall_number(name).is_some())
        else {
            return Err("unknown syscall (syscount -l lists the names)".to_string());
        };
        let instead = match INSTEAD.iter().find(|(old, _)| *old == name) {
            Some((_, new)) => format!("; programs call {new} instead"),
            None => String::new(),
        };
        Err(format!(
            "an {} syscall that {here} does not have{instead} (syscount -l lists {here}'s)",
            there.name()
        ))
    }
}

/// The generic table's `*_time64` calls (403-423), which only 32-bit
/// architectures have; the `syscalls` crate lists them for arm64 too.
const TIME64_ONLY_32BIT: std::ops::RangeInclusive<u32> = 403..=423;

/// The name the kernel and strace give a syscall of the generic table
/// where the `syscalls` crate names it after its `__NR3264_` macro:
/// arm64's 79 is `newfstatat`, as on x86_64.
fn kernel_name(name: &'static str) -> &'static str {
    match name {
        "fstatat" => "newfstatat",
        other => other,
    }
}

/// Syscalls of x86_64 that the generic table (arm64's) left out, and what
/// the C libraries call there instead.
const INSTEAD: [(&str, &str); 24] = [
    ("open", "openat"),
    ("creat", "openat"),
    ("fork", "clone"),
    ("vfork", "clone"),
    ("stat", "newfstatat"),
    ("lstat", "newfstatat"),
    ("access", "faccessat"),
    ("dup2", "dup3"),
    ("pipe", "pipe2"),
    ("poll", "ppoll"),
    ("select", "pselect6"),
    ("epoll_wait", "epoll_pwait"),
    ("epoll_create", "epoll_create1"),
    ("mkdir", "mkdirat"),
    ("rmdir", "unlinkat"),
    ("unlink", "unlinkat"),
    ("rename", "renameat"),
    ("link", "linkat"),
    ("symlink", "symlinkat"),
    ("readlink", "readlinkat"),
    ("chmod", "fchmodat"),
    ("chown", "fchownat"),
    ("getdents", "getdents64"),
    ("time", "clock_gettime"),
];

/// Name of syscall `nr`, or `[nr]` for numbers the table does not know
/// (as libbpf-tools prints them).
pub fn syscall_name(nr: u32) -> String {
    match Arch::NATIVE.syscall_name(nr) {
        Some(name) => name.to_string(),
        None => format!("[{nr}]"),
    }
}

/// Number of the syscall called `name` (`read`, `clock_nanosleep`).
pub fn syscall_number(name: &str) -> Option<u32> {
    Arch::NATIVE.syscall_number(name)
}

/// `-s` values: comma-separated syscall names, each checked against the
/// table. The message does not repeat the value: clap's line shows it.
pub fn parse_syscall(text: &str) -> Result<u32, String> {
    Arch::NATIVE.parse_syscall(text)
}

/// Name of errno `n` (`ENOENT`), or the number when it has none.
pub fn errno_name(n: u32) -> String {
    Errno::new(n as i32)
        .name()
        .map_or_else(|| n.to_string(), str::to_string)
}

/// Every known syscall, by number.
pub fn all_syscalls() -> impl Iterator<Item = (u32, &'static str)> {
    Arch::NATIVE.syscalls()
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
        assert_eq!(syscall_name(1023), "[1023]");
        assert_eq!(
            syscall_number("clock_nanosleep")
                .map(syscall_name)
                .as_deref(),
            Some("clock_nanosleep")
        );
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
    fn each_architecture_has_its_own_numbers() {
        let x86 = Arch::X86_64;
        assert_eq!(x86.syscall_name(110), Some("getppid"));
        assert_eq!(x86.syscall_name(257), Some("openat"));
        assert!(x86.syscalls().any(|(nr, name)| nr == 0 && name == "read"));
        assert_eq!(x86.syscall_number("clock_nanosleep"), Some(230));
        assert_eq!(x86.parse_syscall("mmap"), Ok(9));
        let arm = Arch::Aarch64;
        assert_eq!(arm.syscall_name(173), Some("getppid"));
        assert_eq!(arm.syscall_name(56), Some("openat"));
        assert!(arm.syscalls().any(|(nr, name)| nr == 63 && name == "read"));
        assert_eq!(arm.parse_syscall("mmap"), Ok(222));
        assert_eq!(arm.syscall_number("open"), None);
        assert_eq!(arm.syscall_name(79), Some("newfstatat"));
        assert_eq!(arm.syscall_number("newfstatat"), Some(79));
        assert_eq!(arm.syscall_number("clock_gettime64"), None);
        assert_eq!(arm.syscall_name(403), None);
        assert_eq!(arm.syscall_name(424), Some("pidfd_send_signal"));
    }

    #[test]
    fn another_architectures_syscall_is_named_as_such() {
        assert_eq!(
            Arch::Aarch64.parse_syscall("open").unwrap_err(),
            "an x86_64 syscall that aarch64 does not have; programs call openat instead \
             (syscount -l lists aarch64's)"
        );
        assert_eq!(
            Arch::Aarch64.parse_syscall("fork").unwrap_err(),
            "an x86_64 syscall that aarch64 does not have; programs call clone instead \
             (syscount -l lists aarch64's)"
        );
        assert!(
            Arch::Aarch64
                .parse_syscall("arch_prctl")
                .unwrap_err()
                .ends_with("does not have (syscount -l lists aarch64's)")
        );
        // Every replacement named is in the generic table, and every name
        // it replaces is x86_64's only.
        for (old, new) in INSTEAD {
            assert!(Arch::Aarch64.syscall_number(new).is_some(), "{new}");
            assert!(Arch::X86_64.syscall_number(old).is_some(), "{old}");
            assert!(Arch::Aarch64.syscall_number(old).is_none(), "{old}");
        }
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
