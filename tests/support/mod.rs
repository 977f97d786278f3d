//! Test helpers: the real server binary on 127.0.0.1 with an ephemeral port, and real clients.
//!
//! Every read has a timeout, so a bug fails a test instead of hanging it.

#![allow(dead_code)] // each test module uses a different subset

pub mod api;
pub mod deflate;
pub mod kafka;
pub mod wire;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use serde_json::Value;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

/// How long any single read may wait.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `websocketchat` process, stopped (killed) on drop, which also removes its folder.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub tls: bool,
    /// Its working directory: certificates and the default `HISTORY_DIR` (`data`) live there.
    pub dir: PathBuf,
    /// The variables it was started with on top of the defaults, for [`Server::restart`].
    env: Vec<(String, String)>,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts the server without TLS; `env` overrides the defaults.
    pub fn start(env: &[(&str, &str)]) -> Server {
        Server::start_in(fresh_dir(), env)
    }

    /// Starts the server without TLS in `dir`, an existing folder (removed on drop).
    pub fn start_in(dir: PathBuf, env: &[(&str, &str)]) -> Server {
        Server::launch(false, dir, env)
    }

    /// Starts the server with TLS (a self-signed certificate made in its directory).
    pub fn start_tls(env: &[(&str, &str)]) -> Server {
        Server::launch(true, fresh_dir(), env)
    }

    /// Runs a start in `dir` that is meant to fail: its exit status and everything it wrote on
    /// stderr. Fails the test if the server is still running after [`READ_TIMEOUT`].
    pub fn start_failing(dir: &Path, env: &[(&str, &str)]) -> (ExitStatus, String) {
        let mut child = command(false, dir, env).spawn().expect("start the server binary");
        let mut stderr = child.stderr.take().unwrap();
        // Read while it runs, so a chatty server cannot block on a full pipe.
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let deadline = Instant::now() + READ_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server kept running: {}", reader.join().unwrap());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        (status, reader.join().unwrap())
    }

    fn launch(tls: bool, dir: PathBuf, env: &[(&str, &str)]) -> Server {
        let (child, addr, log) = spawn(tls, &dir, env);
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Server { child, addr, tls, dir, env, log }
    }

    /// Kills the server with SIGKILL, as a crash or the OOM killer would, and waits for it: it
    /// gets no chance to write or sync anything more. Nothing happens if it has already exited.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        self.child.wait().unwrap();
    }

    /// Starts the server again in the same folder with the same settings, killing it first if
    /// it still runs. It listens on a new port; `addr` and the log are the new run's.
    pub fn restart(&mut self) {
        self.kill();
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (&k[..], &v[..])).collect();
        (self.child, self.addr, self.log) = spawn(self.tls, &self.dir, &env);
    }

    /// Starts the server again in the same folder with `more` settings added (or changed), as a
    /// deployer restarts it with a new configuration.
    pub fn restart_with(&mut self, more: &[(&str, &str)]) {
        for (name, value) in more {
            self.env.retain(|(key, _)| key != name);
            self.env.push((name.to_string(), value.to_string()));
        }
        self.restart();
    }

    /// The server's resident memory now, in KiB (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// The most resident memory the server has had so far, in KiB (`VmHWM`): what a moment's
    /// allocation cost, even once freed.
    pub fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with(field)).expect(field);
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// The server process's environment as it runs now (`/proc/<pid>/environ`), one
    /// `NAME=value` a line: what it started again with, if it did (`memory.rs`).
    pub fn environ(&self) -> String {
        let raw = std::fs::read(format!("/proc/{}/environ", self.child.id())).unwrap();
        String::from_utf8_lossy(&raw).replace('\0', "\n")
    }

    /// Bytes of every file in the server's store (`data/`), 0 when it has none.
    pub fn store_bytes(&self) -> u64 {
        let Ok(entries) = std::fs::read_dir(self.dir.join("data")) else { return 0 };
        entries.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum()
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// `ws://` or `wss://` URL of a path.
    pub fn ws_url(&self, path: &str) -> String {
        format!("{}://{}{path}", if self.tls { "wss" } else { "ws" }, self.addr)
    }

    /// A WebSocket client on `path` (e.g. `/ws?name=alice`), handshake done.
    pub fn connect(&self, path: &str) -> Client {
        self.try_connect(path).expect("WebSocket handshake")
    }

    /// A chat client on `/ws?<query>` that has read its hello and the default room's history.
    pub fn joined(&self, query: &str) -> Client {
        let mut client = self.connect(&format!("/ws?{query}"));
        client.welcome();
        client
    }

    /// Like `connect`, but returns the handshake error.
    pub fn try_connect(&self, path: &str) -> Result<Client, tungstenite::Error> {
        self.try_connect_with(path, &[])
    }

    /// A WebSocket client on `path` whose upgrade request carries `headers` too.
    pub fn connect_with(&self, path: &str, headers: &[(&str, &str)]) -> Client {
        self.try_connect_with(path, headers).expect("WebSocket handshake")
    }

    /// A WebSocket client on `path` from the loopback address `source` (each address of
    /// 127.0.0.0/8 is another client to the per-address limits).
    pub fn connect_from(&self, source: IpAddr, path: &str) -> Client {
        self.try_connect_from(source, path).expect("WebSocket handshake")
    }

    /// Like `connect_from`, but returns the handshake error.
    pub fn try_connect_from(
        &self,
        source: IpAddr,
        path: &str,
    ) -> Result<Client, tungstenite::Error> {
        self.upgrade(self.stream_from(source), path, &[])
    }

    /// A chat client from `source` that has read its hello and the default room's history.
    pub fn joined_from(&self, source: IpAddr, query: &str) -> Client {
        let mut client = self.connect_from(source, &format!("/ws?{query}"));
        client.welcome();
        client
    }

    /// Like `connect_with`, but returns the handshake error.
    pub fn try_connect_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Client, tungstenite::Error> {
        self.upgrade(self.stream(), path, headers)
    }

    fn upgrade(
        &self,
        stream: Stream,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Client, tungstenite::Error> {
        use tungstenite::client::IntoClientRequest;
        use tungstenite::http::{HeaderName, HeaderValue};
        let config = WebSocketConfig::default().max_message_size(Some(64 << 20));
        let mut request = self.ws_url(path).into_client_request()?;
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
            request.headers_mut().append(name, HeaderValue::from_str(value).unwrap());
        }
        let (ws, _) = tungstenite::client::client_with_config(request, stream, Some(config))
            .map_err(|e| match e {
                tungstenite::HandshakeError::Failure(e) => e,
                tungstenite::HandshakeError::Interrupted(_) => panic!("handshake interrupted"),
            })?;
        Ok(Client { ws, hello: Value::Null })
    }

    /// A connected stream (TLS when the server has it), with timeouts.
    pub fn stream(&self) -> Stream {
        let tcp = self.tcp();
        if !self.tls {
            return Stream::Plain(tcp);
        }
        tls_stream(tcp, &self.dir.join("certs/cert.pem"))
    }

    /// A connected stream from the loopback address `source`.
    pub fn stream_from(&self, source: IpAddr) -> Stream {
        let tcp = self.tcp_from(source);
        if !self.tls {
            return Stream::Plain(tcp);
        }
        tls_stream(tcp, &self.dir.join("certs/cert.pem"))
    }

    /// A plain TCP connection from the loopback address `source`, with timeouts.
    pub fn tcp_from(&self, source: IpAddr) -> TcpStream {
        let tcp = tcp_from(source, self.addr).unwrap();
        tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        tcp.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
        tcp
    }

    /// A plain TCP connection with timeouts.
    pub fn tcp(&self) -> TcpStream {
        let tcp = TcpStream::connect(self.addr).unwrap();
        tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        tcp.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
        tcp
    }

    /// Sends a raw HTTP request (over TLS when on) and returns the whole answer.
    pub fn http(&self, request: &str) -> String {
        let mut stream = self.stream();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        match stream.read_to_end(&mut answer) {
            Ok(_) => {}
            // rustls reports a peer that closed without close_notify; we send one, so fail.
            Err(e) => {
                panic!("reading the answer failed: {e}; got {:?}", String::from_utf8_lossy(&answer))
            }
        }
        String::from_utf8_lossy(&answer).into_owned()
    }

    /// `GET path` and the answer.
    pub fn get(&self, path: &str) -> String {
        self.http(&format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        ))
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal();
        self.wait_exit(Duration::from_secs(10))
    }

    /// Sends SIGTERM and returns at once.
    pub fn signal(&self) {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
    }

    /// Waits for the process to exit, at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The value of a Prometheus sample line, e.g. `websocketchat_connections_open`.
    pub fn metric(&self, sample: &str) -> u64 {
        let text = self.get("/metrics");
        let prefix = format!("{sample} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {sample} in {text}"))
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TLS client stream over `tcp` that trusts the certificate in `cert` for the name `localhost`.
/// A TCP connection to `addr` from `source` (an address of this machine, such as 127.0.0.2).
pub fn tcp_from(source: IpAddr, addr: SocketAddr) -> io::Result<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.bind(&SocketAddr::new(source, 0).into())?;
    socket.connect_timeout(&addr.into(), READ_TIMEOUT)?;
    Ok(socket.into())
}

/// The `n`th loopback address from 127.0.1.0 on: a distinct client to the per-address limits.
pub fn loopback(n: u32) -> IpAddr {
    IpAddr::from(std::net::Ipv4Addr::from(u32::from_be_bytes([127, 0, 1, 0]) + n))
}

pub fn tls_stream(tcp: TcpStream, cert: &std::path::Path) -> Stream {
    let config = websocketchat::net::tls::client_config(Some(cert)).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
}

/// A `wss://` chat client at `addr` (`/ws?query`), trusting `cert` for `localhost`, with timeouts.
pub fn wss_client(addr: SocketAddr, query: &str, cert: &std::path::Path) -> Client {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let url = format!("wss://localhost:{}/ws?{query}", addr.port());
    let (ws, _) = tungstenite::client::client(url, tls_stream(tcp, cert))
        .unwrap_or_else(|e| panic!("connecting to {addr} with {query}: {e}"));
    Client { ws, hello: Value::Null }
}

/// A `ws://` chat client at `addr` (`/ws?query`), with timeouts.
pub fn ws_client(addr: SocketAddr, query: &str) -> Client {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let url = format!("ws://{addr}/ws?{query}");
    let (ws, _) = tungstenite::client::client(url, Stream::Plain(tcp))
        .unwrap_or_else(|e| panic!("connecting to {addr} with {query}: {e}"));
    Client { ws, hello: Value::Null }
}

/// Waits, at most `limit`, until `GET /healthz` over TLS at `addr` answers 200.
pub fn wait_until_healthy(addr: SocketAddr, cert: &std::path::Path, limit: Duration) {
    let deadline = Instant::now() + limit;
    while https_status(addr, "/healthz", cert) != Some(200) {
        assert!(Instant::now() < deadline, "{addr} did not answer /healthz with 200");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Chat message events as `(id, text)` pairs, to compare what clients saw.
pub fn ids_and_texts<'a>(messages: impl IntoIterator<Item = &'a Value>) -> Vec<(u64, String)> {
    messages
        .into_iter()
        .map(|m| (m["id"].as_u64().unwrap(), m["text"].as_str().unwrap().to_string()))
        .collect()
}

/// The texts of a `history` event's messages, oldest first.
pub fn history_texts(history: &Value) -> Vec<&str> {
    let messages = history["messages"].as_array().expect("a history has messages");
    messages.iter().map(|m| m["text"].as_str().unwrap()).collect()
}

/// The status code of `GET path` over TLS (trusting `cert` for `localhost`), or None when
/// nothing answers.
pub fn https_status(addr: SocketAddr, path: &str, cert: &std::path::Path) -> Option<u16> {
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut stream = tls_stream(tcp, cert);
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).split(' ').nth(1)?.parse().ok()
}

/// One request over TLS to `addr` (trusting `cert`), with `Connection: close`: `method path`,
/// the extra `headers`, and `body` (with its `Content-Length`). The status and the body.
pub fn https_request(
    addr: SocketAddr,
    cert: &std::path::Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut stream = tls_stream(tcp, cert);
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_string();
    (status, body)
}

/// The server command in `dir`: a clean environment with the test defaults, then `env`.
fn command(tls: bool, dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_websocketchat"));
    cmd.current_dir(dir)
        .env_clear()
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("BACKEND_TLS", if tls { "true" } else { "false" })
        .env("LOG_LEVEL", "debug")
        .env("RATE_LIMIT_PER_SEC", "1000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Starts the server in `dir` and waits until it listens: the process, its address, its log.
fn spawn(tls: bool, dir: &Path, env: &[(&str, &str)]) -> (Child, SocketAddr, Arc<Mutex<String>>) {
    let mut child = command(tls, dir, env).spawn().expect("start the server binary");
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.split("listening on ").nth(1) {
                let _ = tx.send(url.to_string());
            }
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    let url = rx.recv_timeout(READ_TIMEOUT).unwrap_or_else(|_| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("server did not start: {}", log.lock().unwrap())
    });
    let addr = url.split("://").nth(1).unwrap().trim().parse().unwrap();
    (child, addr, log)
}

/// The next event of type `kind` that `client`'s session sent, skipping others' (none may be
/// an error).
pub fn own(client: &mut Client, kind: &str) -> Value {
    loop {
        let event = next_event(client);
        assert_ne!(event["type"], "error", "{event}");
        if event["type"] == kind && event["user"] == client.hello["user"] {
            return event;
        }
    }
}

/// Every way of saying something in `room` about message `id`: a message, a reply to it, an
/// edit of it, a reaction to it (what a mute refuses).
pub fn sayings(room: &str, id: &Value) -> [Value; 4] {
    [
        serde_json::json!({"type": "message", "room": room, "text": "spam"}),
        serde_json::json!({"type": "message", "room": room, "text": "re", "reply_to": id}),
        serde_json::json!({"type": "edit", "room": room, "id": id, "text": "spam"}),
        serde_json::json!({"type": "react", "room": room, "id": id, "emoji": "👍", "on": true}),
    ]
}

/// The next event of `client` that is not about who is in a room (users, join, leave,
/// presence).
pub fn next_event(client: &mut Client) -> Value {
    loop {
        let event = client.next();
        if !matches!(event["type"].as_str(), Some("users" | "join" | "leave" | "presence")) {
            return event;
        }
    }
}

/// A new empty folder under the system's temporary directory.
pub fn fresh_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("wschat-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A client stream: plain TCP or rustls over TCP.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// A WebSocket client speaking the chat's JSON.
pub struct Client {
    pub ws: WebSocket<Stream>,
    /// The `hello` it got, once [`Client::welcome`] read it.
    pub hello: Value,
}

impl Client {
    /// Sends a chat message.
    pub fn say(&mut self, text: &str) {
        let json = serde_json::json!({"type": "message", "text": text}).to_string();
        self.ws.send(Message::text(json)).unwrap();
    }

    /// Sends a chat message to a room.
    pub fn say_in(&mut self, room: &str, text: &str) {
        self.request(serde_json::json!({"type": "message", "room": room, "text": text}));
    }

    /// Sends a JSON request.
    pub fn request(&mut self, request: Value) {
        self.ws.send(Message::text(request.to_string())).unwrap();
    }

    /// Subscribes to `room` and reads up to its history, which it returns (the room's users
    /// list comes next).
    pub fn subscribe(&mut self, room: &str) -> Value {
        self.request(serde_json::json!({"type": "subscribe", "room": room}));
        let history = self.next_of("history");
        assert_eq!(history["room"], room.to_ascii_lowercase(), "{history}");
        history
    }

    /// The session its `hello` gave.
    pub fn session(&self) -> &str {
        self.hello["session"].as_str().expect("welcomed")
    }

    /// Sends a raw message.
    pub fn send(&mut self, message: Message) {
        self.ws.send(message).unwrap();
    }

    /// The next JSON event (pings are answered and skipped).
    pub fn next(&mut self) -> Value {
        loop {
            match self.ws.read() {
                Ok(Message::Text(text)) => return serde_json::from_str(&text).unwrap(),
                Ok(Message::Ping(_) | Message::Pong(_)) => {}
                other => panic!("expected a JSON event, got {other:?}"),
            }
        }
    }

    /// The next event of a type, skipping others.
    pub fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let event = self.next();
            if event["type"] == kind {
                return event;
            }
        }
    }

    /// Reads the hello and the history that open every chat connection; returns the history. The
    /// users list that comes third is left for the caller (`next`, `next_of("users")`).
    pub fn welcome(&mut self) -> Value {
        let hello = self.next();
        assert_eq!(hello["type"], "hello", "{hello}");
        self.hello = hello;
        loop {
            let event = self.next();
            match event["type"].as_str() {
                Some("history") => return event,
                // With several instances a claim of the name may lose to another instance's, at
                // any moment; an expired session is told right after the hello.
                Some("renamed") => self.hello["name"] = event["name"].clone(),
                Some("error") if event["code"] == "session_expired" => {}
                _ => panic!("expected the history after the hello, got {event}"),
            }
        }
    }

    /// The texts of the next `count` messages from `name`, skipping everyone else's; ids must
    /// strictly increase within each room.
    pub fn texts_from(&mut self, name: &str, count: usize) -> Vec<String> {
        let mut last_ids = std::collections::HashMap::new();
        let mut texts = Vec::new();
        while texts.len() < count {
            let message = self.next_of("message");
            let id = message["id"].as_u64().unwrap();
            let last = last_ids.entry(message["room"].to_string()).or_insert(0);
            assert!(id > *last, "ids strictly increase within a room: {message}");
            *last = id;
            if message["name"] == name {
                texts.push(message["text"].as_str().unwrap().to_string());
            }
        }
        texts
    }

    /// The next `count` chat messages.
    pub fn messages(&mut self, count: usize) -> Vec<Value> {
        (0..count).map(|_| self.next_of("message")).collect()
    }

    /// Reads until the server's close frame and returns its code and reason (skipping anything
    /// before it).
    pub fn close_frame(&mut self) -> (u16, String) {
        loop {
            match self.ws.read() {
                Ok(Message::Close(Some(frame))) => {
                    return (u16::from(frame.code), frame.reason.to_string());
                }
                Ok(Message::Close(None)) => return (1005, String::new()),
                Ok(_) => {}
                Err(e) => panic!("expected a close frame, got {e}"),
            }
        }
    }

    /// Reads until the server's close frame and returns its code (skipping anything before it).
    pub fn close_code(&mut self) -> u16 {
        loop {
            match self.ws.read() {
                Ok(Message::Close(Some(frame))) => return u16::from(frame.code),
                Ok(Message::Close(None)) => return 1005,
                Ok(_) => {}
                Err(e) => panic!("expected a close frame, got {e}"),
            }
        }
    }
}
