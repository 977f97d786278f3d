//! `--mode amend`: what edits and reactions cost the store (issue 27).
//!
//! Two clients in the default room: the author says `--messages` messages of `--size` bytes, one
//! at a time (each answered before the next), edits every `100 / edit%`-th of them at once, and
//! the other client reacts to every `100 / react%`-th (`--amend EDIT%,REACT%`, default 10,20).
//! Each change waits for its own event, so every one is accepted and numbered. The report counts
//! them; the script adds the store's bytes (`du -b` of its folder), so that the bytes per 1,000
//! messages with changes can be set beside those of a run with `--amend 0,0`.

use std::io;
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::client::{Conn, Dial, OP_TEXT, Rng, tls_config};
use crate::report::Report;

/// Runs the amend mode.
pub fn run(args: &Args) -> Result<Report, String> {
    let tls = tls_config(args)?;
    let url = args.url(0);
    let dial = Dial {
        url,
        tls: tls.as_ref(),
        recv_buffer: None,
        source: None,
        timeout: Duration::from_secs(10),
        deflate: false,
    };
    let mut rng = Rng::from_os();
    let open = |name: &str, rng: &mut Rng| {
        dial.websocket(&url.target(name), rng).map_err(|e| format!("connecting {name}: {e}"))
    };
    let (mut author, mut other) = (open("author", &mut rng)?, open("reactor", &mut rng)?);
    let (edit_pct, react_pct) = args.amend;
    // Every n-th message, n = 100 / pct (none at 0 %).
    let every = |pct: u32| (pct > 0).then(|| (100 / pct as usize).max(1));
    let (edit_every, react_every) = (every(edit_pct), every(react_pct));
    let started = Instant::now();
    let (mut edits, mut reactions) = (0usize, 0usize);
    let pad = "x".repeat(args.size.saturating_sub(12));
    for i in 0..args.messages {
        let text = format!("m{i:06} {pad}");
        send(&mut author, &format!(r#"{{"type":"message","room":"general","text":"{text}"}}"#))?;
        let id = wait_for(&mut author, &[&format!(r#""text":"{text}""#)])?;
        if edit_every.is_some_and(|n| i % n == 0) {
            let edit =
                format!(r#"{{"type":"edit","room":"general","id":{id},"text":"{text} (fixed)"}}"#);
            send(&mut author, &edit)?;
            wait_for(&mut author, &[r#""type":"edit""#, &format!(r#""target":{id},"#)])?;
            edits += 1;
        }
        if react_every.is_some_and(|n| i % n == 0) {
            let react =
                format!(r#"{{"type":"react","room":"general","id":{id},"emoji":"👍","on":true}}"#);
            send(&mut other, &react)?;
            wait_for(&mut other, &[r#""type":"react""#, &format!(r#""target":{id},"#)])?;
            reactions += 1;
        }
    }
    let mut report = Report::default();
    report.text("mode", "amend");
    report.int("messages", args.messages);
    report.int("edits", edits);
    report.int("reactions", reactions);
    report.float("elapsed_s", started.elapsed().as_secs_f64());
    Ok(report)
}

fn send(conn: &mut Conn, text: &str) -> Result<(), String> {
    conn.writer.send(OP_TEXT, text.as_bytes()).map_err(|e| format!("sending: {e}"))
}

/// Reads frames until a text frame containing every one of `needles`; returns its `"id"`.
fn wait_for(conn: &mut Conn, needles: &[&str]) -> Result<u64, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        while let Some(frame) = conn.reader.next_frame().map_err(|e| e.to_string())? {
            let payload = String::from_utf8_lossy(conn.reader.payload(&frame)).into_owned();
            if frame.opcode == OP_TEXT && needles.iter().all(|n| payload.contains(n)) {
                return id_of(&payload).ok_or_else(|| format!("no id in {payload}"));
            }
        }
        if Instant::now() > deadline {
            return Err(format!("no frame with {needles:?} in 10 s"));
        }
        match conn.reader.fill() {
            Ok(0) => return Err("the server closed the connection".into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("reading: {e}")),
        }
    }
}

/// The `"id":N` of an event (the first one: events put it before any other number).
fn id_of(payload: &str) -> Option<u64> {
    let at = payload.find(r#""id":"#)? + 5;
    let digits: String = payload[at..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}
