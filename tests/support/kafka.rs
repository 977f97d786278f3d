//! A real Apache Kafka broker for the tests: one node in KRaft combined mode (broker and
//! controller in one JVM) on 127.0.0.1, the way `docker-compose.yml`'s `kafka` service runs it.
//!
//! The broker is the jars of `org.apache.kafka:kafka_2.13`, fetched once by
//! `tests/support/kafka.sh` (which `make test`'s scripts source) into a cache folder named by
//! `KAFKA_JARS`. Starting it is what the distribution's scripts do: `kafka.tools.StorageTool
//! format` writes a cluster id into an empty log folder, then `kafka.Kafka server.properties`
//! runs. Its start costs a few seconds of JVM, so a test binary starts one [`Broker::shared`]
//! and every test uses topics of its own ([`topic`]); they stay independent, and the
//! broker's state from one test cannot reach another.
//!
//! The broker has two client listeners: `port`, where clients bootstrap and which it advertises
//! as itself, and `proxied`, which advertises another port instead: the address of a proxy that
//! the test puts in front of it (tests/topology/proxy.rs), so clients that bootstrap through the
//! proxy keep using it. The proxy's socket is bound before the broker starts and handed over
//! with [`Broker::take_proxy_listener`].
//!
//! The broker runs until the test process ends: a small watchdog shell kills it then (a static
//! is never dropped), and removes its folder.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// A running broker; see the module docs.
pub struct Broker {
    /// Its folder: `server.properties`, the log (`data/`), and what the JVM wrote (`server.log`,
    /// `stdout.log`).
    pub dir: PathBuf,
    /// The listener clients bootstrap from, advertised as itself.
    pub port: u16,
    /// The listener advertised as [`Broker::proxy_port`], for a proxy in front of it.
    pub proxied: u16,
    /// Where that proxy listens (the port `proxied` advertises).
    pub proxy_port: u16,
    proxy_listener: Mutex<Option<TcpListener>>,
    child: Mutex<Child>,
}

impl Broker {
    /// The broker this test process shares, started on first use.
    pub fn shared() -> &'static Broker {
        static SHARED: OnceLock<Broker> = OnceLock::new();
        SHARED.get_or_init(Broker::start)
    }

    /// `KAFKA_BROKERS` for an instance that reaches the broker directly.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The socket the proxy listens on (once: the first caller gets it).
    pub fn take_proxy_listener(&self) -> TcpListener {
        self.proxy_listener.lock().unwrap().take().expect("the proxy listener was taken already")
    }

    /// Sends the JVM a signal (`-STOP`, `-CONT`, ...), as `kill` would.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.lock().unwrap().id().to_string();
        assert!(Command::new("kill").args([signal, &pid]).status().unwrap().success());
    }

    /// Stops the broker the way `docker stop` does (SIGTERM: it closes its logs cleanly; SIGKILL
    /// after [`STOP_TIMEOUT`]) and starts it again on the same ports with the same log: every
    /// topic and record is still there. Returns once it accepts clients again.
    pub fn restart(&self) {
        let mut child = self.child.lock().unwrap();
        let _ = Command::new("kill").args(["-CONT", &child.id().to_string()]).status();
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        *child = launch(&self.dir, self.port);
    }

    fn start() -> Broker {
        let dir = std::env::temp_dir().join(format!("wschat-kafka-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let proxy_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (port, proxied, controller) = (free_port(), free_port(), free_port());
        let proxy_port = proxy_listener.local_addr().unwrap().port();
        let properties = properties(&dir, [port, proxied, proxy_port, controller]);
        std::fs::write(dir.join("server.properties"), properties).unwrap();
        std::fs::write(dir.join("log4j2.properties"), log_config(&dir)).unwrap();
        // First, so that not even a start that fails leaves a broker behind.
        watch(&dir);
        let started = Instant::now();
        format(&dir);
        let child = launch(&dir, port);
        eprintln!("kafka: formatted and started on 127.0.0.1:{port} in {:?}", started.elapsed());
        Broker {
            port,
            proxied,
            proxy_port,
            proxy_listener: Mutex::new(Some(proxy_listener)),
            child: Mutex::new(child),
            dir,
        }
    }
}

/// A topic name used by no other test of this process: `prefix-<n>`.
pub fn topic(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// KRaft combined mode on loopback; one replica of everything; topics only when asked for,
/// as docker-compose.yml sets it (`KAFKA_*` there, these keys here).
fn properties(dir: &Path, [port, proxied, proxy, controller]: [u16; 4]) -> String {
    let data = dir.join("data");
    format!(
        "process.roles=broker,controller\n\
         node.id=1\n\
         controller.quorum.voters=1@127.0.0.1:{controller}\n\
         listeners=PLAINTEXT://127.0.0.1:{port},PROXIED://127.0.0.1:{proxied},CONTROLLER://127.0.0.1:{controller}\n\
         advertised.listeners=PLAINTEXT://127.0.0.1:{port},PROXIED://127.0.0.1:{proxy}\n\
         listener.security.protocol.map=PLAINTEXT:PLAINTEXT,PROXIED:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
         controller.listener.names=CONTROLLER\n\
         inter.broker.listener.name=PLAINTEXT\n\
         log.dirs={}\n\
         auto.create.topics.enable=false\n\
         offsets.topic.replication.factor=1\n\
         transaction.state.log.replication.factor=1\n\
         transaction.state.log.min.isr=1\n\
         share.coordinator.state.topic.replication.factor=1\n\
         share.coordinator.state.topic.min.isr=1\n\
         group.initial.rebalance.delay.ms=0\n",
        data.display()
    )
}

/// `kafka-storage.sh format`: the cluster id and node id into the empty log folder.
fn format(dir: &Path) {
    let out = java(dir, "kafka.tools.StorageTool")
        .args(["format", "--cluster-id", CLUSTER_ID, "--config"])
        .arg(dir.join("server.properties"))
        .output()
        .expect("run java (Java 17 or newer)");
    assert!(
        out.status.success(),
        "formatting the Kafka storage failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `kafka-server-start.sh server.properties`, until it accepts clients.
fn launch(dir: &Path, port: u16) -> Child {
    let stdout = std::fs::File::create(dir.join("stdout.log")).unwrap();
    let child = java(dir, "kafka.Kafka")
        .arg(dir.join("server.properties"))
        .stdout(stdout.try_clone().unwrap())
        .stderr(stdout)
        .spawn()
        .expect("run java (Java 17 or newer)");
    std::fs::write(dir.join("pid"), child.id().to_string()).unwrap();
    let deadline = Instant::now() + START_TIMEOUT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "Kafka did not start: {}", log_tail(dir));
        thread::sleep(Duration::from_millis(50));
    }
    child
}

/// The JVM with the broker's jars and the options of the distribution's scripts
/// (`kafka-run-class.sh`), with a smaller heap.
fn java(dir: &Path, main: &str) -> Command {
    let mut java = Command::new("java");
    java.args(JVM_OPTIONS)
        .arg(format!("-Dlog4j2.configurationFile={}", dir.join("log4j2.properties").display()))
        .arg("-cp")
        .arg(jars().join("*"))
        .arg(main)
        .stdin(Stdio::null());
    java
}

/// The folder of the broker's jars: `KAFKA_JARS`, else where `tests/support/kafka.sh` puts
/// those of the version docker-compose.yml runs.
fn jars() -> PathBuf {
    if let Some(jars) = std::env::var_os("KAFKA_JARS") {
        return PathBuf::from(jars);
    }
    let version = compose_version();
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .expect("HOME or XDG_CACHE_HOME");
    let jars = cache.join(format!("websocketchat/kafka-{version}/jars"));
    assert!(
        jars.join(format!("kafka_2.13-{version}.jar")).exists(),
        "no Kafka {version} jars in {}: run tests/topology/run.sh, or source \
         tests/support/kafka.sh (it fetches them)",
        jars.display()
    );
    jars
}

/// The version of `image: apache/kafka:<version>` in docker-compose.yml.
fn compose_version() -> String {
    let compose = include_str!("../../docker-compose.yml");
    let image = compose.lines().find_map(|l| l.trim().strip_prefix("image: apache/kafka:"));
    image.expect("docker-compose.yml runs apache/kafka:<version>").trim().to_string()
}

/// The last lines the broker in `dir` logged.
fn log_tail(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// log4j 2 writes the broker's log to `server.log` in its folder.
fn log_config(dir: &Path) -> String {
    format!(
        "rootLogger.level=INFO\n\
         rootLogger.appenderRef.file.ref=file\n\
         appender.file.type=File\n\
         appender.file.name=file\n\
         appender.file.fileName={}\n\
         appender.file.layout.type=PatternLayout\n\
         appender.file.layout.pattern=[%d] %p %m (%c)%n\n",
        dir.join("server.log").display()
    )
}

/// Kills the broker (whose pid `launch` keeps in `dir/pid`) and removes `dir` once this test
/// process has ended, however it ended.
fn watch(dir: &Path) {
    let d = dir.display();
    let script = format!(
        "while kill -0 {} 2>/dev/null; do sleep 1; done; \
         kill -9 $(cat {d}/pid 2>/dev/null) 2>/dev/null; sleep 1; rm -rf {d}",
        std::process::id()
    );
    let mut watchdog = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the broker's watchdog");
    // It outlives this process; a thread waits for it meanwhile, as for any child.
    thread::spawn(move || watchdog.wait());
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The cluster id the apache/kafka image formats with when `CLUSTER_ID` is not set (the same as
/// `KAFKA_CLUSTER_ID` in `kafka.sh`, which the bench starts its broker with).
const CLUSTER_ID: &str = "5L6g3nShT-eMCtK--X86sw";
/// (`KAFKA_JVM_OPTS` in `kafka.sh`, for the bench.) What `kafka-run-class.sh` passes (G1 with short pauses, headless), with a heap of 512 MiB
/// instead of `kafka-server-start.sh`'s 1 GiB: plenty for a test's few records.
const JVM_OPTIONS: [&str; 6] = [
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
];
/// How long the broker may take to accept clients (about 2 s on 2 cores).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a clean stop may take before SIGKILL (docker stop's default).
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
