//! Running the service: the HTTP server over a projection, fed by a source (an event-log
//! file or Kafka) in the background, shut down gracefully on Ctrl-C or SIGTERM: `/readyz`
//! turns 503 at once, requests are still served for the grace period, then connections
//! finish what is in flight (live streams end, telling clients to reconnect), the source
//! writes its last checkpoint, and the process exits.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::auth::Authenticator;
use crate::api::limits::{LimitsConfig, UserLimits};
use crate::api::{self, AppState, Readiness};
use crate::edge::{self, EdgeConfig};
use crate::ingest::driver::{self, Driver};
use crate::ingest::event_log::EventLogSource;
use crate::ingest::kafka::consumer::{self, IngestConfig, IngestError, KafkaIngest};
use crate::live::{ChangeFeed, ChangeHub};
use crate::position::StreamPosition;
use crate::projection::{Fold, FoldConfig, Projection};
use crate::snapshot::restore::{self, RestoreError};
use crate::snapshot::{SnapshotSettings, SnapshotWriter};
use crate::status::Status;

/// Applied events kept per active session for `/sessions/{id}/history`, by default.
pub const DEFAULT_HISTORY_DEPTH: usize = 8;

/// Where the events come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// An event-log file, folded once; ready when it is loaded.
    EventLog(PathBuf),
    /// Kafka topics, followed for as long as the service runs.
    Kafka(IngestConfig),
}

/// Everything `sessiond serve` needs.
#[derive(Debug)]
pub struct ServeConfig {
    /// The events to fold.
    pub source: Source,
    /// Token verification.
    pub auth: Authenticator,
    /// The fold's event-time windows.
    pub fold: FoldConfig,
    /// Applied events kept per active session for `/sessions/{id}/history` (0: none).
    pub history_depth: usize,
    /// Checkpoints to start from and to write, in a directory, a topic or both (Kafka
    /// source only).
    pub snapshots: Option<SnapshotSettings>,
    /// Produce every change to an active session to this topic (Kafka source only).
    pub changes_topic: Option<String>,
    /// Connection limits, timeouts, allowed origins and the shutdown grace period.
    pub edge: EdgeConfig,
    /// Per-user request rate and live-stream caps.
    pub limits: LimitsConfig,
}

/// Why serving stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The HTTP server failed.
    #[error("HTTP server: {0}")]
    Http(#[from] std::io::Error),
    /// The Kafka client could not be created.
    #[error(transparent)]
    Kafka(#[from] IngestError),
    /// The change feed could not start.
    #[error(transparent)]
    ChangeFeed(#[from] crate::live::feed::FeedError),
    /// The snapshot directory cannot be used.
    #[error("snapshot directory {path}: {source}")]
    Snapshots {
        /// The directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// No checkpoint could be restored or the checkpoint topic cannot be used.
    #[error(transparent)]
    Restore(#[from] RestoreError),
    /// Snapshots are checkpoints of Kafka positions; a file has none.
    #[error(
        "--snapshot-dir and --checkpoint-topic need --brokers: an event-log file is folded whole at every start"
    )]
    SnapshotsNeedKafka,
    /// The change feed is produced to the brokers the events come from.
    #[error("--changes-topic needs --brokers")]
    ChangesNeedKafka,
    /// The TLS certificate or key cannot be used.
    #[error("TLS: {0}")]
    Tls(#[from] edge::tls::TlsError),
    /// The event log could not be read.
    #[error("reading {path}: {source}")]
    EventLog {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// What a running service shares with whoever started it (the embedded demo reads it).
#[derive(Debug, Clone, Default)]
pub struct Handles {
    /// The projection the API serves.
    pub projection: Arc<Projection>,
    /// The service's readiness.
    pub readiness: Arc<Readiness>,
    /// Positions and counters.
    pub status: Arc<Status>,
    /// Cancelled to shut the service down (Ctrl-C and SIGTERM cancel it too, after the
    /// grace period); every task stops on it.
    pub shutdown: CancellationToken,
}

impl ServeConfig {
    /// Refuses combinations that cannot work, before anything starts.
    pub fn validate(&self) -> Result<(), ServeError> {
        let from_file = matches!(self.source, Source::EventLog(_));
        if from_file && self.snapshots.is_some() {
            return Err(ServeError::SnapshotsNeedKafka);
        }
        if from_file && self.changes_topic.is_some() {
            return Err(ServeError::ChangesNeedKafka);
        }
        Ok(())
    }
}

/// Serves the API on `listener` while the source feeds the fold; returns on shutdown.
pub async fn serve(listener: TcpListener, config: ServeConfig) -> Result<(), ServeError> {
    serve_with(listener, config, Handles::default()).await
}

/// [`serve`], over the given projection, readiness, status and shutdown token.
///
/// The whole running pipeline, assembled here and nowhere else: the configuration is
/// checked first; then what reads the state (history, the live-stream hub, the API) is
/// built and the HTTP server started, so `/readyz` answers while the fold loads; then the
/// fold (restored from the newest snapshot, or new) with its observers and the change
/// feed; then the source that feeds it. Shutdown is one token: the HTTP server drains,
/// the source stops and writes its last snapshot, and the change feed delivers what is
/// left.
pub async fn serve_with(
    listener: TcpListener,
    config: ServeConfig,
    handles: Handles,
) -> Result<(), ServeError> {
    config.validate()?;
    // A file that cannot be opened is refused before anything starts.
    let source = match config.source {
        Source::EventLog(path) => Opened::EventLog(
            EventLogSource::open(&path).map_err(|source| ServeError::EventLog { path, source })?,
        ),
        Source::Kafka(ingest) => Opened::Kafka(ingest),
    };
    let Handles {
        projection,
        readiness,
        status,
        shutdown,
    } = handles;
    // Before any source publishes: counts published earlier would be lost.
    crate::telemetry::install();
    tokio::spawn(cancel_on_signal(
        shutdown.clone(),
        Arc::clone(&readiness),
        config.edge.shutdown_grace,
    ));

    // What reads the state.
    let hub = Arc::new(ChangeHub::new(Arc::clone(&projection)));
    let limits = Arc::new(UserLimits::new(config.limits));
    tokio::spawn(sweep_streams(
        Arc::clone(&hub),
        Arc::clone(&limits),
        shutdown.clone(),
    ));
    if let Some(jwks) = config.auth.jwks() {
        tokio::spawn(Arc::clone(jwks).refresh_until(shutdown.clone()));
    }
    let state = AppState {
        projection: Arc::clone(&projection),
        auth: Arc::new(config.auth),
        readiness: Arc::clone(&readiness),
        status: Arc::clone(&status),
        history_depth: config.history_depth,
        hub: Arc::clone(&hub),
        limits,
        shutdown: shutdown.clone(),
    };
    let tls = config
        .edge
        .tls
        .as_ref()
        .map(|files| edge::tls::acceptor(files, shutdown.clone()))
        .transpose()?;
    let server = tokio::spawn(edge::serve(
        listener,
        api::router(state),
        config.edge,
        tls,
        shutdown.clone(),
    ));

    // The fold, and who watches it.
    let (mut fold, resume, writer) = match (&config.snapshots, &source) {
        (Some(settings), Opened::Kafka(ingest)) => {
            let (fold, resume, writer) = start_from_snapshot(
                settings,
                ingest,
                config.fold,
                Arc::clone(&projection),
                (&readiness, &status, &shutdown),
            )
            .await?;
            (fold, resume, Some((writer, settings.interval)))
        }
        _ => (
            Fold::new(config.fold, Arc::clone(&projection)),
            Vec::new(),
            None,
        ),
    };
    fold.keep_history(config.history_depth);
    fold.observe(hub.observer());

    // The source.
    match source {
        Opened::EventLog(event_log) => {
            // Folded once; the thread ends at the end of the file.
            let driver = Driver::new(
                event_log,
                fold,
                Arc::clone(&readiness),
                Arc::clone(&status),
                Duration::MAX,
            );
            driver::spawn(driver, shutdown.clone()).map_err(IngestError::Thread)?;
        }
        Opened::Kafka(ingest) => {
            let feed = match &config.changes_topic {
                Some(topic) => {
                    let feed = ChangeFeed::start(&ingest.kafka, topic, Arc::clone(&projection))?;
                    create_changes_topic(&ingest.kafka, topic);
                    fold.observe(feed.observer());
                    Some(feed)
                }
                None => None,
            };
            let mut source =
                KafkaIngest::kafka(ingest, fold, Arc::clone(&readiness), Arc::clone(&status))?
                    .resume_from(&resume);
            if let Some(feed) = &feed {
                source = source.with_feed(Arc::clone(feed.shared()));
            }
            if let Some((writer, interval)) = writer {
                source = source.snapshot_with(writer, interval);
            }
            let ingest = consumer::spawn_ingest(source, shutdown.clone())?;
            let served = server.await;
            // The server also ends on its own error: everything else stops with it.
            shutdown.cancel();
            let _ = tokio::task::spawn_blocking(move || ingest.join()).await;
            // After the fold stopped: the feed sends what is left, then stops.
            let _ = tokio::task::spawn_blocking(move || drop(feed)).await;
            return match served {
                Ok(result) => result.map_err(ServeError::Http),
                Err(join) => std::panic::resume_unwind(join.into_panic()),
            };
        }
    }

    let served = server.await;
    shutdown.cancel();
    match served {
        Ok(result) => result.map_err(ServeError::Http),
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    }
}

/// The source, once its configuration is checked (and a file opened).
enum Opened {
    EventLog(EventLogSource),
    Kafka(IngestConfig),
}

/// Forgets the views of live streams nobody has watched for a while, and the rate
/// buckets of users who went quiet, until shutdown.
async fn sweep_streams(hub: Arc<ChangeHub>, limits: Arc<UserLimits>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(30));
    loop {
        tokio::select! {
            _ = every.tick() => {
                hub.sweep();
                limits.sweep();
            }
            () = shutdown.cancelled() => return,
        }
    }
}

/// Restores the newest usable checkpoint (`snapshot::restore`) and starts the writer.
/// Without a usable checkpoint the fold starts empty and reads every partition from the
/// beginning.
async fn start_from_snapshot(
    settings: &SnapshotSettings,
    ingest: &IngestConfig,
    fold_config: FoldConfig,
    projection: Arc<Projection>,
    (readiness, status, stop): (&Readiness, &Arc<Status>, &CancellationToken),
) -> Result<(Fold, Vec<StreamPosition>, SnapshotWriter), ServeError> {
    let started = std::time::Instant::now();
    let restored = restore::restore(
        settings,
        &ingest.kafka,
        &ingest.topics,
        fold_config,
        projection,
        readiness,
        stop,
    )
    .await?;
    let fold = restored.fold;
    if let Some(from) = restored.from {
        let what = if restored.from_topic {
            "restored from the checkpoint topic; resuming every partition from its saved position"
        } else {
            "restored from snapshot; resuming every partition from its saved position"
        };
        tracing::info!(
            from,
            active_sessions = fold.projection().len(),
            pending_sessions = fold.pending_count(),
            tombstones = fold.tombstone_count(),
            took = ?started.elapsed(),
            "{what}"
        );
        status.update(|r| r.restored_from = Some(from));
    }
    let writer = SnapshotWriter::start(
        restored.store,
        restored.topic,
        settings.interval,
        Arc::clone(status),
    )
    .map_err(|source| ServeError::Snapshots {
        path: settings.dir.clone().unwrap_or_default(),
        source,
    })?;
    Ok((fold, restored.streams, writer))
}

/// Creates the change-feed topic, compacted, if it does not exist; in the background,
/// since the feed's producer waits for the topic anyway.
fn create_changes_topic(settings: &crate::kafka::KafkaSettings, topic: &str) {
    let settings = settings.clone();
    let topic = topic.to_owned();
    tokio::spawn(async move {
        if let Err(error) = crate::kafka::admin::ensure_compacted_topic(&settings, &topic, 3).await
        {
            tracing::warn!(%error, topic, "could not create the change-feed topic");
        }
    });
}

/// On Ctrl-C or SIGTERM: marks the replica not ready, keeps serving for `grace` (a
/// second signal cuts it short), then cancels `shutdown`.
async fn cancel_on_signal(shutdown: CancellationToken, readiness: Arc<Readiness>, grace: Duration) {
    tokio::select! {
        () = signalled() => {}
        () = shutdown.cancelled() => return,
    }
    readiness.set_draining();
    tracing::info!(
        ?grace,
        "shutting down: /readyz answers 503; serving requests for the grace period"
    );
    tokio::select! {
        () = tokio::time::sleep(grace) => {}
        () = signalled() => tracing::info!("signalled again: closing connections now"),
        () = shutdown.cancelled() => {}
    }
    tracing::info!("closing connections; in-flight requests finish, live streams end");
    shutdown.cancel();
}

/// Resolves on the next Ctrl-C or SIGTERM.
async fn signalled() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
