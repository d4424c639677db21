//! Membership changes: adding and removing nodes one Raft group at a time, through joint
//! consensus (Raft thesis §4.3; raft-rs `ConfChangeV2`).
//!
//! Every group (the system group and each data group) has its own configuration, and an
//! operator changes each the same way, at that group's leader:
//! 1. [`MembershipChange::AddLearner`]: the node receives the log but does not vote, so adding
//!    it cannot cost the group its majority while it catches up (it starts from a snapshot:
//!    every group compacts its log after its first entry, so no joiner ever replays the log
//!    from index 1 without the founding configuration, which is in no entry). Its addresses
//!    go into the system group's directory with the change.
//! 2. [`MembershipChange::Promote`], once it has caught up: the group enters the joint
//!    configuration (old voters and new voters must both agree) and raft-rs leaves it on its
//!    own once that is committed.
//! 3. [`MembershipChange::Remove`] takes a voter or learner out the same way.
//!
//! One change per group is in flight at a time; a second one is refused with `TRYAGAIN`.

use raft::eraftpb::{
    ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfChangeV2, ConfState,
};

use crate::cluster_error::{ClusterError, TryAgain};
use crate::ids::NodeId;

/// A change to one group's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MembershipChange {
    /// Add `node` as a learner, registering its addresses.
    AddLearner {
        /// The node that joins; it must not be a member of the group yet.
        node: NodeId,
        /// `host:port` Redis clients reach it on.
        client_addr: String,
        /// `host:port` peers send Raft traffic to.
        internal_addr: String,
    },
    /// Make a learner a voter, through a joint configuration.
    Promote(NodeId),
    /// Remove a voter or learner, through a joint configuration.
    Remove(NodeId),
}

impl MembershipChange {
    /// The node the change is about.
    pub fn node(&self) -> NodeId {
        match self {
            MembershipChange::AddLearner { node, .. }
            | MembershipChange::Promote(node)
            | MembershipChange::Remove(node) => *node,
        }
    }

    /// Why the change cannot apply to `conf`, if it cannot: checked before proposing, so that
    /// raft-rs never has to refuse a committed change.
    pub(crate) fn check(&self, conf: &ConfState) -> Result<(), String> {
        let id = self.node().0;
        let is_voter = conf.voters.contains(&id);
        let is_learner = conf.learners.contains(&id);
        if !conf.voters_outgoing.is_empty() {
            return Err(ClusterError::TryAgain(TryAgain::LeavingJoint).to_string());
        }
        match self {
            MembershipChange::AddLearner { .. } if is_voter || is_learner => {
                Err(format!("ERR node {id} is already a member of the group"))
            }
            MembershipChange::Promote(_) if !is_learner => Err(format!(
                "ERR node {id} is not a learner of the group; add it first"
            )),
            MembershipChange::Remove(_) if !is_voter && !is_learner => {
                Err(format!("ERR node {id} is not a member of the group"))
            }
            MembershipChange::Remove(_) if is_voter && conf.voters.len() == 1 => {
                Err(format!("ERR node {id} is the group's last voter"))
            }
            _ => Ok(()),
        }
    }

    /// The raft-rs change: a learner is added directly (it does not vote, so no joint
    /// configuration is needed); promotions and removals go through a joint configuration
    /// that raft-rs leaves by itself (`Implicit`).
    pub(crate) fn to_conf_change(&self) -> ConfChangeV2 {
        let (change_type, transition) = match self {
            MembershipChange::AddLearner { .. } => {
                (ConfChangeType::AddLearnerNode, ConfChangeTransition::Auto)
            }
            MembershipChange::Promote(_) => {
                (ConfChangeType::AddNode, ConfChangeTransition::Implicit)
            }
            MembershipChange::Remove(_) => {
                (ConfChangeType::RemoveNode, ConfChangeTransition::Implicit)
            }
        };
        let mut change = ConfChangeV2::default();
        change.set_transition(transition);
        let mut single = ConfChangeSingle::default();
        single.set_change_type(change_type);
        single.node_id = self.node().0;
        change.changes.push(single);
        change
    }
}

/// Whether `node` stays in the group once `conf` is final: a voter or learner of the incoming
/// configuration. A node in the outgoing voters alone is being removed; it still votes until
/// the joint configuration is left, but it may never hear that it was (the leader stops
/// replicating to it), so it counts as removed from this point on.
pub(crate) fn stays_member(conf: &ConfState, node: NodeId) -> bool {
    [&conf.voters, &conf.learners, &conf.learners_next]
        .iter()
        .any(|ids| ids.contains(&node.0))
}

/// Whether `node` is in `conf` in any role.
pub(crate) fn is_member(conf: &ConfState, node: NodeId) -> bool {
    [
        &conf.voters,
        &conf.learners,
        &conf.voters_outgoing,
        &conf.learners_next,
    ]
    .iter()
    .any(|ids| ids.contains(&node.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(voters: &[u64], learners: &[u64]) -> ConfState {
        ConfState {
            voters: voters.to_vec(),
            learners: learners.to_vec(),
            ..ConfState::default()
        }
    }

    #[test]
    fn changes_that_raft_would_refuse_are_refused_before_proposing() {
        let add = |n| MembershipChange::AddLearner {
            node: NodeId(n),
            client_addr: String::new(),
            internal_addr: String::new(),
        };
        let three = conf(&[1, 2, 3], &[4]);
        assert!(add(5).check(&three).is_ok());
        assert!(add(3).check(&three).is_err());
        assert!(add(4).check(&three).is_err());
        assert!(MembershipChange::Promote(NodeId(4)).check(&three).is_ok());
        assert!(MembershipChange::Promote(NodeId(2)).check(&three).is_err());
        assert!(MembershipChange::Remove(NodeId(4)).check(&three).is_ok());
        assert!(MembershipChange::Remove(NodeId(9)).check(&three).is_err());
        assert!(MembershipChange::Remove(NodeId(1))
            .check(&conf(&[1], &[]))
            .is_err());
        let joint = ConfState {
            voters_outgoing: vec![1, 2, 3],
            ..conf(&[1, 2, 3, 4], &[])
        };
        assert!(MembershipChange::Remove(NodeId(4)).check(&joint).is_err());
    }

    #[test]
    fn promotions_and_removals_go_through_a_joint_configuration() {
        assert_eq!(
            MembershipChange::Promote(NodeId(4))
                .to_conf_change()
                .enter_joint(),
            Some(true)
        );
        assert_eq!(
            MembershipChange::Remove(NodeId(4))
                .to_conf_change()
                .enter_joint(),
            Some(true)
        );
        let learner = MembershipChange::AddLearner {
            node: NodeId(4),
            client_addr: String::new(),
            internal_addr: String::new(),
        };
        assert_eq!(learner.to_conf_change().enter_joint(), None);
    }
}
