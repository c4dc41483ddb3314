//! `-c CGROUP`: a cgroup v2 directory, as the kernel identifies it.

use std::{os::unix::fs::MetadataExt as _, path::Path};

use anyhow::{Result, bail};
use toolkit_core::CgroupMatch;

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// A cgroup v2 to filter on: tasks in it or in any of its descendants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CgroupFilter {
    /// The cgroup's id (its directory's inode number).
    pub id: u64,
    /// Its depth below the root cgroup; the kernel compares
    /// `bpf_get_current_ancestor_cgroup_id(level)` against `id`.
    pub level: u32,
}

impl CgroupFilter {
    /// An optional `-c` filter as the kernel halves read it.
    pub fn matching(filter: Option<Self>) -> CgroupMatch {
        filter.map_or(CgroupMatch::default(), |c| CgroupMatch {
            id: c.id,
            on: 1,
            level: c.level,
        })
    }

    /// The `-c` filter, if one was given.
    pub fn from_arg(path: Option<&Path>) -> Result<Option<Self>> {
        path.map(Self::from_path).transpose()
    }

    /// Resolves a cgroup v2 directory such as `/sys/fs/cgroup/system.slice`.
    pub fn from_path(path: &Path) -> Result<Self> {
        let shown = toolkit_core::escape::Shown(path.as_os_str().as_encoded_bytes());
        let Ok(meta) = std::fs::metadata(path) else {
            bail!("cgroup '{shown}' not found");
        };
        if !meta.is_dir() || !is_cgroup2(path) {
            bail!("'{shown}' is not a cgroup v2 directory");
        }
        // Depth = how many parents are still cgroup2 directories.
        let canonical = std::fs::canonicalize(path)?;
        let level = canonical
            .ancestors()
            .skip(1)
            .take_while(|p| is_cgroup2(p))
            .count() as u32;
        Ok(Self {
            id: meta.ino(),
            level,
        })
    }
}

fn is_cgroup2(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: c_path is a valid C string; buf is written by statfs.
    unsafe {
        let mut buf = std::mem::zeroed::<libc::statfs>();
        libc::statfs(c_path.as_ptr(), &mut buf) == 0 && buf.f_type as i64 == CGROUP2_SUPER_MAGIC
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_cgroup_paths() {
        let err = CgroupFilter::from_path(Path::new("/tmp")).unwrap_err();
        assert_eq!(err.to_string(), "'/tmp' is not a cgroup v2 directory");
        let err = CgroupFilter::from_path(Path::new("/no/such/cgroup")).unwrap_err();
        assert_eq!(err.to_string(), "cgroup '/no/such/cgroup' not found");
    }

    #[test]
    fn root_cgroup_is_level_zero() {
        let root = Path::new("/sys/fs/cgroup");
        if is_cgroup2(root) {
            assert_eq!(CgroupFilter::from_path(root).unwrap().level, 0);
        }
    }
}
