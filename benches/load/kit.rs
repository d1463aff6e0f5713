//! Small helpers the load programs share: figures (medians, spreads), durations read
//! back from the binary's log, and a process's resident memory.
#![allow(dead_code)]

use std::time::Duration;

/// A `Duration`'s `Debug` form: `1.2345s`, `812.3ms`, `95µs`, `10ns`.
pub fn parse_debug_duration(s: &str) -> Option<Duration> {
    let split = s.find(|c: char| c.is_alphabetic() || c == 'µ')?;
    let (number, unit) = s.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit {
        "s" => number,
        "ms" => number / 1e3,
        "µs" | "us" => number / 1e6,
        "ns" => number / 1e9,
        _ => return None,
    };
    Some(Duration::from_secs_f64(seconds))
}

/// The median of some runs (the upper one of an even count).
pub fn median(runs: &[Duration]) -> Duration {
    let mut sorted = runs.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

/// A duration in milliseconds, one decimal.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// `median [min..max]`, in milliseconds.
pub fn spread(runs: &[Duration]) -> String {
    let millis = |d: Duration| d.as_secs_f64() * 1e3;
    let min = runs.iter().min().copied().unwrap_or_default();
    let max = runs.iter().max().copied().unwrap_or_default();
    format!(
        "{:.1} ms [{:.1}..{:.1}]",
        millis(median(runs)),
        millis(min),
        millis(max)
    )
}

/// A process's resident set (VmRSS), in KiB; 0 when it cannot be read.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}
