//! hwerr on the sources each kernel has. A memory failure is driven where
//! the kernel can take a page out of use on request (`MADV_HWPOISON`,
//! `CONFIG_MEMORY_FAILURE`: Debian's 6.12 in the kernel matrix): one
//! poisoned page, one event, exactly. Sources a kernel lacks are said, in
//! one line, not left out silently.

use toolkit_tests::{ForkedChild, Running, run_tool};

/// Every source and how the banner and the "not available" line name it.
const SOURCES: [(&str, &str); 4] = [
    ("machine-check", "machine checks (mce:mce_record)"),
    (
        "memory-controller",
        "memory controller errors (ras:mc_event)",
    ),
    (
        "memory-failure",
        "memory failures (ras:memory_failure_event)",
    ),
    ("pcie-aer", "PCIe AER errors (ras:aer_event)"),
];

/// Whether this kernel's BTF has tracepoint `name`.
fn has_tracepoint(name: &str) -> bool {
    let btf = std::fs::read("/sys/kernel/btf/vmlinux").unwrap();
    let needle = format!("btf_trace_{name}\0");
    btf.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Each source is either watched (in the banner) or said to be missing
/// (on stderr), as the kernel's BTF has its tracepoint or not; a healthy
/// machine prints nothing but the banner.
#[test]
fn sources_are_watched_or_said_missing() {
    let out = run_tool("hwerr", &["-d", "0.3"]);
    assert!(out.status.success(), "{out:?}");
    let banner = out.stdout.lines().next().unwrap();
    assert!(banner.starts_with("Tracing hardware errors ("), "{banner}");
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    let tracepoints = [
        "mce_record",
        "mc_event",
        "memory_failure_event",
        "aer_event",
    ];
    for ((name, what), tracepoint) in SOURCES.iter().zip(tracepoints) {
        let watched = banner.contains(name);
        let missing = out.stderr.contains(what);
        assert_eq!(watched, has_tracepoint(tracepoint), "{name}: {out:?}");
        assert_ne!(watched, missing, "{name}: {out:?}");
    }
}

/// A page of its own the child poisons (`madvise(MADV_HWPOISON)`, which
/// runs the kernel's memory-failure handling on it), then exits without
/// touching it again.
fn poison_one_page() {
    // SAFETY: an anonymous private page of our own, written then poisoned;
    // never read again.
    unsafe {
        let page = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(page, libc::MAP_FAILED);
        page.cast::<u8>().write_volatile(1);
        assert_eq!(libc::madvise(page, 4096, libc::MADV_HWPOISON), 0);
    }
}

/// One poisoned page: one `memory-failure` line, uncorrected, with the
/// kernel's decoded page type and result, and `-c` counts it once. Where
/// the kernel cannot fail memory on request, the source is said missing.
#[test]
fn a_poisoned_page_is_one_memory_failure() {
    if !has_tracepoint("memory_failure_event") {
        let out = run_tool("hwerr", &["-c", "-d", "0.2"]);
        assert!(out.status.success(), "{out:?}");
        assert!(
            out.stderr.contains("not available on this kernel: ")
                && out
                    .stderr
                    .contains("memory failures (ras:memory_failure_event)"),
            "{out:?}"
        );
        assert!(!out.stdout.contains("memory-failure"), "{}", out.stdout);
        return;
    }
    let dir = std::env::temp_dir().join(format!("hwerr-metrics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let metrics = dir.join("hwerr.prom");
    let mut lines = Running::start("hwerr", &["--json"]);
    let counts = Running::start(
        "hwerr",
        &["-c", "--json", "--openmetrics", metrics.to_str().unwrap()],
    );
    let child = ForkedChild::new(poison_one_page);
    child.run_to_end();
    // The event's own line, then the tool stopped: nothing else came.
    let line = lines.read_line().expect("no event line");
    let event: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["source"], "memory-failure", "{event}");
    assert_eq!(event["severity"], "uncorrected", "{event}");
    assert!(
        event["fields"]["pfn"].as_str().unwrap().starts_with("0x"),
        "{event}"
    );
    assert_eq!(event["fields"]["result"], "recovered", "{event}");
    let rest = lines.stop();
    assert_eq!(rest, "", "a second event: {rest}");
    let record: serde_json::Value = serde_json::from_str(counts.stop().trim()).unwrap();
    assert_eq!(
        record["counts"]["memory-failure"]["uncorrected"], 1,
        "{record}"
    );
    // The same count for Prometheus, and every other cell at 0.
    let om = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        om.contains("hwerr_errors_total{source=\"memory-failure\",severity=\"uncorrected\"} 1\n"),
        "{om}"
    );
    assert!(
        om.contains("hwerr_errors_total{source=\"memory-failure\",severity=\"corrected\"} 0\n"),
        "{om}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// hwerr runs, and says that `source` is missing on this kernel.
fn assert_said_missing(source: &str) {
    let out = run_tool("hwerr", &["-d", "0.2"]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stderr.contains(source), "{out:?}");
}

/// Asks the kernel matrix's host to inject an error (`what`: `mce`, a
/// corrected error in CPU 0's bank 1; `aer`, a completion timeout of the
/// guest's PCIe root port) from QEMU's monitor when
/// it reads this line on the guest's console. Only the matrix's guests
/// have that host: false elsewhere.
fn ask_host_to_inject(what: &str) -> bool {
    if !std::path::Path::new("/matrix/checks.txt").exists() {
        return false;
    }
    use std::io::Write;
    let mut console = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/console")
        .unwrap();
    writeln!(console, "matrix: inject {what}").unwrap();
    true
}

/// A machine check injected into a QEMU guest from its monitor: one
/// `machine-check` line, corrected, with the bank and status injected. The
/// guest's poller reads the bank (every second: the test sets the
/// interval), then the kernel logs it, which fires `mce:mce_record`. Where
/// the kernel has no machine checks the source is said missing; where no
/// host can inject one (not a kernel-matrix guest), nothing is asserted
/// but that.
#[test]
fn an_injected_machine_check_is_one_line() {
    if !has_tracepoint("mce_record") {
        assert_said_missing("machine checks (mce:mce_record)");
        return;
    }
    let interval = "/sys/devices/system/machinecheck/machinecheck0/check_interval";
    let before = std::fs::read_to_string(interval).unwrap();
    std::fs::write(interval, "1").unwrap();
    // Stops by itself if no machine check comes: a failed injection ends
    // the test, not the check's time limit.
    let mut tool = Running::start("hwerr", &["--json", "-d", "60"]);
    if !ask_host_to_inject("mce") {
        eprintln!("no host to inject a machine check: only the kernel matrix does");
        tool.signal(libc::SIGINT);
        std::fs::write(interval, before.trim()).unwrap();
        return;
    }
    let line = tool.read_line();
    std::fs::write(interval, before.trim()).unwrap();
    let line = line.expect("no machine check within 60 s");
    assert_the_one_event(
        tool,
        &line,
        ("machine-check", "corrected"),
        &[("bank", "1"), ("status", "0x9000000000000000")],
    );
}

/// A PCIe AER error injected into a QEMU guest from its monitor
/// (`pcie_aer_inject_error`, into the root port the matrix gives its q35
/// and virt machines): one
/// `pcie-aer` line, uncorrected (non-fatal), from the root port, with the
/// completion timeout's status bit. The port's AER service reads the error
/// from the port's registers and logs it, which fires `ras:aer_event`.
/// Where no host can inject one (not a kernel-matrix guest), nothing is
/// asserted but that the source is watched or said missing.
#[test]
fn an_injected_pcie_error_is_one_line() {
    if !has_tracepoint("aer_event") {
        assert_said_missing("PCIe AER errors (ras:aer_event)");
        return;
    }
    let mut tool = Running::start("hwerr", &["--json", "-d", "60"]);
    if std::path::Path::new("/matrix/checks.txt").exists() {
        enable_system_errors_of_aer_ports();
    }
    if !ask_host_to_inject("aer") {
        eprintln!("no host to inject a PCIe error: only the kernel matrix does");
        tool.signal(libc::SIGINT);
        return;
    }
    let line = tool.read_line().expect("no PCIe AER error within 60 s");
    assert_the_one_event(
        tool,
        &line,
        ("pcie-aer", "uncorrected (non-fatal)"),
        &[("status", "0x00004000"), ("tlp_header_valid", "0")],
    );
}

/// `line` is hwerr's JSON line for an error of `source` and `severity`
/// with these `fields`, and the `tool` that printed it prints nothing more.
fn assert_the_one_event(
    tool: Running,
    line: &str,
    (source, severity): (&str, &str),
    fields: &[(&str, &str)],
) {
    let event: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(event["source"], source, "{event}");
    assert_eq!(event["severity"], severity, "{event}");
    for (name, value) in fields {
        assert_eq!(event["fields"][name], *value, "{event}");
    }
    let rest = tool.stop();
    assert_eq!(rest, "", "a second event: {rest}");
}

/// Sets SERR# Enable in the command register of every port whose AER the
/// kernel runs, as firmware does on real machines: QEMU 7.2 sends a port's
/// uncorrected error up only with it (and a corrected one never; 8.0 also
/// follows the Device Control bits, which the kernel sets).
fn enable_system_errors_of_aer_ports() {
    use std::os::unix::fs::FileExt;
    for service in std::fs::read_dir("/sys/bus/pci_express/devices").unwrap() {
        let name = service.unwrap().file_name().into_string().unwrap();
        let Some(port) = name.strip_suffix(":pcie002") else {
            continue; // not the AER service
        };
        let config = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("/sys/bus/pci/devices/{port}/config"))
            .unwrap();
        let mut command = [0u8; 2];
        config.read_exact_at(&mut command, 4).unwrap();
        let command = u16::from_le_bytes(command) | 0x100;
        config.write_all_at(&command.to_le_bytes(), 4).unwrap();
    }
}
