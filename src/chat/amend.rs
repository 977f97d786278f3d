//! Who may change which message (the author; for a deletion, an operator too): the rules an edit, a deletion, a reaction or a reply meets
//! before it becomes an entry of the conversation's order (docs/protocol.md, "Changing
//! messages").
//!
//! ```text
//! reader ──Event::Amend──▶ broadcaster: check() against the history it owns
//!                            ├─ refused  → error event to that connection only
//!                            ├─ no-op    → nothing (on:true twice, the same text again)
//!                            └─ accepted → numbered here and journaled, or published (Kafka)
//! ```
//! The check runs where the history is: on the broadcaster's thread of the instance the request
//! reached. With Kafka the accepted change is published and comes back numbered, like a message,
//! on every instance, which apply it without checking again: folding (`fold.rs`) makes a change
//! that lost a race (an edit of a message deleted meanwhile) a no-op everywhere alike.

use std::time::{Duration, SystemTime};

use crate::chat::entry::Body;
use crate::chat::history::History;
use crate::chat::operators;
use crate::chat::room::RoomName;
use crate::chat::session::UserId;

/// The conversation a change names: a room, or the private one with whoever holds a nickname.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conversation {
    /// A room (`"room"`).
    Room(RoomName),
    /// The private conversation with whoever holds this nickname (`"to"`, `"dm"`), cleaned.
    With(String),
}

/// A change (or a reply) a client asked for, on its way to the broadcaster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amend {
    /// The connection that asked.
    pub conn: u64,
    /// Where.
    pub to: Conversation,
    /// What: an edit, a deletion, a reaction, or a message with `reply_to`.
    pub body: Body,
    /// When the reader received it.
    pub ts: String,
}

/// Why a change was refused: the error event's `code` and `message`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// The error event's `code`.
    pub code: &'static str,
    /// The error event's `message`.
    pub message: &'static str,
}

/// What the broadcaster does with a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It becomes an entry.
    Accept,
    /// It would change nothing: no entry, no event.
    Nothing,
}

/// Checks `body`, asked by session `user`, against `history` (`None`: the conversation does
/// not exist), at `now`, with edits allowed for `edit_window` after the message (zero: always).
pub fn check(
    history: Option<&History>,
    user: UserId,
    body: &Body,
    now: SystemTime,
    edit_window: Duration,
) -> Result<Verdict, Refused> {
    let target = match body {
        Body::Message { reply_to: Some(target), .. } => *target,
        Body::Message { reply_to: None, .. } | Body::Moderation(_) => return Ok(Verdict::Accept),
        Body::Edit { target, .. } | Body::Delete { target } | Body::React { target, .. } => *target,
    };
    let Some((message, fold)) = history.and_then(|h| h.message(target)) else {
        return Err(NOT_FOUND);
    };
    let deleted = fold.is_some_and(|f| f.deleted) || message.text().is_empty();
    if deleted {
        return Err(NOT_FOUND);
    }
    match body {
        Body::Message { .. } | Body::Moderation(_) => Ok(Verdict::Accept),
        Body::Edit { text, .. } => {
            if message.user != user {
                return Err(NOT_YOURS);
            }
            if !edit_window.is_zero() && sent_before(&message.ts, now, edit_window) {
                return Err(TOO_LATE);
            }
            let now_reads = fold.map_or(message.text(), |f| f.text(message.text()));
            Ok(if now_reads == text { Verdict::Nothing } else { Verdict::Accept })
        }
        // An operator deletes anyone's message (`operators.rs`).
        Body::Delete { .. } if message.user != user && !operators::is_operator(user) => {
            Err(NOT_YOURS)
        }
        Body::Delete { .. } => Ok(Verdict::Accept),
        Body::React { emoji, on, .. } => {
            let given = fold.is_some_and(|f| f.has_reacted(emoji, user));
            if given == *on {
                return Ok(Verdict::Nothing);
            }
            if *on && fold.is_some_and(|f| f.is_full_for(emoji)) {
                return Err(TOO_MANY_REACTIONS);
            }
            Ok(Verdict::Accept)
        }
    }
}

/// True when the message sent at `ts` is older than `window` at `now` (an unreadable `ts`
/// counts as old: it cannot be shown to be recent).
fn sent_before(ts: &str, now: SystemTime, window: Duration) -> bool {
    let Ok(sent) = humantime::parse_rfc3339(ts) else { return true };
    now.duration_since(sent).is_ok_and(|age| age > window)
}

/// `not_found`.
pub const NOT_FOUND: Refused = Refused {
    code: "not_found",
    message: "no such message here: not kept any more, not in this conversation, or deleted",
};
/// `not_yours`.
pub const NOT_YOURS: Refused =
    Refused { code: "not_yours", message: "only the session that sent a message changes it" };
/// `too_late`.
pub const TOO_LATE: Refused =
    Refused { code: "too_late", message: "messages are editable for EDIT_WINDOW_SECS only" };
/// `too_many_reactions`.
pub const TOO_MANY_REACTIONS: Refused =
    Refused { code: "too_many_reactions", message: "a message takes at most 20 different emoji" };

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::chat::entry::{Chat, Place};

    fn user(n: u8) -> UserId {
        UserId::parse(&format!("{}AAAAAAAAAAAAAAA", (b'A' + n) as char)).unwrap()
    }

    fn history() -> History {
        let mut history = History::new(10, "e".into());
        let place = Place::Room(RoomName::parse("r").unwrap());
        let ts = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        let entry = |id, body| {
            Arc::new(Chat {
                place: place.clone(),
                id,
                user: user(1),
                name: "a".into(),
                ts: ts.clone(),
                body,
            })
        };
        history.push(entry(1, Body::text("hello")));
        history.push(entry(2, Body::Edit { target: 1, text: "hi".into() }));
        history.push(entry(3, Body::text("bye")));
        history.push(entry(4, Body::Delete { target: 3 }));
        history
    }

    fn verdict(by: u8, body: Body) -> Result<Verdict, &'static str> {
        check(Some(&history()), user(by), &body, SystemTime::now(), Duration::ZERO)
            .map_err(|r| r.code)
    }

    #[test]
    fn the_author_edits_and_deletes_and_nobody_else() {
        assert_eq!(verdict(1, Body::Edit { target: 1, text: "hey".into() }), Ok(Verdict::Accept));
        assert_eq!(verdict(1, Body::Edit { target: 1, text: "hi".into() }), Ok(Verdict::Nothing));
        assert_eq!(verdict(2, Body::Edit { target: 1, text: "x".into() }), Err("not_yours"));
        assert_eq!(verdict(2, Body::Delete { target: 1 }), Err("not_yours"));
        assert_eq!(verdict(1, Body::Delete { target: 1 }), Ok(Verdict::Accept));
    }

    #[test]
    fn targets_must_be_kept_messages_not_deleted() {
        assert_eq!(verdict(1, Body::Delete { target: 3 }), Err("not_found"), "deleted");
        assert_eq!(verdict(1, Body::Delete { target: 2 }), Err("not_found"), "an edit");
        assert_eq!(verdict(1, Body::Delete { target: 99 }), Err("not_found"));
        let reply = Body::Message { text: "x".into(), reply_to: Some(3) };
        assert_eq!(verdict(2, reply), Err("not_found"));
        let reply = Body::Message { text: "x".into(), reply_to: Some(1) };
        assert_eq!(verdict(2, reply), Ok(Verdict::Accept));
        let none =
            check(None, user(1), &Body::Delete { target: 1 }, SystemTime::now(), Duration::ZERO);
        assert_eq!(none, Err(NOT_FOUND));
    }

    #[test]
    fn reactions_twice_change_nothing_and_the_edit_window_holds() {
        let react = |on| Body::React { target: 1, emoji: "👍".into(), on };
        assert_eq!(verdict(2, react(true)), Ok(Verdict::Accept));
        assert_eq!(verdict(2, react(false)), Ok(Verdict::Nothing));
        let later = SystemTime::now() + Duration::from_secs(61);
        let edit = Body::Edit { target: 1, text: "late".into() };
        let h = history();
        assert_eq!(check(Some(&h), user(1), &edit, later, Duration::from_secs(60)), Err(TOO_LATE));
        assert_eq!(
            check(Some(&h), user(1), &edit, later, Duration::from_secs(120)),
            Ok(Verdict::Accept)
        );
    }
}
