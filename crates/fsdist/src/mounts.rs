//! Which mount a file system's device is: `/proc/self/mountinfo`, read
//! again when a device not seen before appears.

use std::collections::BTreeMap;

/// Where a file system is mounted, as this process's mount namespace
/// sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The first mount point listed (bind mounts of it come later).
    pub point: String,
    /// The file system type, as mountinfo names it.
    pub fstype: String,
    /// The device or source (`/dev/loop0`, `tmpfs`).
    pub source: String,
}

/// The mounts by device (`s_dev`, the kernel's `major << 20 | minor`).
#[derive(Debug, Default)]
pub struct Mounts(BTreeMap<u32, Mount>);

impl Mounts {
    /// The mounts of this process's namespace now (none if mountinfo
    /// cannot be read: file systems are then named by device).
    pub fn read() -> Self {
        std::fs::read_to_string("/proc/self/mountinfo")
            .map(|text| Self::parse(&text))
            .unwrap_or_default()
    }

    /// Parses mountinfo's lines: `id parent major:minor root point
    /// options [optional...] - fstype source superoptions`.
    pub fn parse(text: &str) -> Self {
        let mut mounts = BTreeMap::new();
        for line in text.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let Some(dash) = fields.iter().position(|f| *f == "-") else {
                continue;
            };
            let (Some(dev), Some(point), Some(fstype), Some(source)) = (
                fields.get(2),
                fields.get(4),
                fields.get(dash + 1),
                fields.get(dash + 2),
            ) else {
                continue;
            };
            let Some((major, minor)) = dev.split_once(':') else {
                continue;
            };
            let (Ok(major), Ok(minor)) = (major.parse::<u32>(), minor.parse::<u32>()) else {
                continue;
            };
            mounts.entry(major << 20 | minor).or_insert(Mount {
                point: unescape(point),
                fstype: (*fstype).to_string(),
                source: unescape(source),
            });
        }
        Self(mounts)
    }

    /// The mount of device `dev`, if this namespace has one.
    pub fn get(&self, dev: u32) -> Option<&Mount> {
        self.0.get(&dev)
    }

    /// Reads mountinfo again if any of `devs` is not known yet (a file
    /// system mounted since).
    pub fn refresh_for(&mut self, devs: impl IntoIterator<Item = u32>) {
        if devs
            .into_iter()
            .any(|dev| dev != 0 && !self.0.contains_key(&dev))
        {
            *self = Self::read();
        }
    }
}

/// mountinfo's octal escapes (`\040` for a space) undone.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && let Some(byte) = std::str::from_utf8(&bytes[i + 1..i + 4])
                .ok()
                .and_then(|octal| u8::from_str_radix(octal, 8).ok())
        {
            out.push(byte);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A device number as `major:minor`.
pub fn dev_name(dev: u32) -> String {
    format!("{}:{}", dev >> 20, dev & 0xf_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_map_to_their_first_mount() {
        let text = "\
22 1 7:0 / /mnt/a\\040b rw,relatime shared:1 - ext4 /dev/loop0 rw
23 1 0:45 / /run rw - tmpfs tmpfs rw,size=10k
24 1 7:0 / /srv/bind rw - ext4 /dev/loop0 rw
";
        let mounts = Mounts::parse(text);
        let loop0 = mounts.get(7 << 20).unwrap();
        assert_eq!(loop0.point, "/mnt/a b");
        assert_eq!(
            (loop0.fstype.as_str(), loop0.source.as_str()),
            ("ext4", "/dev/loop0")
        );
        assert_eq!(mounts.get(45).unwrap().fstype, "tmpfs");
        assert!(mounts.get(1).is_none());
        assert_eq!(dev_name(7 << 20 | 3), "7:3");
    }
}
