//! Names of the block layer's completion statuses (`blk_status_t`).

/// The status names that mean the same on every kernel since 4.13; those
/// after `DEV_RESOURCE` (13) were renumbered in 6.9, so they are shown by
/// number rather than risk a wrong name.
const NAMES: [&str; 14] = [
    "OK",
    "NOTSUPP",
    "TIMEOUT",
    "NOSPC",
    "TRANSPORT",
    "TARGET",
    "RESV_CONFLICT",
    "MEDIUM",
    "PROTECTION",
    "RESOURCE",
    "IOERR",
    "STATUS_11",
    "AGAIN",
    "DEV_RESOURCE",
];

/// `IOERR`, `NOSPC`, ... as the kernel's `BLK_STS_*` names them, or
/// `STATUS_<n>`.
pub fn status_name(status: u8) -> String {
    NAMES
        .get(usize::from(status))
        .map_or_else(|| format!("STATUS_{status}"), |n| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(status_name(10), "IOERR");
        assert_eq!(status_name(3), "NOSPC");
        assert_eq!(status_name(2), "TIMEOUT");
        assert_eq!(status_name(16), "STATUS_16");
    }
}
