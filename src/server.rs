//! Running the service: the HTTP server over a projection, fed by a source in the
//! background, shut down gracefully on Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::api::auth::Authenticator;
use crate::api::{self, AppState, Readiness};
use crate::ingest::event_log;
use crate::projection::{Fold, FoldConfig, Projection};

/// Everything `sessiond serve` needs.
#[derive(Debug)]
pub struct ServeConfig {
    /// The event-log file to fold.
    pub events: PathBuf,
    /// Token verification.
    pub auth: Authenticator,
    /// The fold's event-time windows.
    pub fold: FoldConfig,
}

/// Why serving stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The HTTP server failed.
    #[error("HTTP server: {0}")]
    Http(#[from] std::io::Error),
    /// The event log could not be read.
    #[error("reading {path}: {source}")]
    EventLog {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Serves the API on `listener` while the event log loads; returns on shutdown.
pub async fn serve(listener: TcpListener, config: ServeConfig) -> Result<(), ServeError> {
    let projection = Arc::new(Projection::new());
    let readiness = Arc::new(Readiness::default());
    let state = AppState {
        projection: Arc::clone(&projection),
        auth: Arc::new(config.auth),
        readiness: Arc::clone(&readiness),
    };

    let path = config.events.clone();
    let fold_config = config.fold;
    let load = tokio::task::spawn_blocking(move || {
        let mut fold = Fold::new(fold_config, projection);
        let report = event_log::load_file(&path, &mut fold);
        (fold, report)
    });

    let server =
        axum::serve(listener, api::router(state)).with_graceful_shutdown(shutdown_signal());
    let server = tokio::spawn(server.into_future());

    match load.await {
        Ok((fold, Ok(report))) => {
            tracing::info!(
                file = %config.events.display(),
                lines = report.lines,
                applied = report.applied,
                bad = report.bad_total(),
                unknown_kinds = report.unknown_kinds,
                active_sessions = fold.projection().len(),
                pending_sessions = fold.pending_count(),
                "event log loaded"
            );
            readiness.set_ready();
        }
        Ok((_, Err(source))) => {
            return Err(ServeError::EventLog {
                path: config.events,
                source,
            });
        }
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    }

    match server.await {
        Ok(result) => result.map_err(ServeError::Http),
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
