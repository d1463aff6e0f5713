//! Running the simulator live: events produced to Kafka at the simulated rate, stamped
//! with wall-clock time, each to its topic by kind and keyed by session id.

use std::iter::Peekable;
use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::{SimTopic, Simulator};
use crate::kafka::produce::Topics;
use crate::time::EventTime;

/// How far the simulated clock may run ahead of the wall clock before production waits.
const MAX_AHEAD: Duration = Duration::from_millis(5);

/// Produces `simulator`'s events until `until` (simulated time) or forever, paced so that
/// simulated time follows the wall clock; the first `warmup` of simulated time goes out
/// at once, so a demo has live sessions from its first second. Returns how many events
/// were produced.
pub async fn produce_live(
    producer: &FutureProducer,
    topics: &Topics,
    simulator: &mut Peekable<Simulator>,
    sim_start: EventTime,
    warmup: Duration,
    until: Option<EventTime>,
) -> Result<u64, KafkaError> {
    let wall_start = Instant::now();
    let mut produced = 0;
    let mut in_flight = Vec::new();
    while let Some(next) = simulator.peek() {
        let at = next.event.occurred_at.map_or(sim_start, |t| {
            EventTime::from_parts(t.seconds, t.nanos).unwrap_or(sim_start)
        });
        if until.is_some_and(|u| at > u) {
            // Left for the next call, so a warm-up and the live run that follows it lose
            // nothing between them.
            break;
        }
        let Some(sim) = simulator.next() else {
            break;
        };
        let due =
            Duration::from_nanos(u64::try_from(at.0.saturating_sub(sim_start.0)).unwrap_or(0));
        let now = warmup + wall_start.elapsed();
        if due > now + MAX_AHEAD {
            // Wait for the wall clock, but first make sure what was sent is delivered.
            for delivery in in_flight.drain(..) {
                delivered(delivery).await?;
            }
            tokio::time::sleep(due - now).await;
        }
        let topic = match sim.topic {
            SimTopic::Calls => &topics.calls,
            SimTopic::Members => &topics.members,
        };
        let payload = sim.event.encode_to_vec();
        let record = FutureRecord::to(topic)
            .key(sim.event.session_id.as_bytes())
            .payload(&payload);
        match producer.send_result(record) {
            Ok(delivery) => in_flight.push(delivery),
            Err((error, _)) => return Err(error),
        }
        produced += 1;
        if in_flight.len() >= 1_000 {
            for delivery in in_flight.drain(..) {
                delivered(delivery).await?;
            }
        }
    }
    for delivery in in_flight {
        delivered(delivery).await?;
    }
    Ok(produced)
}

async fn delivered(delivery: rdkafka::producer::DeliveryFuture) -> Result<(), KafkaError> {
    match delivery.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((error, _))) => Err(error),
        Err(_) => Err(KafkaError::Canceled),
    }
}
