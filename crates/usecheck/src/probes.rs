//! The eBPF half: the kernel programs of runqlat, memlat, oomkill, hwerr,
//! biolatency, netdrop and tcprtt, loaded together through their
//! libraries. A probe that cannot run on this kernel is off, with the
//! reason, and the others still run.

use std::collections::BTreeMap;

use anyhow::Result;
use toolkit_core::{Hist, LlHist};
use toolkit_drain::Losses;
use toolkit_load::KernelBtf;
use toolkit_report::{Unit, names::syscall_number};

/// A probe, attached or off with the reason.
pub enum Probe<T> {
    On(T),
    Off(String),
}

impl<T> Probe<T> {
    /// Attaches the probe `name` unless it is in `skip`; a failure is said
    /// once on stderr and the probe is off.
    fn attach(name: &str, what: &str, skip: &[Skip], attach: impl FnOnce() -> Result<T>) -> Self {
        if skip.iter().any(|s| s.name() == name) {
            return Self::Off(format!("not measured (--skip {name})"));
        }
        match attach() {
            Ok(probe) => Self::On(probe),
            Err(err) => {
                let why = format!("{err:#}").replace('\n', " ");
                toolkit_report::say!("usecheck: {what} is not measured: {why}");
                Self::Off(why)
            }
        }
    }

    /// Why it is off.
    pub fn off(&self) -> Option<&str> {
        match self {
            Self::On(_) => None,
            Self::Off(why) => Some(why),
        }
    }

    fn interval<U>(&mut self, f: impl FnOnce(&mut T) -> Result<U>) -> Result<Option<U>> {
        match self {
            Self::On(probe) => f(probe).map(Some),
            Self::Off(_) => Ok(None),
        }
    }
}

/// The probes `--skip` can leave out, for their overhead (the syscall
/// hooks run on every syscall) or to see the rest without them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Skip {
    /// Run-queue latency (CPU saturation): the scheduler hooks.
    Runq,
    /// Failed memory calls and reclaim stalls (memory saturation and
    /// errors): the syscall and reclaim hooks.
    Memory,
    /// OOM kills (memory errors).
    Oom,
    /// Hardware errors: machine checks (CPU errors), memory controller
    /// errors and memory failures (memory errors).
    Hw,
    /// I/O latency and failed I/O (disk saturation and errors).
    Disk,
    /// File system latency above each disk (fsdist): the syscall hooks.
    Fs,
    /// Packet drops by reason (network saturation and errors).
    Drops,
    /// TCP round-trip time (network saturation).
    Rtt,
}

impl Skip {
    fn name(self) -> &'static str {
        match self {
            Self::Runq => "runq",
            Self::Memory => "memory",
            Self::Oom => "oom",
            Self::Disk => "disk",
            Self::Fs => "fs",
            Self::Drops => "drops",
            Self::Rtt => "rtt",
            Self::Hw => "hw",
        }
    }
}

/// The memory syscalls whose failures are memory errors (memlat's).
const MEMORY_CALLS: [&str; 4] = ["mmap", "munmap", "brk", "mremap"];

/// Every probe.
pub struct Probes {
    pub runq: Probe<runqlat::Tracer>,
    /// With `--per-cgroup`: run-queue latency by cgroup.
    pub cgroup_runq: Probe<runqlat::Tracer>,
    pub memory: Probe<syslat::Tracer>,
    pub oom: Probe<oomkill::Watcher>,
    pub hw: Probe<Hw>,
    pub disk: Probe<biolatency::Tracer>,
    pub fs: Probe<Fs>,
    pub drops: Probe<Drops>,
    pub rtt: Probe<tcprtt::Tracer>,
}

/// hwerr's programs, and which of its sources this kernel has.
pub struct Hw {
    watcher: hwerr::Watcher,
    /// The sources attached, by name (`machine-check`, ...).
    pub sources: Vec<&'static str>,
}

/// fsdist's programs, and which disk each file system's device is on.
pub struct Fs {
    tracer: fsdist::Tracer,
    /// A file system's `s_dev` to its disk's (a partition's to its whole
    /// disk's), both as the kernel encodes them; `None` for those on no
    /// disk (tmpfs, NFS, ...).
    disks: BTreeMap<u32, Option<u32>>,
}

impl Fs {
    /// The disk under the file system on `dev`, from sysfs.
    fn disk_of(&mut self, dev: u32) -> Option<u32> {
        *self.disks.entry(dev).or_insert_with(|| {
            let node = format!("/sys/dev/block/{}:{}", dev >> 20, dev & 0xf_ffff);
            let whole = if std::path::Path::new(&node).join("partition").exists() {
                std::fs::read_to_string(format!("{node}/../dev")).ok()?
            } else if std::path::Path::new(&node).exists() {
                std::fs::read_to_string(format!("{node}/dev")).ok()?
            } else {
                return None;
            };
            let (major, minor) = whole.trim().split_once(':')?;
            Some(major.parse::<u32>().ok()? << 20 | minor.parse::<u32>().ok()?)
        })
    }
}

/// The drop counter, with what names its keys: the kernel's reason names
/// and this process's network namespace (read once: it does not change).
pub struct Drops {
    tracer: netdrop::Tracer,
    reasons: netdrop::config::Reasons,
    own_netns: u32,
}

/// One interval of every probe that is on.
#[derive(Default)]
pub struct Sample {
    /// Run-queue latency: the sum of waits (ns) and the log-linear
    /// histogram, by CPU (`None`: all CPUs).
    pub runq: Option<BTreeMap<Option<u32>, (u64, LlHist)>>,
    /// Time tasks stalled in direct or memory-cgroup reclaim, ns.
    pub reclaim_ns: Option<u64>,
    /// Failed memory syscalls, by syscall name.
    pub failed_calls: Option<BTreeMap<String, u64>>,
    /// OOM kills: (victim pid, victim name, memory cgroup).
    pub kills: Option<Vec<oomkill::Kill>>,
    /// Hardware errors by source name and the CPU that reported them.
    pub hw_errors: Option<BTreeMap<(&'static str, u32), u64>>,
    /// I/O latency by disk (dev_t), log-linear.
    pub io: Option<BTreeMap<u32, LlHist>>,
    /// File operation latency by the disk under the file system (dev_t),
    /// log-linear (fsdist's, files only).
    pub fs: Option<BTreeMap<u32, LlHist>>,
    /// Failed I/O by disk and status name.
    pub io_errors: Option<BTreeMap<u32, BTreeMap<String, u64>>>,
    /// Packet drops by interface ("" without one; NAME@INODE in another
    /// network namespace) and reason name.
    pub drops: Option<BTreeMap<String, BTreeMap<String, u64>>>,
    /// TCP RTT by local address, log-linear.
    pub rtt: Option<BTreeMap<std::net::IpAddr, LlHist>>,
    /// Disk requests started while tracing and not seen to complete: in
    /// flight now, or completions the kernel did not run the program for
    /// (see docs/biolatency.md). They are in no latency figure.
    pub io_unfinished: Option<u64>,
    /// With `--per-cgroup`: run-queue latency by cgroup.
    pub cgroup_runq: Option<toolkit_cgroup::SplitHists>,
    /// What the kernel halves could not record.
    pub lost: Vec<(&'static str, u64)>,
}

impl Probes {
    /// Loads and attaches every probe but those in `skip`; `per_cpu` splits
    /// run-queue latency by CPU; `per_cgroup` adds it by cgroup.
    pub fn attach(btf: &KernelBtf, per_cpu: bool, per_cgroup: bool, skip: &[Skip]) -> Self {
        let cgroup_runq = if per_cgroup {
            let what = "cgroups' CPU saturation (run-queue latency by cgroup)";
            Probe::attach("runq", what, skip, || {
                let options = runqlat::Options {
                    grouping: runqlat::Grouping::Cgroup,
                    shown_cgroups: toolkit_core::MAX_CGROUPS,
                    loglinear: true,
                    ..runqlat::Options::default()
                };
                runqlat::Tracer::attach("usecheck", btf, &options)
            })
        } else {
            Probe::Off("not asked for (--per-cgroup)".into())
        };
        let runq = Probe::attach("runq", "CPU saturation (run-queue latency)", skip, || {
            runqlat::Tracer::attach(
                "usecheck",
                btf,
                &runqlat::Options {
                    grouping: if per_cpu {
                        runqlat::Grouping::Cpu
                    } else {
                        runqlat::Grouping::None
                    },
                    loglinear: true,
                    ..runqlat::Options::default()
                },
            )
        });
        let memory = Probe::attach(
            "memory",
            "memory saturation and errors (reclaim, failed calls)",
            skip,
            || {
                let options = syslat::Options {
                    syscalls: Some(
                        MEMORY_CALLS
                            .iter()
                            .filter_map(|n| syscall_number(n))
                            .collect(),
                    ),
                    count_errors: true,
                    reclaim: true,
                    unit: Unit::Nsecs,
                    ..syslat::Options::default()
                };
                syslat::Tracer::attach("usecheck", btf, &options)
            },
        );
        let oom = Probe::attach("oom", "OOM kills", skip, || {
            oomkill::Watcher::attach("usecheck", btf)
        });
        let hw = Probe::attach("hw", "hardware errors", skip, || {
            let (present, _) = hwerr::available(btf);
            Ok(Hw {
                watcher: hwerr::Watcher::attach("usecheck", btf)?,
                sources: present.iter().map(|s| s.name).collect(),
            })
        });
        let disk = Probe::attach(
            "disk",
            "disk saturation and errors (I/O latency)",
            skip,
            || {
                biolatency::Tracer::attach(
                    "usecheck",
                    btf,
                    &biolatency::Options {
                        per_disk: true,
                        loglinear: true,
                        ..biolatency::Options::default()
                    },
                )
            },
        );
        let fs = Probe::attach("fs", "file system latency", skip, || {
            let options = fsdist::Options {
                loglinear: true,
                ..fsdist::Options::default()
            };
            Ok(Fs {
                tracer: fsdist::Tracer::attach("usecheck", btf, &options)?,
                disks: BTreeMap::new(),
            })
        });
        let drops = Probe::attach("drops", "packet drops", skip, || {
            let reasons = netdrop::config::Reasons::from_btf(btf)?;
            let options = netdrop::Options {
                by_interface: true,
                count_unlisted: true,
                counted: reasons.selected(&[], &[], false)?,
                per_cgroup: None,
            };
            Ok(Drops {
                tracer: netdrop::Tracer::attach("usecheck", btf, &options)?,
                reasons,
                own_netns: netdrop::own_netns(),
            })
        });
        let rtt = Probe::attach("rtt", "TCP round-trip time", skip, || {
            tcprtt::Tracer::attach(
                "usecheck",
                btf,
                &tcprtt::Options {
                    key_by: tcprtt::key::LOCAL,
                    loglinear: true,
                    ..tcprtt::Options::default()
                },
            )
        });
        Self {
            runq,
            cgroup_runq,
            memory,
            oom,
            hw,
            disk,
            fs,
            drops,
            rtt,
        }
    }

    /// What every probe saw since the last call (or since attaching).
    pub fn interval(&mut self) -> Result<Sample> {
        let mut lost = Vec::new();
        let mut keep = |l: Losses| lost.extend(l.0.into_iter().filter(|(_, n)| *n > 0));
        let runq = self.runq.interval(|t| {
            let i = t.interval()?;
            keep(i.lost);
            let mut by_cpu = BTreeMap::new();
            for (key, hist) in &i.hists {
                let cpu = (*key != runqlat::ALL).then_some(*key);
                let entry = by_cpu.entry(cpu).or_insert((0, LlHist::ZERO));
                entry.0 += hist.sum;
                if let Some(ll) = i.loglinear.get(key) {
                    merge(&mut entry.1, ll);
                }
            }
            Ok(by_cpu)
        })?;
        let memory = self.memory.interval(|t| {
            let i = t.interval(None)?;
            keep(i.lost);
            let reclaim: u64 = i.reclaim.iter().map(|(_, h): &(u64, Hist)| h.sum).sum();
            let mut failed = BTreeMap::new();
            for (nr, _, count) in &i.errors {
                *failed
                    .entry(toolkit_report::names::syscall_name(*nr))
                    .or_insert(0) += count;
            }
            Ok((reclaim, failed))
        })?;
        let kills = self.oom.interval(|w| {
            let kills = w.kills();
            keep(w.lost()?);
            Ok(kills)
        })?;
        let hw_errors = self.hw.interval(|hw| {
            let mut counts = BTreeMap::new();
            for error in hw.watcher.errors() {
                *counts.entry((error.source, error.cpu)).or_insert(0) += 1;
            }
            keep(hw.watcher.lost()?);
            Ok(counts)
        })?;
        let disk = self.disk.interval(|t| {
            let i = t.interval()?;
            keep(i.lost);
            let mut io = BTreeMap::new();
            for (key, ll) in &i.loglinear {
                merge(io.entry((key >> 32) as u32).or_insert(LlHist::ZERO), ll);
            }
            let mut errors: BTreeMap<u32, BTreeMap<String, u64>> = BTreeMap::new();
            for (key, count) in &i.errors {
                let status = biolatency::status::status_name(*key as u8);
                *errors
                    .entry((key >> 32) as u32)
                    .or_default()
                    .entry(status)
                    .or_insert(0) += count;
            }
            Ok((io, errors, t.unfinished()? as u64))
        })?;
        let fs = self.fs.interval(|f| {
            let i = f.tracer.interval()?;
            keep(i.lost);
            let mut by_disk = BTreeMap::new();
            for (key, ll) in &i.loglinear {
                let (sb, kind, _) = fsdist::key_parts(*key);
                if kind != fsdist::kind::FILE {
                    continue;
                }
                let dev = f.tracer.names.dev(sb);
                if let Some(disk) = f.disk_of(dev) {
                    merge(by_disk.entry(disk).or_insert(LlHist::ZERO), ll);
                }
            }
            Ok(by_disk)
        })?;
        let drops = self.drops.interval(|d| {
            let (drops, l) = d.tracer.interval()?;
            keep(l);
            let mut by_if: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
            for (key, count) in drops {
                // This namespace's interfaces by name; another's as
                // NAME@INODE, never merged with a same-named one here.
                let name = match netdrop::interface_name(&key) {
                    name if name.is_empty() => name,
                    name => netdrop::interface_label(&name, key.netns, d.own_netns),
                };
                *by_if
                    .entry(name)
                    .or_default()
                    .entry(d.reasons.name(key.reason))
                    .or_insert(0) += count;
            }
            Ok(by_if)
        })?;
        let rtt = self.rtt.interval(|t| {
            let i = t.interval()?;
            keep(i.lost);
            let mut by_addr = BTreeMap::new();
            for (key, ll) in &i.loglinear {
                if let Ok(addr) = tcprtt::report::address(key).parse() {
                    merge(by_addr.entry(addr).or_insert(LlHist::ZERO), ll);
                }
            }
            Ok(by_addr)
        })?;
        let cgroup_runq = self
            .cgroup_runq
            .interval(|t| {
                let i = t.interval()?;
                keep(i.lost);
                Ok(i.cgroups)
            })?
            .flatten();
        let (reclaim_ns, failed_calls) = memory.unzip();
        let (io, io_errors, io_unfinished) = match disk {
            Some((io, errors, unfinished)) => (Some(io), Some(errors), Some(unfinished)),
            None => (None, None, None),
        };
        Ok(Sample {
            runq,
            reclaim_ns,
            failed_calls,
            kills,
            hw_errors,
            io,
            fs,
            io_errors,
            io_unfinished,
            drops,
            rtt,
            cgroup_runq,
            lost,
        })
    }
}

/// Adds `from` to `into`.
pub fn merge(into: &mut LlHist, from: &LlHist) {
    if from.count == 0 {
        return;
    }
    for (a, b) in into.bins.iter_mut().zip(from.bins.iter()) {
        *a += b;
    }
    into.min = if into.count == 0 {
        from.min
    } else {
        into.min.min(from.min)
    };
    into.max = into.max.max(from.max);
    into.count += from.count;
    into.sum += from.sum;
}
