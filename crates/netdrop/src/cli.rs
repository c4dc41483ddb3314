//! Command line. No bcc or libbpf-tools tool counts drops by reason; the
//! options follow syscount's (`-T`, `-l`, `[interval] [count]`).

use anyhow::Result;
use clap::Parser;
use netdrop::{Options, config::Reasons};
use toolkit_cli::{CgroupSplitArgs, IntervalArgs, MetricsArgs, VERSION};

pub const EXAMPLES: &str = "\
EXAMPLES:
    netdrop                      # drops by reason and protocol, printed at Ctrl-C
    netdrop 1                    # every second
    netdrop -I 5                 # also by interface, every 5 seconds
    netdrop -G 5                 # also by the socket's cgroup: whose packets are dropped?
    netdrop -x NO_SOCKET         # leave out packets for closed ports
    netdrop -r SOCKET_RCVBUFF,SOCKET_BACKLOG 1   # only receive queues overflowing
    netdrop -l                   # this kernel's drop reasons
    netdrop --json 10            # one JSON object every 10 seconds
    netdrop --openmetrics /var/lib/node_exporter/netdrop.prom 15";

/// Count the kernel's packet drops by reason.
///
/// Every packet the kernel drops (frees with `kfree_skb` and a reason from
/// `enum skb_drop_reason`: a netfilter rule, a full socket receive buffer,
/// no socket listening, a bad checksum...), counted by reason and protocol
/// and, with -I, interface. The USE method's network errors, and part of
/// its saturation (queue and backlog overflows). Packets freed normally
/// (`consume_skb`) are not drops and are not counted; neither are frees
/// whose reason is NOT_SPECIFIED (legacy callers, drops or not), unless
/// --all or -r NOT_SPECIFIED asks. Needs root, or CAP_BPF and CAP_PERFMON.
#[derive(Debug, Parser)]
#[command(name = "netdrop", version = VERSION, after_help = EXAMPLES)]
pub struct Cli {
    /// Count by interface too (NAME@INODE for another network namespace's)
    #[arg(short = 'I', long)]
    pub interfaces: bool,
    #[command(flatten)]
    pub split: CgroupSplitArgs,
    /// Count only these drop reasons (names as -l lists them)
    #[arg(short = 'r', long = "reasons", value_name = "REASON", value_delimiter = ',',
          value_parser = parse_reason)]
    pub reasons: Vec<String>,
    /// Do not count these drop reasons
    #[arg(short = 'x', long = "exclude", value_name = "REASON", value_delimiter = ',',
          value_parser = parse_reason)]
    pub exclude: Vec<String>,
    /// Count NOT_SPECIFIED frees too (some are drops, some are not)
    #[arg(long)]
    pub all: bool,
    /// Print only the top rows of each interval (text; JSON has every row)
    #[arg(short = 'T', long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub top: u64,
    /// Print this kernel's drop reasons and exit
    #[arg(short = 'l', long)]
    pub list: bool,
    /// Print one JSON object per interval instead of text
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub metrics: MetricsArgs,
    #[command(flatten)]
    pub interval: IntervalArgs,
}

/// A reason's name as the kernel spells it, with or without the
/// `SKB_DROP_REASON_` prefix, any case: `NETFILTER_DROP`, `no_socket`.
/// Whether this kernel has it is checked against its BTF at start.
fn parse_reason(text: &str) -> Result<String, String> {
    let upper = text.trim().to_ascii_uppercase();
    let name = upper.strip_prefix("SKB_DROP_REASON_").unwrap_or(&upper);
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!(
            "'{text}' is not a drop reason name (netdrop -l lists them)"
        ));
    }
    Ok(name.to_string())
}

impl Cli {
    /// The resolved options (the one conversion from the command line),
    /// with this kernel's drop `reasons`.
    pub fn options(&self, reasons: &Reasons) -> Result<Options> {
        Ok(Options {
            by_interface: self.interfaces,
            count_unlisted: self.reasons.is_empty(),
            counted: reasons.selected(&self.reasons, &self.exclude, self.all)?,
            per_cgroup: self.split.shown(),
        })
    }
}

#[cfg(test)]
mod tests {
    use toolkit_cli::assert_usage_errors;

    use super::*;

    #[test]
    fn parses_reason_lists_in_any_spelling() {
        let cli = Cli::try_parse_from([
            "netdrop",
            "-I",
            "-r",
            "netfilter_drop,SKB_DROP_REASON_SOCKET_RCVBUFF",
            "-x",
            "NO_SOCKET",
            "2",
            "3",
        ])
        .unwrap();
        assert_eq!(cli.reasons, ["NETFILTER_DROP", "SOCKET_RCVBUFF"]);
        assert_eq!(cli.exclude, ["NO_SOCKET"]);
        assert!(cli.interfaces);
        assert_eq!(cli.interval.count, Some(3));
    }

    #[test]
    fn rejects_bad_values() {
        assert_usage_errors::<Cli>(&[
            &["-r", "NO SOCKET"],
            &["-r", ""],
            &["-x", "drop!"],
            &["-T", "0"],
            &["0"],
            &["1", "0"],
            &["1", "2", "3"],
        ]);
    }
}
