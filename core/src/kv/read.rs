//! Reads a data group serves once a ReadIndex round has confirmed them.

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

use crate::cmd::{Call, Run};
use crate::kv::{ApplyContext, Keyspace, KeyspaceState, Reader};
use crate::reply::Reply;
use crate::storage::{DataRange, Store, StoreView};

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

    /// Whether the read may visit every key (KEYS): too long to serve on the node's event
    /// loop, so it is served from a view of the store, away from it ([`OfflineRead`]).
    pub(crate) fn is_unbounded(&self) -> bool {
        std::ptr::eq(self.0.spec(), &crate::cmd::scan::KEYS)
    }

    /// The command again, for a node that must route it anew (it lost leadership).
    pub(crate) fn into_call(self) -> Call {
        self.0
    }
}

/// A read the runtime serves away from the node's event loop, on a thread that may block
/// (KEYS over a million keys takes a while): the command, and the keyspace as it was when the
/// read was due, through a point-in-time view of the store. The answer is the one the node
/// would have given then, however late it is computed.
#[derive(Clone)]
pub struct OfflineRead {
    call: Call,
    range: DataRange,
    state: KeyspaceState,
    view: Arc<dyn StoreView>,
}

impl OfflineRead {
    /// `read` of `keyspace`, whose store `view` shows as it is now.
    pub(crate) fn new(read: ReadKind, keyspace: &Keyspace, view: Arc<dyn StoreView>) -> Self {
        OfflineRead {
            call: read.into_call(),
            range: keyspace.range(),
            state: keyspace.state(),
            view,
        }
    }

    /// Computes the answer. May take long: call it where blocking is fine.
    pub fn serve(self) -> Reply {
        let Run::Read { read, .. } = self.call.run() else {
            unreachable!("made from a ReadKind");
        };
        let draws = Cell::new(0);
        read(
            self.call.args(),
            &Reader::over_view(self.range, self.state, &*self.view, &draws),
        )
    }
}

impl fmt::Debug for OfflineRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OfflineRead")
            .field("call", &self.call)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}
