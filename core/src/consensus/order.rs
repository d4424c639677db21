//! Connection order: the commands of one connection take effect in the order it sent them,
//! reads and writes mixed, pipelined or not, as in Redis.
//!
//! Writes of one connection are proposed in arrival order, so the log keeps their order. A
//! read must see the connection's previous write and none of its next ones. Three rules give
//! that without costing the batching (many connections still share one append and one
//! ReadIndex round):
//! - a read is served at an index at or after the connection's last write (its *floor*);
//! - it is served inside the apply pass, right after the entry at that index, so a later
//!   write of the connection, which has a later index, has not applied yet;
//! - a write that follows a read still waiting for its ReadIndex round is held until the round
//!   confirms, so its index comes after the read's; a read that follows a write the leader has
//!   not committed yet needs no round at all: that write's commit, by a majority in this
//!   leader's term after the read arrived, confirms the leadership as a round would (the
//!   read *rides* on the write). A read rides only if no earlier read of its connection
//!   waits for a round: a riding read is served when its write applies, and a round confirmed
//!   later would serve the earlier read after it, at a later state (simulator, forward mode,
//!   compaction-under-load seed 56; `a_read_never_rides_past_an_earlier_read_of_its_connection`
//!   in `core/tests/cluster.rs`).
//!
//! A held request keeps everything the connection sent after it behind it.
//!
//! When the node stops leading, held requests and queued reads are routed anew in each
//! connection's order; a riding read is answered `TRYAGAIN` instead, since its connection may
//! have proposed writes after it that it must not see.

use std::collections::{BTreeMap, VecDeque};

use crate::cmd::Call;
use crate::consensus::outbox::RequestKey;
use crate::ids::ClientId;

/// Where a request a group took in stands, for the node's timeout message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admitted {
    /// A read, waiting for its confirmation and its index.
    Reading,
    /// A write, proposed.
    Proposed,
    /// Held behind an earlier read of its connection that waits for confirmation.
    Held,
}

/// What one connection has in flight in this group, as far as order goes.
#[derive(Debug, Default)]
struct ClientOrder {
    /// The log index of this connection's latest write proposed through this node, until that
    /// entry applies (or is skipped by a snapshot).
    last_write: Option<u64>,
    /// Reads of this connection queued for a ReadIndex round and not yet confirmed; while
    /// there are any, its writes are held.
    reads_unconfirmed: usize,
    /// Requests waiting behind such a read, in the order the connection sent them.
    held: VecDeque<(RequestKey, Call)>,
}

impl ClientOrder {
    fn is_idle(&self) -> bool {
        self.last_write.is_none() && self.reads_unconfirmed == 0 && self.held.is_empty()
    }
}

/// Every connection's order state in one group. A connection has an entry only while it has
/// something in flight, so entries never outlive their requests.
#[derive(Debug, Default)]
pub(super) struct ConnectionOrder {
    clients: BTreeMap<ClientId, ClientOrder>,
}

impl ConnectionOrder {
    /// The index a read of `client` must be served at or after: its last write's, 0 if none is
    /// in flight.
    pub(super) fn floor(&self, client: ClientId) -> u64 {
        self.clients
            .get(&client)
            .and_then(|order| order.last_write)
            .unwrap_or(0)
    }

    /// Whether a request of `client` must wait: something it sent earlier is held, or (for a
    /// write) one of its reads waits for confirmation.
    pub(super) fn must_hold(&self, client: ClientId, is_write: bool) -> bool {
        self.clients.get(&client).is_some_and(|order| {
            !order.held.is_empty() || (is_write && order.reads_unconfirmed > 0)
        })
    }

    /// Whether `client` has a read waiting for a ReadIndex round. A later read of it must not
    /// ride on a write then: riding, it would be served as soon as that write applies, maybe
    /// before the earlier read, which its round may confirm only after later entries applied.
    pub(super) fn has_unconfirmed_read(&self, client: ClientId) -> bool {
        self.clients
            .get(&client)
            .is_some_and(|order| order.reads_unconfirmed > 0)
    }

    /// Holds a request until the reads ahead of it are confirmed.
    pub(super) fn hold(&mut self, key: RequestKey, call: Call) {
        self.clients
            .entry(key.0)
            .or_default()
            .held
            .push_back((key, call));
    }

    /// A read of `client` joined the ReadIndex queue.
    pub(super) fn read_queued(&mut self, client: ClientId) {
        self.clients.entry(client).or_default().reads_unconfirmed += 1;
    }

    /// A read of `client` was confirmed, or left the queue unconfirmed (rerouted after a
    /// leadership change). Returns the requests it held up, in order, once none is left.
    pub(super) fn read_settled(&mut self, client: ClientId) -> Vec<(RequestKey, Call)> {
        let Some(order) = self.clients.get_mut(&client) else {
            return Vec::new();
        };
        assert!(
            order.reads_unconfirmed > 0,
            "client {client:?}: a read settled that was never queued"
        );
        order.reads_unconfirmed -= 1;
        let released = if order.reads_unconfirmed == 0 {
            order.held.drain(..).collect()
        } else {
            Vec::new()
        };
        self.tidy(client);
        released
    }

    /// A write of `client` was proposed at `index`; it is the floor from now on. The index may
    /// be lower than the previous write's: that one was proposed in an earlier term, a later
    /// leader truncated it away, and this node leads again (the truncated write is answered
    /// `TRYAGAIN` when another entry applies at its index).
    pub(super) fn wrote(&mut self, client: ClientId, index: u64) {
        self.clients.entry(client).or_default().last_write = Some(index);
    }

    /// The entry at `index`, written by `client`, applied (or will never apply here): reads no
    /// longer need a floor for it.
    pub(super) fn write_done(&mut self, client: ClientId, index: u64) {
        if let Some(order) = self.clients.get_mut(&client) {
            if order.last_write.is_some_and(|last| last <= index) {
                order.last_write = None;
            }
            self.tidy(client);
        }
    }

    /// Every held request, for a node that lost leadership: the node routes them anew (to the
    /// new leader's `MOVED`, or to wait for one), in each connection's order.
    pub(super) fn take_held(&mut self) -> Vec<(RequestKey, Call)> {
        let mut held = Vec::new();
        for order in self.clients.values_mut() {
            held.extend(order.held.drain(..));
        }
        self.clients.retain(|_, order| !order.is_idle());
        held
    }

    /// Connections with something in flight.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.clients.len()
    }

    fn tidy(&mut self, client: ClientId) {
        if self.clients.get(&client).is_some_and(ClientOrder::is_idle) {
            self.clients.remove(&client);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::CommandLimits;
    use crate::ids::RequestId;
    use bytes::Bytes;

    fn call(words: &[&str]) -> Call {
        let args = words.iter().map(|w| Bytes::from(w.to_string())).collect();
        Call::parse(args, &CommandLimits::default()).unwrap()
    }

    const C: ClientId = ClientId(1);

    #[test]
    fn writes_wait_for_earlier_reads_and_keep_their_order() {
        let mut order = ConnectionOrder::default();
        assert!(!order.must_hold(C, true));
        order.read_queued(C);
        assert!(order.must_hold(C, true), "a write waits for the read");
        assert!(!order.must_hold(C, false), "another read need not");
        order.hold((C, RequestId(2)), call(&["SET", "k", "v"]));
        assert!(order.must_hold(C, false), "nothing passes a held request");
        order.hold((C, RequestId(3)), call(&["GET", "k"]));
        let released = order.read_settled(C);
        let ids: Vec<u64> = released.iter().map(|((_, id), _)| id.0).collect();
        assert_eq!(ids, [2, 3]);
        assert_eq!(order.len(), 0, "an idle connection leaves no state");
    }

    #[test]
    fn a_read_is_floored_at_the_last_write_until_it_applies() {
        let mut order = ConnectionOrder::default();
        assert_eq!(order.floor(C), 0);
        order.wrote(C, 7);
        order.wrote(C, 9);
        assert_eq!(order.floor(C), 9);
        order.write_done(C, 7);
        assert_eq!(
            order.floor(C),
            9,
            "an earlier write applying changes nothing"
        );
        order.write_done(C, 9);
        assert_eq!(order.floor(C), 0);
        assert_eq!(order.len(), 0);
    }

    #[test]
    fn a_write_after_a_truncated_one_sets_a_lower_floor() {
        // Seen in the simulator (nemesis seed 690): a write proposed at 306 in term 1 was cut
        // away by the term-2 leader; leading again, this node proposed the connection's next
        // write at 305. That used to trip an assertion.
        let mut order = ConnectionOrder::default();
        order.wrote(C, 306);
        order.wrote(C, 305);
        assert_eq!(order.floor(C), 305);
        order.write_done(C, 305);
        assert_eq!(order.floor(C), 0);
    }

    #[test]
    fn losing_leadership_hands_back_every_held_request() {
        let mut order = ConnectionOrder::default();
        order.read_queued(C);
        order.hold((C, RequestId(2)), call(&["DEL", "k"]));
        order.wrote(ClientId(2), 4);
        let held = order.take_held();
        assert_eq!(held.len(), 1);
        assert_eq!(
            order.floor(ClientId(2)),
            4,
            "floors survive a leadership change"
        );
    }
}
