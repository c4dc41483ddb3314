//! From the command line and the kernel's BTF to the configuration the
//! kernel side reads (`tcprtt_ebpf::Config`): a pure function, tested
//! without loading anything.

use std::net::IpAddr;

use anyhow::{Result, bail};
use tcprtt_ebpf::{AF_INET, AF_INET6, Config, key, maps};
use toolkit_load::KernelBtf;
use toolkit_report::Unit;

use crate::cli::Cli;

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

/// The one address family `cli` asks for (0: both): from -4/-6 and the
/// addresses it filters by, which must agree.
fn family(cli: &Cli) -> Result<u16> {
    let mut families = Vec::new();
    if cli.ipv4 {
        families.push(("-4", AF_INET));
    }
    if cli.ipv6 {
        families.push(("-6", AF_INET6));
    }
    if let Some(a) = &cli.laddr {
        families.push(("-a", family_of(a)));
    }
    if let Some(a) = &cli.raddr {
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

pub fn unit(cli: &Cli) -> Unit {
    Unit::latency(cli.out.milliseconds, false)
}

pub fn build(cli: &Cli, btf: &KernelBtf) -> Result<Config> {
    let key_by = if cli.by_laddr {
        key::LOCAL
    } else if cli.by_raddr {
        key::REMOTE
    } else {
        key::ALL
    };
    Ok(Config {
        unit_divisor: unit(cli).divisor(),
        laddr: cli.laddr.as_ref().map_or([0; 16], bytes_of),
        raddr: cli.raddr.as_ref().map_or([0; 16], bytes_of),
        lport: cli.lport.unwrap_or(0),
        rport: cli.rport.unwrap_or(0),
        family: family(cli)?,
        key_by,
        filter_laddr: u32::from(cli.laddr.is_some()),
        filter_raddr: u32::from(cli.raddr.is_some()),
        loglinear: u32::from(cli.hires.loglinear()),
        sock: btf.sock_offsets()?,
        // tcp_sock starts with its inet_connection_sock, which starts with
        // the sock: the offset in tcp_sock is the offset from the socket.
        srtt_us: btf.member_offset("tcp_sock", "srtt_us")?,
    })
}

/// Map sizes: one histogram unless split; log-linear ones only when used.
pub fn map_sizes(cli: &Cli) -> [(&'static str, u32); 2] {
    let keys = if cli.by_laddr || cli.by_raddr {
        maps::MAX_KEYS
    } else {
        1
    };
    let ll_keys = if cli.hires.loglinear() { keys } else { 1 };
    [(maps::HISTS, keys), (maps::LLHISTS, ll_keys)]
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    fn config_of(args: &[&str]) -> Result<Config> {
        let cli =
            Cli::try_parse_from(std::iter::once("tcprtt").chain(args.iter().copied())).unwrap();
        build(&cli, &KernelBtf::load().unwrap())
    }

    #[test]
    fn defaults_trace_everything_in_usecs() {
        let config = config_of(&[]).unwrap();
        assert_eq!(config.unit_divisor, 1000);
        assert_eq!(
            (config.family, config.key_by, config.lport),
            (0, key::ALL, 0)
        );
        assert!(config.srtt_us > config.sock.v6_daddr);
    }

    #[test]
    fn options_map_to_fields() {
        let config = config_of(&["-m", "-p", "80", "-P", "443", "-A", "10.1.2.3", "-b"]).unwrap();
        assert_eq!(config.unit_divisor, 1_000_000);
        assert_eq!((config.lport, config.rport), (80, 443));
        assert_eq!((config.family, config.filter_raddr), (AF_INET, 1));
        assert_eq!(&config.raddr[..4], &[10, 1, 2, 3]);
        assert_eq!(config.key_by, key::LOCAL);
        assert_eq!(config_of(&["-6", "-B"]).unwrap().family, AF_INET6);
        let err = config_of(&["-a", "10.0.0.1", "-A", "fd00::1"]).unwrap_err();
        assert!(format!("{err}").contains("not both"), "{err}");
        assert!(config_of(&["-6", "-A", "10.0.0.1"]).is_err());
    }
}
