//! Operational metrics, in Prometheus text form at `GET /metrics`.
//!
//! The fold stays pure: it only counts in its own stats, and the sources publish those
//! counts here (as absolute values) on their own schedule. Every metric is named once, in
//! this file.

use std::sync::OnceLock;
use std::time::Duration;

use dashmap::DashMap;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::projection::Fold;
use crate::record::RecordCounts;

/// Latency buckets for HTTP requests, in seconds: reads are served from memory.
const HTTP_BUCKETS: [f64; 12] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder (once per process); later calls return the same handle.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("sessiond_http_request_duration_seconds".to_owned()),
                    &HTTP_BUCKETS,
                )
                .and_then(PrometheusBuilder::install_recorder)
                .inspect_err(|error| tracing::warn!(%error, "metrics recorder not installed"))
                .ok()
        })
        .as_ref()
}

/// The metrics in Prometheus text form.
pub fn render() -> String {
    install().map(PrometheusHandle::render).unwrap_or_default()
}

/// Publishes what the fold has counted, and the projection's sizes.
pub fn publish_fold(fold: &Fold) {
    let stats = fold.stats();
    for (kind, n) in stats.applied() {
        counter!("sessiond_events_applied_total", "kind" => kind).absolute(n);
    }
    for (reason, n) in &stats.skipped {
        counter!("sessiond_records_skipped_total", "reason" => reason.code()).absolute(*n);
    }
    counter!("sessiond_records_skipped_total", "reason" => "orphan")
        .absolute(stats.orphaned_events);
    counter!("sessiond_sessions_evicted_total", "reason" => "idle").absolute(stats.evicted_idle);
    counter!("sessiond_sessions_evicted_total", "reason" => "orphan")
        .absolute(stats.orphaned_sessions);
    counter!("sessiond_tombstones_expired_total").absolute(stats.tombstones_expired);
    gauge!("sessiond_sessions", "state" => "active").set(fold.projection().len() as f64);
    gauge!("sessiond_sessions", "state" => "pending").set(fold.pending_count() as f64);
    gauge!("sessiond_sessions", "state" => "tombstoned").set(fold.tombstone_count() as f64);
    if let Some(watermark) = fold.watermark() {
        gauge!("sessiond_watermark_seconds").set(watermark.0 as f64 / 1e9);
    }
}

/// Publishes what a source has counted.
pub fn publish_ingest(stats: &RecordCounts) {
    counter!("sessiond_records_read_total").absolute(stats.records);
    publish_bad(stats.bad.iter().map(|(k, v)| (*k, *v)), stats.unknown_kinds);
    counter!("sessiond_dead_letters_total").absolute(stats.dead_lettered);
    counter!("sessiond_records_reread_total").absolute(stats.reread);
}

fn publish_bad(bad: impl Iterator<Item = (&'static str, u64)>, unknown_kinds: u64) {
    let mut total = 0;
    for (code, n) in bad {
        counter!("sessiond_bad_records_total", "reason" => code).absolute(n);
        total += n;
    }
    counter!("sessiond_records_skipped_total", "reason" => "bad").absolute(total);
    counter!("sessiond_records_skipped_total", "reason" => "unknown_kind").absolute(unknown_kinds);
}

/// Publishes one partition's position (next offset to read), high watermark and lag.
pub fn publish_partition(topic: &str, partition: i32, position: i64, high_watermark: i64) {
    let labels = [
        ("topic", topic.to_owned()),
        ("partition", partition.to_string()),
    ];
    gauge!("sessiond_partition_position", &labels).set(position as f64);
    gauge!("sessiond_partition_high_watermark", &labels).set(high_watermark as f64);
    gauge!("sessiond_partition_lag", &labels).set((high_watermark - position).max(0) as f64);
}

/// Records one HTTP request.
pub fn record_http(route: &str, status: u16, elapsed: Duration) {
    // Registering a labelled metric allocates its key; a read is cheaper than that, so
    // each route's handles are registered once and kept. The recorder is installed first:
    // a handle taken before it would count nowhere, for good.
    install();
    let routes = HTTP_ROUTES.get_or_init(DashMap::default);
    if let Some(metrics) = routes.get(route)
        && let Some((_, requests)) = metrics.requests.iter().find(|(s, _)| *s == status)
    {
        requests.increment(1);
        metrics.duration.record(elapsed.as_secs_f64());
        return;
    }
    let mut metrics = routes.entry(route.into()).or_insert_with(|| RouteMetrics {
        duration: histogram!("sessiond_http_request_duration_seconds", "route" => route.to_owned()),
        requests: Vec::new(),
    });
    if !metrics.requests.iter().any(|(s, _)| *s == status) {
        let requests = counter!("sessiond_http_requests_total", "route" => route.to_owned(), "status" => status.to_string());
        metrics.requests.push((status, requests));
    }
    if let Some((_, requests)) = metrics.requests.iter().find(|(s, _)| *s == status) {
        requests.increment(1);
    }
    metrics.duration.record(elapsed.as_secs_f64());
}

/// One route's registered HTTP metrics: its latency, and its request count by status.
struct RouteMetrics {
    duration: metrics::Histogram,
    requests: Vec<(u16, metrics::Counter)>,
}

/// Every route's HTTP metrics, by matched route.
static HTTP_ROUTES: OnceLock<DashMap<Box<str>, RouteMetrics>> = OnceLock::new();

/// Publishes the last snapshot's size and how long writing it took.
pub fn publish_snapshot(bytes: u64, took: std::time::Duration) {
    counter!("sessiond_snapshots_written_total").increment(1);
    gauge!("sessiond_snapshot_bytes").set(bytes as f64);
    gauge!("sessiond_snapshot_write_seconds").set(took.as_secs_f64());
}

/// Counts a turn of the checkpoint topic's writer by outcome: `written`, `skipped` (another
/// replica's checkpoint is fresh) or `failed`.
pub fn topic_checkpoint(outcome: &'static str) {
    counter!("sessiond_topic_checkpoints_total", "outcome" => outcome).increment(1);
}

/// Counts a checkpoint not taken because the fold's state disagreed with itself.
pub fn snapshot_refused() {
    counter!("sessiond_snapshots_refused_total").increment(1);
}

/// Counts a live stream opening.
pub fn stream_opened() {
    gauge!("sessiond_live_streams").increment(1.0);
    counter!("sessiond_live_streams_opened_total").increment(1);
}

/// Counts a live stream closing.
pub fn stream_closed() {
    gauge!("sessiond_live_streams").decrement(1.0);
}

/// Counts change-feed records whose delivery failed (each is sent again).
pub fn changes_failed(n: u64) {
    counter!("sessiond_changes_failed_total").increment(n);
}

/// Counts a record produced to the change feed (a tombstone when the session ended).
pub fn change_produced(tombstone: bool) {
    let kind = if tombstone { "tombstone" } else { "session" };
    counter!("sessiond_changes_produced_total", "kind" => kind).increment(1);
}

/// Counts a connection accepted.
pub fn connection_opened() {
    gauge!("sessiond_http_connections").increment(1.0);
}

/// Counts a connection closed.
pub fn connection_closed() {
    gauge!("sessiond_http_connections").decrement(1.0);
}

/// Counts a connection refused because the cap on open connections was reached.
pub fn connection_refused() {
    counter!("sessiond_http_connections_refused_total").increment(1);
}

/// Counts a request refused by a user's rate limit.
pub fn rate_limited() {
    counter!("sessiond_http_rate_limited_total").increment(1);
}

/// Counts a live stream the server ended, by why (`stream_limit`, `token_expired`,
/// `shutdown`).
pub fn stream_ended(reason: &'static str) {
    counter!("sessiond_live_streams_ended_total", "reason" => reason).increment(1);
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_what_was_published() {
        super::install();
        metrics::counter!("sessiond_test_total").absolute(3);
        let text = super::render();
        assert!(text.contains("sessiond_test_total 3"), "{text:?}");
        let fold = crate::projection::Fold::new(Default::default(), Default::default());
        std::thread::spawn(move || super::publish_fold(&fold))
            .join()
            .unwrap();
        let text = super::render();
        assert!(
            text.contains("sessiond_sessions{state=\"active\"} 0"),
            "{text:?}"
        );
    }
}
