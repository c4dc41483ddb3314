//! What the kernel already counts: CPU time (/proc/stat), memory
//! (/proc/meminfo, /proc/pressure/memory), disks (/sys/block/*/stat),
//! interfaces (/proc/net/dev, /sys/class/net/*/speed) and the TCP stack
//! (/proc/net/snmp, /proc/net/netstat). Each is a snapshot; the figures of
//! an interval are the differences of two.

use std::{collections::BTreeMap, net::IpAddr};

/// CPU time in clock ticks: busy (running something: user, system, hard
/// and soft interrupts), its parts, steal (a VM's CPU taken away by the
/// hypervisor: neither busy nor idle here) and in all.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuTime {
    pub busy: u64,
    /// user + nice (guest time is already in them).
    pub user: u64,
    pub system: u64,
    pub irq: u64,
    pub softirq: u64,
    pub steal: u64,
    pub total: u64,
}

/// /proc/stat: every CPU together (`None`) and each CPU by number.
pub fn cpu_times() -> BTreeMap<Option<u32>, CpuTime> {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    parse_cpu_times(&text)
}

fn parse_cpu_times(text: &str) -> BTreeMap<Option<u32>, CpuTime> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(name) = fields.next().and_then(|n| n.strip_prefix("cpu")) else {
            continue;
        };
        let key = if name.is_empty() {
            None
        } else {
            match name.parse() {
                Ok(cpu) => Some(cpu),
                Err(_) => continue,
            }
        };
        // user nice system idle iowait irq softirq steal (guest time is
        // already in user and nice).
        let ticks: Vec<u64> = fields.take(8).filter_map(|f| f.parse().ok()).collect();
        if ticks.len() < 5 {
            continue;
        }
        let tick = |i: usize| ticks.get(i).copied().unwrap_or(0);
        let time = CpuTime {
            user: tick(0) + tick(1),
            system: tick(2),
            irq: tick(5),
            softirq: tick(6),
            steal: tick(7),
            busy: 0,
            total: ticks.iter().sum(),
        };
        let busy = time.user + time.system + time.irq + time.softirq;
        out.insert(key, CpuTime { busy, ..time });
    }
    out
}

/// /proc/meminfo's `MemTotal` and `MemAvailable`, in kB.
pub fn memory() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("MemTotal:")?, field("MemAvailable:")?))
}

/// PSI's memory `some` total (microseconds a task stalled on memory), when
/// the kernel has PSI.
pub fn memory_pressure_us() -> Option<u64> {
    pressure_us("memory")
}

/// PSI's CPU `some` total (microseconds a runnable task waited for a CPU),
/// when the kernel has PSI.
pub fn cpu_pressure_us() -> Option<u64> {
    pressure_us("cpu")
}

fn pressure_us(resource: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/pressure/{resource}"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("some "))?
        .split_whitespace()
        .find_map(|f| f.strip_prefix("total="))?
        .parse()
        .ok()
}

/// One disk's /sys/block/<name>/stat fields that the USE method needs.
#[derive(Clone, Copy, Debug, Default)]
pub struct DiskStat {
    /// The kernel's dev_t (major << 20 | minor), biolatency's key.
    pub dev: u32,
    /// Reads and writes completed (discards and flushes too).
    pub ios: u64,
    /// Milliseconds with at least one request in flight.
    pub io_ticks: u64,
    /// Milliseconds requests spent in flight, summed (the average queue
    /// depth's numerator).
    pub time_in_queue: u64,
}

/// Whole disks with a size: /sys/block, leaving out RAM disks and
/// detached loop devices.
pub fn disks() -> BTreeMap<String, DiskStat> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir("/sys/block")
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = toolkit_core::escape::escape_bytes(entry.file_name().as_encoded_bytes());
        let path = entry.path();
        let read = |f: &str| std::fs::read_to_string(path.join(f)).unwrap_or_default();
        if name.starts_with("ram") || read("size").trim() == "0" {
            continue;
        }
        let Some(dev) = biolatency::disks::parse_dev(&read("dev")) else {
            continue;
        };
        let fields: Vec<u64> = read("stat")
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        if fields.len() < 11 {
            continue;
        }
        // reads, writes, and (since 4.18) discards and (5.5) flushes.
        let ios =
            fields[0] + fields[4] + fields.get(11).unwrap_or(&0) + fields.get(15).unwrap_or(&0);
        out.insert(
            name,
            DiskStat {
                dev,
                ios,
                io_ticks: fields[9],
                time_in_queue: fields[10],
            },
        );
    }
    out
}

/// One interface's /proc/net/dev counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct NetDev {
    pub bytes: u64,
    /// Receive and transmit errors (the driver's sum of its error kinds).
    pub errors: u64,
}

/// The interfaces of this network namespace.
pub fn interfaces() -> BTreeMap<String, NetDev> {
    let text = std::fs::read_to_string("/proc/net/dev").unwrap_or_default();
    parse_net_dev(&text)
}

fn parse_net_dev(text: &str) -> BTreeMap<String, NetDev> {
    let mut out = BTreeMap::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let f: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        if f.len() < 16 {
            continue;
        }
        out.insert(
            name.trim().to_string(),
            NetDev {
                bytes: f[0] + f[8],
                errors: f[2] + f[10],
            },
        );
    }
    out
}

/// An interface's link speed in Mb/s, when its driver says (not virtual
/// devices).
pub fn link_speed_mbps(name: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/sys/class/net/{name}/speed"))
        .ok()?
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|&s| s > 0)
        .map(|s| s as u64)
}

/// The TCP stack's counters of this network namespace.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tcp {
    pub segments: u64,
    pub retransmits: u64,
    pub resets_sent: u64,
    pub listen_overflows: u64,
}

pub fn tcp() -> Tcp {
    let read = |p| std::fs::read_to_string(p).unwrap_or_default();
    let (snmp, netstat) = (read("/proc/net/snmp"), read("/proc/net/netstat"));
    let get = |text: &str, group, field| snmp_field(text, group, field).unwrap_or(0);
    Tcp {
        segments: get(&snmp, "Tcp", "InSegs") + get(&snmp, "Tcp", "OutSegs"),
        retransmits: get(&snmp, "Tcp", "RetransSegs"),
        resets_sent: get(&snmp, "Tcp", "OutRsts"),
        listen_overflows: get(&netstat, "TcpExt", "ListenOverflows"),
    }
}

/// A field of /proc/net/snmp or /proc/net/netstat: a line of names, then
/// a line of values, both starting with `group:`.
fn snmp_field(text: &str, group: &str, field: &str) -> Option<u64> {
    let prefix = format!("{group}:");
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with(&prefix)).collect();
    lines.chunks(2).find_map(|pair| {
        let (names, values) = (pair.first()?, pair.get(1)?);
        names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(n, _)| *n == field)
            .and_then(|(_, v)| v.parse().ok())
    })
}

/// The addresses of this namespace's interfaces, to put a TCP connection's
/// local address on its interface.
pub fn addresses() -> BTreeMap<IpAddr, String> {
    let mut out = BTreeMap::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a list it allocates, freed below.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return out;
    }
    let mut next = list;
    while !next.is_null() {
        // SAFETY: a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*next };
        next = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string of the list.
        let name = toolkit_core::escape::escape_bytes(
            unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }.to_bytes(),
        );
        // SAFETY: ifa_addr points to a sockaddr whose family says which
        // sockaddr_* it is.
        let addr = unsafe {
            match i32::from((*ifa.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let sin = &*ifa.ifa_addr.cast::<libc::sockaddr_in>();
                    IpAddr::from(u32::from_be(sin.sin_addr.s_addr).to_be_bytes())
                }
                libc::AF_INET6 => {
                    let sin6 = &*ifa.ifa_addr.cast::<libc::sockaddr_in6>();
                    IpAddr::from(sin6.sin6_addr.s6_addr)
                }
                _ => continue,
            }
        };
        out.insert(addr, name);
    }
    // SAFETY: the list getifaddrs allocated, freed once.
    unsafe { libc::freeifaddrs(list) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_busy_leaves_out_idle_iowait_and_steal() {
        let text = "cpu  10 1 5 100 4 3 2 7 0 0\ncpu0 6 1 3 40 2 0 1 0 0 0\nintr 1 2\n";
        let times = parse_cpu_times(text);
        let all = times[&None];
        assert_eq!(all.total, 132);
        assert_eq!(all.busy, 21);
        assert_eq!(
            (all.user, all.system, all.irq, all.softirq, all.steal),
            (11, 5, 3, 2, 7)
        );
        assert_eq!(all.user + all.system + all.irq + all.softirq, all.busy);
        assert_eq!(times[&Some(0)].busy, 11);
        assert_eq!(times.len(), 2);
    }

    #[test]
    fn net_dev_sums_both_directions() {
        let text = "Inter-|   Receive\n face |bytes\n  eth0: 100 2 3 4 0 0 0 0 50 1 5 0 0 0 0 0\n";
        let devs = parse_net_dev(text);
        assert_eq!(devs["eth0"].bytes, 150);
        assert_eq!(devs["eth0"].errors, 8);
    }

    #[test]
    fn snmp_fields_by_name() {
        let text = "Tcp: RtoAlgorithm InSegs RetransSegs\nTcp: 1 42 7\nUdp: InDatagrams\nUdp: 3\n";
        assert_eq!(snmp_field(text, "Tcp", "RetransSegs"), Some(7));
        assert_eq!(snmp_field(text, "Udp", "InDatagrams"), Some(3));
        assert_eq!(snmp_field(text, "Tcp", "Nope"), None);
    }
}
