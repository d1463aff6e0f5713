//! What librdkafka tells us about the brokers: whether any is up, and the partitions'
//! high watermarks, from its statistics callback; logged once per change of state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rdkafka::client::ClientContext;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;

/// The latest view of the brokers, shared between the client's callbacks and the ingest loop.
#[derive(Debug)]
pub struct Connectivity {
    inner: Mutex<View>,
}

#[derive(Debug)]
struct View {
    connected: bool,
    changed_at: Instant,
    high_watermarks: HashMap<(String, i32), i64>,
}

impl Default for Connectivity {
    fn default() -> Self {
        Self {
            inner: Mutex::new(View {
                connected: false,
                changed_at: Instant::now(),
                high_watermarks: HashMap::new(),
            }),
        }
    }
}

impl Connectivity {
    /// Whether a broker is up, and since when that has been so.
    pub fn state(&self) -> (bool, Instant) {
        self.inner
            .lock()
            .map_or((false, Instant::now()), |v| (v.connected, v.changed_at))
    }

    /// The high watermark librdkafka last saw for a partition.
    pub fn high_watermark(&self, topic: &str, partition: i32) -> Option<i64> {
        self.inner
            .lock()
            .ok()?
            .high_watermarks
            .get(&(topic.to_owned(), partition))
            .copied()
    }

    /// Records that the brokers are (or are not) reachable.
    pub fn observe(&self, connected: bool) {
        if let Ok(mut v) = self.inner.lock()
            && v.connected != connected
        {
            v.connected = connected;
            v.changed_at = Instant::now();
            if connected {
                tracing::info!("broker connection up");
            } else {
                tracing::warn!("broker connection lost; retrying with backoff");
            }
        }
    }

    fn observe_statistics(&self, stats: &Statistics) {
        // Bootstrap entries have node id -1; a real broker that is UP means we can fetch.
        let up = stats
            .brokers
            .values()
            .any(|b| b.nodeid >= 0 && b.state == "UP");
        self.observe(up);
        if let Ok(mut v) = self.inner.lock() {
            for (topic, t) in &stats.topics {
                for (id, p) in &t.partitions {
                    if *id >= 0 && p.hi_offset >= 0 {
                        v.high_watermarks.insert((topic.clone(), *id), p.hi_offset);
                    }
                }
            }
        }
    }
}

/// The client context of sessiond's consumer: feeds [`Connectivity`].
#[derive(Debug, Clone, Default)]
pub struct IngestContext {
    /// Shared with the ingest loop.
    pub connectivity: Arc<Connectivity>,
}

impl ClientContext for IngestContext {
    fn stats(&self, statistics: Statistics) {
        self.connectivity.observe_statistics(&statistics);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            self.connectivity.observe(false);
        }
        // Transport errors repeat on every retry; the state change above is the log line.
        tracing::debug!(%error, reason, "kafka client error");
    }
}

impl ConsumerContext for IngestContext {}
