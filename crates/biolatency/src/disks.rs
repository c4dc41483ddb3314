//! Disk names and device numbers from /sys/block.

use std::collections::BTreeMap;

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
            None => bail!("disk '{name}' not found in /sys/block"),
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

    #[test]
    fn unknown_disk_error() {
        let err = Disks::default().dev_of("sdz").unwrap_err();
        assert_eq!(err.to_string(), "disk 'sdz' not found in /sys/block");
    }
}
