//! A keyspace over a memory store, for the command families' tests.

use bytes::Bytes;

use crate::cmd::Call;
use crate::ids::GroupId;
use crate::kv::{ApplyContext, Keyspace, Proposal, ReadKind};
use crate::reply::Reply;
use crate::storage::{DataRange, MemStore, Store};

/// A keyspace over a memory store, applying one entry per pass.
pub(crate) struct Replica {
    pub(crate) store: MemStore,
    pub(crate) keyspace: Keyspace,
}

impl Replica {
    /// An empty keyspace.
    pub(crate) fn new() -> Replica {
        let store = MemStore::new();
        let keyspace = Keyspace::load(DataRange::first(GroupId(1)), &store, 1 << 20).unwrap();
        Replica { store, keyspace }
    }

    /// Applies `proposal` in a pass of its own.
    pub(crate) fn propose(&mut self, proposal: &Proposal) -> Reply {
        let mut cx = ApplyContext::new(&self.store);
        let reply = self.keyspace.apply(&mut cx, proposal).expect("applies");
        let mut batch = cx.into_batch();
        self.keyspace.finish_pass(&mut batch);
        self.store.write(batch).unwrap();
        reply
    }

    /// Applies the write command `words` stamped at `unix_ms`.
    pub(crate) fn write(&mut self, unix_ms: u64, words: &[String]) -> Reply {
        self.apply(
            unix_ms,
            words.iter().map(|w| Bytes::from(w.clone())).collect(),
        )
    }

    /// Serves the read command `words`.
    pub(crate) fn read(&self, words: &[String]) -> Reply {
        self.serve(words.iter().map(|w| Bytes::from(w.clone())).collect())
    }

    /// The leader's active expiry at `unix_ms`.
    pub(crate) fn expire_due(&mut self, unix_ms: u64) {
        let keys = self.keyspace.due_keys(&self.store, unix_ms, 3);
        self.propose(&Proposal::Expire { unix_ms, keys });
    }

    /// Applies the write command `args` stamped at `unix_ms`.
    pub(crate) fn apply(&mut self, unix_ms: u64, args: Vec<Bytes>) -> Reply {
        self.propose(&Proposal::Command { unix_ms, args })
    }

    /// Serves the read command `args`.
    pub(crate) fn serve(&self, args: Vec<Bytes>) -> Reply {
        let call = Call::from_log(args).expect("a known read");
        ReadKind::new(call).serve(&self.keyspace, &self.store, None)
    }

    /// The keyspace as a restart finds it in the store.
    pub(crate) fn restart(&mut self) {
        self.keyspace = Keyspace::load(DataRange::first(GroupId(1)), &self.store, 1 << 20).unwrap();
    }

    /// Runs `words` as a client would see it at cluster time `unix_ms`: a write is applied
    /// as a committed entry, a read served from the keyspace.
    pub(crate) fn run(&mut self, unix_ms: u64, words: &[&str]) -> Reply {
        let args: Vec<Bytes> = words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        let call = Call::from_log(args.clone()).expect("a known command");
        if call.spec().is_write() {
            self.apply(unix_ms, args)
        } else {
            self.serve(args)
        }
    }
}
