//! TLS with rustls: the server configuration from PEM files, and a self-signed certificate when
//! there are none.
//!
//! TLS sits below WebSocket: `wss://` is the same protocol inside a TLS session (RFC 6455 §3). The
//! connection thread performs the TLS handshake itself, before reading the HTTP request
//! (see `connection.rs`); after the upgrade the `rustls::ServerConnection` is shared between the
//! reader and the broadcaster (see `outbound.rs`).
//!
//! Certificates made by mkcert (or any CA) are used as they are. When both files are missing,
//! [`server_config`] creates a self-signed certificate for `localhost`, `127.0.0.1` and `::1` with
//! rcgen, so `make run` serves `https://localhost:8443` out of the box (the browser will ask once).

use std::fs;
use std::path::Path;
use std::sync::Arc;

use log::info;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::Error;

/// Builds the rustls configuration, creating a self-signed certificate first if none exists.
pub fn server_config(cert_path: &Path, key_path: &Path) -> Result<Arc<ServerConfig>, Error> {
    if !cert_path.exists() && !key_path.exists() {
        create_self_signed(cert_path, key_path)?;
        info!(
            "created a self-signed certificate for {} at {} (key {})",
            SELF_SIGNED_NAMES.join(", "),
            cert_path.display(),
            key_path.display()
        );
    }
    let certs = CertificateDer::pem_file_iter(cert_path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| cert_error(cert_path, e))?;
    if certs.is_empty() {
        return Err(cert_error(cert_path, "no CERTIFICATE block in the file"));
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| cert_error(key_path, e))?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    // We speak HTTP/1.1 only: the WebSocket upgrade of RFC 6455 is defined over HTTP/1.1.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Writes a new self-signed certificate and its key (mode 0600) as PEM files.
pub fn create_self_signed(cert_path: &Path, key_path: &Path) -> Result<(), Error> {
    let names: Vec<String> = SELF_SIGNED_NAMES.iter().map(|s| s.to_string()).collect();
    let certified =
        rcgen::generate_simple_self_signed(names).map_err(|e| cert_error(cert_path, e))?;
    for path in [cert_path, key_path] {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| cert_error(path, e))?;
        }
    }
    fs::write(cert_path, certified.cert.pem()).map_err(|e| cert_error(cert_path, e))?;
    write_private(key_path, certified.signing_key.serialize_pem().as_bytes())
        .map_err(|e| cert_error(key_path, e))?;
    Ok(())
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file =
        fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(contents)
}

fn cert_error(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Certificate { path: path.to_path_buf(), reason: reason.to_string() }
}

/// The names a generated certificate is valid for.
const SELF_SIGNED_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_certificate_loads() {
        let dir = std::env::temp_dir().join(format!("wschat-tls-{}", std::process::id()));
        let (cert, key) = (dir.join("c/cert.pem"), dir.join("c/key.pem"));
        server_config(&cert, &key).unwrap();
        assert!(cert.exists() && key.exists());
        // The second start reuses the files.
        let before = fs::read(&cert).unwrap();
        server_config(&cert, &key).unwrap();
        assert_eq!(before, fs::read(&cert).unwrap());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_key_is_an_error_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("wschat-tls-nokey-{}", std::process::id()));
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        create_self_signed(&cert, &key).unwrap();
        fs::remove_file(&key).unwrap();
        let err = server_config(&cert, &key).unwrap_err().to_string();
        assert!(err.contains("key.pem"), "{err}");
        fs::remove_dir_all(dir).unwrap();
    }
}
