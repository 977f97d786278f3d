//! Folding: what the changes of a conversation's order make of each message.
//!
//! A history keeps entries (`entry.rs`): messages, and edits, deletions and reactions after
//! them. A page without `since` shows each message as it is now, *folded*: its latest text and
//! when it was edited, or that it was deleted, and who reacted with what. The rules are few and
//! the same on every instance, live or from a restart, so one order of entries always folds to
//! one page:
//! - an edit replaces the text (the last edit wins; its `ts` is `edited`);
//! - a deletion is final: the text, the edits and the reactions are gone, and a later change to
//!   the message changes nothing;
//! - a reaction is a set: `on` adds the sender to the emoji's users (once), `off` takes them
//!   out; an emoji nobody gives any more goes; a 21st distinct emoji is not taken;
//! - a change to an id that is not a message kept here changes nothing.

use std::sync::Arc;

use serde::Serialize;
use serde::ser::SerializeMap;

use crate::chat::entry::{Body, Chat};
use crate::chat::session::UserId;

/// Distinct emoji one message takes at most.
pub const MAX_REACTIONS: usize = 20;

/// What the changes so far made of one message.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fold {
    /// The last edit, if any.
    pub edit: Option<Arc<Chat>>,
    /// The message is deleted.
    pub deleted: bool,
    /// Each emoji given, in the order it was first given.
    pub reactions: Vec<Reaction>,
}

/// One emoji on a message, and who gave it, in the order they did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reaction {
    /// The emoji.
    pub emoji: String,
    /// Their public ids.
    pub users: Vec<UserId>,
}

impl Fold {
    /// Applies `change` (an entry whose target is this message); false when it changed nothing.
    pub fn apply(&mut self, change: &Arc<Chat>) -> bool {
        if self.deleted {
            return false;
        }
        match &change.body {
            Body::Message { .. } | Body::Moderation(_) => false,
            Body::Edit { .. } => {
                self.edit = Some(change.clone());
                true
            }
            Body::Delete { .. } => {
                *self = Fold { deleted: true, ..Fold::default() };
                true
            }
            Body::React { emoji, on: true, .. } => self.add(emoji, change.user),
            Body::React { emoji, on: false, .. } => self.remove(emoji, change.user),
        }
    }

    /// True when `user` gave `emoji`.
    pub fn has_reacted(&self, emoji: &str, user: UserId) -> bool {
        self.reactions.iter().any(|r| r.emoji == emoji && r.users.contains(&user))
    }

    /// True when `emoji` is not on the message yet and it has all it may take.
    pub fn is_full_for(&self, emoji: &str) -> bool {
        self.reactions.len() >= MAX_REACTIONS && !self.reactions.iter().any(|r| r.emoji == emoji)
    }

    /// The text the message shows now: the last edit's, else `original`.
    pub fn text<'a>(&'a self, original: &'a str) -> &'a str {
        self.edit.as_ref().map_or(original, |edit| edit.text())
    }

    fn add(&mut self, emoji: &str, user: UserId) -> bool {
        let full = self.reactions.len() >= MAX_REACTIONS;
        match self.reactions.iter_mut().find(|r| r.emoji == emoji) {
            Some(reaction) if reaction.users.contains(&user) => false,
            Some(reaction) => {
                reaction.users.push(user);
                true
            }
            None if full => false,
            None => {
                self.reactions.push(Reaction { emoji: emoji.to_string(), users: vec![user] });
                true
            }
        }
    }

    fn remove(&mut self, emoji: &str, user: UserId) -> bool {
        let Some(at) = self.reactions.iter().position(|r| r.emoji == emoji) else { return false };
        let users = &mut self.reactions[at].users;
        let Some(i) = users.iter().position(|u| *u == user) else { return false };
        users.remove(i);
        if users.is_empty() {
            self.reactions.remove(at);
        }
        true
    }
}

/// A message as a folded page shows it: `{"type":"message",…,"text":"latest","edited":"ts",
/// "reply_to":41,"reactions":[{"emoji":"👍","users":[…]}],"ts":…}`, or with `"deleted":true`
/// and no text.
#[derive(Debug, Clone, Copy)]
pub struct Folded<'a> {
    /// The message.
    pub chat: &'a Chat,
    /// What changes made of it, if any did.
    pub fold: Option<&'a Fold>,
}

impl Serialize for Folded<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_map(None)?;
        self.chat.head(&mut out)?;
        let deleted = self.fold.is_some_and(|f| f.deleted) || self.chat.text().is_empty();
        if deleted {
            out.serialize_entry("deleted", &true)?;
        } else {
            let text = self.fold.map_or(self.chat.text(), |f| f.text(self.chat.text()));
            out.serialize_entry("text", text)?;
            if let Some(edit) = self.fold.and_then(|f| f.edit.as_ref()) {
                out.serialize_entry("edited", &edit.ts)?;
            }
        }
        if let Body::Message { reply_to: Some(reply_to), .. } = &self.chat.body {
            out.serialize_entry("reply_to", reply_to)?;
        }
        if let Some(fold) = self.fold.filter(|f| !deleted && !f.reactions.is_empty()) {
            out.serialize_entry("reactions", &fold.reactions)?;
        }
        out.serialize_entry("ts", &self.chat.ts)?;
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::entry::Place;
    use crate::chat::room::RoomName;

    fn user(n: u8) -> UserId {
        UserId::parse(&format!("{}AAAAAAAAAAAAAAA", (b'A' + n) as char)).unwrap()
    }

    fn change(id: u64, by: u8, body: Body) -> Arc<Chat> {
        let place = Place::Room(RoomName::parse("r").unwrap());
        Arc::new(Chat { place, id, user: user(by), name: "n".into(), ts: format!("t{id}"), body })
    }

    fn react(id: u64, by: u8, emoji: &str, on: bool) -> Arc<Chat> {
        change(id, by, Body::React { target: 1, emoji: emoji.into(), on })
    }

    #[test]
    fn reactions_are_sets_and_a_deletion_is_final() {
        let mut fold = Fold::default();
        assert!(fold.apply(&react(2, 1, "👍", true)));
        assert!(!fold.apply(&react(3, 1, "👍", true)), "twice changes nothing");
        assert!(fold.apply(&react(4, 2, "👍", true)));
        assert!(fold.apply(&react(5, 2, "🎉", true)));
        assert!(!fold.apply(&react(6, 3, "🎉", false)), "not given, nothing to take back");
        assert!(fold.apply(&react(7, 1, "👍", false)));
        assert_eq!(fold.reactions.len(), 2);
        assert_eq!(fold.reactions[0].users, vec![user(2)]);
        assert!(fold.apply(&change(8, 1, Body::Edit { target: 1, text: "new".into() })));
        assert_eq!(fold.text("old"), "new");
        assert!(fold.apply(&change(9, 1, Body::Delete { target: 1 })));
        assert_eq!(fold, Fold { deleted: true, ..Fold::default() });
        assert!(!fold.apply(&change(10, 1, Body::Edit { target: 1, text: "back".into() })));
        assert!(!fold.apply(&react(11, 1, "👍", true)));
    }

    #[test]
    fn a_message_takes_twenty_distinct_emoji() {
        let mut fold = Fold::default();
        let emoji: Vec<String> =
            (0..21).map(|i| char::from_u32(0x1F600 + i).unwrap().into()).collect();
        for (i, e) in emoji.iter().enumerate().take(MAX_REACTIONS) {
            assert!(fold.apply(&react(i as u64 + 2, 1, e, true)));
        }
        assert!(fold.is_full_for(&emoji[20]));
        assert!(!fold.apply(&react(30, 1, &emoji[20], true)));
        assert!(!fold.is_full_for(&emoji[0]), "joining one already there is fine");
        assert!(fold.apply(&react(31, 2, &emoji[0], true)));
    }

    #[test]
    fn a_folded_message_as_a_page_shows_it() {
        let message = change(1, 1, Body::Message { text: "old".into(), reply_to: Some(0) });
        let mut fold = Fold::default();
        fold.apply(&change(2, 1, Body::Edit { target: 1, text: "new".into() }));
        fold.apply(&react(3, 2, "👍", true));
        let json = serde_json::to_string(&Folded { chat: &message, fold: Some(&fold) }).unwrap();
        assert!(json.contains(r#""text":"new","edited":"t2","reply_to":0,"reactions":[{"emoji":"👍","users":["CAAAAAAAAAAAAAAA"]}],"ts":"t1""#), "{json}");
        fold.apply(&change(4, 1, Body::Delete { target: 1 }));
        let json = serde_json::to_string(&Folded { chat: &message, fold: Some(&fold) }).unwrap();
        assert!(
            json.contains(r#""deleted":true"#) && !json.contains("new") && !json.contains("old")
        );
    }
}
