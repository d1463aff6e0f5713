//! The HTTP API: routes, authentication, format negotiation and the one table of errors,
//! serving the response contract (`crate::contract`).

pub mod admin;
pub mod auth;
pub mod dashboard;
pub mod error;
pub mod keys;
pub mod limits;
pub mod metadata;
pub mod native;
pub mod negotiate;
pub mod stream;
pub mod verified;

use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};

use self::auth::{Authenticator, USER_ROLE};
use self::error::ApiError;
use self::limits::UserLimits;
use self::negotiate::{Format, RouteFormat, negotiate_request, respond, wants_jsonp};
use crate::contract::assemble::render_sessions;
use crate::live::ChangeHub;
use crate::projection::Projection;
use crate::status::Status;
use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

pub use crate::readiness::Readiness;

/// What every handler reads.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The sessions.
    pub projection: Arc<Projection>,
    /// Token verification.
    pub auth: Arc<Authenticator>,
    /// Initial-load state, for `/readyz`.
    pub readiness: Arc<Readiness>,
    /// Positions and counters, for `/admin/state`.
    pub status: Arc<Status>,
    /// Applied events the fold keeps per active session, which `/sessions/{id}/history`
    /// reports beside them.
    pub history_depth: usize,
    /// Per-user change streams, for `/sessions/active/stream`.
    pub hub: Arc<ChangeHub>,
    /// Per-user request rate and live-stream caps.
    pub limits: Arc<UserLimits>,
    /// Cancelled when the server closes its connections: live streams end, telling
    /// clients to reconnect (to another replica).
    pub shutdown: CancellationToken,
}

/// The request DTO names that return the caller's active sessions.
const SESSION_OPERATIONS: [(&str, &str); 2] = [
    ("GetActiveSessions", "/sessions/active"),
    ("GetMySessions", "/sessions/my"),
];

/// The API's routes.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/admin/state", get(admin::state))
        .route("/sessions/active/stream", get(stream::active_stream))
        .route("/sessions/{id}/history", get(admin::history));
    for (operation, path) in SESSION_OPERATIONS {
        router = router.route(path, sessions_route(RouteFormat::None, operation));
        for format in Format::ALL {
            let name = format.name();
            let predefined = RouteFormat::Predefined(format);
            router = router
                .route(
                    &format!("{path}.{name}"),
                    sessions_route(RouteFormat::Extension(format), operation),
                )
                .route(
                    &format!("/{name}/reply/{operation}"),
                    sessions_route(predefined, operation)
                        .post(sessions_handler(predefined, operation)),
                );
        }
        router = router.route(
            &format!("/api/{operation}"),
            sessions_route(RouteFormat::None, operation)
                .post(sessions_handler(RouteFormat::None, operation)),
        );
    }
    router
        .merge(native::routes())
        .merge(metadata::routes())
        .merge(dashboard::routes())
        .layer(axum::middleware::from_fn(track_requests))
        .with_state(Arc::new(state))
}

/// Counts every request by route and status, with its latency.
async fn track_requests(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .cloned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let route = route.as_ref().map_or("unmatched", |p| p.as_str());
    crate::telemetry::record_http(route, response.status().as_u16(), started.elapsed());
    response
}

async fn metrics() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::render(),
    )
        .into_response()
}

fn sessions_route(route: RouteFormat, operation: &'static str) -> MethodRouter<Arc<AppState>> {
    get(sessions_handler(route, operation))
}

/// The sessions handler for `operation` on a route that may itself name a format.
fn sessions_handler(
    route: RouteFormat,
    operation: &'static str,
) -> impl Fn(State<Arc<AppState>>, HeaderMap, RawQuery) -> BoxFuture<'static, Response> + Clone {
    move |State(state), headers, RawQuery(query)| {
        Box::pin(async move {
            active_sessions(&state, route, operation, &headers, query.as_deref()).await
        })
    }
}

/// `GetActiveSessions` (or `GetMySessions`): the caller's active sessions, in the
/// negotiated format.
async fn active_sessions(
    state: &AppState,
    route: RouteFormat,
    operation: &str,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Response {
    let format = negotiate_request(query, route, headers);
    if wants_jsonp(query) {
        return ApiError::JsonpNotSupported.into_response_for(format, route, operation);
    }
    let principal = match limits::authorize(state, headers, &[USER_ROLE]).await {
        Ok(p) => p,
        Err(e) => return e.into_response_for(format, route, operation),
    };
    if !state.readiness.is_loaded() {
        return ApiError::Loading.into_response_for(format, route, operation);
    }
    let sessions = state.projection.sessions_for_user(&principal.user_id);
    let body = render_sessions(format, operation, &sessions);
    let mut response = respond(format, route, operation, body);
    if let Some(reason) = state.readiness.stale_reason() {
        // Reads keep answering from the last state; the header says it may be out of date.
        if let Ok(value) = HeaderValue::from_str(&reason) {
            response.headers_mut().insert(STALE_HEADER, value);
        }
    }
    response
}

/// Set on session responses while the replica is stale, with the reason.
pub const STALE_HEADER: &str = "x-sessiond-stale";

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.readiness.not_ready_reason() {
        None => (StatusCode::OK, "ready\n").into_response(),
        Some(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")).into_response(),
    }
}
