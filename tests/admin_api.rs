//! `GET /admin/state` and `GET /sessions/{id}/history` in process: their roles, and that
//! they report what the fold did (the digest of what it holds, the events behind a
//! session with their positions and effects).

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use sessiond::api::auth::{AuthSettings, Authenticator};
use sessiond::api::{AppState, Readiness, router};
use sessiond::ingest::event_log;
use sessiond::live::ChangeHub;
use sessiond::position::{StreamName, StreamPosition};
use sessiond::projection::{Fold, FoldConfig, Projection};
use sessiond::status::Status;

const DEMO: &str = include_str!("../examples/demo.jsonl");
const SECRET: &str = "admin-secret";

fn app() -> (axum::Router, Arc<Projection>) {
    let projection = Arc::new(Projection::new());
    let mut fold = Fold::new(FoldConfig::default(), Arc::clone(&projection));
    fold.keep_history(4);
    let report = event_log::load(DEMO.as_bytes(), "demo.jsonl", &mut fold).unwrap();
    let status = Arc::new(Status::new());
    let name = StreamName {
        topic: "demo.jsonl".into(),
        partition: 0,
    };
    status.set_streams(vec![name.clone()]);
    status.update(|r| {
        r.take_fold(&fold);
        r.positions = vec![StreamPosition {
            name,
            next_offset: report.lines as i64 + 1,
        }];
    });
    let readiness = Arc::new(Readiness::default());
    readiness.set_ready();
    let app = router(AppState {
        projection: Arc::clone(&projection),
        auth: Arc::new(
            Authenticator::new(&AuthSettings {
                secrets: vec![SECRET.into()],
                ..Default::default()
            })
            .unwrap(),
        ),
        readiness,
        status,
        history_depth: 4,
        hub: Arc::new(ChangeHub::new(Arc::clone(&projection))),
        limits: Arc::default(),
        shutdown: Default::default(),
    });
    (app, projection)
}

async fn get(app: &axum::Router, path: &str, roles: Option<&[&str]>) -> (u16, serde_json::Value) {
    let mut request = Request::get(path);
    if let Some(roles) = roles {
        let token = common::token_with_roles(SECRET, "someone", roles);
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let (response, body) = common::http::send(app, request.body(Body::empty()).unwrap()).await;
    (
        response.status().as_u16(),
        serde_json::from_str(&body).unwrap_or_default(),
    )
}

#[tokio::test]
async fn admin_state_reports_the_digest_positions_and_counts_to_administrators_only() {
    let (app, projection) = app();
    assert_eq!(get(&app, "/admin/state", None).await.0, 401);
    assert_eq!(
        get(&app, "/admin/state", Some(&["User", "Manager"]))
            .await
            .0,
        403
    );
    let (status, state) = get(&app, "/admin/state", Some(&["SystemAdministrator"])).await;
    assert_eq!(status, 200);
    assert_eq!(state["digest"], sessiond::digest::digest(&projection));
    assert_eq!(state["watermark"], "2026-11-24T10:29:41.060Z");
    assert_eq!(
        state["positions"],
        serde_json::json!([{"topic": "demo.jsonl", "partition": 0, "offset": 610}])
    );
    assert_eq!(state["counts"]["activeSessions"], 16);
    assert_eq!(state["counts"]["skipped"]["late"], 1);
    let applied: u64 = state["counts"]["applied"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(applied, 608, "every event but the late one");
    assert_eq!(state["readiness"], "ready");
}

#[tokio::test]
async fn history_shows_a_sessions_last_events_with_positions_and_effects() {
    let (app, _) = app();
    assert_eq!(
        get(&app, "/sessions/S-acme-0011/history", Some(&["User"]))
            .await
            .0,
        403
    );
    let (status, missing) = get(&app, "/sessions/S-nope/history", Some(&["Manager"])).await;
    assert_eq!(status, 404);
    assert_eq!(missing["responseStatus"]["errorCode"], "NotFound");

    let (status, history) = get(&app, "/sessions/S-acme-0011/history", Some(&["Manager"])).await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(history["depth"], 4);
    let events = history["events"].as_array().unwrap();
    assert_eq!(events.len(), 4, "the last four");
    let offsets: Vec<i64> = events
        .iter()
        .map(|e| e["position"]["offset"].as_i64().unwrap())
        .collect();
    assert!(
        offsets.windows(2).all(|w| w[0] < w[1]),
        "oldest first: {offsets:?}"
    );
    for event in events {
        assert_eq!(event["position"]["topic"], "demo.jsonl");
        assert_eq!(event["effect"], "applied");
        assert!(event["eventId"].is_string() && event["kind"].is_string());
    }
    // Each position is the line the event came from, and what it changed is named.
    let lines: Vec<&str> = DEMO.lines().collect();
    for event in events {
        let line = lines[event["position"]["offset"].as_u64().unwrap() as usize - 1];
        assert!(
            line.contains(event["eventId"].as_str().unwrap()),
            "{event} vs {line}"
        );
        assert!(line.contains("S-acme-0011"));
    }
    assert!(
        events
            .iter()
            .any(|e| !e["changed"].as_array().unwrap().is_empty()),
        "{history}"
    );
    let (status, _) = get(
        &app,
        "/sessions/S-acme-0011/history",
        Some(&["SystemAdministrator"]),
    )
    .await;
    assert_eq!(status, 200);
}
