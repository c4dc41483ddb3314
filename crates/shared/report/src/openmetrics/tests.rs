//! The OpenMetrics exposition's tests: gauges kept and cleared,
//! cumulative buckets, counts and sums, in the text a tool writes.

use super::*;

#[test]
fn gauges_hold_the_last_value_and_clear() {
    let dir = std::env::temp_dir().join(format!("om-gauge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut om = OpenMetrics::counters_only("usecheck")
        .to_file(&dir.join("g.prom"))
        .unwrap();
    let labels = || vec!["cpu".to_string(), "all".to_string()];
    om.gauge("busy_pct", "Busy.", &["resource", "device"], labels(), 12.5);
    om.gauge("busy_pct", "Busy.", &["resource", "device"], labels(), 99.0);
    om.count(
        "oom_kills",
        "Kills.",
        &["resource"],
        vec!["memory".into()],
        1,
    );
    let text = om.render();
    assert!(text.contains("# TYPE usecheck_busy_pct gauge\n"), "{text}");
    assert!(
        text.contains("usecheck_busy_pct{resource=\"cpu\",device=\"all\"} 99\n"),
        "{text}"
    );
    assert!(!text.contains("12.5"), "{text}");
    assert!(
        text.contains("usecheck_oom_kills_total{resource=\"memory\"} 1\n"),
        "{text}"
    );
    om.clear_gauges();
    assert!(!om.render().contains("usecheck_busy_pct{"));
    assert!(om.render().contains("# TYPE usecheck_busy_pct gauge"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cumulative_buckets_count_and_sum() {
    let dir = std::env::temp_dir().join(format!("om-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("x.prom");
    let mut om = OpenMetrics::new("syslat", Some("syscall"), Unit::Usecs)
        .to_file(&path)
        .unwrap();
    let mut hist = Hist::ZERO;
    hist.slots[0] = 2; // 0-1 us
    hist.slots[3] = 1; // 8-15 us
    hist.count = 3;
    hist.sum = 10_500;
    om.latency([("read".to_string(), &hist)]);
    om.latency([("read".to_string(), &hist)]);
    om.count(
        "failures",
        "Failed calls.",
        &["syscall", "errno"],
        vec!["mmap".into(), "EINVAL".into()],
        7,
    );
    om.publish_or_fail().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    for line in [
        "syslat_latency_seconds_bucket{syscall=\"read\",le=\"2e-6\"} 4\n",
        "syslat_latency_seconds_bucket{syscall=\"read\",le=\"1.6e-5\"} 6\n",
        "syslat_latency_seconds_count{syscall=\"read\"} 6\n",
        "syslat_latency_seconds_sum{syscall=\"read\"} 2.1e-5\n",
        "# TYPE syslat_failures counter\n",
        "syslat_failures_total{syscall=\"mmap\",errno=\"EINVAL\"} 7\n",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    assert!(text.ends_with("# EOF\n"));
    assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
    std::fs::remove_dir_all(&dir).unwrap();
}
