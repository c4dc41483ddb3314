//! Helpers for the root-only integration tests, one module per fixture:
//! run a tool ([`tools`]), drive a workload ([`process`]), on a loop device
//! ([`loop_device`]), in a cgroup ([`cgroup`]), a container ([`container`])
//! or a network pair ([`network`]) with a TCP connection across it
//! ([`tcp`]), on file systems of its own
//! ([`filesystem`]), with scratch files ([`scratch`]), and read what came
//! out ([`parse`]).

mod cgroup;
mod container;
mod filesystem;
mod loop_device;
mod network;
mod parse;
mod process;
mod scratch;
mod tcp;
mod tools;

pub use cgroup::*;
pub use container::*;
pub use filesystem::*;
pub use loop_device::*;
pub use network::*;
pub use parse::*;
pub use process::*;
pub use scratch::*;
pub use tcp::*;
pub use tools::*;
