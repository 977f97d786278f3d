//! The command line, parsed by hand.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::source::Sources;
use crate::text::Body;

pub const USAGE: &str = "\
wschat-bench: load generator for WebSocketChat (RFC 6455), loopback only

usage: wschat-bench --url ws://127.0.0.1:PORT/ws [options]

  --url URL          ws:// or wss:// on a loopback address; repeat it to spread clients
                     over several servers (client i uses URL i mod count)
  --mode MODE        chat (default), idle, stalled or amend (two clients: --messages messages,
                     a share edited and reacted to, each change answered before the next;
                     the store's bytes are what to read: see bench/run.sh, (k)), or api
                     (--senders kept-alive HTTP connections POST /api/v1/messages at --rate
                     each, 0: as fast as answers come; see bench/src/api.rs)
  --token TOKEN      api mode: the bot's token (the server runs with API_TOKENS=bench:TOKEN
                     and a RATE_LIMIT_PER_SEC above the offered rate)
  --messages N       amend mode: messages said (default 1000)
  --amend E,R        amend mode: percent of them edited, and reacted to (default 10,20)
  --clients N        connections (default 100)
  --senders S        clients that send, the first S (default 10)
  --rate R           messages per second per sender, paced (default 10)
  --duration D       seconds of sending (chat, stalled) or of holding (idle) (default 10)
  --size BYTES       length of each message's text with --text padding (default 64)
  --text KIND        what follows each message's stamp: padding (default: x up to --size) or
                     chat (plausible English chat lines, mostly 20 to 300 characters, some up
                     to 1,200; each reader checks it got exactly the text sent)
  --deflate          offer permessage-deflate as browsers do (RFC 7692: \"permessage-deflate;
                     client_max_window_bits\"), check the 101's answer, inflate compressed
                     messages; the senders compress theirs too, as browsers do
  --plain-send       with --deflate, the senders send their messages uncompressed (RSV1
                     clear, which RFC 7692 §6 allows for any message)
  --stalled K        stalled mode: the last K clients never read (SO_RCVBUF 4096) (default 5)
  --warmup SECS      send at the same rate for SECS first, not measured (default 0)
  --grace SECS       how long readers wait after the last send (default 5)
  --server-pid PID   the server's process, for RSS and CPU from /proc
  --cpu-pid PID      also count this process's CPU over the measured window (chat mode; a
                     second instance, the broker); repeat it for several
  --names KIND       distinct (b0, b1, ...; default) or shared (one nickname for all)
  --nickname NAME    the nickname with --names shared: letters, digits, - and _ (default bench)
  --rooms N          chat mode: client i enters room r<i mod N> once it has its welcome and
                     leaves the default room; sender k speaks in room r<k mod N>, and each
                     client must get its room's messages and no other's (default 0: everyone
                     stays in the default room)
  --initial-frames N idle mode: frames each client reads after the handshake (default 3:
                     hello, history, users)
  --idle-read WHAT   idle mode: all (default): one thread keeps reading every connection
                     (epoll) and answers every ping with a pong until the run is over, as a
                     browser does; connect: each connection reads its connect frames and
                     nothing more (later frames wait in its receive buffer, pings go
                     unanswered), the measure before issue 25, kept to compare
  --connectors C     threads that open connections (default 8)
  --connect-rate N   open at most N connections per second (default 0: as fast as possible)
  --per-address N    clients per loopback source address (default 16): client i binds to
                     127.0.0.2 + (i mod A) before connecting, A the fewest addresses (a
                     multiple of --rooms) that keep each to N, so that the server's
                     per-address limits at their defaults are not what is measured; 0: every
                     client from 127.0.0.1 (a ::1 URL's clients always come from ::1)
  --reader-threads T threads that read the clients' sockets, with epoll (default 1)
  --ca FILE          trust this PEM certificate for wss:// (default: accept any certificate,
                     which is only allowed because every address is a loopback one)
  --json             print one JSON line instead of the readable report
  -h, --help         this text
";

/// Which scenario the generator plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Chat,
    Idle,
    Stalled,
    Amend,
    Api,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Chat => "chat",
            Mode::Idle => "idle",
            Mode::Stalled => "stalled",
            Mode::Amend => "amend",
            Mode::Api => "api",
        }
    }
}

/// How clients are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    /// `b0`, `b1`, ...: every join changes the users list.
    Distinct,
    /// One nickname for every client: the users list never changes after the first.
    Shared,
}

/// What an idle client reads (`--idle-read`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleRead {
    /// Every frame until the run is over, and a pong for every ping: what a browser costs.
    All,
    /// The frames of the connect (`--initial-frames`), then nothing.
    Connect,
}

impl IdleRead {
    pub fn name(self) -> &'static str {
        match self {
            IdleRead::All => "all",
            IdleRead::Connect => "connect",
        }
    }
}

/// A `ws://` or `wss://` URL on a loopback address.
#[derive(Debug, Clone)]
pub struct Url {
    pub tls: bool,
    pub addr: SocketAddr,
    /// What goes into the `Host` header.
    pub host: String,
    /// Path and query, e.g. `/ws` or `/ws?x=1`.
    pub path: String,
}

impl Url {
    pub fn parse(text: &str) -> Result<Url, String> {
        let (tls, rest) = if let Some(rest) = text.strip_prefix("ws://") {
            (false, rest)
        } else if let Some(rest) = text.strip_prefix("wss://") {
            (true, rest)
        } else {
            return Err(format!("{text}: the URL must start with ws:// or wss://"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/ws"),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6.find(']').ok_or(format!("{text}: unclosed ["))?;
            let port = v6[end + 1..].strip_prefix(':').unwrap_or("");
            (&v6[..end], port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, p),
                None => (authority, ""),
            }
        };
        let port: u16 = match port {
            "" if tls => 443,
            "" => 80,
            p => p.parse().map_err(|_| format!("{text}: bad port {p:?}"))?,
        };
        let ip: IpAddr = if host == "localhost" {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            host.parse()
                .map_err(|_| format!("{text}: the host must be an IP address or localhost"))?
        };
        if !ip.is_loopback() {
            return Err(format!("{text}: only loopback addresses (127.0.0.0/8, ::1) are allowed"));
        }
        Ok(Url {
            tls,
            addr: SocketAddr::new(ip, port),
            host: authority.to_string(),
            path: path.into(),
        })
    }

    /// The request target for a client called `name`.
    pub fn target(&self, name: &str) -> String {
        let sep = if self.path.contains('?') { '&' } else { '?' };
        format!("{}{sep}name={name}", self.path)
    }
}

#[derive(Debug, Clone)]
pub struct Args {
    pub urls: Vec<Url>,
    pub mode: Mode,
    pub clients: usize,
    pub senders: usize,
    pub rate: f64,
    pub duration: f64,
    pub size: usize,
    /// What follows each measured message's stamp (`--text`, with `--size`).
    pub text: Body,
    /// Offer permessage-deflate (`--deflate`).
    pub deflate: bool,
    /// With `--deflate`, the senders still send uncompressed (`--plain-send`).
    pub plain_send: bool,
    pub stalled: usize,
    pub warmup: f64,
    pub grace: f64,
    pub server_pid: Option<u32>,
    pub cpu_pids: Vec<u32>,
    pub names: Names,
    /// The nickname every client asks for with [`Names::Shared`].
    pub nickname: String,
    /// Rooms the clients are spread over (0: all stay in the default room).
    pub rooms: usize,
    pub initial_frames: usize,
    pub idle_read: IdleRead,
    pub connectors: usize,
    pub connect_rate: f64,
    /// Clients per loopback source address (0: no binding); see `source.rs`.
    pub per_address: usize,
    pub reader_threads: usize,
    pub ca: Option<PathBuf>,
    pub json: bool,
    /// Amend mode: messages said (`--messages`).
    pub messages: usize,
    /// Amend mode: the share of them edited and reacted to, in percent (`--amend E,R`).
    pub amend: (u32, u32),
    /// Api mode: the bot's token (`--token`).
    pub token: Option<String>,
}

impl Args {
    pub fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut args = Args {
            urls: Vec::new(),
            mode: Mode::Chat,
            clients: 100,
            senders: 10,
            rate: 10.0,
            duration: 10.0,
            size: 64,
            text: Body::Padding(64),
            deflate: false,
            plain_send: false,
            stalled: 5,
            warmup: 0.0,
            grace: 5.0,
            server_pid: None,
            cpu_pids: Vec::new(),
            names: Names::Distinct,
            nickname: "bench".into(),
            rooms: 0,
            initial_frames: 3,
            idle_read: IdleRead::All,
            connectors: 8,
            connect_rate: 0.0,
            per_address: 16,
            reader_threads: 1,
            ca: None,
            json: false,
            messages: 1000,
            amend: (10, 20),
            token: None,
        };
        let mut chat_text = false;
        while let Some(flag) = argv.next() {
            let (flag, inline) = match flag.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (flag, None),
            };
            let mut value = || -> Result<String, String> {
                inline.clone().or_else(|| argv.next()).ok_or(format!("{flag} needs a value"))
            };
            match flag.as_str() {
                "-h" | "--help" => return Err(String::new()),
                "--json" => args.json = true,
                "--deflate" => args.deflate = true,
                "--plain-send" => args.plain_send = true,
                "--text" => {
                    chat_text = match value()?.as_str() {
                        "padding" => false,
                        "chat" => true,
                        t => return Err(format!("--text {t}: expected padding or chat")),
                    }
                }
                "--url" => args.urls.push(Url::parse(&value()?)?),
                "--mode" => {
                    args.mode = match value()?.as_str() {
                        "chat" => Mode::Chat,
                        "idle" => Mode::Idle,
                        "stalled" => Mode::Stalled,
                        "amend" => Mode::Amend,
                        "api" => Mode::Api,
                        m => {
                            return Err(format!(
                                "--mode {m}: expected chat, idle, stalled, amend or api"
                            ));
                        }
                    }
                }
                "--names" => {
                    args.names = match value()?.as_str() {
                        "distinct" => Names::Distinct,
                        "shared" => Names::Shared,
                        n => return Err(format!("--names {n}: expected distinct or shared")),
                    }
                }
                "--idle-read" => {
                    args.idle_read = match value()?.as_str() {
                        "all" => IdleRead::All,
                        "connect" => IdleRead::Connect,
                        r => return Err(format!("--idle-read {r}: expected all or connect")),
                    }
                }
                "--nickname" => args.nickname = nickname(&value()?)?,
                "--token" => args.token = Some(value()?),
                "--clients" => args.clients = number(&flag, &value()?)?,
                "--senders" => args.senders = number(&flag, &value()?)?,
                "--rate" => args.rate = number(&flag, &value()?)?,
                "--duration" => args.duration = number(&flag, &value()?)?,
                "--size" => args.size = number(&flag, &value()?)?,
                "--messages" => args.messages = number(&flag, &value()?)?,
                "--amend" => {
                    let v = value()?;
                    let parsed = v.split_once(',').and_then(|(e, r)| {
                        Some((e.parse().ok()?, r.parse().ok()?))
                            .filter(|&(e, r)| e <= 100 && r <= 100)
                    });
                    args.amend = parsed
                        .ok_or(format!("--amend {v}: expected EDIT%,REACT% such as 10,20"))?;
                }
                "--stalled" => args.stalled = number(&flag, &value()?)?,
                "--warmup" => args.warmup = number(&flag, &value()?)?,
                "--grace" => args.grace = number(&flag, &value()?)?,
                "--server-pid" => args.server_pid = Some(number(&flag, &value()?)?),
                "--cpu-pid" => args.cpu_pids.push(number(&flag, &value()?)?),
                "--rooms" => args.rooms = number(&flag, &value()?)?,
                "--initial-frames" => args.initial_frames = number(&flag, &value()?)?,
                "--connectors" => args.connectors = number(&flag, &value()?)?,
                "--connect-rate" => args.connect_rate = number(&flag, &value()?)?,
                "--per-address" => args.per_address = number(&flag, &value()?)?,
                "--reader-threads" => args.reader_threads = number(&flag, &value()?)?,
                "--ca" => args.ca = Some(PathBuf::from(value()?)),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        if args.urls.is_empty() {
            return Err("--url is required".into());
        }
        args.text = if chat_text { Body::Chat } else { Body::Padding(args.size) };
        if args.clients == 0 || args.clients > 50_000 {
            return Err("--clients must be between 1 and 50000".into());
        }
        if args.mode != Mode::Stalled {
            args.stalled = 0;
        }
        if args.stalled >= args.clients {
            return Err("--stalled must be smaller than --clients".into());
        }
        if args.mode != Mode::Idle && args.senders > args.clients - args.stalled {
            return Err("--senders cannot exceed the clients that read".into());
        }
        // Api mode's --rate 0: as fast as answers come.
        let unpaced = args.mode == Mode::Api && args.rate == 0.0;
        let paced = args.rate > 0.0 && args.rate <= 1_000_000.0;
        if !(unpaced || paced) {
            return Err("--rate must be in (0, 1000000] (or 0 in api mode)".into());
        }
        if !(args.duration > 0.0 && args.duration <= 3600.0) {
            return Err("--duration must be in (0, 3600] seconds".into());
        }
        if !(0.0..=600.0).contains(&args.warmup) || !(0.0..=600.0).contains(&args.grace) {
            return Err("--warmup and --grace must be in [0, 600] seconds".into());
        }
        if args.size > 16 << 20 {
            return Err("--size is at most 16 MiB".into());
        }
        if args.rooms > 0 && args.mode != Mode::Chat {
            return Err("--rooms is for chat mode".into());
        }
        if args.rooms > args.clients.min(MAX_ROOMS) {
            return Err(format!("--rooms must be at most --clients and {MAX_ROOMS}"));
        }
        args.connectors = args.connectors.clamp(1, 64);
        args.reader_threads = args.reader_threads.clamp(1, 64);
        if !(0.0..=1_000_000.0).contains(&args.connect_rate) {
            return Err("--connect-rate must be in [0, 1000000]".into());
        }
        Ok(args)
    }

    /// The URL client `i` connects to.
    pub fn url(&self, i: usize) -> &Url {
        &self.urls[i % self.urls.len()]
    }

    /// The source addresses of the clients.
    pub fn sources(&self) -> Sources {
        Sources::new(self.clients, self.rooms, self.per_address)
    }

    /// The address client `i` connects from: its own loopback address for an IPv4 URL, else
    /// whatever the kernel picks.
    pub fn source(&self, i: usize) -> Option<IpAddr> {
        if !self.url(i).addr.is_ipv4() {
            return None;
        }
        self.sources().of(i).map(IpAddr::V4)
    }

    /// How many loopback addresses the clients bind to (0: none, all from the kernel's choice).
    pub fn source_addresses(&self) -> usize {
        match self.urls.iter().any(|u| u.addr.is_ipv4()) {
            true => self.sources().count(),
            false => 0,
        }
    }

    /// The nickname of client `i`.
    pub fn name(&self, i: usize) -> String {
        match self.names {
            Names::Distinct => format!("b{i}"),
            Names::Shared => self.nickname.clone(),
        }
    }

    /// The group of client (or sender) `i`: its room's index with `--rooms`, else 0 (everyone
    /// in the default room).
    pub fn group(&self, i: usize) -> usize {
        if self.rooms == 0 { 0 } else { i % self.rooms }
    }

    /// How many groups there are: the rooms, or the one default room.
    pub fn groups(&self) -> usize {
        self.rooms.max(1)
    }

    /// The room of group `g`.
    pub fn room(&self, g: usize) -> String {
        if self.rooms == 0 { DEFAULT_ROOM.to_string() } else { format!("r{g}") }
    }

    pub fn secs(value: f64) -> Duration {
        Duration::from_secs_f64(value.max(0.0))
    }
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value.parse().map_err(|_| format!("{flag}: {value:?} is not a valid number"))
}

/// A nickname that goes into the request target as it is: no percent-encoding needed.
fn nickname(value: &str) -> Result<String, String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if value.is_empty() || value.len() > 32 || !value.chars().all(plain) {
        return Err(format!("--nickname {value:?}: 1 to 32 letters, digits, - or _"));
    }
    Ok(value.to_string())
}

/// The room every connection is in when it opens (the server's `DEFAULT_ROOM`, at its default:
/// the benchmark starts servers with a clean environment).
pub const DEFAULT_ROOM: &str = "general";
/// The server's default `MAX_ROOMS`: rooms with members on one instance.
const MAX_ROOMS: usize = 10_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("ws://127.0.0.1:8080/ws").unwrap();
        assert!(!u.tls);
        assert_eq!(u.addr.port(), 8080);
        assert_eq!(u.target("b1"), "/ws?name=b1");
        let u = Url::parse("wss://localhost:9/ws?x=1").unwrap();
        assert!(u.tls);
        assert_eq!(u.target("b1"), "/ws?x=1&name=b1");
        assert!(Url::parse("ws://[::1]:80/ws").is_ok());
        assert!(Url::parse("ws://10.0.0.1:80/ws").is_err());
        assert!(Url::parse("ws://example.com/ws").is_err());
        assert!(Url::parse("http://127.0.0.1/").is_err());
    }

    fn parse(line: &str) -> Result<Args, String> {
        Args::parse(line.split_whitespace().map(String::from))
    }

    #[test]
    fn rooms() {
        let a =
            parse("--url ws://127.0.0.1:1/ws --clients 1000 --senders 100 --rooms 100").unwrap();
        assert_eq!((a.group(0), a.group(7), a.group(107), a.groups()), (0, 7, 7, 100));
        assert_eq!((a.room(7), a.room(99)), ("r7".to_string(), "r99".to_string()));
        let b = parse("--url ws://127.0.0.1:1/ws --clients 10").unwrap();
        assert_eq!((b.group(7), b.groups(), b.room(b.group(7))), (0, 1, "general".to_string()));
        assert!(parse("--url ws://127.0.0.1:1/ws --clients 10 --rooms 11").is_err());
        assert!(parse("--url ws://127.0.0.1:1/ws --mode idle --clients 10 --rooms 2").is_err());
    }

    #[test]
    fn source_addresses() {
        let a = parse("--url ws://127.0.0.1:1/ws --clients 1000 --senders 1").unwrap();
        assert_eq!(a.source_addresses(), 63);
        assert_eq!(a.source(64), Some("127.0.0.3".parse().unwrap()));
        let b = parse("--url ws://127.0.0.1:1/ws --url ws://[::1]:2/ws --clients 100").unwrap();
        assert_eq!((b.source(0).is_some(), b.source(1)), (true, None));
        let c = parse("--url ws://[::1]:1/ws --clients 100").unwrap();
        assert_eq!((c.source_addresses(), c.source(0)), (0, None));
        let d = parse("--url ws://127.0.0.1:1/ws --clients 100 --per-address 0").unwrap();
        assert_eq!((d.source_addresses(), d.source(0)), (0, None));
    }

    #[test]
    fn nicknames() {
        let a = parse("--url ws://127.0.0.1:1/ws --clients 3 --senders 1").unwrap();
        assert_eq!((a.name(0), a.name(2)), ("b0".to_string(), "b2".to_string()));
        let b = parse("--url ws://127.0.0.1:1/ws --names shared --nickname carolina").unwrap();
        assert_eq!((b.name(0), b.name(5)), ("carolina".to_string(), "carolina".to_string()));
        assert_eq!(parse("--url ws://127.0.0.1:1/ws --names shared").unwrap().name(1), "bench");
        assert!(parse("--url ws://127.0.0.1:1/ws --nickname a&b").is_err());
        assert!(parse("--url ws://127.0.0.1:1/ws --nickname=").is_err());
    }

    #[test]
    fn idle_read() {
        let a = parse("--url ws://127.0.0.1:1/ws --mode idle").unwrap();
        assert_eq!(a.idle_read, IdleRead::All);
        assert!(parse("--url ws://127.0.0.1:1/ws --rate 0").is_err());
        let api = parse("--url ws://127.0.0.1:1/ws --mode api --token t --rate 0").unwrap();
        assert_eq!((api.mode, api.rate, api.token.as_deref()), (Mode::Api, 0.0, Some("t")));
        let b = parse("--url ws://127.0.0.1:1/ws --mode idle --idle-read connect").unwrap();
        assert_eq!(b.idle_read, IdleRead::Connect);
        assert!(parse("--url ws://127.0.0.1:1/ws --idle-read some").is_err());
    }

    #[test]
    fn text_and_deflate() {
        let a = parse("--url ws://127.0.0.1:1/ws --size 100").unwrap();
        assert_eq!((a.text, a.deflate), (Body::Padding(100), false));
        let b = parse("--url ws://127.0.0.1:1/ws --text chat --deflate").unwrap();
        assert_eq!((b.text, b.deflate), (Body::Chat, true));
        assert!(parse("--url ws://127.0.0.1:1/ws --text lorem").is_err());
    }
}
