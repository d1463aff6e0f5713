//! `sessiond produce`: an event-log file onto the topics, each event to its topic by kind
//! (member kinds to the member topic, the rest to the call topic), keyed by session id.

use std::collections::VecDeque;
use std::io::BufRead;
use std::time::Duration;

use prost::Message;
use rdkafka::error::KafkaError;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

use super::KafkaSettings;
use crate::events::wire::{self, session_event::Body};

/// The call and member topics.
#[derive(Debug, Clone)]
pub struct Topics {
    /// Where call kinds go.
    pub calls: String,
    /// Where member kinds go.
    pub members: String,
}

impl Topics {
    /// The topic an event belongs on.
    pub fn for_event(&self, event: &wire::SessionEvent) -> &str {
        match event.body {
            Some(
                Body::MemberJoined(_)
                | Body::MemberCallStateChanged(_)
                | Body::MemberMuteChanged(_)
                | Body::MemberUpdated(_)
                | Body::MemberLeft(_),
            ) => &self.members,
            _ => &self.calls,
        }
    }
}

/// What producing a file did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProduceReport {
    /// Records delivered.
    pub produced: u64,
    /// Lines that are not a `SessionEvent` (line number, reason); not produced.
    pub bad_lines: Vec<(u64, String)>,
}

/// Why producing stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// Reading the input failed.
    #[error("reading the event log: {0}")]
    Io(#[from] std::io::Error),
    /// The producer could not be made, or a record could not be delivered.
    #[error("producing: {0}")]
    Kafka(#[from] KafkaError),
}

/// A producer that keeps each partition's order through retries.
pub fn producer(settings: &KafkaSettings) -> Result<FutureProducer, KafkaError> {
    settings
        .client_config()
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
}

/// Produces one event to its topic, keyed by its session id.
pub async fn send_event(
    producer: &FutureProducer,
    topics: &Topics,
    event: &wire::SessionEvent,
) -> Result<(), KafkaError> {
    let payload = event.encode_to_vec();
    let record = FutureRecord::to(topics.for_event(event))
        .key(event.session_id.as_bytes())
        .payload(&payload);
    producer
        .send(record, Duration::from_secs(30))
        .await
        .map(|_| ())
        .map_err(|(e, _)| e)
}

/// Produces every event line read from `reader`, in order; bad lines are reported and
/// skipped. Returns once every record is delivered.
pub async fn produce_lines(
    settings: &KafkaSettings,
    topics: &Topics,
    reader: impl BufRead,
) -> Result<ProduceReport, ProduceError> {
    let producer = producer(settings)?;
    let mut report = ProduceReport::default();
    let mut in_flight = VecDeque::new();
    for (index, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let event: wire::SessionEvent = match serde_json::from_str(&line) {
            Ok(event) => event,
            Err(e) => {
                report.bad_lines.push((index as u64 + 1, e.to_string()));
                continue;
            }
        };
        let payload = event.encode_to_vec();
        let mut record = FutureRecord::to(topics.for_event(&event))
            .key(event.session_id.as_bytes())
            .payload(&payload);
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    in_flight.push_back(delivery);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    // The local queue is full: wait for the oldest delivery to make room.
                    match in_flight.pop_front() {
                        Some(oldest) => report.produced += delivered(oldest).await?,
                        None => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
                Err((error, _)) => return Err(error.into()),
            }
        }
    }
    for delivery in in_flight {
        report.produced += delivered(delivery).await?;
    }
    producer.flush(Duration::from_secs(30))?;
    Ok(report)
}

async fn delivered(delivery: DeliveryFuture) -> Result<u64, KafkaError> {
    match delivery.await {
        Ok(Ok(_)) => Ok(1),
        Ok(Err((error, _))) => Err(error),
        Err(_canceled) => Err(KafkaError::Canceled),
    }
}
