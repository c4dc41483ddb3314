//! The tools whose programs read fields of their tracepoint arguments
//! prefer `tp_btf` (plain loads there, helper calls on `raw_tp`) and fall
//! back to `raw_tp` when the `tp_btf` programs cannot be loaded. A verifier
//! refusal of a `tp_btf` program would therefore go unnoticed, the tool
//! still counting, only slower: on this kernel, every such tool, in each
//! option that changes its program's code, must run on `tp_btf`.

use toolkit_tests::{Running, assert_unloaded, program_types};

/// `tool args...` loads only `tracing` (`tp_btf`) programs.
fn runs_on_tp_btf(tool: &str, args: &[&str]) {
    runs_on(tool, args, "tracing");
}

/// `tool args...` loads only programs of `kind`, as bpftool names it.
fn runs_on(tool: &str, args: &[&str], kind: &str) {
    let running = Running::start(tool, args);
    let programs = running.programs.clone();
    let types = program_types(&programs);
    let done = running.signal(libc::SIGINT);
    assert!(done.status.success(), "{tool} {args:?}: {done:?}");
    assert!(
        !types.is_empty() && types.iter().all(|t| t == kind),
        "{tool} {args:?} runs on {types:?}, not {kind} (its -v says why)"
    );
    assert_unloaded(&programs);
}

#[test]
fn field_reading_tools_run_on_tp_btf() {
    for (tool, args) in [
        ("biolatency", &["-D", "-F", "--percentiles"][..]),
        ("biolatency", &["-Q", "-m"]),
        ("syscount", &[]),
        ("syscount", &["-L", "-P"]),
        ("netdrop", &[]),
        ("netdrop", &["-I"]),
        ("tcprtt", &[]),
        ("tcprtt", &["-b", "--percentiles"]),
        (
            "tcprtt",
            &[
                "-B",
                "-a",
                "127.0.0.1",
                "-A",
                "127.0.0.1",
                "-p",
                "1",
                "-P",
                "2",
            ],
        ),
        ("tcprtt", &["-6", "-a", "::1"]),
        ("tcpretrans", &[]),
        ("tcpretrans", &["-c", "-4"]),
        ("softirqs", &[]),
        ("softirqs", &["-c", "0", "--percentiles"]),
        ("hardirqs", &[]),
        ("cpudist", &[]),
        ("cpudist", &["-O", "-P"]),
        ("hwerr", &[]),
        ("fsdist", &[]),
        ("fsdist", &["-t", "ext4", "--percentiles"]),
        ("fsdist", &["-a", "-M"]),
        ("fsslower", &[]),
        ("hardirqs", &["-s", "0", "--percentiles"]),
    ] {
        runs_on_tp_btf(tool, args);
    }
}

/// biolatency reads no request's fields unless split or filtered by disk or
/// flags, or with `-Q`: then `raw_tp` spares it the helper call that makes
/// a `tp_btf` pointer a number it can hash.
#[test]
fn biolatency_reading_only_addresses_runs_on_raw_tp() {
    for args in [&[][..], &["-m", "--percentiles"], &["--json", "-e"]] {
        runs_on("biolatency", args, "raw_tracepoint");
    }
}
