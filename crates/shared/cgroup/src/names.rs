//! Cgroup ids, as the kernel side records them, turned into paths and
//! containers, and remembered: a cgroup removed mid-run keeps the path it
//! had when last seen.

use std::{collections::HashMap, path::Path};

use anyhow::Result;
use aya::maps::MapData;
use serde_json::{Map, Value};
use toolkit_core::{CGROUP_NAMES_MAP, CgroupLeaf};

use crate::{
    Hierarchy,
    container::{Container, decode},
};

/// What a cgroup id is shown as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupName {
    pub id: u64,
    /// Below the hierarchy's root (`/system.slice/ssh.service`), escaped;
    /// for an id never seen in the tree, a phrase saying so.
    pub path: String,
    pub container: Option<Container>,
}

impl CgroupName {
    fn new(id: u64, path: String) -> Self {
        Self {
            container: decode(&path),
            id,
            path,
        }
    }

    /// The name of an id that was never found in the tree: a cgroup
    /// created and removed between two reads.
    fn unfound(id: u64) -> Self {
        Self {
            id,
            path: format!("(cgroup {id}, removed before it was named)"),
            container: None,
        }
    }

    /// The path, then the container in a few words: `/docker/3f4a… (docker
    /// 3f4a5b6c7d8e)`.
    pub fn describe(&self) -> String {
        match &self.container {
            Some(container) => format!("{} ({})", self.path, container.describe()),
            None => self.path.clone(),
        }
    }

    /// JSON fields: `cgroup` (the path), `cgroup_id`, and `container`,
    /// `runtime`, `pod_uid` when known.
    pub fn json(&self) -> Map<String, Value> {
        let mut fields = Map::new();
        fields.insert("cgroup".into(), self.path.clone().into());
        fields.insert("cgroup_id".into(), self.id.into());
        if let Some(c) = &self.container {
            if let Some(id) = &c.id {
                fields.insert("container".into(), id.clone().into());
            }
            fields.insert("runtime".into(), c.runtime.into());
            if let Some(uid) = &c.pod_uid {
                fields.insert("pod_uid".into(), uid.clone().into());
            }
        }
        fields
    }

    /// OpenMetrics label values for [`crate::LABELS`]: the path, the
    /// container ID and the pod UID (empty when none, which Prometheus
    /// reads as no label).
    pub fn label_values(&self) -> Vec<String> {
        let container = self.container.as_ref();
        vec![
            self.path.clone(),
            container.and_then(|c| c.id.clone()).unwrap_or_default(),
            container
                .and_then(|c| c.pod_uid.clone())
                .unwrap_or_default(),
        ]
    }
}

/// Ids to names in one hierarchy.
pub struct CgroupNames {
    hierarchy: Option<Hierarchy>,
    known: HashMap<u64, CgroupName>,
    /// The object's `CGROUP_NAMES`: leaf names the kernel side kept.
    kernel: Option<aya::maps::HashMap<MapData, u64, CgroupLeaf>>,
    /// Those read from it, by id (the kernel's entries are then removed).
    leaves: HashMap<u64, CgroupLeaf>,
    /// What id 0 stands for in this tool: work charged to no cgroup.
    zero: &'static str,
}

impl CgroupNames {
    /// Names in `hierarchy` (none: every id unfound).
    pub fn new(hierarchy: Option<Hierarchy>) -> Self {
        Self {
            hierarchy,
            known: HashMap::new(),
            kernel: None,
            leaves: HashMap::new(),
            zero: "(no cgroup)",
        }
    }

    /// Names id 0, which the kernel side records for work no cgroup is
    /// charged for, `name` (netdrop: `(no socket)`).
    pub fn zero_named(mut self, name: &'static str) -> Self {
        self.zero = name;
        self
    }

    /// Also names cgroups gone from the tree by the directory name and
    /// parent the kernel side kept in the object's `CGROUP_NAMES` map,
    /// which this takes.
    pub fn with_kernel_names(mut self, ebpf: &mut aya::Ebpf) -> Result<Self> {
        let map = toolkit_drain::take_map(ebpf, CGROUP_NAMES_MAP)?;
        self.kernel = Some(aya::maps::HashMap::try_from(map)?);
        Ok(self)
    }

    /// Moves what the kernel side kept into `leaves`, freeing its map for
    /// cgroups yet to come.
    fn read_kernel_names(&mut self) {
        let Some(kernel) = &mut self.kernel else {
            return;
        };
        let read: Vec<(u64, CgroupLeaf)> = kernel.iter().flatten().collect();
        for (id, leaf) in read {
            let _ = kernel.remove(&id);
            self.leaves.insert(id, leaf);
        }
    }

    /// The path of a cgroup gone from the tree, from its kept directory
    /// name below its parent's path (the parent's own kept name, or
    /// `(removed)` when that is gone too).
    fn kept_path(&self, id: u64, depth: usize) -> Option<String> {
        let leaf = self.leaves.get(&id)?;
        let name = toolkit_core::escape::c_name(&leaf.name);
        let parent = match self.known.get(&leaf.parent) {
            Some(parent) if parent.path == "/" => String::new(),
            Some(parent) => parent.path.clone(),
            None if depth < 16 => self
                .kept_path(leaf.parent, depth + 1)
                .unwrap_or_else(|| "/(removed)".to_string()),
            None => "/(removed)".to_string(),
        };
        Some(format!("{parent}/{name}"))
    }

    /// Names in the v2 tree, whose ids the kernel's
    /// `bpf_get_current_cgroup_id` and a task's default cgroup give.
    pub fn unified() -> Self {
        Self::new(Hierarchy::unified())
    }

    /// Learns the paths of the ids in `ids` not yet known, with one walk
    /// of the tree when there are some (it stops once all are found).
    pub fn learn(&mut self, ids: impl IntoIterator<Item = u64>) {
        self.read_kernel_names();
        let requested: Vec<u64> = ids
            .into_iter()
            .filter(|id| !self.known.contains_key(id))
            .collect();
        if requested.is_empty() {
            return;
        }
        // Parents of the kept names too, for the removed ones' paths.
        let parents = requested
            .iter()
            .filter_map(|id| self.leaves.get(id))
            .map(|leaf| leaf.parent)
            .filter(|parent| !self.known.contains_key(parent));
        let mut wanted: Vec<u64> = requested.iter().copied().chain(parents).collect();
        wanted.sort_unstable();
        wanted.dedup();
        if let Some(hierarchy) = &self.hierarchy {
            let known = &mut self.known;
            let mut left = wanted.len();
            hierarchy.walk(&mut |path: &Path, id| {
                if wanted.binary_search(&id).is_ok() && !known.contains_key(&id) {
                    known.insert(id, CgroupName::new(id, hierarchy.relative(path)));
                    left -= 1;
                }
                left > 0
            });
        }
        // The kernel gave these ids, so the cgroups existed: not in the
        // tree now, they are gone, and no later walk would find them. (A
        // parent not found is not named here: it would stand in its
        // children's kept paths as unfound.)
        for id in requested {
            if self.known.contains_key(&id) {
                continue;
            }
            let name = match self.kept_path(id, 0) {
                Some(path) => CgroupName::new(id, path),
                None => CgroupName::unfound(id),
            };
            self.known.insert(id, name);
        }
    }

    /// The name of `id` ([`CgroupNames::learn`] it first).
    pub fn name(&self, id: u64) -> CgroupName {
        if id == 0 {
            return CgroupName {
                id,
                path: self.zero.to_string(),
                container: None,
            };
        }
        self.known
            .get(&id)
            .cloned()
            .unwrap_or_else(|| CgroupName::unfound(id))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt as _;

    use super::*;

    #[test]
    fn names_a_cgroup_and_keeps_its_name_once_removed() {
        let unified = Hierarchy::unified().expect("no cgroup2 mount");
        let dir = unified
            .root
            .join(format!("toolkit-names-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let id = std::fs::metadata(&dir).unwrap().ino();
        let mut names = CgroupNames::new(Some(unified));
        names.learn([id, 1]);
        std::fs::remove_dir(&dir).unwrap();
        let expected = format!("/toolkit-names-{}", std::process::id());
        assert_eq!(names.name(id).path, expected);
        names.learn([id]);
        assert_eq!(names.name(id).path, expected, "kept after removal");
        assert_eq!(names.name(id).json()["cgroup_id"], id);
        assert_eq!(
            names.name(u64::MAX).path,
            format!("(cgroup {}, removed before it was named)", u64::MAX)
        );
    }
}
