//! `websocketchat healthcheck`: the container's HEALTHCHECK, with no curl in the image.
//!
//! Connects to the server's own address (`HOST`, or loopback when it listens on all addresses) and
//! port, asks `GET /healthz` (over TLS when `BACKEND_TLS` is on, trusting the server's own
//! certificate under the name `localhost`), and succeeds only on `200`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use rustls_pki_types::ServerName;

use crate::config::Config;
use crate::net::{accept, tls};

/// Asks the running server for `/healthz`; `Ok` with the body when it answered 200.
pub fn check(config: &Config) -> Result<String, String> {
    let addr = accept::reachable(SocketAddr::new(config.host, config.port));
    let tcp = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("{addr}: {e}"))?;
    tcp.set_read_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
        config.port
    );
    let mut answer = Vec::new();
    if config.tls {
        let client = tls::client_config(Some(&config.tls_cert)).map_err(|e| e.to_string())?;
        let name = ServerName::try_from("localhost").expect("a valid DNS name");
        let conn = rustls::ClientConnection::new(client, name).map_err(|e| e.to_string())?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        tls.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
        // The server ends with close_notify; an error after the answer does not matter.
        let _ = tls.read_to_end(&mut answer);
    } else {
        let mut tcp = tcp;
        tcp.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
        let _ = tcp.read_to_end(&mut answer);
    }
    let answer = String::from_utf8_lossy(&answer);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_string();
    match answer.starts_with("HTTP/1.1 200 ") {
        true => Ok(body),
        false => Err(answer.lines().next().unwrap_or("no answer").to_string() + " " + &body),
    }
}

const TIMEOUT: Duration = Duration::from_secs(3);
