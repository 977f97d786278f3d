//! Who chooses a client's session (issue 22, finding 3). A cookie is planted easily: cookies
//! ignore ports and scheme, so a page on another port of the host, a sibling subdomain or anyone
//! on a plain-HTTP network can set `wschat_session` for the chat's host. The server therefore
//! never reads a session from a cookie; the page presents its own in its first message
//! (`?session_in=frame`), which keeps it out of every URL and every proxy's log.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::Message;

use crate::support::{Client, Server};

/// Mallory plants her own session as a cookie in Victor's browser, which then opens the chat
/// without `?session=`: Victor must get a fresh session, not hers, or her private messages and
/// everything written to Victor would be shared with her.
#[test]
fn a_planted_session_cookie_does_not_choose_the_session() {
    let server = Server::start(&[]);
    let mallory = server.joined("name=mallory");
    let cookie = format!("theme=dark; wschat_session={}", mallory.session());
    let mut victor = server.connect_with("/ws?name=victor", &[("Cookie", &cookie)]);
    let hello = victor.next();
    assert_eq!(hello["type"], "hello", "{hello}");
    assert_ne!(hello["user"], mallory.hello["user"], "the cookie chose the session: {hello}");
    assert_ne!(hello["session"], mallory.hello["session"]);
    assert_eq!(hello["name"], "victor");
    // A newcomer, not an expired session: nothing was presented.
    assert_eq!(victor.next()["type"], "history");
}

/// The page's way: `?session_in=frame`, then `{"type":"session","session":…}` first. The same
/// session is the same person; `null` is a newcomer; the join (hello, the default room's history
/// and users) then goes on exactly as with `?session=`, and the inspector still shows the
/// handshake.
#[test]
fn a_session_in_the_first_message_is_the_same_person() {
    let server = Server::start(&[]);
    let mut alice = server.joined("name=alice");

    let mut tab = server.connect("/ws?name=zed&session_in=frame");
    tab.request(json!({"type": "session", "session": alice.session()}));
    tab.welcome();
    assert_eq!((&tab.hello["user"], &tab.hello["name"]), (&alice.hello["user"], &json!("alice")));
    assert_eq!(tab.next_of("users")["users"], json!(["alice"]));
    tab.say("from the tab");
    assert_eq!(alice.next_of("message")["user"], alice.hello["user"]);
    tab.request(json!({"type": "inspect", "on": true}));
    let handshake = tab.next_of("handshake");
    let request = handshake["request"].as_str().unwrap();
    assert!(request.starts_with("GET /ws?name=zed&session_in=frame HTTP/1.1\r\n"), "{request}");

    let mut newcomer = server.connect("/ws?name=nora&session_in=frame");
    newcomer.request(json!({"type": "session", "session": null}));
    newcomer.welcome();
    assert_eq!(newcomer.hello["name"], "nora");
    assert_ne!(newcomer.hello["user"], alice.hello["user"]);

    // Nothing happens before the session message: no hello is waiting for it.
    let mut early = server.connect("/ws?name=early&session_in=frame");
    assert!(quiet(&mut early, Duration::from_millis(300)), "the join did not wait");
    early.request(json!({"type": "session", "session": alice.session()}));
    early.welcome();
    assert_eq!(early.hello["user"], alice.hello["user"]);
    drop((tab, early));
    assert!(!server.log().contains(alice.session()), "the log carries a session");
}

/// Anything else first closes the connection with 1008 before any hello; so does silence past
/// `HANDSHAKE_TIMEOUT_SECS`.
#[test]
fn a_wrong_or_missing_first_message_closes_with_1008() {
    let server = Server::start(&[("HANDSHAKE_TIMEOUT_SECS", "1")]);
    let wrong = [
        Message::text("hello everyone"),
        Message::text(json!({"type": "message", "text": "hi"}).to_string()),
        Message::text(json!({"type": "session", "session": 42}).to_string()),
        Message::text(json!({"session": "AAAAAAAAAAAAAAAAAAAAAA"}).to_string()),
    ];
    for first in wrong {
        let shown = format!("{first:?}");
        let mut client = server.connect("/ws?name=pat&session_in=frame");
        client.send(first);
        let (code, events) = close_of(&mut client);
        assert_eq!(code, 1008, "{shown}");
        assert!(events.is_empty(), "{shown}: {events:?}");
    }

    let started = Instant::now();
    let mut silent = server.connect("/ws?name=pat&session_in=frame");
    let (code, events) = close_of(&mut silent);
    assert_eq!(code, 1008);
    assert!(events.is_empty(), "{events:?}");
    assert!(started.elapsed() < Duration::from_secs(4), "closed after {:?}", started.elapsed());
}

/// Reads until the server's close frame: its code and the JSON events before it.
fn close_of(client: &mut Client) -> (u16, Vec<Value>) {
    let mut events = Vec::new();
    loop {
        match client.ws.read() {
            Ok(Message::Close(frame)) => {
                return (frame.map_or(1005, |f| u16::from(f.code)), events);
            }
            Ok(Message::Text(text)) => events.push(serde_json::from_str(&text).unwrap()),
            Ok(_) => {}
            Err(e) => panic!("expected a close frame, got {e} after {events:?}"),
        }
    }
}

/// True when nothing came for `quiet`.
fn quiet(client: &mut Client, quiet: Duration) -> bool {
    client.ws.get_ref().tcp().set_read_timeout(Some(quiet)).unwrap();
    let heard = client.ws.read();
    client.ws.get_ref().tcp().set_read_timeout(Some(crate::support::READ_TIMEOUT)).unwrap();
    heard.is_err()
}
