//! What a close frame's status code means (RFC 6455 §7.4), for the decoder's description.
//!
//! A close frame's body starts with a 2-byte status code (§5.5.1). §7.4.1 defines the codes
//! from 1000 and reserves three that describe a connection without being sent in a frame (1005,
//! 1006, 1015); §7.4.2 divides the rest into ranges: below 1000 unused, up to 2999 for the
//! protocol itself, 3000-3999 registered with IANA, 4000-4999 private. §11.7 opens the registry
//! in which 1012-1014 were added later. The server's own close codes are chosen in
//! `ws/reader.rs`; this file only reads them.

/// What `code` means (§7.4.1, and the ranges of §7.4.2), or, as the error, why it may not be
/// sent in a close frame.
pub fn meaning(code: u16) -> Result<&'static str, &'static str> {
    match code {
        1000 => Ok("normal closure: the purpose for which the connection was established has \
                    been fulfilled (§7.4.1)"),
        1001 => Ok("going away: a server going down, or a browser that navigated away from a \
                    page (§7.4.1)"),
        1002 => Ok("protocol error (§7.4.1)"),
        1003 => Ok("unsupported data: a type of data the endpoint cannot accept, such as binary \
                    for one that understands only text (§7.4.1)"),
        1007 => Ok("invalid payload data: data not consistent with the type of the message, \
                    such as non-UTF-8 data in a text message (§7.4.1)"),
        1008 => Ok("policy violation (§7.4.1)"),
        1009 => Ok("message too big to process (§7.4.1)"),
        1010 => Ok("mandatory extension: the client expected the server to negotiate an \
                    extension (§7.4.1)"),
        1011 => Ok("internal error: an unexpected condition kept the server from fulfilling the \
                    request (§7.4.1)"),
        1012 => Ok("service restart (registered with IANA after the RFC, §11.7)"),
        1013 => Ok("try again later (registered with IANA after the RFC, §11.7)"),
        1014 => Ok("bad gateway (registered with IANA after the RFC, §11.7)"),
        3000..=3999 => Ok("registered with IANA by a library, framework or application (§7.4.2)"),
        4000..=4999 => Ok("private use, agreed between the two ends (§7.4.2)"),
        0..=999 => Err("is not used (§7.4.2)"),
        1004 => Err("is reserved: its meaning \"might be defined in the future\" (§7.4.1)"),
        1005 => Err("stands for \"no status code was present\" and \"MUST NOT be set as a \
                     status code in a Close control frame by an endpoint\" (§7.4.1)"),
        1006 => Err("stands for \"closed without a close frame\" and \"MUST NOT be set as a \
                     status code in a Close control frame by an endpoint\" (§7.4.1)"),
        1015 => Err("stands for \"the TLS handshake failed\" and \"MUST NOT be set as a \
                     status code in a Close control frame by an endpoint\" (§7.4.1)"),
        1016..=2999 => Err("is reserved for future revisions of the protocol (§7.4.2)"),
        _ => Err("is above the ranges of §7.4.2, which end at 4999"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_that_may_be_sent_have_a_meaning() {
        for code in [1000u16, 1001, 1003, 1011, 1013, 3000, 4999] {
            assert!(meaning(code).is_ok(), "{code}");
        }
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            assert!(meaning(code).is_err(), "{code}");
        }
    }
}
