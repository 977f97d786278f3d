//! A request with a typo is refused, never posted (issue 22, finding 8): a text frame that starts
//! with `{` is a request, and when it is not one (not JSON, a field of the wrong type or out of
//! range, a field its type does not take) its sender gets `bad_request` and nobody else gets
//! anything. Before, `{"type":"message","to":"someone","text":"my password is hunter2",}` (a
//! trailing comma) reached everyone in `general`, and so did a `since` of `1e400`.

use serde_json::Value;
use tungstenite::Message;

use crate::support::{Client, Server};

/// What a typo must never show to anyone but its sender.
const SECRET: &str = "hunter2";

/// Broken requests, each carrying the secret or a field the old parser turned into text.
const BROKEN: [&str; 12] = [
    r#"{"type":"message","to":"someone","text":"my password is hunter2",}"#,
    r#"{"type":"subscribe","room":"general","since":1e400}"#,
    r#"{"type":"message","to":"someone","text":"my password is hun"#,
    "{",
    r#"  {"type":"message","text":"my password is hunter2" "room":"general"}"#,
    r#"{'type':'message','text':'my password is hunter2'}"#,
    r#"{"type":"message","to":7,"text":"my password is hunter2"}"#,
    r#"{"type":"message","too":"someone","text":"my password is hunter2"}"#,
    r#"{"type":"subscribe","room":"general","since":"4"}"#,
    r#"{"type":"subscribe","room":"general","epoch":4}"#,
    r#"{"type":"inspect","on":"yes, hunter2"}"#,
    r#"{"type":"rename","name":["hunter2"]}"#,
];

/// Every event `client` gets up to (and with) the chat message `text`, within the read timeout.
fn events_until_message(client: &mut Client, text: &str) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        let event = client.next();
        let done = event["type"] == "message" && event["text"] == text;
        events.push(event);
        if done {
            return events;
        }
        assert!(events.len() < 1000, "no {text:?} among {events:?}");
    }
}

#[test]
fn a_broken_request_is_refused_and_nobody_else_sees_it() {
    let server = Server::start(&[]);
    let mut bystander = server.joined("name=bystander");
    let mut sender = server.joined("name=sender");
    for frame in BROKEN {
        sender.send(Message::text(frame));
        // Its answer: an error, not its own words posted back to it (presence may come first).
        let refused = loop {
            let event = sender.next();
            if event["type"] == "error" || event["type"] == "message" {
                break event;
            }
        };
        assert_eq!(refused["code"], "bad_request", "{frame}: {refused}");
        let why = refused["message"].as_str().unwrap();
        assert!(why.len() > 10 && !why.contains(SECRET), "{frame}: says what was wrong: {why}");
    }
    // Plain text is still a message to the default room. The sender's frames are read and
    // published in order, so anything the broken ones had posted would reach the bystander
    // before this one: no sleep needed to know that nothing came.
    sender.send(Message::text("plain words, still a message"));
    let seen = events_until_message(&mut bystander, "plain words, still a message");
    let messages: Vec<&Value> = seen.iter().filter(|e| e["type"] == "message").collect();
    assert_eq!(messages.len(), 1, "only the plain text was posted: {messages:?}");
    assert_eq!(messages[0]["name"], "sender");
    for event in &seen {
        assert!(!event.to_string().contains(SECRET), "the bystander saw {event}");
    }
    // The sender sees its plain message too, and its connection is fine.
    assert_eq!(sender.next_of("message")["text"], "plain words, still a message");
}
