//! The options fsdist and fsslower share, spelled once: which file system
//! type, which process, and whether descriptors that are not files count.

use anyhow::Result;
use toolkit_load::TracedProcess;

use crate::{Options, config::check_fstype};

/// `-t`, `-p` and `-a`, as libbpf-tools spells the first two.
#[derive(Debug, Clone, clap::Args)]
pub struct FsArgs {
    /// Which file system type to trace (ext4, xfs, btrfs, nfs, tmpfs, ...;
    /// default: every one)
    #[arg(short = 't', long = "type", value_name = "FS")]
    pub fstype: Option<String>,
    /// Trace this process only
    #[arg(short = 'p', long, value_name = "PID",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub pid: Option<u32>,
    /// Also descriptors that are not files (sockets, pipes, character and
    /// block devices, anonymous inodes), each as its own kind, and calls
    /// whose file system is not known ('unresolved')
    #[arg(short = 'a', long = "all-kinds", conflicts_with = "fstype")]
    pub all_kinds: bool,
}

impl FsArgs {
    /// The options these resolve to, the `-p` process pinned as `traced`
    /// and the `-t` type refused in one line if this kernel does not know
    /// it ([`check_fstype`]); the rest at their defaults.
    pub fn options(&self, traced: Option<&TracedProcess>) -> Result<Options> {
        if let Some(name) = &self.fstype {
            let known = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
            check_fstype(name, &known)?;
        }
        Ok(Options {
            process: traced.map(TracedProcess::pinned),
            fstype: self.fstype.clone(),
            other_kinds: self.all_kinds,
            ..Options::default()
        })
    }
}
