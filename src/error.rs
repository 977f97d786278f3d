//! The crate's errors: [`Error`] stops the server at start (exit code 2); [`Rejection`] is what a
//! peer did wrong before the upgrade, and maps to the HTTP status it is answered with.

use std::io;
use std::path::PathBuf;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration variable has a value we cannot use.
    #[error("invalid {var}={value:?}: expected {expected}")]
    Config {
        /// The environment variable.
        var: &'static str,
        /// Its value, as given.
        value: String,
        /// What it accepts.
        expected: &'static str,
    },
    /// The `.env` file exists but cannot be read.
    #[error("cannot read .env: {0}")]
    DotEnv(String),
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address we tried.
        addr: String,
        /// Why it failed.
        source: io::Error,
    },
    /// A certificate or key file could not be read, parsed or created.
    #[error("TLS certificate {path}: {reason}")]
    Certificate {
        /// The file at fault.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the certificate and key pair.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The Kafka bus could not be set up (broker unreachable, topic unusable).
    #[error("kafka: {0}")]
    Kafka(String),
    /// A Kafka topic exists with another partition count than this server needs (the chat topic
    /// `KAFKA_PARTITIONS`, the presence topic one). Instances that counted differently would put
    /// a room in two partitions, so the server refuses to start (it never changes a topic).
    #[error("kafka: topic {topic} has {found} partitions, but {needed}")]
    PartitionCount {
        /// The topic.
        topic: String,
        /// Its partition count.
        found: usize,
        /// The count needed, and why.
        needed: String,
    },
    /// The Kafka broker speaks none of the versions the client knows of a request the bus
    /// needs: it is older than the bus supports, or has dropped those versions.
    #[error(
        "kafka: {what}: the broker does not support {api} at any version this server speaks; it needs {needed}"
    )]
    KafkaVersion {
        /// What was being done.
        what: String,
        /// The request (Produce, Fetch, Metadata, ...).
        api: String,
        /// The brokers that work.
        needed: &'static str,
    },
    /// The store (`HISTORY_DIR`) cannot be created, locked (another server uses it), read or
    /// written.
    #[error("HISTORY_DIR: {0}")]
    History(String),
    /// Another start-up step failed (a thread, the signal handler).
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: &'static str,
        /// The failure.
        source: io::Error,
    },
}

/// Why an HTTP request was refused before any WebSocket existed. Each variant's doc says the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// 400: the request head is not valid HTTP/1.x.
    #[error("malformed request")]
    Malformed,
    /// 431: the request head is longer than 8 KiB or has too many headers.
    #[error("request head too large")]
    HeadTooLarge,
    /// 404: no such page.
    #[error("not found")]
    NotFound,
    /// 405: a method other than GET or HEAD (or not GET on `/ws`).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 400: `/ws` without `Upgrade: websocket` and `Connection: Upgrade` (RFC 6455 §4.2.1 items 3, 4).
    #[error("not a WebSocket upgrade request")]
    NotUpgrade,
    /// 400: the request has no `Host` header (RFC 6455 §4.2.1 item 2).
    #[error("missing Host header")]
    MissingHost,
    /// 426 with `Sec-WebSocket-Version: 13`: another protocol version (RFC 6455 §4.2.2).
    #[error("unsupported WebSocket version")]
    UnsupportedVersion,
    /// 400: `Sec-WebSocket-Key` is missing or not 16 bytes in base64 (RFC 6455 §4.2.1 item 5).
    #[error("missing or invalid Sec-WebSocket-Key")]
    BadWebSocketKey,
    /// 403: the `Origin` is not allowed by `ALLOWED_ORIGINS` (RFC 6455 §10.2).
    #[error("origin not allowed")]
    OriginNotAllowed,
    /// 503: `MAX_CONNECTIONS` WebSockets are open already.
    #[error("server full")]
    ServerFull,
    /// 503: the server is shutting down (`DRAIN_SECS`): connect to another instance.
    #[error("server draining, shutting down")]
    Draining,
    /// 429 with `Retry-After`: this address has `MAX_CONNECTIONS_PER_ADDRESS` WebSockets open.
    #[error("too many connections from this address")]
    AddressFull,
    /// 429 with `Retry-After`: this address was given `NEW_SESSIONS_PER_ADDRESS_PER_MIN`
    /// sessions in the last minute.
    #[error("too many new sessions from this address")]
    TooManySessions,
    /// No answer: the connection is closed at once, because this address has
    /// `MAX_HANDSHAKES_PER_ADDRESS` connections in their handshake (counted in the metrics).
    #[error("too many handshakes from this address")]
    TooManyHandshakes,
    /// 403 with a JSON body: an operator banned the session presented, or the address
    /// (`chat/sanctions.rs`).
    #[error("banned")]
    Banned,
    /// 503 with `Retry-After`: the server is still reading its rooms' histories back from Kafka
    /// at start; a client let in now would find them empty.
    #[error("starting, reading the history back")]
    Starting,
}

impl Rejection {
    /// Every rejection, in a fixed order (the metrics keep one counter each).
    pub const ALL: [Rejection; 16] = [
        Rejection::Malformed,
        Rejection::HeadTooLarge,
        Rejection::NotFound,
        Rejection::MethodNotAllowed,
        Rejection::NotUpgrade,
        Rejection::MissingHost,
        Rejection::UnsupportedVersion,
        Rejection::BadWebSocketKey,
        Rejection::OriginNotAllowed,
        Rejection::ServerFull,
        Rejection::Draining,
        Rejection::AddressFull,
        Rejection::TooManySessions,
        Rejection::TooManyHandshakes,
        Rejection::Banned,
        Rejection::Starting,
    ];

    /// The HTTP status code and reason phrase this rejection is answered with.
    pub fn status(self) -> (u16, &'static str) {
        match self {
            Rejection::Malformed
            | Rejection::NotUpgrade
            | Rejection::MissingHost
            | Rejection::BadWebSocketKey => (400, "Bad Request"),
            Rejection::OriginNotAllowed | Rejection::Banned => (403, "Forbidden"),
            Rejection::NotFound => (404, "Not Found"),
            Rejection::MethodNotAllowed => (405, "Method Not Allowed"),
            Rejection::UnsupportedVersion => (426, "Upgrade Required"),
            Rejection::HeadTooLarge => (431, "Request Header Fields Too Large"),
            Rejection::AddressFull | Rejection::TooManySessions | Rejection::TooManyHandshakes => {
                (429, "Too Many Requests")
            }
            Rejection::ServerFull | Rejection::Draining | Rejection::Starting => {
                (503, "Service Unavailable")
            }
        }
    }

    /// A short label for logs and the `reason` label of the metrics.
    pub fn label(self) -> &'static str {
        match self {
            Rejection::Malformed => "malformed",
            Rejection::HeadTooLarge => "head_too_large",
            Rejection::NotFound => "not_found",
            Rejection::MethodNotAllowed => "method_not_allowed",
            Rejection::NotUpgrade => "not_upgrade",
            Rejection::MissingHost => "missing_host",
            Rejection::UnsupportedVersion => "unsupported_version",
            Rejection::BadWebSocketKey => "bad_key",
            Rejection::OriginNotAllowed => "origin_not_allowed",
            Rejection::ServerFull => "server_full",
            Rejection::Draining => "draining",
            Rejection::AddressFull => "connections_per_address",
            Rejection::TooManySessions => "sessions_per_address",
            Rejection::Banned => "banned",
            Rejection::Starting => "starting",
            Rejection::TooManyHandshakes => "handshakes_per_address",
        }
    }

    /// Position in [`Rejection::ALL`].
    pub fn index(self) -> usize {
        Rejection::ALL.iter().position(|&r| r == self).expect("ALL lists every variant")
    }
}
