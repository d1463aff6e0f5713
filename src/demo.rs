//! The embedded default: `sessiond` with no arguments runs librdkafka's in-process mock
//! cluster, the traffic simulator into it, and the service over it, and prints how to ask
//! for a simulated user's live sessions. Nothing to install, nothing to configure.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;
use rdkafka::error::KafkaError;
use rdkafka::mocking::MockCluster;
use tokio::net::TcpListener;

use crate::api::auth::{AuthConfigError, AuthSettings, Authenticator, TokenRequest, mint_token};
use crate::ingest::kafka::consumer::IngestConfig;
use crate::kafka::KafkaSettings;
use crate::kafka::produce::{self, Topics};
use crate::projection::FoldConfig;
use crate::server::{Handles, ServeConfig, ServeError, Source, serve_with};
use crate::simulate::live::produce_live;
use crate::simulate::{SimConfig, Simulator};
use crate::time::EventTime;

/// How the demo runs.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Where the API listens.
    pub http: SocketAddr,
    /// Simulated events per second.
    pub rate: f64,
    /// Simulated traffic produced at once before the live run, so there are live sessions
    /// from the first second.
    pub warmup: Duration,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            http: SocketAddr::from(([0, 0, 0, 0], 8080)),
            rate: 20.0,
            warmup: Duration::from_secs(120),
        }
    }
}

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The mock cluster or a client failed.
    #[error("embedded Kafka: {0}")]
    Kafka(#[from] KafkaError),
    /// The service failed.
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// The generated signing key was refused (cannot happen with a non-empty secret).
    #[error(transparent)]
    Auth(#[from] AuthConfigError),
    /// The HTTP address could not be bound.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

const CALLS: &str = "voice.calls";
const MEMBERS: &str = "voice.members";
const PARTITIONS: i32 = 3;

/// Runs the demo until Ctrl-C.
pub async fn run(config: DemoConfig) -> Result<(), DemoError> {
    let cluster = MockCluster::new(1)?;
    for topic in [CALLS, MEMBERS] {
        cluster.create_topic(topic, PARTITIONS, 1)?;
        cluster.create_topic(&format!("{topic}.dlq"), 1, 1)?;
    }
    let settings = KafkaSettings {
        brokers: cluster.bootstrap_servers(),
        options: Vec::new(),
    };
    let topics = Topics {
        calls: CALLS.to_owned(),
        members: MEMBERS.to_owned(),
    };

    // The simulated clock starts `warmup` ago, so the first part goes out at once.
    let now = wall_clock();
    let sim_start = EventTime(now.0.saturating_sub(config.warmup.as_nanos() as i64));
    let mut simulator = Simulator::new(SimConfig {
        seed: rand::rng().random(),
        rate: config.rate,
        start: sim_start,
        // Enough agents that each has a plausible two or three sessions at a time.
        users: 40,
        ..SimConfig::default()
    })
    .peekable();
    let producer = produce::producer(&settings)?;
    produce_live(
        &producer,
        &topics,
        &mut simulator,
        sim_start,
        config.warmup,
        Some(now),
    )
    .await?;
    let live_topics = topics.clone();
    tokio::spawn(async move {
        if let Err(error) = produce_live(
            &producer,
            &live_topics,
            &mut simulator,
            sim_start,
            config.warmup,
            None,
        )
        .await
        {
            tracing::error!(%error, "the traffic simulator stopped");
        }
    });

    let secret = random_secret();
    let auth = Authenticator::new(&AuthSettings {
        secrets: vec![secret.clone()],
        ..AuthSettings::default()
    })?;
    let listener = TcpListener::bind(config.http)
        .await
        .map_err(|source| DemoError::Listen {
            addr: config.http,
            source,
        })?;
    let handles = Handles::default();
    let serve_config = ServeConfig {
        source: Source::Kafka(IngestConfig {
            kafka: settings.clone(),
            topics: vec![topics.calls.clone(), topics.members.clone()],
            dead_letter_suffix: Some(".dlq".to_owned()),
            max_lag: 10_000,
            stale_after: Duration::from_secs(30),
            metadata_refresh: Duration::from_secs(10),
        }),
        auth,
        fold: FoldConfig::default(),
        history_depth: crate::server::DEFAULT_HISTORY_DEPTH,
        snapshots: None,
        changes_topic: None,
        edge: crate::edge::EdgeConfig::default(),
        limits: crate::api::limits::LimitsConfig::default(),
    };
    let service = tokio::spawn(serve_with(listener, serve_config, handles.clone()));

    while !handles.readiness.is_loaded() {
        if service.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if handles.readiness.is_loaded() {
        print_banner(&settings.brokers, config.http, &secret, &handles);
    }
    let served = service.await;
    drop(cluster);
    match served {
        Ok(result) => Ok(result?),
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    }
}

fn print_banner(brokers: &str, http: SocketAddr, secret: &str, handles: &Handles) {
    let port = http.port();
    let base = format!("http://localhost:{port}");
    let mut by_user: BTreeMap<String, usize> = BTreeMap::new();
    for session in handles.projection.all() {
        for owner in session.owners() {
            *by_user.entry(owner.to_owned()).or_default() += 1;
        }
    }
    let busiest = by_user
        .iter()
        .filter(|(user, _)| user.starts_with("U-"))
        .max_by_key(|(user, n)| (**n, std::cmp::Reverse((*user).clone())));
    println!();
    println!("sessiond demo: simulated contact-center traffic through an embedded Kafka");
    println!("  embedded Kafka (librdkafka mock cluster): {brokers}  (topics {CALLS}, {MEMBERS})");
    println!("  API:  {base}/sessions/active   (health: {base}/healthz, readiness: {base}/readyz)");
    println!("  JWT secret (HS256) for this run: {secret}");
    if let Some((user, count)) = busiest {
        let token = mint_token(&TokenRequest {
            secret: secret.to_owned(),
            sub: user.clone(),
            // Manager too, so the demo's user can open /sessions/{id}/history.
            roles: vec!["User".to_owned(), "Manager".to_owned()],
            ttl: Duration::from_secs(12 * 3600),
            issuer: None,
            audience: None,
        })
        .unwrap_or_default();
        println!("  {user} has {count} live sessions right now. Their token (12 h):");
        println!("    {token}");
        println!("  Watch them live in a browser (the link carries the token):");
        println!("    {base}/#token={token}");
        println!("  Try:");
        println!("    curl -s -H 'Authorization: Bearer {token}' {base}/sessions/active");
        println!("    curl -sN -H 'Authorization: Bearer {token}' {base}/sessions/active/stream");
    }
    println!(
        "  Other users: `sessiond token --secret {secret} --sub USER`; users are U-<account>-<n>."
    );
    println!();
}

fn wall_clock() -> EventTime {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    EventTime(i64::try_from(nanos).unwrap_or(i64::MAX))
}

fn random_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
