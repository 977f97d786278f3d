//! Tests only: a one-connection WebSocket server on `127.0.0.1:0` that answers the opening
//! handshake, sends the frames a test gives it, and returns what the client sent.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use websocketchat::ws::handshake::accept_key;

use crate::args::Url;
use crate::client::{Conn, Dial, Rng};

/// Accepts one WebSocket, answers its handshake with `extensions` as its
/// `Sec-WebSocket-Extensions` (none when empty), sends `frames`, and returns the request head
/// and what the client sent after it.
pub fn serve(extensions: &str, frames: Vec<u8>) -> (Url, JoinHandle<(String, Vec<u8>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = Url::parse(&format!("ws://{}/ws", listener.local_addr().unwrap())).unwrap();
    let extensions = match extensions {
        "" => String::new(),
        value => format!("Sec-WebSocket-Extensions: {value}\r\n"),
    };
    let handle = thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
        let head = read_head(&mut tcp);
        let key =
            head.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Key: ")).unwrap().to_string();
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{extensions}\r\n",
            accept_key(&key)
        );
        tcp.write_all(answer.as_bytes()).unwrap();
        tcp.write_all(&frames).unwrap();
        let mut got = Vec::new();
        let _ = tcp.read_to_end(&mut got);
        (head, got)
    });
    (url, handle)
}

/// Connects to `url` as the generator does, offering permessage-deflate or not.
pub fn connect(url: &Url, deflate: bool) -> std::io::Result<Conn> {
    let dial = Dial { url, tls: None, recv_buffer: None, source: None, timeout: TIMEOUT, deflate };
    dial.websocket("/ws?name=a", &mut Rng::new(7))
}

/// An unmasked frame, as a server sends it: `first` is FIN, RSV and the opcode.
pub fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

fn read_head(tcp: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

const TIMEOUT: Duration = Duration::from_secs(5);
