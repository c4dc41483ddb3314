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
    TracepointContext, bump, ctx_arg, global, hist_entry, hist_record, ll_hist_record, read_kernel,
    sock_address,
};

/// Set by userspace before load (see `Config`).
#[unsafe(no_mangle)]
static CONFIG: Config = Config::DEFAULT;

#[map]
static HISTS: PerCpuHashMap<AddrKey, Hist> = PerCpuHashMap::with_max_entries(MAX_KEYS, 0);

/// Log-linear histograms (ns), same keys; allocated per key on first use.
#[map]
static LLHISTS: PerCpuHashMap<AddrKey, LlHist> =
    PerCpuHashMap::with_max_entries(MAX_KEYS, BPF_F_NO_PREALLOC);

/// Samples that could not be recorded, by [`dropped`] index.
#[map]
static DROPPED: PerCpuArray<u64> = PerCpuArray::with_max_entries(dropped::REASONS.len() as u32, 0);

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
    let local = if global(&CONFIG.filter_laddr) != 0 || key_by == key::LOCAL {
        sock_address(sk, sock, family, false)
    } else {
        None
    };
    let remote = if global(&CONFIG.filter_raddr) != 0 || key_by == key::REMOTE {
        sock_address(sk, sock, family, true)
    } else {
        None
    };
    if global(&CONFIG.filter_laddr) != 0 && local != Some(global(&CONFIG.laddr)) {
        return 0;
    }
    if global(&CONFIG.filter_raddr) != 0 && remote != Some(global(&CONFIG.raddr)) {
        return 0;
    }
    // A tcp_sock field, past the end of the argument's type (struct sock):
    // out of bounds for a typed load, so through the helper.
    let Some(srtt) = read_kernel::<u32>(sk, global(&CONFIG.srtt_us)) else {
        return 0;
    };
    // srtt_us holds 8 times the smoothed RTT in microseconds.
    let rtt_ns = u64::from(srtt >> 3) * 1000;
    let addr = match key_by {
        key::LOCAL => local,
        key::REMOTE => remote,
        _ => None,
    };
    let key = match addr {
        Some(addr) => AddrKey {
            family,
            _pad: [0; 6],
            addr,
        },
        None => AddrKey::ZERO,
    };
    match hist_entry(&HISTS, &key) {
        Some(hist) => hist_record(hist, rtt_ns, global(&CONFIG.unit_divisor)),
        None => {
            bump(&DROPPED, dropped::HIST_FULL);
            return 0;
        }
    }
    if global(&CONFIG.loglinear) != 0
        && let Err(no) = ll_hist_record(&LLHISTS, &key, rtt_ns)
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
