//! Reads a data group serves once a ReadIndex round has confirmed them.

use bytes::Bytes;

use crate::kv::Keyspace;
use crate::reply::Reply;
use crate::request::Request;
use crate::storage::Store;

/// A read that needs a ReadIndex confirmation before it may be answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ReadKind {
    /// GET.
    Get(Bytes),
    /// EXISTS.
    Exists(Vec<Bytes>),
    /// DBSIZE.
    DbSize,
}

impl ReadKind {
    /// Keyed reads are served by the leader only (others answer MOVED); keyless ones may use
    /// a follower's ReadIndex, which raft-rs forwards to the leader.
    pub(crate) fn needs_leader(&self) -> bool {
        !matches!(self, ReadKind::DbSize)
    }

    /// The answer, read from `keyspace` once the group has applied up to the read index.
    pub(crate) fn serve(&self, keyspace: &Keyspace, store: &dyn Store) -> Reply {
        match self {
            ReadKind::Get(key) => keyspace.get(store, key).map_or(Reply::Null, Reply::Bulk),
            ReadKind::Exists(keys) => Reply::Integer(
                keys.iter()
                    .filter(|key| keyspace.get(store, key).is_some())
                    .count() as i64,
            ),
            ReadKind::DbSize => Reply::Integer(keyspace.key_count() as i64),
        }
    }

    /// The request again, for a node that must route it anew (it lost leadership).
    pub(crate) fn into_request(self) -> Request {
        match self {
            ReadKind::Get(key) => Request::Get { key },
            ReadKind::Exists(keys) => Request::Exists { keys },
            ReadKind::DbSize => Request::DbSize,
        }
    }
}
