//! What a group needs to know to start, and the raft-rs configuration it makes.

use raft::ReadOnlyOption;

use crate::ids::{GroupId, NodeId};

/// What a group needs to know to start.
#[derive(Clone, Debug)]
pub(crate) struct GroupConfig {
    /// This node, which is also its raft-rs peer id.
    pub(crate) node: NodeId,
    /// Which group this is: it names the group's column families and tags its outputs.
    pub(crate) group: GroupId,
    /// Ticks between a leader's heartbeats.
    pub(crate) heartbeat_ticks: usize,
    /// Election timeouts are drawn from `election_ticks_min..election_ticks_max`, in ticks.
    pub(crate) election_ticks_min: usize,
    /// Exclusive upper bound of the election timeout, in ticks.
    pub(crate) election_ticks_max: usize,
    /// Seeds this group's election jitter.
    pub(crate) rng_seed: u64,
    /// Largest append message, bytes.
    pub(crate) message_bytes_max: u64,
    /// Appends in flight to one follower.
    pub(crate) inflight_messages_max: usize,
    /// Compact the log once this many entries applied since the last compaction...
    pub(crate) snapshot_interval_entries: u64,
    /// ... or once the entries in memory take this many bytes.
    pub(crate) snapshot_interval_bytes: u64,
    /// Bytes of uncommitted entries a leader accepts at most; proposals beyond it are refused
    /// (raft-rs `max_uncommitted_size`). With compaction, this bounds the in-memory log.
    pub(crate) uncommitted_bytes_max: u64,
    /// The known bug to plant, if any (simulation builds only).
    #[cfg(feature = "planted-bugs")]
    pub(crate) planted_bug: Option<crate::PlantedBug>,
}

impl GroupConfig {
    /// Node `node`'s member of `group` with small timeouts, for unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(node: NodeId, group: GroupId) -> GroupConfig {
        GroupConfig {
            node,
            group,
            heartbeat_ticks: 1,
            election_ticks_min: 5,
            election_ticks_max: 10,
            rng_seed: 7,
            message_bytes_max: 1 << 20,
            inflight_messages_max: 256,
            snapshot_interval_entries: 10_000,
            snapshot_interval_bytes: 100_000_000,
            uncommitted_bytes_max: 1 << 30,
            #[cfg(feature = "planted-bugs")]
            planted_bug: None,
        }
    }

    /// The raft-rs configuration for this group, starting at `applied_index`: pre-vote and
    /// check-quorum on, ReadIndex confirmed by a heartbeat round (`ReadOnlyOption::Safe`).
    pub(super) fn raft_config(&self, applied_index: u64) -> raft::Config {
        raft::Config {
            id: self.node.0,
            election_tick: self.election_ticks_min,
            heartbeat_tick: self.heartbeat_ticks,
            min_election_tick: self.election_ticks_min,
            max_election_tick: self.election_ticks_max,
            applied: applied_index,
            max_size_per_msg: self.message_bytes_max,
            max_inflight_msgs: self.inflight_messages_max,
            max_uncommitted_size: self.uncommitted_bytes_max,
            check_quorum: true,
            pre_vote: true,
            read_only_option: ReadOnlyOption::Safe,
            ..raft::Config::default()
        }
    }
}
