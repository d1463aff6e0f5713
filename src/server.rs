//! Running the service: the HTTP server over a projection, fed by a source (an event-log
//! file or Kafka) in the background, shut down gracefully on Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::TcpListener;

use crate::api::auth::Authenticator;
use crate::api::{self, AppState, Readiness};
use crate::history::History;
use crate::ingest::event_log;
use crate::ingest::kafka::consumer::{self, IngestConfig, IngestError};
use crate::projection::{Fold, FoldConfig, Projection};
use crate::status::{Status, StreamName, StreamPosition};

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
}

/// Serves the API on `listener` while the source feeds the fold; returns on shutdown.
pub async fn serve(listener: TcpListener, config: ServeConfig) -> Result<(), ServeError> {
    serve_with(listener, config, Handles::default()).await
}

/// [`serve`], over the given projection and readiness.
pub async fn serve_with(
    listener: TcpListener,
    config: ServeConfig,
    handles: Handles,
) -> Result<(), ServeError> {
    let Handles {
        projection,
        readiness,
        status,
    } = handles;
    let history = Arc::new(History::new(config.history_depth));
    // Before any source publishes: counts published earlier would be lost.
    crate::telemetry::install();
    let state = AppState {
        projection: Arc::clone(&projection),
        auth: Arc::new(config.auth),
        readiness: Arc::clone(&readiness),
        status: Arc::clone(&status),
        history: Arc::clone(&history),
    };

    let server =
        axum::serve(listener, api::router(state)).with_graceful_shutdown(shutdown_signal());
    let server = tokio::spawn(server.into_future());
    let mut fold = Fold::new(config.fold, projection);
    fold.observe(history.recorder());

    match config.source {
        Source::EventLog(path) => load_event_log(path, fold, &readiness, &status).await?,
        Source::Kafka(ingest) => {
            let stop = Arc::new(AtomicBool::new(false));
            let ingest = consumer::spawn(
                ingest,
                fold,
                Arc::clone(&readiness),
                Arc::clone(&status),
                Arc::clone(&stop),
            )?;
            let served = server.await;
            stop.store(true, Ordering::Relaxed);
            let _ = tokio::task::spawn_blocking(move || ingest.join()).await;
            return match served {
                Ok(result) => result.map_err(ServeError::Http),
                Err(join) => std::panic::resume_unwind(join.into_panic()),
            };
        }
    }

    match server.await {
        Ok(result) => result.map_err(ServeError::Http),
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    }
}

/// Folds the whole file, then marks the service ready.
async fn load_event_log(
    path: PathBuf,
    mut fold: Fold,
    readiness: &Readiness,
    status: &Status,
) -> Result<(), ServeError> {
    let file = path.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        let report = event_log::load_file(&file, &mut fold);
        (fold, report)
    })
    .await;
    match loaded {
        Ok((fold, Ok(report))) => {
            crate::telemetry::publish_fold(&fold);
            crate::telemetry::publish_event_log(&report);
            let name = StreamName {
                topic: path.display().to_string(),
                partition: 0,
            };
            status.set_streams(vec![name.clone()]);
            status.update(|r| {
                r.take_fold(&fold);
                r.positions = vec![StreamPosition {
                    name,
                    next_offset: i64::try_from(report.lines + 1).unwrap_or(i64::MAX),
                }];
                r.ingest.records = report.lines;
                r.ingest.bad.clone_from(&report.bad);
                r.ingest.unknown_kinds = report.unknown_kinds;
            });
            tracing::info!(
                file = %path.display(),
                lines = report.lines,
                applied = report.applied,
                bad = report.bad_total(),
                unknown_kinds = report.unknown_kinds,
                active_sessions = fold.projection().len(),
                pending_sessions = fold.pending_count(),
                "event log loaded"
            );
            readiness.set_ready();
            Ok(())
        }
        Ok((_, Err(source))) => Err(ServeError::EventLog { path, source }),
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    }
}

async fn shutdown_signal() {
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
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
