//! Opening a connection: the TCP socket with its options set before `connect`, then the TLS
//! handshake for wss://, before any HTTP.
//!
//! [`Dial`] says how (the URL, TLS, the receive buffer, the source address, the timeout, the
//! permessage-deflate offer); [`Dial::open`] gives a [`Stream`] that plain HTTP requests use as
//! it is, and `handshake.rs` turns into a WebSocket.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::ClientConnection;
use rustls::pki_types::ServerName;
use socket2::{Domain, Protocol, Socket, Type};

use super::tls::Tls;
use crate::args::Url;

/// How to open a connection.
pub struct Dial<'a> {
    pub url: &'a Url,
    pub tls: Option<&'a Arc<rustls::ClientConfig>>,
    /// SO_RCVBUF, set before connect (so the window is small from the SYN on).
    pub recv_buffer: Option<usize>,
    /// The loopback address to connect from (bound before connect), or the kernel's choice.
    pub source: Option<IpAddr>,
    pub timeout: Duration,
    /// Offer permessage-deflate as browsers do (`--deflate`; RFC 7692, see `deflate.rs`).
    pub deflate: bool,
}

/// A TCP connection, with TLS if the URL says so, before any HTTP.
pub struct Stream {
    pub tcp: Arc<TcpStream>,
    pub tls: Option<Tls>,
}

impl Dial<'_> {
    pub fn open(&self) -> io::Result<Stream> {
        let domain = Domain::for_address(self.url.addr);
        let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
        if let Some(size) = self.recv_buffer {
            socket.set_recv_buffer_size(size)?;
        }
        socket.set_tcp_nodelay(true)?;
        if let Some(ip) = self.source {
            socket.bind(&SocketAddr::new(ip, 0).into()).map_err(|e| {
                io::Error::new(e.kind(), format!("binding to {ip}: {e} (see --per-address)"))
            })?;
        }
        socket.connect_timeout(&self.url.addr.into(), self.timeout)?;
        let tcp: TcpStream = socket.into();
        tcp.set_read_timeout(Some(self.timeout))?;
        tcp.set_write_timeout(Some(self.timeout))?;
        let tls = match (self.url.tls, self.tls) {
            (false, _) => None,
            (true, None) => return Err(io::Error::other("wss:// without a TLS configuration")),
            (true, Some(config)) => {
                let name = ServerName::from(self.url.addr.ip());
                let mut conn =
                    ClientConnection::new(config.clone(), name).map_err(io::Error::other)?;
                let mut io = &tcp;
                while conn.is_handshaking() {
                    conn.complete_io(&mut io)?;
                }
                Some(Arc::new(Mutex::new(conn)))
            }
        };
        Ok(Stream { tcp: Arc::new(tcp), tls })
    }
}
