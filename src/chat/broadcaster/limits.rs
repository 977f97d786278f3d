//! The settings the broadcaster needs, taken from the configuration once.

use std::sync::Arc;
use std::time::Duration;

use crate::chat::room::RoomName;
use crate::config::Config;
use crate::net::per_address::PerAddress;
use crate::ws::deflate::Settings;

/// The settings the broadcaster needs.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Messages kept per room and per private conversation (`HISTORY_SIZE`).
    pub history_size: usize,
    /// Rooms without members kept with their history (`MAX_ROOMS`); older ones are forgotten.
    pub keep_empty_rooms: usize,
    /// How long a nickname stays with its session after its last connection closed
    /// (`NAME_RESERVE_SECS`).
    pub name_reserve: Duration,
    /// Offline sessions that keep their nickname at most (`MAX_RESERVED_NAMES`).
    pub max_reserved_names: usize,
    /// For `hello`: `MAX_MESSAGE_BYTES`.
    pub max_message_bytes: usize,
    /// For `hello`: `RATE_LIMIT_PER_SEC`.
    pub rate_limit_per_sec: u32,
    /// For `hello`: `DEFAULT_ROOM`.
    pub default_room: RoomName,
    /// For `hello`: `MAX_ROOMS_PER_CONNECTION`.
    pub max_rooms_per_connection: usize,
    /// `EDIT_WINDOW_SECS` (zero: no limit).
    pub edit_window: Duration,
    /// `MAX_CONVERSATIONS_PER_SESSION`.
    pub max_conversations: usize,
    /// `COMPRESSION_MIN_BYTES` and `COMPRESSION_MAX_BYTES_PER_SEC`.
    pub compression: Settings,
    /// What each client address holds (new sessions, private messages nobody answered).
    pub per_address: Arc<PerAddress>,
}

impl Limits {
    /// The limits `config` sets, with the per-address counts the connection threads share.
    pub fn from_config(config: &Config, per_address: Arc<PerAddress>) -> Limits {
        Limits {
            history_size: config.history_size,
            keep_empty_rooms: config.max_rooms,
            name_reserve: config.name_reserve,
            max_reserved_names: config.max_reserved_names,
            max_message_bytes: config.max_message_bytes,
            rate_limit_per_sec: config.rate_limit_per_sec,
            default_room: config.default_room.clone(),
            max_rooms_per_connection: config.max_rooms_per_connection,
            edit_window: config.edit_window,
            max_conversations: config.max_conversations_per_session,
            compression: Settings {
                min_bytes: config.compression_min_bytes,
                bytes_per_second: config.compression_max_bytes_per_sec,
            },
            per_address,
        }
    }
}
