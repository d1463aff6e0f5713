//! Ingest throughput through a real broker (the tests' Apache Kafka, or `KAFKA_BROKERS`):
//! records per second consumed and folded by sessiond's Kafka source, against a bare
//! rdkafka consumer reading the same topics from the same broker in the same run (target:
//! ratio at least 0.9).
//!
//! `cargo bench --bench ingest` (scripts/bench runs it); `INGEST_RECORDS` sets the count.

#[path = "../tests/common/broker.rs"]
#[allow(dead_code)]
mod broker;
#[path = "load/kit.rs"]
mod kit;

use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use sessiond::ingest::kafka::consumer::{CONSUMER_DEFAULTS, IngestConfig, spawn};
use sessiond::projection::{Fold, FoldConfig, Projection};
use sessiond::readiness::Readiness;
use sessiond::simulate::{SimConfig, SimTopic, Simulator};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PARTITIONS: i32 = 3;

fn main() {
    let records: usize = std::env::var("INGEST_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let broker = broker::Broker::start();
    let (calls, members) = broker::unique_topics("bench");
    runtime.block_on(broker.create_topics(&[&calls, &members], PARTITIONS));
    runtime.block_on(produce(&broker, &calls, &members, records));
    eprintln!(
        "produced {records} simulated records to {} partitions",
        2 * PARTITIONS
    );

    let topics = [calls, members];
    let mut bare = Vec::new();
    let mut folded = Vec::new();
    for round in 1..=3 {
        bare.push(bare_consumer(&broker, &topics, records));
        folded.push(sessiond_ingest(&broker, &topics));
        eprintln!(
            "round {round}: bare {:.0} records/s, sessiond {:.0} records/s",
            rate(records, bare[round - 1]),
            rate(records, folded[round - 1])
        );
    }
    let bare = median(bare);
    let folded = median(folded);
    let ratio = bare.as_secs_f64() / folded.as_secs_f64();
    kit::headline(kit::Headline {
        figure: "ingest through Apache Kafka: records/s, decode + validate + fold",
        sessiond: format!("{}/s", kit::thousands(rate(records, folded))),
        peer: format!(
            "bare rdkafka consumer {}/s ({ratio:.2}x)",
            kit::thousands(rate(records, bare))
        ),
        target: ">= 0.90x bare",
        met: Some(ratio >= 0.9),
    });
    println!();
    println!(
        "ingest through {} ({records} records, medians of 3 alternating runs):",
        broker.brokers
    );
    println!(
        "  bare rdkafka consumer: {:>10.0} records/s",
        rate(records, bare)
    );
    println!(
        "  sessiond (decode + validate + fold): {:>10.0} records/s",
        rate(records, folded)
    );
    println!(
        "  sessiond / bare = {ratio:.2}  (target >= 0.90: {})",
        if ratio >= 0.9 { "ok" } else { "UNDER TARGET" }
    );
}

fn rate(records: usize, took: Duration) -> f64 {
    records as f64 / took.as_secs_f64()
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

async fn produce(broker: &broker::Broker, calls: &str, members: &str, records: usize) {
    let producer: FutureProducer = broker
        .settings()
        .client_config()
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .create()
        .expect("producer");
    let simulator = Simulator::new(SimConfig {
        rate: 1_000.0,
        users: 400,
        accounts: 20,
        ..SimConfig::default()
    });
    let mut pending = Vec::new();
    for sim in simulator.take(records) {
        let topic = match sim.topic {
            SimTopic::Calls => calls,
            SimTopic::Members => members,
        };
        let payload = sim.event.encode_to_vec();
        let record = FutureRecord::to(topic)
            .key(sim.event.session_id.as_bytes())
            .payload(&payload);
        pending.push(
            producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("queued"),
        );
        if pending.len() >= 50_000 {
            for delivery in pending.drain(..) {
                delivery
                    .await
                    .expect("delivered")
                    .map_err(|(e, _)| e)
                    .expect("delivered");
            }
        }
    }
    for delivery in pending {
        delivery
            .await
            .expect("delivered")
            .map_err(|(e, _)| e)
            .expect("delivered");
    }
}

/// The baseline: assign every partition from the beginning and read every record.
fn bare_consumer(broker: &broker::Broker, topics: &[String; 2], records: usize) -> Duration {
    let mut config = broker.settings().client_config();
    // As sessiond's consumer fetches, like for like.
    for (key, value) in CONSUMER_DEFAULTS {
        config.set(key, value);
    }
    let consumer: BaseConsumer = config
        .set("group.id", "bench-bare")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut list = TopicPartitionList::new();
    for topic in topics {
        for p in 0..PARTITIONS {
            list.add_partition_offset(topic, p, Offset::Beginning)
                .expect("partition");
        }
    }
    let started = Instant::now();
    consumer.assign(&list).expect("assign");
    let (mut seen, mut bytes) = (0, 0usize);
    while seen < records {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            bytes += m.payload().map_or(0, <[u8]>::len);
            seen += 1;
        }
    }
    std::hint::black_box(bytes);
    started.elapsed()
}

/// sessiond's source: from start until caught up with the end offsets seen at start.
fn sessiond_ingest(broker: &broker::Broker, topics: &[String; 2]) -> Duration {
    let readiness = Arc::new(Readiness::default());
    let stop = tokio_util::sync::CancellationToken::new();
    let config = IngestConfig {
        kafka: broker.settings(),
        topics: topics.to_vec(),
        dead_letter_suffix: None,
        max_lag: u64::MAX,
        stale_after: Duration::from_secs(60),
        metadata_refresh: Duration::from_secs(60),
    };
    let fold = Fold::new(FoldConfig::default(), Arc::new(Projection::new()));
    let started = Instant::now();
    let handle = spawn(
        config,
        fold,
        Arc::clone(&readiness),
        Arc::default(),
        stop.clone(),
    )
    .expect("ingest");
    while !readiness.is_ready() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let took = started.elapsed();
    stop.cancel();
    let _ = handle.join();
    took
}
