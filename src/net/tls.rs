//! TLS with rustls: the server configuration from PEM files, a self-signed certificate when
//! there are none, and the client configuration that `websocketchat healthcheck`, the tests and
//! the load generator use to reach the server.
//!
//! TLS sits below WebSocket: `wss://` is the same protocol inside a TLS session (RFC 6455 §3). The
//! connection thread performs the TLS handshake itself, before reading the HTTP request
//! (see `connection.rs`), through rustls's unbuffered API (`net/tls_session.rs`); after the
//! upgrade the session is shared between the reader and the broadcaster (see `ws/outbound/`).
//!
//! Certificates made by mkcert (or any CA) are used as they are. When both files are missing,
//! [`server_config`] creates a self-signed certificate for `localhost`, `127.0.0.1` and `::1` with
//! rcgen, so `make run` serves `https://localhost:8443` out of the box (the browser will ask once).
//!
//! The key is never world-readable (mode 0600). In containers the server runs as its own user, so
//! `websocketchat certs --install DIR --owner UID` (run as root by compose's `certs` service)
//! copies the certificate and key from wherever they came from (`make run`, mkcert, or made right
//! there) into `DIR`, owned by `UID`: the user's own files keep their owner and mode.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use log::info;
use rustls::WantsVerifier;
use rustls::{ClientConfig, ConfigBuilder, RootCertStore, ServerConfig};
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
    let certs = CertificateDer::pem_slice_iter(&read(cert_path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_error(cert_path, e))?;
    if certs.is_empty() {
        return Err(cert_error(cert_path, "no CERTIFICATE block in the file"));
    }
    let key =
        PrivateKeyDer::from_pem_slice(&read(key_path)?).map_err(|e| cert_error(key_path, e))?;

    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    // We speak HTTP/1.1 only: the WebSocket upgrade of RFC 6455 is defined over HTTP/1.1.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A client configuration that trusts the certificates in the PEM file `ca` (the server's own
/// certificate, when it is self-signed), or none at all without one. The server's name to check
/// is given per connection; ours is valid for `localhost`, `127.0.0.1` and `::1`.
pub fn client_config(ca: Option<&Path>) -> Result<Arc<ClientConfig>, Error> {
    let mut roots = RootCertStore::empty();
    if let Some(ca) = ca {
        for cert in CertificateDer::pem_file_iter(ca).map_err(|e| cert_error(ca, e))? {
            roots.add(cert.map_err(|e| cert_error(ca, e))?).map_err(|e| cert_error(ca, e))?;
        }
    }
    let config = client_builder()?.with_root_certificates(roots).with_no_client_auth();
    Ok(Arc::new(config))
}

/// A client configuration with our crypto provider and protocol versions, before its choice of
/// what to trust (the load generator, on loopback only, may trust anything).
pub fn client_builder() -> Result<ConfigBuilder<ClientConfig, WantsVerifier>, Error> {
    Ok(ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?)
}

/// rustls' ring provider: no aws-lc, no cmake.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Writes a new self-signed certificate and its key (mode 0600) as PEM files. Run as root (the
/// compose `certs` service), the files are given to the owner of their folder, so a user's
/// `certs/` holds no files that only root can remove.
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
    if current_uid() == Some(0) {
        for path in [cert_path, key_path] {
            give_to_folder_owner(path).map_err(|e| cert_error(path, e))?;
        }
    }
    Ok(())
}

/// Copies the certificate and key into `dir` as `cert.pem` (mode 0644) and `key.pem` (mode 0600),
/// owned by `owner` (user and group) when given. Each file is written aside and renamed into
/// place, so a server starting at the same moment never reads half a key. Returns the new paths.
pub fn install(
    cert_path: &Path,
    key_path: &Path,
    dir: &Path,
    owner: Option<u32>,
) -> Result<(PathBuf, PathBuf), Error> {
    fs::create_dir_all(dir).map_err(|e| cert_error(dir, e))?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    for (from, to, mode) in [(cert_path, &cert, 0o644), (key_path, &key, 0o600)] {
        let contents = read(from)?;
        let name = to.file_name().expect("a file name").to_string_lossy();
        let aside = dir.join(format!(".{name}.new"));
        write_private(&aside, &contents)
            .and_then(|()| match owner {
                Some(uid) => std::os::unix::fs::chown(&aside, Some(uid), Some(uid)),
                None => Ok(()),
            })
            .and_then(|()| fs::set_permissions(&aside, fs::Permissions::from_mode(mode)))
            .and_then(|()| fs::rename(&aside, to))
            .map_err(|e| cert_error(to, e))?;
    }
    Ok((cert, key))
}

/// Reads a certificate or key file; a file this process may not read gets [`unreadable`]'s
/// one-line error.
fn read(path: &Path) -> Result<Vec<u8>, Error> {
    fs::read(path).map_err(|e| match e.kind() {
        io::ErrorKind::PermissionDenied => unreadable(path),
        _ => cert_error(path, e),
    })
}

/// The effective user id of this process: the owner of `/proc/self`.
pub fn current_uid() -> Option<u32> {
    fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// The one-line error for a key (or certificate) this process may not read: which file, which
/// user we run as, the file's owner and mode, and what to do.
fn unreadable(path: &Path) -> Error {
    let uid = current_uid().map_or_else(|| "?".to_string(), |uid| uid.to_string());
    let file = fs::metadata(path).map_or_else(
        |_| String::new(),
        |m| format!(" (owner uid {}, mode {:o})", m.uid(), m.mode() & 0o7777),
    );
    cert_error(
        path,
        format!(
            "permission denied for uid {uid}{file}; make it readable by uid {uid} \
             (chown {uid} {}), or in containers let the certs service copy it \
             (websocketchat certs --install DIR --owner {uid})",
            path.display()
        ),
    )
}

/// Gives `path` to the owner (user and group) of the folder it is in.
fn give_to_folder_owner(path: &Path) -> io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let folder = fs::metadata(dir)?;
    std::os::unix::fs::chown(path, Some(folder.uid()), Some(folder.gid()))
}

fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
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

    #[test]
    fn install_copies_with_the_owner_and_modes_asked_for() {
        let dir = std::env::temp_dir().join(format!("wschat-tls-install-{}", std::process::id()));
        let (cert, key) = (dir.join("made/cert.pem"), dir.join("made/key.pem"));
        create_self_signed(&cert, &key).unwrap();
        // Whatever mode the source key has, the installed one is 0600.
        fs::set_permissions(&key, fs::Permissions::from_mode(0o640)).unwrap();
        let owner = current_uid();
        let (new_cert, new_key) = install(&cert, &key, &dir.join("tls"), owner).unwrap();
        assert_eq!(fs::read(&cert).unwrap(), fs::read(&new_cert).unwrap());
        assert_eq!(fs::read(&key).unwrap(), fs::read(&new_key).unwrap());
        assert_eq!(fs::metadata(&new_key).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(&new_cert).unwrap().mode() & 0o777, 0o644);
        assert_eq!(Some(fs::metadata(&new_key).unwrap().uid()), owner);
        // The installed pair loads, and installing again replaces it in place.
        server_config(&new_cert, &new_key).unwrap();
        install(&cert, &key, &dir.join("tls"), owner).unwrap();
        assert_eq!(fs::read_dir(dir.join("tls")).unwrap().count(), 2, "no files left aside");
        fs::remove_dir_all(dir).unwrap();
    }
}
