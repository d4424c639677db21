//! WATCH's bookkeeping: which connections watch which keys, and whether a key was changed
//! since a connection began watching it.
//!
//! A WATCH is a write like any other: its log entry adds a *watch record* per key for the
//! connection's *token* (this node's nonce, the connection's id and its watch generation, see
//! [`crate::cmd::transaction`]). Every change of a key while it is watched (a write, a
//! delete, its expiry, FLUSHALL) marks its records *touched*, in the same apply pass. The
//! EXEC that follows carries the token and the keys, and runs only if each key's record is
//! there and untouched; it then removes them. Since all of it happens in apply, every replica
//! decides the same, and a leader change in between changes nothing.
//!
//! The records live in the keyspace's data range (so snapshots carry them) and, for the
//! check every write makes, in memory: with nothing watched that check is one `is_empty`. A
//! record is also reclaimed [`HOLD_MS`] of cluster time after its WATCH, for connections that
//! went away without EXEC, DISCARD or UNWATCH; an EXEC after that aborts, as if the key had
//! changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::ControlFlow;

use bytes::Bytes;

use crate::kv::keyspace::ApplyContext;
use crate::kv::layout;
use crate::storage::{ColumnFamily, DataRange, Store};

const CF: ColumnFamily = ColumnFamily::DataKv;

/// How long a watch record outlives its WATCH, cluster milliseconds: five minutes.
pub(crate) const HOLD_MS: u64 = 5 * 60 * 1000;

/// One watch record's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Watch {
    /// The key changed since the WATCH.
    touched: bool,
    /// Cluster time at which the record is reclaimed.
    reclaim_at_ms: u64,
}

impl Watch {
    const LEN: usize = 9;

    fn encode(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::LEN);
        out.push(u8::from(self.touched));
        out.extend_from_slice(&self.reclaim_at_ms.to_be_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Option<Watch> {
        let (&touched, reclaim) = bytes.split_first()?;
        Some(Watch {
            touched: touched == 1,
            reclaim_at_ms: u64::from_be_bytes(reclaim.try_into().ok()?),
        })
    }
}

/// The watch records of one keyspace, as its data range holds them.
#[derive(Debug, Default)]
pub(crate) struct Watches {
    /// Per watched key, per token, its record.
    by_key: HashMap<Bytes, BTreeMap<Bytes, Watch>>,
    /// Every record by reclaim time.
    by_reclaim: BTreeSet<(u64, Bytes, Bytes)>,
}

impl Watches {
    /// The records stored in `range`.
    pub(crate) fn load(range: DataRange, store: &dyn Store) -> crate::Result<Watches> {
        let mut watches = Watches::default();
        let (start, end) = layout::watch_records(range);
        let mut corrupt = false;
        store.scan(CF, &start, &end, &mut |stored, value| {
            match (layout::parse_watch_key(stored), Watch::decode(value)) {
                (Some((key, token)), Some(watch)) => watches.insert(
                    Bytes::copy_from_slice(key),
                    Bytes::copy_from_slice(token),
                    watch,
                ),
                _ => corrupt = true,
            }
            ControlFlow::Continue(())
        })?;
        if corrupt {
            return Err(crate::Error::Corrupt(format!(
                "group {}: a watch record",
                range.group
            )));
        }
        Ok(watches)
    }

    /// Whether nothing is watched: the check every write makes first.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Number of records (pairs in the data range).
    pub(crate) fn len(&self) -> u64 {
        self.by_reclaim.len() as u64
    }

    fn insert(&mut self, key: Bytes, token: Bytes, watch: Watch) {
        self.by_reclaim
            .insert((watch.reclaim_at_ms, key.clone(), token.clone()));
        self.by_key.entry(key).or_default().insert(token, watch);
    }

    /// Starts watching `key` for `token` at cluster time `now_ms`. A key the token watches
    /// already keeps its record, touched or not (Redis ignores a second WATCH of a key).
    pub(crate) fn add(
        &mut self,
        cx: &mut ApplyContext<'_>,
        range: DataRange,
        key: &[u8],
        token: &[u8],
        now_ms: u64,
    ) {
        if self
            .by_key
            .get(key)
            .is_some_and(|tokens| tokens.contains_key(token))
        {
            return;
        }
        let watch = Watch {
            touched: false,
            reclaim_at_ms: now_ms.saturating_add(HOLD_MS),
        };
        cx.put(CF, layout::watch_key(range, key, token), watch.encode());
        self.insert(
            Bytes::copy_from_slice(key),
            Bytes::copy_from_slice(token),
            watch,
        );
    }

    /// Marks every record of `key` touched: the key changed.
    pub(crate) fn touch(&mut self, cx: &mut ApplyContext<'_>, range: DataRange, key: &[u8]) {
        let Some(tokens) = self.by_key.get_mut(key) else {
            return;
        };
        for (token, watch) in tokens.iter_mut().filter(|(_, watch)| !watch.touched) {
            watch.touched = true;
            cx.put(CF, layout::watch_key(range, key, token), watch.encode());
        }
    }

    /// Whether `token` watches `key` and the key has not changed since.
    pub(crate) fn intact(&self, key: &[u8], token: &[u8]) -> bool {
        self.by_key
            .get(key)
            .and_then(|tokens| tokens.get(token))
            .is_some_and(|watch| !watch.touched)
    }

    /// Ends `token`'s watch of `key`, if it has one.
    pub(crate) fn remove(
        &mut self,
        cx: &mut ApplyContext<'_>,
        range: DataRange,
        key: &[u8],
        token: &[u8],
    ) {
        let Some(tokens) = self.by_key.get_mut(key) else {
            return;
        };
        let Some(watch) = tokens.remove(token) else {
            return;
        };
        if tokens.is_empty() {
            self.by_key.remove(key);
        }
        self.by_reclaim.remove(&(
            watch.reclaim_at_ms,
            Bytes::copy_from_slice(key),
            Bytes::copy_from_slice(token),
        ));
        cx.delete(CF, layout::watch_key(range, key, token));
    }

    /// Removes the records whose reclaim time is `now_ms` or earlier.
    pub(crate) fn reclaim(&mut self, cx: &mut ApplyContext<'_>, range: DataRange, now_ms: u64) {
        while let Some((at, key, token)) = self.by_reclaim.first().cloned() {
            if at > now_ms {
                break;
            }
            self.remove(cx, range, &key, &token);
        }
    }

    /// The watched keys.
    pub(crate) fn keys(&self) -> Vec<Bytes> {
        self.by_key.keys().cloned().collect()
    }

    /// Writes every record again: after a range delete of the whole keyspace (FLUSHALL),
    /// which took them with it.
    pub(crate) fn rewrite(&self, cx: &mut ApplyContext<'_>, range: DataRange) {
        for (key, tokens) in &self.by_key {
            for (token, watch) in tokens {
                cx.put(CF, layout::watch_key(range, key, token), watch.encode());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_encodes_and_decodes() {
        for watch in [
            Watch {
                touched: false,
                reclaim_at_ms: 7,
            },
            Watch {
                touched: true,
                reclaim_at_ms: u64::MAX,
            },
        ] {
            assert_eq!(Watch::decode(&watch.encode()), Some(watch));
        }
        assert_eq!(Watch::decode(&[1, 2]), None);
    }
}
