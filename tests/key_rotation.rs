//! Key rotation against the binary: several HS256 secrets at once (`sessiond token` signs
//! with the first), and a JWKS served by a local HTTP server or read from a file, rotated
//! while a stream opened with the old key stays open; an unknown `kid` fetches the JWKS
//! again at most once per cooldown.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::sse::SseStream;
use common::{http_get, serve, token_with_roles};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::DecodePublicKey as _;

const ALICE: &str = "U-acme-alice";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn demo() -> String {
    format!("{}/examples/demo.jsonl", env!("CARGO_MANIFEST_DIR"))
}

/// The public JWK of an EC fixture key, with its `kid`.
fn jwk(public_pem: &str, kid: &str) -> serde_json::Value {
    let pem = String::from_utf8(fixture(public_pem)).unwrap();
    let key = p256::PublicKey::from_public_key_pem(&pem).expect("an EC P-256 public key");
    let mut jwk: serde_json::Value = serde_json::from_str(&key.to_jwk_string()).unwrap();
    jwk["kid"] = kid.into();
    jwk["use"] = "sig".into();
    jwk["alg"] = "ES256".into();
    jwk
}

fn jwks(keys: &[serde_json::Value]) -> String {
    serde_json::json!({ "keys": keys }).to_string()
}

/// An ES256 token for Alice, signed with an EC fixture key under `kid`.
fn es256(private_pem: &str, kid: &str) -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    jsonwebtoken::encode(
        &Header {
            kid: Some(kid.into()),
            ..Header::new(Algorithm::ES256)
        },
        &serde_json::json!({"sub": ALICE, "roles": ["User"], "exp": exp}),
        &EncodingKey::from_ec_pem(&fixture(private_pem)).unwrap(),
    )
    .unwrap()
}

/// A JWKS endpoint serving `document`, counting its fetches.
struct JwksServer {
    document: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
    url: String,
}

impl JwksServer {
    async fn start(document: String) -> Self {
        let document = Arc::new(Mutex::new(document));
        let fetches = Arc::new(AtomicUsize::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let app = axum::Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get({
                let (document, fetches) = (Arc::clone(&document), Arc::clone(&fetches));
                move || {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    let body = document.lock().unwrap().clone();
                    async move { ([("content-type", "application/json")], body) }
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            document,
            fetches,
            url,
        }
    }

    fn publish(&self, document: String) {
        *self.document.lock().unwrap() = document;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn status(port: u16, token: &str) -> u16 {
    http_get(port, "/sessions/active", Some(token)).0
}

#[test]
fn several_secrets_verify_and_token_signs_with_the_first() {
    let events = demo();
    let (_server, port) = serve(
        &[
            "--events",
            &events,
            "--jwt-secret",
            "new-secret",
            "--jwt-secret",
            "old-secret",
        ],
        Duration::from_secs(30),
    );
    for secret in ["new-secret", "old-secret"] {
        assert_eq!(
            status(port, &token_with_roles(secret, ALICE, &["User"])),
            200,
            "{secret}"
        );
    }
    assert_eq!(
        status(port, &token_with_roles("retired", ALICE, &["User"])),
        401
    );

    // The same list in the variable: `sessiond token` signs with the first.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sessiond"))
        .args(["token", "--sub", ALICE])
        .env("SESSIOND_JWT_SECRET", "new-secret,old-secret")
        .output()
        .unwrap();
    assert!(output.status.success());
    let token = String::from_utf8(output.stdout).unwrap();
    let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
    validation.validate_aud = false;
    jsonwebtoken::decode::<serde_json::Value>(
        token.trim(),
        &jsonwebtoken::DecodingKey::from_secret(b"new-secret"),
        &validation,
    )
    .expect("signed with the first secret");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_jwks_rotates_under_a_stream_and_an_unknown_kid_refetches_once_per_cooldown() {
    let idp = JwksServer::start(jwks(&[jwk("ec-public.pem", "k1")])).await;
    let events = demo();
    let url = idp.url.clone();
    let (_server, port) = tokio::task::spawn_blocking(move || {
        serve(
            &[
                "--events",
                &events,
                "--jwt-jwks",
                &url,
                "--jwt-jwks-refresh",
                "1h",
                "--jwt-jwks-cooldown",
                "2s",
            ],
            Duration::from_secs(30),
        )
    })
    .await
    .unwrap();
    assert_eq!(idp.fetches(), 1, "fetched once at start");
    let old = es256("ec-private.pem", "k1");
    let new = es256("ec2-private.pem", "k2");
    let get = |token: String| tokio::task::spawn_blocking(move || status(port, &token));
    assert_eq!(get(old.clone()).await.unwrap(), 200);
    let mut stream = SseStream::open(port, &old).await.unwrap();
    assert_eq!(stream.next().await.unwrap().name, "snapshot");

    // The identity provider rotates: k2 replaces k1. Past the cooldown, a k2 token fetches
    // the JWKS again and is accepted at once.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    idp.publish(jwks(&[jwk("ec2-public.pem", "k2")]));
    assert_eq!(get(new.clone()).await.unwrap(), 200);
    assert_eq!(idp.fetches(), 2);
    assert_eq!(get(old.clone()).await.unwrap(), 401, "k1 is retired");
    // The stream opened with k1 stays open until its token expires.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), stream.next())
            .await
            .is_err(),
        "the stream is neither ended nor sent anything"
    );

    // Unknown kids within the cooldown fetch nothing; past it, one fetch for many.
    for i in 0..20 {
        assert_eq!(
            get(es256("ec2-private.pem", &format!("k9-{i}")))
                .await
                .unwrap(),
            401
        );
    }
    assert_eq!(idp.fetches(), 2, "nothing fetched within the cooldown");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let burst: Vec<_> = (0..20)
        .map(|i| get(es256("ec2-private.pem", &format!("k8-{i}"))))
        .collect();
    for request in burst {
        assert_eq!(request.await.unwrap(), 401);
    }
    assert_eq!(idp.fetches(), 3, "one fetch for a burst of unknown kids");
    assert_eq!(get(new).await.unwrap(), 200, "known keys are unaffected");
}

#[test]
fn a_jwks_file_is_read_again_periodically() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, jwks(&[jwk("ec-public.pem", "k1")])).unwrap();
    let events = demo();
    let (_server, port) = serve(
        &[
            "--events",
            &events,
            "--jwt-jwks",
            file.to_str().unwrap(),
            "--jwt-jwks-refresh",
            "1s",
            "--jwt-jwks-cooldown",
            "1h",
        ],
        Duration::from_secs(30),
    );
    let new = es256("ec2-private.pem", "k2");
    assert_eq!(status(port, &es256("ec-private.pem", "k1")), 200);
    assert_eq!(status(port, &new), 401, "not published yet");
    std::fs::write(
        &file,
        jwks(&[jwk("ec-public.pem", "k1"), jwk("ec2-public.pem", "k2")]),
    )
    .unwrap();
    common::wait_until("the refresh picks up k2", Duration::from_secs(5), || {
        status(port, &new) == 200
    });
    // A file that stops being a JWKS keeps the keys held.
    std::fs::write(&file, "not json").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(status(port, &new), 200);
}

#[test]
fn serve_refuses_a_jwks_without_usable_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, r#"{"keys":[]}"#).unwrap();
    let (ok, _, stderr) = common::run_sessiond(&[
        "serve",
        "--events",
        &demo(),
        "--jwt-jwks",
        file.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(stderr.contains("no signing key"), "{stderr}");
}
