//! Log-entry data as this version writes it, for tests that forge a peer's messages: what a
//! broken or hostile peer could put in an entry, without reaching into the core's codec.

use bytes::Bytes;

use crate::ids::NodeId;
use crate::kv::{Member, Proposal};

/// The entry data of a node registering its addresses in the system group's directory: what a
/// follower forwards to the leader when it registers itself.
pub fn register_node_data(node: NodeId, client_addr: &str, internal_addr: &str) -> Vec<u8> {
    Proposal::RegisterNode(Member {
        id: node,
        client_addr: client_addr.to_owned(),
        internal_addr: internal_addr.to_owned(),
    })
    .encode()
}

/// The entry data of a write command (`args` with the name first), as a leader proposes it.
pub fn command_data(args: &[&[u8]]) -> Vec<u8> {
    Proposal::Command {
        unix_ms: 0,
        args: args.iter().map(|arg| Bytes::copy_from_slice(arg)).collect(),
    }
    .encode()
}
