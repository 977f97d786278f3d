//! Integration tests: the real `websocketchat` binary on 127.0.0.1, real sockets, real TLS.

mod support;

mod api;
mod bad_input;
mod changes;
mod changes_durability;
mod changes_fold;
mod chat;
mod compression;
mod decode;
mod durability;
mod http;
mod identity;
mod inspector;
mod keep_alive;
mod lifecycle;
mod moderation;
mod operators;
mod rooms;
mod slow_clients;
mod subprotocol;
mod tls;
