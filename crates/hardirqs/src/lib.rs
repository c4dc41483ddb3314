//! Hard-interrupt time by IRQ, for `hardirqs`: the programs on `irq:irq_handler_entry` and
//! `irq:irq_handler_exit` loaded for [`Options`] and drained interval by
//! interval ([`HistTracer::interval`]); [`report`] names and prints them.

pub mod report;

use anyhow::Result;
use hardirqs_ebpf::{dropped, maps};
use toolkit_cgroup::CgroupFilter;
use toolkit_core::LlHist;
use toolkit_drain::HistDrain;
use toolkit_load::{Hook, KernelBtf};
use toolkit_report::Unit;
use toolkit_session::{Attach, HistDrains, HistInterval, HistTool, HistTracer, Tool};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/hardirqs"));

/// What the kernel side records, as the command line resolved it.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Nanoseconds (`-N`), microseconds or milliseconds.
    pub unit: Unit,
    /// `-s CPU`: only interrupts served on this CPU.
    pub cpu: Option<u32>,
    /// `-c CGROUP`: only interrupts arriving while its tasks run.
    pub cgroup: Option<CgroupFilter>,
    /// Record log-linear histograms too (percentiles, `--compact`, ...).
    pub loglinear: bool,
}

/// One interval's figures: histograms by IRQ number, only those that
/// fired.
pub type Interval = HistInterval<u32>;

/// The attached programs and their maps.
pub type Tracer = HistTracer<Hardirqs>;

/// hardirqs as a [`Tool`]: its object on `irq:irq_handler_entry` and
/// `_exit`.
pub struct Hardirqs;

impl Tool for Hardirqs {
    const OBJECT: &'static [u8] = OBJECT;
    const DROP_REASONS: &'static [&'static str] = dropped::REASONS;
    type Options = Options;
    type Config = hardirqs_ebpf::Config;

    fn config(options: &Options, _: &KernelBtf) -> Result<Self::Config> {
        Ok(hardirqs_ebpf::Config {
            unit_divisor: options.unit.divisor(),
            cgroup_filter: CgroupFilter::matching(options.cgroup),
            filter_cpu: u32::from(options.cpu.is_some()),
            target_cpu: options.cpu.unwrap_or(0),
            loglinear: u32::from(options.loglinear),
            ..hardirqs_ebpf::Config::DEFAULT
        })
    }

    fn attach(_: &Options, _: &Self::Config, _: &KernelBtf) -> Result<Vec<Attach>> {
        // The end first, so that no handler is seen to begin and not end.
        Ok(vec![
            Attach::new(["irq_handler_exit"], Hook::BtfTracePoint),
            Attach::new(["irq_handler_entry"], Hook::BtfTracePoint),
        ])
    }

    fn map_sizes(options: &Options) -> Vec<(&'static str, u32)> {
        let loglinear = if options.loglinear { maps::MAX_IRQS } else { 1 };
        vec![(maps::LLHISTS, loglinear)]
    }
}

impl HistTool for Hardirqs {
    type Key = u32;

    fn drains(options: &Options, ebpf: &mut aya::Ebpf) -> Result<HistDrains<u32>> {
        let loglinear = options
            .loglinear
            .then(|| HistDrain::<u32, LlHist>::new(ebpf, maps::LLHISTS))
            .transpose()?;
        Ok(HistDrains::new(HistDrain::<u32>::new(ebpf, maps::HISTS)?).loglinear(loglinear))
    }
}
