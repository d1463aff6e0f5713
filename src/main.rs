//! The `sessiond` command line: parses arguments and calls the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use sessiond::api::auth::{AuthSettings, Authenticator, TokenRequest, mint_token};
use sessiond::api::keys::{Jwks, JwksSettings, JwksSource};
use sessiond::api::limits::LimitsConfig;
use sessiond::demo::{self, DemoConfig};
use sessiond::edge::EdgeConfig;
use sessiond::ingest::kafka::consumer::IngestConfig;
use sessiond::ingest::kafka::dump::{DumpRange, dump};
use sessiond::kafka::produce::{Topics, produce_lines, producer};
use sessiond::kafka::{KafkaSettings, parse_option};
use sessiond::projection::FoldConfig;
use sessiond::server::{ServeConfig, Source, serve};
use sessiond::simulate::live::produce_live;
use sessiond::simulate::{SimConfig, Simulator};
use sessiond::snapshot::SnapshotSettings;
use sessiond::time::EventTime;

/// A live, in-memory projection of active telephony sessions, served as Evo Voice's
/// GetActiveSessions API.
// The fold allocates and frees many small strings; mimalloc does that faster than glibc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "sessiond", version, about)]
///
/// With no command, runs a self-contained demo: an embedded Kafka, simulated traffic, and
/// the service over it, printing a token and a curl line for a user with live sessions.
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// Log lines as plain text, or as JSON objects one per line (for a cluster's log
    /// pipeline: level, target, message and fields as keys).
    #[arg(long, global = true, env = "SESSIOND_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// How log lines are written to standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fold events and serve GET /sessions/active.
    Serve(Box<ServeArgs>),
    /// Print an HS256 JWT for demos and tests.
    Token(TokenArgs),
    /// Produce an event-log file to the topics, each event to its topic by kind.
    Produce(ProduceArgs),
    /// Write the topics' events to standard output as an event-log file.
    Dump(DumpArgs),
    /// Produce realistic simulated traffic to the topics.
    Simulate(SimulateArgs),
    /// Fold the events up to a cutoff and print what the projection held then.
    Replay(Box<ReplayArgs>),
}

#[derive(Debug, Args)]
struct ReplayArgs {
    /// Event-log file to replay (`-` for standard input).
    #[arg(long, value_name = "FILE.jsonl", conflicts_with = "brokers")]
    events: Option<PathBuf>,

    #[command(flatten)]
    kafka: KafkaArgs,

    /// Fold only events that occurred at or before this RFC 3339 time.
    #[arg(long, value_parser = parse_time, conflicts_with = "until_offsets")]
    until: Option<EventTime>,

    /// With --until from brokers: read each partition only up to its first record stamped
    /// later than --until plus this (found by the broker's timestamp index), trusting that
    /// no event reaches the log later than this after it occurred; `none` reads to the
    /// end.
    #[arg(long, value_name = "DURATION|none", default_value = "10m", value_parser = parse_lateness, requires = "until")]
    until_lateness: Lateness,

    /// Read each named partition up to (not including) OFFSET; the others to the end
    /// offsets seen at start.
    #[arg(long, value_delimiter = ',', value_name = "TOPIC:PARTITION:OFFSET", value_parser = parse_topic_offset)]
    until_offsets: Vec<(String, i32, i64)>,

    /// Print only this session (and trace only its events).
    #[arg(long, conflicts_with = "user")]
    session: Option<String>,

    /// Print this user's GetActiveSessions response, exactly as the API would.
    #[arg(long)]
    user: Option<String>,

    /// Print every event in order with its position, kind and effect, or why it was
    /// not applied.
    #[arg(long)]
    trace: bool,

    /// Output format.
    #[arg(long, value_parser = ["json", "xml"], default_value = "json")]
    format: String,

    /// Print the projection's digest (alone, on the last line) instead of the sessions.
    #[arg(long)]
    digest: bool,

    #[command(flatten)]
    fold: FoldArgs,
}

/// `--until-lateness`: a duration, or `none` for no bound.
#[derive(Debug, Clone, Copy)]
struct Lateness(Option<std::time::Duration>);

fn parse_lateness(s: &str) -> Result<Lateness, String> {
    if s == "none" {
        return Ok(Lateness(None));
    }
    humantime::parse_duration(s)
        .map(|d| Lateness(Some(d)))
        .map_err(|e| format!("expected a duration such as 10m, or none: {e}"))
}

fn parse_topic_offset(s: &str) -> Result<(String, i32, i64), String> {
    let bad = || format!("expected TOPIC:PARTITION:OFFSET, got {s:?}");
    let (rest, offset) = s.rsplit_once(':').ok_or_else(bad)?;
    let (topic, partition) = rest.rsplit_once(':').ok_or_else(bad)?;
    if topic.is_empty() {
        return Err(bad());
    }
    Ok((
        topic.to_owned(),
        partition.parse().map_err(|_| bad())?,
        offset.parse().map_err(|_| bad())?,
    ))
}

#[derive(Debug, Args)]
struct SimulateArgs {
    /// Simulated events per second.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,

    /// Stop after this much simulated time; default: run until stopped.
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,

    /// Accounts (companies) to simulate.
    #[arg(long, default_value_t = 3)]
    accounts: usize,

    /// Agents (users), spread over the accounts.
    #[arg(long, default_value_t = 12)]
    users: usize,

    /// Random seed: the same seed and start give the same events.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// Simulated clock start (RFC 3339); default: now.
    #[arg(long, value_parser = parse_time)]
    start: Option<EventTime>,

    #[command(flatten)]
    kafka: KafkaArgs,
}

fn parse_time(s: &str) -> Result<EventTime, String> {
    EventTime::parse_rfc3339(s).ok_or_else(|| format!("expected an RFC 3339 time, got {s:?}"))
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Event-log file to fold (one proto3-JSON SessionEvent per line).
    #[arg(
        long,
        env = "SESSIOND_EVENTS",
        value_name = "FILE.jsonl",
        conflicts_with = "brokers"
    )]
    events: Option<PathBuf>,

    #[command(flatten)]
    kafka: KafkaArgs,

    #[command(flatten)]
    ingest: IngestArgs,

    /// Address the HTTP API listens on.
    #[arg(
        long,
        env = "SESSIOND_HTTP",
        default_value = "0.0.0.0:8080",
        value_name = "ADDR"
    )]
    http: SocketAddr,

    #[command(flatten)]
    jwt: JwtArgs,

    #[command(flatten)]
    edge: EdgeArgs,

    #[command(flatten)]
    fold: FoldArgs,

    /// Applied events kept per active session for GET /sessions/{id}/history (0: none).
    #[arg(long, env = "SESSIOND_HISTORY_DEPTH", default_value_t = sessiond::server::DEFAULT_HISTORY_DEPTH)]
    history_depth: usize,

    /// Write checkpoints (fold state + every partition's position) here, and start from
    /// the newest valid one (Kafka source only).
    #[arg(long, env = "SESSIOND_SNAPSHOT_DIR", value_name = "DIR")]
    snapshot_dir: Option<PathBuf>,

    /// Produce every change to an active session to this (compacted) topic, keyed by
    /// session id: a SessionInfo protobuf, or a tombstone when it ends.
    #[arg(long, env = "SESSIOND_CHANGES_TOPIC", value_name = "TOPIC")]
    changes_topic: Option<String>,

    /// Also keep checkpoints in this compacted Kafka topic (created when missing), and start
    /// from its newest complete one when there is no usable snapshot on disk: a replica with
    /// an empty disk is ready without folding the topics' whole history.
    #[arg(long, env = "SESSIOND_CHECKPOINT_TOPIC", value_name = "TOPIC")]
    checkpoint_topic: Option<String>,

    /// How often to write a checkpoint (one is also written on shutdown).
    #[arg(long, env = "SESSIOND_SNAPSHOT_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    snapshot_interval: Duration,
}

#[derive(Debug, Args)]
struct KafkaArgs {
    /// Kafka bootstrap servers to consume from.
    #[arg(long, env = "SESSIOND_BROKERS", value_name = "HOST:PORT[,…]")]
    brokers: Option<String>,

    /// Topics to read: the call topic, then the member topic.
    #[arg(
        long,
        env = "SESSIOND_TOPICS",
        value_delimiter = ',',
        default_value = "voice.calls,voice.members"
    )]
    topics: Vec<String>,

    /// Extra librdkafka client property (security.protocol, sasl.*, …); repeatable.
    #[arg(long = "kafka-option", env = "SESSIOND_KAFKA_OPTIONS", value_delimiter = ';', value_name = "KEY=VALUE", value_parser = parse_option)]
    options: Vec<(String, String)>,
}

impl KafkaArgs {
    fn settings(&self, brokers: String) -> KafkaSettings {
        KafkaSettings {
            brokers,
            options: self.options.clone(),
        }
    }

    fn call_and_member_topics(&self) -> anyhow::Result<Topics> {
        let [calls, members] = self.topics.as_slice() else {
            anyhow::bail!("--topics takes two topics: the call topic, then the member topic");
        };
        Ok(Topics {
            calls: calls.clone(),
            members: members.clone(),
        })
    }

    fn required_settings(&self) -> anyhow::Result<KafkaSettings> {
        let brokers = self
            .brokers
            .clone()
            .context("--brokers HOST:PORT is required")?;
        Ok(self.settings(brokers))
    }
}

#[derive(Debug, Args)]
struct IngestArgs {
    /// Once caught up, more unread records than this makes /readyz report stale.
    #[arg(long, env = "SESSIOND_MAX_LAG", default_value_t = 10_000)]
    max_lag: u64,

    /// Once caught up, this long without a broker makes /readyz report stale.
    #[arg(long, env = "SESSIOND_STALE_AFTER", default_value = "30s", value_parser = humantime::parse_duration)]
    stale_after: Duration,

    /// Bad records go to `<topic><suffix>`.
    #[arg(long, env = "SESSIOND_DLQ_SUFFIX", default_value = ".dlq")]
    dlq_suffix: String,

    /// Do not dead-letter bad records (they are still counted and logged).
    #[arg(long, env = "SESSIOND_NO_DLQ")]
    no_dlq: bool,

    /// How often to look for partitions added to the topics.
    #[arg(long, env = "SESSIOND_METADATA_REFRESH", default_value = "10s", value_parser = humantime::parse_duration)]
    metadata_refresh: Duration,
}

#[derive(Debug, Args)]
struct ProduceArgs {
    /// The event-log file (`-` for standard input).
    #[arg(value_name = "FILE.jsonl")]
    file: PathBuf,

    #[command(flatten)]
    kafka: KafkaArgs,
}

#[derive(Debug, Args)]
struct DumpArgs {
    /// Records from here: `beginning`, or an RFC 3339 time (by record timestamp).
    #[arg(long, default_value = "beginning", value_parser = parse_from)]
    from: From,

    /// Records up to this RFC 3339 time (by record timestamp); default: up to the end
    /// offsets seen at start.
    #[arg(long, value_parser = parse_millis)]
    until: Option<i64>,

    #[command(flatten)]
    kafka: KafkaArgs,
}

fn parse_millis(s: &str) -> Result<i64, String> {
    EventTime::parse_rfc3339(s)
        .map(|t| t.0.div_euclid(1_000_000))
        .ok_or_else(|| format!("expected an RFC 3339 time such as 2026-11-24T10:42:00Z, got {s:?}"))
}

/// Where `dump` starts: the beginning, or a record timestamp in milliseconds.
#[derive(Debug, Clone, Copy)]
struct From(Option<i64>);

fn parse_from(s: &str) -> Result<From, String> {
    if s == "beginning" {
        Ok(From(None))
    } else {
        parse_millis(s).map(|ms| From(Some(ms)))
    }
}

#[derive(Debug, Args)]
struct JwtArgs {
    /// Shared secret that verifies HS256 tokens; repeatable (or comma-separated in the
    /// variable), any of them verifies, so a secret rotates without downtime.
    #[arg(
        long,
        env = "SESSIOND_JWT_SECRET",
        hide_env_values = true,
        value_name = "SECRET",
        value_delimiter = ','
    )]
    jwt_secret: Vec<String>,

    /// PEM file with a public key that verifies RS256 (RSA) or ES256 (EC P-256) tokens;
    /// repeatable (or comma-separated in the variable), any of them verifies.
    #[arg(
        long,
        env = "SESSIOND_JWT_PUBLIC_KEY",
        value_name = "FILE.pem",
        value_delimiter = ','
    )]
    jwt_public_key: Vec<PathBuf>,

    /// A JSON Web Key Set (a file, or an http(s) URL) whose keys verify tokens by `kid`.
    #[arg(long, env = "SESSIOND_JWT_JWKS", value_name = "FILE|URL")]
    jwt_jwks: Option<JwksSource>,

    /// How often the JWKS is fetched again.
    #[arg(long, env = "SESSIOND_JWT_JWKS_REFRESH", default_value = "5m", value_parser = humantime::parse_duration)]
    jwt_jwks_refresh: Duration,

    /// A token whose `kid` the JWKS lacks fetches it again, at most once per this.
    #[arg(long, env = "SESSIOND_JWT_JWKS_COOLDOWN", default_value = "30s", value_parser = humantime::parse_duration)]
    jwt_jwks_cooldown: Duration,

    /// Required token issuer (`iss`), when set.
    #[arg(long, env = "SESSIOND_JWT_ISSUER")]
    jwt_issuer: Option<String>,

    /// Required token audience (`aud`), when set.
    #[arg(long, env = "SESSIOND_JWT_AUDIENCE")]
    jwt_audience: Option<String>,
}

#[derive(Debug, Args)]
struct FoldArgs {
    /// How long (event time) an ended session is remembered so late events cannot revive it.
    #[arg(long, env = "SESSIOND_TOMBSTONE_RETENTION", default_value = "10m", value_parser = humantime::parse_duration)]
    tombstone_retention: Duration,

    /// Evict a session with no event for this long (event time): its end was lost.
    #[arg(long, env = "SESSIOND_MAX_IDLE", default_value = "12h", value_parser = humantime::parse_duration)]
    max_idle: Duration,

    /// Drop events of a session that has not started within this long (event time).
    #[arg(long, env = "SESSIOND_ORPHAN_TTL", default_value = "1h", value_parser = humantime::parse_duration)]
    orphan_ttl: Duration,
}

/// Connection hygiene, per-user limits, allowed origins and shutdown.
#[derive(Debug, Args)]
struct EdgeArgs {
    /// A connection must send a whole request header within this.
    #[arg(long, env = "SESSIOND_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    header_read_timeout: Duration,

    /// A connection with no request in flight for this long is closed.
    #[arg(long, env = "SESSIOND_IDLE_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    idle_timeout: Duration,

    /// Open connections beyond this are refused with a 503 (lowered to fit the
    /// descriptor limit, less 500).
    #[arg(long, env = "SESSIOND_MAX_CONNECTIONS", default_value_t = sessiond::edge::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,

    /// The largest request header section, in bytes (at least 8192 for HTTP/1.1).
    #[arg(long, env = "SESSIOND_MAX_HEADER_BYTES", default_value_t = 16 * 1024)]
    max_header_bytes: usize,

    /// The largest request body, in bytes (larger: 413).
    #[arg(long, env = "SESSIOND_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    max_body_bytes: usize,

    /// Requests per minute per user (a token bucket; over it: 429 with Retry-After); 0: no limit.
    #[arg(long, env = "SESSIOND_RATE_LIMIT", default_value_t = sessiond::api::limits::DEFAULT_RATE_LIMIT)]
    rate_limit: u32,

    /// Requests a user may make at once before --rate-limit applies.
    #[arg(long, env = "SESSIOND_RATE_BURST", default_value_t = sessiond::api::limits::DEFAULT_RATE_BURST)]
    rate_burst: u32,

    /// Live streams per user; a new one beyond it closes the user's oldest.
    #[arg(long, env = "SESSIOND_MAX_STREAMS_PER_USER", default_value_t = sessiond::api::limits::DEFAULT_MAX_STREAMS_PER_USER)]
    max_streams_per_user: usize,

    /// An origin (https://host[:port]) whose pages may read the API with the user's
    /// credentials (CORS); repeatable. None by default: no cross-origin reads.
    #[arg(long = "cors-origin", env = "SESSIOND_CORS_ORIGINS", value_delimiter = ',', value_name = "ORIGIN", value_parser = parse_origin)]
    cors_origins: Vec<axum::http::HeaderValue>,

    /// On SIGTERM, /readyz answers 503 at once and requests are still served for this long.
    #[arg(long, env = "SESSIOND_SHUTDOWN_GRACE", default_value = "5s", value_parser = humantime::parse_duration)]
    shutdown_grace: Duration,

    /// After the grace period, in-flight requests get this long before their connections close.
    #[arg(long, env = "SESSIOND_DRAIN_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    drain_timeout: Duration,

    /// Threads serving HTTP connections, each with its own event loop (default: one per
    /// core). A connection stays on one thread.
    #[arg(long, env = "SESSIOND_HTTP_THREADS", value_parser = clap::value_parser!(u16).range(1..))]
    http_threads: Option<u16>,

    /// Serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) with this PEM certificate chain; read
    /// again when it changes.
    #[arg(
        long,
        env = "SESSIOND_TLS_CERT",
        value_name = "FILE.pem",
        requires = "tls_key"
    )]
    tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(
        long,
        env = "SESSIOND_TLS_KEY",
        value_name = "FILE.pem",
        requires = "tls_cert"
    )]
    tls_key: Option<PathBuf>,
}

fn parse_origin(s: &str) -> Result<axum::http::HeaderValue, String> {
    sessiond::edge::cors::parse_origin(s).map_err(|e| e.to_string())
}

impl EdgeArgs {
    fn config(&self) -> (EdgeConfig, LimitsConfig) {
        (
            EdgeConfig {
                header_read_timeout: self.header_read_timeout,
                idle_timeout: self.idle_timeout,
                max_connections: self.max_connections,
                max_header_bytes: self.max_header_bytes,
                max_body_bytes: self.max_body_bytes,
                cors_origins: self.cors_origins.clone(),
                shutdown_grace: self.shutdown_grace,
                drain_timeout: self.drain_timeout,
                threads: self
                    .http_threads
                    .map_or_else(|| EdgeConfig::default().threads, usize::from),
                tls: self
                    .tls_cert
                    .clone()
                    .zip(self.tls_key.clone())
                    .map(|(cert, key)| sessiond::edge::tls::TlsFiles { cert, key }),
            },
            LimitsConfig {
                rate_per_minute: self.rate_limit,
                burst: self.rate_burst,
                max_streams_per_user: self.max_streams_per_user,
            },
        )
    }
}

#[derive(Debug, Args)]
struct TokenArgs {
    /// HS256 secret to sign with (the server's --jwt-secret; of several, the first).
    #[arg(
        long,
        env = "SESSIOND_JWT_SECRET",
        hide_env_values = true,
        value_delimiter = ',',
        required = true
    )]
    secret: Vec<String>,

    /// The user id (`sub`), which is the user's endpoint id.
    #[arg(long)]
    sub: String,

    /// Roles, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "User")]
    roles: Vec<String>,

    /// Lifetime of the token.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    ttl: Duration,

    /// Issuer (`iss`) to put in the token.
    #[arg(long)]
    issuer: Option<String>,

    /// Audience (`aud`) to put in the token.
    #[arg(long)]
    audience: Option<String>,
}

fn main() -> ExitCode {
    disable_transparent_huge_pages();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole chain on one line, with no backtrace for a user error.
            eprintln!("sessiond: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Keeps the kernel from backing this process's memory with 2 MiB pages. mimalloc asks for
/// them, and where the kernel grants them (`madvise` mode), every connection's buffers and
/// state, touched only a few KiB at a time, end up resident a huge page at a time: 2,000
/// idle streams cost 37.7 KiB of RSS each with them and 24.3 KiB without (the same as
/// `MIMALLOC_ALLOW_THP=0`, which does this too, but only when set in the environment).
fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE only sets a flag of this process; it reads no memory.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

fn init_logging(format: LogFormat) {
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr);
    match format {
        // Colours on a terminal only: a log file or journal gets plain text.
        LogFormat::Text => subscriber
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        // Fields at the top level, next to `message`, as log pipelines index them.
        LogFormat::Json => subscriber
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        None => {
            let mut config = DemoConfig::default();
            if let Ok(http) = std::env::var("SESSIOND_HTTP") {
                config.http = http.parse().context("SESSIOND_HTTP")?;
            }
            tokio::runtime::Runtime::new()?.block_on(demo::run(config))?;
            Ok(())
        }
        Some(Command::Simulate(args)) => run_simulate(args),
        Some(Command::Serve(args)) => run_serve(*args),
        Some(Command::Produce(args)) => run_produce(args),
        Some(Command::Replay(args)) => run_replay(*args),
        Some(Command::Dump(args)) => {
            let settings = args.kafka.required_settings()?;
            let range = DumpRange {
                from_millis: args.from.0,
                until_millis: args.until,
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let report = dump(&settings, &args.kafka.topics, &range, &mut out)?;
            eprintln!(
                "dumped {} events ({} undecodable records left out)",
                report.written, report.undecodable
            );
            Ok(())
        }
        Some(Command::Token(args)) => {
            let token = mint_token(&TokenRequest {
                secret: args.secret.into_iter().next().unwrap_or_default(),
                sub: args.sub,
                roles: args.roles,
                ttl: args.ttl,
                issuer: args.issuer,
                audience: args.audience,
            })?;
            println!("{token}");
            Ok(())
        }
    }
}

fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let public_keys_pem = args
        .jwt
        .jwt_public_key
        .iter()
        .map(|path| std::fs::read(path).with_context(|| format!("reading {}", path.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let jwks = match args.jwt.jwt_jwks {
        Some(source) => Some(runtime.block_on(Jwks::load(JwksSettings {
            source,
            refresh: args.jwt.jwt_jwks_refresh,
            cooldown: args.jwt.jwt_jwks_cooldown,
        }))?),
        None => None,
    };
    let auth = Authenticator::new(&AuthSettings {
        secrets: args.jwt.jwt_secret,
        public_keys_pem,
        jwks,
        issuer: args.jwt.jwt_issuer,
        audience: args.jwt.jwt_audience,
    })?;
    let (edge, limits) = args.edge.config();
    let source = match (args.events, args.kafka.brokers.clone()) {
        (Some(path), _) => Source::EventLog(path),
        (None, Some(brokers)) => Source::Kafka(IngestConfig {
            kafka: args.kafka.settings(brokers),
            topics: args.kafka.topics.clone(),
            dead_letter_suffix: (!args.ingest.no_dlq).then_some(args.ingest.dlq_suffix),
            max_lag: args.ingest.max_lag,
            stale_after: args.ingest.stale_after,
            metadata_refresh: args.ingest.metadata_refresh,
        }),
        (None, None) => anyhow::bail!("give --events FILE.jsonl or --brokers HOST:PORT"),
    };
    let config = ServeConfig {
        source,
        auth,
        fold: args.fold.config(),
        history_depth: args.history_depth,
        snapshots: (args.snapshot_dir.is_some() || args.checkpoint_topic.is_some()).then_some(
            SnapshotSettings {
                dir: args.snapshot_dir,
                topic: args.checkpoint_topic,
                interval: args.snapshot_interval,
            },
        ),
        changes_topic: args.changes_topic,
        edge,
        limits,
    };
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.http)
            .await
            .with_context(|| format!("listening on {}", args.http))?;
        tracing::info!(addr = %listener.local_addr()?, "serving GET /sessions/active");
        serve(listener, config).await?;
        Ok(())
    })
}

impl FoldArgs {
    fn config(&self) -> FoldConfig {
        FoldConfig {
            tombstone_retention: self.tombstone_retention,
            max_idle: self.max_idle,
            orphan_ttl: self.orphan_ttl,
        }
    }
}

fn run_replay(args: ReplayArgs) -> anyhow::Result<()> {
    use sessiond::contract::Format;
    use sessiond::replay::{Cutoff, ReplayOptions, ReplaySource, Selection};
    use std::io::Write;

    let source = match (args.events, args.kafka.brokers.clone()) {
        (Some(path), _) => ReplaySource::EventLog(path),
        (None, Some(brokers)) => ReplaySource::Kafka {
            settings: args.kafka.settings(brokers),
            topics: args.kafka.topics.clone(),
        },
        (None, None) => anyhow::bail!("give --events FILE.jsonl or --brokers HOST:PORT"),
    };
    let cutoff = match (args.until, args.until_offsets.is_empty()) {
        (Some(until), _) => Cutoff::Time {
            until,
            lateness: args.until_lateness.0,
        },
        (None, false) => Cutoff::Offsets(
            args.until_offsets
                .into_iter()
                .map(|(topic, partition, offset)| ((topic, partition), offset))
                .collect(),
        ),
        (None, true) => Cutoff::End,
    };
    let selection = match (args.session, args.user) {
        (Some(id), _) => Selection::Session(id),
        (None, Some(user)) => Selection::User(user),
        (None, None) => Selection::All,
    };
    let format = if args.format == "xml" {
        Format::Xml
    } else {
        Format::Json
    };
    let options = ReplayOptions {
        source,
        cutoff,
        selection,
        trace: args.trace,
        format,
        digest: args.digest,
        fold: args.fold.config(),
    };
    let (projection, fold, summary) = sessiond::replay::fold(
        &options,
        Box::new(std::io::BufWriter::new(std::io::stdout())),
    )?;
    // The fold's own counts: they include events applied after waiting for their start,
    // and are what `/admin/state` reports, so the two compare directly.
    let stats = fold.stats();
    let skipped: std::collections::BTreeMap<&str, u64> = stats
        .skipped
        .iter()
        .map(|(reason, n)| (reason.code(), *n))
        .collect();
    eprintln!(
        "replayed {} records: {} applied, skipped {skipped:?}, bad {:?}, {} of unknown kinds, {} after --until; {} active, {} pending; watermark {}",
        summary.counts.records,
        stats.applied().values().sum::<u64>(),
        summary.counts.bad,
        summary.counts.unknown_kinds,
        summary.counts.after_cutoff,
        summary.active_sessions,
        summary.pending_sessions,
        summary
            .watermark
            .map_or_else(|| "none".to_owned(), |w| w.to_api_string()),
    );
    if let Some(note) = time_lookup_note(&options.cutoff, &summary) {
        eprintln!("{note}");
    }
    let mut stdout = std::io::stdout().lock();
    if options.digest {
        writeln!(stdout, "{}", sessiond::digest::digest(&projection))?;
    } else {
        let body = sessiond::replay::render(&projection, &fold, &options.selection, format)?;
        stdout.write_all(&body)?;
        writeln!(stdout)?;
    }
    stdout.flush()?;
    Ok(())
}

/// What a person needs to know about how a time cutoff bounded a read from brokers.
fn time_lookup_note(
    cutoff: &sessiond::replay::Cutoff,
    summary: &sessiond::replay::ReplaySummary,
) -> Option<String> {
    use sessiond::ingest::kafka::bounded::TimeLookup;
    use sessiond::replay::Cutoff;
    let Cutoff::Time {
        lateness: Some(lateness),
        ..
    } = cutoff
    else {
        return None;
    };
    let lateness_text = humantime::format_duration(*lateness);
    match summary.time_lookup.as_ref()? {
        TimeLookup::NotAsked => None,
        TimeLookup::Unavailable(why) => Some(format!(
            "the brokers could not look up timestamps ({why}): read every partition to its end"
        )),
        TimeLookup::Found { extended } => {
            let mut note = format!(
                "read each partition up to its first record stamped later than --until + {lateness_text} (--until-lateness)"
            );
            if !extended.is_empty() {
                let names: Vec<String> = extended
                    .iter()
                    .map(|p| format!("{}:{}", p.topic, p.partition))
                    .collect();
                note.push_str(&format!(
                    ", except {}: read to the end, because the first record past that point occurred before --until (record timestamps there do not follow event times)",
                    names.join(", ")
                ));
            }
            if let Some(delay) = summary.max_delay.filter(|d| d > lateness) {
                note.push_str(&format!(
                    "; warning: an event reached the log {} after it occurred, more than --until-lateness: events that late past the end read are missing, so rerun with a larger --until-lateness or with none",
                    humantime::format_duration(std::time::Duration::from_millis(delay.as_millis() as u64))
                ));
            }
            Some(note)
        }
    }
}

fn run_produce(args: ProduceArgs) -> anyhow::Result<()> {
    let topics = args.kafka.call_and_member_topics()?;
    let reader: Box<dyn std::io::BufRead> = if args.file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(&args.file)
            .with_context(|| format!("opening {}", args.file.display()))?;
        Box::new(std::io::BufReader::new(file))
    };
    let settings = args.kafka.required_settings()?;
    let report =
        tokio::runtime::Runtime::new()?.block_on(produce_lines(&settings, &topics, reader))?;
    for (line, reason) in &report.bad_lines {
        eprintln!("{}:{line}: not produced: {reason}", args.file.display());
    }
    eprintln!(
        "produced {} records to {} and {}",
        report.produced, topics.calls, topics.members
    );
    if !report.bad_lines.is_empty() {
        anyhow::bail!(
            "{} lines were not events and were not produced",
            report.bad_lines.len()
        );
    }
    Ok(())
}

fn run_simulate(args: SimulateArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.rate.is_finite() && args.rate > 0.0,
        "--rate must be positive"
    );
    let topics = args.kafka.call_and_member_topics()?;
    let settings = args.kafka.required_settings()?;
    let start = args.start.unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        EventTime(i64::try_from(nanos).unwrap_or(i64::MAX))
    });
    let mut simulator = Simulator::new(SimConfig {
        seed: args.seed,
        accounts: args.accounts,
        users: args.users,
        rate: args.rate,
        start,
    })
    .peekable();
    let until = args.duration.map(|d| start.saturating_add(d));
    tokio::runtime::Runtime::new()?.block_on(async {
        let producer = producer(&settings)?;
        let produced = tokio::select! {
            produced = produce_live(&producer, &topics, &mut simulator, start, Duration::ZERO, until) => produced?,
            _ = tokio::signal::ctrl_c() => 0,
        };
        eprintln!("produced {produced} simulated events to {} and {}", topics.calls, topics.members);
        anyhow::Ok(())
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
