//! What librdkafka tells us about the brokers: whether any is up, and the partitions'
//! high watermarks, from its statistics callback; and why none is, when the brokers
//! refuse our credentials or the TLS handshake fails (its error callback); logged once per
//! change of state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
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
    /// Why the brokers refused us (SASL authentication or the TLS handshake), said the
    /// way readiness says it, while no broker is up.
    auth_failure: Option<String>,
    high_watermarks: HashMap<(String, i32), i64>,
}

impl Default for Connectivity {
    fn default() -> Self {
        Self {
            inner: Mutex::new(View {
                connected: false,
                changed_at: Instant::now(),
                auth_failure: None,
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

    /// Why the brokers refused us, while no broker is up: `authentication failed: …` or
    /// `TLS handshake failed: …`.
    pub fn auth_failure(&self) -> Option<String> {
        self.inner.lock().ok()?.auth_failure.clone()
    }

    /// Records that the brokers are (or are not) reachable.
    pub fn observe(&self, connected: bool) {
        if let Ok(mut v) = self.inner.lock()
            && v.connected != connected
        {
            v.connected = connected;
            v.changed_at = Instant::now();
            if connected {
                v.auth_failure = None;
                tracing::info!("broker connection up");
            } else {
                tracing::warn!("broker connection lost; retrying with backoff");
            }
        }
    }

    /// Records that a broker refused our credentials (librdkafka retries with backoff):
    /// kept until a broker is up again, logged when it starts. Ignored while a broker is
    /// up: another broker serves us.
    pub fn observe_auth_failure(&self, reason: &str) {
        self.observe_refusal(
            format!("authentication failed: {}", tidy_auth_reason(reason)),
            "the brokers refused sessiond's credentials (check sasl.username, sasl.password and sasl.mechanisms); retrying with backoff",
        );
    }

    /// Records that the TLS handshake with a broker failed (a CA that does not sign the
    /// broker's certificate, a name mismatch, a plaintext listener): as with refused
    /// credentials, retrying will not fix it.
    pub fn observe_tls_failure(&self, reason: &str) {
        self.observe_refusal(
            format!("TLS handshake failed: {}", tidy_auth_reason(reason)),
            "the TLS handshake with the brokers failed (check ssl.ca.location, the broker's certificate and security.protocol); retrying with backoff",
        );
    }

    fn observe_refusal(&self, reason: String, advice: &str) {
        if let Ok(mut v) = self.inner.lock()
            && !v.connected
        {
            if v.auth_failure.as_deref() != Some(reason.as_str()) {
                tracing::error!(%reason, "{advice}");
            }
            v.auth_failure = Some(reason);
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
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        crate::kafka::log_librdkafka(level, fac, log_message);
    }

    fn stats(&self, statistics: Statistics) {
        self.connectivity.observe_statistics(&statistics);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::AllBrokersDown) => self.connectivity.observe(false),
            Some(RDKafkaErrorCode::Authentication) => {
                self.connectivity.observe_auth_failure(reason);
            }
            Some(RDKafkaErrorCode::SSL) => self.connectivity.observe_tls_failure(reason),
            _ => {}
        }
        // Transport errors repeat on every retry; the state change above is the log line.
        tracing::debug!(%error, reason, "kafka client error");
    }
}

impl ConsumerContext for IngestContext {}

/// librdkafka's reason without the broker's name in front and the retry bookkeeping
/// behind (`… (after 5ms in state AUTH_REQ, 3 identical error(s) suppressed)`), so that
/// it reads the same on every retry.
fn tidy_auth_reason(reason: &str) -> String {
    let reason = reason.trim();
    let reason = reason
        .find(": ")
        .filter(|&at| reason[..at].contains('/') && !reason[..at].contains(' '))
        .map_or(reason, |at| &reason[at + 2..]);
    let reason = reason
        .rfind(" (after ")
        .filter(|_| reason.ends_with(')'))
        .map_or(reason, |at| &reason[..at]);
    reason.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFUSED: &str = "sasl_ssl://127.0.0.1:9094/bootstrap: SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512 (after 3ms in state AUTH_REQ, 2 identical error(s) suppressed)";

    #[test]
    fn an_authentication_failure_is_kept_until_a_broker_is_up() {
        let connectivity = Connectivity::default();
        assert_eq!(connectivity.auth_failure(), None);
        connectivity.observe_auth_failure(REFUSED);
        assert_eq!(
            connectivity.auth_failure().as_deref(),
            Some(
                "authentication failed: SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"
            )
        );
        connectivity.observe(true);
        assert_eq!(connectivity.auth_failure(), None);
        // While a broker serves us, another one's refusal is not why we wait.
        connectivity.observe_auth_failure(REFUSED);
        assert_eq!(connectivity.auth_failure(), None);
        connectivity.observe(false);
        connectivity.observe_auth_failure(REFUSED);
        assert!(connectivity.auth_failure().is_some());
    }

    #[test]
    fn the_error_callback_records_authentication_errors_only() {
        let context = IngestContext::default();
        context.error(
            KafkaError::Global(RDKafkaErrorCode::BrokerTransportFailure),
            "127.0.0.1:9/bootstrap: Connect to ipv4#127.0.0.1:9 failed: Connection refused",
        );
        assert_eq!(context.connectivity.auth_failure(), None);
        context.error(
            KafkaError::Global(RDKafkaErrorCode::Authentication),
            REFUSED,
        );
        assert!(
            context.connectivity.auth_failure().is_some_and(
                |r| r.starts_with("authentication failed: SASL authentication error: ")
            )
        );
    }

    #[test]
    fn a_failed_tls_handshake_is_named_as_such() {
        let context = IngestContext::default();
        context.error(
            KafkaError::Global(RDKafkaErrorCode::SSL),
            "ssl://127.0.0.1:9094/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified, verify that ssl.ca.location is correctly configured or root CA certificates are installed (install ca-certificates package) (after 4ms in state SSL_HANDSHAKE)",
        );
        let reason = context.connectivity.auth_failure().unwrap();
        assert!(
            reason.starts_with("TLS handshake failed: SSL handshake failed: "),
            "{reason}"
        );
        assert!(!reason.contains("after 4ms"), "{reason}");
    }

    #[test]
    fn a_reason_without_a_broker_or_retry_notes_is_kept_whole() {
        assert_eq!(
            tidy_auth_reason(" no ticket: expired "),
            "no ticket: expired"
        );
    }
}
