//! The attack matrix: the `sessiond` binary serving the demo event log, tried as a hostile
//! client would (slow headers, connection and request floods, stream hoarding, oversized
//! headers and bodies, bad tokens of every kind, garbage on every route, cross-site
//! reads), and as an operator would (SIGTERM under load, tokens expiring under a stream).
//! Each case asserts the outcome SECURITY.md lists.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::sse::SseStream;
use common::{KillOnDrop, http_get, http_get_full, serve, token_with_roles, wait_until};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

const SECRET: &str = "attack-secret";
const ALICE: &str = "U-acme-alice";
const BOB: &str = "U-acme-bob";

fn demo() -> String {
    format!("{}/examples/demo.jsonl", env!("CARGO_MANIFEST_DIR"))
}

/// `sessiond serve` on the demo log with `extra` flags.
fn start(extra: &[&str]) -> (KillOnDrop, u16) {
    let events = demo();
    let mut args = vec!["--events", &events, "--jwt-secret", SECRET];
    args.extend_from_slice(extra);
    serve(&args, Duration::from_secs(30))
}

fn token(user: &str) -> String {
    token_with_roles(SECRET, user, &["User"])
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token with these claims, signed with `secret` (HS256) under `header`.
fn signed(header: &Header, claims: &serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(header, claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

/// Sends raw bytes and reads the answer until the server closes or 5 s pass; returns
/// (status, lower-cased head, body), status 0 when nothing parseable came back.
fn raw(port: u16, request: &[u8]) -> (u16, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stream.write_all(request);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (status, head.to_ascii_lowercase(), body.to_owned())
}

/// Whether the server closed `stream` (EOF or reset) within `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            // A 408 or similar before closing is fine.
            Ok(_) => continue,
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                );
            }
        }
    }
}

fn error_code(body: &str) -> String {
    let body: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    body["responseStatus"]["errorCode"]
        .as_str()
        .unwrap_or_else(|| panic!("not a ServiceStack error: {body}"))
        .to_owned()
}

#[test]
fn slow_and_silent_headers_are_cut_off_and_others_are_served() {
    let (_server, port) = start(&["--header-read-timeout", "1s"]);
    let started = Instant::now();
    // Half a header, nothing at all, and a header trickled a byte at a time.
    let mut half: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(b"GET /sessions/active HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    let mut silent: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let mut trickle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let trickled = std::thread::spawn(move || {
        for byte in b"GET /sessions/active HTTP/1.1\r\nX-Slow: ".iter().cycle() {
            if trickle.write_all(&[*byte]).is_err() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
            if std::time::Instant::now().duration_since(started) > Duration::from_secs(10) {
                return false;
            }
        }
        false
    });
    // Meanwhile, others are served.
    assert_eq!(
        http_get(port, "/sessions/active", Some(&token(ALICE))).0,
        200
    );
    for s in half.iter_mut().chain(silent.iter_mut()) {
        assert!(
            closed_within(s, Duration::from_secs(4)),
            "a connection without a whole header is closed"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed after about the timeout: {:?}",
        started.elapsed()
    );
    assert!(
        trickled.join().unwrap(),
        "a header trickled byte by byte is cut off too"
    );
    assert_eq!(http_get(port, "/healthz", None).0, 200);
}

#[test]
fn an_idle_keep_alive_connection_is_closed() {
    let (_server, port) = start(&["--idle-timeout", "1s", "--header-read-timeout", "5s"]);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 512];
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let idle = Instant::now();
    assert!(closed_within(&mut s, Duration::from_secs(4)));
    assert!(
        idle.elapsed() >= Duration::from_millis(900),
        "not before the timeout"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_over_the_cap_are_refused_with_a_503_and_the_server_recovers() {
    let (_server, port) = start(&["--max-connections", "20"]);
    // Twenty live streams hold every slot (one per user: the per-user cap is not the point).
    let mut streams = Vec::new();
    for i in 0..20 {
        let mut stream = SseStream::open(port, &token(&format!("U-flood-{i}")))
            .await
            .expect("a stream within the cap");
        assert_eq!(stream.next().await.unwrap().name, "snapshot");
        streams.push(stream);
    }
    let (status, head, body) =
        tokio::task::spawn_blocking(move || raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
            .await
            .unwrap();
    assert_eq!(status, 503, "{head}\n{body}");
    assert!(head.contains("retry-after: 1"), "{head}");
    assert_eq!(error_code(&body), "ServiceUnavailable");
    drop(streams);
    // Until the server has seen the streams close, a request may still be refused: each
    // refusal is counted, and the counter must agree.
    let mut refused = 1;
    wait_until("served again", Duration::from_secs(5), || {
        match http_get(port, "/healthz", None).0 {
            200 => true,
            503 => {
                refused += 1;
                false
            }
            other => panic!("{other} while the streams close"),
        }
    });
    let (_, metrics) = http_get(port, "/metrics", None);
    assert!(
        metrics.contains(&format!(
            "sessiond_http_connections_refused_total {refused}"
        )),
        "{refused} refused: {metrics}"
    );
}

#[test]
fn a_request_flood_is_answered_429_and_other_users_are_served() {
    let (_server, port) = start(&["--rate-limit", "60", "--rate-burst", "5"]);
    let alice = token(ALICE);
    for _ in 0..5 {
        assert_eq!(http_get(port, "/sessions/active", Some(&alice)).0, 200);
    }
    let (status, head, body) = http_get_full(port, "/sessions/active", Some(&alice));
    assert_eq!(status, 429, "{body}");
    assert!(head.contains("retry-after: 1"), "{head}");
    assert_eq!(error_code(&body), "TooManyRequests");
    // The XML route answers in XML, as every error does.
    let (status, _, body) = http_get_full(port, "/sessions/active.xml", Some(&alice));
    assert_eq!(status, 429);
    assert!(
        body.contains("<ErrorCode>TooManyRequests</ErrorCode>"),
        "{body}"
    );
    assert_eq!(http_get(port, "/sessions/active", Some(&token(BOB))).0, 200);
    // The bucket refills: one request a second.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(http_get(port, "/sessions/active", Some(&alice)).0, 200);
}

#[test]
fn rate_limit_zero_is_no_limit() {
    let (_server, port) = start(&["--rate-limit", "0"]);
    let alice = token(ALICE);
    // One keep-alive connection, many requests.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let request = format!(
        "GET /sessions/active HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice}\r\n\r\n"
    );
    let mut reader = std::io::BufReader::new(s.try_clone().unwrap());
    for i in 0..1000 {
        s.write_all(request.as_bytes()).unwrap();
        let mut status = String::new();
        std::io::BufRead::read_line(&mut reader, &mut status).unwrap();
        assert!(status.starts_with("HTTP/1.1 200"), "request {i}: {status}");
        let mut length = 0;
        loop {
            let mut line = String::new();
            std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_hoarding_closes_the_oldest_with_a_reason() {
    let (_server, port) = start(&["--max-streams-per-user", "3"]);
    let alice = token(ALICE);
    let mut mine = Vec::new();
    for _ in 0..3 {
        let mut stream = SseStream::open(port, &alice).await.unwrap();
        assert_eq!(stream.next().await.unwrap().name, "snapshot");
        mine.push(stream);
    }
    let mut bobs = SseStream::open(port, &token(BOB)).await.unwrap();
    assert_eq!(bobs.next().await.unwrap().name, "snapshot");
    let mut fourth = SseStream::open(port, &alice).await.unwrap();
    assert_eq!(fourth.next().await.unwrap().name, "snapshot");
    let end = tokio::time::timeout(Duration::from_secs(5), mine[0].next())
        .await
        .expect("the oldest is told")
        .unwrap();
    assert_eq!(end.name, "end");
    assert_eq!(end.data["reason"], "stream-limit");
    assert!(
        tokio::time::timeout(Duration::from_secs(5), mine[0].next())
            .await
            .expect("and closed")
            .is_err()
    );
    // The others, and the other user, hear nothing but heartbeats.
    for stream in mine[1..].iter_mut().chain([&mut bobs, &mut fourth]) {
        assert!(
            tokio::time::timeout(Duration::from_millis(300), stream.next())
                .await
                .is_err(),
            "still open, nothing sent"
        );
    }
}

#[test]
fn oversized_headers_and_bodies_are_refused() {
    let (_server, port) = start(&[]);
    let alice = token(ALICE);
    let big = "a".repeat(64 * 1024);
    let (status, _, _) = raw(
        port,
        format!("GET /sessions/active HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").as_bytes(),
    );
    assert_eq!(status, 431, "a 64 KiB header");
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let (status, _, _) = raw(
        port,
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(),
    );
    assert_eq!(status, 431, "200 headers");
    let (status, _, body) = raw(
        port,
        format!(
            "POST /json/reply/GetActiveSessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice}\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{{}}"
        )
        .as_bytes(),
    );
    assert_eq!(status, 413, "a 10 MB body: {body}");
    // A normal POST is still served.
    let (status, _, _) = raw(
        port,
        format!(
            "POST /json/reply/GetActiveSessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        )
        .as_bytes(),
    );
    assert_eq!(status, 200);
}

#[test]
fn bad_tokens_of_every_kind_are_refused() {
    let (_server, port) = start(&[]);
    let t = now();
    let good = serde_json::json!({"sub": ALICE, "roles": ["User"], "exp": t + 600});
    let hs = Header::new(Algorithm::HS256);
    // {"alg":"none","typ":"JWT"} . {"sub":"U-acme-alice","roles":["User"],"exp":4102444800} .
    let unsigned = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJVLWFjbWUtYWxpY2UiLCJyb2xlcyI6WyJVc2VyIl0sImV4cCI6NDEwMjQ0NDgwMH0.".to_owned();
    let cases: Vec<(&str, Option<String>, u16, &str)> = vec![
        ("no token", None, 401, "Unauthorized"),
        ("garbage", Some("garbage".into()), 401, "Unauthorized"),
        ("three dots", Some("a.b.c".into()), 401, "Unauthorized"),
        ("alg none", Some(unsigned), 401, "Unauthorized"),
        (
            "another secret",
            Some(signed(&hs, &good, "not-the-secret")),
            401,
            "Unauthorized",
        ),
        (
            "expired",
            Some(signed(
                &hs,
                &serde_json::json!({"sub": ALICE, "roles": ["User"], "exp": t - 3600}),
                SECRET,
            )),
            401,
            "Unauthorized",
        ),
        (
            "not yet valid",
            Some(signed(
                &hs,
                &serde_json::json!({"sub": ALICE, "roles": ["User"], "exp": t + 7200, "nbf": t + 3600}),
                SECRET,
            )),
            401,
            "Unauthorized",
        ),
        (
            "no exp",
            Some(signed(
                &hs,
                &serde_json::json!({"sub": ALICE, "roles": ["User"]}),
                SECRET,
            )),
            401,
            "Unauthorized",
        ),
        (
            "empty sub",
            Some(signed(
                &hs,
                &serde_json::json!({"sub": "", "roles": ["User"], "exp": t + 600}),
                SECRET,
            )),
            401,
            "Unauthorized",
        ),
        (
            "HS384",
            Some(signed(&Header::new(Algorithm::HS384), &good, SECRET)),
            401,
            "Unauthorized",
        ),
        (
            "unknown kid",
            Some(signed(
                &Header {
                    kid: Some("nope".into()),
                    ..Header::new(Algorithm::HS256)
                },
                &good,
                "x",
            )),
            401,
            "Unauthorized",
        ),
        (
            "no role",
            Some(signed(
                &hs,
                &serde_json::json!({"sub": ALICE, "exp": t + 600}),
                SECRET,
            )),
            403,
            "Forbidden",
        ),
        (
            "a 12 KiB token",
            Some(format!("{}.{}.x", "e".repeat(6000), "e".repeat(6000))),
            401,
            "Unauthorized",
        ),
    ];
    for (what, token, status, code) in cases {
        let (got, head, body) = http_get_full(port, "/sessions/active", token.as_deref());
        assert_eq!(got, status, "{what}: {body}");
        assert_eq!(error_code(&body), code, "{what}");
        if status == 401 {
            assert!(head.contains("www-authenticate: bearer"), "{what}: {head}");
        }
    }
    // Basic credentials are not a token.
    let (status, _, _) = raw(
        port,
        b"GET /sessions/active HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YTpi\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 401);
}

#[test]
fn garbage_on_every_route_never_fails_the_server() {
    let (mut server, port) = start(&[]);
    let alice = token(ALICE);
    let routes = [
        "/",
        "/healthz",
        "/readyz",
        "/metrics",
        "/admin/state",
        "/sessions/active",
        "/sessions/active.json",
        "/sessions/active.xml",
        "/sessions/active/stream",
        "/sessions/S-1/history",
        "/sessions/my",
        "/json/reply/GetActiveSessions",
        "/xml/reply/GetActiveSessions",
        "/api/GetActiveSessions",
        "/nope",
    ];
    let suffixes = [
        "",
        "?format=%ff%00",
        "?format=jsonp&callback=alert(1)",
        "/../../etc/passwd",
        "%00",
        "?a=1&a=2&format=xml&format=json",
    ];
    for route in routes {
        for suffix in suffixes {
            for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "BREW"] {
                let request = format!(
                    "{method} {route}{suffix} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice}\r\nAccept: \u{7f}*/*;q=x\r\nLast-Event-ID: \u{1}{route}\r\nContent-Length: 3\r\nConnection: close\r\n\r\n\u{0}\u{ff}x"
                );
                let (status, _, body) = raw(port, request.as_bytes());
                assert!(
                    (200..500).contains(&status) || status == 0,
                    "{method} {route}{suffix}: {status} {body}"
                );
                assert!(
                    !body.contains("alert(1)"),
                    "no JSONP: {method} {route}{suffix}"
                );
            }
        }
    }
    for junk in [
        &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..],
        b"GET\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0garbage",
        b"POST /sessions/active HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nzz\r\n",
    ] {
        let (status, _, _) = raw(port, junk);
        assert!(
            status == 0 || (400..500).contains(&status),
            "{status}: {}",
            String::from_utf8_lossy(junk)
        );
    }
    // Request smuggling: Transfer-Encoding wins over Content-Length (RFC 9112 6.3), and the
    // connection is closed after the answer, so nothing is left to be read as a second request.
    let (status, head, body) = raw(
        port,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert!(status == 200 || status == 400, "{status}");
    assert!(!body.contains("HTTP/1.1 "), "one answer: {head}\n{body}");
    assert!(server.0.try_wait().unwrap().is_none(), "still running");
    assert_eq!(http_get(port, "/healthz", None).0, 200);
    assert_eq!(http_get(port, "/sessions/active", Some(&token(BOB))).0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_ends_when_its_token_expires() {
    let (_server, port) = start(&[]);
    // Expired 57 s ago: still inside the 60 s leeway, so accepted for about 3 s more.
    let t = now();
    let token = signed(
        &Header::new(Algorithm::HS256),
        &serde_json::json!({"sub": ALICE, "roles": ["User"], "exp": t - 57}),
        SECRET,
    );
    let mut stream = SseStream::open(port, &token).await.unwrap();
    let opened = Instant::now();
    assert_eq!(stream.next().await.unwrap().name, "snapshot");
    let end = loop {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("ends within the leeway left")
            .unwrap();
        if event.name == "end" {
            break event;
        }
    };
    assert_eq!(end.data["reason"], "token-expired");
    assert!(opened.elapsed() >= Duration::from_secs(1), "not at once");
    assert!(stream.next().await.is_err(), "then closed");
    // Reconnecting with the same token is refused: the client must get a new one.
    let (status, _, _) = http_get_full(port, "/sessions/active/stream", Some(&token));
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_then_exits() {
    let (mut server, port) = start(&["--shutdown-grace", "2s", "--drain-timeout", "2s"]);
    let alice = token(ALICE);
    let mut stream = SseStream::open(port, &alice).await.unwrap();
    assert_eq!(stream.next().await.unwrap().name, "snapshot");
    let pid = libc::pid_t::try_from(server.0.id()).unwrap();
    // SAFETY: signalling a child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let signalled = Instant::now();
    tokio::task::spawn_blocking(move || {
        wait_until("/readyz 503 at once", Duration::from_millis(500), || {
            http_get(port, "/readyz", None) == (503, "shutting down\n".to_owned())
        });
    })
    .await
    .unwrap();
    // Reads are served throughout the grace period.
    let reader = tokio::task::spawn_blocking({
        let alice = alice.clone();
        move || {
            let mut served = 0;
            while signalled.elapsed() < Duration::from_millis(1800) {
                assert_eq!(
                    http_get(port, "/sessions/active", Some(&alice)).0,
                    200,
                    "a read within the grace period"
                );
                served += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            served
        }
    });
    let end = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("the stream is ended")
        .unwrap();
    assert_eq!(end.name, "end");
    assert_eq!(end.data["reason"], "shutdown");
    assert!(
        signalled.elapsed() >= Duration::from_millis(1900),
        "not before the grace period"
    );
    assert!(reader.await.unwrap() > 10);
    let exited = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(6);
        loop {
            if let Some(status) = server.0.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    let exited = exited.expect("exits within grace + drain + a bound");
    assert!(exited.success(), "{exited:?}");
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "new connections are refused"
    );
}

#[test]
fn no_cross_site_reads_unless_the_origin_is_allowed() {
    let alice = token(ALICE);
    let cross_site = |port: u16, origin: &str| {
        raw(
            port,
            format!(
                "GET /sessions/active HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\nCookie: ss-tok={alice}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
    };
    let (_server, port) = start(&[]);
    let (status, head, _) = cross_site(port, "https://evil.example");
    assert_eq!(status, 200, "the browser, not the server, enforces CORS");
    assert!(!head.contains("access-control-allow-origin"), "{head}");

    let (_server, port) = start(&["--cors-origin", "https://dash.example"]);
    let (_, head, _) = cross_site(port, "https://evil.example");
    assert!(!head.contains("access-control-allow-origin"), "{head}");
    let (_, head, _) = cross_site(port, "https://dash.example");
    assert!(
        head.contains("access-control-allow-origin: https://dash.example"),
        "{head}"
    );
    assert!(
        head.contains("access-control-allow-credentials: true"),
        "{head}"
    );
    let (status, head, _) = raw(
        port,
        b"OPTIONS /sessions/active HTTP/1.1\r\nHost: x\r\nOrigin: https://dash.example\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: authorization\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("access-control-allow-headers"), "{head}");
}

#[test]
fn a_wildcard_origin_is_refused_at_start() {
    let (ok, _, stderr) = common::run_sessiond(&[
        "serve",
        "--events",
        &demo(),
        "--jwt-secret",
        SECRET,
        "--cors-origin",
        "*",
    ]);
    assert!(!ok);
    assert!(stderr.contains("is not an origin"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn eight_streams_share_one_http2_cleartext_connection() {
    use http_body_util::BodyExt as _;
    let (_server, port) = start(&[]);
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let (sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .expect("an HTTP/2 (prior knowledge) handshake");
    tokio::spawn(connection);
    let alice = token(ALICE);
    let mut tabs = Vec::new();
    for _ in 0..8 {
        let request =
            hyper::Request::get(format!("http://127.0.0.1:{port}/sessions/active/stream"))
                .header("authorization", format!("Bearer {alice}"))
                .body(http_body_util::Empty::<axum::body::Bytes>::new())
                .unwrap();
        let mut sender = sender.clone();
        tabs.push(tokio::spawn(async move {
            let response = sender.send_request(request).await.expect("a response");
            assert_eq!(response.status(), 200);
            assert_eq!(response.version(), hyper::Version::HTTP_2);
            let mut body = response.into_body();
            let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
                .await
                .expect("a first event")
                .expect("a frame")
                .expect("data");
            let text = String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap();
            assert!(text.contains("event: snapshot"), "{text}");
            body
        }));
    }
    let mut open = Vec::new();
    for tab in tabs {
        open.push(tab.await.unwrap());
    }
    assert_eq!(open.len(), 8, "every tab is live on one connection");
}

/// A client whose HTTP/2 preface arrives in two pieces is still served HTTP/2 (the edge
/// tells a connection's protocol from its first bytes, and leaves a partial preface to
/// hyper-util's detection).
#[tokio::test(flavor = "multi_thread")]
async fn an_http2_preface_in_two_pieces_is_still_http2() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let (_server, port) = start(&[]);
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    tcp.set_nodelay(true).unwrap();
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    tcp.write_all(&preface[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    tcp.write_all(&preface[10..]).await.unwrap();
    // An empty SETTINGS frame: length 0, type 4, no flags, stream 0.
    tcp.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
    let mut head = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(5), tcp.read_exact(&mut head))
        .await
        .expect("an answer")
        .expect("nine bytes");
    assert_eq!(
        head[3],
        4,
        "the server's first frame is its SETTINGS, not an HTTP/1.1 answer: {:?}",
        String::from_utf8_lossy(&head)
    );
}

/// `--http-threads N` serves connections on N threads of their own, and every one of them
/// answers: connections are handed to each in turn.
#[test]
fn http_threads_serve_connections_each_on_a_thread_of_their_own() {
    let (server, port) = start(&["--http-threads", "3"]);
    let pid = server.0.id();
    let threads = || -> Vec<String> {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .map(|name| name.trim().to_owned())
            .filter(|name| name.starts_with("sessiond-http-"))
            .collect()
    };
    let mut names = threads();
    names.sort();
    assert_eq!(
        names,
        ["sessiond-http-0", "sessiond-http-1", "sessiond-http-2"],
        "one thread per --http-threads"
    );
    let alice = token(ALICE);
    for _ in 0..6 {
        let (status, body) = http_get(port, "/sessions/active", Some(&alice));
        assert_eq!(status, 200, "{body}");
    }
    let (ok, _, stderr) = common::run_sessiond(&["serve", "--http-threads", "0"]);
    assert!(!ok && stderr.contains("--http-threads"), "{stderr}");
}
