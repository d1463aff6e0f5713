//! Reads against nginx (issue 14): `GET /sessions/active` for the demo's busiest user, its
//! token verified on every request as a client sends it, against Debian's nginx serving the
//! very same bytes as a static file, under the same load, in one run:
//!   throughput: `wrk -t2 -c32 -d10s`, nginx and sessiond taking turns three times each;
//!     the medians and their ratio (target: sessiond >= 0.8x nginx);
//!   latency at a fixed rate: `oha` holding 10,000 requests/s over 32 connections with
//!     latency correction (a late request counts from when it should have been sent),
//!     p50/p99/max for each (target: sessiond's p99 <= 1 ms).
//!
//! Each wrk turn also reads the server's own CPU time (user and system, every process of
//! it) per request served: a figure this shared 2-core machine disturbs far less than
//! requests per second.
//!
//! nginx is configured as one serves static files at its best: as many workers as cores,
//! no access log, sendfile, an open-file cache, and connections kept open as long as
//! wrk wants. sessiond is the release binary on the demo's event log with the defaults
//! users get, except the per-user rate limit (600 a minute), which this load would trip
//! at once: it is raised high enough never to refuse, so it is still checked on every
//! request. Both answer the same bytes; the program checks that before measuring.
//!
//! Needs wrk (Debian) and oha (crates.io); `scripts/install-bench-tools` installs both.
//! `cargo bench --bench reads` (scripts/bench runs it); the summary is also written to
//! `$CARGO_TARGET_DIR/reads-bench.txt`.

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "kit.rs"]
mod kit;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use common::broker::free_port;

const SECRET: &str = "reads-bench";
/// The load both servers get.
const CONNECTIONS: &str = "32";
const THREADS: &str = "2";
const DURATION: &str = "10s";
const TURNS: usize = 3;
/// The fixed rate of the latency measurement, requests per second.
const FIXED_RATE: &str = "10000";

/// A process stopped with SIGTERM (nginx's master then stops its workers) when dropped.
struct Terminated(Child);

impl Drop for Terminated {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn main() {
    let wrk = tool("wrk");
    let oha = tool("oha");
    let user = busiest_user();
    let token = common::token_with_roles(SECRET, &user, &["User"]);
    let (sessiond, sessiond_port) = common::serve(
        &[
            "--events",
            "examples/demo.jsonl",
            "--jwt-secret",
            SECRET,
            "--rate-limit",
            "1000000000",
            "--rate-burst",
            "1000000000",
        ],
        Duration::from_secs(30),
    );
    let (status, body) = common::http_get(sessiond_port, "/sessions/active", Some(&token));
    assert_eq!(status, 200, "sessiond answered {status}: {body}");

    let work = tempfile::tempdir().expect("work dir");
    let root = work.path().join("root");
    std::fs::create_dir_all(root.join("sessions")).expect("nginx root");
    std::fs::write(root.join("sessions/active"), &body).expect("the static file");
    let nginx_port = free_port();
    let nginx = start_nginx(work.path(), &root, nginx_port);
    let nginx_pids = children(nginx.0.id());
    let sessiond_pids = vec![sessiond.0.id()];
    let (status, static_body) = common::http_get(nginx_port, "/sessions/active", None);
    assert_eq!(status, 200, "nginx answered {status}");
    assert_eq!(static_body, body, "nginx must serve sessiond's bytes");

    let sessiond_url = format!("http://127.0.0.1:{sessiond_port}/sessions/active");
    let nginx_url = format!("http://127.0.0.1:{nginx_port}/sessions/active");
    let auth = format!("Authorization: Bearer {token}");

    let mut rates: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut cpu: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for turn in 0..TURNS {
        for (name, url, header, pids) in [
            ("nginx", &nginx_url, None, &nginx_pids),
            (
                "sessiond",
                &sessiond_url,
                Some(auth.as_str()),
                &sessiond_pids,
            ),
        ] {
            let before = cpu_seconds(pids);
            let (rate, requests) = wrk_rate(&wrk, url, header);
            let per_request = (cpu_seconds(pids) - before) / requests * 1e6;
            eprintln!(
                "turn {}: {name} {rate:.0} requests/s, {per_request:.1} us of CPU each",
                turn + 1
            );
            rates.entry(name).or_default().push(rate);
            cpu.entry(name).or_default().push(per_request);
        }
    }
    let nginx_fixed = oha_fixed(&oha, &nginx_url, None);
    let sessiond_fixed = oha_fixed(&oha, &sessiond_url, Some(&auth));

    let nginx_rate = median(&rates["nginx"]);
    let sessiond_rate = median(&rates["sessiond"]);
    let ratio = sessiond_rate / nginx_rate;
    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
    let mut out = String::new();
    out.push_str(&format!(
        "reads vs nginx, GET /sessions/active for {user} ({} bytes of JSON; sessiond verifies the JWT), same run:\n",
        body.len()
    ));
    out.push_str(&format!(
        "  wrk -t{THREADS} -c{CONNECTIONS} -d{DURATION}, {TURNS} turns each, medians:\n    nginx (static file) {:>9.0} requests/s  {}\n    sessiond            {:>9.0} requests/s  {}\n    sessiond / nginx = {ratio:.2}  (target >= 0.80: {})\n",
        nginx_rate,
        runs(&rates["nginx"]),
        sessiond_rate,
        runs(&rates["sessiond"]),
        verdict(ratio >= 0.8)
    ));
    out.push_str(&format!(
        "  server CPU per request (user + system), medians: nginx {:.1} us, sessiond {:.1} us: sessiond / nginx = {:.2}\n",
        median(&cpu["nginx"]),
        median(&cpu["sessiond"]),
        median(&cpu["sessiond"]) / median(&cpu["nginx"])
    ));
    out.push_str(&format!(
        "  oha at a fixed {FIXED_RATE} requests/s over {CONNECTIONS} connections for {DURATION} (latency corrected):\n    nginx     {nginx_fixed}\n    sessiond  {sessiond_fixed}  (target p99 <= 1 ms: {})\n",
        verdict(sessiond_fixed.p99_ms <= 1.0)
    ));
    kit::headline(kit::Headline {
        figure: "reads/s, GET /sessions/active (5 KB, JWT verified), wrk -t2 -c32",
        sessiond: format!("{}/s", kit::thousands(sessiond_rate)),
        peer: format!(
            "nginx, same bytes as a static file {}/s ({ratio:.2}x)",
            kit::thousands(nginx_rate)
        ),
        target: ">= 0.80x nginx",
        met: Some(ratio >= 0.8),
    });
    kit::headline(kit::Headline {
        figure: "read latency at a fixed 10,000 requests/s (oha, 32 connections): p50 / p99",
        sessiond: format!(
            "{:.2} / {:.2} ms",
            sessiond_fixed.p50_ms, sessiond_fixed.p99_ms
        ),
        peer: format!(
            "nginx {:.2} / {:.2} ms",
            nginx_fixed.p50_ms, nginx_fixed.p99_ms
        ),
        target: "p99 <= 1 ms",
        met: Some(sessiond_fixed.p99_ms <= 1.0),
    });
    kit::publish_summary("reads", &out);
}

/// The user with the most active sessions at the end of the demo's event log.
fn busiest_user() -> String {
    let mut feeder = common::Feeder::new(common::fold());
    let log = std::fs::read_to_string("examples/demo.jsonl").expect("the demo's event log");
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        feeder.feed(line);
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for session in feeder.projection().all() {
        for owner in session.owners() {
            *counts.entry(owner.to_owned()).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(user, count)| (*count, std::cmp::Reverse(user.clone())))
        .map(|(user, _)| user)
        .expect("the demo has active sessions")
}

/// A tool's binary: on `PATH`, or where `scripts/install-bench-tools` puts it.
fn tool(name: &str) -> PathBuf {
    let cached = std::env::var_os("HOME").map(|home| {
        PathBuf::from(home)
            .join(".cache/sessiond/tools/bin")
            .join(name)
    });
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.is_file())
        })
        .or(cached.filter(|p| p.is_file()))
        .unwrap_or_else(|| panic!("{name} is not installed: run scripts/install-bench-tools"))
}

/// Debian's nginx serving `root` on `port`, as many workers as cores.
fn start_nginx(work: &Path, root: &Path, port: u16) -> Terminated {
    let http = format!(
        r#"    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    open_file_cache max=16 inactive=60s;
    open_file_cache_valid 60s;
    keepalive_requests 10000000;
    keepalive_timeout 60s;
    default_type "application/json; charset=utf-8";
    server {{
        listen 127.0.0.1:{port};
        root {};
    }}"#,
        root.display()
    );
    let child = common::nginx::configure(work, "worker_processes auto;", &http)
        .spawn()
        .expect("start nginx");
    let guard = Terminated(child);
    common::wait_until("nginx listening", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    guard
}

/// nginx's workers: the processes whose parent is its master.
fn children(parent: u32) -> Vec<u32> {
    common::wait_until("nginx's workers", Duration::from_secs(10), || {
        !children_now(parent).is_empty()
    });
    children_now(parent)
}

fn children_now(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| stat_fields(*pid).and_then(|f| f.get(1)?.parse::<u32>().ok()) == Some(parent))
        .collect()
}

/// A process's /proc stat fields after its name: state, ppid, ...
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    Some(after_name.split(' ').map(str::to_owned).collect())
}

/// The CPU time (user and system) `pids` have used, in seconds.
fn cpu_seconds(pids: &[u32]) -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    pids.iter()
        .filter_map(|pid| stat_fields(*pid))
        .map(|f| {
            // utime and stime: fields 14 and 15 of stat, 12 and 13 after the name.
            let field = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            (field(11) + field(12)) / ticks
        })
        .sum()
}

/// Requests per second wrk reached against `url`, and how many it sent; every answer
/// must be a 200.
fn wrk_rate(wrk: &Path, url: &str, header: Option<&str>) -> (f64, f64) {
    let mut command = Command::new(wrk);
    command.args(["-t", THREADS, "-c", CONNECTIONS, "-d", DURATION]);
    if let Some(header) = header {
        command.args(["-H", header]);
    }
    let output = command.arg(url).output().expect("run wrk");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "wrk failed: {text}");
    assert!(
        !text.contains("Non-2xx or 3xx responses"),
        "{url} answered errors under load:\n{text}"
    );
    let rate = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk's output:\n{text}"));
    let requests = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in ")?.0.parse().ok())
        .unwrap_or_else(|| panic!("no request count in wrk's output:\n{text}"));
    (rate, requests)
}

/// Latency percentiles at a fixed rate.
struct Fixed {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

impl std::fmt::Display for Fixed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>6.0} requests/s  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            self.rate, self.p50_ms, self.p99_ms, self.max_ms
        )
    }
}

/// oha holding `FIXED_RATE` against `url`; every answer must be a 200.
fn oha_fixed(oha: &Path, url: &str, header: Option<&str>) -> Fixed {
    let mut command = Command::new(oha);
    command.args([
        "--no-tui",
        "--output-format",
        "json",
        "--latency-correction",
        "-z",
        DURATION,
        "-c",
        CONNECTIONS,
        "-q",
        FIXED_RATE,
    ]);
    if let Some(header) = header {
        command.args(["-H", header]);
    }
    let output = command.arg(url).output().expect("run oha");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "oha failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&text).expect("oha's JSON report");
    let statuses = &report["statusCodeDistribution"];
    let all_ok = statuses
        .as_object()
        .is_some_and(|codes| codes.keys().all(|code| code == "200"));
    assert!(
        all_ok,
        "{url} answered errors at the fixed rate: {statuses}"
    );
    let seconds = |v: &serde_json::Value| v.as_f64().expect("a latency") * 1e3;
    Fixed {
        rate: report["summary"]["requestsPerSec"]
            .as_f64()
            .expect("requestsPerSec"),
        p50_ms: seconds(&report["latencyPercentiles"]["p50"]),
        p99_ms: seconds(&report["latencyPercentiles"]["p99"]),
        max_ms: seconds(&report["summary"]["slowest"]),
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// Every turn's figure, in order.
fn runs(values: &[f64]) -> String {
    let each: Vec<String> = values.iter().map(|v| format!("{v:.0}")).collect();
    format!("[{}]", each.join(", "))
}
