//! `GET /sessions/active/stream`: the caller's active sessions as Server-Sent Events. A
//! snapshot first, then an `upsert` or `remove` per change, each with an id a reconnect
//! can resume after (`Last-Event-ID`); a heartbeat comment every 15 s.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};

use super::AppState;
use super::auth::USER_ROLE;
use crate::contract::dto::{GetActiveSessionsResponse, SessionInfo};
use crate::live::{Change, ChangeHub, Frame, Subscription};

/// How often an idle stream sends a comment, so proxies keep it open.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// How long a browser waits before reconnecting.
const RETRY: Duration = Duration::from_secs(2);

pub(super) async fn active_stream(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let principal = match state.auth.require_role(&headers, USER_ROLE) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    // A snapshot frame of a partial projection would leave the stream without the sessions
    // restored or folded after it.
    if !state.readiness.is_loaded() {
        return super::error::ApiError::Loading.into_response();
    }
    let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let subscription = state.hub.subscribe(&principal.user_id, last_event_id);
    crate::telemetry::stream_opened();
    Sse::new(events(Arc::clone(&state.hub), subscription))
        .keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat"))
        .into_response()
}

/// Ends the subscription when the stream is dropped (the client went away).
struct Feed {
    hub: Arc<ChangeHub>,
    subscription: Subscription,
    initial: std::vec::IntoIter<Frame>,
    first: bool,
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
) -> impl Stream<Item = Result<Event, Infallible>> {
    let initial = std::mem::take(&mut subscription.initial).into_iter();
    let feed = Feed {
        hub,
        subscription,
        initial,
        first: true,
    };
    stream::unfold(feed, |mut feed| async move {
        let frame = match feed.initial.next() {
            Some(frame) => frame,
            None if feed.subscription.lagged.load(Ordering::Acquire) => {
                let hub = Arc::clone(&feed.hub);
                hub.resync(&mut feed.subscription)?
            }
            None => feed.subscription.receiver.recv().await?,
        };
        let mut event = render(&feed.hub, &frame);
        if std::mem::take(&mut feed.first) {
            event = event.retry(RETRY);
        }
        Some((Ok(event), feed))
    })
}

fn render(hub: &ChangeHub, frame: &Frame) -> Event {
    let (name, data) = match &frame.change {
        Change::Snapshot(sessions) => (
            "snapshot",
            serde_json::to_string(&GetActiveSessionsResponse {
                sessions: sessions.iter().map(|s| SessionInfo::from(&**s)).collect(),
            }),
        ),
        Change::Upsert(session) => (
            "upsert",
            serde_json::to_string(&SessionInfo::from(&**session)),
        ),
        Change::Remove(id) => (
            "remove",
            serde_json::to_string(&serde_json::json!({ "id": &**id })),
        ),
    };
    Event::default()
        .event(name)
        .id(hub.event_id(frame.seq))
        // Plain structs of strings: serializing cannot fail.
        .data(data.unwrap_or_default())
}
