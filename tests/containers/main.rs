//! `make up` as a user runs it: the project's Dockerfile built and docker-compose.yml started, with
//! podman as the engine. tests/containers/run.sh prepares everything (podman, the stand-in base
//! images, podman's Docker-compatible API, a copy of the project with an empty `certs/`, the
//! healthcheck loop, the published ports) and says what is real and what is a stand-in.
//!
//! The checks, in order: `make up` from an empty `certs/` builds the image (at most 30 MB, no
//! shell) and starts everything; the `certs` service made the certificate, given to the owner of
//! `certs/`; both servers run as uid 10001 and are healthy through the image's own HEALTHCHECK;
//! clients through nginx and on each instance see one conversation in one order; `docker-compose
//! restart kafka` keeps the topic and its history in the `kafka-data` volume and both servers
//! resume ([`kafka_restart`]); `podman stop` of one server drains it (newcomers land on the
//! other), closes its clients with 1001 and exits 0 within compose's stop grace period; `make
//! down` and a second `make up` with the certificates already there (a key of mode 0600 owned by
//! someone else) work too, with a bot in `.env` whose post through nginx reaches a client, and
//! so does a third with `BACKEND_TLS=false` (plain HTTP between nginx
//! and the instances). The image run alone (no Kafka) keeps its history in its volume across a
//! SIGKILL and a start.

mod kafka_restart;
#[path = "../support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::thread;
use std::time::{Duration, Instant};

use support::{Client, https_status, ids_and_texts, wait_until_healthy, ws_client, wss_client};

/// The compose project run.sh set up.
struct Deployment {
    dir: PathBuf,
    project: String,
}

impl Deployment {
    fn from_env() -> Deployment {
        let var = |name: &str| {
            std::env::var(name)
                .unwrap_or_else(|_| panic!("{name} unset: run tests/containers/run.sh"))
        };
        Deployment { dir: PathBuf::from(var("CT_DIR")), project: var("CT_PROJECT") }
    }

    /// `make TARGET` in the project copy, bounded in time; panics with its output on failure.
    fn make(&self, target: &str) -> String {
        self.make_with(target, &[])
    }

    /// `make TARGET` with more environment variables.
    fn make_with(&self, target: &str, env: &[(&str, &str)]) -> String {
        let mut make = Command::new("timeout");
        make.args(["900", "make", target]).current_dir(&self.dir);
        make.envs(env.iter().copied());
        let out = run(&mut make, "make");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `docker-compose ARGS` in the project copy (the compose of `make`), bounded in time.
    fn compose(&self, args: &[&str]) {
        let compose = std::env::var("COMPOSE").unwrap_or_else(|_| "docker-compose".into());
        let mut command = Command::new("timeout");
        command.arg("300").args(compose.split_whitespace()).args(args).current_dir(&self.dir);
        run(&mut command, "compose");
    }

    /// The id of the running container of `service`.
    fn container(&self, service: &str) -> String {
        let out = podman(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
        ]);
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(!id.is_empty() && !id.contains('\n'), "one running {service} container: {id:?}");
        id
    }

    fn port(var: &str) -> u16 {
        std::env::var(var).unwrap().parse().unwrap()
    }

    fn nginx(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], Deployment::port("HTTPS_PORT")))
    }

    fn instance(&self, n: usize) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], Deployment::port(&format!("WS{n}_PORT"))))
    }

    fn cert(&self) -> PathBuf {
        self.dir.join("certs/cert.pem")
    }

    fn connect(&self, addr: SocketAddr, name: &str) -> Client {
        wss_client(addr, &format!("name={name}"), &self.cert())
    }

    /// Waits until nginx answers `/healthz` with 200 (it starts last).
    fn wait_for_nginx(&self) {
        wait_until_healthy(self.nginx(), &self.cert(), Duration::from_secs(60));
    }

    /// Both servers healthy and nginx up: one client through nginx hears its own message.
    fn chat_through_nginx(&self, text: &str) {
        for service in ["ws1", "ws2"] {
            healthy(&self.container(service));
        }
        self.wait_for_nginx();
        let mut client = self.connect(self.nginx(), "checker");
        client.welcome();
        client.say(text);
        assert_eq!(client.next_of("message")["text"], text);
    }

    /// Sets `name=value` in the project's .env (the line there, or a new one).
    fn set_env(&self, name: &str, value: &str) {
        let path = self.dir.join(".env");
        let env = std::fs::read_to_string(&path).unwrap();
        let line = format!("{name}={value}");
        let mut lines: Vec<String> = env
            .lines()
            .map(|l| if l.starts_with(&format!("{name}=")) { line.clone() } else { l.to_string() })
            .collect();
        if !lines.contains(&line) {
            lines.push(line);
        }
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    }

    fn logs(&self, container: &str) -> String {
        let out = podman(&["logs", container]);
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }
}

#[test]
fn make_up_runs_the_chat_from_an_empty_certs_folder() {
    let deployment = Deployment::from_env();
    let certs = deployment.dir.join("certs");
    assert!(!certs.exists(), "a fresh clone has no certs/");
    // certs/ as a user made it: someone else than root (the uid the certs service runs as).
    std::fs::create_dir(&certs).unwrap();
    std::os::unix::fs::chown(&certs, Some(USER), Some(USER)).unwrap();

    let started = Instant::now();
    deployment.make("up");
    println!("make up (build and start): {:.0?}", started.elapsed());

    image_is_small_and_has_no_shell();
    alone_it_keeps_its_history_in_its_volume();
    for file in ["cert.pem", "key.pem"] {
        let meta = std::fs::metadata(certs.join(file)).expect("the certs service wrote it");
        assert_eq!(meta.uid(), USER, "{file} belongs to the owner of certs/");
    }
    let key_mode = std::fs::metadata(certs.join("key.pem")).unwrap().permissions().mode();
    assert_eq!(key_mode & 0o777, 0o600, "the key is readable by its owner only");

    let servers = [deployment.container("ws1"), deployment.container("ws2")];
    for id in &servers {
        assert_eq!(process_uid(id), 10001, "the server runs as uid 10001, not root");
        assert_eq!(inspect(id, "{{.Config.StopTimeout}}"), "20", "compose's stop_grace_period");
        healthy(id);
    }
    let status = deployment.make("ps");
    assert!(status.contains("ws1") && status.contains("nginx"), "make ps lists them: {status}");
    deployment.wait_for_nginx();
    one_conversation(&deployment);
    kafka_restart::keeps_the_history_and_both_instances_resume(&deployment);
    stop_drains_then_closes_with_1001(&deployment, &servers);

    // Again, with the certificates already there; the key is someone else's, mode 0600. And
    // with a bot in .env, as a deployer adds one.
    deployment.make("down");
    deployment.set_env("API_TOKENS", &format!("deploy:{BOT_TOKEN}"));
    let cert_before = std::fs::read(deployment.cert()).unwrap();
    let started = Instant::now();
    deployment.make("up");
    println!("make up again (certificates kept): {:.0?}", started.elapsed());
    assert_eq!(std::fs::read(deployment.cert()).unwrap(), cert_before, "kept, not made anew");
    deployment.chat_through_nginx("after the second make up");
    a_bot_posts_through_nginx(&deployment);
    deployment.make("down");

    // BACKEND_TLS=false from the shell: the instances speak plain HTTP, nginx still TLS.
    deployment.make_with("up", &[("BACKEND_TLS", "false")]);
    deployment.chat_through_nginx("behind nginx, no TLS to the instances");
    let plain = http_get(deployment.instance(1), "/healthz");
    assert!(plain.starts_with("HTTP/1.1 200 "), "plain HTTP on ws1: {plain}");
    deployment.make("down");
}

/// The bots' HTTP API as shipped: a post through nginx, to whichever instance nginx picks, is
/// answered `201` once the broker has it, and a client through nginx gets it under that id,
/// marked `"bot":true`; a wrong token is `401`.
fn a_bot_posts_through_nginx(deployment: &Deployment) {
    let mut client = deployment.connect(deployment.nginx(), "reader");
    client.welcome();
    let post = |token: &str| {
        let bearer = format!("Bearer {token}");
        let headers = [("Authorization", bearer.as_str()), ("Content-Type", "application/json")];
        let body = r#"{"room":"general","text":"deployed from a script"}"#;
        let cert = deployment.cert();
        support::https_request(
            deployment.nginx(),
            &cert,
            "POST",
            "/api/v1/messages",
            &headers,
            body,
        )
    };
    let (status, body) = post(BOT_TOKEN);
    assert_eq!(status, 201, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let message = client.next_of("message");
    assert_eq!(
        (&message["id"], &message["text"], &message["name"], &message["bot"]),
        (
            &answer["id"],
            &serde_json::json!("deployed from a script"),
            &serde_json::json!("deploy"),
            &serde_json::json!(true)
        ),
        "{message}"
    );
    let (status, body) = post("wrong-token-0123456789abcdefghijklmnopqrstuvwxyz");
    assert_eq!(status, 401, "{body}");
}

/// The bot of `a_bot_posts_through_nginx`, in .env from the second `make up` on.
const BOT_TOKEN: &str = "containers-token-0123456789abcdefghijklmnopqrstuv";

/// `GET path` over plain HTTP; the whole answer.
fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(support::READ_TIMEOUT)).unwrap();
    write!(tcp, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = tcp.read_to_string(&mut answer);
    answer
}

/// The image: at most 30 MB, and nothing in it but the server (no shell, no package manager).
fn image_is_small_and_has_no_shell() {
    let bytes: u64 = inspect_image("{{.Size}}").parse().unwrap();
    println!("image websocketchat:latest: {:.1} MB ({bytes} bytes)", bytes as f64 / 1e6);
    assert!(bytes <= 30_000_000, "the image is {bytes} bytes, more than 30 MB");
    let user = inspect_image("{{.Config.User}}");
    assert!(user.starts_with("10001"), "the image runs as 10001: {user:?}");
    let healthcheck = inspect_image("{{.Config.Healthcheck.Test}}");
    assert!(healthcheck.contains("websocketchat healthcheck"), "{healthcheck}");
    let shell = Command::new("podman")
        .args(["run", "--rm", "--entrypoint", "/bin/sh", "websocketchat:latest", "-c", "true"])
        .output()
        .unwrap();
    assert!(!shell.status.success(), "the image has no /bin/sh");
}

/// The image run alone, as `docker run` starts it (no Kafka): its history lives in its volume
/// (`/app/data`, writable by uid 10001) and outlives a SIGKILL of the container and a start.
fn alone_it_keeps_its_history_in_its_volume() {
    let name = "websocketchat-alone";
    let remove = || {
        let _ = Command::new("podman").args(["rm", "-f", name]).output();
        let _ = Command::new("podman").args(["volume", "rm", "-f", name]).output();
    };
    remove();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let volume = format!("{name}:/app/data");
    let env = ["-e", "BACKEND_TLS=false", "-e", "HOST=127.0.0.1", "-e"];
    let port_var = format!("PORT={port}");
    let mut args = vec!["run", "-d", "--name", name, "--network", "host", "-v", &volume];
    args.extend(env);
    args.extend([port_var.as_str(), "websocketchat:latest"]);
    podman(&args);
    let answering = || {
        let deadline = Instant::now() + Duration::from_secs(30);
        // Refused until the server listens: only a 200 means it is up.
        let up = || {
            TcpStream::connect(addr).is_ok()
                && http_get(addr, "/healthz").starts_with("HTTP/1.1 200 ")
        };
        while !up() {
            assert!(Instant::now() < deadline, "the lone server did not answer: {}", {
                let out = podman(&["logs", name]);
                String::from_utf8_lossy(&out.stderr).into_owned()
            });
            thread::sleep(Duration::from_millis(200));
        }
    };
    answering();
    let mut client = ws_client(addr, "name=keeper");
    let epoch = client.welcome()["epoch"].as_str().unwrap().to_string();
    client.say("kept across a kill");
    let said = client.next_of("message");
    drop(client);

    podman(&["kill", "--signal", "KILL", name]);
    podman(&["start", name]);
    answering();
    let mut again = ws_client(addr, "name=reader");
    let history = again.welcome();
    assert_eq!(history["epoch"], epoch.as_str(), "the same epoch after the restart");
    let messages = history["messages"].as_array().unwrap();
    assert_eq!(ids_and_texts(messages), ids_and_texts([&said]), "{history}");
    assert_eq!(history["complete"], true);
    remove();
}

/// Two clients through nginx and one on each instance: everyone sees the same messages with
/// the same ids in the same order.
fn one_conversation(deployment: &Deployment) {
    let mut clients = vec![
        deployment.connect(deployment.nginx(), "n1"),
        deployment.connect(deployment.nginx(), "n2"),
        deployment.connect(deployment.instance(1), "d1"),
        deployment.connect(deployment.instance(2), "d2"),
    ];
    for c in &mut clients {
        c.welcome();
    }
    for round in 0..3 {
        for (i, c) in clients.iter_mut().enumerate() {
            c.say(&format!("c{i}-{round}"));
        }
    }
    let seen: Vec<Vec<(u64, String)>> =
        clients.iter_mut().map(|c| ids_and_texts(&c.messages(12))).collect();
    for (i, s) in seen.iter().enumerate() {
        assert_eq!(s, &seen[0], "client {i} saw another order");
    }
    assert!(seen[0].windows(2).all(|w| w[0].0 < w[1].0), "ids increase: {:?}", seen[0]);
}

/// `podman stop` of ws1: it answers 503 to newcomers while it drains (nginx sends them to ws2),
/// then its clients get 1001 and it exits 0 within the stop grace period.
fn stop_drains_then_closes_with_1001(deployment: &Deployment, servers: &[String; 2]) {
    let mut on_ws1 = deployment.connect(deployment.instance(1), "leaving");
    on_ws1.welcome();
    let stopped = Instant::now();
    let mut stop = Command::new("podman").args(["stop", &servers[0]]).spawn().unwrap();

    let deadline = Instant::now() + Duration::from_secs(3);
    while https_status(deployment.instance(1), "/healthz", &deployment.cert()) != Some(503) {
        assert!(Instant::now() < deadline, "ws1 did not start draining");
        thread::sleep(Duration::from_millis(50));
    }
    // Newcomers through nginx while ws1 drains: every one lands on ws2.
    let mut late = Vec::new();
    for i in 0..4 {
        let name = format!("late{i}");
        let mut client = deployment.connect(deployment.nginx(), &name);
        client.welcome();
        late.push((name, client));
    }
    assert!(stopped.elapsed() < Duration::from_secs(DRAIN_SECS), "still within the drain");
    let (logs1, logs2) = (deployment.logs(&servers[0]), deployment.logs(&servers[1]));
    for (name, _) in &late {
        assert!(logs2.contains(&format!("{name} connected")), "{name} not on ws2:\n{logs2}");
        assert!(!logs1.contains(&format!("{name} connected")), "{name} on the draining ws1");
    }

    assert_eq!(on_ws1.close_code(), 1001);
    assert!(stopped.elapsed() >= Duration::from_secs(DRAIN_SECS - 1), "closed before the drain");
    let status = stop.wait().unwrap();
    assert!(status.success(), "podman stop: {status:?}");
    let took = stopped.elapsed();
    println!("podman stop ws1: exited after {took:.1?}");
    assert!(took < Duration::from_secs(20), "past the stop grace period: {took:?}");
    assert_eq!(inspect(&servers[0], "{{.State.ExitCode}}"), "0", "ws1 exits 0");
    assert!(deployment.logs(&servers[0]).contains("draining for"), "the drain is logged");
}

/// The HEALTHCHECK of the image, run as the engine runs it.
fn healthy(id: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = Command::new("podman").args(["healthcheck", "run", id]).output().unwrap();
        if out.status.success() {
            return;
        }
        assert!(Instant::now() < deadline, "{id} not healthy: {out:?}");
        thread::sleep(Duration::from_secs(1));
    }
}

/// The user id the container's main process runs as, from /proc.
fn process_uid(id: &str) -> u32 {
    let pid = inspect(id, "{{.State.Pid}}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(2).unwrap().parse().unwrap() // the effective uid
}

fn inspect(id: &str, format: &str) -> String {
    let out = podman(&["inspect", "--format", format, id]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn inspect_image(format: &str) -> String {
    let out = podman(&["image", "inspect", "--format", format, "websocketchat:latest"]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn podman(args: &[&str]) -> Output {
    run(Command::new("podman").args(args), "podman")
}

fn run(command: &mut Command, what: &str) -> Output {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The owner the test gives `certs/`, as a user other than root would have it.
const USER: u32 = 4321;
/// DRAIN_SECS as docker-compose.yml sets it for the servers.
const DRAIN_SECS: u64 = 5;
