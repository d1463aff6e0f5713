//! Finding the checkpoint to start from: the newest usable snapshot in `--snapshot-dir`,
//! else the newest complete, sound checkpoint in `--checkpoint-topic`, else none (every
//! partition is read from the beginning). Every checkpoint passed over is logged with why.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Checkpoint;
use super::store::SnapshotStore;
use super::topic::{CheckpointTopic, TopicError, writer_name};
use super::writer::{self, SnapshotSettings};
use crate::kafka::KafkaSettings;
use crate::position::StreamPosition;
use crate::projection::{Fold, FoldConfig, Projection};
use crate::readiness::Readiness;

/// Why no start could be made.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The snapshot directory cannot be used.
    #[error("snapshot directory {path}: {source}")]
    Snapshots {
        /// The directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The checkpoint topic cannot hold checkpoints.
    #[error(transparent)]
    Topic(#[from] TopicError),
}

/// Where a run starts, and where it writes its checkpoints.
#[derive(Debug)]
pub struct Restored {
    /// The fold: restored, or new.
    pub fold: Fold,
    /// Where each partition resumes (empty: every partition from the beginning).
    pub streams: Vec<StreamPosition>,
    /// What it was restored from, for `/admin/state` (`None`: nothing).
    pub from: Option<String>,
    /// Whether that was the checkpoint topic (else the snapshot directory).
    pub from_topic: bool,
    /// The snapshot directory, opened.
    pub store: Option<SnapshotStore>,
    /// The checkpoint topic, connected (`None` also when shutdown came first).
    pub topic: Option<CheckpointTopic>,
}

/// A fold restored from a checkpoint, and its positions.
type Start = (Fold, Vec<StreamPosition>);

/// Restores a checkpoint's image into `projection`, or says why it cannot be.
fn start_from(
    checkpoint: Checkpoint,
    config: FoldConfig,
    projection: &Arc<Projection>,
) -> Result<Start, String> {
    let Checkpoint { streams, image, .. } = checkpoint;
    match Fold::restore(config, Arc::clone(projection), image) {
        Ok(fold) => Ok((fold, streams)),
        Err(error) => {
            projection.clear();
            Err(format!("inconsistent: {error}"))
        }
    }
}

/// The newest usable snapshot in `store` (blocking).
fn from_store(
    store: &SnapshotStore,
    topics: &[String],
    config: FoldConfig,
    projection: &Arc<Projection>,
) -> Option<(Start, String)> {
    let outcome = store
        .load_newest(|bytes| start_from(writer::decode_for(bytes, topics)?, config, projection));
    for (path, reason) in &outcome.rejected {
        tracing::warn!(file = %path.display(), %reason, "snapshot unusable; trying the previous one");
    }
    outcome
        .loaded
        .map(|loaded| (loaded.value, loaded.path.display().to_string()))
}

/// The newest usable checkpoint in the topic (blocking).
fn from_topic(
    topic: &mut CheckpointTopic,
    topics: &[String],
    config: FoldConfig,
    projection: &Arc<Projection>,
) -> Result<Option<(Start, String)>, TopicError> {
    // Where a restore's time goes: reading the chunks (and checking them) or decoding and
    // restoring the fold.
    let started = std::time::Instant::now();
    let mut decoding = Duration::ZERO;
    let outcome = topic.load_newest(|bytes| {
        let decode_started = std::time::Instant::now();
        let start = writer::decode_for(bytes, topics)
            .and_then(|checkpoint| start_from(checkpoint, config, projection));
        decoding += decode_started.elapsed();
        start
    })?;
    tracing::info!(
        topic = topic.name(),
        read = ?started.elapsed().saturating_sub(decoding),
        decode = ?decoding,
        "checkpoint topic read: chunks fetched and checked, then decoded and restored"
    );
    for (id, reason) in &outcome.rejected {
        tracing::warn!(topic = topic.name(), checkpoint = %id, %reason, "checkpoint in the topic unusable; trying the previous one");
    }
    Ok(outcome.loaded.map(|loaded| {
        let m = &loaded.manifest;
        let taken = crate::time::EventTime(m.taken_at).to_api_string();
        let from = format!(
            "checkpoint topic {}: checkpoint {} written by {} (taken {taken}, {} chunks, {} bytes)",
            topic.name(),
            m.id,
            m.writer,
            m.chunks,
            m.len
        );
        (loaded.value, from)
    }))
}

/// Connects to the checkpoint topic, creating it when missing; waits (with backoff, telling
/// `readiness` why) while no broker answers. `None` when `stop` came first.
async fn connect(
    kafka: &KafkaSettings,
    name: &str,
    readiness: &Readiness,
    stop: &CancellationToken,
) -> Result<Option<CheckpointTopic>, TopicError> {
    let mut backoff = Duration::from_millis(200);
    let mut last_problem = String::new();
    while !stop.is_cancelled() {
        if let Err(error) = crate::kafka::admin::ensure_checkpoint_topic(kafka, name).await {
            tracing::debug!(%error, topic = name, "could not create the checkpoint topic (yet)");
        }
        let (kafka, owned) = (kafka.clone(), name.to_owned());
        let opened = tokio::task::spawn_blocking(move || {
            CheckpointTopic::open(&kafka, &owned, &writer_name())
        })
        .await
        .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()));
        match opened {
            Ok(topic) => return Ok(Some(topic)),
            Err(TopicError::Unreachable { detail, .. }) => {
                let problem = format!("loading: checkpoint topic {name}: {detail}");
                if problem != last_problem {
                    tracing::warn!(%problem, "waiting for the checkpoint topic; retrying with backoff");
                    last_problem.clone_from(&problem);
                }
                readiness.set_loading(problem);
            }
            Err(unusable) => return Err(unusable),
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stop.cancelled() => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
    Ok(None)
}

/// Opens the snapshot directory and connects to the checkpoint topic (as `settings` say),
/// and restores the newest usable checkpoint: the directory's first, the topic's when the
/// directory has none. Without one the fold starts empty.
pub async fn restore(
    settings: &SnapshotSettings,
    kafka: &KafkaSettings,
    topics: &[String],
    config: FoldConfig,
    projection: Arc<Projection>,
    readiness: &Readiness,
    stop: &CancellationToken,
) -> Result<Restored, RestoreError> {
    readiness.set_loading("loading: restoring the newest checkpoint".to_owned());
    let mut store = None;
    let mut start = None;
    if let Some(dir) = settings.dir.clone() {
        let (topics, projection) = (topics.to_vec(), Arc::clone(&projection));
        let (opened, local) = tokio::task::spawn_blocking(move || {
            let opened = SnapshotStore::open(&dir).map_err(|source| RestoreError::Snapshots {
                path: dir.clone(),
                source,
            })?;
            let local = from_store(&opened, &topics, config, &projection);
            Ok::<_, RestoreError>((opened, local))
        })
        .await
        .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))?;
        store = Some(opened);
        start = local;
    }
    let mut topic = None;
    let topic_restores = start.is_none() && settings.topic.is_some();
    if let Some(name) = &settings.topic {
        let mut backoff = Duration::from_millis(200);
        while let Some(mut connected) = connect(kafka, name, readiness, stop).await? {
            if start.is_some() {
                topic = Some(connected);
                break;
            }
            readiness.set_loading(format!("loading: reading the checkpoint topic {name}"));
            let (topics, into) = (topics.to_vec(), Arc::clone(&projection));
            let (connected, loaded) = tokio::task::spawn_blocking(move || {
                let loaded = from_topic(&mut connected, &topics, config, &into);
                (connected, loaded)
            })
            .await
            .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()));
            match loaded {
                Ok(loaded) => {
                    start = loaded;
                    topic = Some(connected);
                    break;
                }
                Err(TopicError::Unreachable { detail, .. }) => {
                    tracing::warn!(topic = name, %detail, "reading the checkpoint topic failed; trying again");
                    projection.clear();
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = stop.cancelled() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(unusable) => return Err(unusable.into()),
            }
        }
    }
    let (fold, streams, from) = match start {
        Some(((fold, streams), from)) => (fold, streams, Some(from)),
        None => {
            if settings.dir.is_some() || settings.topic.is_some() {
                tracing::info!("no usable checkpoint; reading every partition from the beginning");
            }
            (Fold::new(config, projection), Vec::new(), None)
        }
    };
    Ok(Restored {
        fold,
        streams,
        from_topic: topic_restores && from.is_some(),
        from,
        store,
        topic,
    })
}
