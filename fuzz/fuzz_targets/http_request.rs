//! Any request to the API: routes, format negotiation (extensions, `?format=`, Accept),
//! the auth headers (a valid token, one of another role, or any bytes as a bearer token or
//! `ss-tok` cookie), `Last-Event-ID`, and a body. Nothing may panic or answer 5xx: garbage
//! gets a 4xx with a ServiceStack error body.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arbitrary::Arbitrary;
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use sessiond::api::auth::{AuthSettings, Authenticator, TokenRequest, mint_token};
use sessiond::api::limits::{LimitsConfig, UserLimits};
use sessiond::api::{AppState, Readiness, router};
use sessiond::projection::{Fold, FoldConfig, Projection};
use tower::ServiceExt;

const SECRET: &str = "fuzz-secret";
const ROUTES: [&str; 21] = [
    "/sessions/active",
    "/sessions/active.jsv",
    "/sessions/active.csv",
    "/jsv/reply/GetActiveSessions",
    "/types/typescript",
    "/types/python",
    "/metadata",
    "/xml/metadata",
    "/sessions/active.json",
    "/sessions/active.xml",
    "/sessions/my",
    "/json/reply/GetActiveSessions",
    "/xml/reply/GetActiveSessions",
    "/api/GetActiveSessions",
    "/sessions/active/stream",
    "/sessions/S-northwind-0001/history",
    "/admin/state",
    "/readyz",
    "/metrics",
    "/healthz",
    "/",
];
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "OPTIONS", "HEAD"];

#[derive(Debug, Arbitrary)]
enum Auth {
    None,
    Valid,
    Admin,
    Bearer(String),
    Cookie(String),
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct Input {
    method: u8,
    route: u8,
    /// Appended to the route (an extension, a query, garbage).
    tail: String,
    auth: Auth,
    accept: Option<String>,
    content_type: Option<String>,
    last_event_id: Option<Vec<u8>>,
    body: Vec<u8>,
}

struct Fixture {
    runtime: tokio::runtime::Runtime,
    app: axum::Router,
    user: String,
    admin: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let projection = Arc::new(Projection::new());
        let mut fold = Fold::new(FoldConfig::default(), Arc::clone(&projection));
        fold.keep_history(8);
        let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/demo.jsonl");
        sessiond::ingest::event_log::load_file(std::path::Path::new(demo), &mut fold)
            .expect("examples/demo.jsonl");
        let readiness = Arc::new(Readiness::default());
        readiness.set_ready();
        let settings = AuthSettings {
            secrets: vec![SECRET.into()],
            ..Default::default()
        };
        // No request budget: a fuzzer's thousands of requests a second would only ever
        // reach the 429.
        let limits = LimitsConfig {
            rate_per_minute: 0,
            ..LimitsConfig::default()
        };
        let app = router(AppState {
            projection: Arc::clone(&projection),
            auth: Arc::new(Authenticator::new(&settings).expect("auth settings")),
            readiness,
            status: Arc::default(),
            history_depth: 8,
            hub: Arc::new(sessiond::live::ChangeHub::new(Arc::clone(&projection))),
            limits: Arc::new(UserLimits::new(limits)),
            shutdown: Default::default(),
        });
        let token = |roles: &[&str]| {
            mint_token(&TokenRequest {
                secret: SECRET.into(),
                sub: "U-acme-alice".into(),
                roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                ttl: Duration::from_secs(24 * 3600),
                issuer: None,
                audience: None,
            })
            .expect("token")
        };
        Fixture {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            app,
            user: token(&["User"]),
            admin: token(&["SystemAdministrator"]),
        }
    })
}

fuzz_target!(|input: Input| {
    let mut input = input;
    let fixture = fixture();
    let uri = format!(
        "{}{}",
        ROUTES[usize::from(input.route) % ROUTES.len()],
        input.tail
    );
    let mut request = Request::builder()
        .method(METHODS[usize::from(input.method) % METHODS.len()])
        .uri(uri);
    match &input.auth {
        Auth::None => {}
        Auth::Valid => request = request.header("authorization", format!("Bearer {}", fixture.user)),
        Auth::Admin => request = request.header("authorization", format!("Bearer {}", fixture.admin)),
        Auth::Bearer(token) => request = request.header("authorization", format!("Bearer {token}")),
        Auth::Cookie(token) => request = request.header("cookie", format!("ss-tok={token}")),
        Auth::Raw(bytes) => request = request.header("authorization", bytes.as_slice()),
    }
    if let Some(accept) = &input.accept {
        request = request.header("accept", accept.as_str());
    }
    if let Some(content_type) = &input.content_type {
        request = request.header("content-type", content_type.as_str());
    }
    if let Some(id) = &input.last_event_id {
        request = request.header("last-event-id", id.as_slice());
    }
    // The http crate refuses what no client could send (a bad URI or header value).
    let Ok(request) = request.body(Body::from(std::mem::take(&mut input.body))) else {
        return;
    };
    fixture.runtime.block_on(async {
        let response = fixture.app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        assert!(!status.is_server_error(), "{status} for {input:?}");
        let streaming = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        if !streaming {
            let _ = response.into_body().collect().await;
        }
    });
});
