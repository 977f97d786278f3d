//! The deployment of docker-compose.yml, run natively: Apache Kafka (the version compose runs,
//! one KRaft node, [`support::kafka`]), two instances `ws1` and `ws2`, and nginx with the very
//! `nginx/nginx.conf` that compose uses.
//!
//! nginx.conf names the instances `ws1:8443` and `ws2:8443`, as compose's network does. Here nginx
//! runs in its own mount namespace (`unshare -m`) where a private `/etc/hosts` maps `ws1` to
//! 127.0.0.2 and `ws2` to 127.0.0.3 (all of 127.0.0.0/8 is loopback), and each instance listens on
//! its own address, port 8443. nginx listens on 443 and 80 as in compose. Needs root, Java and
//! the broker's jars (tests/topology/run.sh sets everything up). One broker serves every test of
//! this binary, each with topics of its own, so a test's records never meet another's. A second
//! test puts [`proxy`] between the server and the broker to break a produce request's connection
//! at the worst moment; [`broker`] restarts the broker under two instances;
//! [`rooms`] runs rooms over the partitioned topic on both instances; [`identity`] nicknames,
//! sessions and private messages across them; [`changes`] edits, deletions, reactions and read
//! markers across them, and an operator's deletion; [`moderation`] an operator's bans, mutes and
//! notices across them and across a restart; [`nginx`] what nginx writes to its logs and shows
//! of the instances (no session in any log, no counters, a bare health status); [`limits`] the
//! per-address limits counting each client behind nginx; [`api`] the bots' HTTP API on both
//! instances and through nginx.

#[path = "../support/mod.rs"]
mod support;
mod api;
mod broker;
mod changes;
mod identity;
mod limits;
mod moderation;
mod nginx;
mod proxy;
mod rooms;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tungstenite::Message;
use tungstenite::error::Error as WsError;

use support::kafka::{Broker, topic};
use support::{Client, Server, https_status, ids_and_texts, wait_until_healthy, wss_client};

/// What the topology test builds; everything is stopped on drop.
struct Topology {
    dir: PathBuf,
    /// The chat topic of this topology's instances (`KAFKA_TOPIC`), its own on the shared broker.
    topic: String,
    instances: [Option<Server>; 2],
    nginx: Child,
    /// `OPERATORS` for the instances started from now on.
    operators: String,
}

const INSTANCE_ADDRS: [&str; 2] = ["127.0.0.2", "127.0.0.3"];
const NAMES: [&str; 2] = ["ws1", "ws2"];
/// The bot every instance knows (`API_TOKENS`), as compose would give them all the same.
const API_TOKEN: &str = "topology-token-0123456789abcdefghijklmnopqrstuvwxyz";

impl Topology {
    fn start() -> Topology {
        let dir = std::env::temp_dir().join(format!("wschat-topology-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("certs")).unwrap();
        let status = Command::new(env!("CARGO_BIN_EXE_websocketchat"))
            .arg("certs")
            .env_clear()
            .env("TLS_CERT", dir.join("certs/cert.pem"))
            .env("TLS_KEY", dir.join("certs/key.pem"))
            .status()
            .unwrap();
        assert!(status.success());

        let mut topology = Topology {
            instances: [None, None],
            nginx: start_nginx(&dir),
            dir,
            topic: topic("chat"),
            operators: String::new(),
        };
        for i in 0..2 {
            topology.start_instance(i);
        }
        topology.wait_for_nginx();
        topology
    }

    fn start_instance(&mut self, i: usize) {
        let cert = self.dir.join("certs/cert.pem").display().to_string();
        let key = self.dir.join("certs/key.pem").display().to_string();
        let brokers = Broker::shared().brokers();
        self.instances[i] = Some(Server::start_tls(&[
            ("HOST", INSTANCE_ADDRS[i]),
            ("PORT", "8443"),
            ("TLS_CERT", &cert),
            ("TLS_KEY", &key),
            ("KAFKA_ENABLED", "true"),
            ("KAFKA_BROKERS", &brokers),
            ("KAFKA_TOPIC", &self.topic),
            ("INSTANCE_ID", NAMES[i]),
            ("API_TOKENS", &format!("deploy:{API_TOKEN}")),
            ("OPERATORS", &self.operators.clone()),
            ("TRUSTED_PROXIES", "127.0.0.1"),
            ("LOG_LEVEL", "info"),
        ]));
        // Start-up includes reaching the broker; the server listens first, serves once ready.
        let deadline = Instant::now() + Duration::from_secs(30);
        while https_status(self.instance_addr(i), "/healthz", &self.cert()) != Some(200) {
            assert!(Instant::now() < deadline, "{} did not become healthy", NAMES[i]);
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn kill_instance(&mut self, i: usize) {
        // support::Server stops its process with SIGKILL when dropped.
        self.instances[i] = None;
    }

    fn instance_addr(&self, i: usize) -> SocketAddr {
        format!("{}:8443", INSTANCE_ADDRS[i]).parse().unwrap()
    }

    fn nginx_addr(&self) -> SocketAddr {
        "127.0.0.1:443".parse().unwrap()
    }

    fn cert(&self) -> PathBuf {
        self.dir.join("certs/cert.pem")
    }

    /// What nginx wrote to its access log (its standard output, as under compose).
    fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }

    /// What nginx wrote to its error log (its standard error, as under compose).
    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    fn wait_for_nginx(&self) {
        wait_until_healthy(self.nginx_addr(), &self.cert(), Duration::from_secs(20));
    }

    fn connect(&self, addr: SocketAddr, query: &str) -> Client {
        wss_client(addr, query, &self.cert())
    }

    fn broker_signal(&self, signal: &str) {
        Broker::shared().signal(signal);
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        self.instances = [None, None];
        let _ = Command::new("kill").args(["-TERM", &self.nginx.id().to_string()]).status();
        let _ = self.nginx.wait();
        // A test that failed while the broker was stopped leaves it running for the next.
        Broker::shared().signal("-CONT");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// nginx with the repository's nginx.conf, in a mount namespace whose /etc/hosts names the
/// instances as compose's network would.
fn start_nginx(dir: &Path) -> Child {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("nginx/nginx.conf");
    std::fs::copy(conf, dir.join("nginx.conf")).unwrap();
    // What docker-compose.yml's nginx command writes for BACKEND_TLS=true.
    std::fs::write(dir.join("backend.conf"), "map \"\" $backend_scheme { default https; }\n")
        .unwrap();
    let hosts =
        format!("127.0.0.1 localhost\n{} ws1\n{} ws2\n", INSTANCE_ADDRS[0], INSTANCE_ADDRS[1]);
    std::fs::write(dir.join("hosts"), hosts).unwrap();
    let d = dir.display();
    let script = format!(
        "mount --bind {d}/hosts /etc/hosts && exec nginx -p {d} -c {d}/nginx.conf \
         -g 'daemon off; pid {d}/nginx.pid;'"
    );
    let access_log = std::fs::File::create(dir.join("access.log")).unwrap();
    let error_log = std::fs::File::create(dir.join("error.log")).unwrap();
    Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .stdout(access_log)
        .stderr(error_log)
        .spawn()
        .expect("start nginx")
}

/// A client that remembers what it saw, to resume after a reconnect.
struct Member {
    name: String,
    client: Client,
    epoch: String,
    seen: Vec<(u64, String)>,
}

impl Member {
    fn join(topology: &Topology, addr: SocketAddr, name: &str) -> Member {
        let mut client = topology.connect(addr, &format!("name={name}"));
        let history = client.welcome();
        assert_eq!(history["room"], "general", "everyone starts in the default room");
        let epoch = history["epoch"].as_str().unwrap().to_string();
        Member { name: name.to_string(), client, epoch, seen: Vec::new() }
    }

    /// Reconnects (through `addr`) with `since` and `epoch`; returns the history event.
    fn rejoin(&mut self, topology: &Topology, addr: SocketAddr) -> Value {
        let since = self.seen.last().map_or(0, |(id, _)| *id);
        let query = format!("name={}&since={since}&epoch={}", self.name, self.epoch);
        self.client = topology.connect(addr, &query);
        let history = self.client.welcome();
        assert_eq!(history["room"], "general");
        for m in history["messages"].as_array().unwrap() {
            self.record(m);
        }
        history
    }

    fn record(&mut self, m: &Value) {
        self.seen.extend(ids_and_texts([m]));
    }

    /// Reads chat messages until `count` more arrived.
    fn read_messages(&mut self, count: usize) {
        for _ in 0..count {
            let m = self.client.next_of("message");
            self.record(&m);
        }
    }

    /// Reads events until the users list no longer has `name`, or the deadline passes.
    fn wait_until_gone(&mut self, name: &str, deadline: Instant) -> bool {
        self.client.ws.get_ref().tcp().set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        while Instant::now() < deadline {
            match self.client.ws.read() {
                Ok(Message::Text(t)) => {
                    let event: Value = serde_json::from_str(&t).unwrap();
                    if event["type"] == "message" {
                        self.record(&event);
                    }
                    if event["type"] == "users"
                        && !event["users"].as_array().unwrap().iter().any(|u| u == name)
                    {
                        return true;
                    }
                }
                Ok(_) => {}
                Err(WsError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        false
    }
}

#[test]
fn the_compose_topology_shows_one_conversation_and_survives_failures() {
    let mut topology = Topology::start();
    let (nginx, direct1, direct2) =
        (topology.nginx_addr(), topology.instance_addr(0), topology.instance_addr(1));

    // Three clients through nginx, one directly on each instance.
    let mut members: Vec<Member> = ["a", "b", "c"]
        .iter()
        .map(|n| Member::join(&topology, nginx, n))
        .chain([Member::join(&topology, direct1, "d1"), Member::join(&topology, direct2, "d2")])
        .collect();
    for round in 0..4 {
        for m in &mut members {
            let text = format!("{}-{round}", m.name);
            m.client.say(&text);
        }
    }
    for m in &mut members {
        m.read_messages(20);
    }
    for m in &members[1..] {
        assert_eq!(m.seen, members[0].seen, "{} saw another order than a", m.name);
    }
    let ids: Vec<u64> = members[0].seen.iter().map(|(id, _)| *id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    // SIGKILL ws1: its clients reconnect through nginx, resume with since, and miss nothing.
    topology.kill_instance(0);
    let outage_sender = members.iter().position(|m| m.name == "d2").unwrap();
    for i in 0..3 {
        let text = format!("while ws1 is down {i}");
        members[outage_sender].client.say(&text);
    }
    members[outage_sender].read_messages(3);
    let reconnect_started = Instant::now();
    for m in members.iter_mut().filter(|m| m.name != "d2") {
        // Those on ws2 still work; all rejoin through nginx, which skips the dead instance.
        let history = m.rejoin(&topology, nginx);
        assert_eq!(history["complete"], true, "{}", m.name);
    }
    let reconnect_took = reconnect_started.elapsed();
    let reference = members[outage_sender].seen.clone();
    for m in &members {
        assert_eq!(m.seen, reference, "{} missed or repeated something across the outage", m.name);
    }
    eprintln!("clients of the killed instance were back after {reconnect_took:?}");

    // d1 was only on ws1; its name leaves everyone's list within FORGET_AFTER (15 s).
    let deadline = Instant::now() + Duration::from_secs(25);
    // d1 rejoined through nginx above: disconnect it so only the dead ws1 "has" it.
    let d1 = members.iter().position(|m| m.name == "d1").unwrap();
    let gone = members.remove(d1);
    drop(gone);
    assert!(members[0].wait_until_gone("d1", deadline), "d1 still listed");

    // Broker outage: SIGSTOP for 5 s. /healthz says 503 meanwhile; every message sent meanwhile
    // is delivered once after, or its sender hears not_delivered.
    topology.broker_signal("-STOP");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut saw_503 = false;
    while Instant::now() < deadline && !saw_503 {
        saw_503 = https_status(direct2, "/healthz", &topology.cert()) == Some(503);
        thread::sleep(Duration::from_millis(200));
    }
    assert!(saw_503, "/healthz did not report the broker outage");
    for i in 0..3 {
        members[0].client.say(&format!("during the broker outage {i}"));
    }
    thread::sleep(Duration::from_secs(2));
    topology.broker_signal("-CONT");
    let mut delivered: HashMap<String, usize> = HashMap::new();
    let mut not_delivered = 0;
    members[0].client.ws.get_ref().tcp().set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    while delivered.len() + not_delivered < 3 {
        let event = members[0].client.next();
        match event["type"].as_str() {
            Some("message") if event["text"].as_str().unwrap().starts_with("during") => {
                *delivered.entry(event["text"].as_str().unwrap().to_string()).or_default() += 1;
                members[0].record(&event);
            }
            Some("error") if event["code"] == "not_delivered" => not_delivered += 1,
            _ => {}
        }
    }
    assert!(delivered.values().all(|&n| n == 1), "{delivered:?}");
    eprintln!(
        "broker outage: {} delivered after it, {not_delivered} not_delivered",
        delivered.len()
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while https_status(direct2, "/healthz", &topology.cert()) != Some(200) {
        assert!(Instant::now() < deadline, "/healthz did not recover");
        thread::sleep(Duration::from_millis(200));
    }

    // A longer outage than DELIVERY_TIMEOUT (10 s): the sender hears not_delivered. A stalled
    // broker may still have the record in its socket buffer, so it may appear when the broker
    // resumes (a timeout cannot tell); it appears at most once, to everyone alike, and the
    // producer works again.
    topology.broker_signal("-STOP");
    members[0].client.say("sent into a long outage");
    let error = members[0].client.next_of("error");
    assert_eq!(error["code"], "not_delivered", "{error}");
    topology.broker_signal("-CONT");
    // Give the connections a few probe rounds (every 2 s) to find the broker again.
    thread::sleep(Duration::from_secs(6));
    members[0].client.say("after the long outage");
    let mut tails = Vec::new();
    for m in &mut members {
        // The producer may have to reconnect first.
        m.client.ws.get_ref().tcp().set_read_timeout(Some(Duration::from_secs(40))).unwrap();
        let mut tail = Vec::new();
        loop {
            let event = m.client.next_of("message");
            m.record(&event);
            tail.push(event["text"].as_str().unwrap().to_string());
            if event["text"] == "after the long outage" {
                break;
            }
        }
        // The others had not read the short outage's messages yet.
        tail.retain(|t| !t.starts_with("during the broker outage"));
        assert!(tail.len() <= 2, "{} saw {tail:?}", m.name);
        tails.push(tail);
    }
    assert!(tails.windows(2).all(|w| w[0] == w[1]), "{tails:?}");
    eprintln!("long outage: the timed-out message appeared {} time(s)", tails[0].len() - 1);

    // Restart both instances: the history comes back from the topic, same ids, same epoch; and
    // the sessions and their names from the claims topic.
    let before = members[0].seen.clone();
    let epoch = members[0].epoch.clone();
    let hello = members[0].client.hello.clone();
    drop(members);
    topology.kill_instance(0);
    topology.kill_instance(1);
    topology.start_instance(0);
    topology.start_instance(1);
    topology.wait_for_nginx();
    let mut late = topology.connect(nginx, "name=late");
    let history = late.welcome();
    assert_eq!(history["epoch"], epoch.as_str());
    let replayed = ids_and_texts(history["messages"].as_array().unwrap());
    assert_eq!(replayed, before, "the history rebuilt from the topic is what clients saw");
    for addr in [direct1, direct2] {
        let mut again =
            topology.connect(addr, &format!("session={}", hello["session"].as_str().unwrap()));
        again.welcome();
        assert_eq!((&again.hello["user"], &again.hello["name"]), (&hello["user"], &hello["name"]));
    }
}

/// The Kafka client has no idempotent producer, and it sends a produce request again when the
/// connection broke before the answer: the broker may then hold the record twice. Each chat
/// record's uid makes every instance deliver it once, live and in a history rebuilt from the
/// topic, under its first offset.
#[test]
fn a_produce_retried_after_a_broken_connection_is_delivered_once() {
    // The broker's listener that tells clients to come back through the proxy.
    let broker = Broker::shared();
    let proxy = proxy::Proxy::start(broker.take_proxy_listener(), broker.proxied);
    let brokers = format!("127.0.0.1:{}", proxy.port);
    let topic = topic("retries");
    let instance = |id: &str| {
        let server = Server::start(&[
            ("KAFKA_ENABLED", "true"),
            ("KAFKA_BROKERS", &brokers),
            ("KAFKA_TOPIC", &topic),
            ("INSTANCE_ID", id),
            ("LOG_LEVEL", "info"),
        ]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !server.get("/healthz").starts_with("HTTP/1.1 200") {
            assert!(Instant::now() < deadline, "{id} did not become healthy: {}", server.log());
            thread::sleep(Duration::from_millis(100));
        }
        server
    };
    let first = instance("one");
    let mut alice = first.connect("/ws?name=alice");
    alice.welcome();

    proxy.cut_produce_of("cut-me");
    alice.say("cut-me");
    let cut = alice.next_of("message");
    alice.say("after");
    let after = alice.next_of("message");
    let seen = ids_and_texts(&[cut, after]);
    assert_eq!(seen.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>(), ["cut-me", "after"]);
    // The copy sits between them in the topic: the retry really appended a second record.
    assert_eq!(seen[1].0, seen[0].0 + 2, "{seen:?}; log: {}", first.log());

    // A new instance rebuilds its history from the topic, in the background after it starts.
    let second = instance("two");
    let deadline = Instant::now() + Duration::from_secs(10);
    let replayed = loop {
        let history = second.connect("/ws?name=bob").welcome();
        let replayed = ids_and_texts(history["messages"].as_array().unwrap());
        if replayed.len() >= seen.len() || Instant::now() > deadline {
            break replayed;
        }
        thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(replayed, seen, "the history rebuilt from the topic");
}
