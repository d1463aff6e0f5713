//! Kafka clients' shared pieces: how to reach the brokers (used by the source, the change
//! feed and the tools), creating topics, and producing events to their topics.

pub mod admin;
pub mod produce;

use rdkafka::ClientConfig;

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
