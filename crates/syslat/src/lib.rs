//! Per-syscall latency tracing, shared by `syslat` (every syscall, or a
//! chosen set) and `memlat` (the memory-management syscalls): load and
//! attach the eBPF object, drain it interval by interval, print histograms.

pub mod config;

use std::collections::BTreeMap;

use anyhow::Result;
use aya::Ebpf;
use serde_json::Map;
use syslat_ebpf::{Config, dropped, maps};
use toolkit_cgroup::{CgroupName, CgroupNames, SplitDrain, SplitHists};
use toolkit_core::{Hist, LlHist};
use toolkit_drain::{ArrayDrain, CommTable, HistDrain, Losses, drain_optional};
use toolkit_load::{Hook, KernelBtf};
use toolkit_report::{
    HistRow, OpenMetrics, Unit,
    names::{errno_name, syscall_name},
};
use toolkit_session::{Attach, Session, Tool, switch_on};

pub use config::Options;
/// The reclaim kinds of the kernel side's keys, for memlat's report.
pub use syslat_ebpf::reclaim;

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/syslat"));

/// The kernel's direct-reclaim tracepoints, global then memory-cgroup.
const RECLAIM_TRACEPOINTS: [&str; 4] = [
    "mm_vmscan_direct_reclaim_end",
    "mm_vmscan_direct_reclaim_begin",
    "mm_vmscan_memcg_reclaim_end",
    "mm_vmscan_memcg_reclaim_begin",
];

/// One interval's figures.
pub struct Interval {
    /// Latency histogram per syscall number, or per process (tgid) with
    /// `per_process`.
    pub latency: Vec<(u32, Hist)>,
    /// `(syscall, errno, failed calls)`, with `count_errors`.
    pub errors: Vec<(u32, u32, u64)>,
    /// Requested-length histogram per syscall number, with `record_sizes`.
    pub sizes: Vec<(u32, Hist)>,
    /// Log-linear latency histogram per syscall number (or process), with
    /// `loglinear`.
    pub loglinear: BTreeMap<u32, LlHist>,
    /// Direct reclaim stall histograms, keyed `tgid << 8 | kind`
    /// (`syslat_ebpf::reclaim`; tgid 0 unless per process).
    pub reclaim: Vec<(u64, Hist)>,
    /// Their log-linear twins, with `loglinear`.
    pub reclaim_ll: BTreeMap<u64, LlHist>,
    /// With `per_cgroup`: the latency histograms by cgroup, folded into
    /// the split's rows (`latency` is then empty).
    pub cgroups: Option<SplitHists>,
    /// With `per_cgroup` and `reclaim`: the name of each cgroup in a
    /// reclaim key (the id above the kind).
    pub reclaim_cgroups: BTreeMap<u64, CgroupName>,
    /// What the kernel side could not record.
    pub lost: Losses,
}

impl Interval {
    /// Adds everything measured to the OpenMetrics totals and rewrites the
    /// file: latency, failed calls and requested sizes (when counted), and
    /// lost samples.
    fn publish(&self, om: &mut OpenMetrics, per_process: bool) {
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
                    let ll = self.reclaim_ll.get(key);
                    let kind = if key & 0xff == syslat_ebpf::reclaim::MEMCG {
                        "memcg"
                    } else {
                        "direct"
                    };
                    let name = match (key >> 8, self.reclaim_cgroups.get(&(key >> 8))) {
                        (0, _) => kind.to_string(),
                        (_, Some(cgroup)) => format!("{kind}:{}", cgroup.path),
                        (pid, None) => format!("{kind}:{pid}"),
                    };
                    (name, (h, ll))
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
        if let Some(split) = &self.cgroups {
            om.end_interval(split.labelled(), &self.lost);
        } else {
            let name = |key: u32| match per_process {
                true => key.to_string(),
                false => syscall_name(key),
            };
            om.end_interval(
                self.latency
                    .iter()
                    .map(|(key, h)| (name(*key), (h, self.loglinear.get(key)))),
                &self.lost,
            );
        }
    }
}

/// syslat (and memlat) as a [`Tool`]: its object on the syscall
/// tracepoints, and on the reclaim ones for memlat `--reclaim`.
pub struct Syslat;

impl Tool for Syslat {
    const OBJECT: &'static [u8] = OBJECT;
    const DROP_REASONS: &'static [&'static str] = dropped::REASONS;
    type Options = Options;
    type Config = Config;

    fn config(options: &Options, btf: &KernelBtf) -> Result<Config> {
        config::build(options, btf, std::process::id())
    }

    fn attach(options: &Options, _: &Config, btf: &KernelBtf) -> Result<Vec<Attach>> {
        // sys_exit first: a syscall entered before sys_exit is attached is
        // then never half-seen.
        let mut syscalls = vec!["sys_exit", "sys_enter"];
        if options.per_process {
            syscalls.push("sched_process_exec");
        }
        let mut groups = vec![Attach::new(syscalls, Hook::RawTracePoint)];
        if options.reclaim {
            // Memory-cgroup reclaim needs CONFIG_MEMCG; global reclaim is
            // always there. Ends before begins, for the same reason.
            btf.require_tracepoints(&RECLAIM_TRACEPOINTS[..2])?;
            let reclaim = RECLAIM_TRACEPOINTS
                .into_iter()
                .filter(|tp| btf.has_tracepoint(tp));
            groups.push(Attach::new(reclaim, Hook::RawTracePoint));
        }
        Ok(groups)
    }

    fn map_sizes(options: &Options) -> Vec<(&'static str, u32)> {
        config::map_sizes(options)
    }

    fn prepare(options: &Options, ebpf: &mut Ebpf) -> Result<()> {
        match &options.syscalls {
            Some(syscalls) => switch_on(ebpf, maps::WATCHED, syscalls.iter().copied(), 1u32),
            None => Ok(()),
        }
    }
}

/// The attached programs and their maps.
pub struct Tracer {
    session: Session,
    latency: ArrayDrain<Hist>,
    processes: Option<(HistDrain<u32>, CommTable)>,
    errors: HistDrain<u64, [u64; 2]>,
    sizes: HistDrain<u32>,
    loglinear: Option<HistDrain<u32, LlHist>>,
    reclaim: Option<HistDrain<u64>>,
    reclaim_ll: Option<HistDrain<u64, LlHist>>,
    cgroups: Option<SplitDrain>,
}

impl Tracer {
    /// Loads the object for `tool` with `options` and attaches it, with
    /// the kernel's `btf` (read once by the caller).
    pub fn attach(tool: &'static str, btf: &KernelBtf, options: &Options) -> Result<Self> {
        let mut session = Session::start::<Syslat>(tool, btf, options)?;
        let ebpf = session.ebpf();
        let mut latency = ArrayDrain::new(ebpf, maps::HISTS)?;
        if let Some(syscalls) = &options.syscalls
            && !options.per_process
        {
            latency = latency.only(syscalls.iter().copied());
        }
        let processes = if options.per_process {
            Some((
                HistDrain::new(ebpf, maps::PROCESSES)?,
                CommTable::new(ebpf, maps::COMMS)?,
            ))
        } else {
            None
        };
        let errors = HistDrain::new(ebpf, maps::ERRORS)?;
        let sizes = HistDrain::new(ebpf, maps::SIZES)?;
        let loglinear = options
            .loglinear
            .then(|| HistDrain::new(ebpf, maps::LLHISTS))
            .transpose()?;
        let reclaim = options
            .reclaim
            .then(|| HistDrain::new(ebpf, maps::RECLAIM))
            .transpose()?;
        let reclaim_ll = (options.reclaim && options.loglinear)
            .then(|| HistDrain::new(ebpf, maps::RECLAIM_LL))
            .transpose()?;
        let cgroups = options
            .per_cgroup
            .map(|shown| SplitDrain::new(ebpf, options.loglinear, CgroupNames::unified(), shown))
            .transpose()?;
        Ok(Self {
            session,
            latency,
            processes,
            errors,
            sizes,
            loglinear,
            reclaim,
            reclaim_ll,
            cgroups,
        })
    }

    /// With `per_process`: the command name of each process shown.
    pub fn comms(&self) -> Option<&CommTable> {
        self.processes.as_ref().map(|(_, comms)| comms)
    }

    /// What happened since the last call (or since attaching), added to
    /// the OpenMetrics totals when there are some (`--openmetrics`).
    pub fn interval(&mut self, om: Option<&mut OpenMetrics>) -> Result<Interval> {
        let Self {
            session,
            latency,
            processes,
            errors,
            sizes,
            loglinear,
            reclaim,
            reclaim_ll,
            cgroups,
        } = self;
        let (mut interval, lost) = session.interval(|tick| {
            let latency = match processes.as_mut() {
                Some((drain, comms)) => {
                    let mut idle = Vec::new();
                    let hists = drain.drain_with_idle(tick, &mut idle)?;
                    comms.update(hists.iter().map(|(pid, _)| *pid), &idle);
                    hists
                }
                None => latency.drain(tick)?,
            };
            let errors = errors
                .drain(tick)?
                .into_iter()
                .map(|(key, [count, _])| ((key >> 32) as u32, key as u32, count))
                .collect();
            Ok(Interval {
                latency,
                errors,
                sizes: sizes.drain(tick)?,
                loglinear: drain_optional(loglinear.as_mut(), tick)?,
                reclaim: match reclaim.as_mut() {
                    Some(drain) => drain.drain(tick)?,
                    None => Vec::new(),
                },
                reclaim_ll: drain_optional(reclaim_ll.as_mut(), tick)?,
                cgroups: cgroups.as_mut().map(|c| c.drain(tick)).transpose()?,
                reclaim_cgroups: BTreeMap::new(),
                lost: Losses::default(),
            })
        })?;
        if let Some(c) = cgroups {
            for (key, _) in &interval.reclaim {
                let id = key >> 8;
                interval.reclaim_cgroups.insert(id, c.name(id));
            }
        }
        interval.lost = lost;
        if let Some(om) = om {
            interval.publish(om, self.processes.is_some());
        }
        Ok(interval)
    }
}

/// Per-syscall histograms (already in display order) as rows of the
/// shared report, headed `label = name` in text (`syscall = read`, `size
/// = mmap`), keyed `{"syscall": name}` in JSON.
pub fn rows<'a>(
    label: &str,
    hists: &'a [(u32, Hist)],
    loglinear: &'a BTreeMap<u32, LlHist>,
) -> Vec<HistRow<'a>> {
    hists
        .iter()
        .map(|(nr, hist)| {
            let name = syscall_name(*nr);
            let mut labels = Map::new();
            labels.insert("syscall".into(), name.clone().into());
            HistRow::new(
                format!("\n{label} = {name}\n"),
                name,
                labels,
                hist,
                loglinear.get(nr),
            )
        })
        .collect()
}

/// Per-process histograms (syslat `-P`, in display order) as rows headed
/// `pid = 42 comm`, as libbpf-tools' runqlat `-P` heads them.
pub fn process_rows<'a>(
    hists: &'a [(u32, Hist)],
    loglinear: &'a BTreeMap<u32, LlHist>,
    comms: &CommTable,
) -> Vec<HistRow<'a>> {
    hists
        .iter()
        .map(|(pid, hist)| HistRow::task("pid", *pid, comms.name(*pid), hist, loglinear.get(pid)))
        .collect()
}

#[cfg(test)]
mod tests {
    use toolkit_report::HistReport;

    use super::*;

    #[test]
    fn histogram_is_headed_by_name_and_ends_with_summary() {
        let mut slots = [0; toolkit_core::MAX_SLOTS];
        slots[1] = 3;
        let hist = Hist {
            slots,
            count: 3,
            sum: 6_000,
            max: 2_500,
            ..Hist::ZERO
        };
        let report = HistReport::text_with_summary("syslat", Unit::Usecs);
        let hists = [(0, hist)];
        let none = BTreeMap::new();
        let rows = rows("syscall", &hists, &none);
        let mut out = Vec::new();
        report.write_rows(&mut out, &rows, Unit::Usecs).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "syscall = read");
        assert!(lines[2].contains("usecs"), "{text}");
        assert_eq!(
            lines.last().unwrap(),
            &"count = 3, mean = 2.0 usecs, max = 2.5 usecs"
        );
        let json = report.json_row(&rows[0]);
        assert_eq!(json["key"]["syscall"], "read");
        assert_eq!(json["count"], 3);
    }
}
