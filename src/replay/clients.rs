//! Which end of a conversation is its client, learned the way a replay can: the end that sent
//! the conversation's first packet. What netdiffd generates opens from the client side (repair
//! makes it so), and so do captures of real connections that begin with their handshake.

use crate::wire::IpProtocol;
use std::collections::HashMap;
use std::hash::Hash;

/// The client of every conversation seen so far in one pass over a capture; `E` is an endpoint
/// (address and port).
#[derive(Debug, Clone)]
pub(crate) struct FirstSender<E> {
    clients: HashMap<(IpProtocol, E, E), E>,
}

impl<E> Default for FirstSender<E> {
    fn default() -> Self {
        FirstSender {
            clients: HashMap::new(),
        }
    }
}

impl<E: Copy + Ord + Hash> FirstSender<E> {
    /// True when `src` is the client of the `proto` conversation between `src` and `dst`: it
    /// sent the conversation's first packet (this one, if it is the first).
    pub(crate) fn is_client(&mut self, proto: IpProtocol, src: E, dst: E) -> bool {
        let key = (proto, src.min(dst), src.max(dst));
        *self.clients.entry(key).or_insert(src) == src
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_sender_is_the_client_in_both_directions_and_per_protocol() {
        let mut m = FirstSender::default();
        let (a, b) = ((1u32, 1000u16), (2u32, 80u16));
        let (tcp, udp) = (IpProtocol::Tcp, IpProtocol::Udp);
        assert!(m.is_client(tcp, a, b));
        assert!(!m.is_client(tcp, b, a));
        assert!(m.is_client(tcp, a, b));
        // Another protocol between the same ends is another conversation.
        assert!(m.is_client(udp, b, a));
        assert!(!m.is_client(udp, a, b));
    }
}
