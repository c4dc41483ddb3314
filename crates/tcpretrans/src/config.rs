//! The resolved options (built from the command line in `cli.rs`), and
//! from them and the kernel's BTF the configuration the kernel side reads
//! (`tcpretrans_ebpf::Config`): a pure function, tested without loading
//! anything.

use anyhow::Result;
use tcpretrans_ebpf::{Config, maps};
use toolkit_load::KernelBtf;

/// What to trace, resolved from the command line.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Counts per flow (`-c`) instead of an event per retransmit.
    pub count: bool,
    /// Only this address family (`AF_INET`, `AF_INET6`; 0 for both).
    pub family: u16,
    /// With `count`: slots per CPU for flows' counts (`--flow-slots`, a
    /// hidden option for tests); `None`: the default.
    pub flow_slots: Option<u32>,
    /// Counts per cgroup of the socket (`-G`): how many cgroups to show.
    pub per_cgroup: Option<u32>,
}

/// The tracepoint traced.
pub const TRACEPOINT: &str = "tcp_retransmit_skb";

/// The kernel side's configuration for `options`.
pub fn build(options: &Options, btf: &KernelBtf) -> Result<Config> {
    Ok(Config {
        count: u32::from(options.count),
        family: u32::from(options.family),
        // (sk, skb) before 6.13; (sk, skb, err) since.
        has_err_arg: u32::from(btf.tracepoint_arg_count(TRACEPOINT)? >= 3),
        sock: btf.sock_offsets()?,
        skb_gso_segs: btf.member_offset("sk_buff", "cb")?
            + btf.member_offset("tcp_skb_cb", "tcp_gso_segs")?,
        flow_slots: flow_slots(options),
        by_cgroup: u32::from(options.per_cgroup.is_some()),
        sk_cgroup: match options.per_cgroup {
            Some(_) => btf.sock_cgroup_offset()?,
            None => 0,
        },
        cgroup: match options.per_cgroup {
            Some(_) => btf.cgroup_offsets()?,
            None => toolkit_core::CgroupOffsets::ZERO,
        },
    })
}

/// Slots per CPU of `FLOW_SLOTS`, or with `-G` of `SOCKET_SLOTS` (0: none
/// used).
pub fn flow_slots(options: &Options) -> u32 {
    if options.count {
        options.flow_slots.unwrap_or(maps::FLOW_SLOTS_LEN)
    } else {
        0
    }
}

/// Map sizes: the flow maps only with -c, the socket and cgroup maps only
/// with -G.
pub fn map_sizes(options: &Options) -> [(&'static str, u32); 7] {
    let slots = flow_slots(options).max(1);
    let (flows, flow_slots, sockets, cgroups) = match options.per_cgroup {
        Some(_) => (1, 1, slots, toolkit_core::MAX_CGROUPS),
        None if options.count => (maps::MAX_FLOWS, slots, 1, 1),
        None => (1, 1, 1, 1),
    };
    let [cgroup_slots, cgroup_owners] =
        toolkit_cgroup::slot_map_sizes(options.per_cgroup.is_some());
    [
        cgroup_slots,
        cgroup_owners,
        (maps::FLOWS, flows),
        (maps::FLOW_SLOTS, flow_slots),
        (maps::SOCKET_SLOTS, sockets),
        (maps::CGROUPS, cgroups),
        (toolkit_core::CGROUP_NAMES_MAP, cgroups),
    ]
}

#[cfg(test)]
mod tests {
    use tcpretrans_ebpf::{AF_INET, AF_INET6};

    use super::*;

    fn config_of(options: Options) -> Config {
        build(&options, &KernelBtf::load().unwrap()).unwrap()
    }

    fn counting(flow_slots: Option<u32>) -> Options {
        Options {
            count: true,
            flow_slots,
            ..Options::default()
        }
    }

    #[test]
    fn options_and_this_kernels_offsets() {
        let config = config_of(Options::default());
        assert_eq!((config.count, config.family), (0, 0));
        assert_ne!(config.sock.dport, config.sock.num);
        assert_ne!(config.sock.v6_daddr, config.sock.v6_rcv_saddr);
        assert!(config.skb_gso_segs > config.sock.family);
        let v6 = Options {
            family: AF_INET6,
            ..counting(None)
        };
        assert_eq!(config_of(v6).family, u32::from(AF_INET6));
        let v4 = Options {
            family: AF_INET,
            ..Options::default()
        };
        assert_eq!(config_of(v4).family, u32::from(AF_INET));
    }

    #[test]
    fn flow_slots_only_with_count() {
        assert_eq!(config_of(Options::default()).flow_slots, 0);
        assert_eq!(config_of(counting(None)).flow_slots, maps::FLOW_SLOTS_LEN);
        assert_eq!(config_of(counting(Some(0))).flow_slots, 0);
        assert_eq!(config_of(counting(Some(1))).flow_slots, 1);
    }
}
