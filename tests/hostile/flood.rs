//! A flood: one client after another sends messages as fast as it can. Each is refused with
//! `rate_limited` error events past its burst, then closed with 1008; meanwhile a third client's
//! messages reach the others, all of them, in order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use serde_json::Value;
use tungstenite::Message;

use crate::support::wire::assert_no_panic;
use crate::support::{Client, Server};

#[test]
fn flooders_are_rate_limited_then_closed_while_others_get_every_message_in_order() {
    let server = Arc::new(Server::start(&[("RATE_LIMIT_PER_SEC", RATE)]));
    let mut witnesses: Vec<Client> = (0..2)
        .map(|i| {
            let mut client = server.connect(&format!("/ws?name=witness{i}"));
            client.welcome();
            client
        })
        .collect();
    let mut speaker = server.connect("/ws?name=speaker");
    speaker.welcome();

    let speaking = Arc::new(AtomicBool::new(true));
    let (started, flood_started) = mpsc::channel();
    let flood = {
        let (server, speaking) = (server.clone(), speaking.clone());
        thread::spawn(move || {
            let mut flooders = 0;
            while flooders < MAX_FLOODERS && (flooders == 0 || speaking.load(Ordering::SeqCst)) {
                let mut flooder = server.connect("/ws?name=flooder");
                flooder.welcome();
                let _ = started.send(());
                let (refused, code) = flood_until_closed(&mut flooder);
                assert!(refused >= 1, "rate_limited error events before the close");
                assert_eq!(code, 1008, "a flooder is closed for violating the policy");
                flooders += 1;
            }
            flooders
        })
    };
    flood_started.recv_timeout(Duration::from_secs(10)).unwrap();
    // Within the rate limit: SPOKEN messages at a steady pace, during the flood.
    for i in 0..SPOKEN {
        speaker.say(&format!("speaker {i}"));
        thread::sleep(SPEAKER_PAUSE);
    }
    speaking.store(false, Ordering::SeqCst);
    let flooders = flood.join().unwrap();
    assert!(flooders >= 1);

    let expected: Vec<String> = (0..SPOKEN).map(|i| format!("speaker {i}")).collect();
    for witness in &mut witnesses {
        let heard = witness.texts_from("speaker", SPOKEN);
        assert_eq!(heard, expected, "every message of the speaker, in order");
    }
    assert!(server.metric("websocketchat_close_frames_sent_total{code=\"1008\"}") >= 1);
    assert_no_panic(&server);
}

/// Sends up to [`FLOOD`] messages without reading, then reads what came back. Returns how many
/// `rate_limited` error events arrived, and the close code.
fn flood_until_closed(flooder: &mut Client) -> (usize, u16) {
    for i in 0..FLOOD {
        // The server closes in the middle of the flood: a failed send is expected.
        if flooder.ws.send(Message::text(format!("flood {i}"))).is_err() {
            break;
        }
    }
    let mut refused = 0;
    loop {
        match flooder.ws.read() {
            Ok(Message::Text(text)) => {
                let event: Value = serde_json::from_str(&text).unwrap();
                if event["type"] == "error" {
                    assert_eq!(event["code"], "rate_limited", "{event}");
                    refused += 1;
                }
            }
            Ok(Message::Close(Some(frame))) => {
                // Sends tungstenite's reply to the close, so the server need not wait for it.
                let _ = flooder.ws.flush();
                return (refused, u16::from(frame.code));
            }
            Ok(other) => assert!(!other.is_close(), "a close without a code"),
            Err(e) => panic!("the flooder expected a close frame, got {e}"),
        }
    }
}

/// `RATE_LIMIT_PER_SEC`: a burst of twice that passes, then as many refusals, then 1008.
const RATE: &str = "50";
/// Messages one flooder sends: more than the burst and the refusals together.
const FLOOD: usize = 400;
/// Flooders, one after another, at most.
const MAX_FLOODERS: usize = 20;
/// The speaker's messages, and the pause between two (well within the rate).
const SPOKEN: usize = 20;
const SPEAKER_PAUSE: Duration = Duration::from_millis(25);
