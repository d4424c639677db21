//! The harness's network: messages in flight, ordered by delivery time, with seeded faults.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::eraftpb::Message;
use crate::ids::{GroupId, NodeId};
use crate::time::Instant;

/// What the network does to each message.
#[derive(Clone, Debug, PartialEq)]
pub struct Faults {
    /// Probability that a message is lost.
    pub drop_rate: f64,
    /// Probability that a delivered message is delivered twice.
    pub duplicate_rate: f64,
    /// One-way delay, drawn uniformly per message; messages may overtake each other.
    pub delay: Range<Duration>,
}

impl Default for Faults {
    /// A clean network: no loss, no duplicates, 1-5 ms delay.
    fn default() -> Faults {
        Faults {
            drop_rate: 0.0,
            duplicate_rate: 0.0,
            delay: Duration::from_millis(1)..Duration::from_millis(5),
        }
    }
}

impl Faults {
    /// A lossy network: 5% loss, 2% duplicates, 1-30 ms delay with reordering.
    pub fn lossy() -> Faults {
        Faults {
            drop_rate: 0.05,
            duplicate_rate: 0.02,
            delay: Duration::from_millis(1)..Duration::from_millis(30),
        }
    }
}

/// A message in flight.
#[derive(Clone, Debug)]
pub(crate) struct Envelope {
    pub(crate) from: NodeId,
    pub(crate) to: NodeId,
    pub(crate) group: GroupId,
    pub(crate) message: Message,
}

/// Messages in flight and the links that are cut.
#[derive(Debug, Default)]
pub(crate) struct Network {
    pub(crate) faults: Faults,
    /// Cut links, one way each: `(from, to)`.
    blocked: BTreeSet<(NodeId, NodeId)>,
    /// Keyed by delivery time, then a sequence number so equal times keep send order.
    in_flight: BTreeMap<(Instant, u64), Envelope>,
    sent: u64,
    pub(crate) dropped: u64,
}

impl Network {
    /// A network with `faults` and nothing in flight.
    pub(crate) fn new(faults: Faults) -> Network {
        Network {
            faults,
            ..Network::default()
        }
    }

    /// Sends `envelope` at `now`, applying the faults.
    pub(crate) fn send(&mut self, now: Instant, envelope: Envelope, rng: &mut ChaCha8Rng) {
        if self.is_blocked(envelope.from, envelope.to) || rng.gen_bool(self.faults.drop_rate) {
            self.dropped += 1;
            return;
        }
        let copies = if rng.gen_bool(self.faults.duplicate_rate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = if self.faults.delay.is_empty() {
                self.faults.delay.start
            } else {
                rng.gen_range(self.faults.delay.clone())
            };
            self.sent += 1;
            self.in_flight
                .insert((now + delay, self.sent), envelope.clone());
        }
    }

    /// Whether messages from `from` to `to` are lost.
    pub(crate) fn is_blocked(&self, from: NodeId, to: NodeId) -> bool {
        self.blocked.contains(&(from, to))
    }

    /// Cuts the link from `from` to `to` (one way).
    pub(crate) fn block(&mut self, from: NodeId, to: NodeId) {
        self.blocked.insert((from, to));
    }

    /// Restores every link.
    pub(crate) fn heal(&mut self) {
        self.blocked.clear();
    }

    /// When the next message arrives.
    pub(crate) fn next_delivery(&self) -> Option<Instant> {
        self.in_flight.keys().next().map(|(at, _)| *at)
    }

    /// Takes the next message due at or before `now`. A message whose link was cut while it
    /// was in flight is lost.
    pub(crate) fn deliver(&mut self, now: Instant) -> Option<Envelope> {
        loop {
            let (&(at, seq), _) = self.in_flight.iter().next()?;
            if at > now {
                return None;
            }
            let envelope = self.in_flight.remove(&(at, seq)).expect("just seen");
            if self.is_blocked(envelope.from, envelope.to) {
                self.dropped += 1;
                continue;
            }
            return Some(envelope);
        }
    }
}
