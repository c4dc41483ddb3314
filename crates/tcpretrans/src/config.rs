//! From the command line and the kernel's BTF to the configuration the
//! kernel side reads (`tcpretrans_ebpf::Config`): a pure function, tested
//! without loading anything.

use anyhow::{Result, ensure};
use tcpretrans_ebpf::{AF_INET, AF_INET6, Config};
use toolkit_load::KernelBtf;

use crate::cli::Cli;

/// The tracepoint traced.
pub const TRACEPOINT: &str = "tcp_retransmit_skb";

pub fn build(cli: &Cli, btf: &KernelBtf) -> Result<Config> {
    let common = |member| btf.member_offset("sock_common", member);
    // The socket's common part is its first member: its offsets are the
    // socket's.
    ensure!(
        btf.member_offset("sock", "__sk_common")? == 0,
        "struct sock does not start with its sock_common in this kernel"
    );
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
        skc_family: common("skc_family")?,
        skc_num: common("skc_num")?,
        skc_dport: common("skc_dport")?,
        skc_state: common("skc_state")?,
        skc_rcv_saddr: common("skc_rcv_saddr")?,
        skc_daddr: common("skc_daddr")?,
        skc_v6_rcv_saddr: common("skc_v6_rcv_saddr")?,
        skc_v6_daddr: common("skc_v6_daddr")?,
        skb_gso_segs: btf.member_offset("sk_buff", "cb")?
            + btf.member_offset("tcp_skb_cb", "tcp_gso_segs")?,
    })
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
        assert_ne!(config.skc_dport, config.skc_num);
        assert_ne!(config.skc_v6_daddr, config.skc_v6_rcv_saddr);
        assert!(config.skb_gso_segs > config.skc_family);
        assert_eq!(config_of(&["-c", "-6"]).family, u32::from(AF_INET6));
        assert_eq!(config_of(&["-4"]).family, u32::from(AF_INET));
    }
}
