//! What a [`Node`] tells about itself: status for INFO, the admin tool and tests, the views
//! the node commands (INFO, CLUSTER) render, and the few settings CONFIG SET changes.

use std::time::Duration;

use super::Node;
use crate::consensus::{Group, GroupStatus, Machine, ReplicaProgress};
use crate::ids::{GroupId, NodeId};
use crate::kv::Keyspace;
use crate::node::NodeConfig;
use crate::stats::RuntimeStats;
use crate::storage::Store;
use crate::system::Directory;

impl Node {
    /// The state of every group, for INFO, admin tools and tests.
    pub fn status(&self) -> Vec<GroupStatus> {
        self.groups.values().map(Group::status).collect()
    }

    /// The leader of the data group that owns `key`, if known.
    pub fn leader_for(&self, key: &[u8]) -> Option<NodeId> {
        self.groups.get(&self.group_for_key(key))?.leader()
    }

    /// The store this node reads and writes (tests inspect it).
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// Peer messages dropped: refused by the checks of [`Node::handle_message`], naming an
    /// unknown group, or dropped by raft-rs.
    pub fn messages_dropped(&self) -> u64 {
        self.messages_dropped
    }

    /// This node's configuration (INFO and CLUSTER render from it).
    pub(crate) fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// How long the node has run.
    pub(crate) fn uptime(&self) -> Duration {
        self.now_last
            .instant
            .saturating_duration_since(self.started_at)
    }

    /// The wall clock of the latest input, milliseconds since the Unix epoch (TIME).
    pub(crate) fn unix_ms(&self) -> u64 {
        self.now_last.unix_ms
    }

    /// Client requests not answered yet.
    pub(crate) fn requests_in_flight(&self) -> usize {
        self.outstanding.len()
    }

    /// The first data group's state, as this node sees it.
    pub(crate) fn data_status(&self) -> GroupStatus {
        self.groups[&GroupId::FIRST_DATA].status()
    }

    /// The member directory the system group keeps.
    pub(crate) fn directory(&self) -> &Directory {
        let Machine::System(directory) = self.groups[&GroupId::SYSTEM].machine() else {
            unreachable!("group 0 runs the directory");
        };
        directory
    }

    /// The first data group's keyspace.
    pub(crate) fn keyspace(&self) -> &Keyspace {
        let Machine::Data(keyspace) = self.groups[&GroupId::FIRST_DATA].machine() else {
            unreachable!("group 1 is a data group");
        };
        keyspace
    }

    /// Whether this node was a member of the cluster and has been removed from it (or is
    /// being removed: it is no voter or learner of the system group's incoming
    /// configuration). It still takes part in Raft while a joint configuration lasts, but
    /// answers clients that it was removed.
    pub fn is_removed(&self) -> bool {
        let system = &self.groups[&GroupId::SYSTEM];
        system.has_configuration() && !system.stays_member()
    }

    /// The internal addresses of the members the system group's directory knows, this node's
    /// included, less those that left the cluster (in no configuration of any group this node
    /// has one of). The runtime connects to each at the address listed and closes its links to
    /// a peer that drops out of the list.
    pub fn peer_addrs(&self) -> Vec<(NodeId, String)> {
        let configured: Vec<_> = self
            .groups
            .values()
            .filter(|group| group.has_configuration())
            .collect();
        self.directory()
            .members()
            .filter(|member| {
                configured.is_empty() || configured.iter().any(|group| group.is_member(member.id))
            })
            .map(|member| (member.id, member.internal_addr.clone()))
            .collect()
    }

    /// The client address of `node`: this node's own, or the one the directory (or, until it
    /// names the node, the configuration file) gives.
    pub(crate) fn client_addr_of(&self, node: NodeId) -> Option<String> {
        if node == self.config.id {
            return Some(self.config.client_addr.clone());
        }
        self.directory()
            .member(node)
            .map(|member| member.client_addr.clone())
            .or_else(|| self.config.peer_client_addrs.get(&node).cloned())
    }
}

/// What INFO and CONFIG read and change on a node: its identity, the runtime's facts with
/// `CONFIG RESETSTAT`'s baseline applied, and the settings CONFIG SET may change.
impl Node {
    /// INFO's `run_id`.
    pub(crate) fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The time of the first input, Unix milliseconds.
    pub(crate) fn started_unix_ms(&self) -> u64 {
        self.started_unix_ms
    }

    /// The runtime's facts, counters counted since the last `CONFIG RESETSTAT`.
    pub(crate) fn runtime_stats(&self) -> RuntimeStats {
        self.runtime_stats.since(&self.stats_baseline)
    }

    /// Keys this node deleted because they expired, since the last `CONFIG RESETSTAT`.
    pub(crate) fn expired_keys(&self) -> u64 {
        self.keyspace()
            .expired_keys()
            .saturating_sub(self.expired_keys_baseline)
    }

    /// `CONFIG RESETSTAT`: counting starts again from the facts last handed in.
    pub(crate) fn reset_stats(&mut self) {
        self.stats_baseline = self.runtime_stats.clone();
        self.expired_keys_baseline = self.keyspace().expired_keys();
    }

    /// What the data group's leader knows of its followers (empty unless this node leads).
    pub(crate) fn data_replicas(&self) -> Vec<ReplicaProgress> {
        self.groups[&GroupId::FIRST_DATA].replicas()
    }

    /// `CONFIG SET limits-request-timeout-secs`: requests that arrive later get this long.
    pub(crate) fn set_request_timeout(&mut self, timeout: Duration) {
        self.config.request_timeout = timeout;
    }

    /// `CONFIG SET raft-snapshot-interval-*`: every group compacts by the new intervals.
    pub(crate) fn set_snapshot_intervals(&mut self, entries: u64, bytes: u64) {
        self.config.snapshot_interval_entries = entries;
        self.config.snapshot_interval_bytes = bytes;
        for group in self.groups.values_mut() {
            group.set_snapshot_intervals(entries, bytes);
        }
    }
}
