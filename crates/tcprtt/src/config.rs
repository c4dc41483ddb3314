//! The resolved options (built from the command line in `cli.rs`), and
//! from them and the kernel's BTF the configuration the kernel side reads
//! (`tcprtt_ebpf::Config`): a pure function, tested without loading
//! anything.

use std::net::IpAddr;

use anyhow::{Result, bail};
use tcprtt_ebpf::{AF_INET, AF_INET6, Config, key, maps};
use toolkit_load::KernelBtf;
use toolkit_report::Unit;

/// What to trace and how.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// One histogram ([`key::ALL`]), or one per local or remote address.
    pub key_by: u16,
    /// Only this address family (`AF_INET`, `AF_INET6`; 0 for both):
    /// [`config::family`].
    pub family: u16,
    /// Only this local address (`-a`).
    pub laddr: Option<IpAddr>,
    /// Only this remote address (`-A`).
    pub raddr: Option<IpAddr>,
    /// Only this local port (`-p`).
    pub lport: Option<u16>,
    /// Only this remote port (`-P`).
    pub rport: Option<u16>,
    /// Millisecond buckets.
    pub milliseconds: bool,
    /// Log-linear histograms too, for percentiles.
    pub loglinear: bool,
    /// With `-G` ([`key::CGROUP`]): how many cgroups to show.
    pub shown_cgroups: u32,
}

impl Options {
    /// The histograms' unit.
    pub fn unit(&self) -> Unit {
        Unit::latency(self.milliseconds, false)
    }
}

/// The tracepoint traced.
pub const TRACEPOINT: &str = "tcp_probe";

fn family_of(addr: &IpAddr) -> u16 {
    if addr.is_ipv4() { AF_INET } else { AF_INET6 }
}

fn bytes_of(addr: &IpAddr) -> [u8; 16] {
    let mut out = [0; 16];
    match addr {
        IpAddr::V4(a) => out[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => out = a.octets(),
    }
    out
}

/// The one address family asked for (0: both), from `-4`/`-6` and the
/// addresses filtered by (`-a`, `-A`), which must agree.
pub fn family(
    ipv4: bool,
    ipv6: bool,
    laddr: Option<&IpAddr>,
    raddr: Option<&IpAddr>,
) -> Result<u16> {
    let mut families = Vec::new();
    if ipv4 {
        families.push(("-4", AF_INET));
    }
    if ipv6 {
        families.push(("-6", AF_INET6));
    }
    if let Some(a) = laddr {
        families.push(("-a", family_of(a)));
    }
    if let Some(a) = raddr {
        families.push(("-A", family_of(a)));
    }
    match families.as_slice() {
        [] => Ok(0),
        [(_, first), rest @ ..] => {
            if let Some((option, _)) = rest.iter().find(|(_, f)| f != first) {
                bail!(
                    "{option} asks for another address family than {}: filter by IPv4 or IPv6, not both",
                    families[0].0
                );
            }
            Ok(*first)
        }
    }
}

pub fn build(options: &Options, btf: &KernelBtf) -> Result<Config> {
    Ok(Config {
        unit_divisor: options.unit().divisor(),
        laddr: options.laddr.as_ref().map_or([0; 16], bytes_of),
        raddr: options.raddr.as_ref().map_or([0; 16], bytes_of),
        lport: options.lport.unwrap_or(0),
        rport: options.rport.unwrap_or(0),
        family: options.family,
        key_by: options.key_by,
        filter_laddr: u32::from(options.laddr.is_some()),
        filter_raddr: u32::from(options.raddr.is_some()),
        loglinear: u32::from(options.loglinear),
        sock: btf.sock_offsets()?,
        // tcp_sock starts with its inet_connection_sock, which starts with
        // the sock: the offset in tcp_sock is the offset from the socket.
        srtt_us: btf.member_offset("tcp_sock", "srtt_us")?,
        sk_cgroup: match options.key_by {
            key::CGROUP => btf.sock_cgroup_offset()?,
            _ => 0,
        },
        _reserved: 0,
        cgroup: match options.key_by {
            key::CGROUP => btf.cgroup_offsets()?,
            _ => toolkit_core::CgroupOffsets::ZERO,
        },
    })
}

/// Map sizes: one histogram unless split; log-linear ones only when used.
pub fn map_sizes(options: &Options) -> Vec<(&'static str, u32)> {
    let keys = match options.key_by {
        key::ALL | key::CGROUP => 1,
        _ => maps::MAX_KEYS,
    };
    let ll = if options.loglinear { keys } else { 1 };
    let mut sizes = vec![(maps::HISTS, keys), (maps::LLHISTS, ll)];
    let split = options.key_by == key::CGROUP;
    sizes.extend(toolkit_cgroup::split_map_sizes(split, options.loglinear));
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_of(options: &Options) -> Config {
        build(options, &KernelBtf::load().unwrap()).unwrap()
    }

    #[test]
    fn defaults_trace_everything_in_usecs() {
        let config = config_of(&Options::default());
        assert_eq!(config.unit_divisor, 1000);
        assert_eq!(
            (config.family, config.key_by, config.lport),
            (0, key::ALL, 0)
        );
        assert!(config.srtt_us > config.sock.v6_daddr);
    }

    #[test]
    fn options_map_to_fields() {
        let raddr: IpAddr = "10.1.2.3".parse().unwrap();
        let config = config_of(&Options {
            milliseconds: true,
            lport: Some(80),
            rport: Some(443),
            raddr: Some(raddr),
            key_by: key::LOCAL,
            family: family(false, false, None, Some(&raddr)).unwrap(),
            ..Options::default()
        });
        assert_eq!(config.unit_divisor, 1_000_000);
        assert_eq!((config.lport, config.rport), (80, 443));
        assert_eq!((config.family, config.filter_raddr), (AF_INET, 1));
        assert_eq!(&config.raddr[..4], &[10, 1, 2, 3]);
        assert_eq!(config.key_by, key::LOCAL);
        assert_eq!(family(false, true, None, None).unwrap(), AF_INET6);
        let (v4, v6): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "fd00::1".parse().unwrap());
        let err = family(false, false, Some(&v4), Some(&v6)).unwrap_err();
        assert!(format!("{err}").contains("not both"), "{err}");
        assert!(family(false, true, None, Some(&v4)).is_err());
    }
}
