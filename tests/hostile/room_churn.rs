//! Room churn: clients that enter and leave rooms as fast as the rate limit lets them, up to every
//! limit (rooms per connection, rooms per instance), send typing notices and messages to rooms
//! they are not in, ask for the room list, and vanish without a close. Meanwhile a speaker's
//! messages in one room reach its witnesses, all of them, in order; and once the churners are
//! gone, the server's count of rooms with members is back where it was (a new room can be made,
//! and the list shows only the rooms people are still in).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::wire::assert_no_panic;
use crate::support::{Client, Server, loopback};

#[test]
fn churning_rooms_loses_nobody_a_message_and_leaks_no_room() {
    let server = Arc::new(Server::start(&[
        ("RATE_LIMIT_PER_SEC", "1000"),
        ("MAX_ROOMS_PER_CONNECTION", "4"),
        ("MAX_ROOMS", "12"),
    ]));
    let joined = |name: &str| {
        let mut client = server.connect(&format!("/ws?name={name}"));
        client.welcome();
        client
    };
    let mut witnesses: Vec<Client> = (0..2).map(|i| joined(&format!("witness{i}"))).collect();
    for witness in &mut witnesses {
        witness.subscribe("stage");
    }
    let mut speaker = joined("speaker");
    speaker.subscribe("stage");

    let churning = Arc::new(AtomicBool::new(true));
    let churners: Vec<_> = (0..CHURNERS)
        .map(|c| {
            let (server, churning) = (server.clone(), churning.clone());
            thread::spawn(move || churn(&server, c, &churning))
        })
        .collect();
    for i in 0..SPOKEN {
        speaker.say_in("stage", &format!("speaker {i}"));
        thread::sleep(SPEAKER_PAUSE);
    }
    churning.store(false, Ordering::SeqCst);
    let refusals: usize = churners.into_iter().map(|c| c.join().unwrap()).sum();
    assert!(refusals > 0, "the churners hit the limits (too_many_rooms)");

    let expected: Vec<String> = (0..SPOKEN).map(|i| format!("speaker {i}")).collect();
    for witness in &mut witnesses {
        let heard = witness.texts_from("speaker", SPOKEN);
        assert_eq!(heard, expected, "every message of the speaker, in order");
    }

    // Every message a churner sent to "stage" was refused: the server took the speaker's alone.
    assert_eq!(server.metric("websocketchat_messages_received_total"), SPOKEN as u64);

    // The churners are gone: only general and stage have members. Their readers may still be
    // ending, so ask until the list settles.
    let deadline = Instant::now() + Duration::from_secs(10);
    let rooms = loop {
        speaker.request(json!({"type": "rooms"}));
        let rooms = speaker.next_of("rooms")["rooms"].clone();
        let names: Vec<&str> =
            rooms.as_array().unwrap().iter().map(|r| r["room"].as_str().unwrap()).collect();
        if names.len() == 2 || Instant::now() > deadline {
            break names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        }
        thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(rooms, ["general", "stage"]);
    // ... and every room they made was given back: ten new ones fit under MAX_ROOMS again.
    for i in 0..10 {
        let mut client = joined(&format!("late{i}"));
        assert_eq!(client.subscribe(&format!("late-{i}"))["complete"], true);
    }
    assert_no_panic(&server);
}

/// One churner: a connection at a time, each doing a burst of room requests and then vanishing
/// (every other one without a close). Returns how many `too_many_rooms` refusals it saw.
fn churn(server: &Server, c: usize, churning: &AtomicBool) -> usize {
    let mut refusals = 0;
    for round in 0..MAX_ROUNDS {
        if !churning.load(Ordering::SeqCst) {
            break;
        }
        // Each churner from its own address, and a new one every 20 connections (each is a new
        // session, and an address is given NEW_SESSIONS_PER_ADDRESS_PER_MIN).
        let address = loopback((c * 100 + round / 20) as u32);
        let mut client = server.connect_from(address, &format!("/ws?name=churner{c}"));
        client.welcome();
        for k in 0..8 {
            let room = format!("c{}", (c * 7 + round * 3 + k) % 16);
            client.request(json!({"type": "subscribe", "room": room}));
            client.request(json!({"type": "typing", "room": room}));
            client.request(json!({"type": "message", "room": "stage", "text": "not a member"}));
            if k % 3 == 0 {
                client.request(json!({"type": "unsubscribe", "room": room}));
            }
        }
        client.request(json!({"type": "rooms"}));
        // Read up to the rooms answer, counting refusals; nothing from "stage" may arrive.
        loop {
            let event: Value = client.next();
            let refusal = event["type"] == "error";
            assert!(
                refusal || event["room"] != "stage",
                "a churner got {event} of a room it is not in"
            );
            match event["type"].as_str() {
                Some("rooms") => break,
                Some("error") if event["code"] == "too_many_rooms" => refusals += 1,
                Some("error") => {
                    let code = event["code"].as_str().unwrap_or_default();
                    assert!(code == "not_subscribed", "{event}");
                }
                _ => {}
            }
        }
        if round % 2 == 0 {
            drop(client); // gone without a close frame
        } else {
            let _ = client.ws.close(None);
            let _ = client.ws.flush();
        }
    }
    refusals
}

/// Churners at once, and connections each makes at most.
const CHURNERS: usize = 6;
const MAX_ROUNDS: usize = 200;
/// The speaker's messages, and the pause between two.
const SPOKEN: usize = 40;
const SPEAKER_PAUSE: Duration = Duration::from_millis(25);
