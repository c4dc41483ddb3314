//! Syscall counting, for `syscount`: the programs at `sys_exit` (and
//! `sys_enter` with `-L`) loaded for [`Options`] and drained interval by
//! interval ([`Tracer::interval`]) into rows per syscall or per process.

pub mod config;

use anyhow::Result;
use aya::Ebpf;
use syscount_ebpf::{dropped, maps};
use toolkit_cgroup::{CgroupDrain, CgroupNames, Split};
use toolkit_drain::{ArrayDrain, CommTable, HistDrain, Losses};
use toolkit_load::{Hook, KernelBtf};
use toolkit_session::{Attach, Session, Tool, switch_on};

pub use config::Options;

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/syscount"));

/// syscount as a [`Tool`]: its object on the syscall tracepoints.
pub struct Syscount;

impl Tool for Syscount {
    const OBJECT: &'static [u8] = OBJECT;
    const DROP_REASONS: &'static [&'static str] = dropped::REASONS;
    type Options = Options;
    type Config = syscount_ebpf::Config;

    fn config(options: &Options, btf: &KernelBtf) -> Result<Self::Config> {
        config::build(options, btf, std::process::id())
    }

    fn attach(options: &Options, _: &Self::Config, _: &KernelBtf) -> Result<Vec<Attach>> {
        let mut tracepoints = vec!["sys_exit"];
        if options.latency {
            tracepoints.push("sys_enter");
        }
        if options.by_process {
            tracepoints.push("sched_process_exec");
        }
        // tp_btf first: its sys_exit reads the syscall number from pt_regs
        // with a plain load rather than a helper call.
        Ok(vec![Attach::new(tracepoints, Hook::BtfTracePoint)])
    }

    fn map_sizes(options: &Options) -> Vec<(&'static str, u32)> {
        config::map_sizes(options).to_vec()
    }

    fn prepare(options: &Options, ebpf: &mut Ebpf) -> Result<()> {
        match &options.syscalls {
            Some(syscalls) => switch_on(ebpf, maps::WATCHED, syscalls.iter().copied(), 1u32),
            None => Ok(()),
        }
    }
}

/// One interval: `[count, total_ns]` by syscall number, or by pid with
/// `by_process`, and what the kernel side could not count.
pub struct Interval {
    pub rows: Vec<(u32, [u64; 2])>,
    /// With `per_cgroup`: the split's rows (busiest first, `other` last)
    /// and their `[count, total_ns]` (`rows` is then empty).
    pub cgroups: Option<(Vec<toolkit_cgroup::Row>, Vec<[u64; 2]>)>,
    pub lost: Losses,
}

/// The attached programs and their maps.
pub struct Tracer {
    session: Session,
    by_process: bool,
    by_syscall: ArrayDrain<[u64; 2]>,
    processes: HistDrain<u32, [u64; 2]>,
    comms: CommTable,
    cgroups: Option<(CgroupDrain<[u64; 2]>, Split)>,
    /// The busiest are those with the most calls, or time with `latency`.
    latency: bool,
}

impl Tracer {
    /// Loads the object for `options` and attaches it, with the kernel's
    /// `btf`.
    pub fn attach(tool: &'static str, btf: &KernelBtf, options: &Options) -> Result<Self> {
        let mut session = Session::start::<Syscount>(tool, btf, options)?;
        let ebpf = session.ebpf();
        Ok(Self {
            by_process: options.by_process,
            by_syscall: ArrayDrain::new(ebpf, maps::SYSCALLS)?,
            processes: HistDrain::new(ebpf, maps::PROCESSES)?,
            comms: CommTable::new(ebpf, maps::COMMS)?,
            cgroups: match options.per_cgroup {
                Some(shown) => {
                    let names = CgroupNames::unified().with_kernel_names(ebpf)?;
                    Some((
                        CgroupDrain::new(ebpf, maps::CGROUPS)?,
                        Split::new(names, shown),
                    ))
                }
                None => None,
            },
            latency: options.latency,
            session,
        })
    }

    /// What happened since the last call (or since attaching).
    pub fn interval(&mut self) -> Result<Interval> {
        let Self {
            session,
            by_process,
            by_syscall,
            processes,
            comms,
            cgroups,
            latency,
        } = self;
        let ((rows, cgroups), lost) = session.interval(|tick| {
            if let Some((drain, split)) = cgroups {
                let all = drain.drain(tick)?;
                let measure =
                    |&[count, total_ns]: &[u64; 2]| if *latency { total_ns } else { count };
                let selection = split.select(all.iter().map(|(id, v)| (*id, measure(v))));
                let folded = selection.fold(all);
                Ok((Vec::new(), Some((selection.rows().to_vec(), folded))))
            } else if *by_process {
                let mut idle = Vec::new();
                let rows = processes.drain_with_idle(tick, &mut idle)?;
                comms.update(rows.iter().map(|(pid, _)| *pid), &idle);
                Ok((rows, None))
            } else {
                Ok((by_syscall.drain(tick)?, None))
            }
        })?;
        Ok(Interval {
            rows,
            cgroups,
            lost,
        })
    }

    /// The command names of the processes seen, with `by_process`.
    pub fn comms(&self) -> &CommTable {
        &self.comms
    }
}
