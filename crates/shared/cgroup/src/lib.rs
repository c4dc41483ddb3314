//! Cgroups, for every tool: the `-c` filter ([`filter`]), where the
//! hierarchies are mounted ([`hierarchy`]), cgroup ids turned into paths
//! ([`names`]) and containers ([`container`]), and the `-G`/`--per-cgroup`
//! split: its maps read as one ([`drain`]) and its rows ([`split`]).

pub mod container;
pub mod drain;
pub mod filter;
pub mod hierarchy;
pub mod names;
pub mod split;

pub use container::Container;
pub use drain::CgroupDrain;
pub use filter::CgroupFilter;
pub use hierarchy::Hierarchy;
pub use names::{CgroupName, CgroupNames};
pub use split::{
    LABELS, Row, Selection, Split, SplitDrain, SplitHists, slot_map_sizes, split_map_sizes,
};
/// Cgroups a per-cgroup map holds; samples of cgroups past it are lost
/// samples, counted by the kernel side.
pub use toolkit_core::MAX_CGROUPS;
