//! One connection: HTTP/1.1 or HTTP/2 by its first bytes, closed when idle, asked to
//! finish on shutdown; and the refusal a connection over the cap gets.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use super::EdgeConfig;

/// Refused connections answered at once; beyond this they are closed without a word, so
/// a flood cannot make refusing cost descriptors.
pub(super) const CONCURRENT_REFUSALS: usize = 256;

/// The body a connection over the cap is answered with (a ServiceStack error).
const REFUSAL_BODY: &str = r#"{"responseStatus":{"errorCode":"ServiceUnavailable","message":"Too many open connections","errors":[]}}"#;

/// What a connection over the cap is told before it is closed.
fn refusal() -> String {
    format!(
        "HTTP/1.1 503 Service Unavailable\r\n\
         content-type: application/json; charset=utf-8\r\n\
         retry-after: 1\r\n\
         connection: close\r\n\
         content-length: {}\r\n\r\n{REFUSAL_BODY}",
        REFUSAL_BODY.len()
    )
}

/// The protocol settings every connection shares.
pub(super) struct Settings {
    /// Finds the protocol from the first bytes itself, for a connection whose protocol
    /// could not be told in advance.
    detecting: auto::Builder<TokioExecutor>,
    http1: auto::Builder<TokioExecutor>,
    http2: auto::Builder<TokioExecutor>,
    header_read_timeout: Duration,
    idle_timeout: Duration,
}

/// What a connection speaks, as far as is known before hyper reads from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Protocol {
    Http1,
    Http2,
    Unknown,
}

/// What an HTTP/2 connection with prior knowledge sends first.
const HTTP2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A cleartext connection's protocol from its first bytes, looked at without taking them;
/// `None` when it closes or sends nothing within the header-read timeout. Telling it here
/// rather than letting hyper-util detect it saves memory on every connection: its
/// detection hands hyper the first bytes apart, and hyper's read buffer then grows from 8
/// to 16 KiB.
pub(super) async fn sniff(stream: &TcpStream, settings: &Settings) -> Option<Protocol> {
    let mut head = [0u8; HTTP2_PREFACE.len()];
    let n = tokio::time::timeout(settings.header_read_timeout, stream.peek(&mut head))
        .await
        .ok()?
        .ok()?;
    if n == 0 {
        return None;
    }
    Some(if head[..n] != HTTP2_PREFACE[..n] {
        Protocol::Http1
    } else if n == HTTP2_PREFACE.len() {
        Protocol::Http2
    } else {
        // A preface arriving in pieces: rare enough to leave to hyper-util.
        Protocol::Unknown
    })
}

/// A TLS connection's protocol, as ALPN agreed it.
pub(super) fn negotiated<S>(stream: &TlsStream<S>) -> Protocol {
    match stream.get_ref().1.alpn_protocol() {
        Some(b"h2") => Protocol::Http2,
        Some(b"http/1.1") => Protocol::Http1,
        _ => Protocol::Unknown,
    }
}

impl Settings {
    pub(super) fn new(config: &EdgeConfig) -> Self {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout)
            // hyper's default of 100 headers; setting it explicitly would allocate the
            // parser's header table on every request.
            .max_buf_size(config.max_header_bytes.max(super::MIN_HEADER_BYTES));
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX))
            .max_concurrent_streams(128)
            // Pings find peers that vanished without closing (an HTTP/2 stream can be
            // silent for a long time).
            .keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(20));
        Self {
            http1: builder.clone().http1_only(),
            http2: builder.clone().http2_only(),
            detecting: builder,
            header_read_timeout: config.header_read_timeout,
            idle_timeout: config.idle_timeout,
        }
    }
}

/// Requests in flight on one connection, and since when it has had none.
struct Activity {
    in_flight: AtomicUsize,
    idle_since: Mutex<Option<Instant>>,
    served: std::sync::atomic::AtomicBool,
    /// Wakes the idle watch when a request starts or ends.
    changed: tokio::sync::Notify,
}

impl Activity {
    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.served.store(true, Ordering::SeqCst);
        InFlight(Arc::clone(self))
    }

    /// Resolves once the connection has had nothing in flight for its limit: the
    /// header-read timeout before its first request, the idle timeout after.
    async fn idle(&self, settings: &Settings) {
        loop {
            let limit = if self.served.load(Ordering::SeqCst) {
                settings.idle_timeout
            } else {
                settings.header_read_timeout
            };
            // Registered before reading the state, so a change in between still wakes it.
            let changed = self.changed.notified();
            let since = *self
                .idle_since
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match since {
                Some(since) if since.elapsed() >= limit => return,
                Some(since) => tokio::select! {
                    () = tokio::time::sleep_until(since + limit) => {}
                    () = changed => {}
                },
                // Busy until a request ends.
                None => changed.await,
            }
        }
    }
}

/// A request in flight, until its response body is done or dropped.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut since = self
            .0
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            *since = Some(Instant::now());
        }
        drop(since);
        self.0.changed.notify_waiters();
    }
}

/// The TLS handshake of a new connection, within the header-read timeout; `None` (logged
/// at debug: scanners and health checks do this all day) when it fails.
pub(super) async fn handshake(
    tls: &TlsAcceptor,
    stream: TcpStream,
    settings: &Settings,
) -> Option<TlsStream<TcpStream>> {
    match tokio::time::timeout(settings.header_read_timeout, tls.accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(error)) => {
            tracing::debug!(%error, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!("TLS handshake timed out");
            None
        }
    }
}

/// Serves one connection, `accepted` at that instant, until it closes, is idle too long
/// (its first request must have begun within the header-read timeout of `accepted`), or
/// shutdown asks it to finish (and `abort` ends it).
pub(super) async fn serve(
    stream: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
    protocol: Protocol,
    accepted: Instant,
    app: axum::Router,
    settings: &Settings,
    shutdown: CancellationToken,
    abort: CancellationToken,
) {
    let activity = Arc::new(Activity {
        in_flight: AtomicUsize::new(0),
        idle_since: Mutex::new(Some(accepted)),
        served: std::sync::atomic::AtomicBool::new(false),
        changed: tokio::sync::Notify::new(),
    });
    let tracked = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let guard = {
            let mut since = tracked
                .idle_since
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            *since = None;
            tracked.begin()
        };
        tracked.changed.notify_waiters();
        let app = app.clone();
        async move {
            let response = app.oneshot(request.map(Body::new)).await?;
            // The request stays in flight until its body is sent (a live stream's whole life).
            Ok::<_, std::convert::Infallible>(response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _ = &guard;
                    frame
                }))
            }))
        }
    });
    let builder = match protocol {
        Protocol::Http1 => &settings.http1,
        Protocol::Http2 => &settings.http2,
        Protocol::Unknown => &settings.detecting,
    };
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut finishing = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            () = activity.idle(settings), if !finishing => {
                finishing = true;
                connection.as_mut().graceful_shutdown();
            }
            () = shutdown.cancelled(), if !finishing => {
                finishing = true;
                connection.as_mut().graceful_shutdown();
            }
            () = abort.cancelled() => return,
        }
    }
}

/// Answers a connection over the cap with a 503 and closes it (over TLS when the edge
/// serves TLS). The request is read (briefly, and only a little of it) first, so the
/// client sees the answer rather than a reset.
pub(super) fn refuse(stream: TcpStream, tls: Option<TlsAcceptor>, refusals: &Arc<Semaphore>) {
    crate::telemetry::connection_refused();
    let Ok(permit) = Arc::clone(refusals).try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            match tls {
                None => answer_refusal(stream).await,
                Some(tls) => answer_refusal(tls.accept(stream).await?).await,
            }
        })
        .await;
        drop(permit);
    });
}

/// Writes the 503 as HTTP/1.1 (a client that negotiated HTTP/2 by ALPN sees a protocol
/// error instead: refused all the same), then reads a little before closing.
async fn answer_refusal(mut stream: impl AsyncRead + AsyncWrite + Unpin) -> std::io::Result<()> {
    stream.write_all(refusal().as_bytes()).await?;
    stream.shutdown().await?;
    let mut sink = [0u8; 4096];
    let mut left: usize = 64 * 1024;
    while left > 0 {
        let n = stream.read(&mut sink).await?;
        if n == 0 {
            break;
        }
        left = left.saturating_sub(n);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_refusal_says_its_length() {
        let text = super::refusal();
        let (head, body) = text.split_once("\r\n\r\n").expect("a header");
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        serde_json::from_str::<serde_json::Value>(body).expect("a JSON body");
    }
}
