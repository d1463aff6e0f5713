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

/// `$CARGO_TARGET_DIR`: where cargo put this bench (`<target>/release/deps/<name>-…`).
pub fn target_dir() -> std::path::PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.ancestors().nth(3)?.to_path_buf()))
        .expect("the bench is in <target>/release/deps")
}

/// One line of the benchmark table scripts/bench prints and puts in the README: what was
/// measured, sessiond's figure, the peer's measured beside it in the same run (if any),
/// and the target with whether it was met.
pub struct Headline<'a> {
    /// What is measured, e.g. "reads/s, GET /sessions/active".
    pub figure: &'a str,
    /// sessiond's figure, with its unit.
    pub sessiond: String,
    /// The peer and its figure from the same run, e.g. "nginx 86,788/s", or "" for none.
    pub peer: String,
    /// The target, e.g. ">= 0.80x nginx", or "" for none.
    pub target: &'a str,
    /// Whether the target was met (None without a target).
    pub met: Option<bool>,
}

/// Appends `headline` to `$CARGO_TARGET_DIR/bench-figures.jsonl`, which scripts/bench
/// empties before its run and turns into the table afterwards.
pub fn headline(headline: Headline<'_>) {
    let line = serde_json::json!({
        "bench": std::env::args()
            .next()
            .and_then(|a| {
                let name = std::path::Path::new(&a).file_name()?.to_str()?.to_owned();
                // Cargo names bench binaries <name>-<hash>.
                Some(name.rsplit_once('-').map_or(name.clone(), |(n, _)| n.to_owned()))
            })
            .unwrap_or_default(),
        "figure": headline.figure,
        "sessiond": headline.sessiond,
        "peer": headline.peer,
        "target": headline.target,
        "met": headline.met,
    });
    let path = target_dir().join("bench-figures.jsonl");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    use std::io::Write as _;
    writeln!(file, "{line}").unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// A whole number with thousands separators: 1234567 -> "1,234,567".
pub fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0.0 { format!("-{out}") } else { out }
}

/// Prints a bench's summary after a blank line and keeps it in
/// `$CARGO_TARGET_DIR/<name>-bench.txt`, where scripts/bench reads it.
pub fn publish_summary(name: &str, summary: &str) {
    println!();
    print!("{summary}");
    let file = target_dir().join(format!("{name}-bench.txt"));
    std::fs::write(&file, summary).unwrap_or_else(|e| panic!("writing {}: {e}", file.display()));
}

/// Every partition of `topics` (`partitions` each) at offset 0: where a snapshot of empty
/// topics stands.
pub fn streams_from_start(
    topics: &[String],
    partitions: i32,
) -> Vec<sessiond::position::StreamPosition> {
    use sessiond::position::{StreamName, StreamPosition};
    topics
        .iter()
        .flat_map(|topic| {
            (0..partitions).map(move |partition| StreamPosition {
                name: StreamName {
                    topic: topic.clone(),
                    partition,
                },
                next_offset: 0,
            })
        })
        .collect()
}
