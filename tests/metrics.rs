//! `GET /metrics`: what the service counted, in Prometheus text form, over real HTTP.

mod common;

use std::time::{Duration, Instant};

use common::http_get;
use sessiond::api::auth::{AuthSettings, Authenticator, TokenRequest, mint_token};
use sessiond::projection::FoldConfig;
use sessiond::server::{Handles, ServeConfig, Source, serve_with};

const DEMO: &str = include_str!("../examples/demo.jsonl");

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_what_the_service_did() {
    let dir = common::work_dir("metrics");
    let log = dir.join("events.jsonl");
    let unknown_kind =
        r#"{"sessionId":"S-x","occurredAt":"2026-11-24T09:00:00Z","sessionTeleported":{}}"#;
    std::fs::write(
        &log,
        format!("{DEMO}not json\n{{}}\n{{\"sessionId\":\"S\"}}\n{unknown_kind}\n"),
    )
    .unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let handles = Handles::default();
    let config = ServeConfig {
        source: Source::EventLog(log),
        auth: Authenticator::new(&AuthSettings {
            secrets: vec!["k".into()],
            ..Default::default()
        })
        .unwrap(),
        fold: FoldConfig::default(),
        history_depth: 0,
        snapshots: None,
        changes_topic: None,
        edge: Default::default(),
        limits: Default::default(),
    };
    tokio::spawn(serve_with(listener, config, handles.clone()));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !handles.readiness.is_ready() {
        assert!(Instant::now() < deadline, "not ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let token = mint_token(&TokenRequest {
        secret: "k".into(),
        sub: "U-acme-alice".into(),
        roles: vec!["User".into()],
        ttl: Duration::from_secs(60),
        issuer: None,
        audience: None,
    })
    .unwrap();
    let metrics = tokio::task::spawn_blocking(move || {
        assert_eq!(http_get(port, "/sessions/active", Some(&token)).0, 200);
        assert_eq!(http_get(port, "/sessions/active", None).0, 401);
        let (status, body) = http_get(port, "/metrics", None);
        assert_eq!(status, 200);
        body
    })
    .await
    .unwrap();

    let started = DEMO
        .lines()
        .filter(|l| l.contains("\"sessionStarted\""))
        .count();
    for expected in [
        format!("sessiond_events_applied_total{{kind=\"SessionStarted\"}} {started}"),
        "sessiond_records_skipped_total{reason=\"bad\"} 3".to_owned(),
        "sessiond_records_skipped_total{reason=\"unknown_kind\"} 1".to_owned(),
        "sessiond_records_skipped_total{reason=\"late\"} 1".to_owned(),
        "sessiond_bad_records_total{reason=\"undecodable\"} 1".to_owned(),
        "sessiond_bad_records_total{reason=\"missing_session_id\"} 1".to_owned(),
        "sessiond_bad_records_total{reason=\"missing_timestamp\"} 1".to_owned(),
        "sessiond_sessions{state=\"active\"} 16".to_owned(),
        "sessiond_sessions{state=\"pending\"} 0".to_owned(),
        "sessiond_http_requests_total{route=\"/sessions/active\",status=\"200\"} 1".to_owned(),
        "sessiond_http_requests_total{route=\"/sessions/active\",status=\"401\"} 1".to_owned(),
        "sessiond_http_request_duration_seconds_bucket{route=\"/sessions/active\",le=\"0.001\"}"
            .to_owned(),
    ] {
        assert!(
            metrics.lines().any(|l| l.starts_with(&expected)),
            "missing {expected}\n{metrics}"
        );
    }
}
