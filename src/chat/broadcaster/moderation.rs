//! What operators do to sessions (`chat/operators.rs`): a kick, for now.
//!
//! A kick closes every connection of the session that holds a nickname, on every instance, with
//! close code 4001 and the operator's reason (codes 4000 to 4999 are the application's, RFC 6455
//! §7.4.2; docs/protocol.md lists ours). The session is not forgotten: it may connect again, as
//! the same person. Anyone but an operator is refused with `not_allowed`.
//!
//! With Kafka the instance the operator is on closes the connections it has at once and records
//! the kick on the claims topic, where every other instance reads it ([`Event::Kicked`]) and
//! closes the ones it has.
//!
//! [`Event::Kicked`]: crate::chat::inbox::Event::Kicked

use std::time::Instant;

use log::info;

use super::Broadcaster;
use super::delivery::CLOSE_TIMEOUT;
use super::round::Round;
use crate::chat::operators;
use crate::chat::protocol::ServerEvent;
use crate::chat::session::UserId;

impl Broadcaster {
    /// Connection `conn` asks to kick whoever holds `name`, for `reason`.
    pub(super) fn kick(&mut self, conn: u64, name: &str, reason: String, round: &mut Round) {
        let Some(slot) = self.hub.slot(conn) else { return };
        let operator = self.hub.client(slot).expect("connected").user;
        if !operators::is_operator(operator) {
            let event = ServerEvent::error("not_allowed", NOT_ALLOWED);
            return self.tell(round, slot, &event);
        }
        let Some(user) = self.identities.holder(name) else {
            return self.no_such_user(round, slot, name);
        };
        self.close_session(user, &reason);
        if let Some(others) = &self.others {
            others.kick(user, &reason);
        }
    }

    /// Closes every connection of session `user` here with 4001 and `reason`.
    pub(super) fn close_session(&mut self, user: UserId, reason: &str) {
        let reason = close_reason(reason);
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        for &slot in self.hub.slots_of(user) {
            let Some(client) = self.hub.client(slot) else { continue };
            if client.outbound.close(KICKED, &reason, true) {
                info!("conn-{} {}: kicked by an operator", client.id, client.name);
                self.slow.closing.insert(client.id, deadline);
            }
        }
    }
}

/// The close frame's reason: `kicked`, then the operator's words, cut to what a close frame
/// holds (123 bytes with its code, RFC 6455 §5.5), on a character boundary.
fn close_reason(reason: &str) -> String {
    let mut text =
        if reason.is_empty() { "kicked".to_string() } else { format!("kicked: {reason}") };
    while text.len() > MAX_CLOSE_REASON {
        text.pop();
    }
    text
}

/// Close code of a kick: the application's range (RFC 6455 §7.4.2).
pub const KICKED: u16 = 4001;
/// The longest reason a close frame carries: 125 bytes of payload, less the code's 2.
const MAX_CLOSE_REASON: usize = 123;
/// The message of `not_allowed`.
const NOT_ALLOWED: &str = "only an operator does that (OPERATORS)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_fits_a_close_frame() {
        assert_eq!(close_reason(""), "kicked");
        assert_eq!(close_reason("spam"), "kicked: spam");
        let long = close_reason(&"é".repeat(100));
        assert!(long.len() <= MAX_CLOSE_REASON && long.starts_with("kicked: é"), "{long}");
    }
}
