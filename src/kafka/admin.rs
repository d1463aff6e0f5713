//! Creating topics: the dead-letter topics at start, the change feed's, the checkpoint
//! topic's, and topics for demos and tests; with the broker's default replication factor.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use super::KafkaSettings;

/// Creates each topic that does not exist yet, with `partitions` partitions.
pub async fn ensure_topics(
    settings: &KafkaSettings,
    topics: &[String],
    partitions: i32,
) -> Result<(), KafkaError> {
    create(settings, topics, partitions, &[]).await
}

/// Creates a compacted topic (the change feed, read as a table) if it does not exist.
pub async fn ensure_compacted_topic(
    settings: &KafkaSettings,
    topic: &str,
    partitions: i32,
) -> Result<(), KafkaError> {
    create(
        settings,
        &[topic.to_owned()],
        partitions,
        &[("cleanup.policy", "compact")],
    )
    .await
}

/// Creates the checkpoint topic (`--checkpoint-topic`) if it does not exist: compacted,
/// two partitions (manifests, chunks), and short segments so that compaction, which never
/// touches the active segment, keeps it to a few checkpoints (`snapshot::topic`).
pub async fn ensure_checkpoint_topic(
    settings: &KafkaSettings,
    topic: &str,
) -> Result<(), KafkaError> {
    create(
        settings,
        &[topic.to_owned()],
        2,
        &[
            ("cleanup.policy", "compact"),
            ("segment.ms", "600000"),
            ("segment.bytes", "67108864"),
            ("min.cleanable.dirty.ratio", "0.5"),
            ("delete.retention.ms", "600000"),
        ],
    )
    .await
}

async fn create(
    settings: &KafkaSettings,
    topics: &[String],
    partitions: i32,
    config: &[(&str, &str)],
) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = settings.client_config().create()?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| {
            config.iter().fold(
                // -1: the broker's default.replication.factor, so a cluster keeps these
                // topics (the change feed, dead letters) through the loss of a broker.
                NewTopic::new(t, partitions, TopicReplication::Fixed(-1)),
                |topic, (key, value)| topic.set(key, value),
            )
        })
        .collect();
    let options = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(10)))
        .request_timeout(Some(Duration::from_secs(15)));
    for result in admin.create_topics(&new, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaError::AdminOp(code)).inspect_err(|_| {
                    tracing::warn!(topic, %code, "could not create topic");
                });
            }
        }
    }
    Ok(())
}
