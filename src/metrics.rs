//! Counters shared by every thread, served at `/healthz` (JSON) and `/metrics` (Prometheus text).
//!
//! Plain atomics with relaxed ordering: each counter is independent, and a scrape that sees one a
//! moment older than another is fine.

use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};

use crate::error::Rejection;

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    open: AtomicUsize,
    total: AtomicU64,
    received: AtomicU64,
    delivered: AtomicU64,
    evicted: AtomicU64,
    refused: [AtomicU64; Rejection::ALL.len()],
    limited: [AtomicU64; LIMITED.len()],
    close_codes: [AtomicU64; CLOSE_CODES.len()],
    /// What is wrong with the bus (the Kafka broker) or the store, if anything.
    problem: Mutex<Option<String>>,
    /// Commits of the store that succeeded, and that failed (see `chat/journal.rs`).
    history_commits: AtomicU64,
    history_failures: AtomicU64,
    /// Bytes in the store's log.
    history_bytes: AtomicU64,
    /// Set on SIGTERM for `DRAIN_SECS`: `/healthz` says so and upgrades are refused.
    draining: AtomicBool,
    /// Chat partitions whose history is still being read back at start (Kafka).
    history_behind: AtomicUsize,
}

impl Metrics {
    /// Counts a new WebSocket if fewer than `max` are open; false means the server is full.
    pub fn try_open(&self, max: usize) -> bool {
        let admitted = self
            .open
            .fetch_update(Relaxed, Relaxed, |open| (open < max).then_some(open + 1))
            .is_ok();
        if admitted {
            self.total.fetch_add(1, Relaxed);
        }
        admitted
    }

    /// Counts a WebSocket as closed.
    pub fn close(&self) {
        self.open.fetch_sub(1, Relaxed);
    }

    /// WebSockets open now.
    pub fn open(&self) -> usize {
        self.open.load(Relaxed)
    }

    /// A chat message was accepted from a client.
    pub fn received(&self) {
        self.received.fetch_add(1, Relaxed);
    }

    /// `n` message frames were queued to clients.
    pub fn delivered(&self, n: u64) {
        self.delivered.fetch_add(n, Relaxed);
    }

    /// A client was closed for falling behind.
    pub fn evicted(&self) {
        self.evicted.fetch_add(1, Relaxed);
    }

    /// A chat request or a new session was refused by a limit ([`LIMITED`] names them).
    pub fn limited(&self, reason: usize) {
        self.limited[reason].fetch_add(1, Relaxed);
    }

    /// A request was refused before the upgrade.
    pub fn refused(&self, rejection: Rejection) {
        self.refused[rejection.index()].fetch_add(1, Relaxed);
    }

    /// A close frame with this code was sent.
    pub fn close_sent(&self, code: u16) {
        if let Some(i) = CLOSE_CODES.iter().position(|&c| c == code) {
            self.close_codes[i].fetch_add(1, Relaxed);
        }
    }

    /// Records (or with `None` clears) a problem with the bus or the store; `/healthz` reports
    /// it.
    pub fn set_problem(&self, problem: Option<String>) {
        let mut slot = self.problem.lock().unwrap_or_else(|p| p.into_inner());
        if *slot != problem {
            match &problem {
                Some(p) => log::warn!("unhealthy: {p}"),
                None => log::info!("healthy again"),
            }
            *slot = problem;
        }
    }

    /// Counts a commit of the store (`ok` or failed), which leaves its log at `bytes`.
    pub fn history_commit(&self, ok: bool, bytes: u64) {
        let counter = if ok { &self.history_commits } else { &self.history_failures };
        counter.fetch_add(1, Relaxed);
        self.history_bytes.store(bytes, Relaxed);
    }

    /// The server is going away: from now on `/healthz` answers 503 and upgrades are refused.
    pub fn start_draining(&self) {
        self.draining.store(true, Relaxed);
    }

    /// Whether the server is draining (see [`Metrics::start_draining`]).
    pub fn is_draining(&self) -> bool {
        self.draining.load(Relaxed)
    }

    /// `partitions` chat partitions have a history to read back before the server is ready
    /// (Kafka, at start): until each is [`Metrics::history_read_back`], `/healthz` says so.
    pub fn history_behind(&self, partitions: usize) {
        self.history_behind.store(partitions, Relaxed);
    }

    /// True while some chat partition's history is still being read back at start.
    pub fn is_reading_back(&self) -> bool {
        self.history_behind.load(Relaxed) > 0
    }

    /// One chat partition's history was read back and handed to the broadcaster.
    pub fn history_read_back(&self) {
        let _ = self.history_behind.fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
    }

    /// The `/healthz` answer: `true` with `{"status":"ok",…}`, or `false` (HTTP 503) with
    /// `{"status":"draining",…}` while the server shuts down, or
    /// `{"status":"unavailable","reason":…}` while the bus or the store is in trouble, or while
    /// the history is still being read back from Kafka at start (a client let in then would
    /// find its rooms' histories empty).
    pub fn health(&self) -> (bool, String) {
        if self.is_draining() {
            return (false, format!(r#"{{"status":"draining","connections":{}}}"#, self.open()));
        }
        let behind = self.history_behind.load(Relaxed);
        let problem = match self.problem.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            None if behind > 0 => {
                Some(format!("kafka: reading the history back, {behind} partitions to go"))
            }
            problem => problem,
        };
        match problem {
            None => (true, format!(r#"{{"status":"ok","connections":{}}}"#, self.open())),
            Some(reason) => {
                let reason = serde_json::to_string(&reason).expect("a string serializes");
                (
                    false,
                    format!(
                        r#"{{"status":"unavailable","reason":{reason},"connections":{}}}"#,
                        self.open()
                    ),
                )
            }
        }
    }

    /// The `/metrics` body, in the Prometheus text exposition format.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let one = |v: u64| [(String::new(), v)];
        metric(
            "websocketchat_connections_open",
            "gauge",
            "WebSocket connections open now.",
            &one(self.open() as u64),
        );
        metric(
            "websocketchat_connections_total",
            "counter",
            "WebSocket connections accepted.",
            &one(self.total.load(Relaxed)),
        );
        metric(
            "websocketchat_messages_received_total",
            "counter",
            "Chat messages accepted from clients.",
            &one(self.received.load(Relaxed)),
        );
        metric(
            "websocketchat_messages_delivered_total",
            "counter",
            "Message frames queued to clients.",
            &one(self.delivered.load(Relaxed)),
        );
        metric(
            "websocketchat_clients_evicted_slow_total",
            "counter",
            "Clients closed with 1013 for falling behind.",
            &one(self.evicted.load(Relaxed)),
        );
        metric(
            "websocketchat_history_commits_total",
            "counter",
            "Rounds written to the store and synced (HISTORY_DIR, without Kafka).",
            &one(self.history_commits.load(Relaxed)),
        );
        metric(
            "websocketchat_history_commit_failures_total",
            "counter",
            "Rounds the store refused (a full or unwritable disk): their messages were not delivered.",
            &one(self.history_failures.load(Relaxed)),
        );
        metric(
            "websocketchat_history_bytes",
            "gauge",
            "Bytes in the store's log (0 without a store).",
            &one(self.history_bytes.load(Relaxed)),
        );
        let refused: Vec<(String, u64)> = Rejection::ALL
            .iter()
            .map(|r| {
                (format!("{{reason=\"{}\"}}", r.label()), self.refused[r.index()].load(Relaxed))
            })
            .collect();
        metric(
            "websocketchat_handshakes_refused_total",
            "counter",
            "HTTP requests refused, by reason.",
            &refused,
        );
        let limited: Vec<(String, u64)> = LIMITED
            .iter()
            .zip(&self.limited)
            .map(|(reason, n)| (format!("{{reason=\"{reason}\"}}"), n.load(Relaxed)))
            .collect();
        metric(
            "websocketchat_limited_total",
            "counter",
            "Chat requests and sessions refused by a limit after the upgrade, by reason.",
            &limited,
        );
        let closes: Vec<(String, u64)> = CLOSE_CODES
            .iter()
            .zip(&self.close_codes)
            .map(|(code, n)| (format!("{{code=\"{code}\"}}"), n.load(Relaxed)))
            .collect();
        metric(
            "websocketchat_close_frames_sent_total",
            "counter",
            "Close frames sent, by code.",
            &closes,
        );
        out
    }
}

/// The close codes we send (RFC 6455 §7.4.1), one counter each.
const CLOSE_CODES: [u16; 9] = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 1013];

/// The limits counted by [`Metrics::limited`], by the `reason` label of
/// `websocketchat_limited_total`; the constants below are their positions.
pub const LIMITED: [&str; 5] = [
    "rooms_per_address",
    "sessions_per_address",
    "sessions_full",
    "conversations_per_session",
    "unanswered_per_address",
];
/// A new room past `MAX_ROOMS` or `MAX_ROOMS_PER_ADDRESS`.
pub const LIMITED_ROOMS: usize = 0;
/// A new session past `NEW_SESSIONS_PER_ADDRESS_PER_MIN`, found by the broadcaster.
pub const LIMITED_SESSIONS: usize = 1;
/// A new session while used sessions fill `MAX_RESERVED_NAMES`.
pub const LIMITED_SESSIONS_FULL: usize = 2;
/// A new private conversation past `MAX_CONVERSATIONS_PER_SESSION`.
pub const LIMITED_CONVERSATIONS: usize = 3;
/// A private message past `UNANSWERED_PER_ADDRESS_PER_MIN`.
pub const LIMITED_UNANSWERED: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_limit_holds_and_frees() {
        let m = Metrics::default();
        assert!(m.try_open(2) && m.try_open(2));
        assert!(!m.try_open(2));
        m.close();
        assert!(m.try_open(2));
        assert_eq!(m.health(), (true, r#"{"status":"ok","connections":2}"#.to_string()));
        m.set_problem(Some("kafka: down".into()));
        assert_eq!(
            m.health(),
            (
                false,
                r#"{"status":"unavailable","reason":"kafka: down","connections":2}"#.to_string()
            )
        );
    }

    #[test]
    fn prometheus_text_has_labels() {
        let m = Metrics::default();
        m.refused(Rejection::OriginNotAllowed);
        m.close_sent(1013);
        let text = m.prometheus();
        assert!(
            text.contains(
                "websocketchat_handshakes_refused_total{reason=\"origin_not_allowed\"} 1\n"
            )
        );
        assert!(text.contains("websocketchat_close_frames_sent_total{code=\"1013\"} 1\n"));
        assert!(text.contains("# TYPE websocketchat_connections_open gauge\n"));
    }

    #[test]
    fn not_ready_until_every_partition_read_its_history_back() {
        let m = Metrics::default();
        m.history_behind(2);
        let (ready, body) = m.health();
        assert!(!ready && body.contains("reading the history back, 2 partitions to go"), "{body}");
        assert!(m.is_reading_back(), "upgrades wait too (connection.rs)");
        m.history_read_back();
        m.history_read_back();
        m.history_read_back();
        assert!(m.health().0, "ready once all are read back");
        assert!(!m.is_reading_back());
    }
}
