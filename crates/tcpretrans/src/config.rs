//! From the command line and the kernel's BTF to the configuration the
//! kernel side reads (`tcpretrans_ebpf::Config`): a pure function, tested
//! without loading anything.

use anyhow::Result;
use tcpretrans_ebpf::{AF_INET, AF_INET6, Config};
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
        assert_ne!(config.sock.dport, config.sock.num);
        assert_ne!(config.sock.v6_daddr, config.sock.v6_rcv_saddr);
        assert!(config.skb_gso_segs > config.sock.family);
        assert_eq!(config_of(&["-c", "-6"]).family, u32::from(AF_INET6));
        assert_eq!(config_of(&["-4"]).family, u32::from(AF_INET));
    }
}
