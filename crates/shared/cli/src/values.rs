//! The values of the tools' options, checked as they are parsed: intervals
//! and durations, `--above` thresholds, CPU and thread numbers.

use std::time::Duration;

/// libbpf-tools' `-i INTERVAL` and `-d DURATION` as [`run_intervals`](crate::run_intervals)
/// takes them: every interval, or once at the end of the duration (or at
/// Ctrl-C); with both, as many intervals as cover the duration.
pub fn interval_and_count(
    interval: Option<Duration>,
    duration: Option<Duration>,
) -> (Option<Duration>, Option<u64>) {
    match (interval, duration) {
        (None, None) => (None, None),
        (None, Some(d)) => (Some(d), Some(1)),
        (Some(i), d) => (
            Some(i),
            d.map(|d| d.as_nanos().div_ceil(i.as_nanos()) as u64),
        ),
    }
}

/// Longest interval accepted: a day. Beyond, a typo is likelier than intent.
const MAX_INTERVAL_SECS: f64 = 86_400.0;
/// Longest run (`-d`) accepted: a week.
const MAX_DURATION_SECS: f64 = 604_800.0;

/// Seconds (`1`, `0.1`, `2.5`) or a duration (`500ms`, `2s`, `1m`), at
/// least a millisecond and at most a day: every interval.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    parse_seconds(text, "interval", MAX_INTERVAL_SECS)
}

/// `--above DURATION`, exactly, in nanoseconds: a decimal number and a
/// unit (`ns`, `us`, `ms`, `s`): `10ms`, `2.5ms`, `150us`.
pub fn parse_threshold(text: &str) -> Result<u64, String> {
    let unit_at = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(unit_at);
    let scale: u64 = match unit {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        _ => return Err("give a number and a unit: 10ms, 2.5ms, 150us, 1s".into()),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = scale.ilog10() as usize;
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return Err(format!("{number:?} is not a number"));
    }
    if fraction.len() > digits {
        return Err("finer than a nanosecond".into());
    }
    let parse = |s: &str| {
        s.parse::<u64>()
            .map_err(|_| format!("{number:?} is not a number"))
    };
    let whole = if whole.is_empty() { 0 } else { parse(whole)? };
    let fraction = if fraction.is_empty() {
        0
    } else {
        parse(fraction)? * 10u64.pow((digits - fraction.len()) as u32)
    };
    whole
        .checked_mul(scale)
        .and_then(|ns| ns.checked_add(fraction))
        .filter(|ns| *ns > 0)
        .ok_or_else(|| "between 1ns and 584 years".into())
}

/// Like [`parse_interval`], up to a week: every `-d DURATION`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    parse_seconds(text, "duration", MAX_DURATION_SECS)
}

fn parse_seconds(text: &str, what: &str, max: f64) -> Result<Duration, String> {
    let secs: f64 = match text.parse() {
        Ok(secs) => secs,
        Err(_) => humantime::parse_duration(text)
            .map_err(|_| "it is not a number of seconds or a duration (500ms, 2s)".to_string())?
            .as_secs_f64(),
    };
    if !(0.001..=max).contains(&secs) {
        return Err(format!("{what} must be between 0.001 and {max} seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Fails with one line unless `cpu` is online: a `-c CPU` filter on a CPU
/// that is not there would count nothing, silently.
pub fn require_online_cpu(cpu: u32) -> anyhow::Result<()> {
    let online =
        aya::util::online_cpus().map_err(|(path, e)| anyhow::anyhow!("reading {path}: {e}"))?;
    if !online.contains(&cpu) {
        let first = online.iter().min().unwrap_or(&0);
        let last = online.iter().max().unwrap_or(&0);
        anyhow::bail!("CPU {cpu} is not online (online: {first}-{last})");
    }
    Ok(())
}

/// Fails with `thread N not found` unless `tid` names a live thread (a
/// `-t` filter for a thread that is gone would silently trace nothing).
/// Processes (`-p`) are checked and watched by
/// [`StopSignals::watch`](crate::StopSignals::watch).
pub fn require_thread(tid: u32) -> anyhow::Result<()> {
    toolkit_load::process::refuse_in_pid_namespace(&format!("-t {tid}"))?;
    if tid == 0 || !std::path::Path::new(&format!("/proc/{tid}/status")).exists() {
        anyhow::bail!("thread {tid} not found");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse_exactly() {
        assert_eq!(parse_threshold("10ms"), Ok(10_000_000));
        assert_eq!(parse_threshold("10.05ms"), Ok(10_050_000));
        assert_eq!(parse_threshold("2.5ms"), Ok(2_500_000));
        assert_eq!(parse_threshold("150us"), Ok(150_000));
        assert_eq!(parse_threshold(".5s"), Ok(500_000_000));
        assert_eq!(parse_threshold("7ns"), Ok(7));
        for bad in [
            "10",
            "ms",
            "1.2.3ms",
            "0ms",
            "1.0001us",
            "1e3ms",
            "-1ms",
            "99999999999999s",
        ] {
            assert!(parse_threshold(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn intervals_in_seconds_with_fractions() {
        assert_eq!(parse_interval("1"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_interval("0.1"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_interval("1m"), Ok(Duration::from_secs(60)));
        for bad in ["0ms", "500us", "2d", "1 parsec"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
        for bad in ["0", "-1", "0.0001", "86401", "1e30", "NaN", "inf", "x", ""] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }
}
