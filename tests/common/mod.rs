//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod broker;

use std::sync::Arc;

use sessiond::events::Event;
use sessiond::events::decode::{Decoded, decode_json};
use sessiond::projection::{Fold, FoldConfig, Outcome, Position, Projection};

/// Parses one event-log line, panicking with the reason if it is not a valid event.
pub fn event(line: &str) -> Event {
    match decode_json(line) {
        Decoded::Event(e) => e,
        other => panic!("not a valid event: {other:?}\n{line}"),
    }
}

/// A fold over a fresh projection.
pub fn fold() -> Fold {
    Fold::new(FoldConfig::default(), Arc::new(Projection::new()))
}

/// Feeds lines to the fold as one stream, line numbers as offsets.
pub struct Feeder {
    pub fold: Fold,
    next: i64,
}

impl Feeder {
    pub fn new(fold: Fold) -> Self {
        Self { fold, next: 1 }
    }

    pub fn feed(&mut self, line: &str) -> Outcome {
        let position = Position {
            stream: 0,
            offset: self.next,
        };
        self.next += 1;
        self.fold.apply(event(line), position)
    }

    pub fn projection(&self) -> &Projection {
        self.fold.projection()
    }
}

/// A `SessionStarted` line for `session` owned by `endpoint` at `time` (RFC 3339).
pub fn started(id: &str, session: &str, time: &str, endpoint: &str) -> String {
    format!(
        r#"{{"eventId":"{id}","sessionId":"{session}","occurredAt":"{time}","accountId":"A-1","actorId":"{endpoint}","sessionStarted":{{"accountName":"Acme","endpointId":"{endpoint}","channel":"CHANNEL_VOICE","direction":"DIRECTION_INCOMING","fromAddress":"+15550100"}}}}"#
    )
}

/// Any event line: `body` is the kind's key and object, e.g. `"sessionResumed":{}`.
pub fn line(id: &str, session: &str, time: &str, body: &str) -> String {
    format!(r#"{{"eventId":"{id}","sessionId":"{session}","occurredAt":"{time}",{body}}}"#)
}

pub mod http {
    //! Driving the API router in process.

    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Request, Response};
    use http_body_util::BodyExt;
    use sessiond::api::auth::{AuthSettings, Authenticator};
    use sessiond::api::{AppState, Readiness, router};
    use sessiond::projection::Projection;
    use tower::ServiceExt;

    pub const SECRET: &str = "test-secret";

    /// A router over `projection`, verifying HS256 tokens signed with [`SECRET`].
    pub fn app(projection: Arc<Projection>) -> axum::Router {
        app_with(
            projection,
            AuthSettings {
                secret: Some(SECRET.into()),
                ..Default::default()
            },
        )
    }

    /// A router over `projection` with the given token settings.
    pub fn app_with(projection: Arc<Projection>, settings: AuthSettings) -> axum::Router {
        let readiness = Arc::new(Readiness::default());
        readiness.set_ready();
        router(AppState {
            projection,
            auth: Arc::new(Authenticator::new(&settings).expect("auth settings")),
            readiness,
        })
    }

    /// Sends one request; returns the response and its body as a string.
    pub async fn send(app: &axum::Router, request: Request<Body>) -> (Response<Body>, String) {
        let response = app.clone().oneshot(request).await.expect("infallible");
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        (
            Response::from_parts(parts, Body::empty()),
            String::from_utf8(bytes.to_vec()).expect("utf-8"),
        )
    }
}
