//! Reads a data group serves once a ReadIndex round has confirmed them.

use crate::cmd::{Call, Run};
use crate::kv::{ApplyContext, Keyspace, Reader};
use crate::reply::Reply;
use crate::storage::Store;

/// A read command waiting for a ReadIndex confirmation before it may be answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReadKind(Call);

impl ReadKind {
    /// The read `call` asks for.
    ///
    /// # Panics
    /// If `call` is not a read command.
    pub(crate) fn new(call: Call) -> ReadKind {
        assert!(
            matches!(call.run(), Run::Read { .. }),
            "{call:?} is not a read"
        );
        ReadKind(call)
    }

    /// Keyed reads are served by the leader only (others answer MOVED); keyless ones may use
    /// a follower's ReadIndex, which raft-rs forwards to the leader.
    pub(crate) fn needs_leader(&self) -> bool {
        self.0.spec().has_keys()
    }

    /// The answer, read from `keyspace` once the group has applied up to the read index:
    /// from `store`, or from the apply pass `pass` when the read is served between two entries.
    pub(crate) fn serve(
        &self,
        keyspace: &Keyspace,
        store: &dyn Store,
        pass: Option<&ApplyContext<'_>>,
    ) -> Reply {
        let Run::Read { read, .. } = self.0.run() else {
            unreachable!("checked in ReadKind::new");
        };
        match pass {
            Some(cx) => read(self.0.args(), &Reader::mid_pass(keyspace, cx)),
            None => read(self.0.args(), &Reader::new(keyspace, store)),
        }
    }

    /// The command again, for a node that must route it anew (it lost leadership).
    pub(crate) fn into_call(self) -> Call {
        self.0
    }
}
