//! Where the kernel's cgroup hierarchies are mounted, read from
//! `/proc/self/mountinfo`: the v2 tree (the default hierarchy, whose ids
//! `bpf_get_current_cgroup_id` returns: `/sys/fs/cgroup`, or
//! `/sys/fs/cgroup/unified` on hybrid machines) and the v1 trees of
//! controllers such as `memory`. A cgroup's id is its directory's inode
//! number in its hierarchy.

use std::{
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
};

/// A mounted cgroup hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    /// Its mount point.
    pub root: PathBuf,
    /// cgroup v2 (else a v1 controller's tree).
    pub v2: bool,
}

/// A cgroup mount: its point, whether v2, its super options (v1's
/// controllers).
struct Mount {
    point: PathBuf,
    v2: bool,
    options: String,
}

fn mounts() -> Vec<Mount> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines().filter_map(parse_mount).collect()
}

/// One mountinfo line, if a cgroup mount.
fn parse_mount(line: &str) -> Option<Mount> {
    let (left, right) = line.split_once(" - ")?;
    let point = unescape(left.split_whitespace().nth(4)?);
    let mut fields = right.split_whitespace();
    let fstype = fields.next()?;
    let options = fields.nth(1).unwrap_or("").to_string();
    let v2 = match fstype {
        "cgroup2" => true,
        "cgroup" => false,
        _ => return None,
    };
    Some(Mount {
        point: PathBuf::from(point),
        v2,
        options,
    })
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            let text = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Hierarchy {
    /// The v2 tree, if mounted (the first cgroup2 mount).
    pub fn unified() -> Option<Self> {
        mounts().into_iter().find(|m| m.v2).map(|m| Self {
            root: m.point,
            v2: true,
        })
    }

    /// The tree holding `controller` (`memory`, `cpu`): a v1 mount with
    /// it among its options, else the v2 mount whose root offers it.
    pub fn of_controller(controller: &str) -> Option<Self> {
        let all = mounts();
        if let Some(v1) = all
            .iter()
            .find(|m| !m.v2 && m.options.split(',').any(|o| o == controller))
        {
            return Some(Self {
                root: v1.point.clone(),
                v2: false,
            });
        }
        all.into_iter()
            .filter(|m| m.v2)
            .find(|m| {
                std::fs::read_to_string(m.point.join("cgroup.controllers"))
                    .is_ok_and(|c| c.split_whitespace().any(|c| c == controller))
            })
            .map(|m| Self {
                root: m.point,
                v2: true,
            })
    }

    /// The cgroup directory whose inode number is `id`, by a walk of the
    /// tree.
    pub fn path_of(&self, id: u64) -> Option<PathBuf> {
        let mut found = None;
        self.walk(&mut |path, ino| {
            if ino == id {
                found = Some(path.to_path_buf());
                return false;
            }
            true
        });
        found
    }

    /// Calls `visit(path, id)` for every cgroup of the tree, parents
    /// first, until it returns false.
    pub fn walk(&self, visit: &mut dyn FnMut(&Path, u64) -> bool) {
        walk(&self.root, 0, visit);
    }

    /// `path` below the hierarchy's root, as the kernel and runtimes write
    /// it: `/` for the root, `/system.slice/ssh.service`.
    pub fn relative(&self, path: &Path) -> String {
        let below = path.strip_prefix(&self.root).unwrap_or(path);
        let bytes = below.as_os_str().as_encoded_bytes();
        format!("/{}", toolkit_core::escape::escape_bytes(bytes))
    }
}

/// Cgroup trees are a few levels deep; a deeper one is not a cgroup tree.
const MAX_DEPTH: usize = 64;

fn walk(dir: &Path, depth: usize, visit: &mut dyn FnMut(&Path, u64) -> bool) -> bool {
    let Ok(meta) = std::fs::metadata(dir) else {
        return true; // removed meanwhile
    };
    if !visit(dir, meta.ino()) {
        return false;
    }
    if depth >= MAX_DEPTH {
        return true;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return true;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) && !walk(&entry.path(), depth + 1, visit) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines() {
        let v1 = "35 30 0:30 / /sys/fs/cgroup/memory rw,nosuid shared:15 - cgroup cgroup rw,memory";
        let m = parse_mount(v1).unwrap();
        assert_eq!(
            (m.point.to_str(), m.v2),
            (Some("/sys/fs/cgroup/memory"), false)
        );
        assert!(m.options.split(',').any(|o| o == "memory"));
        let v2 = "29 25 0:26 / /sys/fs/cgroup/unified rw shared:5 - cgroup2 cgroup2 rw,nsdelegate";
        assert!(parse_mount(v2).unwrap().v2);
        let spaced = r"40 25 0:40 / /mnt/my\040cgroups rw - cgroup2 none rw";
        assert_eq!(
            parse_mount(spaced).unwrap().point,
            PathBuf::from("/mnt/my cgroups")
        );
        assert!(parse_mount("22 1 8:1 / / rw - ext4 /dev/vda1 rw").is_none());
    }

    #[test]
    fn the_machine_has_a_v2_tree_whose_root_is_slash() {
        let unified = Hierarchy::unified().expect("no cgroup2 mount");
        assert_eq!(unified.relative(&unified.root), "/");
        let root_id = std::fs::metadata(&unified.root).unwrap().ino();
        assert_eq!(unified.path_of(root_id), Some(unified.root.clone()));
    }
}
