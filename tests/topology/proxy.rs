//! A TCP proxy in front of the broker that can break a connection at the worst moment: right
//! after the broker has received a produce request, before its answer reaches the client. The
//! client then sees an I/O error and sends the request again, though the broker has already
//! appended the record.
//!
//! Kafka requests are framed as a 4-byte big-endian length and the request itself, which starts
//! with the API key (`0x0000` is Produce). The proxy reads the client's side frame by frame.
//!
//! The broker's answers name the broker's address, and clients connect to the address named:
//! the proxy forwards to a listener of the broker that advertises the proxy's own port
//! (`Broker::proxied` in tests/support/kafka.rs), so every connection keeps going through it.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// The proxy; it runs until the test process ends.
pub struct Proxy {
    pub port: u16,
    /// A produce request containing these bytes gets its connection broken once it is delivered.
    cut: Arc<Mutex<Option<Vec<u8>>>>,
}

impl Proxy {
    /// Forwards every connection that `listener` accepts to `upstream`.
    pub fn start(listener: TcpListener, upstream: u16) -> Proxy {
        let port = listener.local_addr().unwrap().port();
        let cut: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
        let armed = cut.clone();
        thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let Ok(broker) = TcpStream::connect(("127.0.0.1", upstream)) else { continue };
                let armed = armed.clone();
                thread::spawn(move || forward(client, broker, armed));
            }
        });
        Proxy { port, cut }
    }

    /// Breaks the connection that carries the next produce request containing `marker`.
    pub fn cut_produce_of(&self, marker: &str) {
        *self.cut.lock().unwrap() = Some(marker.as_bytes().to_vec());
    }
}

fn forward(mut client: TcpStream, mut broker: TcpStream, armed: Arc<Mutex<Option<Vec<u8>>>>) {
    let broken = Arc::new(AtomicBool::new(false));
    let (mut from_broker, mut to_client) =
        (broker.try_clone().unwrap(), client.try_clone().unwrap());
    let answers_dropped = broken.clone();
    thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n @ 1..) = from_broker.read(&mut buf) {
            if answers_dropped.load(Ordering::SeqCst) || to_client.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    loop {
        let mut len = [0u8; 4];
        if client.read_exact(&mut len).is_err() {
            break;
        }
        let mut request = vec![0u8; u32::from_be_bytes(len) as usize];
        if client.read_exact(&mut request).is_err() {
            break;
        }
        let is_produce = request.starts_with(&[0x00, 0x00]);
        let marked = {
            let mut armed = armed.lock().unwrap();
            let hit = is_produce
                && armed.as_ref().is_some_and(|m| request.windows(m.len()).any(|w| w == m));
            if hit {
                *armed = None;
            }
            hit
        };
        if marked {
            broken.store(true, Ordering::SeqCst);
        }
        if broker.write_all(&len).is_err() || broker.write_all(&request).is_err() {
            break;
        }
        if marked {
            // Let the broker append it, then break the connection before any answer.
            thread::sleep(Duration::from_millis(500));
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = broker.shutdown(Shutdown::Both);
}
