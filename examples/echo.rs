//! The `ws` layer on its own: a WebSocket echo server with no TLS, no chat and no JSON, built from
//! `net`, `http` and `ws` only. Every text or binary message comes back to its sender.
//!
//! ```sh
//! cargo run --example echo            # ws://127.0.0.1:9001/, any path
//! websocat ws://127.0.0.1:9001/
//! ```

use std::io;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use websocketchat::config::{Config, Origins};
use websocketchat::http::origin::Scheme;
use websocketchat::http::{HeadError, Response, request};
use websocketchat::metrics::Metrics;
use websocketchat::net::accept::{Admit, accept_loop};
use websocketchat::net::close;
use websocketchat::net::conn::{Conn, DeadlineSocket};
use websocketchat::net::per_address::PerAddress;
use websocketchat::server::address_limits;
use websocketchat::ws::deflate::{self, offer::EXTENSIONS_HEADER};
use websocketchat::ws::echo::Echo;
use websocketchat::ws::handshake;
use websocketchat::ws::reader::{Reader, Timing};
use websocketchat::ws::upgrade::{Options, upgrade};

fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9001".to_string());
    let listener = TcpListener::bind(&addr)?;
    println!("echo on ws://{}/", listener.local_addr()?);
    let metrics = Arc::new(Metrics::default());
    let never = AtomicBool::new(false);
    // One address may have 16 connections at once (the chat's default for handshakes: here a
    // connection holds its count for its whole life).
    let per_address = PerAddress::new(address_limits(&Config::default()));
    let admit =
        Admit { max_threads: 1000, per_address: &per_address, exempt: &[], refused: &|| {} };
    accept_loop(&listener, &admit, &never, move |tcp, id, handshake| {
        let result = serve(tcp, &metrics);
        drop(handshake);
        if let Err(e) = result {
            eprintln!("connection {id}: {e}");
        }
    });
    Ok(())
}

/// One connection: the request head, the opening handshake, then the session with [`Echo`].
fn serve(tcp: TcpStream, metrics: &Arc<Metrics>) -> io::Result<()> {
    let mut conn = Conn::Plain(DeadlineSocket::new(tcp, Instant::now() + HANDSHAKE_TIMEOUT));
    let (request, leftover) = match request::read_head(&mut conn) {
        Ok(read) => read,
        Err(HeadError::Io(e)) => return Err(e),
        Err(HeadError::Rejected(rejection)) => {
            Response::rejection(rejection).write_to(&mut conn, false)?;
            return close::finish(conn);
        }
    };
    let accept = match handshake::check(&request, &Origins::Any, Some(Scheme::Http)) {
        Ok(accept) => accept,
        Err(rejection) => {
            Response::rejection(rejection).write_to(&mut conn, false)?;
            return close::finish(conn);
        }
    };
    // The echo speaks no subprotocol (RFC 6455 §1.9): its `101` names none. It accepts a
    // permessage-deflate offer (RFC 7692), and then compresses its echoes of 128 bytes or more.
    let (send_buffer, write_requests, subprotocol) = (usize::MAX, None, None);
    let deflate = deflate::negotiate(request.header_list(EXTENSIONS_HEADER), true).agreed;
    let max_message = MAX_MESSAGE;
    let options = Options { max_message, send_buffer, write_requests, subprotocol, deflate };
    let upgraded = upgrade(conn, &accept, leftover, options, metrics)?;
    let timing = Timing { ping_every: PING_EVERY, idle: IDLE };
    let end = Reader::new(upgraded, timing).run(&mut Echo::new(IDLE, COMPRESSION));
    println!("{}: {end}", request.path);
    Ok(())
}

/// Echoes of 128 bytes or more go compressed, up to 16 MiB of them a second.
const COMPRESSION: deflate::Settings =
    deflate::Settings { min_bytes: 128, bytes_per_second: 16 << 20 };
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_MESSAGE: usize = 16 << 20;
const PING_EVERY: Duration = Duration::from_secs(30);
const IDLE: Duration = Duration::from_secs(75);
