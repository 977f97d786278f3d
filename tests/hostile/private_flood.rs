//! Private messages cannot grow memory and disk without bound: 50 connections from one address
//! each send 100 private messages of 4 KB to people who never wrote back. Past
//! `UNANSWERED_PER_ADDRESS_PER_MIN` they get `rate_limited` and nothing is kept; a conversation
//! the other side answers is not limited; and one session has at most
//! `MAX_CONVERSATIONS_PER_SESSION` conversations.

use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::wire::assert_no_panic;
use crate::support::{Client, Server, loopback};

#[test]
fn fifty_connections_writing_to_people_who_never_answer_grow_neither_memory_nor_store() {
    let server = Server::start(&[]);
    // 100 people, each from an address of its own, who come once and leave.
    for n in 0..TARGETS {
        let mut target = server.joined_from(loopback(100 + n), &format!("name=target{n}"));
        target.ws.close(None).unwrap();
    }
    thread::sleep(Duration::from_millis(500));
    let (rss_before, store_before) = (server.rss_kib(), server.store_bytes());
    let text = "x".repeat(4000);
    let attacker = loopback(1);
    let senders: Vec<Client> =
        (0..SENDERS).map(|i| server.joined_from(attacker, &format!("name=s{i}"))).collect();
    let started = Instant::now();
    let handles: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(i, mut sender)| {
            let text = text.clone();
            thread::spawn(move || {
                for m in 0..PER_SENDER {
                    let to = format!("target{}", (i * 7 + m) % TARGETS as usize);
                    sender.request(json!({"type": "message", "to": to, "text": text}));
                    // Under RATE_LIMIT_PER_SEC (10): 8 a second.
                    thread::sleep(Duration::from_millis(125));
                }
                // Every request has an answer: its echo (a message) or an error.
                let mut answers = (0, 0);
                while answers.0 + answers.1 < PER_SENDER {
                    let event: Value = sender.next();
                    match (event["type"].as_str(), event["code"].as_str()) {
                        (Some("message"), _) => answers.0 += 1,
                        (Some("error"), Some("rate_limited")) => answers.1 += 1,
                        (Some("error"), code) => panic!("unexpected error {code:?}: {event}"),
                        _ => {}
                    }
                }
                answers
            })
        })
        .collect();
    let (mut sent, mut limited) = (0, 0);
    for handle in handles {
        let (s, l) = handle.join().unwrap();
        sent += s;
        limited += l;
    }
    let (rss_after, store_after) = (server.rss_kib(), server.store_bytes());
    eprintln!(
        "private flood: {} messages in {:.1?}, {sent} kept, {limited} refused; memory \
         {rss_before} -> {rss_after} KiB, store {store_before} -> {store_after} bytes",
        SENDERS * PER_SENDER,
        started.elapsed()
    );
    // UNANSWERED_PER_ADDRESS_PER_MIN=20: a minute's allowance, and what drained during the run.
    assert!(sent <= 40, "{sent} private messages nobody answered were kept");
    assert_eq!(sent + limited, SENDERS * PER_SENDER);
    // The documented bound: what was kept, 4 KB each, with room for the store's framing.
    assert!(store_after - store_before < 40 * 5_000, "store {store_before} -> {store_after}");
    assert!(rss_after < rss_before + 8 * 1024, "memory {rss_before} -> {rss_after} KiB");
    assert!(server.metric("websocketchat_limited_total{reason=\"unanswered_per_address\"}") > 0);
    assert_no_panic(&server);
}

#[test]
fn an_answered_conversation_is_not_limited_and_conversations_per_session_are() {
    let server = Server::start(&[
        ("UNANSWERED_PER_ADDRESS_PER_MIN", "2"),
        ("MAX_CONVERSATIONS_PER_SESSION", "3"),
        ("RATE_LIMIT_PER_SEC", "1000"),
        // bob's answer soon leaves the kept history: answered is remembered apart from it.
        ("HISTORY_SIZE", "2"),
    ]);
    let mut alice = server.joined_from(loopback(1), "name=alice");
    let mut bob = server.joined_from(loopback(2), "name=bob");
    let dm = |client: &mut Client, to: &str, text: &str| {
        client.request(json!({"type": "message", "to": to, "text": text}));
        loop {
            let event = client.next();
            if event["type"] == "message" && event["text"] == text || event["type"] == "error" {
                return event;
            }
        }
    };
    assert_eq!(dm(&mut alice, "bob", "1")["type"], "message");
    assert_eq!(dm(&mut alice, "bob", "2")["type"], "message");
    assert_eq!(dm(&mut alice, "bob", "3")["code"], "rate_limited", "bob never answered");
    assert_eq!(dm(&mut bob, "alice", "hi")["type"], "message");
    for i in 0..10 {
        let answered = dm(&mut alice, "bob", &format!("more {i}"));
        assert_eq!(answered["type"], "message", "bob answered: {answered}");
    }
    // Two more conversations (notes to self do not count), then the fourth is refused.
    for n in 3..5 {
        let mut other = server.joined_from(loopback(n), &format!("name=u{n}"));
        let to = format!("u{n}");
        assert_eq!(dm(&mut other, "alice", "hello")["type"], "message");
        assert_eq!(dm(&mut alice, &to, "hello back")["type"], "message");
    }
    assert_eq!(dm(&mut alice, "alice", "a note")["type"], "message");
    server.joined_from(loopback(5), "name=u5");
    let refused = dm(&mut alice, "u5", "one too many");
    assert_eq!(refused["code"], "too_many_conversations", "{refused}");
    assert_eq!(refused["to"], "u5");
    // The existing ones go on.
    assert_eq!(dm(&mut alice, "bob", "still")["type"], "message");
}

/// Connections of the attacker, private messages each sends, and people they write to.
const SENDERS: usize = 50;
const PER_SENDER: usize = 100;
const TARGETS: u32 = 100;
