//! Soft-interrupt time by vector, for `softirqs`: the programs on `irq:softirq_entry` and
//! `irq:softirq_exit` loaded for [`Options`] and drained interval by
//! interval ([`Tracer::interval`]); [`report`] prints them.

pub mod report;

use std::collections::BTreeMap;

use anyhow::Result;
use softirqs_ebpf::{VECTORS, dropped, maps};
use toolkit_core::{Hist, LlHist};
use toolkit_drain::{ArrayDrain, Losses};
use toolkit_load::{Hook, KernelBtf};
use toolkit_report::Unit;
use toolkit_session::{Attach, Session, Tool};

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

/// One interval's figures.
pub struct Interval {
    /// Log2 histograms by vector (the index in [`VECTORS`]), only those
    /// that ran.
    pub hists: Vec<(u32, Hist)>,
    /// Their log-linear twins, with `loglinear`.
    pub loglinear: BTreeMap<u32, LlHist>,
    /// What the kernel side could not record.
    pub lost: Losses,
}

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

/// The attached programs and their maps.
pub struct Tracer {
    session: Session,
    hists: ArrayDrain<Hist>,
    loglinear: Option<ArrayDrain<LlHist>>,
}

impl Tracer {
    /// Loads the programs for `options` and attaches them, with the
    /// kernel's `btf`; `tool` names the losses it reports.
    pub fn attach(tool: &'static str, btf: &KernelBtf, options: &Options) -> Result<Self> {
        let mut session = Session::start::<Softirqs>(tool, btf, options)?;
        let ebpf = session.ebpf();
        let hists = ArrayDrain::new(ebpf, maps::HISTS)?;
        let loglinear = options
            .loglinear
            .then(|| ArrayDrain::new(ebpf, maps::LLHISTS))
            .transpose()?;
        Ok(Self {
            session,
            hists,
            loglinear,
        })
    }

    /// What happened since the last call (or since attaching).
    pub fn interval(&mut self) -> Result<Interval> {
        let Self {
            session,
            hists,
            loglinear,
        } = self;
        let ((hists, loglinear), lost) = session.interval(|tick| {
            let ll = match loglinear {
                Some(drain) => drain.drain(tick)?.into_iter().collect(),
                None => BTreeMap::new(),
            };
            Ok((hists.drain(tick)?, ll))
        })?;
        Ok(Interval {
            hists,
            loglinear,
            lost,
        })
    }
}
