//! `GET /sessions/active/stream`: the caller's active sessions as Server-Sent Events. A
//! snapshot first, then an `upsert` or `remove` per change, each with an id a reconnect
//! can resume after (`Last-Event-ID`); a heartbeat comment every 15 s.
//!
//! The server ends a stream itself in three cases, each with a last `event: end` whose
//! data says why (`{"reason": …, "message": …}`): the user opened more streams than
//! allowed and this is the oldest (`stream-limit`; reconnecting would only close another),
//! the token expired (`token-expired`; an `EventSource` cannot change its credentials, so
//! the page must get a new token and open a new stream), or the server is shutting down
//! (`shutdown`, with a short `retry:` so the browser reconnects, to another replica).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};

use super::AppState;
use super::auth::{MAX_LEEWAY, USER_ROLE};
use super::limits::{self, StreamSlot};
use crate::contract::assemble::{json_response, session_bytes};
use crate::live::{Change, ChangeHub, Frame, Subscription};
use crate::projection::Rendering;

/// How often an idle stream sends a comment, so proxies keep it open.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// How long a browser waits before reconnecting.
const RETRY: Duration = Duration::from_secs(2);
/// How long a browser waits before reconnecting after a shutdown ended its stream.
const RETRY_AFTER_SHUTDOWN: Duration = Duration::from_millis(500);

pub(super) async fn active_stream(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Response {
    let principal = match limits::authorize(&state, &headers, &[USER_ROLE]).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    // A snapshot frame of a partial projection would leave the stream without the sessions
    // restored or folded after it.
    if !state.readiness.is_loaded() {
        return super::error::ApiError::Loading.into_response();
    }
    let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let slot = state.limits.open_stream(&principal.user_id);
    let subscription = state.hub.subscribe(&principal.user_id, last_event_id);
    crate::telemetry::stream_opened();
    let ends = Ends {
        slot,
        shutdown: state.shutdown.clone(),
        token_expires: principal.expires_at.map(token_deadline),
    };
    Sse::new(events(Arc::clone(&state.hub), subscription, ends))
        .keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat"))
        .into_response()
}

/// When the token stops being accepted (past its `exp` plus the leeway), as an instant.
fn token_deadline(exp: u64) -> tokio::time::Instant {
    // jsonwebtoken refuses a token once `now - leeway > exp`, in whole seconds.
    let at = UNIX_EPOCH + Duration::from_secs(exp + 1) + MAX_LEEWAY;
    let left = at
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        // A far-future `exp` must not overflow the clock.
        .min(Duration::from_secs(10 * 365 * 24 * 3600));
    tokio::time::Instant::now() + left
}

/// Why the server ends a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndReason {
    StreamLimit,
    TokenExpired,
    Shutdown,
}

impl EndReason {
    fn code(self) -> &'static str {
        match self {
            Self::StreamLimit => "stream-limit",
            Self::TokenExpired => "token-expired",
            Self::Shutdown => "shutdown",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Self::StreamLimit => {
                "Too many live streams for this user: this, the oldest, was closed. Do not reconnect it."
            }
            Self::TokenExpired => {
                "The token has expired: get a new one and open a new stream with it."
            }
            Self::Shutdown => "The server is shutting down: reconnect.",
        }
    }

    fn event(self) -> Event {
        let event = Event::default().event("end").data(
            serde_json::json!({ "reason": self.code(), "message": self.message() }).to_string(),
        );
        match self {
            Self::Shutdown => event.retry(RETRY_AFTER_SHUTDOWN),
            Self::StreamLimit | Self::TokenExpired => event,
        }
    }
}

/// What ends a stream from the server's side.
struct Ends {
    slot: StreamSlot,
    shutdown: tokio_util::sync::CancellationToken,
    token_expires: Option<tokio::time::Instant>,
}

impl Ends {
    async fn wait(&self) -> EndReason {
        let expiry = async {
            match self.token_expires {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = self.shutdown.cancelled() => EndReason::Shutdown,
            () = self.slot.replaced.cancelled() => EndReason::StreamLimit,
            () = expiry => EndReason::TokenExpired,
        }
    }
}

/// Ends the subscription when the stream is dropped (the client went away).
struct Feed {
    hub: Arc<ChangeHub>,
    subscription: Subscription,
    initial: std::vec::IntoIter<Frame>,
    first: bool,
    ends: Ends,
    ended: bool,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.hub.unsubscribe(&self.subscription);
        crate::telemetry::stream_closed();
    }
}

fn events(
    hub: Arc<ChangeHub>,
    mut subscription: Subscription,
    ends: Ends,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let initial = std::mem::take(&mut subscription.initial).into_iter();
    let feed = Feed {
        hub,
        subscription,
        initial,
        first: true,
        ends,
        ended: false,
    };
    stream::unfold(feed, |mut feed| async move {
        if feed.ended {
            return None;
        }
        let next = tokio::select! {
            // An end takes precedence over queued changes.
            biased;
            reason = feed.ends.wait() => Err(reason),
            frame = next_frame(&feed.hub, &mut feed.initial, &mut feed.subscription) => Ok(frame?),
        };
        let event = match next {
            Ok(frame) => {
                let mut event = render(&feed.hub, &frame);
                if std::mem::take(&mut feed.first) {
                    event = event.retry(RETRY);
                }
                event
            }
            Err(reason) => {
                crate::telemetry::stream_ended(reason.code());
                feed.ended = true;
                reason.event()
            }
        };
        Some((Ok(event), feed))
    })
}

/// The next frame to send: what the subscription starts with, a resync when it fell
/// behind, else the next change; `None` when the hub dropped it.
async fn next_frame(
    hub: &Arc<ChangeHub>,
    initial: &mut std::vec::IntoIter<Frame>,
    subscription: &mut Subscription,
) -> Option<Frame> {
    if let Some(frame) = initial.next() {
        return Some(frame);
    }
    // The initial frames' buffer is not kept for the rest of the stream's life.
    *initial = Vec::new().into_iter();
    if subscription.lagged.load(Ordering::Acquire) {
        hub.resync(subscription)
    } else {
        subscription.receiver.recv().await
    }
}

fn render(hub: &ChangeHub, frame: &Frame) -> Event {
    // A session's JSON is rendered once per version and shared by every stream (and
    // reader) that sends it.
    let (name, data) = match &frame.change {
        Change::Snapshot(sessions) => ("snapshot", json_response(sessions)),
        Change::Upsert(session) => ("upsert", session_bytes(Rendering::Json, session).to_vec()),
        Change::Remove(id) => (
            "remove",
            // A string in an object: serializing cannot fail.
            serde_json::to_vec(&serde_json::json!({ "id": &**id })).unwrap_or_default(),
        ),
    };
    Event::default()
        .event(name)
        .id(hub.event_id(frame.seq))
        // serde_json writes UTF-8.
        .data(String::from_utf8(data).unwrap_or_default())
}
