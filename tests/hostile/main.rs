//! Hostile clients against the real server: slowloris, a silent crowd, broken frames and noise
//! after the upgrade, floods, room churn, a reader of other people's private messages, a full
//! server, TLS records of every size, broken requests, origins of other schemes, sessions spelt
//! to slip past the inspector, names that look like others, one address taking more than its
//! share (connections, handshakes, sessions, rooms, private messages), a flood of throwaway
//! sessions, the store's files against other accounts, a segment crafted against recovery,
//! edits, deletions and reactions aimed at others' messages and conversations, the bots' API
//! (guessed tokens, a flood of posts, a body never sent, sessions passing for a bot),
//! moderation (sessions passing for the operator, a banned spammer trying every way back in),
//! and property tests over the parsers and the frame decoder. Every read has a timeout, so a server
//! that hangs fails a test instead of hanging it.

#[path = "../support/mod.rs"]
mod support;

mod pair;

mod api;
mod bad_frames;
mod broken_request;
mod changes;
mod crafted_segment;
mod deflate;
mod flood;
mod full_server;
mod keep_alive;
mod lookalike;
mod moderation;
mod origin;
mod per_address;
mod private_flood;
mod private_reader;
mod properties;
mod redaction;
mod room_churn;
mod session_fixation;
mod session_flood;
mod silent_crowd;
mod slowloris;
mod store_files;
mod tls_records;
