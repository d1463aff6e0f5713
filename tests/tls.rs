//! HTTPS: `serve --tls-cert --tls-key` answers over TLS with HTTP/2 (by ALPN) and HTTP/1.1,
//! serves a renewed certificate without a restart, and refuses to start with one it cannot
//! use.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::broker::{free_port, make_tls};
use common::{KillOnDrop, token_with_roles};

const SECRET: &str = "tls-secret";
const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo.jsonl");

/// A CA and a certificate for 127.0.0.1 in `dir`: (CA PEM, certificate PEM, key PEM).
fn certificate(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (ca, _) = make_tls(dir);
    (ca, dir.join("broker.pem"), dir.join("broker.key"))
}

fn client(ca: &Path, http1_only: bool) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    let builder = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .timeout(Duration::from_secs(5));
    let builder = if http1_only {
        builder.http1_only()
    } else {
        builder
    };
    builder.build().unwrap()
}

fn serve_tls(cert: &Path, key: &Path) -> (KillOnDrop, u16) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_sessiond"))
        .args(["serve", "--events", DEMO, "--jwt-secret", SECRET])
        .args(["--http", &format!("127.0.0.1:{port}")])
        .args(["--tls-cert", cert.to_str().unwrap()])
        .args(["--tls-key", key.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    (KillOnDrop(child), port)
}

async fn get(
    client: &reqwest::Client,
    port: u16,
    path: &str,
) -> reqwest::Result<(reqwest::StatusCode, reqwest::Version, String)> {
    let token = token_with_roles(SECRET, "U-acme-alice", &["User"]);
    let response = client
        .get(format!("https://127.0.0.1:{port}{path}"))
        .bearer_auth(token)
        .send()
        .await?;
    let (status, version) = (response.status(), response.version());
    Ok((status, version, response.text().await?))
}

async fn wait_ready(client: &reqwest::Client, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((status, ..)) = get(client, port, "/readyz").await
            && status == 200
        {
            return;
        }
        assert!(Instant::now() < deadline, "ready over HTTPS within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn https_serves_http2_and_http1_and_a_renewed_certificate() {
    let work = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificate(&work.path().join("first"));
    let (_server, port) = serve_tls(&cert, &key);
    let h2 = client(&ca, false);
    wait_ready(&h2, port).await;

    let (status, version, body) = get(&h2, port, "/sessions/active").await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(version, reqwest::Version::HTTP_2, "HTTP/2 by ALPN");
    assert!(body.contains("S-acme-"), "{body}");
    let h1 = client(&ca, true);
    let (status, version, body_h1) = get(&h1, port, "/sessions/active").await.unwrap();
    assert_eq!((status.as_u16(), version), (200, reqwest::Version::HTTP_11));
    assert_eq!(body_h1, body, "the same answer over either protocol");

    // Cleartext on the TLS port is not served: the handshake fails and the connection
    // closes (the write itself may fail, once the server has hung up).
    let answer = {
        use std::io::{Read, Write};
        let mut plain = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        plain
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let _ = plain.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut answer = Vec::new();
        let _ = plain.read_to_end(&mut answer);
        answer
    };
    assert!(
        !answer.starts_with(b"HTTP/1.1 200"),
        "plain HTTP on the HTTPS port: {}",
        String::from_utf8_lossy(&answer)
    );

    // A renewal: a certificate from another CA written over the files. New connections
    // get it without a restart; a client that only trusts the old CA is refused.
    let (new_ca, new_cert, new_key) = certificate(&work.path().join("renewed"));
    std::fs::copy(&new_key, &key).unwrap();
    std::fs::copy(&new_cert, &cert).unwrap();
    let renewed = client(&new_ca, false);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok((200, ..)) = get(&renewed, port, "/sessions/active")
            .await
            .map(|(s, v, b)| (s.as_u16(), v, b))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the renewed certificate is served within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let old = client(&ca, false);
    let refused = get(&old, port, "/sessions/active").await;
    assert!(
        refused.is_err(),
        "the old CA no longer verifies the server: {refused:?}"
    );
}

#[test]
fn serve_refuses_a_certificate_it_cannot_use() {
    let work = tempfile::tempdir().unwrap();
    let (_, cert, _) = certificate(&work.path().join("one"));
    let (_, _, other_key) = certificate(&work.path().join("two"));
    let output = Command::new(env!("CARGO_BIN_EXE_sessiond"))
        .args(["serve", "--events", DEMO, "--jwt-secret", SECRET])
        .args(["--http", &format!("127.0.0.1:{}", free_port())])
        .args(["--tls-cert", cert.to_str().unwrap()])
        .args(["--tls-key", other_key.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("TLS") && stderr.contains("does not fit the certificate"),
        "{stderr}"
    );
}

/// Runs tests/browser/tabs.mjs against `base_url`; its JSON report.
fn open_tabs(base_url: &str, tabs: usize, wait: Duration) -> serde_json::Value {
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        browser_dir
            .join("node_modules/playwright-core/package.json")
            .exists(),
        "playwright-core is missing from tests/browser: run scripts/setup-test-deps"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: run scripts/install-chromium (scripts/setup-test-deps does)"
    );
    let output = Command::new("node")
        .arg(browser_dir.join("tabs.mjs"))
        .env("BASE_URL", base_url)
        .env("TOKEN", token_with_roles(SECRET, "U-acme-alice", &["User"]))
        .env("TABS", tabs.to_string())
        .env("WAIT_MS", wait.as_millis().to_string())
        .output()
        .expect("node (scripts/setup-test-deps installs Node.js)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "tabs.mjs failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("tabs.mjs printed {stdout}: {e}"))
}

/// An agent with eight dashboard tabs: over HTTP/2 (TLS, ALPN) every tab's live stream
/// runs on one connection and all eight are live; over HTTP/1.1 the browser's six
/// connections per host are taken by six streams and the other tabs wait.
#[test]
fn eight_dashboard_tabs_are_all_live_over_http2() {
    let work = tempfile::tempdir().unwrap();
    let (_, cert, key) = certificate(&work.path().join("tls"));
    let (_server, port) = serve_tls(&cert, &key);
    common::wait_until("ready over HTTPS", Duration::from_secs(30), || {
        Command::new("curl")
            .args(["-skf", &format!("https://127.0.0.1:{port}/readyz")])
            .status()
            .is_ok_and(|s| s.success())
    });
    let report = open_tabs(
        &format!("https://127.0.0.1:{port}"),
        8,
        Duration::from_secs(20),
    );
    eprintln!("HTTP/2 over TLS: {report}");
    assert_eq!(report["live"], 8, "every tab live over HTTP/2: {report}");
    for tab in report["tabs"].as_array().unwrap() {
        assert_eq!(tab["page"], "h2", "{report}");
    }

    // The same eight tabs against a cleartext HTTP/1.1 server: some are left waiting.
    let (_plain, plain_port) = common::serve(
        &["--events", DEMO, "--jwt-secret", SECRET],
        Duration::from_secs(30),
    );
    let report = open_tabs(
        &format!("http://127.0.0.1:{plain_port}"),
        8,
        Duration::from_secs(8),
    );
    eprintln!("HTTP/1.1: {report}");
    let live = report["live"].as_u64().unwrap();
    assert!(
        live < 8,
        "HTTP/1.1 cannot hold 8 streams in one browser: {report}"
    );
    assert!(
        live >= 5,
        "the first tabs are live over HTTP/1.1 too: {report}"
    );
    assert_eq!(report["tabs"][0]["page"], "http/1.1", "{report}");
}
