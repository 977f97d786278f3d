//! The registry of connected clients, owned by the broadcaster thread alone (so it needs no lock),
//! and the presence list derived from it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::outbound::Outbound;

/// A connected chat client, as the broadcaster sees it.
#[derive(Debug)]
pub struct Client {
    /// The connection number (also in the reader thread's name, `conn-<id>`).
    pub id: u64,
    /// The nickname.
    pub name: String,
    /// Where its frames go.
    pub outbound: Arc<Outbound>,
}

/// Clients by id, and how many connections each nickname has.
#[derive(Debug, Default)]
pub struct Hub {
    clients: HashMap<u64, Arc<Client>>,
    names: BTreeMap<String, usize>,
}

impl Hub {
    /// Adds a client; true when its nickname had no connection here before.
    pub fn join(&mut self, client: Arc<Client>) -> bool {
        let count = self.names.entry(client.name.clone()).or_insert(0);
        *count += 1;
        let appeared = *count == 1;
        self.clients.insert(client.id, client);
        appeared
    }

    /// Removes a client; with it, whether that was its nickname's last connection here.
    pub fn leave(&mut self, id: u64) -> Option<(Arc<Client>, bool)> {
        let client = self.clients.remove(&id)?;
        let count = self.names.get_mut(&client.name).expect("every client's name is counted");
        *count -= 1;
        let gone = *count == 0;
        if gone {
            self.names.remove(&client.name);
        }
        Some((client, gone))
    }

    /// A client by id.
    pub fn get(&self, id: u64) -> Option<&Arc<Client>> {
        self.clients.get(&id)
    }

    /// Every client.
    pub fn clients(&self) -> impl Iterator<Item = &Arc<Client>> {
        self.clients.values()
    }

    /// The nicknames online, sorted, each once.
    pub fn users(&self) -> Vec<&str> {
        self.names.keys().map(String::as_str).collect()
    }

    /// True when nobody is connected.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}
