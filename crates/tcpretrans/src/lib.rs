//! TCP retransmit tracing, for `tcpretrans`: the program on
//! `tcp:tcp_retransmit_skb` loaded for [`Options`], then read as one event
//! per retransmit ([`Tracer::events`]) or drained as counts per flow
//! ([`Tracer::flows`], `-c`).

pub mod config;
pub mod flows;

use anyhow::{Result, bail};
pub use tcpretrans_ebpf::{Flow, RetransEvent};
use tcpretrans_ebpf::{dropped, maps};
use toolkit_cgroup::{CgroupNames, Split};
use toolkit_drain::{EventRing, Losses};
use toolkit_load::{Hook, KernelBtf};
use toolkit_session::{Attach, Session, Tool};

use crate::{
    config::TRACEPOINT,
    flows::{CgroupCounts, FlowCounts},
};

pub use config::Options;

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tcpretrans"));

/// tcpretrans as a [`Tool`]: its object on `tcp:tcp_retransmit_skb`.
pub struct Tcpretrans;

impl Tool for Tcpretrans {
    const OBJECT: &'static [u8] = OBJECT;
    const DROP_REASONS: &'static [&'static str] = dropped::REASONS;
    type Options = Options;
    type Config = tcpretrans_ebpf::Config;

    fn config(options: &Options, btf: &KernelBtf) -> Result<Self::Config> {
        config::build(options, btf)
    }

    fn attach(_: &Options, _: &Self::Config, _: &KernelBtf) -> Result<Vec<Attach>> {
        // tp_btf first: the socket's fields are plain loads there.
        Ok(vec![Attach::new([TRACEPOINT], Hook::BtfTracePoint)])
    }

    fn map_sizes(options: &Options) -> Vec<(&'static str, u32)> {
        config::map_sizes(options).to_vec()
    }
}

/// `[retransmits, segments]` of each flow with retransmits, in flow order.
pub type FlowRows = Vec<(Flow, [u64; 2])>;

/// How the program reports: events through the ring buffer, or counts per
/// flow.
enum Output {
    Events(EventRing<RetransEvent>),
    Flows(FlowCounts),
    /// `-G`: counts by the socket's cgroup, and their split (boxed: the
    /// drain's maps and tables are the largest variant by far).
    Cgroups(Box<(CgroupCounts, Split)>),
}

/// `-G`: the split's rows (busiest first, `other` last) and their
/// `[retransmits, segments]`.
pub type CgroupRows = Vec<(toolkit_cgroup::Row, [u64; 2])>;

/// The attached program and its maps.
pub struct Tracer {
    session: Session,
    output: Output,
}

impl Tracer {
    /// Loads the program for `options` and attaches it, with the kernel's
    /// `btf`.
    pub fn attach(tool: &'static str, btf: &KernelBtf, options: &Options) -> Result<Self> {
        let mut session = Session::start::<Tcpretrans>(tool, btf, options)?;
        let ebpf = session.ebpf();
        let output = if let Some(shown) = options.per_cgroup {
            let names = CgroupNames::unified().with_kernel_names(ebpf)?;
            Output::Cgroups(Box::new((
                CgroupCounts::new(ebpf)?,
                Split::new(names, shown),
            )))
        } else if options.count {
            Output::Flows(FlowCounts::new(ebpf)?)
        } else {
            Output::Events(EventRing::new(ebpf, maps::EVENTS)?)
        };
        Ok(Self { session, output })
    }

    /// The retransmits sent since the last call, oldest first, and what
    /// the kernel side could not send.
    pub fn events(&mut self) -> Result<(Vec<RetransEvent>, Losses)> {
        let Output::Events(ring) = &mut self.output else {
            bail!("events asked of a -c run");
        };
        self.session.interval(|_| Ok(ring.drain()))
    }

    /// `-c`: `[retransmits, segments]` of each flow with retransmits since
    /// the last call, in flow order, and what the kernel side could not
    /// count.
    pub fn flows(&mut self) -> Result<(FlowRows, Losses)> {
        let Output::Flows(counts) = &mut self.output else {
            bail!("flows asked of a run without -c");
        };
        self.session.interval(|tick| counts.drain(tick))
    }

    /// `-G`: `[retransmits, segments]` by the socket's cgroup since the
    /// last call, the busiest by retransmits first, and what the kernel
    /// side could not count.
    pub fn cgroups(&mut self) -> Result<(CgroupRows, Losses)> {
        let Output::Cgroups(split_run) = &mut self.output else {
            bail!("cgroups asked of a run without -G");
        };
        let (drain, split) = &mut **split_run;
        self.session.interval(|tick| {
            let all = drain.drain(tick)?;
            let selection = split.select(all.iter().map(|(id, [n, _])| (*id, *n)));
            let counts = selection.fold(all);
            Ok(selection.rows().iter().cloned().zip(counts).collect())
        })
    }
}
