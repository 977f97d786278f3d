//! wss:// for the client: the rustls configuration, and reading plaintext through a rustls
//! session that the reader and the writer share.
//!
//! A TLS session cannot be cloned, so both halves of a connection hold it behind one mutex
//! ([`Tls`]). The reader reads ciphertext off the socket without the lock and locks only to
//! decrypt ([`tls_read`]), as the server does; the writer locks to encrypt and write.

use std::io::{self, Read};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard};

use rustls::ClientConnection;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use websocketchat::net::tls;

use crate::args::Args;

/// One rustls session, shared by a connection's reader and writer.
pub type Tls = Arc<Mutex<ClientConnection>>;

/// The rustls configuration for the run's wss:// URLs (none when every URL is ws://): trust
/// `--ca`, or (loopback only) any certificate.
pub fn tls_config(args: &Args) -> Result<Option<Arc<rustls::ClientConfig>>, String> {
    if args.urls.iter().any(|u| u.tls) {
        Ok(Some(client_config(args.ca.as_deref())?))
    } else {
        Ok(None)
    }
}

/// Reads plaintext through the shared rustls session, reading ciphertext without the lock.
pub fn tls_read(
    tcp: &TcpStream,
    tls: &Tls,
    cipher: &mut [u8],
    out: &mut [u8],
) -> io::Result<usize> {
    loop {
        match lock(tls).reader().read(out) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        let n = (&*tcp).read(cipher)?;
        if n == 0 {
            return Ok(0);
        }
        let mut conn = lock(tls);
        let mut ciphertext = &cipher[..n];
        while !ciphertext.is_empty() {
            conn.read_tls(&mut ciphertext)?;
            conn.process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        }
        while conn.wants_write() {
            conn.write_tls(&mut &*tcp)?;
        }
    }
}

/// Trusts `ca`, or (loopback only) any certificate.
fn client_config(ca: Option<&std::path::Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    if let Some(ca) = ca {
        return tls::client_config(Some(ca)).map_err(|e| e.to_string());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = tls::client_builder()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Accepts any certificate but still checks the handshake signatures. Used only because
/// [`Url::parse`](crate::args::Url::parse) admits nothing but loopback addresses.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Locks the session, also when a thread panicked while holding it.
pub(super) fn lock(tls: &Tls) -> MutexGuard<'_, ClientConnection> {
    tls.lock().unwrap_or_else(|p| p.into_inner())
}
