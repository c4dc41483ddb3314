//! TCP round-trip-time tracing, for `tcprtt` and any tool that reports
//! RTT (`usecheck`'s network saturation): the program on `tcp:tcp_probe`
//! loaded for [`Options`] and drained interval by interval
//! ([`HistTracer::interval`]); [`report`] names the histograms.

pub mod config;
pub mod report;

use anyhow::Result;
pub use tcprtt_ebpf::{AddrKey, key};
use tcprtt_ebpf::{dropped, maps};
use toolkit_cgroup::{CgroupNames, SplitDrain};
use toolkit_core::LlHist;
use toolkit_drain::{HistDrain, Histograms};
use toolkit_load::{Hook, KernelBtf};
use toolkit_session::{Attach, HistDrains, HistInterval, HistTool, HistTracer, Tool};

pub use config::Options;

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tcprtt"));

/// The tracepoint traced.
pub const TRACEPOINT: &str = "tcp_probe";

/// One interval's figures: histograms by address (zero for all), or with
/// `-G` by the socket's cgroup.
pub type Interval = HistInterval<AddrKey>;

/// The attached program and its maps.
pub type Tracer = HistTracer<Tcprtt>;

/// tcprtt as a [`Tool`]: its object on `tcp:tcp_probe`.
pub struct Tcprtt;

impl Tool for Tcprtt {
    const OBJECT: &'static [u8] = OBJECT;
    const DROP_REASONS: &'static [&'static str] = dropped::REASONS;
    type Options = Options;
    type Config = tcprtt_ebpf::Config;

    fn config(options: &Options, btf: &KernelBtf) -> Result<Self::Config> {
        config::build(options, btf)
    }

    fn attach(_: &Options, _: &Self::Config, _: &KernelBtf) -> Result<Vec<Attach>> {
        // tp_btf first: the socket's fields are plain loads there.
        Ok(vec![Attach::new([TRACEPOINT], Hook::BtfTracePoint)])
    }

    fn map_sizes(options: &Options) -> Vec<(&'static str, u32)> {
        config::map_sizes(options)
    }
}

impl HistTool for Tcprtt {
    type Key = AddrKey;

    fn drains(options: &Options, ebpf: &mut aya::Ebpf) -> Result<HistDrains<AddrKey>> {
        let split = !matches!(options.key_by, key::ALL | key::CGROUP);
        let hists = Histograms::new(ebpf, split, maps::HISTS, maps::TOTAL, AddrKey::ZERO)?;
        let cgroups = (options.key_by == key::CGROUP)
            .then(|| {
                let names = CgroupNames::unified();
                SplitDrain::new(ebpf, options.loglinear, names, options.shown_cgroups)
            })
            .transpose()?;
        let loglinear = options
            .loglinear
            .then(|| HistDrain::<AddrKey, LlHist>::new(ebpf, maps::LLHISTS))
            .transpose()?;
        Ok(HistDrains::new(hists).loglinear(loglinear).cgroups(cgroups))
    }
}
