//! Two well-behaved chat clients, kept around to check that the chat goes on for everyone else.

use serde_json::Value;

use crate::support::{Client, Server};

/// Alice and Bob, connected and welcomed.
pub struct Pair {
    alice: Client,
    bob: Client,
    round: usize,
}

impl Pair {
    pub fn new(server: &Server) -> Pair {
        let mut alice = server.connect("/ws?name=alice");
        alice.welcome();
        let mut bob = server.connect("/ws?name=bob");
        bob.welcome();
        Pair { alice, bob, round: 0 }
    }

    /// Each says something; both see both messages, in the same order. Messages from others
    /// (hostile clients may send valid ones too) are skipped.
    pub fn still_chatting(&mut self) {
        self.round += 1;
        let ours = [format!("alice {}", self.round), format!("bob {}", self.round)];
        self.alice.say(&ours[0]);
        self.bob.say(&ours[1]);
        let seen_by_alice = ours_in_order(&mut self.alice, &ours);
        let seen_by_bob = ours_in_order(&mut self.bob, &ours);
        assert_eq!(seen_by_alice, seen_by_bob, "one order for everyone");
    }

    /// Ends both connections with a close handshake.
    pub fn leave(mut self) {
        for client in [&mut self.alice, &mut self.bob] {
            client.ws.close(None).unwrap();
            assert_eq!(client.close_code(), 1000);
        }
    }
}

/// Reads messages until both of `ours` came; returns their ids and texts in arrival order.
fn ours_in_order(client: &mut Client, ours: &[String; 2]) -> Vec<(u64, String)> {
    let mut seen = Vec::new();
    for _ in 0..MAX_SKIPPED {
        let message: Value = client.next_of("message");
        let text = message["text"].as_str().unwrap_or_default();
        if ours.iter().any(|t| t == text) {
            seen.push((message["id"].as_u64().unwrap(), text.to_string()));
            if seen.len() == ours.len() {
                return seen;
            }
        }
    }
    panic!("our messages did not arrive among {MAX_SKIPPED} others: {seen:?}")
}

/// How many other messages may come before ours.
const MAX_SKIPPED: usize = 10_000;
