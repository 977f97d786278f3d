//! Rooms on two instances over a partitioned chat topic (`KAFKA_PARTITIONS`, 8 by default): each
//! room in one order everywhere, typing across instances, a room resumed on the other instance
//! after a kill, and the refusal of a topic with another partition count.
//!
//! The rooms are picked so that their names hash (FNV-1a, `chat/room.rs`) to different
//! partitions, and two of them to the same one, whose ids then interleave. "Does not get" is
//! checked without waiting for a silence: after the event someone must not see, something they
//! must see is sent, and it has to come first.

use std::collections::{BTreeMap, BTreeSet};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use websocketchat::chat::room::partition;

use super::Topology;
use crate::support::kafka::{Broker, topic};
use crate::support::{Client, Server, ids_and_texts};

/// Rooms on five different partitions of eight, and `python`, which shares `rust`'s.
const ROOMS: [&str; 6] = ["rust", "books", "music", "jazz", "linux", "python"];

/// The partition count every instance here runs with (the default).
const PARTITIONS: u32 = 8;

#[test]
fn every_instance_shows_each_room_in_one_order() {
    let partitions: BTreeSet<u32> = ROOMS.iter().map(|r| partition(r, PARTITIONS)).collect();
    assert_eq!(partitions.len(), 5, "the rooms spread over five partitions");
    assert_eq!(partition("rust", PARTITIONS), partition("python", PARTITIONS));

    let topology = Topology::start();
    let (ws1, ws2) = (topology.instance_addr(0), topology.instance_addr(1));
    // A sender and a reader on each instance, all in every room.
    let mut clients: Vec<(&str, Client)> = [("s1", ws1), ("r1", ws1), ("s2", ws2), ("r2", ws2)]
        .into_iter()
        .map(|(name, addr)| (name, joined(&topology, addr, name)))
        .collect();
    for (_, client) in &mut clients {
        for room in ROOMS {
            client.subscribe(room);
        }
    }
    // Both senders at once, every room in turn, so the partitions' records interleave.
    const ROUNDS: usize = 4;
    for round in 0..ROUNDS {
        for room in ROOMS {
            for sender in [0, 2] {
                let (name, client) = &mut clients[sender];
                client.say_in(room, &format!("{room} {name} {round}"));
            }
        }
    }

    let count = ROOMS.len() * ROUNDS * 2;
    let seen: Vec<BTreeMap<String, Vec<(u64, String)>>> =
        clients.iter_mut().map(|(_, client)| messages_per_room(client, count)).collect();
    for room in ROOMS {
        let reference = &seen[0][room];
        for (i, (name, _)) in clients.iter().enumerate().skip(1) {
            assert_eq!(&seen[i][room], reference, "{name} saw {room} in another order than s1");
        }
        let ids: Vec<u64> = reference.iter().map(|(id, _)| *id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{room}: ids {ids:?}");
        for sender in ["s1", "s2"] {
            // One producer's messages keep their order within the partition.
            let rounds: Vec<String> = reference
                .iter()
                .filter_map(|(_, text)| text.strip_prefix(&format!("{room} {sender} ")))
                .map(String::from)
                .collect();
            let sent: Vec<String> = (0..ROUNDS).map(|r| r.to_string()).collect();
            assert_eq!(rounds, sent, "{sender}'s messages in {room}");
        }
    }
    // Ids are offsets of the room's partition, which only this test writes to: a room alone on
    // its partition has contiguous ids, and rust and python, which share one, share its
    // offsets between them. (Had every room gone to one partition, no room's would be.)
    let ids = |rooms: &[&str]| -> Vec<u64> {
        let ids: BTreeSet<u64> =
            rooms.iter().flat_map(|room| seen[0][*room].iter().map(|(id, _)| *id)).collect();
        ids.into_iter().collect()
    };
    for rooms in [&["books"][..], &["music"], &["jazz"], &["linux"], &["rust", "python"]] {
        let ids = ids(rooms);
        assert_eq!(ids.len(), rooms.len() * ROUNDS * 2, "{rooms:?} share no id");
        assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{rooms:?}: ids {ids:?}");
    }
}

#[test]
fn typing_crosses_instances_but_not_back_to_the_typer() {
    let topology = Topology::start();
    let (ws1, ws2) = (topology.instance_addr(0), topology.instance_addr(1));
    let mut alice = joined(&topology, ws1, "alice");
    let mut dave = joined(&topology, ws1, "dave");
    let mut bob = joined(&topology, ws2, "bob");
    let mut carol = joined(&topology, ws2, "carol");
    alice.subscribe("rust");
    dave.subscribe("rust");
    bob.subscribe("rust");

    // Rosters carry rooms: bob, on ws2, learns that alice (ws1) is in rust.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "bob never saw alice in rust's users");
        let event = bob.next();
        let in_list =
            |name: &str| event["users"].as_array().is_some_and(|u| u.contains(&json!(name)));
        if event["type"] == "users" && event["room"] == "rust" && in_list("alice") {
            break;
        }
    }

    alice.request(json!({"type": "typing", "room": "rust"}));
    let user = &alice.hello["user"];
    let typing = json!({"type": "typing", "room": "rust", "name": "alice", "user": user});
    assert_eq!(bob.next_of("typing"), typing, "on the other instance");
    assert_eq!(dave.next_of("typing"), typing, "on the typer's own instance");
    // dave has it, so ws1's broadcaster handled it before this message: had alice been sent
    // her own typing, it would come before the message.
    alice.say_in("rust", "after typing");
    let events = until_message(&mut alice, "after typing");
    assert!(events.iter().all(|e| e["type"] != "typing"), "alice heard herself: {events:?}");
    // carol is not in rust: the next thing she reads in general is this message.
    alice.say("in general");
    let events = until_message(&mut carol, "in general");
    assert!(events.iter().all(|e| e["type"] != "typing"), "carol is not in rust: {events:?}");
}

#[test]
fn a_room_resumes_on_the_other_instance_after_a_kill() {
    let mut topology = Topology::start();
    let (ws1, ws2, nginx) =
        (topology.instance_addr(0), topology.instance_addr(1), topology.nginx_addr());
    let mut alice = joined(&topology, ws1, "alice");
    let epoch = alice.subscribe("rust")["epoch"].as_str().unwrap().to_string();
    let mut bob = joined(&topology, ws2, "bob");
    assert_eq!(bob.subscribe("rust")["epoch"], epoch.as_str(), "one epoch on both instances");
    bob.subscribe("python");
    for i in 1..=3 {
        bob.say_in("rust", &format!("before {i}"));
    }
    let seen = ids_and_texts(&alice.messages(3));
    bob.messages(3);

    // SIGKILL ws1. Meanwhile rust goes on, and python writes to the same partition in between.
    topology.kill_instance(0);
    for i in 1..=3 {
        bob.say_in("rust", &format!("missed {i}"));
        bob.say_in("python", &format!("python {i}"));
    }
    let missed: Vec<(u64, String)> = ids_and_texts(&bob.messages(6))
        .into_iter()
        .filter(|(_, text)| text.starts_with("missed"))
        .collect();
    assert_eq!(missed.len(), 3);

    // alice comes back through nginx (which now has only ws2) and resumes rust.
    let since = seen.last().unwrap().0;
    let mut alice = joined(&topology, nginx, "alice");
    alice.request(json!({"type": "subscribe", "room": "rust", "since": since, "epoch": epoch}));
    let history = alice.next_of("history");
    assert_eq!(
        (history["room"].as_str(), history["epoch"].as_str()),
        (Some("rust"), Some(&*epoch))
    );
    assert_eq!(history["complete"], true, "{history}");
    let resumed = ids_and_texts(history["messages"].as_array().unwrap());
    assert_eq!(resumed, missed, "exactly what alice missed, with the ids bob saw");
}

/// The topic's partition count is fixed when it is created; an instance that counts otherwise
/// would put rooms in other partitions, so it refuses to start and names both numbers.
#[test]
fn an_instance_with_another_partition_count_refuses_to_start() {
    let brokers = Broker::shared().brokers();
    let topic = topic("counted");
    let instance = |id: &str, partitions: &str| {
        Server::start(&[
            ("KAFKA_ENABLED", "true"),
            ("KAFKA_BROKERS", &brokers),
            ("KAFKA_TOPIC", &topic),
            ("KAFKA_PARTITIONS", partitions),
            ("INSTANCE_ID", id),
            ("LOG_LEVEL", "info"),
        ])
    };
    // The first instance creates the topic with 3 partitions.
    let first = instance("first", "3");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !first.get("/healthz").starts_with("HTTP/1.1 200") {
        assert!(Instant::now() < deadline, "first did not become healthy: {}", first.log());
        thread::sleep(Duration::from_millis(100));
    }

    // One that wants the default 8 exits, with an error naming the topic and both counts.
    let mut second = instance("second", "8");
    let status = second.wait_exit(Duration::from_secs(30));
    assert!(!status.success(), "{status}");
    let expected = format!("topic {topic} has 3 partitions, but KAFKA_PARTITIONS is 8");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !second.log().contains(&expected) {
        assert!(Instant::now() < deadline, "no {expected:?} in: {}", second.log());
        thread::sleep(Duration::from_millis(50));
    }
    assert!(first.get("/healthz").starts_with("HTTP/1.1 200"), "the first one runs on");
}

/// A chat client on `addr`, past its welcome (hello, general's history).
fn joined(topology: &Topology, addr: std::net::SocketAddr, name: &str) -> Client {
    let mut client = topology.connect(addr, &format!("name={name}"));
    let history = client.welcome();
    assert_eq!(history["room"], "general", "{history}");
    client
}

/// The next `count` messages, as (id, text) per room in the order they came.
fn messages_per_room(client: &mut Client, count: usize) -> BTreeMap<String, Vec<(u64, String)>> {
    let mut rooms: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    for message in client.messages(count) {
        let room = message["room"].as_str().unwrap().to_string();
        rooms.entry(room).or_default().extend(ids_and_texts([&message]));
    }
    rooms
}

/// The events up to and with the message `text`, at most [`MAX_EVENTS`].
fn until_message(client: &mut Client, text: &str) -> Vec<Value> {
    let mut events = Vec::new();
    for _ in 0..MAX_EVENTS {
        let event = client.next();
        let done = event["type"] == "message" && event["text"] == text;
        events.push(event);
        if done {
            return events;
        }
    }
    panic!("no message {text:?} in {events:?}");
}

/// Events read while looking for one, at most.
const MAX_EVENTS: usize = 100;
