//! Brokers for the Kafka tests: Apache Kafka (one KRaft node, broker and controller in one
//! JVM, started from the jars that scripts/install-kafka puts in the tool cache) on free
//! ports in a temporary directory, or the broker named by `KAFKA_BROKERS`. [`Cluster`]
//! starts three such nodes (a static 3-voter quorum, replication factor 3,
//! `min.insync.replicas=2`) for tests that kill a leader.
//! [`Broker::start_sasl_ssl`] starts one node that also has a SASL_SSL listener
//! (SCRAM-SHA-512, TLS from a CA the test makes).
//! `SESSIOND_TEST_BROKER=tansu` starts tansu instead (in-memory storage, or sqlite when a
//! test restarts it), for comparison.
//!
//! A test that cannot get a broker fails: it never passes by skipping.

use std::io::{Read, Seek, SeekFrom};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sessiond::kafka::KafkaSettings;
use sessiond::kafka::admin::ensure_topics;

/// The Apache Kafka version scripts/install-kafka installs.
pub const KAFKA_VERSION: &str = "4.1.2";

/// How long a broker may take to start before the test fails (two cores, tests in
/// parallel, a JVM each).
const START_LIMIT: Duration = Duration::from_secs(90);

/// A running broker; stopped when dropped (if this test started it).
pub struct Broker {
    pub brokers: String,
    child: Option<TiedChild>,
    port: u16,
    kind: Kind,
}

enum Kind {
    /// `KAFKA_BROKERS`: not ours to stop.
    External,
    Tansu {
        storage: String,
        dir: Option<PathBuf>,
    },
    Kafka {
        /// Holds `server.properties`, `kafka.log` and (in `data/`) the log and metadata.
        dir: PathBuf,
        /// Removed on drop (not a directory the test gave us).
        owned: bool,
        controller_port: u16,
        /// Set for a node of a [`Cluster`].
        node: Option<ClusterNode>,
        /// Set for a node with a SASL_SSL listener for clients.
        sasl: Option<SaslSsl>,
    },
}

/// A SASL_SSL listener for clients (SCRAM-SHA-512 over TLS), beside the PLAINTEXT one that
/// stays for the broker itself (inter-broker) and for the tests' admin calls. Its
/// certificate, for `127.0.0.1` and `localhost`, is signed by a CA made for this broker.
#[derive(Clone, Debug)]
pub struct SaslSsl {
    /// `127.0.0.1:PORT`.
    pub address: String,
    /// The CA's certificate, for `ssl.ca.location`.
    pub ca_pem: PathBuf,
    /// The SCRAM-SHA-512 user the broker knows (created when its storage was formatted).
    pub username: String,
    pub password: String,
    port: u16,
    /// The broker's key and certificate chain (PKCS12).
    keystore: PathBuf,
}

/// The keystore's password.
const KEYSTORE_PASSWORD: &str = "sessiond-test";

impl SaslSsl {
    /// The `--kafka-option` settings a client needs for this listener, with `password`.
    pub fn options(&self, password: &str) -> Vec<(String, String)> {
        [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanisms", "SCRAM-SHA-512"),
            ("sasl.username", self.username.as_str()),
            ("sasl.password", password),
            ("ssl.ca.location", &self.ca_pem.to_string_lossy()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// Client settings for this listener, with `password` (right or wrong).
    pub fn settings(&self, password: &str) -> KafkaSettings {
        KafkaSettings {
            brokers: self.address.clone(),
            options: self.options(password),
        }
    }
}

/// A node's place in a [`Cluster`]: its id, the static voter set, and how many nodes there are.
#[derive(Clone)]
struct ClusterNode {
    id: u32,
    voters: String,
    size: u32,
}

impl Broker {
    /// A fresh broker (or `KAFKA_BROKERS`).
    pub fn start() -> Self {
        if let Ok(brokers) = std::env::var("KAFKA_BROKERS") {
            return Self {
                brokers,
                child: None,
                port: 0,
                kind: Kind::External,
            };
        }
        Self::fresh(free_port())
    }

    /// A broker whose data, kept under `dir`, survives [`Broker::restart`].
    pub fn start_durable(dir: &Path) -> Self {
        assert!(
            std::env::var("KAFKA_BROKERS").is_err(),
            "this test stops and restarts its broker, so it cannot use KAFKA_BROKERS"
        );
        let port = free_port();
        let kind = if use_tansu() {
            // tansu reads `sqlite://NAME` relative to its working directory.
            Kind::Tansu {
                storage: "sqlite://tansu.db".to_owned(),
                dir: Some(dir.to_path_buf()),
            }
        } else {
            let dir = dir.join("kafka");
            prepare_kafka_dir(&dir);
            Kind::Kafka {
                dir,
                owned: false,
                controller_port: free_port(),
                node: None,
                sasl: None,
            }
        };
        Self::launch(port, kind)
    }

    /// A fresh broker on `port` (for a test that starts its client before its broker).
    pub fn start_on(port: u16) -> Self {
        Self::fresh(port)
    }

    /// A fresh Apache Kafka node whose clients' listener is SASL_SSL: SCRAM-SHA-512 with
    /// user `username` (created when its storage is formatted), TLS with a certificate
    /// signed by a CA made here ([`SaslSsl::ca_pem`]). [`Broker::brokers`] and
    /// [`Broker::settings`] stay the PLAINTEXT listener (for creating topics);
    /// [`Broker::sasl_ssl`] is the secured one.
    pub fn start_sasl_ssl(username: &str, password: &str) -> Self {
        assert!(
            std::env::var("KAFKA_BROKERS").is_err() && !use_tansu(),
            "a SASL_SSL test starts its own Apache Kafka node: unset KAFKA_BROKERS and \
             SESSIOND_TEST_BROKER"
        );
        let dir = tempfile::Builder::new()
            .prefix("sessiond-kafka-sasl-")
            .tempdir()
            .expect("a temporary directory")
            .keep();
        let (ca_pem, keystore) = make_tls(&dir.join("tls"));
        let data = dir.join("data");
        format_storage(
            &data,
            &[
                "--add-scram".to_owned(),
                format!("SCRAM-SHA-512=[name={username},password={password}]"),
            ],
        );
        let sasl_port = free_port();
        let sasl = SaslSsl {
            address: format!("127.0.0.1:{sasl_port}"),
            ca_pem,
            username: username.to_owned(),
            password: password.to_owned(),
            port: sasl_port,
            keystore,
        };
        Self::launch(
            free_port(),
            Kind::Kafka {
                dir,
                owned: true,
                controller_port: free_port(),
                node: None,
                sasl: Some(sasl),
            },
        )
    }

    /// The SASL_SSL listener of a broker from [`Broker::start_sasl_ssl`].
    pub fn sasl_ssl(&self) -> &SaslSsl {
        match &self.kind {
            Kind::Kafka {
                sasl: Some(sasl), ..
            } => sasl,
            _ => panic!("this broker has no SASL_SSL listener: see Broker::start_sasl_ssl"),
        }
    }

    fn fresh(port: u16) -> Self {
        let kind = if use_tansu() {
            Kind::Tansu {
                storage: "memory://tansu/".to_owned(),
                dir: None,
            }
        } else {
            let dir = tempfile::Builder::new()
                .prefix("sessiond-kafka-")
                .tempdir()
                .expect("a temporary directory")
                .keep();
            prepare_kafka_dir(&dir);
            Kind::Kafka {
                dir,
                owned: true,
                controller_port: free_port(),
                node: None,
                sasl: None,
            }
        };
        Self::launch(port, kind)
    }

    fn launch(port: u16, kind: Kind) -> Self {
        let mut broker = Self {
            brokers: format!("127.0.0.1:{port}"),
            child: None,
            port,
            kind,
        };
        broker.spawn();
        broker
    }

    fn spawn(&mut self) {
        match &self.kind {
            Kind::External => panic!("KAFKA_BROKERS names a broker this test cannot start"),
            Kind::Tansu { .. } => self.spawn_tansu(),
            Kind::Kafka { .. } => self.spawn_kafka(),
        }
    }

    fn spawn_tansu(&mut self) {
        let Kind::Tansu { storage, dir } = &self.kind else {
            unreachable!()
        };
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let mut command = Command::new(tansu_binary());
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        command
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                storage,
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = spawn_tied(command)
            .unwrap_or_else(|e| panic!("starting tansu ({}): {e}", tansu_binary().display()));
        self.child = Some(child);
        wait_for_port(self.port);
    }

    fn spawn_kafka(&mut self) {
        let port = self.port;
        let Kind::Kafka {
            dir,
            owned,
            controller_port,
            node,
            sasl,
        } = &mut self.kind
        else {
            unreachable!()
        };
        let home = kafka_home();
        let log_path = dir.join("kafka.log");
        for attempt in 1.. {
            std::fs::write(
                dir.join("server.properties"),
                server_properties(
                    port,
                    *controller_port,
                    &dir.join("data"),
                    node.as_ref(),
                    sasl.as_ref(),
                ),
            )
            .expect("writing server.properties");
            // Appends, so a restart keeps the earlier runs' lines; `from` is where this one's begin.
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .expect("opening kafka.log");
            let from = log.metadata().map(|m| m.len()).unwrap_or(0);
            let started = Instant::now();
            let mut command = java();
            command
                .args(jvm_options(&home))
                .arg("-cp")
                .arg(home.join("libs/*"))
                .arg("kafka.Kafka")
                .arg(dir.join("server.properties"))
                .current_dir(&*dir)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("kafka.log"))
                .stderr(log);
            let mut child = spawn_tied(command)
                .unwrap_or_else(|e| panic!("starting java for Apache Kafka: {e}"));
            match wait_for_kafka(&mut child.process, &log_path, from, started) {
                Ok(()) => {
                    if std::env::var_os("SESSIOND_KAFKA_VERBOSE").is_some() {
                        eprintln!(
                            "Apache Kafka {KAFKA_VERSION} on 127.0.0.1:{port} started in {:?} ({})",
                            started.elapsed(),
                            dir.display()
                        );
                    }
                    self.child = Some(child);
                    return;
                }
                Err(why) => {
                    let _ = child.process.kill();
                    let _ = child.process.wait();
                    // Another process took the controller port between free_port() and the
                    // bind: pick another (it is in no stored state with static voters).
                    let run = read_from(&log_path, from);
                    let taken = format!("failed to bind to 127.0.0.1:{controller_port}");
                    // (Not for a cluster's node: the other nodes know its port.)
                    if attempt < 3 && run.contains(&taken) && node.is_none() {
                        *controller_port = free_port();
                        continue;
                    }
                    // Kept for its log.
                    *owned = false;
                    let tail = log_tail(&log_path, from);
                    panic!(
                        "Apache Kafka {KAFKA_VERSION} on 127.0.0.1:{port} {why} (log: {})\n--- last lines of kafka.log ---\n{tail}",
                        log_path.display()
                    );
                }
            }
        }
    }

    /// Kills the broker process (as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.process.kill();
            let _ = child.process.wait();
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
        if let Kind::Kafka {
            dir, owned: true, ..
        } = &self.kind
        {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Apache Kafka on several KRaft nodes, each broker and controller with a static voter set
/// (3 nodes: a quorum survives the loss of one), topics replicated on every node (at most
/// 3) with `min.insync.replicas=2`. Node ids are 1..=n. Stopped, and its directory removed,
/// when dropped (kept, with the nodes' `kafka.log`, if the test is failing).
pub struct Cluster {
    /// Every node's listener, comma-separated.
    pub bootstrap: String,
    nodes: Vec<Broker>,
    dir: PathBuf,
    /// How long the nodes took to start (all in parallel).
    pub started_in: Duration,
}

impl Broker {
    /// A fresh cluster of `size` Apache Kafka nodes: see [`Cluster`].
    pub fn cluster(size: u32) -> Cluster {
        Cluster::start(size)
    }
}

impl Cluster {
    pub fn start(size: u32) -> Self {
        assert!(size >= 1);
        assert!(
            std::env::var("KAFKA_BROKERS").is_err() && !use_tansu(),
            "a cluster test starts (and kills) its own Apache Kafka nodes: unset KAFKA_BROKERS \
             and SESSIOND_TEST_BROKER"
        );
        let dir = tempfile::Builder::new()
            .prefix("sessiond-cluster-")
            .tempdir()
            .expect("a temporary directory")
            .keep();
        // Distinct ports (free_port() may hand out the same port twice).
        let mut ports: Vec<u16> = Vec::new();
        while ports.len() < 2 * size as usize {
            let port = free_port();
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
        let (ports, controller_ports) = ports.split_at(size as usize);
        let voters = (1..=size)
            .zip(controller_ports)
            .map(|(id, port)| format!("{id}@127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",");
        let started = Instant::now();
        // Each node's start-up waits for a quorum, so they start together.
        let nodes: Vec<Broker> = std::thread::scope(|scope| {
            let starting: Vec<_> = (1..=size)
                .map(|id| {
                    let node_dir = dir.join(format!("node-{id}"));
                    prepare_node_dir(&node_dir, id);
                    let kind = Kind::Kafka {
                        dir: node_dir,
                        owned: false,
                        controller_port: controller_ports[id as usize - 1],
                        node: Some(ClusterNode {
                            id,
                            voters: voters.clone(),
                            size,
                        }),
                        sasl: None,
                    };
                    let port = ports[id as usize - 1];
                    scope.spawn(move || Broker::launch(port, kind))
                })
                .collect();
            starting
                .into_iter()
                .map(|s| {
                    s.join().unwrap_or_else(|_| {
                        panic!(
                            "a node of the cluster did not start (logs in {})",
                            dir.display()
                        )
                    })
                })
                .collect()
        });
        let started_in = started.elapsed();
        let bootstrap = nodes
            .iter()
            .map(|n| n.brokers.clone())
            .collect::<Vec<_>>()
            .join(",");
        let cluster = Self {
            bootstrap,
            nodes,
            dir,
            started_in,
        };
        cluster.wait_for_brokers(size as usize, Duration::from_secs(60));
        if std::env::var_os("SESSIOND_KAFKA_VERBOSE").is_some() {
            eprintln!(
                "{size}-node Apache Kafka {KAFKA_VERSION} cluster on {} started in {started_in:?} ({})",
                cluster.bootstrap,
                cluster.dir.display()
            );
        }
        cluster
    }

    pub fn settings(&self) -> KafkaSettings {
        KafkaSettings {
            brokers: self.bootstrap.clone(),
            options: Vec::new(),
        }
    }

    /// Node ids, 1..=n.
    pub fn node_ids(&self) -> Vec<i32> {
        (1..=self.nodes.len() as i32).collect()
    }

    /// Node `id`'s listener.
    pub fn address(&self, id: i32) -> &str {
        &self.node(id).brokers
    }

    /// The directory holding each node's `node-<id>/kafka.log`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn node(&self, id: i32) -> &Broker {
        &self.nodes[usize::try_from(id - 1).expect("node ids start at 1")]
    }

    fn node_mut(&mut self, id: i32) -> &mut Broker {
        &mut self.nodes[usize::try_from(id - 1).expect("node ids start at 1")]
    }

    /// Kills node `id` with SIGKILL (no controlled shutdown: its leaderships move only once
    /// the controller fences it, `broker.session.timeout.ms` = 3 s later).
    pub fn kill(&mut self, id: i32) {
        self.node_mut(id).stop();
    }

    /// Starts node `id` again on its ports and data; returns once it serves.
    pub fn restart(&mut self, id: i32) {
        self.node_mut(id).restart();
    }

    /// Whether node `id` runs (this harness's view: not killed).
    pub fn is_running(&self, id: i32) -> bool {
        self.node(id).child.is_some()
    }

    /// Process ids of the running nodes.
    pub fn pids(&self) -> Vec<u32> {
        self.nodes
            .iter()
            .filter_map(|n| n.child.as_ref().map(|c| c.process.id()))
            .collect()
    }

    /// Resident memory of the running nodes, in KiB each.
    pub fn rss_kib(&self) -> Vec<u64> {
        self.pids()
            .iter()
            .map(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .find_map(|l| l.strip_prefix("VmRSS:"))
                            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                    })
                    .unwrap_or(0)
            })
            .collect()
    }

    /// Metadata for `topic` (every broker's view is the controller's, shortly after).
    fn metadata(&self, topic: Option<&str>) -> Option<rdkafka::metadata::Metadata> {
        let client: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", self.running_bootstrap())
            .create()
            .expect("a metadata client");
        rdkafka::consumer::Consumer::fetch_metadata(&client, topic, Duration::from_secs(5)).ok()
    }

    /// The listeners of the nodes that run (a killed node only slows a client down).
    fn running_bootstrap(&self) -> String {
        self.node_ids()
            .into_iter()
            .filter(|&id| self.is_running(id))
            .map(|id| self.address(id).to_owned())
            .collect::<Vec<_>>()
            .join(",")
    }

    fn wait_for_brokers(&self, count: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let seen = self.metadata(None).map_or(0, |m| m.brokers().len());
            if seen >= count {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster shows {seen} of {count} brokers after {limit:?} (logs in {})",
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// (leader, replicas, in-sync replicas) of each partition of `topic`, by partition id;
    /// leader -1 when there is none.
    pub fn partitions(&self, topic: &str) -> Vec<(i32, Vec<i32>, Vec<i32>)> {
        let Some(metadata) = self.metadata(Some(topic)) else {
            return Vec::new();
        };
        let Some(topic) = metadata.topics().iter().find(|t| t.name() == topic) else {
            return Vec::new();
        };
        if topic.error().is_some() {
            return Vec::new();
        }
        let mut partitions: Vec<_> = topic
            .partitions()
            .iter()
            .map(|p| (p.id(), p.leader(), p.replicas().to_vec(), p.isr().to_vec()))
            .collect();
        partitions.sort_by_key(|p| p.0);
        partitions
            .into_iter()
            .map(|(_, leader, replicas, isr)| (leader, replicas, isr))
            .collect()
    }

    /// The leader of `topic`'s `partition`, as the cluster's metadata says now.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        self.partitions(topic)
            .get(partition as usize)
            .map(|p| p.0)
            .filter(|&leader| leader >= 0)
    }

    /// Waits until `topic`'s `partition` has a leader other than `not`; returns it.
    pub fn wait_for_new_leader(
        &self,
        topic: &str,
        partition: i32,
        not: i32,
        limit: Duration,
    ) -> i32 {
        let deadline = Instant::now() + limit;
        loop {
            match self.leader(topic, partition) {
                Some(leader) if leader != not => return leader,
                _ => {}
            }
            assert!(
                Instant::now() < deadline,
                "{topic}/{partition} still led by node {not} (or by none) after {limit:?}: {:?}",
                self.partitions(topic)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until every partition of `topics` has a leader and all its replicas in sync.
    pub fn wait_for_in_sync(&self, topics: &[&str], limit: Duration) {
        let deadline = Instant::now() + limit;
        for topic in topics {
            loop {
                let partitions = self.partitions(topic);
                if !partitions.is_empty()
                    && partitions
                        .iter()
                        .all(|(leader, replicas, isr)| *leader >= 0 && isr.len() == replicas.len())
                {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{topic}: every partition led and in sync within {limit:?}: {partitions:?}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// Creates topics with `partitions` partitions each, replicated on every node (at most 3),
    /// and waits until each partition is led and fully in sync (blocking a worker thread of
    /// the multi-threaded runtime the Kafka tests use).
    pub async fn create_topics(&self, topics: &[&str], partitions: i32) {
        self.create(topics, partitions, &[]).await;
    }

    /// Creates a compacted topic (a change feed), replicated like [`Cluster::create_topics`].
    pub async fn create_compacted_topic(&self, topic: &str, partitions: i32) {
        self.create(&[topic], partitions, &[("cleanup.policy", "compact")])
            .await;
    }

    async fn create(&self, topics: &[&str], partitions: i32, config: &[(&str, &str)]) {
        use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
        let replicas = self.nodes.len().min(3) as i32;
        let admin: AdminClient<rdkafka::client::DefaultClientContext> = self
            .settings()
            .client_config()
            .create()
            .expect("an admin client");
        let new: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|t| {
                config.iter().fold(
                    NewTopic::new(t, partitions, TopicReplication::Fixed(replicas)),
                    |topic, (key, value)| topic.set(key, value),
                )
            })
            .collect();
        let options = AdminOptions::new()
            .operation_timeout(Some(Duration::from_secs(20)))
            .request_timeout(Some(Duration::from_secs(25)));
        for result in admin
            .create_topics(&new, &options)
            .await
            .expect("creating topics")
        {
            if let Err((topic, code)) = result {
                panic!("creating {topic} (replication factor {replicas}): {code}");
            }
        }
        let topics: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
        tokio::task::block_in_place(|| {
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            self.wait_for_in_sync(&names, Duration::from_secs(30));
        });
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.stop();
        }
        if std::thread::panicking() {
            eprintln!(
                "the Kafka cluster's logs are kept in {}/node-*/kafka.log",
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A broker process, and what keeps alive the thread that started it.
struct TiedChild {
    process: Child,
    _keeper: std::sync::mpsc::Sender<()>,
}

/// Spawns `command` with `PR_SET_PDEATHSIG = SIGKILL` from a thread that lives until the
/// returned child is dropped, so the broker dies with the test process even when that is
/// killed (the kernel sends the signal when the *thread* that forked exits, hence the
/// thread).
fn spawn_tied(mut command: Command) -> std::io::Result<TiedChild> {
    use std::os::unix::process::CommandExt;
    let (keeper, kept) = std::sync::mpsc::channel::<()>();
    let (give, take) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // SAFETY: prctl is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let spawned = command.spawn();
        let ok = spawned.is_ok();
        let _ = give.send(spawned);
        if ok {
            // Returns when the sender is dropped, i.e. with the child.
            let _ = kept.recv();
        }
    });
    let process = take.recv().expect("the spawning thread answers")?;
    Ok(TiedChild {
        process,
        _keeper: keeper,
    })
}

/// Topic names no other test uses, so tests can share a `KAFKA_BROKERS` broker.
pub fn unique_topics(test: &str) -> (String, String) {
    let n = std::process::id();
    (format!("{test}-{n}.calls"), format!("{test}-{n}.members"))
}

fn use_tansu() -> bool {
    match std::env::var("SESSIOND_TEST_BROKER").as_deref() {
        Err(_) | Ok("") | Ok("kafka") => false,
        Ok("tansu") => true,
        Ok(other) => panic!("SESSIOND_TEST_BROKER={other}: expected kafka or tansu"),
    }
}

/// Where scripts/install-kafka put the jars: `SESSIOND_KAFKA_HOME`, else the tool cache.
pub fn kafka_home() -> PathBuf {
    let home = std::env::var_os("SESSIOND_KAFKA_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/sessiond/kafka")
                .join(KAFKA_VERSION)
        });
    assert!(
        home.join("installed").exists(),
        "Apache Kafka {KAFKA_VERSION} is not installed in {}: run scripts/install-kafka \
         (scripts/test does), or set KAFKA_BROKERS",
        home.display()
    );
    home
}

fn java() -> Command {
    let java = std::env::var_os("JAVA_HOME")
        .map(|home| PathBuf::from(home).join("bin/java"))
        .filter(|java| java.exists())
        .unwrap_or_else(|| PathBuf::from("java"));
    Command::new(java)
}

/// A small heap (the machine has two cores and the tests run brokers in parallel), a fast
/// start (C1 only, which is plenty for tests; the class-data archive scripts/install-kafka
/// makes, if there is one), no JMX or GC log. scripts/install-kafka makes its archive with
/// the same options.
fn jvm_options(home: &Path) -> Vec<String> {
    let mut options: Vec<String> = vec![
        "-Xms32m".into(),
        "-Xmx256m".into(),
        "-XX:+UseSerialGC".into(),
        "-XX:TieredStopAtLevel=1".into(),
        "-Djava.awt.headless=true".into(),
        format!(
            "-Dlog4j2.configurationFile={}",
            home.join("log4j2.properties").display()
        ),
    ];
    let archive = home.join("kafka.jsa");
    if archive.exists() {
        options.push(format!("-XX:SharedArchiveFile={}", archive.display()));
    }
    options
}

/// One node that is both broker and controller, with a static voter set (so a formatted
/// directory holds no port and can be copied), single-replica internal topics, and small
/// buffers. The short broker session lets a node killed with SIGKILL register again about
/// 3 s after it restarts (the controller refuses a second registration of a node id until
/// the first one's session expires; by default 9 s).
///
/// A node of a [`Cluster`] has its own id, the cluster's voters, and replication factor 3
/// (or the cluster's size) with `min.insync.replicas=2` for the internal and default topics.
///
/// A node with `sasl` also listens there with SASL_SSL (SCRAM-SHA-512 only, the broker's
/// key and certificate from a PKCS12 keystore); controller and inter-broker traffic stay
/// PLAINTEXT on loopback.
fn server_properties(
    port: u16,
    controller_port: u16,
    data: &Path,
    node: Option<&ClusterNode>,
    sasl: Option<&SaslSsl>,
) -> String {
    let single = ClusterNode {
        id: 1,
        voters: format!("1@127.0.0.1:{controller_port}"),
        size: 1,
    };
    let node = node.unwrap_or(&single);
    let replicas = node.size.min(3);
    let min_isr = if replicas >= 3 { 2 } else { 1 };
    let (mut listeners, mut advertised, mut protocols, mut secured) = (
        format!("PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}"),
        format!("PLAINTEXT://127.0.0.1:{port}"),
        "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".to_owned(),
        String::new(),
    );
    if let Some(sasl) = sasl {
        let sasl_port = sasl.port;
        listeners.push_str(&format!(",SASL_SSL://127.0.0.1:{sasl_port}"));
        advertised.push_str(&format!(",SASL_SSL://127.0.0.1:{sasl_port}"));
        protocols.push_str(",SASL_SSL:SASL_SSL");
        secured = format!(
            "sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PKCS12
listener.name.sasl_ssl.ssl.keystore.location={keystore}
listener.name.sasl_ssl.ssl.keystore.password={KEYSTORE_PASSWORD}
listener.name.sasl_ssl.ssl.key.password={KEYSTORE_PASSWORD}
",
            keystore = sasl.keystore.display()
        );
    }
    format!(
        "process.roles=broker,controller
node.id={id}
controller.quorum.voters={voters}
listeners={listeners}
advertised.listeners={advertised}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map={protocols}
{secured}log.dirs={data}
num.partitions=1
auto.create.topics.enable=false
default.replication.factor={replicas}
min.insync.replicas={min_isr}
offsets.topic.replication.factor={replicas}
offsets.topic.num.partitions=1
transaction.state.log.replication.factor={replicas}
transaction.state.log.min.isr={min_isr}
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor={replicas}
share.coordinator.state.topic.min.isr={min_isr}
group.initial.rebalance.delay.ms=0
log.cleaner.dedupe.buffer.size=2097152
num.network.threads=2
num.io.threads=2
background.threads=2
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
",
        id = node.id,
        voters = node.voters,
        data = data.display()
    )
}

/// Gives `dir` a formatted `data/` (unless it has one): a copy of a template formatted once
/// per Kafka version, which saves each broker a StorageTool JVM.
fn prepare_kafka_dir(dir: &Path) {
    prepare_node_dir(dir, 1);
}

/// [`prepare_kafka_dir`] for node `id` of a cluster: the template (same cluster id for every
/// node) with its own `node.id` and a directory id of its own (the controller refuses a log
/// directory id that another broker registered).
fn prepare_node_dir(dir: &Path, id: u32) {
    std::fs::create_dir_all(dir).expect("creating the broker's directory");
    let data = dir.join("data");
    if data.join("meta.properties").exists() {
        return;
    }
    let template = formatted_template();
    std::fs::create_dir_all(&data).expect("creating the data directory");
    for entry in std::fs::read_dir(template).expect("reading the template") {
        let entry = entry.expect("a template entry");
        std::fs::copy(entry.path(), data.join(entry.file_name())).expect("copying the template");
    }
    let meta = data.join("meta.properties");
    let text = std::fs::read_to_string(&meta).expect("reading meta.properties");
    let text: Vec<String> = text
        .lines()
        .map(|line| {
            if line.starts_with("node.id=") {
                format!("node.id={id}")
            } else if let Some(directory) = line.strip_prefix("directory.id=") {
                // A base64url UUID; another first character keeps it valid and not one of
                // the reserved ids (whose high bits are all zero).
                let first = b"QRSTUVWXYZ"[(id as usize - 1) % 10] as char;
                format!("directory.id={first}{}", &directory[1..])
            } else {
                line.to_owned()
            }
        })
        .collect();
    std::fs::write(&meta, text.join("\n") + "\n").expect("writing meta.properties");
}

/// A data directory formatted (with `kafka.tools.StorageTool format`, static quorum) for
/// node 1 of a fixed cluster id; kept beside the jars, made once.
fn formatted_template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let home = kafka_home();
        let template = home.join("formatted");
        if template.join("meta.properties").exists() {
            return template;
        }
        // Formatted elsewhere, then renamed into place, so that concurrent test processes
        // never see half a template.
        let work = tempfile::Builder::new()
            .prefix("format-")
            .tempdir_in(&home)
            .expect("a temporary directory");
        let data = work.path().join("data");
        format_storage(&data, &[]);
        if std::fs::rename(&data, &template).is_err() {
            assert!(
                template.join("meta.properties").exists(),
                "could not put the formatted template at {}",
                template.display()
            );
        }
        template
    })
}

/// Formats `data` (with `kafka.tools.StorageTool format`, static quorum, node 1 of a fixed
/// cluster id), with `extra` arguments (`--add-scram …`).
fn format_storage(data: &Path, extra: &[String]) {
    let home = kafka_home();
    let parent = data.parent().expect("a data directory has a parent");
    std::fs::create_dir_all(parent).expect("creating the broker's directory");
    let properties = parent.join("format.properties");
    std::fs::write(&properties, server_properties(1, 2, data, None, None))
        .expect("format.properties");
    let output = java()
        .args(jvm_options(&home))
        .arg("-cp")
        .arg(home.join("libs/*"))
        .args(["kafka.tools.StorageTool", "format", "--cluster-id"])
        // Any 22-character base64url UUID not starting with '-'.
        .arg("4L6g3nShT-eMCtK--X86sw")
        .arg("--config")
        .arg(&properties)
        .args(extra)
        .output()
        .expect("running java (kafka.tools.StorageTool)");
    assert!(
        output.status.success() && data.join("meta.properties").exists(),
        "formatting a KRaft data directory failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA and a certificate it signs for `127.0.0.1` and `localhost` (librdkafka checks the
/// broker's name, `ssl.endpoint.identification.algorithm=https`, by default), made with
/// openssl in `dir`; returns the CA's PEM and the broker's PKCS12 keystore.
pub fn make_tls(dir: &Path) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).expect("creating the TLS directory");
    // Arguments without spaces, so a line each.
    let openssl = |args: &str| {
        let output = Command::new("openssl")
            .args(args.split_whitespace())
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("running openssl (is it installed?): {e}"));
        assert!(
            output.status.success(),
            "openssl {args}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    openssl(&format!(
        "req -x509 -days 2 -subj /CN=sessiond-test-CA {key} -keyout ca.key -out ca.pem \
         -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
    ));
    openssl(&format!(
        "req -subj /CN=127.0.0.1 {key} -keyout broker.key -out broker.csr"
    ));
    std::fs::write(
        dir.join("broker.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .expect("broker.ext");
    openssl(
        "x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
         -extfile broker.ext -out broker.pem",
    );
    openssl(&format!(
        "pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem -name broker \
         -passout pass:{KEYSTORE_PASSWORD} -out broker.p12"
    ));
    (dir.join("ca.pem"), dir.join("broker.p12"))
}

/// Waits for the log line Kafka writes once the broker is unfenced and serving.
fn wait_for_kafka(
    child: &mut Child,
    log: &Path,
    from: u64,
    started: Instant,
) -> Result<(), String> {
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited during start-up ({status})"));
        }
        if read_from(log, from).contains("Kafka Server started") {
            return Ok(());
        }
        if started.elapsed() > START_LIMIT {
            return Err(format!("did not start within {START_LIMIT:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read_from(path: &Path, from: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let _ = file.seek(SeekFrom::Start(from));
        let mut bytes = Vec::new();
        let _ = file.read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    text
}

fn log_tail(path: &Path, from: u64) -> String {
    let text = read_from(path, from);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
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
        panic!("tansu is not installed: run scripts/install-tansu, or set TANSU or KAFKA_BROKERS")
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
