//! The bots' HTTP API across instances, on Apache Kafka: a post to either instance, directly or
//! through nginx, is answered `201` with the offset the broker gave it, and reaches the members
//! of its room on both instances under that id, marked `"bot":true`; a private post reaches its
//! recipient on the other instance; a history page of either instance holds it.

use std::net::SocketAddr;

use serde_json::{Value, json};

use super::support::https_request;
use super::{API_TOKEN, Topology};

#[test]
fn a_post_to_either_instance_reaches_both_with_the_brokers_offset_as_its_id() {
    let topology = Topology::start();
    let (ws1, ws2) = (topology.instance_addr(0), topology.instance_addr(1));
    let mut alice = topology.connect(ws1, "name=alice");
    alice.welcome();
    let mut bob = topology.connect(ws2, "name=bob");
    bob.welcome();

    // Posted to ws2, directly, and to whichever instance nginx picks.
    let mut ids = Vec::new();
    for (addr, text) in [(ws2, "deployed v2.3"), (topology.nginx_addr(), "through nginx")] {
        let body = json!({"room": "general", "text": text}).to_string();
        let (status, answer) = https(&topology, addr, "POST", "/api/v1/messages", &body);
        assert_eq!(status, 201, "{answer}");
        assert_eq!(answer["room"], "general");
        let id = answer["id"].as_u64().expect("an id");
        for client in [&mut alice, &mut bob] {
            let message = client.next_of("message");
            assert_eq!(
                (&message["id"], &message["text"], &message["name"], &message["bot"]),
                (&json!(id), &json!(text), &json!("deploy"), &json!(true)),
                "{message}"
            );
        }
        ids.push(id);
    }
    assert!(ids[0] < ids[1], "one order: {ids:?}");

    // A reply to the first, checked against ws1's history, and answered with its offset.
    let body = json!({"room": "general", "text": "rolled back", "reply_to": ids[0]}).to_string();
    let (status, answer) = https(&topology, ws1, "POST", "/api/v1/messages", &body);
    assert_eq!(status, 201, "{answer}");
    let reply = bob.next_of("message");
    assert_eq!((&reply["id"], &reply["reply_to"]), (&answer["id"], &json!(ids[0])), "{reply}");
    alice.next_of("message");
    let body = json!({"room": "general", "text": "x", "reply_to": 999_999}).to_string();
    let (status, answer) = https(&topology, ws2, "POST", "/api/v1/messages", &body);
    assert_eq!((status, &answer["code"]), (400, &json!("not_found")), "{answer}");

    // Privately, from ws2 to alice on ws1.
    let body = json!({"to": "alice", "text": "psst"}).to_string();
    let (status, answer) = https(&topology, ws2, "POST", "/api/v1/messages", &body);
    assert_eq!((status, &answer["to"]), (201, &json!("alice")), "{answer}");
    let dm = alice.next_of("message");
    assert_eq!((&dm["id"], &dm["text"], &dm["bot"]), (&answer["id"], &json!("psst"), &json!(true)));

    // Either instance's history page holds the posts, under the same ids.
    for addr in [ws1, ws2] {
        let (status, page) = https(&topology, addr, "GET", "/api/v1/rooms/general/messages", "");
        assert_eq!(status, 200, "{page}");
        let messages = page["messages"].as_array().unwrap();
        let posted: Vec<u64> = messages
            .iter()
            .filter(|m| m["bot"] == true)
            .map(|m| m["id"].as_u64().unwrap())
            .collect();
        assert_eq!(posted[..2], ids[..], "{page}");
    }
}

/// One HTTPS request with the bot's token; the status and the JSON body.
fn https(
    topology: &Topology,
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, Value) {
    let bearer = format!("Bearer {API_TOKEN}");
    let headers = [("Authorization", bearer.as_str()), ("Content-Type", "application/json")];
    let (status, body) = https_request(addr, &topology.cert(), method, path, &headers, body);
    (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}
