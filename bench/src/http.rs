//! Plain HTTP GETs to the server under test: `/metrics` and `/healthz`.

use std::io::{self, Read};
use std::sync::Arc;
use std::time::Duration;

use crate::args::Url;
use crate::client::{Dial, Writer, tls_read};

/// How the generator's own requests connect: unbound, so from 127.0.0.1 for a 127.0.0.1 URL,
/// an address no client uses (see `source.rs`).
pub fn dial<'a>(url: &'a Url, tls: Option<&'a Arc<rustls::ClientConfig>>) -> Dial<'a> {
    Dial { url, tls, recv_buffer: None, source: None, timeout: TIMEOUT, deflate: false }
}

/// GET `path` and return the status code and the body.
pub fn get(dial: &Dial<'_>, path: &str) -> io::Result<(u16, String)> {
    let stream = dial.open()?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", dial.url.host);
    Writer::new(&stream, 1)?.write_raw(request.as_bytes())?;
    let mut answer = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut cipher = vec![0u8; 32 * 1024];
    loop {
        let n = match &stream.tls {
            None => (&*stream.tcp).read(&mut buf)?,
            Some(tls) => tls_read(&stream.tcp, tls, &mut cipher, &mut buf)?,
        };
        if n == 0 || answer.len() > 4 << 20 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other("not an HTTP answer"))?;
    let body = text.split_once("\r\n\r\n").map_or(String::new(), |(_, b)| b.to_string());
    Ok((status, body))
}

/// A counter or gauge from Prometheus text (the sum over its labels when it has some).
pub fn metric(body: &str, name: &str) -> Option<f64> {
    let mut found = None;
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(name) else { continue };
        if !(rest.starts_with(' ') || rest.starts_with('{')) {
            continue;
        }
        let value: f64 = rest.rsplit(' ').next()?.parse().ok()?;
        *found.get_or_insert(0.0) += value;
    }
    found
}

/// A labelled sample, e.g. `websocketchat_close_frames_sent_total{code="1013"}`.
pub fn sample(body: &str, name_and_labels: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The server's `/metrics`, if it has them.
pub fn metrics(dial: &Dial<'_>) -> Option<String> {
    match get(dial, "/metrics") {
        Ok((200, body)) => Some(body),
        _ => None,
    }
}

pub const TIMEOUT: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text() {
        let body = "# TYPE a counter\na 3\na_total 9\nb{code=\"1013\"} 2\nb{code=\"1000\"} 5\n";
        assert_eq!(metric(body, "a"), Some(3.0));
        assert_eq!(metric(body, "b"), Some(7.0));
        assert_eq!(sample(body, "b{code=\"1013\"}"), Some(2.0));
        assert_eq!(metric(body, "c"), None);
    }
}
