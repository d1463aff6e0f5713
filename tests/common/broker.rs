//! Brokers for the Kafka tests: tansu started on a free port with in-memory storage (or
//! sqlite storage when a test restarts it), or the broker named by `KAFKA_BROKERS`.
//!
//! A test that cannot get a broker fails: it never passes by skipping.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sessiond::kafka::KafkaSettings;
use sessiond::kafka::admin::ensure_topics;

/// A running broker; stopped when dropped (if this test started it).
pub struct Broker {
    pub brokers: String,
    child: Option<Child>,
    port: u16,
    storage: Option<String>,
    dir: Option<PathBuf>,
}

impl Broker {
    /// A broker with in-memory storage (or `KAFKA_BROKERS`).
    pub fn start() -> Self {
        if let Ok(brokers) = std::env::var("KAFKA_BROKERS") {
            return Self {
                brokers,
                child: None,
                port: 0,
                storage: None,
                dir: None,
            };
        }
        Self::tansu(free_port(), "memory://tansu/".to_owned())
    }

    /// A tansu broker whose data survives [`Broker::restart`] (sqlite storage).
    pub fn start_durable(dir: &std::path::Path) -> Self {
        assert!(
            std::env::var("KAFKA_BROKERS").is_err(),
            "this test stops and restarts its broker, so it needs tansu, not KAFKA_BROKERS"
        );
        // tansu reads `sqlite://NAME` relative to its working directory.
        let mut broker = Self {
            brokers: String::new(),
            child: None,
            port: free_port(),
            storage: Some("sqlite://tansu.db".to_owned()),
            dir: Some(dir.to_path_buf()),
        };
        broker.brokers = format!("127.0.0.1:{}", broker.port);
        broker.spawn();
        broker
    }

    /// A tansu broker with in-memory storage on `port` (for a test that starts its client
    /// before its broker).
    pub fn start_on(port: u16) -> Self {
        Self::tansu(port, "memory://tansu/".to_owned())
    }

    fn tansu(port: u16, storage: String) -> Self {
        let mut broker = Self {
            brokers: format!("127.0.0.1:{port}"),
            child: None,
            port,
            storage: Some(storage),
            dir: None,
        };
        broker.spawn();
        broker
    }

    fn spawn(&mut self) {
        let storage = self.storage.clone().expect("a tansu broker");
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let mut command = Command::new(tansu_binary());
        if let Some(dir) = &self.dir {
            command.current_dir(dir);
        }
        let child = command
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                &storage,
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting tansu ({}): {e}", tansu_binary().display()));
        self.child = Some(child);
        wait_for_port(self.port);
    }

    /// Kills the broker process (as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port and storage.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn settings(&self) -> KafkaSettings {
        KafkaSettings {
            brokers: self.brokers.clone(),
            options: Vec::new(),
        }
    }

    /// Creates topics with `partitions` partitions each.
    pub async fn create_topics(&self, topics: &[&str], partitions: i32) {
        let names: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
        ensure_topics(&self.settings(), &names, partitions)
            .await
            .expect("creating topics");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Topic names no other test uses, so tests can share a `KAFKA_BROKERS` broker.
pub fn unique_topics(test: &str) -> (String, String) {
    let n = std::process::id();
    (format!("{test}-{n}.calls"), format!("{test}-{n}.members"))
}

/// The tansu binary: `TANSU`, else the project's tool cache, else `PATH`.
pub fn tansu_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TANSU") {
        return PathBuf::from(path);
    }
    let cached = PathBuf::from(std::env::var("HOME").unwrap_or_default())
        .join(".cache/sessiond/tools/bin/tansu");
    if cached.exists() {
        return cached;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("tansu"))
            .find(|p| p.exists())
    });
    on_path.unwrap_or_else(|| {
        panic!("tansu is not installed: run scripts/install-tansu (scripts/test does), or set TANSU or KAFKA_BROKERS")
    })
}

/// A port nothing listens on (yet).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "tansu did not listen on port {port} within 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
