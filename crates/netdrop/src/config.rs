//! The resolved options (built from the command line in `cli.rs`), and
//! from them and the kernel's BTF what the kernel side reads: the
//! configuration (`netdrop_ebpf::Config`) and the set of reasons to count.
//! Pure functions, tested without loading anything.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use netdrop_ebpf::{Config, MAX_REASONS};
use toolkit_load::KernelBtf;

/// What to count.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Key drops by the interface (name and network namespace) too (`-I`).
    pub by_interface: bool,
    /// Count subsystem-encoded reasons too (values beyond the enum's
    /// switch), as when no `-r` list is given.
    pub count_unlisted: bool,
    /// The `enum skb_drop_reason` values to count
    /// ([`config::Reasons::selected`]).
    pub counted: Vec<u32>,
    /// Key drops by the cgroup v2 of the packet's socket too (`-G`): how
    /// many cgroups to show.
    pub per_cgroup: Option<u32>,
}

/// Reasons that are not drops: `kfree_skb` never reports the first two on
/// current kernels (they go to `consume_skb`), and the sentinel is not a
/// reason.
const NEVER_DROPS: [&str; 3] = ["NOT_DROPPED_YET", "CONSUMED", "MAX"];
/// Legacy `kfree_skb()` callers that give no reason: some are drops, some
/// are not, so they are left out unless asked for.
pub const NOT_SPECIFIED: &str = "NOT_SPECIFIED";

/// This kernel's drop reasons (`enum skb_drop_reason`), by value, named
/// without the `SKB_DROP_REASON_` / `SKB_` prefix.
#[derive(Debug, Clone)]
pub struct Reasons {
    names: BTreeMap<u32, String>,
}

impl Reasons {
    pub fn from_btf(btf: &KernelBtf) -> Result<Self> {
        let names = btf
            .enum_values("skb_drop_reason")?
            .into_iter()
            .filter_map(|(name, value)| {
                let short = name
                    .strip_prefix("SKB_DROP_REASON_")
                    .or_else(|| name.strip_prefix("SKB_"))
                    .unwrap_or(&name);
                Some((u32::try_from(value).ok()?, short.to_string()))
            })
            .collect();
        Ok(Self { names })
    }

    /// The name of reason `value`; a subsystem-encoded reason (outside the
    /// enum) by its number.
    pub fn name(&self, value: u32) -> String {
        self.names
            .get(&value)
            .cloned()
            .unwrap_or_else(|| format!("REASON_{value:#x}"))
    }

    /// Every drop reason (not the sentinels), in value order.
    pub fn drops(&self) -> impl Iterator<Item = (u32, &str)> {
        self.names
            .iter()
            .filter(|(_, n)| !NEVER_DROPS.contains(&n.as_str()))
            .map(|(&v, n)| (v, n.as_str()))
    }

    fn value(&self, name: &str) -> Result<u32> {
        match self.drops().find(|(_, n)| *n == name) {
            Some((value, _)) => Ok(value),
            None => bail!(
                "unknown drop reason '{}' (netdrop -l lists this kernel's)",
                toolkit_core::escape::clip(name)
            ),
        }
    }

    /// The values to count: the `include` list (-r), or every drop reason
    /// but NOT_SPECIFIED (unless `all`), minus the `exclude` list (-x).
    pub fn selected(&self, include: &[String], exclude: &[String], all: bool) -> Result<Vec<u32>> {
        let mut values: Vec<u32> = if include.is_empty() {
            self.drops()
                .filter(|(_, n)| all || *n != NOT_SPECIFIED)
                .map(|(v, _)| v)
                .collect()
        } else {
            include
                .iter()
                .map(|n| self.value(n))
                .collect::<Result<_>>()?
        };
        for name in exclude {
            let value = self.value(name)?;
            values.retain(|&v| v != value);
        }
        values.retain(|&v| v < MAX_REASONS);
        values.sort_unstable();
        values.dedup();
        if values.is_empty() {
            // It would print "no packet drops" forever, whatever dropped.
            bail!(
                "-x excludes every reason {}: nothing would ever be counted",
                if include.is_empty() {
                    "there is"
                } else {
                    "-r names"
                }
            );
        }
        Ok(values)
    }
}

/// The kernel side's configuration for `options`.
pub fn build(options: &Options, btf: &KernelBtf) -> Result<Config> {
    Ok(Config {
        by_interface: u32::from(options.by_interface),
        count_unlisted: u32::from(options.count_unlisted),
        skb_dev: btf.member_offset("sk_buff", "dev")?,
        skb_protocol: btf.member_offset("sk_buff", "protocol")?,
        skb_head: btf.member_offset("sk_buff", "head")?,
        skb_network_header: btf.member_offset("sk_buff", "network_header")?,
        netdev_name: btf.member_offset("net_device", "name")?,
        // possible_net_t: an anonymous struct of one member, `struct net *net`.
        netdev_net: btf.member_offset("net_device", "nd_net")?,
        net_ns_inum: btf.member_offset("net", "ns")? + btf.member_offset("ns_common", "inum")?,
        ..socket_cgroup(options, btf)?
    })
}

/// With `-G`, the way from a packet to its socket's cgroup; zero otherwise.
fn socket_cgroup(options: &Options, btf: &KernelBtf) -> Result<Config> {
    if options.per_cgroup.is_none() {
        return Ok(Config::DEFAULT);
    }
    Ok(Config {
        by_cgroup: 1,
        skb_sk: btf.member_offset("sk_buff", "sk")?,
        sk_state: btf.sock_offsets()?.state,
        sk_cgroup: btf.sock_cgroup_offset()?,
        cgroup: btf.cgroup_offsets()?,
        ..Config::DEFAULT
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn this_kernels_reasons_are_named_without_prefix() {
        let reasons = Reasons::from_btf(&KernelBtf::load().unwrap()).unwrap();
        let names: Vec<&str> = reasons.drops().map(|(_, n)| n).collect();
        for expected in [
            "NOT_SPECIFIED",
            "NO_SOCKET",
            "SOCKET_RCVBUFF",
            "NETFILTER_DROP",
        ] {
            assert!(names.contains(&expected), "{expected} missing: {names:?}");
        }
        assert!(!names.contains(&"CONSUMED") && !names.contains(&"MAX"));
    }

    #[test]
    fn selection_follows_options() {
        let reasons = Reasons::from_btf(&KernelBtf::load().unwrap()).unwrap();
        let value = |n| reasons.value(n).unwrap();
        let default = reasons.selected(&[], &[], false).unwrap();
        assert!(default.contains(&value("NO_SOCKET")));
        assert!(!default.contains(&value(NOT_SPECIFIED)));
        assert!(
            reasons
                .selected(&[], &[], true)
                .unwrap()
                .contains(&value(NOT_SPECIFIED))
        );
        let only = reasons
            .selected(
                &names(&["NO_SOCKET", "NETFILTER_DROP"]),
                &names(&["NO_SOCKET"]),
                false,
            )
            .unwrap();
        assert_eq!(only, [value("NETFILTER_DROP")]);
        let err = reasons
            .selected(&names(&["NO_SUCH_REASON"]), &[], false)
            .unwrap_err();
        assert!(format!("{err}").contains("unknown drop reason 'NO_SUCH_REASON'"));
        // A selection that can never count anything is refused.
        let err = reasons
            .selected(&names(&["NO_SOCKET"]), &names(&["NO_SOCKET"]), false)
            .unwrap_err();
        assert!(format!("{err}").contains("-x excludes every reason -r names"));
        let every: Vec<String> = reasons.drops().map(|(_, n)| n.to_string()).collect();
        let err = reasons.selected(&[], &every, true).unwrap_err();
        assert!(format!("{err}").contains("-x excludes every reason there is"));
    }

    #[test]
    fn offsets_come_from_this_kernel() {
        let options = |by_interface, count_unlisted| Options {
            by_interface,
            count_unlisted,
            counted: Vec::new(),
            per_cgroup: None,
        };
        let config = build(&options(true, true), &KernelBtf::load().unwrap()).unwrap();
        assert_eq!((config.by_interface, config.count_unlisted), (1, 1));
        assert_ne!(config.skb_dev, config.skb_protocol);
        assert_ne!(config.skb_head, 0);
        assert_ne!(config.net_ns_inum, 0); // struct net does not start with its ns
        assert_ne!(config.netdev_net, config.netdev_name);
        assert_eq!(
            build(&options(false, false), &KernelBtf::load().unwrap())
                .unwrap()
                .count_unlisted,
            0
        );
        // Without -G nothing of the socket is read.
        assert_eq!(config.skb_sk, 0);
    }

    /// This kernel's sockets point to their cgroup: -G finds the way.
    #[test]
    fn per_cgroup_reads_the_sockets_cgroup() {
        let options = Options {
            per_cgroup: Some(50),
            ..Options::default()
        };
        let config = build(&options, &KernelBtf::load().unwrap()).unwrap();
        assert_eq!(config.by_cgroup, 1);
        assert!(config.skb_sk != 0 && config.sk_cgroup != 0, "{config:?}");
        assert_ne!(config.cgroup.kernfs_node_id, 0);
    }
}
