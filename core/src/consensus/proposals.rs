//! The writes this node proposed in one group, waiting for their entries to apply.

use std::collections::BTreeMap;

use crate::cluster_error::{ClusterError, NoQuorum, TryAgain};
use crate::consensus::outbox::{Outbox, RequestKey};
use crate::reply::Reply;

/// Why a proposal was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ProposeError {
    /// raft-rs dropped it (not leader, or a leadership transfer is in progress).
    Dropped,
}

/// A write this node proposed, waiting for its entry to apply.
#[derive(Clone, Copy, Debug)]
struct Proposed {
    /// The term the entry was proposed in; an entry applied at the same index with another
    /// term means this proposal was overwritten and never committed.
    term: u64,
    key: RequestKey,
}

/// The writes this node proposed and has not answered yet.
#[derive(Debug, Default)]
pub(super) struct Proposals {
    /// By the log index of each proposal's entry: one per index, since a proposal that a
    /// later one replaces at its index is answered at once.
    by_index: BTreeMap<u64, Proposed>,
}

impl Proposals {
    /// Proposals not answered yet.
    pub(super) fn len(&self) -> usize {
        self.by_index.len()
    }

    /// Waits for the entry proposed at `index` in `term` to apply, replying to `key` then.
    ///
    /// # Panics
    /// If another proposal waits at `index` from the same term or a later one: a term's leader
    /// appends each index once.
    pub(super) fn track(&mut self, index: u64, term: u64, key: RequestKey, out: &mut Outbox) {
        if let Some(overwritten) = self.by_index.insert(index, Proposed { term, key }) {
            // An older proposal at this index was cut from the log by a leader change: it
            // never committed.
            assert!(
                overwritten.term < term,
                "two proposals at index {index} in term {term}"
            );
            out.completions.push((overwritten.key, not_committed()));
        }
    }

    /// The entry at `index` from `term` applied with `reply` (none: a plain `OK`): answers the
    /// proposal waiting at that index, if any, with it, or as not committed if the proposal was
    /// of another term (a new leader overwrote it). Returns the request it answered.
    pub(super) fn on_applied(
        &mut self,
        index: u64,
        term: u64,
        reply: Option<Reply>,
        out: &mut Outbox,
    ) -> Option<RequestKey> {
        let proposed = self.by_index.remove(&index)?;
        let reply = if proposed.term == term {
            reply.unwrap_or_else(Reply::ok)
        } else {
            not_committed()
        };
        out.completions.push((proposed.key, reply));
        Some(proposed.key)
    }

    /// Whether this node proposed the entry at `index` in `term` and is still waiting for it.
    pub(super) fn is_waiting(&self, index: u64, term: u64) -> bool {
        self.by_index
            .get(&index)
            .is_some_and(|proposed| proposed.term == term)
    }

    /// A snapshot install skipped every entry up to `index`: the proposals waiting there are
    /// answered, since this node will never apply them. Returns the requests it answered.
    pub(super) fn skip_through(&mut self, index: u64, out: &mut Outbox) -> Vec<RequestKey> {
        let skipped: Vec<u64> = self
            .by_index
            .range(..=index)
            .map(|(index, _)| *index)
            .collect();
        let mut keys = Vec::with_capacity(skipped.len());
        for index in skipped {
            let proposed = self.by_index.remove(&index).expect("listed above");
            out.completions.push((proposed.key, skipped_by_snapshot()));
            keys.push(proposed.key);
        }
        keys
    }
}

/// The reply to a proposal that a new leader overwrote before it committed: it certainly did
/// not take effect, so the client may retry it. `TRYAGAIN` is the Redis Cluster code clients
/// already retry on.
fn not_committed() -> Reply {
    ClusterError::TryAgain(TryAgain::Overwritten).into()
}

/// The reply to a write this node proposed whose entry a snapshot install skipped over: the
/// node never applies it, so it cannot tell whether it committed.
fn skipped_by_snapshot() -> Reply {
    ClusterError::NoQuorum(NoQuorum::SkippedBySnapshot).into()
}
