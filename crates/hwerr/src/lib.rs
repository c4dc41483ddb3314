//! Hardware-error tracing, for `hwerr` and any tool that reports hardware
//! errors (`usecheck`'s CPU and memory errors): load and attach the
//! programs on the RAS and MCE tracepoints this kernel has
//! ([`Watcher::attach`]), then read each error with its fields decoded
//! ([`Watcher::errors`]).

use std::collections::BTreeMap;

use anyhow::Result;
use hwerr_ebpf::{Config, HwEvent, dropped, maps, source};
use serde_json::json;
use toolkit_drain::{EventRing, Losses};
use toolkit_load::{Hook, KernelBtf};
use toolkit_report::{
    escape,
    output::{local_hms, rfc3339_now},
};
use toolkit_session::{Attach, Session, Tool};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/hwerr"));

/// One source of errors: its [`source`] constant, its tracepoint, its name
/// in the output, and what it reports.
pub struct Source {
    pub id: u32,
    pub tracepoint: &'static str,
    pub name: &'static str,
    pub what: &'static str,
}

/// Every source, in output order.
pub const SOURCES: [Source; 4] = [
    Source {
        id: source::MCE,
        tracepoint: "mce_record",
        name: "machine-check",
        what: "machine checks (mce:mce_record)",
    },
    Source {
        id: source::MEMORY_CONTROLLER,
        tracepoint: "mc_event",
        name: "memory-controller",
        what: "memory controller errors (ras:mc_event)",
    },
    Source {
        id: source::MEMORY_FAILURE,
        tracepoint: "memory_failure_event",
        name: "memory-failure",
        what: "memory failures (ras:memory_failure_event)",
    },
    Source {
        id: source::PCIE_AER,
        tracepoint: "aer_event",
        name: "pcie-aer",
        what: "PCIe AER errors (ras:aer_event)",
    },
];

/// The sources this kernel has (its BTF names their tracepoints), and
/// those it has not.
pub fn available(btf: &KernelBtf) -> (Vec<&'static Source>, Vec<&'static Source>) {
    SOURCES
        .iter()
        .partition(|s| btf.has_tracepoint(s.tracepoint))
}

/// hwerr as a [`Tool`]: its object on the sources this kernel has.
pub struct Hwerr;

impl Tool for Hwerr {
    const OBJECT: &'static [u8] = OBJECT;
    const DROP_REASONS: &'static [&'static str] = dropped::REASONS;
    type Options = ();
    type Config = Config;

    fn config(_: &(), btf: &KernelBtf) -> Result<Config> {
        config(btf)
    }

    fn attach(_: &(), _: &Config, btf: &KernelBtf) -> Result<Vec<Attach>> {
        let (present, _) = available(btf);
        Ok(vec![Attach::new(
            present.iter().map(|s| s.tracepoint),
            Hook::BtfTracePoint,
        )])
    }
}

/// The kernel side's configuration: `struct mce`'s offsets, where this
/// kernel has machine checks.
pub fn config(btf: &KernelBtf) -> Result<Config> {
    if !btf.has_tracepoint("mce_record") {
        return Ok(Config::DEFAULT);
    }
    let mce = |member: &str| btf.member_offset("mce", member);
    Ok(Config {
        mce_status: mce("status")?,
        mce_addr: mce("addr")?,
        mce_misc: mce("misc")?,
        mce_mcgstatus: mce("mcgstatus")?,
        mce_bank: mce("bank")?,
        mce_extcpu: mce("extcpu")?,
    })
}

/// The names of a kernel enum's values, lower case without their common
/// prefix (`MF_MSG_KERNEL` → `kernel`); empty when the BTF lacks it.
fn enum_names(btf: &KernelBtf, name: &str, prefix: &str) -> BTreeMap<u64, String> {
    btf.enum_values(name)
        .unwrap_or_default()
        .into_iter()
        .map(|(n, v)| {
            let short = n.strip_prefix(prefix).unwrap_or(&n);
            (v as u64, short.to_lowercase().replace('_', " "))
        })
        .collect()
}

/// The attached programs, their ring buffer, and the names the kernel
/// gives its enums.
pub struct Watcher {
    session: Session,
    events: EventRing<HwEvent>,
    /// `enum mf_action_page_type`, `enum mf_result`,
    /// `enum hw_event_mc_err_type`.
    page_types: BTreeMap<u64, String>,
    results: BTreeMap<u64, String>,
    mc_types: BTreeMap<u64, String>,
}

impl Watcher {
    /// Loads the programs for the sources this kernel has and attaches
    /// them, with the kernel's `btf`; `tool` names the losses it reports.
    pub fn attach(tool: &'static str, btf: &KernelBtf) -> Result<Self> {
        let mut session = Session::start::<Hwerr>(tool, btf, &())?;
        let events = EventRing::new(session.ebpf(), maps::EVENTS)?;
        Ok(Self {
            session,
            events,
            page_types: enum_names(btf, "mf_action_page_type", "MF_MSG_"),
            results: enum_names(btf, "mf_result", "MF_"),
            mc_types: enum_names(btf, "hw_event_mc_err_type", "HW_EVENT_ERR_"),
        })
    }

    /// The errors sent since the last call, oldest first.
    pub fn errors(&mut self) -> Vec<HwError> {
        let events = self.events.drain();
        events.iter().map(|e| self.decode(e)).collect()
    }

    /// Errors the kernel side could not send (a full ring buffer), said on
    /// stderr.
    pub fn lost(&mut self) -> Result<Losses> {
        Ok(self.session.interval(|_| Ok(()))?.1)
    }

    fn decode(&self, e: &HwEvent) -> HwError {
        let v = &e.values;
        let named = |names: &BTreeMap<u64, String>, value: u64| {
            names
                .get(&value)
                .cloned()
                .unwrap_or_else(|| value.to_string())
        };
        let text = |i: usize| escape::c_name(&e.text[i]);
        let (severity, fields): (String, Vec<(&str, String)>) = match e.source {
            source::MCE => {
                const UC: u64 = 1 << 61;
                const PCC: u64 = 1 << 57;
                let severity = match v[0] {
                    s if s & PCC != 0 => "fatal",
                    s if s & UC != 0 => "uncorrected",
                    _ => "corrected",
                };
                (
                    severity.into(),
                    vec![
                        ("bank", v[4].to_string()),
                        ("status", format!("0x{:016x}", v[0])),
                        ("addr", format!("0x{:x}", v[1])),
                        ("misc", format!("0x{:x}", v[2])),
                        ("mcgstatus", format!("0x{:x}", v[3])),
                        ("cpu", v[5].to_string()),
                    ],
                )
            }
            source::MEMORY_CONTROLLER => {
                let layer = |shift: u64| (v[6] >> shift & 0xff) as u8 as i8;
                (
                    named(&self.mc_types, v[0]),
                    vec![
                        ("mc", v[2].to_string()),
                        ("message", text(0)),
                        ("label", text(1)),
                        ("count", v[1].to_string()),
                        ("address", format!("0x{:x}", v[3])),
                        ("grain_bits", v[4].to_string()),
                        ("syndrome", format!("0x{:x}", v[5])),
                        ("layers", format!("{},{},{}", layer(0), layer(8), layer(16))),
                        ("detail", text(2)),
                    ],
                )
            }
            source::MEMORY_FAILURE => (
                "uncorrected".into(),
                vec![
                    ("pfn", format!("0x{:x}", v[0])),
                    ("page", named(&self.page_types, v[1])),
                    ("result", named(&self.results, v[2])),
                ],
            ),
            _ => {
                let severity = match v[1] {
                    0 => "uncorrected (non-fatal)",
                    1 => "fatal",
                    _ => "corrected",
                };
                (
                    severity.into(),
                    vec![
                        ("device", text(0)),
                        ("status", format!("0x{:08x}", v[0])),
                        ("tlp_header_valid", v[2].to_string()),
                    ],
                )
            }
        };
        let source = SOURCES
            .iter()
            .find(|s| s.id == e.source)
            .map_or("unknown", |s| s.name);
        HwError {
            time: local_hms(),
            cpu: e.cpu,
            source,
            severity,
            fields,
        }
    }
}

/// One error, decoded.
pub struct HwError {
    /// When userspace read it, local `HH:MM:SS`.
    pub time: String,
    /// The CPU the kernel reported it on.
    pub cpu: u32,
    /// Its [`Source::name`].
    pub source: &'static str,
    /// corrected, uncorrected, fatal, ... as the source grades it.
    pub severity: String,
    /// The tracepoint's own fields, named, in its order.
    pub fields: Vec<(&'static str, String)>,
}

impl HwError {
    /// Whether the hardware corrected it (nothing was lost).
    pub fn corrected(&self) -> bool {
        self.severity == "corrected"
    }

    pub fn write_text(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        let details: Vec<String> = self
            .fields
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| format!("{name} {value}"))
            .collect();
        writeln!(
            w,
            "{:<8} {:<3} {:<17} {:<12} {}",
            self.time,
            self.cpu,
            self.source,
            self.severity,
            details.join(" ")
        )
    }

    pub fn json(&self) -> serde_json::Value {
        let fields: serde_json::Map<String, serde_json::Value> = self
            .fields
            .iter()
            .map(|(name, value)| ((*name).to_string(), json!(value)))
            .collect();
        json!({
            "tool": "hwerr",
            "time": rfc3339_now(),
            "cpu": self.cpu,
            "source": self.source,
            "severity": self.severity,
            "fields": fields,
        })
    }
}

/// The text output's column heads.
pub const HEADER: &str = "TIME     CPU SOURCE            SEVERITY     DETAILS";
