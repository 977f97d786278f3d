//! Hostile clients against the real server.

#[path = "../support/mod.rs"]
mod support;
