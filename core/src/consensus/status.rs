//! What a group reports about itself, for INFO, the admin service and tests.

use raft::StateRole;

use crate::ids::{GroupId, NodeId};

/// A snapshot of a group's state, for INFO and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupStatus {
    /// Which group this summary describes.
    pub group: GroupId,
    /// Leader, follower, candidate or pre-candidate.
    pub role: StateRole,
    /// The current term.
    pub term: u64,
    /// The leader this node knows of.
    pub leader: Option<NodeId>,
    /// Highest index known committed.
    pub commit_index: u64,
    /// Highest index applied to the state machine.
    pub applied_index: u64,
    /// Highest index in the log.
    pub last_index: u64,
    /// The index the log was last compacted to (0 if never).
    pub snapshot_index: u64,
    /// Entries held in memory.
    pub log_entries_in_memory: usize,
    /// Bytes those entries take, roughly.
    pub log_bytes_in_memory: u64,
    /// Compactions and snapshot transfers so far.
    pub snapshots: SnapshotStats,
    /// Voting members (the incoming ones while the group is in a joint configuration).
    pub voters: Vec<u64>,
    /// Members that receive the log but do not vote.
    pub learners: Vec<u64>,
    /// The old voters while the group is in a joint configuration; empty otherwise.
    pub voters_outgoing: Vec<u64>,
    /// Writes proposed by this node, not yet applied.
    pub proposals_pending: usize,
    /// Reads waiting for a ReadIndex round or for apply.
    pub reads_pending: usize,
    /// ReadIndex rounds started so far (batching: fewer rounds than reads).
    pub read_rounds_started: u64,
}

/// One follower's copy of the log as its leader tracks it, for INFO replication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReplicaProgress {
    /// The follower.
    pub(crate) node: NodeId,
    /// The highest index known to match the leader's log.
    pub(crate) matched: u64,
    /// raft-rs's replication state: probing, replicating, or sending a snapshot.
    pub(crate) state: raft::ProgressState,
    /// Whether it is a learner (no vote).
    pub(crate) is_learner: bool,
}

/// Snapshot activity, for INFO and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnapshotStats {
    /// Times the log was compacted.
    pub compactions: u64,
    /// Snapshots prepared for followers.
    pub prepared: u64,
    /// Snapshot transfers to followers that completed.
    pub sent: u64,
    /// Snapshot transfers to followers that failed (to be retried).
    pub send_failures: u64,
    /// Snapshots received and installed.
    pub installed: u64,
}
