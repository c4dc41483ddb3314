//! Per-syscall latency tracing, shared by `syslat` (every syscall, or a
//! chosen set) and `memlat` (the memory-management syscalls): load and
//! attach the eBPF object, drain it interval by interval, print histograms.

use std::{
    collections::BTreeMap,
    io::{self, Write},
};

use anyhow::{Context as _, Result};
use aya::{Ebpf, maps::Array};
use common_ebpf::{
    Hist, LlHist,
    user::{
        ArrayDrain, DropReport, HistDrain, Hook, KernelBtf, Losses, OpenMetrics, Unit,
        attach_tracepoints, check_privileges, drain_optional, load_object,
        names::{errno_name, syscall_name},
        output::{json_hist, json_loglinear, print_percentiles},
        print_log2_hist, print_summary,
    },
};
use serde_json::{Map, Value};
use syslat_ebpf::SYSCALL_SLOTS;

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/syslat"));

/// What to trace and how.
#[derive(Debug, Default)]
pub struct Options {
    /// Only this process.
    pub pid: Option<u32>,
    /// Only this thread.
    pub tid: Option<u32>,
    /// Only these syscall numbers (filtered in the kernel).
    pub syscalls: Option<Vec<u32>>,
    /// Only failed calls.
    pub failed_only: bool,
    /// Count failed calls per syscall and errno.
    pub count_errors: bool,
    /// Histograms of the length requested from mmap and mremap.
    pub record_sizes: bool,
    /// Log-linear latency histograms too, for percentiles.
    pub loglinear: bool,
    /// Direct reclaim stalls, global and memory-cgroup (memlat `--reclaim`).
    pub reclaim: bool,
    /// Reclaim stalls per process (memlat `-P`).
    pub reclaim_per_process: bool,
}

/// The kernel's direct-reclaim tracepoints, global then memory-cgroup.
const RECLAIM_TRACEPOINTS: [&str; 4] = [
    "mm_vmscan_direct_reclaim_end",
    "mm_vmscan_direct_reclaim_begin",
    "mm_vmscan_memcg_reclaim_end",
    "mm_vmscan_memcg_reclaim_begin",
];

/// One interval's figures.
pub struct Interval {
    /// Latency histogram per syscall number.
    pub latency: Vec<(u32, Hist)>,
    /// `(syscall, errno, failed calls)`, with `count_errors`.
    pub errors: Vec<(u32, u32, u64)>,
    /// Requested-length histogram per syscall number, with `record_sizes`.
    pub sizes: Vec<(u32, Hist)>,
    /// Log-linear latency histogram per syscall number, with `loglinear`.
    pub loglinear: BTreeMap<u32, LlHist>,
    /// Direct reclaim stall histograms, keyed `tgid << 8 | kind`
    /// (`syslat_ebpf::reclaim`; tgid 0 unless per process).
    pub reclaim: Vec<(u64, Hist)>,
    /// Their log-linear twins, with `loglinear`.
    pub reclaim_ll: BTreeMap<u64, LlHist>,
    /// What the kernel side could not record.
    pub lost: Losses,
}

impl Interval {
    /// Adds everything measured to the OpenMetrics totals and rewrites the
    /// file: latency, failed calls and requested sizes (when counted), and
    /// lost samples.
    pub fn publish(&self, om: &mut OpenMetrics) {
        for &(nr, errno, count) in &self.errors {
            om.count(
                "failures",
                "Failed calls, by syscall and errno.",
                &["syscall", "errno"],
                vec![syscall_name(nr), errno_name(errno)],
                count,
            );
        }
        if !self.reclaim.is_empty() {
            om.histograms(
                "reclaim",
                "Time tasks stalled in direct reclaim, by kind (direct, memcg).",
                Some("kind"),
                om.latency_unit(),
                self.reclaim.iter().map(|(key, h)| {
                    let kind = if key & 0xff == syslat_ebpf::reclaim::MEMCG {
                        "memcg"
                    } else {
                        "direct"
                    };
                    let name = match key >> 8 {
                        0 => kind.to_string(),
                        pid => format!("{kind}:{pid}"),
                    };
                    (name, h)
                }),
            );
        }
        if !self.sizes.is_empty() {
            om.histograms(
                "request_size",
                "Lengths requested from mmap and mremap.",
                Some("syscall"),
                Unit::Bytes,
                self.sizes.iter().map(|(nr, h)| (syscall_name(*nr), h)),
            );
        }
        om.end_interval(
            self.latency.iter().map(|(nr, h)| (syscall_name(*nr), h)),
            &self.lost,
        );
    }
}

/// The attached programs and their maps.
pub struct Tracer {
    ebpf: Ebpf,
    latency: ArrayDrain<Hist>,
    errors: HistDrain<u64, [u64; 2]>,
    sizes: HistDrain<u32>,
    loglinear: Option<HistDrain<u32, LlHist>>,
    reclaim: Option<HistDrain<u64>>,
    reclaim_ll: Option<HistDrain<u64, LlHist>>,
    drops: DropReport,
}

impl Tracer {
    /// Loads the object for `tool` with `options` and attaches it.
    pub fn attach(tool: &'static str, options: &Options, unit: Unit) -> Result<Self> {
        check_privileges()?;
        let btf = KernelBtf::load()?;
        let tracepoints = ["sys_exit", "sys_enter"];
        btf.require_tracepoints(&tracepoints)?;
        // Memory-cgroup reclaim needs CONFIG_MEMCG; global reclaim is
        // always there.
        let reclaim: Vec<&str> = RECLAIM_TRACEPOINTS
            .into_iter()
            .filter(|tp| options.reclaim && btf.has_tracepoint(tp))
            .collect();
        if options.reclaim {
            btf.require_tracepoints(&RECLAIM_TRACEPOINTS[..2])?;
        }
        let mut ebpf = load(btf, options, unit)?;
        if let Some(syscalls) = &options.syscalls {
            let mut watched: Array<_, u32> = Array::try_from(
                ebpf.map_mut("WATCHED")
                    .context("map WATCHED missing from the object")?,
            )?;
            for &nr in syscalls {
                if nr < SYSCALL_SLOTS {
                    watched.set(nr, 1, 0)?;
                }
            }
        }
        // sys_exit first: a syscall entered before sys_exit is attached is
        // then never half-seen.
        attach_tracepoints(&mut ebpf, &tracepoints, Hook::RawTracePoint)?;
        // Ends before begins, for the same reason.
        if !reclaim.is_empty() {
            attach_tracepoints(&mut ebpf, &reclaim, Hook::RawTracePoint)?;
        }
        let mut latency = ArrayDrain::new(&mut ebpf, "HISTS")?;
        if let Some(syscalls) = &options.syscalls {
            latency = latency.only(syscalls.iter().copied());
        }
        let errors = HistDrain::new(&mut ebpf, "ERRORS")?;
        let sizes = HistDrain::new(&mut ebpf, "SIZES")?;
        let loglinear = options
            .loglinear
            .then(|| HistDrain::new(&mut ebpf, "LLHISTS"))
            .transpose()?;
        let reclaim = options
            .reclaim
            .then(|| HistDrain::new(&mut ebpf, "RECLAIM"))
            .transpose()?;
        let reclaim_ll = (options.reclaim && options.loglinear)
            .then(|| HistDrain::new(&mut ebpf, "RECLAIM_LL"))
            .transpose()?;
        Ok(Self {
            ebpf,
            latency,
            errors,
            sizes,
            loglinear,
            reclaim,
            reclaim_ll,
            drops: DropReport::new(
                tool,
                "DROPPED",
                &[
                    "no task storage for a start time",
                    "latency histogram map full",
                    "failed-call map full",
                    "size histogram map full",
                    "no task storage for a reclaim start time, or reclaim map full",
                ],
            ),
        })
    }

    /// What happened since the last call (or since attaching).
    pub fn interval(&mut self) -> Result<Interval> {
        let latency = self.latency.drain()?;
        let errors = self
            .errors
            .drain()?
            .into_iter()
            .map(|(key, [count, _])| ((key >> 32) as u32, key as u32, count))
            .collect();
        let sizes = self.sizes.drain()?;
        let loglinear = drain_optional(&mut self.loglinear)?;
        let reclaim = match &mut self.reclaim {
            Some(drain) => drain.drain()?,
            None => Vec::new(),
        };
        let reclaim_ll = drain_optional(&mut self.reclaim_ll)?;
        let lost = self.drops.check(&self.ebpf)?;
        Ok(Interval {
            latency,
            errors,
            sizes,
            loglinear,
            reclaim,
            reclaim_ll,
            lost,
        })
    }
}

fn load(btf: KernelBtf, options: &Options, unit: Unit) -> Result<Ebpf> {
    let flag = |on: bool| u32::from(on);
    let regs = |member: &str| btf.member_offset("pt_regs", member);
    let u32s = [
        ("FILTER_PID", options.pid.unwrap_or(0)),
        ("FILTER_TID", options.tid.unwrap_or(0)),
        ("SELF_PID", std::process::id()),
        ("FILTER_SYSCALLS", flag(options.syscalls.is_some())),
        ("FILTER_FAILED", flag(options.failed_only)),
        ("COUNT_ERRORS", flag(options.count_errors)),
        ("RECORD_SIZES", flag(options.record_sizes)),
        ("LOGLINEAR", flag(options.loglinear)),
        ("RECLAIM_PER_PROCESS", flag(options.reclaim_per_process)),
        ("OFF_PT_REGS_SI", regs("si")?),
        ("OFF_PT_REGS_DX", regs("dx")?),
    ];
    drop(btf); // before aya's loader parses its own copy
    // Histograms indexed by syscall number, up to the highest traced one;
    // failures and sizes only when asked.
    let syscalls = options.syscalls.as_ref().map_or(SYSCALL_SLOTS, |s| {
        s.iter().max().map_or(1, |&nr| (nr + 1).min(SYSCALL_SLOTS))
    });
    let errors = if options.count_errors { 4096 } else { 1 };
    let sizes = if options.record_sizes { 8 } else { 1 };
    let loglinear = if options.loglinear { SYSCALL_SLOTS } else { 1 };
    let reclaim = match (options.reclaim, options.reclaim_per_process) {
        (false, _) => 1,
        (true, false) => 2,
        (true, true) => 10240,
    };
    let reclaim_ll = if options.loglinear { reclaim } else { 1 };
    load_object(
        OBJECT,
        &u32s,
        &[("UNIT_DIVISOR", unit.divisor())],
        &[
            ("HISTS", syscalls),
            ("ERRORS", errors),
            ("SIZES", sizes),
            ("LLHISTS", loglinear),
            ("RECLAIM", reclaim),
            ("RECLAIM_LL", reclaim_ll),
        ],
    )
}

/// Log-linear histograms by syscall number and the percentiles to print
/// from them (`--percentiles`).
pub type Percentiles<'a> = (&'a BTreeMap<u32, LlHist>, &'a [f64]);

/// Prints `hists` (already in display order), each headed `label = name`
/// and followed by its exact summary line, with percentiles when given.
pub fn write_hists(
    w: &mut impl Write,
    label: &str,
    hists: &[(u32, Hist)],
    unit: Unit,
    percentiles: Option<Percentiles>,
) -> io::Result<()> {
    for (nr, hist) in hists {
        writeln!(w, "\n{label} = {}", syscall_name(*nr))?;
        print_log2_hist(w, &hist.slots, unit.label())?;
        match percentiles.and_then(|(ll, ps)| Some((ll.get(nr)?, ps))) {
            Some((ll, ps)) => print_percentiles(w, ll, ps, unit)?,
            None => print_summary(w, hist, unit)?,
        }
    }
    Ok(())
}

/// `hists` as JSON histograms keyed by `{"syscall": name}`, with their
/// log-linear bins and percentiles when given.
pub fn json_hists(hists: &[(u32, Hist)], percentiles: Option<Percentiles>) -> Vec<Value> {
    hists
        .iter()
        .map(|(nr, hist)| {
            let mut key = Map::new();
            key.insert("syscall".into(), syscall_name(*nr).into());
            let mut value = json_hist(key, hist);
            if let (Some((ll, ps)), Value::Object(fields)) = (percentiles, &mut value)
                && let Some(ll) = ll.get(nr)
            {
                fields.extend(json_loglinear(ll, ps));
            }
            value
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_headed_by_name_and_ends_with_summary() {
        let mut hist = Hist::ZERO;
        hist.slots[1] = 3;
        hist.count = 3;
        hist.sum = 6_000;
        hist.max = 2_500;
        let mut out = Vec::new();
        write_hists(&mut out, "syscall", &[(0, hist)], Unit::Usecs, None).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "syscall = read");
        assert!(lines[2].contains("usecs"), "{text}");
        assert_eq!(
            lines.last().unwrap(),
            &"count = 3, mean = 2.0 usecs, max = 2.5 usecs"
        );
        let json = json_hists(&[(0, hist)], None);
        assert_eq!(json[0]["key"]["syscall"], "read");
        assert_eq!(json[0]["count"], 3);
    }
}
