//! scripts/install.sh: binaries, man pages and completions under a prefix,
//! generated from the clap definitions; --uninstall removes them all.

use std::{path::Path, process::Command};

use toolkit_tests::{run_tool, tools};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn git_head() -> String {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root())
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn version_names_the_git_commit() {
    let head = git_head();
    for tool in tools() {
        let out = run_tool(tool, &["--version"]);
        assert!(out.status.success(), "{tool}: {out:?}");
        assert_eq!(out.stdout, format!("{tool} 0.1.0 (git {head})\n"));
    }
}

#[test]
fn install_then_man_then_run_then_uninstall() {
    let prefix = std::env::temp_dir().join(format!("toolkit-install-{}", std::process::id()));
    let script = root().join("scripts/install.sh");
    let install = Command::new("bash")
        .arg(&script)
        .arg(&prefix)
        .env("NO_BUILD", "1")
        .output()
        .unwrap();
    assert!(install.status.success(), "{install:?}");
    let files = |tool: &str| {
        [
            format!("bin/{tool}"),
            format!("share/man/man8/{tool}.8"),
            format!("share/bash-completion/completions/{tool}"),
            format!("share/zsh/site-functions/_{tool}"),
            format!("share/fish/vendor_completions.d/{tool}.fish"),
        ]
        .map(|f| prefix.join(f))
    };
    for tool in tools() {
        for file in files(tool) {
            assert!(file.exists(), "{} missing", file.display());
        }
        // `man TOOL` finds the page under the prefix and it has every section.
        let man = Command::new("man")
            .arg(tool)
            .env("MANPATH", prefix.join("share/man"))
            .env("MANWIDTH", "100")
            .output()
            .unwrap();
        assert!(man.status.success(), "man {tool}: {man:?}");
        let page = String::from_utf8_lossy(&man.stdout);
        for section in [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "EXAMPLES",
            "OVERHEAD",
            "SEE ALSO",
        ] {
            assert!(
                page.lines().any(|l| l == section),
                "man {tool}: no {section}:\n{page}"
            );
        }
        // The bash completion script parses and offers the long options.
        let bash = files(tool)[2].clone();
        let check = Command::new("bash").arg("-n").arg(&bash).status().unwrap();
        assert!(check.success(), "{}", bash.display());
        let text = std::fs::read_to_string(&bash).unwrap();
        assert!(text.contains("--json"), "{tool}: {text}");
    }
    // The installed binary runs: one 1-second interval.
    let run = Command::new(prefix.join("bin/biolatency"))
        .args(["1", "1"])
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    assert!(String::from_utf8_lossy(&run.stdout).starts_with("Tracing block device I/O"));

    let uninstall = Command::new("bash")
        .arg(&script)
        .arg("--uninstall")
        .arg(&prefix)
        .output()
        .unwrap();
    assert!(uninstall.status.success(), "{uninstall:?}");
    for tool in tools() {
        for file in files(tool) {
            assert!(!file.exists(), "{} left behind", file.display());
        }
    }
    let _ = std::fs::remove_dir_all(&prefix);
}
