//! tcprtt's eBPF program: at `tcp:tcp_probe` (the top of
//! `tcp_rcv_established()`, once per segment received on an established
//! connection, where libbpf-tools' tcprtt hooks with fentry), the socket's
//! smoothed RTT into a histogram.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::BPF_F_NO_PREALLOC,
    macros::map,
    maps::{PerCpuArray, PerCpuHashMap},
};
use tcprtt_ebpf::{AF_INET, AF_INET6, AddrKey, Config, dropped, key, maps::MAX_KEYS};
use toolkit_core::{Hist, LlHist};
use toolkit_kernel::{
    TracepointContext, bump, ctx_arg, global, hist_entry, hist_record_scaled, ll_hist_record,
    remember_cgroup_at, sock_address, socket_cgroup, whole_hist,
};

toolkit_kernel::object_globals!(Config, dropped::REASONS);

#[map]
static HISTS: PerCpuHashMap<AddrKey, Hist> = PerCpuHashMap::with_max_entries(MAX_KEYS, 0);

/// The one histogram when not split by address: a per-CPU array slot, no
/// hash lookup per segment.
#[map]
static TOTAL: PerCpuArray<Hist> = PerCpuArray::with_max_entries(1, 0);

/// Log-linear histograms (ns), same keys; allocated per key on first use.
#[map]
static LLHISTS: PerCpuHashMap<AddrKey, LlHist> =
    PerCpuHashMap::with_max_entries(MAX_KEYS, BPF_F_NO_PREALLOC);

/// The key of the one histogram (log-linear, with `--percentiles`) when
/// not split: a static, not built on the stack per segment.
static WHOLE: AddrKey = AddrKey::ZERO;

toolkit_kernel::cgroup_split_maps!(dropped::CGROUPS_FULL, dropped::LL_NO_MEMORY);

/// The local (`remote` false) or remote address of `sk` where the run
/// filters (`-a`/`-A`) or keys (`keyed`: `-b`/`-B`) by it: `Err` when the
/// filter leaves the segment out, `Ok(None)` when not keyed by it.
#[inline(always)]
fn side<C: TracepointContext>(
    sk: u64,
    family: u16,
    remote: bool,
    keyed: bool,
) -> Result<Option<[u8; 16]>, ()> {
    let (filter, wanted) = if remote {
        (global(&CONFIG.filter_raddr), &CONFIG.raddr)
    } else {
        (global(&CONFIG.filter_laddr), &CONFIG.laddr)
    };
    if filter == 0 && !keyed {
        return Ok(None);
    }
    let address = sock_address::<C>(sk, &CONFIG.sock, family, remote);
    if filter != 0 {
        match address {
            Some(address) if address == global(wanted) => {}
            _ => return Err(()),
        }
    }
    Ok(if keyed { address } else { None })
}

fn on_tcp_probe<C: TracepointContext>(ctx: &C) -> i32 {
    let sk = ctx_arg(ctx, 0);
    let sock = &CONFIG.sock;
    let Some(family) = C::arg_field::<u16>(sk, global(&sock.family)) else {
        return 0;
    };
    let wanted = global(&CONFIG.family);
    if (family != AF_INET && family != AF_INET6) || (wanted != 0 && family != wanted) {
        return 0;
    }
    let lport = global(&CONFIG.lport);
    if lport != 0 && C::arg_field::<u16>(sk, global(&sock.num)) != Some(lport) {
        return 0;
    }
    let rport = global(&CONFIG.rport);
    if rport != 0 && C::arg_field::<u16>(sk, global(&sock.dport)).map(u16::from_be) != Some(rport) {
        return 0;
    }
    let key_by = global(&CONFIG.key_by);
    let Ok(local) = side::<C>(sk, family, false, key_by == key::LOCAL) else {
        return 0;
    };
    let Ok(remote) = side::<C>(sk, family, true, key_by == key::REMOTE) else {
        return 0;
    };
    // A tcp_sock field, past the end of the argument's type (struct sock).
    let Some(srtt) =
        C::tcp_sock(sk).and_then(|tcp| C::arg_field::<u32>(tcp, global(&CONFIG.srtt_us)))
    else {
        return 0;
    };
    // srtt_us holds 8 times the smoothed RTT in microseconds.
    let usecs = u64::from(srtt >> 3);
    let rtt_ns = usecs * 1000;
    // The bucket's value in the run's unit: no division for usecs.
    let divisor = global(&CONFIG.unit_divisor);
    let scaled = if divisor == 1000 {
        usecs
    } else {
        rtt_ns.checked_div(divisor).unwrap_or(rtt_ns)
    };
    if key_by == key::CGROUP {
        let (cgroup, id) = socket_cgroup::<C>(sk, &sock.state, &CONFIG.sk_cgroup, &CONFIG.cgroup);
        let loglinear = global(&CONFIG.loglinear) != 0;
        if split_maps().record(id, rtt_ns, divisor, loglinear) && cgroup != 0 {
            remember_cgroup_at(&CGROUP_NAMES, id, cgroup, &CONFIG.cgroup);
        }
        return 0;
    }
    let addr = match key_by {
        key::LOCAL => local,
        key::REMOTE => remote,
        _ => None,
    };
    let split_key;
    let (key, hist) = if key_by == key::ALL {
        (&WHOLE, whole_hist(&TOTAL))
    } else {
        split_key = match addr {
            Some(addr) => AddrKey {
                family,
                _pad: [0; 6],
                addr,
            },
            None => AddrKey::ZERO,
        };
        (&split_key, hist_entry(&HISTS, &split_key))
    };
    match hist {
        Some(hist) => hist_record_scaled(hist, rtt_ns, scaled),
        None => {
            bump(&DROPPED, dropped::HIST_FULL);
            return 0;
        }
    }
    if global(&CONFIG.loglinear) != 0
        && let Err(no) = ll_hist_record(&LLHISTS, key, rtt_ns)
    {
        bump(
            &DROPPED,
            no.reason(dropped::HIST_FULL, dropped::LL_NO_MEMORY),
        );
    }
    0
}

toolkit_kernel::tracepoint_programs!("tcp_probe", tcp_probe_btf, tcp_probe_raw, on_tcp_probe);

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
