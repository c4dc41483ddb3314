//! From the command line and the kernel's BTF to the configuration the
//! kernel side reads (`tcpretrans_ebpf::Config`): a pure function, tested
//! without loading anything.

use anyhow::Result;
use tcpretrans_ebpf::{AF_INET, AF_INET6, Config, maps};
use toolkit_load::KernelBtf;

use crate::cli::Cli;

/// The tracepoint traced.
pub const TRACEPOINT: &str = "tcp_retransmit_skb";

pub fn build(cli: &Cli, btf: &KernelBtf) -> Result<Config> {
    let family = if cli.ipv4 {
        AF_INET
    } else if cli.ipv6 {
        AF_INET6
    } else {
        0
    };
    Ok(Config {
        count: u32::from(cli.count),
        family: u32::from(family),
        // (sk, skb) before 6.13; (sk, skb, err) since.
        has_err_arg: u32::from(btf.tracepoint_arg_count(TRACEPOINT)? >= 3),
        sock: btf.sock_offsets()?,
        skb_gso_segs: btf.member_offset("sk_buff", "cb")?
            + btf.member_offset("tcp_skb_cb", "tcp_gso_segs")?,
        flow_slots: flow_slots(cli),
    })
}

/// Slots per CPU of `FLOW_SLOTS` (0: none used).
pub fn flow_slots(cli: &Cli) -> u32 {
    if cli.count {
        cli.flow_slots.unwrap_or(maps::FLOW_SLOTS_LEN)
    } else {
        0
    }
}

/// Map sizes: the flow maps only with -c.
pub fn map_sizes(cli: &Cli) -> [(&'static str, u32); 2] {
    let flows = if cli.count { maps::MAX_FLOWS } else { 1 };
    [
        (maps::FLOWS, flows),
        (maps::FLOW_SLOTS, flow_slots(cli).max(1)),
    ]
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    fn config_of(args: &[&str]) -> Config {
        let cli =
            Cli::try_parse_from(std::iter::once("tcpretrans").chain(args.iter().copied())).unwrap();
        build(&cli, &KernelBtf::load().unwrap()).unwrap()
    }

    #[test]
    fn options_and_this_kernels_offsets() {
        let config = config_of(&[]);
        assert_eq!((config.count, config.family), (0, 0));
        assert_ne!(config.sock.dport, config.sock.num);
        assert_ne!(config.sock.v6_daddr, config.sock.v6_rcv_saddr);
        assert!(config.skb_gso_segs > config.sock.family);
        assert_eq!(config_of(&["-c", "-6"]).family, u32::from(AF_INET6));
        assert_eq!(config_of(&["-4"]).family, u32::from(AF_INET));
    }

    #[test]
    fn flow_slots_only_with_count() {
        assert_eq!(config_of(&[]).flow_slots, 0);
        assert_eq!(config_of(&["-c"]).flow_slots, maps::FLOW_SLOTS_LEN);
        assert_eq!(config_of(&["-c", "--flow-slots", "0"]).flow_slots, 0);
        assert_eq!(config_of(&["-c", "--flow-slots", "1"]).flow_slots, 1);
    }
}
