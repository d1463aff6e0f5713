//! The dead-letter producer: a bad record is copied, key and bytes and headers intact, to
//! `<topic><suffix>` with headers naming where it came from and why it was refused.

use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};

use crate::events::validate::BadRecord;
use crate::kafka::KafkaSettings;

/// Header naming the record's source topic.
pub const HEADER_TOPIC: &str = "sessiond-source-topic";
/// Header naming the record's source partition.
pub const HEADER_PARTITION: &str = "sessiond-source-partition";
/// Header naming the record's source offset.
pub const HEADER_OFFSET: &str = "sessiond-source-offset";
/// Header with the reason code (`undecodable`, `key_mismatch`, …).
pub const HEADER_REASON: &str = "sessiond-reason";
/// Header with the reason in words.
pub const HEADER_DETAIL: &str = "sessiond-reason-detail";

/// Where a refused record came from.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// Source topic.
    pub topic: &'a str,
    /// Source partition.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
}

/// Copies bad records to their dead-letter topics.
pub struct DeadLetters {
    producer: ThreadedProducer<DeadLetterContext>,
    suffix: String,
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetters")
            .field("suffix", &self.suffix)
            .finish_non_exhaustive()
    }
}

impl DeadLetters {
    /// A producer for `<topic><suffix>` topics.
    pub fn new(settings: &KafkaSettings, suffix: &str) -> Result<Self, KafkaError> {
        let producer = settings
            .client_config()
            // A dead letter must not be dropped while the process lives: retry forever.
            .set("message.timeout.ms", "0")
            .set("enable.idempotence", "true")
            .create_with_context(DeadLetterContext)?;
        Ok(Self {
            producer,
            suffix: suffix.to_owned(),
        })
    }

    /// The dead-letter topic of `topic`.
    pub fn topic_for(&self, topic: &str) -> String {
        format!("{topic}{}", self.suffix)
    }

    /// Queues a copy of the record; waits while librdkafka's queue is full.
    pub fn send(
        &self,
        origin: Origin<'_>,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        headers: Option<&rdkafka::message::BorrowedHeaders>,
        reason: &BadRecord,
    ) {
        let partition = origin.partition.to_string();
        let offset = origin.offset.to_string();
        let detail = reason.to_string();
        let mut out = OwnedHeaders::new();
        if let Some(original) = headers {
            for h in original.iter() {
                out = out.insert(Header {
                    key: h.key,
                    value: h.value,
                });
            }
        }
        out = out
            .insert(Header {
                key: HEADER_TOPIC,
                value: Some(origin.topic),
            })
            .insert(Header {
                key: HEADER_PARTITION,
                value: Some(&partition),
            })
            .insert(Header {
                key: HEADER_OFFSET,
                value: Some(&offset),
            })
            .insert(Header {
                key: HEADER_REASON,
                value: Some(reason.code()),
            })
            .insert(Header {
                key: HEADER_DETAIL,
                value: Some(&detail),
            });
        let topic = self.topic_for(origin.topic);
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&topic).headers(out);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(payload) = payload {
            record = record.payload(payload);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err((error, _)) => {
                    // Only a malformed record gets here (e.g. over message.max.bytes).
                    tracing::error!(%error, topic = origin.topic, partition = origin.partition, offset = origin.offset, "could not dead-letter a bad record");
                    return;
                }
            }
        }
    }

    /// Waits for queued dead letters to be delivered.
    pub fn flush(&self, timeout: Duration) {
        if let Err(error) = self.producer.flush(timeout) {
            tracing::warn!(%error, "dead letters not all delivered at shutdown");
        }
    }
}

/// The dead-letter producer's context: rdkafka's default, except that errors saying the
/// brokers cannot be reached (or refuse our credentials), repeated on every reconnect
/// attempt, are debug lines: the consumer beside it reports those once per change.
struct DeadLetterContext;

impl ClientContext for DeadLetterContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        crate::kafka::log_librdkafka(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if crate::kafka::is_connection_error(&error) {
            tracing::debug!(%error, reason, "dead-letter producer: kafka client error");
        } else {
            tracing::error!(%error, reason, "dead-letter producer: kafka client error");
        }
    }
}

impl ProducerContext for DeadLetterContext {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}
