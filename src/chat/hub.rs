//! The registry of connected clients, owned by the broadcaster thread alone (so it needs no lock),
//! and the presence list derived from it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::ws::outbound::Outbound;

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

/// The clients, side by side in one vector, and how many connections each nickname has.
///
/// Every round walks all clients, so they are kept contiguous: the walk reads one array and then
/// each client's [`Outbound`], rather than chasing a pointer per client first. An index by id
/// serves lookups; removal swaps the last client into the hole.
#[derive(Debug, Default)]
pub struct Hub {
    clients: Vec<Client>,
    index: HashMap<u64, usize>,
    names: BTreeMap<String, usize>,
}

impl Hub {
    /// Adds a client; true when its nickname had no connection here before.
    pub fn join(&mut self, client: Client) -> bool {
        debug_assert!(!self.index.contains_key(&client.id), "connection ids are unique");
        let count = self.names.entry(client.name.clone()).or_insert(0);
        *count += 1;
        let appeared = *count == 1;
        self.index.insert(client.id, self.clients.len());
        self.clients.push(client);
        appeared
    }

    /// Removes a client; with it, whether that was its nickname's last connection here.
    pub fn leave(&mut self, id: u64) -> Option<(Client, bool)> {
        let at = self.index.remove(&id)?;
        let client = self.clients.swap_remove(at);
        if let Some(moved) = self.clients.get(at) {
            self.index.insert(moved.id, at);
        }
        let count = self.names.get_mut(&client.name).expect("every client's name is counted");
        *count -= 1;
        let gone = *count == 0;
        if gone {
            self.names.remove(&client.name);
        }
        Some((client, gone))
    }

    /// A client by id.
    pub fn get(&self, id: u64) -> Option<&Client> {
        self.index.get(&id).map(|&at| &self.clients[at])
    }

    /// Every client.
    pub fn clients(&self) -> impl Iterator<Item = &Client> {
        self.clients.iter()
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

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};

    use super::*;
    use crate::metrics::Metrics;

    fn client(id: u64, name: &str, socket: &TcpStream) -> Client {
        let socket = socket.try_clone().unwrap();
        let outbound = Outbound::new(socket, None, 1024, Arc::new(Metrics::default()), None);
        Client { id, name: name.to_string(), outbound: Arc::new(outbound) }
    }

    #[test]
    fn leaving_keeps_every_other_client_reachable_by_id() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let socket = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let mut hub = Hub::default();
        for id in 1..=5 {
            let name = if id % 2 == 0 { "even" } else { "odd" };
            assert_eq!(hub.join(client(id, name, &socket)), id <= 2);
        }
        // Removing from the middle moves the last client into the hole.
        let (gone, last) = hub.leave(2).unwrap();
        assert_eq!((gone.id, last), (2, false));
        assert!(hub.leave(2).is_none());
        for id in [1, 3, 4, 5] {
            assert_eq!(hub.get(id).map(|c| c.id), Some(id));
        }
        assert_eq!(hub.clients().count(), 4);
        assert_eq!(hub.leave(4).map(|(_, last)| last), Some(true));
        assert_eq!(hub.users(), ["odd"]);
        for id in [1, 3, 5] {
            hub.leave(id).unwrap();
        }
        assert!(hub.is_empty() && hub.users().is_empty());
    }
}
