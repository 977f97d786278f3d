//! A TLS session whose buffers are ours: rustls's unbuffered API (`UnbufferedServerConnection`).
//!
//! rustls's buffered `ServerConnection` keeps its own buffer of incoming ciphertext, and never
//! gives it back while the connection lives: 4 KiB (`used + 4096` bytes) per idle connection. With
//! the unbuffered API rustls only looks at the bytes we hand it, so [`TlsSession`] keeps three
//! buffers of its own, each empty (no allocation at all) while the connection is idle:
//!
//! - `incoming`: ciphertext read and not yet processed, that is an incomplete record (or, during
//!   the handshake, handshake messages rustls is still joining in place);
//! - `plaintext`: decrypted application data not yet read;
//! - `outgoing`: TLS records to send, in order: the handshake, alerts, key updates, and the
//!   application data [`TlsSession::encrypt`] encrypted straight into it.
//!
//! Before the upgrade the connection thread drives the session with blocking reads and writes
//! ([`TlsSession::read_blocking`], [`TlsSession::write_blocking`]); after it the session lives in
//! the client's `Outbound`, under its lock, and the reader and the broadcaster take turns (see
//! `ws/outbound/`). Every call to rustls is given the same `incoming` buffer, as its API wants.

use std::io::{self, Read, Write};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncodeTlsData, EncryptError, InsufficientSizeError,
    UnbufferedStatus,
};

/// One TLS session and its buffers.
pub struct TlsSession {
    conn: UnbufferedServerConnection,
    incoming: Vec<u8>,
    plaintext: Vec<u8>,
    /// Bytes of `plaintext` already read.
    read: usize,
    outgoing: Vec<u8>,
    /// Bytes of `outgoing` already sent.
    sent: usize,
    /// The peer sent its `close_notify`: no more data will come.
    peer_closed: bool,
    /// rustls failed (a bad record, say): the session is over, rustls is not called again.
    failed: Option<rustls::Error>,
}

impl std::fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSession")
            .field("incoming", &self.incoming.len())
            .field("plaintext", &(self.plaintext.len() - self.read))
            .field("outgoing", &(self.outgoing.len() - self.sent))
            .field("peer_closed", &self.peer_closed)
            .finish_non_exhaustive()
    }
}

/// What rustls asked for after one step.
enum Step {
    /// It has more to say: call again.
    Again,
    /// It needs more ciphertext from the peer (the handshake is not done).
    Blocked,
    /// Nothing left to process; application data may be written.
    Open,
    /// Both sides sent `close_notify`.
    Closed,
}

/// What a step does when rustls allows writing.
#[derive(Clone, Copy)]
enum Then<'a> {
    /// Nothing: only process what came in.
    Nothing,
    /// Encrypt these bytes.
    Encrypt(&'a [u8]),
    /// Encrypt a `close_notify` alert.
    CloseNotify,
}

impl TlsSession {
    /// A new server session with `config`.
    pub fn new(config: &Arc<ServerConfig>) -> Result<TlsSession, rustls::Error> {
        Ok(TlsSession {
            conn: UnbufferedServerConnection::new(config.clone())?,
            incoming: Vec::new(),
            plaintext: Vec::new(),
            read: 0,
            outgoing: Vec::new(),
            sent: 0,
            peer_closed: false,
            failed: None,
        })
    }

    /// Copies decrypted data into `out`. `None`: nothing is waiting; `Some(0)`: the peer ended
    /// the session.
    pub fn read_plaintext(&mut self, out: &mut [u8]) -> Option<usize> {
        let waiting = &self.plaintext[self.read..];
        if waiting.is_empty() {
            return self.peer_closed.then_some(0);
        }
        let n = waiting.len().min(out.len());
        out[..n].copy_from_slice(&waiting[..n]);
        self.read += n;
        if self.read == self.plaintext.len() {
            (self.plaintext, self.read) = (Vec::new(), 0);
        }
        Some(n)
    }

    /// Takes ciphertext read from the socket and processes every record it completes: their
    /// plaintext waits for [`TlsSession::read_plaintext`], what rustls answers (the handshake, a
    /// key update, an alert) waits in `outgoing`. On an error, the alert for the peer is in
    /// `outgoing` too.
    pub fn receive(&mut self, ciphertext: Vec<u8>) -> Result<(), rustls::Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.incoming.is_empty() {
            self.incoming = ciphertext;
        } else {
            self.incoming.extend_from_slice(&ciphertext);
        }
        self.check_incoming().inspect_err(|e| self.failed = Some(e.clone()))?;
        self.process()
    }

    /// Encrypts `data` into `outgoing`, after whatever rustls must send first.
    pub fn encrypt(&mut self, data: &[u8]) -> Result<(), rustls::Error> {
        self.until_open(Then::Encrypt(data))
    }

    /// Encrypts a `close_notify` alert into `outgoing`, which ends the session (RFC 8446 §6.1).
    pub fn close_notify(&mut self) -> Result<(), rustls::Error> {
        self.until_open(Then::CloseNotify)
    }

    /// The records waiting to be sent.
    pub fn outgoing(&self) -> &[u8] {
        &self.outgoing[self.sent..]
    }

    /// True when records wait to be sent.
    pub fn wants_write(&self) -> bool {
        self.sent < self.outgoing.len()
    }

    /// `n` bytes of [`TlsSession::outgoing`] were sent. The buffer is given back once empty.
    pub fn sent(&mut self, n: usize) {
        self.sent += n;
        if self.sent >= self.outgoing.len() {
            (self.outgoing, self.sent) = (Vec::new(), 0);
        }
    }

    /// Before the upgrade: reads plaintext, doing the handshake first and reading from `socket`
    /// (with its deadline) as needed. `Ok(0)`: the peer ended the session or the connection.
    pub fn read_blocking(
        &mut self,
        socket: &mut impl ReadWrite,
        out: &mut [u8],
    ) -> io::Result<usize> {
        loop {
            if let Some(n) = self.read_plaintext(out) {
                return Ok(n);
            }
            let start = self.incoming.len();
            self.incoming.resize(start + READ_CHUNK, 0);
            let read = socket.read(&mut self.incoming[start..]);
            self.incoming.truncate(start + *read.as_ref().unwrap_or(&0));
            if read? == 0 {
                return Ok(0);
            }
            let processed = self.check_incoming().and_then(|()| self.process());
            self.flush_blocking(socket)?;
            processed.map_err(invalid_data)?;
        }
    }

    /// Before the upgrade: encrypts `data` and writes it, with whatever waits before it.
    pub fn write_blocking(&mut self, socket: &mut impl Write, data: &[u8]) -> io::Result<()> {
        self.encrypt(data).map_err(invalid_data)?;
        self.flush_blocking(socket)
    }

    /// Writes every waiting record to a blocking `socket`.
    pub fn flush_blocking(&mut self, socket: &mut impl Write) -> io::Result<()> {
        while self.wants_write() {
            let n = socket.write(self.outgoing())?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.sent(n);
        }
        Ok(())
    }

    /// Processes what `incoming` holds until rustls needs more of it.
    fn process(&mut self) -> Result<(), rustls::Error> {
        while let Step::Again = self.step(Then::Nothing)? {}
        Ok(())
    }

    /// Steps until rustls allows writing, then does `then`.
    fn until_open(&mut self, then: Then<'_>) -> Result<(), rustls::Error> {
        loop {
            match self.step(then)? {
                Step::Again => {}
                Step::Open => return Ok(()),
                Step::Blocked => return Err(rustls::Error::HandshakeNotComplete),
                Step::Closed => {
                    return Err(rustls::Error::General("the TLS session is closed".into()));
                }
            }
        }
    }

    /// One call to rustls, and what it asked for. On an error, the alert rustls queued for the
    /// peer is moved to `outgoing`.
    fn step(&mut self, then: Then<'_>) -> Result<Step, rustls::Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let UnbufferedStatus { mut discard, state } =
            self.conn.process_tls_records(&mut self.incoming);
        let step = match state {
            Ok(ConnectionState::ReadTraffic(mut traffic)) => loop {
                match traffic.next_record() {
                    Some(Ok(record)) => {
                        discard += record.discard;
                        self.plaintext.extend_from_slice(record.payload);
                    }
                    Some(Err(e)) => break Err(e),
                    None => break Ok(Step::Again),
                }
            },
            Ok(ConnectionState::EncodeTlsData(mut data)) => encode(&mut data, &mut self.outgoing),
            Ok(ConnectionState::TransmitTlsData(data)) => {
                // Our `outgoing` is sent in order before anything written later: as good as sent.
                data.done();
                Ok(Step::Again)
            }
            Ok(ConnectionState::WriteTraffic(mut traffic)) => match then {
                Then::Nothing => Ok(Step::Open),
                Then::Encrypt(data) => {
                    encrypt_into(&mut self.outgoing, data.len(), |out| traffic.encrypt(data, out))
                }
                Then::CloseNotify => {
                    encrypt_into(&mut self.outgoing, 0, |out| traffic.queue_close_notify(out))
                }
            },
            Ok(ConnectionState::PeerClosed) => {
                self.peer_closed = true;
                Ok(Step::Again)
            }
            Ok(ConnectionState::Closed) => {
                self.peer_closed = true;
                Ok(Step::Closed)
            }
            Ok(ConnectionState::BlockedHandshake) => Ok(Step::Blocked),
            // No early data is accepted (the configuration's default), and no other state exists
            // in this version of rustls.
            Ok(_) => Err(rustls::Error::General("unexpected TLS state".into())),
            Err(e) => Err(e),
        };
        self.discard(discard);
        if self.peer_closed {
            // rustls reads nothing after the peer's close_notify.
            self.incoming = Vec::new();
        }
        step.inspect_err(|e| self.fail(e))
    }

    /// After an error: moves the alert rustls queued for the peer to `outgoing`, and ends the
    /// session. While rustls has records queued it hands them out before it looks at `incoming`
    /// again, so the bad record is not processed twice.
    fn fail(&mut self, e: &rustls::Error) {
        for _ in 0..MAX_ALERTS {
            if !self.conn.wants_write() {
                break;
            }
            let UnbufferedStatus { discard, state } =
                self.conn.process_tls_records(&mut self.incoming);
            let encoded = match state {
                Ok(ConnectionState::EncodeTlsData(mut data)) => {
                    encode(&mut data, &mut self.outgoing).is_ok()
                }
                _ => false,
            };
            self.discard(discard);
            if !encoded {
                break;
            }
        }
        self.incoming = Vec::new();
        self.failed = Some(e.clone());
    }

    /// Drops `n` processed bytes from the front of `incoming`, and the buffer itself once empty.
    fn discard(&mut self, n: usize) {
        if n >= self.incoming.len() {
            self.incoming = Vec::new();
        } else if n > 0 {
            self.incoming.drain(..n);
        }
    }

    /// An incomplete record is at most [`MAX_INCOMING`] bytes; a peer that sends more is lying.
    fn check_incoming(&self) -> Result<(), rustls::Error> {
        if self.incoming.len() > MAX_INCOMING {
            return Err(rustls::Error::InvalidMessage(rustls::InvalidMessage::MessageTooLarge));
        }
        Ok(())
    }
}

/// A socket to read from and write to (a `DeadlineSocket` before the upgrade).
pub trait ReadWrite: Read + Write {}

impl<T: Read + Write> ReadWrite for T {}

/// Copies a handshake record (or alert) rustls made into `outgoing`.
fn encode(
    data: &mut EncodeTlsData<'_, ServerConnectionData>,
    outgoing: &mut Vec<u8>,
) -> Result<Step, rustls::Error> {
    let start = outgoing.len();
    let mut room = RECORD_OVERHEAD;
    loop {
        outgoing.resize(start + room, 0);
        match data.encode(&mut outgoing[start..]) {
            Ok(n) => {
                outgoing.truncate(start + n);
                return Ok(Step::Again);
            }
            Err(EncodeError::InsufficientSize(InsufficientSizeError { required_size })) => {
                room = required_size;
            }
            Err(EncodeError::AlreadyEncoded) => {
                outgoing.truncate(start);
                return Ok(Step::Again);
            }
        }
    }
}

/// Runs `encrypt` on room appended to `outgoing`: first what `len` bytes of plaintext need in
/// full records, then what rustls says it needs (records it must send first, such as a key update).
fn encrypt_into(
    outgoing: &mut Vec<u8>,
    len: usize,
    mut encrypt: impl FnMut(&mut [u8]) -> Result<usize, EncryptError>,
) -> Result<Step, rustls::Error> {
    let start = outgoing.len();
    let mut room = len + (len / MAX_FRAGMENT + 1) * RECORD_OVERHEAD;
    loop {
        outgoing.resize(start + room, 0);
        match encrypt(&mut outgoing[start..]) {
            Ok(n) => {
                outgoing.truncate(start + n);
                return Ok(Step::Open);
            }
            Err(EncryptError::InsufficientSize(InsufficientSizeError { required_size }))
                if required_size > room =>
            {
                room = required_size;
            }
            Err(e) => {
                outgoing.truncate(start);
                return Err(rustls::Error::General(e.to_string()));
            }
        }
    }
}

fn invalid_data(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Ciphertext read per system call before the upgrade.
const READ_CHUNK: usize = 4 * 1024;
/// The most a record adds to its plaintext: header (5), explicit nonce (8, TLS 1.2), tag (16),
/// content type (1, TLS 1.3), with room to spare.
const RECORD_OVERHEAD: usize = 64;
/// The plaintext of one record at most (RFC 8446 §5.1).
const MAX_FRAGMENT: usize = 16 * 1024;
/// The most `incoming` may hold: a handshake message of up to 64 KiB (rustls's own bound) in
/// records, or one full record (16 KiB and its overhead) and the read that completes it.
const MAX_INCOMING: usize = 96 * 1024;
/// Alerts rustls may have queued after an error (one, in practice).
const MAX_ALERTS: usize = 4;

#[cfg(test)]
mod tests {
    use rustls::ClientConnection;
    use rustls_pki_types::ServerName;

    use super::*;
    use crate::net::tls;

    /// A server session and a (buffered) rustls client that trusts it, not yet connected.
    fn pair(dir: &str) -> (TlsSession, ClientConnection) {
        let dir = std::env::temp_dir().join(format!("wschat-{dir}-{}", std::process::id()));
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let server = tls::server_config(&cert, &key).unwrap();
        let client = tls::client_config(Some(&cert)).unwrap();
        let client = ClientConnection::new(client, ServerName::try_from("localhost").unwrap());
        std::fs::remove_dir_all(dir).unwrap();
        (TlsSession::new(&server).unwrap(), client.unwrap())
    }

    /// What the client has to send, handed to the server `piece` bytes at a time.
    fn client_to_server(
        client: &mut ClientConnection,
        server: &mut TlsSession,
        piece: usize,
    ) -> Result<(), rustls::Error> {
        let mut wire = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut wire).unwrap();
        }
        wire.chunks(piece).try_for_each(|chunk| server.receive(chunk.to_vec()))
    }

    /// What the server has to send, handed to the client; returns the plaintext it carried.
    fn server_to_client(server: &mut TlsSession, client: &mut ClientConnection) -> Vec<u8> {
        let wire = server.outgoing().to_vec();
        server.sent(wire.len());
        let mut rest = &wire[..];
        let mut plaintext = Vec::new();
        while !rest.is_empty() {
            client.read_tls(&mut rest).unwrap();
            client.process_new_packets().unwrap();
            let _ = client.reader().read_to_end(&mut plaintext);
        }
        plaintext
    }

    fn handshake(server: &mut TlsSession, client: &mut ClientConnection) {
        while client.is_handshaking() {
            client_to_server(client, server, usize::MAX).unwrap();
            server_to_client(server, client);
        }
        // The client's Finished.
        client_to_server(client, server, usize::MAX).unwrap();
        server_to_client(server, client);
    }

    fn all_plaintext(server: &mut TlsSession) -> Vec<u8> {
        let mut got = Vec::new();
        let mut out = [0u8; 1000];
        while let Some(n) = server.read_plaintext(&mut out).filter(|&n| n > 0) {
            got.extend_from_slice(&out[..n]);
        }
        got
    }

    #[test]
    fn data_crosses_both_ways_in_records_of_every_size_and_leaves_no_buffer() {
        let (mut server, mut client) = pair("tls-session");
        handshake(&mut server, &mut client);
        // Several full records and a small one, handed over a few hundred bytes at a time.
        let sent: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        client.writer().write_all(&sent).unwrap();
        client_to_server(&mut client, &mut server, 700).unwrap();
        assert_eq!(all_plaintext(&mut server), sent);
        server.encrypt(&sent).unwrap();
        assert_eq!(server_to_client(&mut server, &mut client), sent);
        // Idle: not one buffer is kept.
        assert_eq!(server.incoming.capacity(), 0);
        assert_eq!(server.plaintext.capacity(), 0);
        assert_eq!(server.outgoing.capacity(), 0);
        // Both close: the client reads our close_notify, we read the client's.
        server.close_notify().unwrap();
        server_to_client(&mut server, &mut client);
        assert_eq!(client.reader().read(&mut [0u8; 1]).unwrap(), 0);
        client.send_close_notify();
        client_to_server(&mut client, &mut server, usize::MAX).unwrap();
        assert_eq!(server.read_plaintext(&mut [0u8; 1]), Some(0));
    }

    #[test]
    fn a_key_update_the_client_asks_for_is_answered_before_the_next_data() {
        let (mut server, mut client) = pair("tls-session-key-update");
        handshake(&mut server, &mut client);
        client.refresh_traffic_keys().unwrap();
        client.writer().write_all(b"after the update").unwrap();
        client_to_server(&mut client, &mut server, usize::MAX).unwrap();
        assert_eq!(all_plaintext(&mut server), b"after the update");
        // rustls sends our own key update with the next data, before it, and encrypts that data
        // with the new keys: the client reads it.
        server.encrypt(b"with new keys").unwrap();
        assert_eq!(server_to_client(&mut server, &mut client), b"with new keys");
    }

    #[test]
    fn a_bad_record_is_an_error_and_the_peer_gets_an_alert() {
        let (mut server, mut client) = pair("tls-session-bad");
        handshake(&mut server, &mut client);
        // Application data that does not decrypt.
        let mut record = vec![0x17, 0x03, 0x03, 0x00, 0x20];
        record.extend_from_slice(&[0x5a; 0x20]);
        assert!(server.receive(record).is_err());
        assert!(server.wants_write(), "an alert waits for the peer");
        // The session is over: nothing more is processed or encrypted.
        assert!(server.receive(vec![0x17]).is_err());
        assert!(server.encrypt(b"late").is_err());
        let wire = server.outgoing().to_vec();
        client.read_tls(&mut &wire[..]).unwrap();
        let alert = client.process_new_packets().unwrap_err();
        assert!(matches!(alert, rustls::Error::AlertReceived(_)), "{alert:?}");
    }

    #[test]
    fn a_record_longer_than_any_allowed_is_refused() {
        let (mut server, _client) = pair("tls-session-long");
        let mut record = vec![0x16, 0x03, 0x01, 0xff, 0xff];
        record.resize(MAX_INCOMING, 0);
        assert!(server.receive(record).is_err());
    }
}
