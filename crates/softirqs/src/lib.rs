//! Soft-interrupt time by vector, for `softirqs`: the programs on `irq:softirq_entry` and
//! `irq:softirq_exit` loaded for [`Options`] and drained interval by
//! interval ([`HistTracer::interval`]); [`report`] prints them.

pub mod report;

use anyhow::Result;
use softirqs_ebpf::{VECTORS, dropped, maps};
use toolkit_core::{Hist, LlHist};
use toolkit_drain::ArrayDrain;
use toolkit_load::{Hook, KernelBtf};
use toolkit_report::Unit;
use toolkit_session::{Attach, HistDrains, HistInterval, HistTool, HistTracer, Tool};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/softirqs"));

/// What the kernel side records, as the command line resolved it.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Nanoseconds (`-N`) or microseconds.
    pub unit: Unit,
    /// `-c CPU`: only softirqs run on this CPU.
    pub cpu: Option<u32>,
    /// Record log-linear histograms too (percentiles, `--compact`, ...).
    pub loglinear: bool,
}

/// One interval's figures: histograms by vector (the index in
/// [`VECTORS`]), only those that ran.
pub type Interval = HistInterval<u32>;

/// The attached programs and their maps.
pub type Tracer = HistTracer<Softirqs>;

/// softirqs as a [`Tool`]: its object on `irq:softirq_entry` and `_exit`.
pub struct Softirqs;

impl Tool for Softirqs {
    const OBJECT: &'static [u8] = OBJECT;
    const DROP_REASONS: &'static [&'static str] = dropped::REASONS;
    type Options = Options;
    type Config = softirqs_ebpf::Config;

    fn config(options: &Options, _: &KernelBtf) -> Result<Self::Config> {
        Ok(softirqs_ebpf::Config {
            unit_divisor: options.unit.divisor(),
            filter_cpu: u32::from(options.cpu.is_some()),
            target_cpu: options.cpu.unwrap_or(0),
            loglinear: u32::from(options.loglinear),
            ..softirqs_ebpf::Config::DEFAULT
        })
    }

    fn attach(_: &Options, _: &Self::Config, _: &KernelBtf) -> Result<Vec<Attach>> {
        // The end first, so that no softirq is seen to begin and not end.
        Ok(vec![
            Attach::new(["softirq_exit"], Hook::BtfTracePoint),
            Attach::new(["softirq_entry"], Hook::BtfTracePoint),
        ])
    }

    fn map_sizes(options: &Options) -> Vec<(&'static str, u32)> {
        let loglinear = if options.loglinear { VECTORS.len() } else { 1 };
        vec![(maps::LLHISTS, loglinear as u32)]
    }
}

impl HistTool for Softirqs {
    type Key = u32;

    fn drains(options: &Options, ebpf: &mut aya::Ebpf) -> Result<HistDrains<u32>> {
        let loglinear = options
            .loglinear
            .then(|| ArrayDrain::<LlHist>::new(ebpf, maps::LLHISTS))
            .transpose()?;
        Ok(HistDrains::new(ArrayDrain::<Hist>::new(ebpf, maps::HISTS)?).loglinear(loglinear))
    }
}
