//! Operators: the sessions that moderate (`OPERATORS`, their public user ids).
//!
//! An operator is a session like any other (no password, no account): its `user` id, which the
//! page shows under its settings, is named in `OPERATORS`, so the deployer makes someone an
//! operator by copying that id into the configuration and restarting (the list is read at start
//! only). What it may do that others may not is decided where each request is checked
//! (`amend.rs`: deleting anyone's message); what everyone sees of it is `"op":true` in its
//! `hello` and in every entry it says (`entry.rs`), and `"by"` on a deletion it made.
//!
//! Entries hold only their sender's id, so the ids are noted once, at start, in a table the
//! whole process reads ([`register`], [`is_operator`]), as the bots' are (`bots.rs`): written
//! once before any thread reads it, then read-only, so it needs no lock. Every instance of a
//! deployment reads the same list, so every instance marks and allows alike.

use std::sync::OnceLock;

use crate::chat::session::UserId;

/// Notes the operators' ids (the first call wins: one server per process).
pub fn register(ids: &[String]) {
    let ids = ids.iter().filter_map(|id| UserId::parse(id)).collect();
    let _ = REGISTERED.set(ids);
}

/// True when `user` is an operator.
pub fn is_operator(user: UserId) -> bool {
    REGISTERED.get().is_some_and(|ops| ops.contains(&user))
}

/// True when any session is an operator.
pub fn any() -> bool {
    REGISTERED.get().is_some_and(|ops| !ops.is_empty())
}

/// The operators' ids, noted once at start.
static REGISTERED: OnceLock<Vec<UserId>> = OnceLock::new();
