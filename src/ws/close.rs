//! What a connection is closed with: a status code (RFC 6455 §7.4.1) and a short reason. The
//! receiver chooses one for each broken rule (`receive.rs`), a handler for its own reasons
//! (`reader::Handler`), and the session sends it (`reader.rs`).

/// A close frame to send: a status code (RFC 6455 §7.4.1) and a short reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Close {
    /// The status code.
    pub code: u16,
    /// The reason, at most 123 bytes (§5.5).
    pub reason: &'static str,
}

impl Close {
    /// A close frame with this code and reason.
    pub const fn new(code: u16, reason: &'static str) -> Close {
        Close { code, reason }
    }
}
