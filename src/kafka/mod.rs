//! Kafka clients' shared pieces: how to reach the brokers (used by the source, the change
//! feed and the tools), creating topics, and producing events to their topics.

pub mod admin;
pub mod produce;

use rdkafka::ClientConfig;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

/// How to reach the brokers, shared by every Kafka client this service makes.
#[derive(Debug, Clone, Default)]
pub struct KafkaSettings {
    /// `bootstrap.servers`: `HOST:PORT[,…]`.
    pub brokers: String,
    /// Extra librdkafka properties (`security.protocol`, `sasl.*`, …).
    pub options: Vec<(String, String)>,
}

impl KafkaSettings {
    /// A client configuration with the brokers and the extra properties.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in &self.options {
            config.set(key, value);
        }
        config
    }
}

/// Parses `KEY=VALUE` for `--kafka-option`.
pub fn parse_option(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

/// Logs a librdkafka log line as rdkafka's default context does, except connection
/// failures (facility `FAIL`: refused connections, failed TLS handshakes, refused
/// credentials), which librdkafka repeats on every reconnect attempt: those are debug
/// lines, and the ingest's connectivity state logs each change once.
pub fn log_librdkafka(level: RDKafkaLogLevel, facility: &str, message: &str) {
    match level {
        _ if facility == "FAIL" => tracing::debug!(target: "librdkafka", facility, "{message}"),
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => tracing::error!(target: "librdkafka", facility, "{message}"),
        RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", facility, "{message}"),
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(target: "librdkafka", facility, "{message}");
        }
        RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility, "{message}"),
    }
}

/// Whether a client error only says the brokers cannot be reached or refuse us, as
/// librdkafka repeats on every reconnect attempt (the ingest's connectivity state reports
/// that once per change).
pub fn is_connection_error(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::Authentication
                | RDKafkaErrorCode::SSL
                | RDKafkaErrorCode::Resolve
        )
    )
}
