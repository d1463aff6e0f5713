//! The HTTP API driven in process: format negotiation, authentication and errors.

mod common;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::http::{SECRET, app, app_with, send};
use common::{Feeder, fold, started};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;
use sessiond::api::auth::{AuthSettings, TokenRequest, mint_token};
use sessiond::projection::Projection;

fn projection() -> Arc<Projection> {
    let mut f = Feeder::new(fold());
    f.feed(&started("e1", "S-1", "2026-11-24T09:00:00Z", "U-1"));
    f.feed(&started("e2", "S-2", "2026-11-24T09:00:01Z", "U-2"));
    Arc::clone(f.fold.projection())
}

fn token(sub: &str, roles: &[&str]) -> String {
    mint_token(&TokenRequest {
        secret: SECRET.into(),
        sub: sub.into(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        ttl: std::time::Duration::from_secs(3600),
        issuer: None,
        audience: None,
    })
    .unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn signed(alg: Algorithm, key: &EncodingKey, claims: serde_json::Value) -> String {
    encode(&Header::new(alg), &claims, key).unwrap()
}

fn get(uri: &str) -> axum::http::request::Builder {
    Request::builder().uri(uri)
}

/// (method, route, `?format=`, `Accept`, expected format).
type NegotiationCase = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    &'static str,
);

/// Issue 13's decisions: a REST route's extension beats `?format`, which beats a predefined
/// route, which beats `Accept`; the first media type listed in `Accept` decides (by prefix,
/// against HTML, JSON, XML, JSV, CSV); otherwise JSON.
#[tokio::test]
async fn format_is_negotiated_as_servicestack_on_asp_net_core() {
    let app = app(projection());
    let bearer = format!("Bearer {}", token("U-1", &["User"]));
    let table: &[NegotiationCase] = &[
        // Accept: the first listed type decides; q-values are not read.
        ("GET", "/sessions/active", None, None, "json"),
        ("GET", "/sessions/active", None, Some("*/*"), "json"),
        (
            "GET",
            "/sessions/active",
            None,
            Some("application/xml"),
            "xml",
        ),
        (
            "GET",
            "/sessions/active",
            None,
            Some("application/json"),
            "json",
        ),
        (
            "GET",
            "/sessions/active",
            None,
            Some("application/xml, application/json"),
            "xml",
        ),
        (
            "GET",
            "/sessions/active",
            None,
            Some("application/json, application/xml"),
            "json",
        ),
        (
            "GET",
            "/sessions/active",
            None,
            Some("application/json;q=0.1, application/xml;q=0.9"),
            "json",
        ),
        (
            "GET",
            "/sessions/active",
            None,
            Some("application/xml;q=0.1, application/json"),
            "xml",
        ),
        ("GET", "/sessions/active", None, Some("text/xml"), "json"),
        ("GET", "/sessions/active", None, Some("text/plain"), "json"),
        (
            "GET",
            "/sessions/active",
            None,
            Some("application/jsv"),
            "jsv",
        ),
        ("GET", "/sessions/active", None, Some("text/csv"), "csv"),
        (
            "GET",
            "/sessions/active",
            None,
            Some("text/html, */*"),
            "html",
        ),
        (
            "GET",
            "/sessions/active",
            None,
            Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            "html",
        ),
        // ?format beats Accept.
        ("GET", "/sessions/active", Some("xml"), None, "xml"),
        (
            "GET",
            "/sessions/active",
            Some("xml"),
            Some("application/json"),
            "xml",
        ),
        (
            "GET",
            "/sessions/active",
            Some("json"),
            Some("application/xml"),
            "json",
        ),
        ("GET", "/sessions/active", Some("xml.aspx"), None, "xml"),
        ("GET", "/sessions/active", Some("JSV"), None, "jsv"),
        (
            "GET",
            "/sessions/active",
            Some("csv"),
            Some("application/xml"),
            "csv",
        ),
        ("GET", "/sessions/active", Some("html"), None, "html"),
        (
            "GET",
            "/sessions/active",
            Some("yaml"),
            Some("application/xml"),
            "xml",
        ),
        // A route extension beats ?format and Accept.
        ("GET", "/sessions/active.xml", None, None, "xml"),
        (
            "GET",
            "/sessions/active.xml",
            None,
            Some("application/json"),
            "xml",
        ),
        ("GET", "/sessions/active.xml", Some("json"), None, "xml"),
        (
            "GET",
            "/sessions/active.json",
            None,
            Some("application/xml"),
            "json",
        ),
        ("GET", "/sessions/active.json", Some("xml"), None, "json"),
        ("GET", "/sessions/active.jsv", Some("csv"), None, "jsv"),
        (
            "GET",
            "/sessions/active.csv",
            None,
            Some("text/html"),
            "csv",
        ),
        ("GET", "/sessions/active.html", None, None, "html"),
        // Predefined routes: the route's format, ?format still overrides.
        (
            "GET",
            "/json/reply/GetActiveSessions",
            None,
            Some("application/xml"),
            "json",
        ),
        ("POST", "/json/reply/GetActiveSessions", None, None, "json"),
        ("GET", "/xml/reply/GetActiveSessions", None, None, "xml"),
        (
            "POST",
            "/xml/reply/GetActiveSessions",
            None,
            Some("application/json"),
            "xml",
        ),
        (
            "GET",
            "/xml/reply/GetActiveSessions",
            Some("json"),
            None,
            "json",
        ),
        (
            "GET",
            "/jsv/reply/GetActiveSessions",
            None,
            None,
            "text/jsv",
        ),
        ("POST", "/csv/reply/GetActiveSessions", None, None, "csv"),
        ("GET", "/html/reply/GetActiveSessions", None, None, "html"),
        (
            "GET",
            "/json/reply/GetActiveSessions",
            Some("csv"),
            None,
            "csv",
        ),
        // /api: like the plain route.
        ("GET", "/api/GetActiveSessions", None, None, "json"),
        (
            "POST",
            "/api/GetActiveSessions",
            None,
            Some("application/xml"),
            "xml",
        ),
        ("GET", "/api/GetActiveSessions", Some("jsv"), None, "jsv"),
        // GetMySessions: the same rules.
        ("GET", "/sessions/my", None, Some("application/xml"), "xml"),
        ("GET", "/sessions/my.json", None, None, "json"),
        ("GET", "/sessions/my.xml", None, None, "xml"),
        ("GET", "/sessions/my.csv", None, None, "csv"),
        ("GET", "/json/reply/GetMySessions", None, None, "json"),
        ("POST", "/xml/reply/GetMySessions", None, None, "xml"),
        ("POST", "/api/GetMySessions", None, None, "json"),
    ];
    for (method, route, format, accept, expected) in table {
        let uri = match format {
            Some(f) => format!("{route}?format={f}"),
            None => (*route).to_owned(),
        };
        let mut request = get(&uri)
            .method(*method)
            .header(header::AUTHORIZATION, &bearer);
        if let Some(accept) = accept {
            request = request.header(header::ACCEPT, *accept);
        }
        let body = if *method == "POST" {
            Body::from("{}")
        } else {
            Body::empty()
        };
        let (response, body) = send(&app, request.body(body).unwrap()).await;
        let case = format!("{method} {uri} Accept={accept:?}");
        assert_eq!(response.status(), StatusCode::OK, "{case}: {body}");
        assert_eq!(response.headers()[header::VARY], "Accept", "{case}");
        let content_type = response.headers()[header::CONTENT_TYPE].to_str().unwrap();
        let operation = if route.contains("My") || route.contains("/my") {
            "GetMySessions"
        } else {
            "GetActiveSessions"
        };
        match *expected {
            "json" => {
                assert_eq!(content_type, "application/json; charset=utf-8", "{case}");
                let value: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert_eq!(value["sessions"][0]["id"], "S-1", "{case}");
                assert_eq!(value["sessions"].as_array().unwrap().len(), 1, "{case}");
            }
            "xml" => {
                assert_eq!(content_type, "application/xml", "{case}");
                assert!(
                    body.starts_with(
                        r#"<?xml version="1.0" encoding="utf-8"?><GetActiveSessionsResponse "#
                    ),
                    "{case}: {body}"
                );
                assert!(body.contains("S-1") && !body.contains("S-2"), "{case}");
            }
            "jsv" | "text/jsv" => {
                let want = if *expected == "jsv" {
                    "application/jsv"
                } else {
                    "text/jsv"
                };
                assert_eq!(content_type, want, "{case}");
                assert!(body.starts_with("{sessions:[{id:S-1,"), "{case}: {body}");
            }
            "csv" => {
                assert_eq!(content_type, "text/csv", "{case}");
                assert_eq!(
                    response.headers()[header::CONTENT_DISPOSITION],
                    format!("attachment;filename=\"{operation}.csv\"").as_str(),
                    "{case}"
                );
                assert!(
                    body.starts_with("Sessions\r\n\"[{id:S-1,"),
                    "{case}: {body}"
                );
                assert!(body.ends_with("}]\"\r\n"), "{case}: {body}");
            }
            "html" => {
                assert_eq!(content_type, "text/html", "{case}");
                assert!(body.starts_with("<!DOCTYPE html>"), "{case}: {body}");
                assert!(
                    body.contains(&format!("<title>{operation} Snapshot</title>")),
                    "{case}"
                );
                assert!(
                    body.contains("<td>S-1</td>") && !body.contains("S-2"),
                    "{case}"
                );
            }
            other => panic!("unknown expectation {other}"),
        }
    }
}

#[tokio::test]
async fn json_follows_the_servicestack_rules() {
    let app = app(projection());
    let request = get("/sessions/active")
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", token("U-1", &["User"])),
        )
        .body(Body::empty())
        .unwrap();
    let (_, body) = send(&app, request).await;
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    let s = &value["sessions"][0];
    assert_eq!(s["dateCreated"], "2026-11-24T09:00:00.000Z");
    assert_eq!(s["callState"], "Ringing");
    assert_eq!(s["dialState"], "Active");
    assert_eq!(s["holdReason"], "None");
    assert_eq!(s["ended"], false);
    assert_eq!(s["wasMissed"], false);
    assert_eq!(s["log"], json!([]));
    assert_eq!(s["members"], json!([]));
    assert_eq!(s["customerBreadcrumb"], json!([]));
    assert!(s.get("toAddress").is_none(), "nulls are omitted");
    assert!(s.get("dateCompleted").is_none());
}

enum Cred {
    None,
    Bearer(String),
    Cookie(String),
    Raw(&'static str),
}

#[tokio::test]
async fn authentication_table() {
    let hs = EncodingKey::from_secret(SECRET.as_bytes());
    let other = EncodingKey::from_secret(b"another-secret");
    let rsa = EncodingKey::from_rsa_pem(include_bytes!("fixtures/rsa-private.pem")).unwrap();
    let claims = |exp: u64, roles: &[&str]| json!({"sub": "U-1", "exp": exp, "roles": roles});
    let future = now() + 3600;
    // A token whose header says `alg: none`, with no signature.
    let alg_none = format!(
        "{}.{}.",
        base64_url(r#"{"alg":"none","typ":"JWT"}"#),
        base64_url(&claims(future, &["User"]).to_string())
    );
    let expired = signed(Algorithm::HS256, &hs, claims(now() - 120, &["User"]));
    let within_leeway = signed(Algorithm::HS256, &hs, claims(now() - 30, &["User"]));
    let not_yet = signed(
        Algorithm::HS256,
        &hs,
        json!({"sub": "U-1", "exp": future, "nbf": now() + 600, "roles": ["User"]}),
    );

    // (case, credentials, status, message)
    let table: Vec<(&str, Cred, StatusCode, &str)> = vec![
        (
            "none",
            Cred::None,
            StatusCode::UNAUTHORIZED,
            "Not Authenticated",
        ),
        (
            "garbage",
            Cred::Bearer("not.a.jwt".into()),
            StatusCode::UNAUTHORIZED,
            "Token is invalid",
        ),
        (
            "empty bearer",
            Cred::Raw("Bearer "),
            StatusCode::UNAUTHORIZED,
            "Not Authenticated",
        ),
        (
            "wrong key",
            Cred::Bearer(signed(Algorithm::HS256, &other, claims(future, &["User"]))),
            StatusCode::UNAUTHORIZED,
            "Token is invalid",
        ),
        (
            "other algorithm",
            Cred::Bearer(signed(Algorithm::RS256, &rsa, claims(future, &["User"]))),
            StatusCode::UNAUTHORIZED,
            "Token is invalid",
        ),
        (
            "alg none",
            Cred::Bearer(alg_none),
            StatusCode::UNAUTHORIZED,
            "Token is invalid",
        ),
        (
            "expired",
            Cred::Bearer(expired),
            StatusCode::UNAUTHORIZED,
            "Token has expired",
        ),
        (
            "not yet valid",
            Cred::Bearer(not_yet),
            StatusCode::UNAUTHORIZED,
            "Token is invalid",
        ),
        (
            "no sub",
            Cred::Bearer(signed(
                Algorithm::HS256,
                &hs,
                json!({"exp": future, "roles": ["User"]}),
            )),
            StatusCode::UNAUTHORIZED,
            "Token is invalid",
        ),
        (
            "no exp",
            Cred::Bearer(signed(
                Algorithm::HS256,
                &hs,
                json!({"sub": "U-1", "roles": ["User"]}),
            )),
            StatusCode::UNAUTHORIZED,
            "Token is invalid",
        ),
        (
            "basic",
            Cred::Raw("Basic dXNlcjpwYXNz"),
            StatusCode::UNAUTHORIZED,
            "Not Authenticated",
        ),
        (
            "no User role",
            Cred::Bearer(token("U-1", &["Manager"])),
            StatusCode::FORBIDDEN,
            "Invalid Role",
        ),
        (
            "no roles claim",
            Cred::Bearer(signed(
                Algorithm::HS256,
                &hs,
                json!({"sub": "U-1", "exp": future}),
            )),
            StatusCode::FORBIDDEN,
            "Invalid Role",
        ),
        (
            "valid bearer",
            Cred::Bearer(token("U-1", &["User"])),
            StatusCode::OK,
            "",
        ),
        (
            "expired within leeway",
            Cred::Bearer(within_leeway),
            StatusCode::OK,
            "",
        ),
        (
            "valid cookie",
            Cred::Cookie(token("U-1", &["User", "Manager"])),
            StatusCode::OK,
            "",
        ),
    ];

    let app = app(projection());
    for (case, cred, status, message) in &table {
        for format in ["json", "xml"] {
            let mut request = get(&format!("/sessions/active?format={format}"));
            request = match cred {
                Cred::None => request,
                Cred::Bearer(t) => request.header(header::AUTHORIZATION, format!("Bearer {t}")),
                Cred::Cookie(t) => {
                    request.header(header::COOKIE, format!("theme=dark; ss-tok={t}"))
                }
                Cred::Raw(v) => request.header(header::AUTHORIZATION, *v),
            };
            let (response, body) = send(&app, request.body(Body::empty()).unwrap()).await;
            assert_eq!(response.status(), *status, "{case} ({format}): {body}");
            assert_eq!(
                response.headers().contains_key(header::WWW_AUTHENTICATE),
                *status == StatusCode::UNAUTHORIZED,
                "{case}: WWW-Authenticate"
            );
            if *status == StatusCode::OK {
                assert!(body.contains("S-1"), "{case}");
                continue;
            }
            let code = if *status == StatusCode::FORBIDDEN {
                "Forbidden"
            } else {
                "Unauthorized"
            };
            if format == "json" {
                let value: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert_eq!(
                    value,
                    json!({"responseStatus": {"errorCode": code, "message": message, "errors": []}}),
                    "{case}"
                );
            } else {
                assert_eq!(
                    body,
                    format!(
                        r#"<?xml version="1.0" encoding="utf-8"?><ErrorResponse xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.servicestack.net/types"><ResponseStatus><ErrorCode>{code}</ErrorCode><Message>{message}</Message><StackTrace i:nil="true" /><Errors /><Meta i:nil="true" /></ResponseStatus></ErrorResponse>"#
                    ),
                    "{case}"
                );
            }
        }
    }
}

fn base64_url(s: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = s.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn public_keys_issuer_and_audience() {
    let rsa = EncodingKey::from_rsa_pem(include_bytes!("fixtures/rsa-private.pem")).unwrap();
    let ec = EncodingKey::from_ec_pem(include_bytes!("fixtures/ec-private.pem")).unwrap();
    let future = now() + 3600;
    let good =
        json!({"sub": "U-1", "exp": future, "roles": ["User"], "iss": "evo", "aud": "sessiond"});
    let cases = [
        (
            "rsa-public.pem",
            Algorithm::RS256,
            &rsa,
            good.clone(),
            StatusCode::OK,
        ),
        (
            "ec-public.pem",
            Algorithm::ES256,
            &ec,
            good.clone(),
            StatusCode::OK,
        ),
        (
            "ec-public.pem",
            Algorithm::ES256,
            &ec,
            json!({"sub": "U-1", "exp": future, "roles": ["User"], "iss": "other", "aud": "sessiond"}),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "ec-public.pem",
            Algorithm::ES256,
            &ec,
            json!({"sub": "U-1", "exp": future, "roles": ["User"], "iss": "evo", "aud": "other"}),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "rsa-public.pem",
            Algorithm::RS256,
            &rsa,
            json!({"sub": "U-1", "exp": future, "roles": ["User"]}),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "rsa-public.pem",
            Algorithm::ES256,
            &ec,
            good.clone(),
            StatusCode::UNAUTHORIZED,
        ),
    ];
    for (pem, alg, key, claims, status) in cases {
        let settings = AuthSettings {
            public_keys_pem: vec![
                std::fs::read(format!(
                    "{}/tests/fixtures/{pem}",
                    env!("CARGO_MANIFEST_DIR")
                ))
                .unwrap(),
            ],
            issuer: Some("evo".into()),
            audience: Some("sessiond".into()),
            ..Default::default()
        };
        let app = app_with(projection(), settings);
        let request = get("/sessions/active")
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", signed(alg, key, claims.clone())),
            )
            .body(Body::empty())
            .unwrap();
        let (response, body) = send(&app, request).await;
        assert_eq!(response.status(), status, "{pem} {alg:?} {claims}: {body}");
    }
}

#[tokio::test]
async fn health_and_readiness_need_no_token() {
    let app = app(projection());
    let (response, _) = send(&app, get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (response, _) = send(&app, get("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (response, _) = send(
        &app,
        get("/sessions/active")
            .method(Method::DELETE)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}
