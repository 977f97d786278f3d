//! Configuration: environment variables (and `.env`) turned into a typed [`Config`] once, at start.
//!
//! Every knob is an environment variable. A `.env` file in the working directory supplies values too,
//! but the real environment wins, so `PORT=9000 make run` overrides the file. Values are parsed here
//! and nowhere else: the rest of the crate sees `Duration`s, sizes and an [`Origins`] policy, never
//! strings. An invalid value is an [`Error::Config`] naming the variable and the value; `main` turns it
//! into exit code 2.
//!
//! The typed values a setting parses into sit beside this file, in the foundation, because every
//! layer above uses them and the configuration may import no layer:
//! - [`cidr`]: blocks of addresses (`TRUSTED_PROXIES`), which `net` and `http` check peers against;
//! - [`origin`]: web origins (RFC 6454) and the [`Origins`] policy (`ALLOWED_ORIGINS`), which the
//!   WebSocket handshake applies;
//! - [`room_name`]: a room's name (`DEFAULT_ROOM`), named by the chat, the bus and the store;
//! - [`api_tokens`]: the bots of the HTTP API and their tokens (`API_TOKENS`).

pub mod api_tokens;
pub mod cidr;
pub mod origin;
pub mod room_name;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use log::LevelFilter;

pub use crate::config::api_tokens::ApiToken;
pub use crate::config::cidr::Cidr;
pub use crate::config::origin::Origins;
pub use crate::config::room_name::RoomName;
use crate::error::Error;

/// The server's settings. Defaults (see [`Config::default`]) suit a local run.
#[derive(Debug, Clone)]
pub struct Config {
    /// `HOST`: address to listen on. Default `0.0.0.0`.
    pub host: IpAddr,
    /// `PORT`: TCP port for HTTP and WebSocket alike; `0` picks a free one. Default `8443`.
    pub port: u16,
    /// `BACKEND_TLS`: serve `https://` and `wss://` with rustls. Default `true`.
    pub tls: bool,
    /// `TLS_CERT`: PEM certificate chain. Created (self-signed) when missing. Default `certs/cert.pem`.
    pub tls_cert: PathBuf,
    /// `TLS_KEY`: PEM private key. Created with the certificate when missing. Default `certs/key.pem`.
    pub tls_key: PathBuf,
    /// `LOG_LEVEL`: `error`, `warn`, `info`, `debug` (handshakes) or `trace` (frames). Default `info`.
    pub log_level: LevelFilter,
    /// `ALLOWED_ORIGINS`: which browser origins may open `/ws`. Default: same origin as `Host`.
    pub allowed_origins: Origins,
    /// `MAX_MESSAGE_BYTES`: the largest chat message (frame payload) a client may send. Default 4096.
    pub max_message_bytes: usize,
    /// `MAX_CONNECTIONS`: open WebSocket connections at most; one more gets HTTP 503. Default 10000.
    pub max_connections: usize,
    /// `RATE_LIMIT_PER_SEC`: chat messages per second per client, with a burst of twice that. Default 10.
    pub rate_limit_per_sec: u32,
    /// `HISTORY_SIZE`: messages kept for clients that join or resume. Default 100.
    pub history_size: usize,
    /// `HISTORY_DIR`: where a server without Kafka keeps its history, sessions and nicknames
    /// across restarts (see `store/`); `off` keeps them in memory only. Default `data`.
    pub history_dir: Option<PathBuf>,
    /// `HISTORY_FSYNC`: `round` makes each round of messages durable (one `fdatasync`) before
    /// anyone gets them; `off` writes without syncing (a power cut may lose the last moments, a
    /// crash of the process never). Default `round`.
    pub history_fsync: bool,
    /// `PING_INTERVAL_SECS`: a ping is sent after this long without traffic from the client. Default 30 s.
    pub ping_interval: Duration,
    /// `IDLE_TIMEOUT_SECS`: a client silent this long (not even a pong) is closed. Default 75 s.
    pub idle_timeout: Duration,
    /// `HANDSHAKE_TIMEOUT_SECS`: time to finish the TLS handshake and the HTTP request (and each
    /// later request's head on a kept-alive connection, from its first byte). Default 10 s.
    pub handshake_timeout: Duration,
    /// `KEEP_ALIVE_TIMEOUT_SECS`: how long a connection waits, after an answer, for the first byte
    /// of its next request (HTTP/1.1 persistent connections, RFC 9112 §9.3). Default 5 s.
    pub keep_alive_timeout: Duration,
    /// `KEEP_ALIVE_REQUESTS`: requests one connection may make before it is closed; `1` closes
    /// every connection after its first answer. Default 100.
    pub keep_alive_requests: usize,
    /// `DRAIN_SECS`: on SIGTERM or SIGINT, how long `/healthz` answers 503 `draining` and new
    /// WebSocket upgrades are refused with 503 before every client is closed with 1001, so a load
    /// balancer stops sending newcomers first. A second signal ends the wait. Default 0.
    pub drain: Duration,
    /// `SEND_BUFFER_BYTES`: unsent bytes a client may fall behind before it is closed with 1013.
    /// Default 1 MiB.
    pub send_buffer_bytes: usize,
    /// `COMPRESSION`: accept a client's `permessage-deflate` offer (RFC 7692) and send it long
    /// messages compressed; `off` answers every offer without the extension. Default `on`.
    pub compression: bool,
    /// `COMPRESSION_MIN_BYTES`: messages shorter than this go uncompressed even to a client that
    /// agreed (the DEFLATE block's own header and tables would not pay for themselves).
    /// Default 128.
    pub compression_min_bytes: usize,
    /// `COMPRESSION_MAX_BYTES_PER_SEC`: bytes a writer (the broadcaster, an `/echo` connection)
    /// compresses in a second at most; past it, that second's frames go plain. A cap on what
    /// compression can cost, whoever asks for big frames. Default 4 MiB.
    pub compression_max_bytes_per_sec: usize,
    /// `ECHO_ENDPOINT`: serve `/echo`, which sends every message back (for conformance tests).
    /// Default `false`.
    pub echo_endpoint: bool,
    /// `ECHO_MAX_MESSAGE_BYTES`: the largest message `/echo` takes. Default 16 MiB.
    pub echo_max_message_bytes: usize,
    /// `TRUSTED_PROXIES`: peers (IPs or CIDR blocks) that speak for their clients: their last
    /// `X-Forwarded-For` entry is the client's address (in the logs and for every per-address
    /// limit), their `X-Forwarded-Proto` the scheme an `Origin` must have, and they are not counted
    /// per address themselves. Default: none.
    pub trusted_proxies: Vec<Cidr>,
    /// `INSPECT_ENABLED`: clients may switch on the wire inspector for their own connection
    /// (`{"type":"inspect","on":true}`). Default `true`.
    pub inspect_enabled: bool,
    /// `INSPECT_MAX_EVENTS_PER_SEC`: inspector events per second per connection at most; beyond
    /// that one `frame_skipped` a second counts the rest. Default 50.
    pub inspect_max_events_per_sec: u32,
    /// `KAFKA_ENABLED`: carry messages between instances through Kafka. Default `false`.
    pub kafka_enabled: bool,
    /// `KAFKA_BROKERS`: bootstrap servers, `host:port` comma list. Default `localhost:9092`.
    pub kafka_brokers: String,
    /// `KAFKA_TOPIC`: the chat topic (presence uses `<topic>.presence`). Default `chat`.
    pub kafka_topic: String,
    /// `INSTANCE_ID`: this instance's name in presence records. Default: the host name.
    pub instance_id: String,
    /// `KAFKA_PARTITIONS`: partitions of the chat topic; a room's records all go to one of them
    /// (see `chat/room.rs`). Default 8.
    pub kafka_partitions: u32,
    /// `DEFAULT_ROOM`: the room every connection is in when it opens. Default `general`.
    pub default_room: RoomName,
    /// `MAX_ROOMS_PER_CONNECTION`: rooms one connection may be in at once. Default 16.
    pub max_rooms_per_connection: usize,
    /// `MAX_ROOMS`: rooms with members on this instance at most. Default 10000.
    pub max_rooms: usize,
    /// `NAME_RESERVE_SECS`: how long a nickname stays with its session after the session's last
    /// connection closed (then the name is free and the session forgotten). Default 3600.
    pub name_reserve: Duration,
    /// `EDIT_WINDOW_SECS`: how long after sending a message its author may edit it (zero: as
    /// long as it is kept). Default 0.
    pub edit_window: Duration,
    /// `MAX_RESERVED_NAMES`: offline sessions kept at most. Past it, sessions that never did
    /// anything are forgotten (the newest first); a used one keeps its name for its whole
    /// `NAME_RESERVE_SECS`, and while they fill the table new sessions are refused. Default 100000.
    pub max_reserved_names: usize,
    /// `MAX_CONNECTIONS_PER_ADDRESS`: open WebSockets one client address may hold (at most a
    /// quarter of `MAX_CONNECTIONS`); one more gets HTTP 429. Default 256.
    pub max_connections_per_address: usize,
    /// `MAX_HANDSHAKES_PER_ADDRESS`: connections of one address in their TLS or HTTP handshake at
    /// once (at most a quarter of the 256 the server allows on top of `MAX_CONNECTIONS`); one more
    /// is closed at once. Default 16.
    pub max_handshakes_per_address: usize,
    /// `NEW_SESSIONS_PER_ADDRESS_PER_MIN`: sessions one address may be given a minute; beyond it
    /// the upgrade gets 429 (`Retry-After`). Default 60.
    pub new_sessions_per_address_per_min: u32,
    /// `MAX_ROOMS_PER_ADDRESS`: rooms made by one address that still have members (at most a
    /// quarter of `MAX_ROOMS`); one more gets the error `too_many_rooms`. Default 64.
    pub max_rooms_per_address: usize,
    /// `MAX_CONVERSATIONS_PER_SESSION`: private conversations one session may have; a new one
    /// past it gets the error `too_many_conversations`. Default 200.
    pub max_conversations_per_session: usize,
    /// `UNANSWERED_PER_ADDRESS_PER_MIN`: private messages one address may send a minute to
    /// sessions that never wrote back; beyond it the error `rate_limited`. Default 20.
    pub unanswered_per_address_per_min: u32,
    /// `API_TOKENS`: the bots that may post through the HTTP API, `name:token` pairs
    /// (`api_tokens.rs`). Default none.
    pub api_tokens: Vec<ApiToken>,
    /// `OPERATORS`: the public user ids (the `user` of `hello`) of the sessions that moderate,
    /// a comma list. Read at start only. Default none.
    pub operators: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: IpAddr::from([0, 0, 0, 0]),
            port: 8443,
            tls: true,
            tls_cert: PathBuf::from("certs/cert.pem"),
            tls_key: PathBuf::from("certs/key.pem"),
            log_level: LevelFilter::Info,
            allowed_origins: Origins::SameOrigin,
            max_message_bytes: 4096,
            max_connections: 10_000,
            rate_limit_per_sec: 10,
            history_size: 100,
            history_dir: Some(PathBuf::from("data")),
            history_fsync: true,
            inspect_enabled: true,
            inspect_max_events_per_sec: 50,
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(75),
            handshake_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(5),
            keep_alive_requests: 100,
            drain: Duration::ZERO,
            send_buffer_bytes: 1 << 20,
            compression: true,
            compression_min_bytes: 128,
            compression_max_bytes_per_sec: 4 << 20,
            echo_endpoint: false,
            echo_max_message_bytes: 16 << 20,
            trusted_proxies: Vec::new(),
            kafka_enabled: false,
            kafka_brokers: "localhost:9092".to_string(),
            kafka_topic: "chat".to_string(),
            instance_id: host_name(),
            kafka_partitions: 8,
            default_room: RoomName::parse("general").expect("a valid room name"),
            max_rooms_per_connection: 16,
            max_rooms: 10_000,
            name_reserve: Duration::from_secs(3600),
            edit_window: Duration::ZERO,
            max_reserved_names: 100_000,
            max_connections_per_address: 256,
            max_handshakes_per_address: 16,
            new_sessions_per_address_per_min: 60,
            max_rooms_per_address: 64,
            max_conversations_per_session: 200,
            unanswered_per_address_per_min: 20,
            api_tokens: Vec::new(),
            operators: Vec::new(),
        }
    }
}

impl Config {
    /// Reads the process environment, falling back to `.env` in the working directory.
    pub fn from_env() -> Result<Config, Error> {
        let dotenv = read_dotenv(".env")?;
        Config::from_lookup(|name| std::env::var(name).ok().or_else(|| dotenv.get(name).cloned()))
    }

    /// Builds a configuration from any source of variables (the environment, a map in a test).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let env = Vars(&lookup);
        let mut c = Config::default();
        env.parse("HOST", &mut c.host, |v| v.parse().ok())?;
        env.parse("PORT", &mut c.port, |v| v.parse().ok())?;
        env.parse("BACKEND_TLS", &mut c.tls, parse_bool)?;
        env.parse("TLS_CERT", &mut c.tls_cert, non_empty_path)?;
        env.parse("TLS_KEY", &mut c.tls_key, non_empty_path)?;
        env.parse("LOG_LEVEL", &mut c.log_level, |v| v.parse().ok())?;
        env.parse("ALLOWED_ORIGINS", &mut c.allowed_origins, Origins::parse)?;
        env.parse("MAX_MESSAGE_BYTES", &mut c.max_message_bytes, |v| positive(v, 64 << 20))?;
        env.parse("MAX_CONNECTIONS", &mut c.max_connections, |v| positive(v, 1 << 20))?;
        env.parse("RATE_LIMIT_PER_SEC", &mut c.rate_limit_per_sec, |v| {
            positive(v, 1_000_000).map(|n| n as u32)
        })?;
        env.parse("HISTORY_SIZE", &mut c.history_size, |v| {
            v.parse().ok().filter(|&n| n <= 100_000)
        })?;
        env.parse("HISTORY_DIR", &mut c.history_dir, |v| Some((v != "off").then(|| v.into())))?;
        env.parse("HISTORY_FSYNC", &mut c.history_fsync, |v| match v {
            "round" => Some(true),
            "off" => Some(false),
            _ => None,
        })?;
        env.parse("PING_INTERVAL_SECS", &mut c.ping_interval, seconds)?;
        env.parse("IDLE_TIMEOUT_SECS", &mut c.idle_timeout, seconds)?;
        env.parse("HANDSHAKE_TIMEOUT_SECS", &mut c.handshake_timeout, seconds)?;
        env.parse("KEEP_ALIVE_TIMEOUT_SECS", &mut c.keep_alive_timeout, |v| {
            positive(v, 3600).map(|n| Duration::from_secs(n as u64))
        })?;
        env.parse("KEEP_ALIVE_REQUESTS", &mut c.keep_alive_requests, |v| positive(v, 100_000))?;
        env.parse("DRAIN_SECS", &mut c.drain, |v| {
            v.parse().ok().filter(|&n| n <= 3600).map(Duration::from_secs)
        })?;
        env.parse("SEND_BUFFER_BYTES", &mut c.send_buffer_bytes, |v| {
            positive(v, 1 << 30).filter(|&n| n >= 1024)
        })?;
        env.parse("COMPRESSION", &mut c.compression, parse_bool)?;
        env.parse("COMPRESSION_MIN_BYTES", &mut c.compression_min_bytes, |v| {
            v.parse().ok().filter(|&n| n <= 1 << 30)
        })?;
        env.parse("COMPRESSION_MAX_BYTES_PER_SEC", &mut c.compression_max_bytes_per_sec, |v| {
            v.parse().ok().filter(|&n| n <= 1 << 30)
        })?;
        env.parse("ECHO_ENDPOINT", &mut c.echo_endpoint, parse_bool)?;
        env.parse("ECHO_MAX_MESSAGE_BYTES", &mut c.echo_max_message_bytes, |v| {
            positive(v, 64 << 20)
        })?;
        env.parse("TRUSTED_PROXIES", &mut c.trusted_proxies, |v| {
            v.split(',').filter(|s| !s.trim().is_empty()).map(Cidr::parse).collect()
        })?;
        env.parse("INSPECT_ENABLED", &mut c.inspect_enabled, parse_bool)?;
        env.parse("INSPECT_MAX_EVENTS_PER_SEC", &mut c.inspect_max_events_per_sec, |v| {
            positive(v, 10_000).map(|n| n as u32)
        })?;
        env.parse("KAFKA_ENABLED", &mut c.kafka_enabled, parse_bool)?;
        env.parse("KAFKA_BROKERS", &mut c.kafka_brokers, |v| Some(v.to_string()))?;
        env.parse("KAFKA_TOPIC", &mut c.kafka_topic, |v| {
            let legal = |ch: char| ch.is_ascii_alphanumeric() || "._-".contains(ch);
            (v.len() <= 200 && v.chars().all(legal)).then(|| v.to_string())
        })?;
        env.parse("INSTANCE_ID", &mut c.instance_id, |v| Some(v.to_string()))?;
        env.parse("KAFKA_PARTITIONS", &mut c.kafka_partitions, |v| {
            positive(v, MAX_PARTITIONS).map(|n| n as u32)
        })?;
        env.parse("DEFAULT_ROOM", &mut c.default_room, RoomName::parse)?;
        env.parse("MAX_ROOMS_PER_CONNECTION", &mut c.max_rooms_per_connection, |v| {
            positive(v, 1024)
        })?;
        env.parse("MAX_ROOMS", &mut c.max_rooms, |v| positive(v, 1 << 20))?;
        env.parse("NAME_RESERVE_SECS", &mut c.name_reserve, |v| {
            v.parse().ok().filter(|&n| n <= 30 * 86_400).map(Duration::from_secs)
        })?;
        env.parse("EDIT_WINDOW_SECS", &mut c.edit_window, |v| {
            v.parse().ok().filter(|&n| n <= 365 * 86_400).map(Duration::from_secs)
        })?;
        env.parse("MAX_RESERVED_NAMES", &mut c.max_reserved_names, |v| positive(v, 1 << 24))?;
        env.parse("MAX_CONNECTIONS_PER_ADDRESS", &mut c.max_connections_per_address, |v| {
            positive(v, 1 << 20)
        })?;
        env.parse("MAX_HANDSHAKES_PER_ADDRESS", &mut c.max_handshakes_per_address, |v| {
            positive(v, 1 << 20)
        })?;
        env.parse(
            "NEW_SESSIONS_PER_ADDRESS_PER_MIN",
            &mut c.new_sessions_per_address_per_min,
            |v| positive(v, 1_000_000).map(|n| n as u32),
        )?;
        env.parse("MAX_ROOMS_PER_ADDRESS", &mut c.max_rooms_per_address, |v| positive(v, 1 << 20))?;
        env.parse("MAX_CONVERSATIONS_PER_SESSION", &mut c.max_conversations_per_session, |v| {
            positive(v, 1 << 20)
        })?;
        env.parse("UNANSWERED_PER_ADDRESS_PER_MIN", &mut c.unanswered_per_address_per_min, |v| {
            positive(v, 1_000_000).map(|n| n as u32)
        })?;
        if let Some(raw) = lookup("API_TOKENS") {
            c.api_tokens = api_tokens::parse(&raw)?;
        }
        if let Some(raw) = lookup("OPERATORS") {
            c.operators = operators(&raw)?;
        }
        if c.idle_timeout <= c.ping_interval {
            return Err(Error::Config {
                var: "IDLE_TIMEOUT_SECS",
                value: c.idle_timeout.as_secs().to_string(),
                expected: "more seconds than PING_INTERVAL_SECS, so a ping can be answered in time",
            });
        }
        Ok(c)
    }

    /// `https` or `http`, for log lines and links.
    pub fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }
}

/// Connections beyond `MAX_CONNECTIONS` that may be in their handshake at once, so that a full
/// server can still answer 503 and serve `/healthz`.
pub const HANDSHAKE_HEADROOM: usize = 256;

/// The most partitions: each costs every instance two broker connections and a held fetch.
const MAX_PARTITIONS: usize = 256;

/// A source of variables with the parse-or-name-the-culprit helper.
struct Vars<'a, F: Fn(&str) -> Option<String>>(&'a F);

impl<F: Fn(&str) -> Option<String>> Vars<'_, F> {
    /// Parses `var` into `slot` when it is set (an empty value counts as unset).
    fn parse<T>(
        &self,
        var: &'static str,
        slot: &mut T,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<(), Error> {
        let Some(raw) = (self.0)(var) else { return Ok(()) };
        let value = raw.trim();
        if value.is_empty() {
            return Ok(());
        }
        *slot = parse(value).ok_or_else(|| Error::Config {
            var,
            value: raw.clone(),
            expected: expected(var),
        })?;
        Ok(())
    }
}

/// `OPERATORS`: a comma list of public user ids, each 16 characters of base64url (what `hello`
/// says as `user`); an empty value is nobody.
fn operators(raw: &str) -> Result<Vec<String>, Error> {
    let is_user_id = |id: &str| {
        id.len() == 16 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let ids: Vec<String> =
        raw.split(',').map(str::trim).filter(|id| !id.is_empty()).map(String::from).collect();
    match ids.iter().find(|id| !is_user_id(id)) {
        Some(bad) => Err(Error::Config {
            var: "OPERATORS",
            value: bad.chars().take(32).collect(),
            expected: expected("OPERATORS"),
        }),
        None => Ok(ids),
    }
}

/// What a variable accepts, for the error message.
fn expected(var: &str) -> &'static str {
    match var {
        "HOST" => "an IP address such as 0.0.0.0 or ::",
        "PORT" => "a port number from 0 to 65535",
        "BACKEND_TLS" | "ECHO_ENDPOINT" | "INSPECT_ENABLED" => "true or false",
        "INSPECT_MAX_EVENTS_PER_SEC" => "a whole number from 1 to 10000",
        "LOG_LEVEL" => "one of off, error, warn, info, debug, trace",
        "ALLOWED_ORIGINS" => {
            "empty (same origin), * (any) or a comma list of http(s) origins such as https://chat.example.com"
        }
        "HISTORY_SIZE" => "a whole number from 0 to 100000",
        "HISTORY_DIR" => "a folder path, or off to keep the history in memory only",
        "HISTORY_FSYNC" => "round or off",
        "SEND_BUFFER_BYTES" => "a whole number of bytes, at least 1024",
        "PING_INTERVAL_SECS" | "IDLE_TIMEOUT_SECS" | "HANDSHAKE_TIMEOUT_SECS" => {
            "a whole number of seconds from 1 to 86400"
        }
        "DRAIN_SECS" => "a whole number of seconds from 0 to 3600",
        "OPERATORS" => {
            "a comma list of public user ids, each the 16 characters of base64url that hello says as user"
        }
        "EDIT_WINDOW_SECS" => "a whole number of seconds from 0 (no limit) to 31536000",
        "KEEP_ALIVE_TIMEOUT_SECS" => "a whole number of seconds from 1 to 3600",
        "KEEP_ALIVE_REQUESTS" => "a whole number from 1 to 100000",
        "TLS_CERT" | "TLS_KEY" => "a file path",
        "KAFKA_ENABLED" => "true or false",
        "COMPRESSION" => "on or off",
        "COMPRESSION_MIN_BYTES" | "COMPRESSION_MAX_BYTES_PER_SEC" => {
            "a whole number of bytes from 0 to 1073741824"
        }
        "KAFKA_TOPIC" => "a Kafka topic name: letters, digits, '.', '_' and '-'",
        "DEFAULT_ROOM" => "1 to 32 characters of a-z 0-9 - _, starting with a letter or a digit",
        "KAFKA_PARTITIONS" => "a whole number from 1 to 256",
        "MAX_ROOMS_PER_CONNECTION" => "a whole number from 1 to 1024",
        "TRUSTED_PROXIES" => "a comma list of IP addresses or CIDR blocks such as 10.0.0.0/8",
        _ => "a positive whole number",
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn positive(v: &str, max: usize) -> Option<usize> {
    v.parse().ok().filter(|&n| n > 0 && n <= max)
}

fn seconds(v: &str) -> Option<Duration> {
    positive(v, 86_400).map(|n| Duration::from_secs(n as u64))
}

fn non_empty_path(v: &str) -> Option<PathBuf> {
    Some(PathBuf::from(v))
}

/// The machine's host name (a container's id under Docker), for `INSTANCE_ID`.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("websocketchat-{}", std::process::id()))
}

/// Reads `KEY=value` lines from a `.env` file; a missing file is no error.
fn read_dotenv(path: &str) -> Result<HashMap<String, String>, Error> {
    let iter = match dotenvy::from_path_iter(path) {
        Ok(iter) => iter,
        Err(dotenvy::Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(HashMap::new());
        }
        Err(e) => return Err(Error::DotEnv(e.to_string())),
    };
    iter.map(|item| item.map_err(|e| Error::DotEnv(e.to_string()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::origin::Origin;

    fn config(vars: &[(&str, &str)]) -> Result<Config, Error> {
        let map: HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let c = config(&[]).unwrap();
        assert_eq!(c.port, 8443);
        assert!(c.tls);
        assert_eq!(c.max_message_bytes, 4096);
        assert_eq!(c.send_buffer_bytes, 1_048_576);
        assert_eq!(c.allowed_origins, Origins::SameOrigin);
        assert_eq!(c.idle_timeout, Duration::from_secs(75));
        assert_eq!(c.drain, Duration::ZERO);
        assert_eq!(c.default_room.as_str(), "general");
        assert_eq!((c.max_rooms_per_connection, c.max_rooms, c.kafka_partitions), (16, 10_000, 8));
        assert_eq!((c.keep_alive_timeout, c.keep_alive_requests), (Duration::from_secs(5), 100));
    }

    #[test]
    fn values_are_parsed_into_types() {
        let c = config(&[
            ("BACKEND_TLS", "false"),
            ("PORT", "0"),
            ("HOST", "::1"),
            ("ALLOWED_ORIGINS", "https://a.example/, http://B.example"),
            ("PING_INTERVAL_SECS", "5"),
            ("IDLE_TIMEOUT_SECS", "12"),
            ("DRAIN_SECS", "5"),
        ])
        .unwrap();
        assert!(!c.tls);
        assert_eq!(c.port, 0);
        assert_eq!(c.host, "::1".parse::<IpAddr>().unwrap());
        let listed =
            ["https://a.example", "http://b.example:80"].map(|o| Origin::parse(o).unwrap());
        assert_eq!(c.allowed_origins, Origins::List(listed.to_vec()));
        assert_eq!(c.ping_interval, Duration::from_secs(5));
        assert_eq!(c.drain, Duration::from_secs(5));
        assert_eq!((c.history_dir, c.history_fsync), (Some(PathBuf::from("data")), true));
        let off = config(&[("HISTORY_DIR", "off"), ("HISTORY_FSYNC", "off")]).unwrap();
        assert_eq!((off.history_dir, off.history_fsync), (None, false));
    }

    #[test]
    fn an_invalid_value_names_the_variable_and_the_value() {
        for (var, value) in [
            ("PORT", "http"),
            ("BACKEND_TLS", "maybe"),
            ("MAX_MESSAGE_BYTES", "0"),
            ("HISTORY_SIZE", "-1"),
            ("LOG_LEVEL", "loud"),
            ("ALLOWED_ORIGINS", "example.com"),
            ("ALLOWED_ORIGINS", "https://a.example, chrome-extension://x"),
            ("ALLOWED_ORIGINS", "https://a.example/chat"),
            ("SEND_BUFFER_BYTES", "10"),
            ("DRAIN_SECS", "-1"),
            ("DRAIN_SECS", "3601"),
            ("DEFAULT_ROOM", "no spaces"),
            ("KAFKA_PARTITIONS", "0"),
            ("KAFKA_PARTITIONS", "257"),
            ("MAX_ROOMS_PER_CONNECTION", "0"),
            ("HISTORY_FSYNC", "always"),
            ("KEEP_ALIVE_TIMEOUT_SECS", "0"),
            ("KEEP_ALIVE_REQUESTS", "0"),
        ] {
            let err = config(&[(var, value)]).unwrap_err().to_string();
            assert!(err.contains(var) && err.contains(value), "{err}");
        }
    }

    #[test]
    fn trusted_proxies_are_cidr_blocks() {
        let c = config(&[("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1,::1")]).unwrap();
        let trusted = |ip: &str| c.trusted_proxies.iter().any(|b| b.contains(ip.parse().unwrap()));
        assert!(trusted("10.1.2.3") && trusted("127.0.0.1") && trusted("::1"));
        assert!(trusted("::ffff:10.9.9.9"));
        assert!(!trusted("11.0.0.1") && !trusted("127.0.0.2"));
        assert!(config(&[("TRUSTED_PROXIES", "10.0.0.0/33")]).is_err());
        let kafka = config(&[("KAFKA_ENABLED", "true"), ("KAFKA_TOPIC", "chat.v1")]).unwrap();
        assert!(kafka.kafka_enabled && kafka.kafka_topic == "chat.v1");
        assert!(config(&[("KAFKA_TOPIC", "no spaces")]).is_err());
    }

    #[test]
    fn idle_timeout_must_exceed_the_ping_interval() {
        let err = config(&[("PING_INTERVAL_SECS", "30"), ("IDLE_TIMEOUT_SECS", "30")]);
        assert!(err.unwrap_err().to_string().contains("IDLE_TIMEOUT_SECS"));
    }
}
