//! permessage-deflate (RFC 7692) end to end, over ws:// and wss://: the negotiation in the `101`,
//! long messages and history pages compressed once for every client that agreed, plain frames
//! for the others and for short messages, compressed client messages read, `COMPRESSION=off`,
//! and `/echo` answering compressed.

use serde_json::Value;

use crate::support::Server;
use crate::support::deflate::{BROWSER_OFFER, DeflateClient};

/// The answer to every accepted offer: no context takeover either way (§7.1.1).
const AGREED: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

/// Connects `name` with `offer` and reads its hello and history; returns the history event.
fn joined(server: &Server, name: &str, offer: Option<&str>) -> (DeflateClient, Value) {
    let mut client = DeflateClient::connect(server, &format!("/ws?name={name}"), offer);
    let (_, hello) = client.next_of("hello");
    assert_eq!(hello["name"], name);
    let (_, history) = client.next_of("history");
    (client, history)
}

#[test]
fn the_browsers_offer_is_accepted_and_broken_offers_are_declined() {
    let server = Server::start(&[]);
    let answer = |offer: Option<&str>| {
        DeflateClient::connect(&server, "/ws?name=ann", offer).agreed().map(str::to_string)
    };
    assert_eq!(answer(Some(BROWSER_OFFER)).as_deref(), Some(AGREED));
    assert_eq!(answer(None), None);
    assert_eq!(answer(Some("x-webkit-deflate-frame")), None);
    // §7: an offer with an unknown parameter is declined; the next one is taken.
    assert_eq!(answer(Some("permessage-deflate; speed=max")), None);
    assert_eq!(
        answer(Some("permessage-deflate; speed=max, permessage-deflate")).as_deref(),
        Some(AGREED)
    );
    // §7.1.2.1: a smaller server window is echoed.
    let small = answer(Some("permessage-deflate; server_max_window_bits=10")).unwrap();
    assert_eq!(small, format!("{AGREED}; server_max_window_bits=10"));

    let off = Server::start(&[("COMPRESSION", "off")]);
    assert_eq!(DeflateClient::connect(&off, "/ws?name=ann", Some(BROWSER_OFFER)).agreed(), None);
}

#[test]
fn long_messages_go_compressed_to_those_who_agreed_and_plain_to_the_others_over_ws() {
    long_messages_go_compressed_to_those_who_agreed(&Server::start(&[]));
}

#[test]
fn long_messages_go_compressed_to_those_who_agreed_and_plain_to_the_others_over_wss() {
    long_messages_go_compressed_to_those_who_agreed(&Server::start_tls(&[]));
}

fn long_messages_go_compressed_to_those_who_agreed(server: &Server) {
    let (mut ann, _) = joined(server, "ann", Some(BROWSER_OFFER));
    let (mut bob, _) = joined(server, "bob", Some(BROWSER_OFFER));
    let (mut carl, _) = joined(server, "carl", None);
    assert_eq!(ann.agreed(), Some(AGREED));
    assert_eq!(carl.agreed(), None);
    let long = "the quick brown fox jumps over the lazy dog, again and again; ".repeat(8) + "end";
    // Ann's message goes compressed (RSV1) both ways; the server inflates it before anything.
    ann.say(&long, true);
    for client in [&mut ann, &mut bob] {
        let (received, event) = client.next_of("message");
        assert_eq!(event["text"], long.as_str());
        assert!(received.compressed, "{event}");
        assert!(
            received.wire_len * 3 < received.text.len(),
            "{} of {}",
            received.wire_len,
            received.text.len()
        );
    }
    let (received, event) = carl.next_of("message");
    assert_eq!(event["text"], long.as_str());
    assert!(!received.compressed, "carl did not offer permessage-deflate");
    // A message is compressed or not by its own length (COMPRESSION_MIN_BYTES, 128); a client
    // may send plain messages after compressed ones (RFC 7692 §6: each message chooses).
    ann.say("hi", false);
    let (received, event) = bob.next_of("message");
    assert_eq!(event["text"], "hi");
    assert_eq!(received.compressed, received.text.len() >= 128, "{}", received.text);
}

#[test]
fn a_client_asking_a_small_server_window_gets_compressed_only_what_fits_it() {
    // §7.1.2.1: server_max_window_bits=8, a window of 256 bytes: a message of at most 256
    // bytes, compressed on its own, never refers past it; a longer one goes plain.
    let server = Server::start(&[]);
    let offer = "permessage-deflate; server_max_window_bits=8";
    let (mut ann, _) = joined(&server, "ann", Some(offer));
    assert_eq!(ann.agreed(), Some(format!("{AGREED}; server_max_window_bits=8").as_str()));
    for (text, fits) in [("a".repeat(100), true), ("b".repeat(400), false)] {
        ann.say(&text, false);
        let (received, event) = ann.next_of("message");
        assert_eq!(event["text"], text.as_str());
        assert_eq!(received.text.len() <= 256, fits, "{}", received.text.len());
        assert_eq!(received.compressed, fits, "{} bytes", received.text.len());
    }
}

#[test]
fn a_history_page_goes_compressed() {
    let server = Server::start(&[]);
    let (mut ann, _) = joined(&server, "ann", None);
    for i in 0..30 {
        ann.say(&format!("message number {i} of a conversation that goes on"), false);
    }
    for _ in 0..30 {
        ann.next_of("message");
    }
    let mut bob = DeflateClient::connect(&server, "/ws?name=bob", Some(BROWSER_OFFER));
    let (received, history) = bob.next_of("history");
    assert_eq!(history["messages"].as_array().unwrap().len(), 30, "{history}");
    assert!(received.compressed);
    assert!(
        received.wire_len * 4 < received.text.len(),
        "{} of {}",
        received.wire_len,
        received.text.len()
    );
}

#[test]
fn with_compression_off_the_offer_is_ignored_and_the_chat_works() {
    let server = Server::start(&[("COMPRESSION", "off")]);
    let (mut ann, _) = joined(&server, "ann", Some(BROWSER_OFFER));
    let (mut bob, _) = joined(&server, "bob", Some(BROWSER_OFFER));
    let long = "x".repeat(500);
    ann.say(&long, false);
    let (received, event) = bob.next_of("message");
    assert_eq!((event["text"].as_str(), received.compressed), (Some(long.as_str()), false));
}

#[test]
fn small_messages_stay_plain_below_compression_min_bytes() {
    let server = Server::start(&[("COMPRESSION_MIN_BYTES", "100000")]);
    let (mut ann, _) = joined(&server, "ann", Some(BROWSER_OFFER));
    let long = "y".repeat(1000);
    ann.say(&long, true);
    let (received, event) = ann.next_of("message");
    assert_eq!((event["text"].as_str(), received.compressed), (Some(long.as_str()), false));
}

#[test]
fn past_compression_max_bytes_per_sec_frames_go_plain_and_still_arrive() {
    let server = Server::start(&[("COMPRESSION_MAX_BYTES_PER_SEC", "1000")]);
    let (mut ann, _) = joined(&server, "ann", Some(BROWSER_OFFER));
    let long = "z".repeat(600);
    // The first message's 700 bytes of JSON fit the second's 1,000; the next two do not.
    for _ in 0..3 {
        ann.say(&long, true);
    }
    let mut compressed = Vec::new();
    for _ in 0..3 {
        let (received, event) = ann.next_of("message");
        assert_eq!(event["text"], long.as_str());
        compressed.push(received.compressed);
    }
    assert_eq!(compressed, [true, false, false]);
}

#[test]
fn echo_answers_compressed() {
    let server = Server::start(&[("ECHO_ENDPOINT", "true")]);
    let mut client = DeflateClient::connect(&server, "/echo", Some(BROWSER_OFFER));
    assert_eq!(client.agreed(), Some(AGREED));
    let text = "echo, echo, echo; ".repeat(40);
    client.send_text(&text, true);
    let received = client.next_message();
    assert_eq!((received.text.as_str(), received.compressed), (text.as_str(), true));
    client.send_text("short", true);
    let received = client.next_message();
    assert_eq!((received.text.as_str(), received.compressed), ("short", false));
}
