//! Web origins (RFC 6454): what a browser writes in `Origin`, compared whole, and the
//! `ALLOWED_ORIGINS` policy ([`Origins`]) made of them.
//!
//! An origin is a scheme, a host and a port (RFC 6454 §4): `https://Chat.example` is
//! (`https`, `chat.example`, 443), the same origin as `https://chat.example:443`, and not the
//! same as `http://chat.example` or `https://chat.example:8443`. A browser sends the origin of
//! the page with every WebSocket handshake (RFC 6455 §4.1 item 8), so that a server can refuse
//! pages of other sites (§10.2); `ws/handshake.rs` compares it with [`Origin::of_host`], the
//! origin a page served by us would have.
//!
//! Its text (RFC 6454 §6.2): `scheme "://" host [ ":" port ]`, the port left out when it is the
//! scheme's default; or `null` for an opaque origin (a sandboxed frame, a `file:` page). Only
//! `http` and `https` origins parse: a page with any other scheme (`chrome-extension:`, `ftp:`,
//! none at all) was not served by this server, so it is never its origin, and `null` is nobody's.
//!
//! The origin belongs to HTTP (`http::origin` names this file too); it lives in the foundation
//! because the configuration parses `ALLOWED_ORIGINS` into it, and refuses a bad list at start-up.

use std::fmt;

/// Which values of the `Origin` header may open a WebSocket (RFC 6455 §10.2). Origins are
/// compared whole: scheme, host (without case) and port, a default port written or not. A
/// request without `Origin` is not a browser's (websocat, a script) and is never refused for it:
/// the check keeps other sites' pages from using a visitor's browser, and any other client can
/// write any header it likes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origins {
    /// The origin must be this server's as the request reached it (the default): `https` over
    /// TLS, `http` without (or a trusted proxy's `X-Forwarded-Proto`), and the host and port of
    /// the `Host` header.
    SameOrigin,
    /// Any origin (`ALLOWED_ORIGINS=*`).
    Any,
    /// Only these `http` or `https` origins.
    List(Vec<Origin>),
}

impl Origins {
    /// Reads `ALLOWED_ORIGINS` when it is set: `*`, or a comma list of origins; `None` when an
    /// entry is not an `http` or `https` origin (or the list is empty).
    pub fn parse(v: &str) -> Option<Origins> {
        if v == "*" {
            return Some(Origins::Any);
        }
        let list: Option<Vec<Origin>> =
            v.split(',').filter(|o| !o.trim().is_empty()).map(Origin::parse).collect();
        list.filter(|list| !list.is_empty()).map(Origins::List)
    }
}

/// A web origin's scheme: the two a page served by this server can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `http`, default port 80.
    Http,
    /// `https`, default port 443.
    Https,
}

impl Scheme {
    /// `http` or `https`, without case; any other scheme is none of ours.
    pub fn parse(text: &str) -> Option<Scheme> {
        if text.eq_ignore_ascii_case("https") {
            Some(Scheme::Https)
        } else if text.eq_ignore_ascii_case("http") {
            Some(Scheme::Http)
        } else {
            None
        }
    }

    /// The port an origin of this scheme has when it names none (RFC 6454 §4 step 6).
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    /// The scheme as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// A web origin: scheme, host (lower-case) and port (the scheme's default when none was written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: Scheme,
    host: String,
    port: u16,
}

impl Origin {
    /// Reads an origin as a browser sends it in `Origin` (or an operator lists it in
    /// `ALLOWED_ORIGINS`, where one trailing `/` is forgiven): `None` for `null`, for any other
    /// scheme, and for anything with more than a scheme, a host and a port.
    pub fn parse(text: &str) -> Option<Origin> {
        let text = text.trim();
        let text = text.strip_suffix('/').unwrap_or(text);
        let (scheme, authority) = text.split_once("://")?;
        Origin::of_host(Scheme::parse(scheme)?, authority)
    }

    /// The origin of a page reached with `scheme` at `host`, a `Host` header's value
    /// (`host [ ":" port ]`, RFC 9110 §7.2); `None` when it is not one.
    pub fn of_host(scheme: Scheme, host: &str) -> Option<Origin> {
        let (name, port) = split_port(host)?;
        let port = match port {
            None => scheme.default_port(),
            Some(digits) if is_port(digits) => digits.parse().ok()?,
            Some(_) => return None,
        };
        is_host(name).then(|| Origin { scheme, host: name.to_ascii_lowercase(), port })
    }
}

/// Written as RFC 6454 §6.2 does: the port only when it is not the scheme's default.
impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.host)?;
        if self.port != self.scheme.default_port() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// `host` and `port` apart; an IPv6 address is in brackets (`[::1]:8443`, RFC 3986 §3.2.2).
fn split_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (name, rest) = authority.split_at(end + 1);
        return match rest {
            "" => Some((name, None)),
            _ => Some((name, Some(rest.strip_prefix(':')?))),
        };
    }
    Some(match authority.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (authority, None),
    })
}

/// A host name (letters, digits, `-`, `.`, `_`: a browser sends an international name in its
/// `xn--` form), an IPv4 address, or an IPv6 address in brackets.
fn is_host(name: &str) -> bool {
    match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        }
    }
}

/// 1 to 5 digits (the value is checked by parsing it as a `u16`).
fn is_port(digits: &str) -> bool {
    (1..=5).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(text: &str) -> Option<String> {
        Origin::parse(text).map(|o| o.to_string())
    }

    #[test]
    fn an_origin_is_scheme_host_and_port() {
        for (text, read) in [
            ("https://localhost:8443", "https://localhost:8443"),
            ("HTTPS://LocalHost:8443/", "https://localhost:8443"),
            ("https://chat.example:443", "https://chat.example"),
            ("http://chat.example:80", "http://chat.example"),
            ("http://chat.example:443", "http://chat.example:443"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("https://[::1]:8443", "https://[::1]:8443"),
            ("https://[::1]", "https://[::1]"),
            ("https://xn--bcher-kva.example", "https://xn--bcher-kva.example"),
        ] {
            assert_eq!(origin(text).as_deref(), Some(read), "{text}");
        }
        assert_eq!(Origin::parse("https://h"), Origin::parse("https://h:443"));
        assert_ne!(Origin::parse("https://h"), Origin::parse("http://h"));
        assert_ne!(Origin::parse("https://h:8443"), Origin::parse("http://h:8443"));
    }

    #[test]
    fn other_schemes_and_more_than_an_origin_are_none() {
        for text in [
            "null",
            "ftp://localhost:8443",
            "x://localhost:8443",
            "://localhost:8443",
            "chrome-extension://localhost:8443",
            "ws://localhost:8443",
            "localhost:8443",
            "https://",
            "https://localhost:",
            "https://localhost:99999",
            "https://localhost:8443/chat",
            "https://user@localhost:8443",
            "https://localhost:8443?x",
            "https://local host",
            "https://[::1",
            "https://[nonsense]:1",
            "https://[::1]8443",
        ] {
            assert_eq!(origin(text), None, "{text}");
        }
    }

    #[test]
    fn a_host_header_names_the_origin_of_its_scheme() {
        let https = |host| Origin::of_host(Scheme::Https, host);
        assert_eq!(https("Localhost:443"), Origin::parse("https://localhost"));
        assert_eq!(https("localhost"), Origin::parse("https://localhost:443"));
        assert_ne!(https("localhost"), Origin::parse("https://localhost:8443"));
        assert_eq!(Origin::of_host(Scheme::Http, "h:8080"), Origin::parse("http://h:8080"));
        assert_eq!(https("h:x"), None);
    }
}
