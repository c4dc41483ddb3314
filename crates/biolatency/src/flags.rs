//! Names of request flag sets (`-F`), as libbpf-tools prints them, with bit
//! positions taken from the running kernel's BTF rather than a header.

use toolkit_load::KernelBtf;

/// Printed in this order, before the operation, like libbpf-tools.
const FLAG_NAMES: &[(&str, &str)] = &[
    ("__REQ_NOWAIT", "NoWait-"),
    ("__REQ_BACKGROUND", "Background-"),
    ("__REQ_RAHEAD", "ReadAhead-"),
    ("__REQ_PREFLUSH", "PreFlush-"),
    ("__REQ_FUA", "FUA-"),
    ("__REQ_INTEGRITY", "Integrity-"),
    ("__REQ_IDLE", "Idle-"),
    ("__REQ_NOMERGE", "NoMerge-"),
    ("__REQ_PRIO", "Priority-"),
    ("__REQ_META", "Metadata-"),
    ("__REQ_SYNC", "Sync-"),
];

/// Decodes `request.cmd_flags` for this kernel.
#[derive(Debug)]
pub struct FlagNames {
    flags: Vec<(u32, &'static str)>,
    ops: Vec<(u32, String)>,
    op_mask: u32,
}

impl FlagNames {
    /// Reads `enum req_flag_bits` and `enum req_op` from kernel BTF.
    pub fn from_btf(btf: &KernelBtf) -> anyhow::Result<Self> {
        let bits = btf.enum_values("req_flag_bits")?;
        let bit_of = |name: &str| bits.iter().find(|(n, _)| n == name).map(|(_, v)| *v as u32);
        let flags = FLAG_NAMES
            .iter()
            .filter_map(|(kernel, shown)| Some((1u32 << bit_of(kernel)?, *shown)))
            .collect();
        // The operation occupies the bits below the first flag bit.
        let op_bits = bit_of("__REQ_FAILFAST_DEV").unwrap_or(8);
        let ops = btf
            .enum_values("req_op")?
            .into_iter()
            .filter_map(|(name, value)| {
                Some((value as u32, camel_case(name.strip_prefix("REQ_OP_")?)))
            })
            .collect();
        Ok(Self {
            flags,
            ops,
            op_mask: (1 << op_bits) - 1,
        })
    }

    /// `Idle-Sync-Write`, `ReadAhead-Read`, ...
    pub fn describe(&self, cmd_flags: u32) -> String {
        let mut text: String = self
            .flags
            .iter()
            .filter(|(bit, _)| cmd_flags & bit != 0)
            .map(|(_, name)| *name)
            .collect();
        let op = cmd_flags & self.op_mask;
        match self.ops.iter().find(|(value, _)| *value == op) {
            Some((_, name)) => text.push_str(name),
            None => text.push_str("Unknown"),
        }
        text
    }
}

/// `WRITE_ZEROES` -> `WriteZeroes`.
fn camel_case(upper: &str) -> String {
    upper
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or(String::new(), |first| {
                first.to_string() + &chars.as_str().to_lowercase()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_names() {
        assert_eq!(camel_case("WRITE_ZEROES"), "WriteZeroes");
        assert_eq!(camel_case("READ"), "Read");
        assert_eq!(camel_case("ZONE_RESET_ALL"), "ZoneResetAll");
    }

    #[test]
    fn decodes_with_this_kernels_bits() {
        let names = FlagNames {
            flags: vec![(1 << 15, "Idle-"), (1 << 11, "Sync-")],
            ops: vec![(0, "Read".into()), (1, "Write".into())],
            op_mask: 0xff,
        };
        assert_eq!(names.describe(1 | 1 << 11 | 1 << 15), "Idle-Sync-Write");
        assert_eq!(names.describe(1 << 11), "Sync-Read");
        assert_eq!(names.describe(0x7f), "Unknown");
    }
}
