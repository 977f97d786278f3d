//! What a session and its address may still start, as the broadcaster asks before it gives one
//! something that lasts: a new session (with its reserved name), or a private message that a
//! conversation keeps. The connection threads check the rest where the request arrives (rooms
//! in `room.rs`, sockets and handshakes in `net/per_address.rs`).
//!
//! ```text
//! arrive ──new_session──▶ used sessions fill MAX_RESERVED_NAMES?          → sessions_full
//!                         the address's NEW_SESSIONS_PER_ADDRESS_PER_MIN? → too_many_sessions
//! direct ──private_message──▶ a new conversation past MAX_CONVERSATIONS_PER_SESSION? → too_many_conversations
//!                             to someone who never wrote back, past UNANSWERED_PER_ADDRESS_PER_MIN? → rate_limited
//! ```
//! Each refusal is an error event for the client and a count in `/metrics`
//! (`websocketchat_limited_total`, by reason).

use std::net::IpAddr;
use std::time::Instant;

use log::debug;

use crate::chat::identity::{Identities, Pair};
use crate::chat::session::UserId;
use crate::metrics::{
    LIMITED_CONVERSATIONS, LIMITED_SESSIONS, LIMITED_SESSIONS_FULL, LIMITED_UNANSWERED,
};
use crate::net::per_address::PerAddress;

/// Why something was refused: the error event's code and message, and the metric's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The error event's `code`.
    pub code: &'static str,
    /// The error event's `message`.
    pub message: &'static str,
    /// The position of the reason in [`crate::metrics::LIMITED`].
    pub reason: usize,
}

/// May `address` be given a new session now? Not while used sessions alone fill
/// `MAX_RESERVED_NAMES` (nobody's name is given away to make room), nor past the address's
/// `NEW_SESSIONS_PER_ADDRESS_PER_MIN`. A client without a session in its query `spent` its
/// allowance before the upgrade (`connection.rs`, where a `429` can still answer it); one whose
/// session is unknown, or came in its first message, spends it here.
pub fn new_session(
    identities: &Identities,
    per_address: &PerAddress,
    spent: bool,
    address: IpAddr,
) -> Result<(), Refusal> {
    if identities.is_full() {
        return Err(SESSIONS_FULL);
    }
    if spent {
        return Ok(());
    }
    per_address.new_session(address, Instant::now()).map_err(|wait| {
        debug!("{address}: no new session for {wait:?}");
        TOO_MANY_SESSIONS
    })
}

/// May `user` (from `address`) write privately to `to_user` now? Not to start a conversation
/// past `max_conversations`, nor, past the address's `UNANSWERED_PER_ADDRESS_PER_MIN`, to a
/// session that never wrote back. A note to self is always allowed.
pub fn private_message(
    identities: &Identities,
    per_address: &PerAddress,
    max_conversations: usize,
    (user, address): (UserId, IpAddr),
    to_user: UserId,
) -> Result<(), Refusal> {
    if user == to_user {
        return Ok(());
    }
    let conversation = identities.existing(Pair::new(user, to_user));
    if conversation.is_none() && identities.conversation_count(user) >= max_conversations {
        return Err(TOO_MANY_CONVERSATIONS);
    }
    if identities.has_written(to_user, user) {
        return Ok(()); // answered
    }
    per_address.unanswered(address, Instant::now()).map_err(|wait| {
        debug!("{address}: private messages nobody answered: wait {wait:?}");
        UNANSWERED
    })
}

const SESSIONS_FULL: Refusal = Refusal {
    code: "sessions_full",
    message: "this server keeps as many sessions as it may (MAX_RESERVED_NAMES): try again later",
    reason: LIMITED_SESSIONS_FULL,
};
const TOO_MANY_SESSIONS: Refusal = Refusal {
    code: "too_many_sessions",
    message: "too many new sessions from your address (NEW_SESSIONS_PER_ADDRESS_PER_MIN): try \
              again in a minute, or present your session",
    reason: LIMITED_SESSIONS,
};
const TOO_MANY_CONVERSATIONS: Refusal = Refusal {
    code: "too_many_conversations",
    message: "your session has as many private conversations as it may \
              (MAX_CONVERSATIONS_PER_SESSION)",
    reason: LIMITED_CONVERSATIONS,
};
const UNANSWERED: Refusal = Refusal {
    code: "rate_limited",
    message: "too many private messages to people who never wrote back \
              (UNANSWERED_PER_ADDRESS_PER_MIN): wait a minute",
    reason: LIMITED_UNANSWERED,
};
