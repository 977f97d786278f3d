//! The property of folding (issue 27): any sequence of messages and changes (edits, deletions,
//! reactions by several people, changes to deleted messages, to changes and to ids never given)
//! folds to the same page whether it is applied
//! - **live**: a client that applies each event as it was sent, by the rules of
//!   docs/protocol.md ("History"), ends with what a folded page (`page(None)`) shows;
//! - **from a resume**: a client that had the events up to a random `since` and applies the
//!   `since` page ends with the same;
//! - **from a restart**: the entries written to a real store (`Store`, its records encoded and
//!   decoded), read back and restored into a new `History`, fold to the same page and the same
//!   `since` pages; and so does what a compaction writes (the kept entries, after deletions
//!   took their texts).
//!
//! The client here works on the JSON, as a page does: it knows nothing of `fold.rs`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use websocketchat::chat::entry::{Body, Chat, Place};
use websocketchat::chat::history::{History, Resume};
use websocketchat::chat::journal::{Entry, Journal, Thread};
use websocketchat::chat::room::RoomName;
use websocketchat::chat::session::UserId;
use websocketchat::store::{OpenError, Opened, Store};

/// Which entry a change (or a reply) names.
#[derive(Debug, Clone, Copy)]
enum Pick {
    /// The n-th entry given so far (modulo their count): a message, or a change.
    Given(usize),
    /// An id above the last one given by this much (0: the next one), or 0 when `None`.
    Unknown(Option<u64>),
}

/// One step of a conversation, as the history receives it (the broadcaster's checks are not
/// applied: folding must hold for any order, such as the one a race across instances makes).
#[derive(Debug, Clone)]
enum Op {
    Message { by: usize, reply_to: Option<Pick> },
    Edit { target: Pick, by: usize, text: usize },
    Delete { target: Pick, by: usize },
    React { target: Pick, by: usize, emoji: usize, on: bool },
}

#[test]
fn any_sequence_folds_to_one_page_live_from_a_resume_and_from_a_restart() {
    let config = Config { cases: 300, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let capacity = prop_oneof![3 => Just(1000usize), 2 => 1usize..8];
    let strategy =
        (capacity, prop::collection::vec(op(), 0..70), 1u64..3, any::<prop::sample::Index>());
    runner
        .run(&strategy, |(capacity, ops, step, since)| {
            check(capacity, &ops, step, since);
            Ok(())
        })
        .unwrap();
}

fn op() -> impl Strategy<Value = Op> {
    let by = 0usize..USERS;
    prop_oneof![
        3 => (by.clone(), prop::option::weighted(0.3, pick()))
            .prop_map(|(by, reply_to)| Op::Message { by, reply_to }),
        2 => (pick(), by.clone(), 0usize..TEXTS.len())
            .prop_map(|(target, by, text)| Op::Edit { target, by, text }),
        1 => (pick(), by.clone()).prop_map(|(target, by)| Op::Delete { target, by }),
        5 => (pick(), by, prop_oneof![3 => 0usize..3, 2 => 0usize..24], prop::bool::weighted(0.7))
            .prop_map(|(target, by, emoji, on)| Op::React { target, by, emoji, on }),
    ]
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        3 => (0usize..2).prop_map(Pick::Given),
        6 => any::<usize>().prop_map(Pick::Given),
        1 => prop::option::of(0u64..3).prop_map(Pick::Unknown),
    ]
}

/// Plays `ops` into a history of `capacity` (ids `step` apart) and checks the three roads.
fn check(capacity: usize, ops: &[Op], step: u64, since: prop::sample::Index) {
    let (entries, history) = play(capacity, ops, step);
    let folded = page(&history, None);

    // Live: every event as it was sent, in order.
    let mut live = Client::default();
    for chat in &entries {
        live.apply(&event(chat));
    }
    live.assert_shows(&folded, history.span().0);

    // A resume: the events up to `since`, then the `since` page.
    let last = history.span().1;
    let since = since.index(last as usize + 1) as u64;
    let mut resumed = Client::default();
    for chat in entries.iter().filter(|c| c.id <= since) {
        resumed.apply(&event(chat));
    }
    for entry in page(&history, Some(since)).as_array().unwrap() {
        resumed.apply(entry);
    }
    resumed.assert_shows(&folded, history.span().0);

    // A restart: the journal as written, then what a compaction writes, through a real store.
    let thread = Thread::Room(room());
    let mut journal = vec![Entry::Start { thread: thread.clone(), first: 1, last: 0 }];
    journal.extend(entries.iter().map(|c| Entry::Message(c.clone())));
    let (first, last) = history.span();
    let mut compacted = vec![Entry::Start { thread, first, last }];
    compacted.extend(history.messages().map(|c| Entry::Message(c.clone())));
    for written in [journal, compacted] {
        let restored = restart(capacity, written);
        assert_eq!(page(&restored, None), folded, "a restart folds to the same page");
        assert_eq!(restored.span(), history.span());
        if since + 1 >= first {
            assert_eq!(page(&restored, Some(since)), page(&history, Some(since)));
        }
    }
}

/// The entries `ops` make, as they were sent (before any deletion took a text), and the
/// history they were pushed into.
fn play(capacity: usize, ops: &[Op], step: u64) -> (Vec<Arc<Chat>>, History) {
    let mut history = History::new(capacity, "e".into());
    let mut entries: Vec<Arc<Chat>> = Vec::new();
    let mut last = 0;
    for op in ops {
        let resolve = |pick: Pick| match pick {
            Pick::Given(_) if entries.is_empty() => last + 1,
            Pick::Given(n) => entries[n % entries.len()].id,
            Pick::Unknown(None) => 0,
            Pick::Unknown(Some(above)) => last + 1 + above,
        };
        let (by, body) = match *op {
            Op::Message { by, reply_to } => {
                let text = format!("m{}", last + step);
                (by, Body::Message { text, reply_to: reply_to.map(resolve) })
            }
            Op::Edit { target, by, text } => {
                (by, Body::Edit { target: resolve(target), text: TEXTS[text].into() })
            }
            Op::Delete { target, by } => (by, Body::Delete { target: resolve(target) }),
            Op::React { target, by, emoji, on } => {
                let emoji = char::from_u32(0x1F600 + emoji as u32).unwrap().to_string();
                (by, Body::React { target: resolve(target), emoji, on })
            }
        };
        last += step;
        let chat = Arc::new(Chat {
            place: Place::Room(room()),
            id: last,
            user: user(by),
            name: format!("user{by}"),
            ts: format!("2026-12-07T00:00:00.{last:03}Z"),
            body,
        });
        history.push(chat.clone());
        entries.push(chat);
    }
    (entries, history)
}

/// Writes `entries` to a new store, opens it again and restores a history from what it reads.
fn restart(capacity: usize, entries: Vec<Entry>) -> History {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir: PathBuf = std::env::temp_dir().join(format!("wschat-fold-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut store = Store::open(&dir, false).expect("a new store").store;
    for entry in entries {
        store.write(entry);
    }
    store.commit().expect("written");
    drop(store);
    let opened = reopen(&dir);
    let mut history = History::new(capacity, opened.epoch);
    for entry in opened.entries {
        match entry {
            Entry::Start { first, last, .. } => history.restart(first, last),
            Entry::Message(chat) => history.restore(chat),
            other => panic!("only starts and entries were written: {other:?}"),
        }
    }
    drop(opened.store);
    let _ = std::fs::remove_dir_all(&dir);
    history
}

/// Opens the store in `dir` again. Other tests of this binary start servers meanwhile: a fork
/// holds a copy of every open file until it execs, so the lock of the store just dropped may
/// still be held for a moment.
fn reopen(dir: &Path) -> Opened {
    for _ in 0..100 {
        match Store::open(dir, false) {
            Err(OpenError::Locked(_)) => std::thread::sleep(std::time::Duration::from_millis(10)),
            opened => return opened.expect("the store again"),
        }
    }
    panic!("{} stayed locked", dir.display());
}

/// A history's page as JSON: folded, or every entry after `since`.
fn page(history: &History, since: Option<u64>) -> Value {
    let resume = since.map(|since| Resume { since, epoch: None });
    serde_json::to_value(history.page(resume.as_ref()).0).unwrap()
}

/// An entry as it was sent live.
fn event(chat: &Chat) -> Value {
    serde_json::to_value(chat).unwrap()
}

/// A page's idea of one message.
#[derive(Debug, Clone)]
struct Shown {
    /// The message event as it came (its text and `deleted` are replaced below).
    head: Value,
    text: Option<Value>,
    edited: Option<Value>,
    deleted: bool,
    /// Each emoji in the order first given, with its users in order.
    reactions: Vec<(Value, Vec<Value>)>,
}

/// A client that keeps the messages it was told of and applies changes to them by the rules of
/// docs/protocol.md.
#[derive(Debug, Default)]
struct Client {
    order: Vec<u64>,
    messages: HashMap<u64, Shown>,
}

impl Client {
    fn apply(&mut self, event: &Value) {
        let id = event["id"].as_u64().unwrap();
        if event["type"] == "message" {
            let deleted = event["deleted"] == true;
            let shown = Shown {
                head: event.clone(),
                text: event.get("text").cloned(),
                edited: None,
                deleted,
                reactions: Vec::new(),
            };
            assert!(self.messages.insert(id, shown).is_none(), "one event per message");
            self.order.push(id);
            return;
        }
        let target = event["target"].as_u64().unwrap();
        // A change to an id that is not a message known here, or to a deleted one: nothing.
        let Some(shown) = self.messages.get_mut(&target).filter(|s| !s.deleted) else { return };
        match event["type"].as_str().unwrap() {
            "edit" => {
                shown.text = Some(event.get("text").cloned().unwrap_or(json!("")));
                shown.edited = Some(event["ts"].clone());
            }
            "delete" => {
                (shown.deleted, shown.text, shown.edited) = (true, None, None);
                shown.reactions.clear();
            }
            "react" => {
                let (emoji, user) = (event["emoji"].clone(), event["user"].clone());
                let at = shown.reactions.iter().position(|(e, _)| *e == emoji);
                match (at, event["on"] == true) {
                    (Some(at), true) if !shown.reactions[at].1.contains(&user) => {
                        shown.reactions[at].1.push(user)
                    }
                    (None, true) if shown.reactions.len() < MAX_REACTIONS => {
                        shown.reactions.push((emoji, vec![user]))
                    }
                    (Some(at), false) => {
                        shown.reactions[at].1.retain(|u| *u != user);
                        if shown.reactions[at].1.is_empty() {
                            shown.reactions.remove(at);
                        }
                    }
                    _ => {}
                }
            }
            other => panic!("an entry of an unknown type: {other}"),
        }
    }

    /// The message as a folded page shows it.
    fn render(&self, id: u64) -> Value {
        let shown = &self.messages[&id];
        let mut out = serde_json::Map::new();
        for field in ["type", "room", "id", "user", "name"] {
            out.insert(field.into(), shown.head[field].clone());
        }
        match &shown.text {
            Some(text) if !shown.deleted => {
                out.insert("text".into(), text.clone());
                if let Some(edited) = &shown.edited {
                    out.insert("edited".into(), edited.clone());
                }
            }
            _ => {
                out.insert("deleted".into(), json!(true));
            }
        }
        if let Some(reply_to) = shown.head.get("reply_to") {
            out.insert("reply_to".into(), reply_to.clone());
        }
        if !shown.reactions.is_empty() {
            let reactions =
                shown.reactions.iter().map(|(e, users)| json!({"emoji": e, "users": users}));
            out.insert("reactions".into(), reactions.collect());
        }
        out.insert("ts".into(), shown.head["ts"].clone());
        Value::Object(out)
    }

    /// Shows exactly the folded `page`: every message from `first` on, as the page has it.
    fn assert_shows(&self, page: &Value, first: u64) {
        let mine: Vec<Value> =
            self.order.iter().filter(|&&id| id >= first).map(|&id| self.render(id)).collect();
        assert_eq!(&Value::Array(mine), page);
    }
}

fn room() -> RoomName {
    RoomName::parse("r").unwrap()
}

fn user(n: usize) -> UserId {
    UserId::parse(&format!("{}AAAAAAAAAAAAAAA", (b'A' + n as u8) as char)).unwrap()
}

/// People in the conversation.
const USERS: usize = 3;
/// Texts of edits: few, so that the same text comes again.
const TEXTS: [&str; 3] = ["a", "b", "m1"];
/// Distinct emoji one message takes (docs/protocol.md).
const MAX_REACTIONS: usize = 20;
