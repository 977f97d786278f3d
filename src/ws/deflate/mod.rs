//! RFC 7692, the permessage-deflate extension: messages compressed with DEFLATE, marked by the
//! first frame's RSV1 bit, agreed on in the opening handshake.
//!
//! In the order a connection meets them:
//! 1. [`offer`]: the handshake (§5, §7.1): the client's `Sec-WebSocket-Extensions` offers read,
//!    the first one we can honour accepted, and the parameters we answer with.
//! 2. [`codec`]: one message's payload compressed (§7.2.1) or inflated (§7.2.2), with the size
//!    checked while inflating.
//!    [`budget`]: the most one compressor compresses in a second.
//! 3. [`shared`]: an outgoing message encoded once as a plain frame and, for the clients that
//!    agreed, once as a compressed one (RSV1 set): the broadcaster's unit.
//!
//! Reading compressed frames is the session's receiver (`ws/receive.rs`): RSV1 on the first frame
//! of a data message says "inflate me" (§6.1); on a control frame or a continuation it is an
//! error (1002).

pub mod budget;
pub mod codec;
pub mod offer;
pub mod shared;

pub use codec::{Compressor, InflateError, inflate};

/// What a writer's compression may do: `COMPRESSION_MIN_BYTES` and
/// `COMPRESSION_MAX_BYTES_PER_SEC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Messages shorter than this go plain.
    pub min_bytes: usize,
    /// The most one compressor compresses in a second (`budget.rs`).
    pub bytes_per_second: usize,
}
pub use offer::{Agreed, Negotiation, negotiate};
pub use shared::SharedFrame;
