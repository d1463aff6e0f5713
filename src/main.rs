//! The `sessiond` command line: parses arguments and calls the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use sessiond::api::auth::{AuthSettings, Authenticator, TokenRequest, mint_token};
use sessiond::projection::FoldConfig;
use sessiond::server::{ServeConfig, serve};

/// A live, in-memory projection of active telephony sessions, served as Evo Voice's
/// GetActiveSessions API.
#[derive(Debug, Parser)]
#[command(name = "sessiond", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fold events and serve GET /sessions/active.
    Serve(ServeArgs),
    /// Print an HS256 JWT for demos and tests.
    Token(TokenArgs),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Event-log file to fold (one proto3-JSON SessionEvent per line).
    #[arg(long, env = "SESSIOND_EVENTS", value_name = "FILE.jsonl")]
    events: PathBuf,

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
    fold: FoldArgs,
}

#[derive(Debug, Args)]
struct JwtArgs {
    /// Shared secret that verifies HS256 tokens.
    #[arg(
        long,
        env = "SESSIOND_JWT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    jwt_secret: Option<String>,

    /// PEM file with the public key that verifies RS256 (RSA) or ES256 (EC P-256) tokens.
    #[arg(long, env = "SESSIOND_JWT_PUBLIC_KEY", value_name = "FILE.pem")]
    jwt_public_key: Option<PathBuf>,

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

#[derive(Debug, Args)]
struct TokenArgs {
    /// HS256 secret to sign with (the server's --jwt-secret).
    #[arg(long, env = "SESSIOND_JWT_SECRET", hide_env_values = true)]
    secret: String,

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
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole chain on one line, with no backtrace for a user error.
            eprintln!("sessiond: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve(args) => run_serve(args),
        Command::Token(args) => {
            let token = mint_token(&TokenRequest {
                secret: args.secret,
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
    let public_key_pem = args
        .jwt
        .jwt_public_key
        .as_ref()
        .map(|path| std::fs::read(path).with_context(|| format!("reading {}", path.display())))
        .transpose()?;
    let auth = Authenticator::new(&AuthSettings {
        secret: args.jwt.jwt_secret,
        public_key_pem,
        issuer: args.jwt.jwt_issuer,
        audience: args.jwt.jwt_audience,
    })?;
    let config = ServeConfig {
        events: args.events,
        auth,
        fold: FoldConfig {
            tombstone_retention: args.fold.tombstone_retention,
            max_idle: args.fold.max_idle,
            orphan_ttl: args.fold.orphan_ttl,
        },
    };
    tokio::runtime::Runtime::new()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.http)
            .await
            .with_context(|| format!("listening on {}", args.http))?;
        tracing::info!(addr = %listener.local_addr()?, "serving GET /sessions/active");
        serve(listener, config).await?;
        Ok(())
    })
}
