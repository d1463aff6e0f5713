//! The HTTP edge: accepts connections and serves the API router over HTTP/1.1 and HTTP/2
//! (cleartext, by prior knowledge), with the limits a hostile client meets before any
//! handler runs: a cap on open connections (refused with a 503, never by running out of
//! descriptors), a header-read timeout, an idle timeout, header and body size limits, and
//! cross-origin reads only from the origins allowed ([`cors`]), and TLS with HTTP/2 by
//! ALPN when given a certificate ([`tls`]). On shutdown it stops
//! accepting, lets every connection finish what is in flight, and closes what is still
//! open after a bound.

mod conn;
pub mod cors;
pub mod tls;
mod workers;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// Open connections allowed, by default: room for 19,000 live streams and the requests
/// beside them under a 20,000-descriptor limit.
pub const DEFAULT_MAX_CONNECTIONS: usize = 19_500;

/// Descriptors kept free of connections, for Kafka sockets, snapshot files and the like.
pub const RESERVED_DESCRIPTORS: u64 = 500;

/// The smallest header limit HTTP/1.1 can be given (hyper's read buffer).
pub const MIN_HEADER_BYTES: usize = 8192;

/// The edge's limits.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// A connection must send a whole request header within this (HTTP/1.1; also the
    /// first bytes of any connection).
    pub header_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
    /// Open connections beyond this are refused with a 503.
    pub max_connections: usize,
    /// The largest request header section, in bytes.
    pub max_header_bytes: usize,
    /// The largest request body, in bytes (a larger one is answered 413).
    pub max_body_bytes: usize,
    /// Origins whose pages may read the API with the user's credentials.
    pub cors_origins: Vec<axum::http::HeaderValue>,
    /// From SIGTERM until connections are closed: `/readyz` answers 503 while requests
    /// are still served, so a load balancer can drain the replica.
    pub shutdown_grace: Duration,
    /// After the grace period, how long in-flight requests may take before their
    /// connections are closed.
    pub drain_timeout: Duration,
    /// Serve HTTPS with this certificate (reloaded when it changes); cleartext otherwise.
    pub tls: Option<tls::TlsFiles>,
    /// Threads serving connections, each with its own event loop (see [`workers`]).
    pub threads: usize,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_header_bytes: 16 * 1024,
            max_body_bytes: 64 * 1024,
            cors_origins: Vec::new(),
            shutdown_grace: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(5),
            tls: None,
            threads: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

impl EdgeConfig {
    /// The connection cap this process can honour: the configured one, lowered (with a
    /// warning) when the descriptor limit leaves no room for it. Raises the soft
    /// descriptor limit to the hard one first, as a server should.
    pub fn effective_max_connections(&self) -> usize {
        let limit = match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(limit) => limit,
            Err(error) => {
                tracing::warn!(%error, "cannot read the descriptor limit");
                return self.max_connections;
            }
        };
        let room =
            usize::try_from(limit.saturating_sub(RESERVED_DESCRIPTORS)).unwrap_or(usize::MAX);
        if room < self.max_connections {
            tracing::warn!(
                descriptors = limit,
                max_connections = room,
                "the descriptor limit leaves room for fewer connections than --max-connections; capping there"
            );
            room.max(1)
        } else {
            self.max_connections
        }
    }
}

/// Serves `app` on `listener` until `shutdown` is cancelled; then stops accepting (new
/// connections are refused by the kernel), asks every connection to finish (HTTP/1.1
/// closes after its response, HTTP/2 sends GOAWAY) and waits for them at most
/// [`EdgeConfig::drain_timeout`]. With `tls`, every connection is a TLS one (its
/// handshake bounded by the header-read timeout).
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    config: EdgeConfig,
    tls: Option<TlsAcceptor>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let mut app = app.layer(tower_http::limit::RequestBodyLimitLayer::new(
        config.max_body_bytes,
    ));
    if let Some(cors) = cors::layer(&config.cors_origins) {
        app = app.layer(cors);
    }
    let max = config.effective_max_connections();
    let slots = Arc::new(Semaphore::new(max));
    let refusals = Arc::new(Semaphore::new(conn::CONCURRENT_REFUSALS));
    let settings = Arc::new(conn::Settings::new(&config));
    // Cancelled when draining takes too long: connections still open are dropped.
    let abort = CancellationToken::new();
    let workers = workers::Workers::start(config.threads)?;
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) if is_connection_error(&error) => continue,
                Err(error) => {
                    // Out of descriptors, most likely: wait rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => {
                crate::telemetry::connection_opened();
                let settings = Arc::clone(&settings);
                let app = app.clone();
                let (shutdown, abort) = (shutdown.clone(), abort.clone());
                let tls = tls.clone();
                let Ok(stream) = stream.into_std() else {
                    crate::telemetry::connection_closed();
                    continue;
                };
                let accepted = tokio::time::Instant::now();
                workers.next().spawn(async move {
                    let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
                        crate::telemetry::connection_closed();
                        return;
                    };
                    match tls {
                        None => {
                            let protocol = tokio::select! {
                                protocol = conn::sniff(&stream, &settings) => protocol,
                                // Shutting down: a connection yet to send anything is
                                // closed rather than waited for.
                                () = shutdown.cancelled() => None,
                            };
                            if let Some(protocol) = protocol {
                                conn::serve(
                                    stream, protocol, accepted, app, &settings, shutdown, abort,
                                )
                                .await;
                            }
                        }
                        // Boxed: a TLS connection's state is several times a cleartext
                        // one's, and every connection task would otherwise be that size.
                        Some(tls) => {
                            Box::pin(async {
                                if let Some(stream) = conn::handshake(&tls, stream, &settings).await
                                {
                                    let protocol = conn::negotiated(&stream);
                                    conn::serve(
                                        stream, protocol, accepted, app, &settings, shutdown, abort,
                                    )
                                    .await;
                                }
                            })
                            .await;
                        }
                    }
                    crate::telemetry::connection_closed();
                    drop(slot);
                });
            }
            Err(_) => conn::refuse(stream, tls.clone(), &refusals),
        }
    }
    drop(listener);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(config.drain_timeout, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            open = max - slots.available_permits(),
            "connections still busy after the drain timeout; closing them"
        );
        abort.cancel();
        // Each closes at once: wait for them, briefly, so none outlives the server.
        let _ = tokio::time::timeout(Duration::from_secs(1), slots.acquire_many(all)).await;
    }
    workers.stop().await;
    Ok(())
}

/// Errors of one connection, not of the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
