//! Impersonation with invisible and look-alike characters (issue 22, finding 6): while alice
//! holds her name, nobody gets a name that renders as "alice". Each spelling below once got a
//! name of its own, and bob received messages from a second "alice": zero-width and other
//! default-ignorable characters, a right-to-left override that shows `ecila` as `alice`, and
//! Cyrillic letters that look like Latin ones. On joining, each must come back as `alice-N` (the
//! first free suffix of the name it looks like); a `rename` to each gets `name_taken`.

use serde_json::json;

use crate::support::{Client, Server};

#[test]
fn names_that_render_as_alice_are_alice() {
    let server = Server::start(&[("RATE_LIMIT_PER_SEC", "1000")]);
    let alice = server.joined("name=alice");
    assert_eq!(alice.hello["name"], "alice");
    let mut bob = server.joined("name=bob");

    for spelling in SPELLINGS {
        let mut impostor = server.joined(&format!("name={}", encoded(spelling)));
        let name = impostor.hello["name"].as_str().unwrap().to_string();
        assert!(is_suffixed_alice(&name), "{spelling:?} joined as {name:?}");
        // What bob sees signed is that name, not one that passes for alice.
        impostor.request(json!({"type": "message", "to": "bob", "text": "it is me, alice"}));
        let received = bob.next_of("message");
        assert_eq!(received["name"], name.as_str(), "{spelling:?}: {received}");
    }

    let mut carol = server.joined("name=carol");
    for spelling in SPELLINGS {
        carol.request(json!({"type": "rename", "name": spelling}));
        let answer = next_error_or_renamed(&mut carol);
        assert_eq!(answer["type"], "error", "{spelling:?}: {answer}");
        assert_eq!(answer["code"], "name_taken", "{spelling:?}: {answer}");
    }
    // carol is still carol: a private message to her name reaches her.
    bob.request(json!({"type": "message", "to": "carol", "text": "still you?"}));
    assert_eq!(carol.next_of("message")["text"], "still you?");
    drop(alice);
}

/// Finding 6's spellings of "alice".
const SPELLINGS: [&str; 10] = [
    "alice\u{200B}",  // zero width space
    "\u{202E}ecila",  // right-to-left override: shown as "alice"
    "alice\u{2060}",  // word joiner
    "alice\u{00AD}",  // soft hyphen
    "al\u{200D}ice",  // zero width joiner
    "alice\u{FEFF}",  // zero width no-break space
    "\u{430}lice",    // Cyrillic а
    "alic\u{435}",    // Cyrillic е
    "Alice\u{180E}",  // Mongolian vowel separator
    "alice\u{E0001}", // language tag
];

/// `alice-N` in any case, in plain ASCII: a name that can be told from "alice".
fn is_suffixed_alice(name: &str) -> bool {
    name.to_ascii_lowercase()
        .strip_prefix("alice-")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The answer to a rename: its error, or the `renamed` that means it was taken.
fn next_error_or_renamed(client: &mut Client) -> serde_json::Value {
    loop {
        let event = client.next();
        if event["type"] == "error" || event["type"] == "renamed" {
            return event;
        }
    }
}

/// `text` percent-encoded for a query.
fn encoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
