//! Subprotocol negotiation (RFC 6455 §1.9, §4.2.2 item 5.5): `/ws` names `wschat.v1` when it
//! is offered, and no subprotocol otherwise; `/echo` never names one.

use std::io::Write;

use serde_json::json;
use tungstenite::protocol::Role;

use crate::support::wire::{KEY, read_head, upgrade_head};
use crate::support::{Client, Server, Stream};

/// Sends an upgrade request for `path` over plain TCP with the header lines in `extra`; returns
/// the answer's head and the connection, past the head, as a chat client.
fn upgrade(server: &Server, path: &str, extra: &str) -> (String, Client) {
    let mut tcp = server.tcp();
    let extra = format!("Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}");
    tcp.write_all(upgrade_head(server, path, &extra).as_bytes()).unwrap();
    let (head, rest) = read_head(&mut tcp);
    assert!(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{head}");
    let ws =
        tungstenite::WebSocket::from_partially_read(Stream::Plain(tcp), rest, Role::Client, None);
    (head, Client { ws, hello: serde_json::Value::Null })
}

/// The values of the `Sec-WebSocket-Protocol` lines of an answer's head.
fn protocols(head: &str) -> Vec<&str> {
    let lines = head.lines().skip(1).filter_map(|line| line.split_once(':'));
    let named = lines.filter(|(name, _)| name.eq_ignore_ascii_case("sec-websocket-protocol"));
    named.map(|(_, value)| value.trim()).collect()
}

/// The client's own message comes back: the chat works on this connection.
fn chats(client: &mut Client, text: &str) {
    client.welcome();
    client.say(text);
    let message = client.next_of("message");
    assert_eq!(message["text"], text, "{message}");
}

#[test]
fn offering_wschat_v1_gets_it_named_in_the_101() {
    let server = Server::start(&[]);
    // Offered alone, among others in one header, or in a second header.
    for offer in [
        "Sec-WebSocket-Protocol: wschat.v1\r\n",
        "Sec-WebSocket-Protocol: chat,  wschat.v1 ,superchat\r\n",
        "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: wschat.v1\r\n",
    ] {
        let (head, mut client) = upgrade(&server, "/ws?name=ann", offer);
        assert_eq!(protocols(&head), ["wschat.v1"], "{offer:?}: {head}");
        chats(&mut client, "named");
    }
    // tungstenite's client checks the answer against its offer (RFC 6455 §4.1: a subprotocol
    // it did not offer fails the connection, and so does none at all when it offered one).
    let mut client =
        server.connect_with("/ws?name=bob", &[("Sec-WebSocket-Protocol", "wschat.v1")]);
    chats(&mut client, "tungstenite agrees");
}

#[test]
fn offering_only_others_gets_no_header_and_the_chat_goes_on() {
    let server = Server::start(&[]);
    // Names are case-sensitive (§4.1 item 10): `WSChat.v1` is another protocol.
    for offer in ["Sec-WebSocket-Protocol: other\r\n", "Sec-WebSocket-Protocol: WSChat.v1, x y\r\n"]
    {
        let (head, mut client) = upgrade(&server, "/ws?name=ann", offer);
        assert!(protocols(&head).is_empty(), "{offer:?}: {head}");
        // The browser would fail the connection here; a client that goes on gets the chat.
        chats(&mut client, "unnamed");
    }
    // tungstenite fails it, as a browser does.
    let refused = server.try_connect_with("/ws?name=bob", &[("Sec-WebSocket-Protocol", "other")]);
    assert!(refused.is_err(), "a client that offered a subprotocol and got none");
}

#[test]
fn offering_nothing_works_as_before() {
    let server = Server::start(&[]);
    let (head, mut client) = upgrade(&server, "/ws?name=ann", "");
    assert!(protocols(&head).is_empty(), "{head}");
    chats(&mut client, "as before");
}

#[test]
fn echo_never_names_a_subprotocol() {
    let server = Server::start(&[("ECHO_ENDPOINT", "true")]);
    for offer in ["", "Sec-WebSocket-Protocol: wschat.v1\r\n", "Sec-WebSocket-Protocol: other\r\n"]
    {
        let (head, mut client) = upgrade(&server, "/echo", offer);
        assert!(protocols(&head).is_empty(), "{offer:?}: {head}");
        client.send(tungstenite::Message::text("back"));
        assert_eq!(client.ws.read().unwrap().into_text().unwrap().as_str(), "back");
    }
}

#[test]
fn the_inspector_shows_the_offers_and_the_choice() {
    let server = Server::start(&[]);
    let offer = "Sec-WebSocket-Protocol: other, wschat.v1\r\n";
    let (head, mut client) = upgrade(&server, "/ws?name=ann", offer);
    client.welcome();
    client.request(json!({"type": "inspect", "on": true}));
    let event = client.next_of("handshake");
    let expected = json!({"offered": ["other", "wschat.v1"], "chosen": "wschat.v1",
                          "why": "offered and spoken"});
    assert_eq!(event["subprotocol"], expected, "{event}");
    // The `101` it shows is the one the client read.
    assert_eq!(event["response"], head, "{event}");
}
