//! Origins are compared whole (issue 22, finding 10): scheme, host and port. Before, the
//! same-origin check compared only what follows `://` with `Host`, so `http://` on the TLS port,
//! `ftp://h:p`, `x://h:p`, `://h:p` and `chrome-extension://h:p` were all let in. The scheme is
//! `https` over TLS, `http` without, or what a trusted proxy says in `X-Forwarded-Proto`; anyone
//! else's `X-Forwarded-Proto` is ignored.

use std::io::Write;

use crate::support::Server;
use crate::support::wire::{KEY, read_head, upgrade_head};

/// The status line of the answer to an upgrade of `/ws` with these extra header lines.
fn upgrade_status(server: &Server, extra: &str) -> String {
    let mut stream = server.stream();
    let extra = format!("Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}");
    stream.write_all(upgrade_head(server, "/ws", &extra).as_bytes()).unwrap();
    stream.flush().unwrap();
    let (head, _) = read_head(&mut stream);
    head.lines().next().unwrap_or_default().to_string()
}

fn with_origin(server: &Server, origin: &str) -> String {
    upgrade_status(server, &format!("Origin: {origin}\r\n"))
}

const SWITCHING: &str = "HTTP/1.1 101 Switching Protocols";
const FORBIDDEN: &str = "HTTP/1.1 403 Forbidden";

#[test]
fn only_the_servers_own_scheme_host_and_port_are_its_origin() {
    for (server, ours, other) in
        [(Server::start_tls(&[]), "https", "http"), (Server::start(&[]), "http", "https")]
    {
        let host = server.addr;
        for origin in [
            format!("{other}://{host}"),
            format!("ftp://{host}"),
            format!("x://{host}"),
            format!("://{host}"),
            format!("chrome-extension://{host}"),
            format!("ws://{host}"),
            format!("{host}"),
            format!("{ours}://{host}/chat"),
            format!("{ours}://localhost:{}", host.port()),
            format!("{ours}://{}", host.ip()),
            "null".to_string(),
        ] {
            assert_eq!(with_origin(&server, &origin), FORBIDDEN, "{origin} on {ours}");
        }
        assert_eq!(with_origin(&server, &format!("{ours}://{host}")), SWITCHING, "{ours}");
        let shouted = format!("{}://{host}/", ours.to_uppercase());
        assert_eq!(with_origin(&server, &shouted), SWITCHING, "{shouted}");
        // Not a browser: no Origin, no check (websocat, scripts).
        assert_eq!(upgrade_status(&server, ""), SWITCHING, "without Origin on {ours}");
    }
}

#[test]
fn x_forwarded_proto_counts_only_from_a_trusted_proxy() {
    // nginx terminates TLS and talks plain HTTP to the instance, saying `X-Forwarded-Proto: https`.
    let behind = Server::start(&[("TRUSTED_PROXIES", "127.0.0.1")]);
    let host = behind.addr;
    let proxied = |origin: &str, proto: &str| {
        let extra = format!("Origin: {origin}\r\nX-Forwarded-Proto: {proto}\r\n");
        upgrade_status(&behind, &extra)
    };
    assert_eq!(proxied(&format!("https://{host}"), "https"), SWITCHING);
    assert_eq!(proxied(&format!("http://{host}"), "https"), FORBIDDEN);
    assert_eq!(proxied(&format!("http://{host}"), "http"), SWITCHING);
    assert_eq!(proxied(&format!("ftp://{host}"), "ftp"), FORBIDDEN);
    assert_eq!(proxied(&format!("https://{host}"), "ftp"), FORBIDDEN);
    // Without the header, the connection's own scheme.
    assert_eq!(with_origin(&behind, &format!("https://{host}")), FORBIDDEN);
    assert_eq!(with_origin(&behind, &format!("http://{host}")), SWITCHING);

    // From a peer that is not trusted, the header is ignored.
    let direct = Server::start(&[]);
    let host = direct.addr;
    let forged = |origin: &str| {
        upgrade_status(&direct, &format!("Origin: {origin}\r\nX-Forwarded-Proto: https\r\n"))
    };
    assert_eq!(forged(&format!("https://{host}")), FORBIDDEN);
    assert_eq!(forged(&format!("http://{host}")), SWITCHING);
}

#[test]
fn allowed_origins_are_compared_whole() {
    let server =
        Server::start(&[("ALLOWED_ORIGINS", "https://chat.example, http://b.example:8080")]);
    for (origin, status) in [
        ("https://chat.example", SWITCHING),
        ("https://Chat.Example:443", SWITCHING),
        ("http://b.example:8080", SWITCHING),
        ("http://chat.example", FORBIDDEN),
        ("chrome-extension://chat.example", FORBIDDEN),
        ("://chat.example", FORBIDDEN),
        ("https://chat.example:8443", FORBIDDEN),
        ("https://b.example:8080", FORBIDDEN),
        ("http://b.example", FORBIDDEN),
    ] {
        assert_eq!(with_origin(&server, origin), status, "{origin}");
    }
    // A listed origin that is not one stops the server at start, naming it.
    let dir = crate::support::fresh_dir();
    let (status, stderr) =
        Server::start_failing(&dir, &[("ALLOWED_ORIGINS", "chrome-extension://abc")]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("ALLOWED_ORIGINS"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}
