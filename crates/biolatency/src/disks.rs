//! Disk names and device numbers from /sys/block.

use std::collections::BTreeMap;

use std::path::Path;

use anyhow::{Result, bail};

/// Whole disks known to the kernel, by kernel dev_t (major << 20 | minor).
#[derive(Debug, Default)]
pub struct Disks {
    by_dev: BTreeMap<u32, String>,
}

impl Disks {
    /// Reads /sys/block/*/dev.
    pub fn load() -> Self {
        let mut by_dev = BTreeMap::new();
        for entry in std::fs::read_dir("/sys/block")
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Ok(text) = std::fs::read_to_string(entry.path().join("dev"))
                && let Some(dev) = parse_dev(&text)
            {
                by_dev.insert(dev, name);
            }
        }
        Self { by_dev }
    }

    /// The dev_t of disk `name`, or the error operators expect.
    pub fn dev_of(&self, name: &str) -> Result<u32> {
        match self.by_dev.iter().find(|(_, n)| *n == name) {
            Some((dev, _)) => Ok(*dev),
            None => match whole_disk_of(name) {
                Some(disk) => bail!(
                    "'{name}' is a partition of {disk}: biolatency times requests per whole \
                     disk (as the block layer issues them); use -d {disk}"
                ),
                None => bail!("disk '{name}' not found in /sys/block"),
            },
        }
    }

    /// The disk's name; re-reads /sys/block once for disks attached after
    /// start-up (a new loop device, say).
    pub fn name_of(&mut self, dev: u32) -> &str {
        if !self.by_dev.contains_key(&dev) {
            *self = Self::load();
        }
        self.by_dev.get(&dev).map_or("Unknown", String::as_str)
    }
}

/// Parses `MAJOR:MINOR` into the kernel's dev_t encoding.
/// The whole disk holding partition `name`.
fn whole_disk_of(name: &str) -> Option<String> {
    whole_disk_in(Path::new("/sys/class/block"), name)
}

/// The whole disk holding partition `name`, from a sysfs `class/block`
/// directory: `<class>/<name>` is a link into its disk's directory
/// (`.../block/sda/sda1`) and has a `partition` file.
fn whole_disk_in(class: &Path, name: &str) -> Option<String> {
    if name.contains('/') || !class.join(name).join("partition").exists() {
        return None;
    }
    let target = std::fs::canonicalize(class.join(name)).ok()?;
    Some(target.parent()?.file_name()?.to_string_lossy().into_owned())
}

pub fn parse_dev(text: &str) -> Option<u32> {
    let (major, minor) = text.trim().split_once(':')?;
    Some(major.parse::<u32>().ok()? << 20 | minor.parse::<u32>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_encoding() {
        assert_eq!(parse_dev("7:0\n"), Some(7 << 20));
        assert_eq!(parse_dev("254:3"), Some(254 << 20 | 3));
        assert_eq!(parse_dev("garbage"), None);
    }

    /// A partition is found through sysfs's layout (this machine's kernel
    /// has no partition tables: the layout is built in a directory).
    #[test]
    fn partition_names_its_disk() {
        let root = std::env::temp_dir().join(format!("biolatency-sysfs-{}", std::process::id()));
        let part = root.join("devices/virtual/block/vdz/vdz1");
        std::fs::create_dir_all(&part).unwrap();
        std::fs::write(part.join("partition"), "1\n").unwrap();
        let class = root.join("class/block");
        std::fs::create_dir_all(&class).unwrap();
        std::os::unix::fs::symlink(&part, class.join("vdz1")).unwrap();
        std::os::unix::fs::symlink(part.parent().unwrap(), class.join("vdz")).unwrap();
        assert_eq!(whole_disk_in(&class, "vdz1").as_deref(), Some("vdz"));
        assert_eq!(whole_disk_in(&class, "vdz"), None);
        assert_eq!(whole_disk_in(&class, "../vdz1"), None);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn unknown_disk_error() {
        let err = Disks::default().dev_of("sdz").unwrap_err();
        assert_eq!(err.to_string(), "disk 'sdz' not found in /sys/block");
    }
}
