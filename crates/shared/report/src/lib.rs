//! What the tools print: libbpf-tools' text histograms, percentiles and
//! compact lines ([`output`]), latency heatmaps in the terminal
//! ([`heatmap`]) and as SVG ([`svg`]), one report path for every histogram tool
//! ([`interval`]), JSON lines, OpenMetrics files
//! ([`openmetrics`], written safely by [`outfile`]), syscall and errno names
//! ([`names`]), and the tools' stderr ([`say!`]).

pub mod heatmap;
pub mod interval;
pub mod names;
pub mod openmetrics;
pub mod outfile;
pub mod output;
pub mod svg;

use std::io;

pub use toolkit_core::escape;

pub use interval::{HistReport, HistRow, OutputMode, Sections};
pub use openmetrics::OpenMetrics;
pub use outfile::ReplacedFile;
pub use output::{Unit, print_log2_hist, print_summary, print_timestamp, write_json_interval};

/// Writes one line to stderr and ignores a failure: a closed or full
/// stderr must neither crash a tool (`eprintln!` panics) nor stop one whose
/// stdout still works.
pub fn say(line: std::fmt::Arguments) {
    use std::io::Write as _;
    let _ = writeln!(io::stderr().lock(), "{line}");
}

/// [`say`] with `format!` arguments: `say!("{tool}: warning: ...")`.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::say(format_args!($($arg)*))
    };
}

/// Prints the "Tracing ..." banner once everything is attached, flushed so
/// that whoever waits on it (a person, a test) sees it at once; on stderr
/// with `--json`, whose stdout is only JSON lines.
pub fn print_banner(banner: &str, json: bool) -> io::Result<()> {
    use std::io::Write as _;
    // Everything is loaded: hand the BTF parses' heap back to the system so
    // that a long-running tool's resident set stays small.
    // SAFETY: malloc_trim has no preconditions.
    unsafe { libc::malloc_trim(0) };
    if json {
        say!("{banner}");
        Ok(())
    } else {
        let mut out = output::stdout();
        writeln!(out, "{banner}")?;
        out.flush()
    }
}
