//! One group's membership as this node takes part in it: proposing and applying configuration
//! changes (see [`crate::membership`] for the changes themselves), and learning that this node
//! was removed.

use protobuf::Message as _;
use raft::eraftpb::{
    ConfChange, ConfChangeSingle, ConfChangeType, ConfChangeV2, ConfState, Entry, EntryType,
    Message, MessageType,
};
use raft::{RawNode, StateRole, INVALID_ID};

use crate::cluster_error::{ClusterError, TryAgain};
use crate::consensus::log_view::LogView;
use crate::consensus::machine::Machine;
use crate::ids::{GroupId, NodeId};
use crate::kv::{ApplyContext, Member, Proposal};
use crate::membership::MembershipChange;
use crate::reply::Reply;

/// This node's standing in one group's configuration.
#[derive(Debug)]
pub(super) struct Membership {
    /// This node.
    node: NodeId,
    /// The group whose configuration this is.
    group: GroupId,
    /// Set when a member that has applied more of the log told this node it is no longer in
    /// the group: it stops campaigning and stops serving. Never cleared (node ids are never
    /// reused).
    removed: bool,
}

impl Membership {
    /// A member until told otherwise.
    pub(super) fn new(node: NodeId, group: GroupId) -> Membership {
        Membership {
            node,
            group,
            removed: false,
        }
    }

    /// Whether a member that has applied more of the log said this node left the group.
    pub(super) fn is_removed(&self) -> bool {
        self.removed
    }

    /// Whether this node stays in `conf` (see [`crate::membership::stays_member`]) and was not
    /// told it left.
    pub(super) fn stays_member(&self, conf: &ConfState) -> bool {
        !self.removed && crate::membership::stays_member(conf, self.node)
    }

    /// Proposes `change` through `raw`, a leader's; the caller tracks the proposal. A change
    /// that cannot apply, or that would overlap one in flight, is refused with its reply.
    pub(super) fn propose(
        &self,
        raw: &mut RawNode<LogView>,
        change: &MembershipChange,
    ) -> Result<(), Reply> {
        // raft-rs turns a change proposed while another is unapplied into an empty entry,
        // which would look like success: refuse it here instead.
        if raw.raft.has_pending_conf() {
            return Err(ClusterError::TryAgain(TryAgain::MembershipChanging(self.group)).into());
        }
        change
            .check(raw.store().conf_state())
            .map_err(Reply::error)?;
        let context = match change {
            MembershipChange::AddLearner {
                node,
                client_addr,
                internal_addr,
            } => Proposal::RegisterNode(Member {
                id: *node,
                client_addr: client_addr.clone(),
                internal_addr: internal_addr.clone(),
            })
            .encode(),
            MembershipChange::Promote(_) | MembershipChange::Remove(_) => Vec::new(),
        };
        raw.propose_conf_change(context, change.to_conf_change())
            .map_err(|_| Reply::from(ClusterError::TryAgain(TryAgain::LeadershipMoving)))
    }

    /// Applies the committed membership change `entry` within the apply pass `cx`: raft-rs
    /// takes the new configuration, the log view records it, and the system group's
    /// `machine` registers a member the change adds. Returns the reply to the proposer if
    /// there is more to say than `OK`: raft-rs refused the change, or the entry does not
    /// decode. Such an entry (a newer version's, or a broken peer's) changes nothing, on every
    /// replica alike: a panic would stop them all at this index, again at each restart.
    pub(super) fn apply(
        &self,
        raw: &mut RawNode<LogView>,
        entry: &Entry,
        machine: &mut Machine,
        cx: &mut ApplyContext<'_>,
    ) -> Option<Reply> {
        let change = match decode(entry) {
            Ok(change) => change,
            Err(e) => {
                tracing::error!(
                    node = self.node.0,
                    group = self.group.0,
                    index = entry.index,
                    term = entry.term,
                    %e,
                    "committed membership change applied as a no-op: it does not decode"
                );
                return Some(Reply::error(format!(
                    "ERR the membership change committed at index {} of group {} does not \
                     decode: {e}",
                    entry.index, self.group
                )));
            }
        };
        match self.apply_conf_change(raw, entry, &change) {
            Ok(conf_state) => {
                raw.mut_store().set_conf_state(conf_state, cx.batch_mut());
                // A new member's addresses travel with the change that adds it.
                if let (Machine::System(directory), Some(member @ Proposal::RegisterNode(_))) =
                    (machine, Proposal::decode(&entry.context))
                {
                    // A registration always applies to the system group.
                    let _ = directory.apply(cx, &member);
                }
                None
            }
            // Checked before proposing, so this means a change raced another one; every node
            // refuses it the same way, deterministically.
            Err(why) => Some(Reply::error(format!(
                "ERR the membership change was refused: {why}"
            ))),
        }
    }

    /// Applies `change`, decoded from the committed entry `entry` (either encoding), to
    /// raft-rs and returns the configuration it leads to, or why raft-rs refused it (the configuration is
    /// then unchanged on every node alike). A leader that the change takes out of the
    /// configuration steps down first.
    fn apply_conf_change(
        &self,
        raw: &mut RawNode<LogView>,
        entry: &Entry,
        change: &ConfChangeV2,
    ) -> Result<ConfState, String> {
        if raw.raft.state == StateRole::Leader
            && removes(change, self.node, raw.store().conf_state())
        {
            // raft-rs assumes a leader is in its own progress tracker (it unwraps that entry
            // when it commits), so a leader must never apply its own removal. It steps down
            // first; the others elect a leader within an election timeout.
            tracing::info!(
                node = self.node.0,
                group = self.group.0,
                index = entry.index,
                "stepping down before applying this node's own removal"
            );
            let term = raw.raft.term;
            raw.raft.become_follower(term, INVALID_ID);
        }
        match raw.apply_conf_change(change) {
            Ok(conf_state) => {
                tracing::info!(
                    node = self.node.0,
                    group = self.group.0,
                    index = entry.index,
                    voters = ?conf_state.voters,
                    learners = ?conf_state.learners,
                    voters_outgoing = ?conf_state.voters_outgoing,
                    "membership changed"
                );
                Ok(conf_state)
            }
            Err(e) => {
                tracing::warn!(node = self.node.0, group = self.group.0, %e, "membership change refused");
                Err(e.to_string())
            }
        }
    }

    /// A leader that applied its own removal keeps leading (raft-rs, like etcd's raft, does
    /// not step down: its heartbeats still hold the others as followers) but can propose
    /// nothing, so the group would be stuck. It hands leadership to the voter with the most
    /// of its log instead, again every tick until someone else leads (a transfer gives up
    /// after an election timeout). Operators move leadership first; this covers the race
    /// where a node became leader while its removal was on the way.
    pub(super) fn hand_off_if_removed(&self, raw: &mut RawNode<LogView>) {
        let conf = raw.store().conf_state();
        if raw.raft.state != StateRole::Leader
            || conf.voters.contains(&self.node.0)
            || !conf.voters_outgoing.is_empty()
            || raw.raft.lead_transferee.is_some()
        {
            return;
        }
        let prs = raw.raft.prs();
        let successor = conf
            .voters
            .iter()
            .filter_map(|&id| Some((prs.get(id)?.matched, id)))
            .max();
        if let Some((_, successor)) = successor {
            tracing::info!(
                node = self.node.0,
                group = self.group.0,
                successor,
                "removed from the group while leading; handing leadership over"
            );
            raw.transfer_leader(successor);
        }
    }

    /// The notice for `from`, which sent this group a message but is not in its
    /// configuration: it was removed and may never learn it from the log, because the leader
    /// stops replicating to a node once its removal commits (etcd tells removed members the
    /// same way). Only a leader that has applied everything committed (`applied_index`),
    /// including an entry of its own term, sends one: its configuration is then the latest (a
    /// node added in a term it has not caught up with yet is never told it left).
    pub(super) fn removal_notice_for(
        &self,
        raw: &RawNode<LogView>,
        applied_index: u64,
        from: NodeId,
    ) -> Option<Message> {
        let raft = &raw.raft;
        let current = raft.state == StateRole::Leader
            && raft.raft_log.term(raft.raft_log.committed).ok() == Some(raft.term)
            && applied_index == raft.raft_log.committed;
        if !current || crate::membership::is_member(raw.store().conf_state(), from) {
            return None;
        }
        Some(removal_notice(self.node, from, applied_index))
    }

    /// Takes in a removal notice: believed only if its sender has applied more of the log
    /// than this node (`applied_index`), so it saw the configuration after this node's latest
    /// (node ids are never reused).
    pub(super) fn on_removal_notice(&mut self, notice: &Message, applied_index: u64) {
        if notice.index > applied_index && !self.removed {
            tracing::warn!(
                node = self.node.0,
                group = self.group.0,
                told_by = notice.from,
                "this node was removed from the group; it stops campaigning and serving"
            );
            self.removed = true;
        }
    }
}

/// A committed membership change entry in one form whatever its encoding: raft-rs applies a
/// `ConfChange` as the `ConfChangeV2` it converts to (`RawNode::apply_conf_change`), so we do
/// the same.
fn decode(entry: &Entry) -> Result<ConfChangeV2, protobuf::ProtobufError> {
    if entry.get_entry_type() == EntryType::EntryConfChange {
        ConfChange::parse_from_bytes(&entry.data).map(into_v2)
    } else {
        ConfChangeV2::parse_from_bytes(&entry.data)
    }
}

/// raft-rs's `ConfChangeI::into_v2` (raft-proto), which the raft crate does not re-export: one
/// single change, the simple protocol, the same context.
fn into_v2(mut change: ConfChange) -> ConfChangeV2 {
    let single = ConfChangeSingle {
        change_type: change.get_change_type(),
        node_id: change.node_id,
        ..ConfChangeSingle::default()
    };
    ConfChangeV2 {
        changes: vec![single].into(),
        context: change.take_context(),
        ..ConfChangeV2::default()
    }
}

/// Whether applying `change` to `conf` takes `node` out of the configuration: leaving a joint
/// configuration whose incoming voters do not include it, or a simple change that removes it.
/// (Entering a joint configuration never does: the node stays among the outgoing voters.)
fn removes(change: &ConfChangeV2, node: NodeId, conf: &ConfState) -> bool {
    if change.leave_joint() {
        return !conf.voters.contains(&node.0) && !conf.learners_next.contains(&node.0);
    }
    change.enter_joint().is_none()
        && change.changes.iter().any(|single| {
            single.node_id == node.0 && single.get_change_type() == ConfChangeType::RemoveNode
        })
}

/// A removal notice travels as a `MsgUnreachable`: a type raft-rs only ever creates locally,
/// so no raft message can be mistaken for one. `index` carries the sender's applied index.
pub(crate) fn removal_notice(from: NodeId, to: NodeId, applied_index: u64) -> Message {
    let mut notice = Message::default();
    notice.set_msg_type(MessageType::MsgUnreachable);
    notice.from = from.0;
    notice.to = to.0;
    notice.index = applied_index;
    notice
}

/// Whether `message` is a removal notice (see [`removal_notice`]).
pub(crate) fn is_removal_notice(message: &Message) -> bool {
    message.get_msg_type() == MessageType::MsgUnreachable
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(entry_type: EntryType, data: Vec<u8>) -> Entry {
        Entry {
            entry_type,
            data: data.into(),
            ..Entry::default()
        }
    }

    fn single(change_type: ConfChangeType, node: u64) -> ConfChangeSingle {
        ConfChangeSingle {
            change_type,
            node_id: node,
            ..ConfChangeSingle::default()
        }
    }

    fn conf(voters: &[u64]) -> ConfState {
        ConfState {
            voters: voters.to_vec(),
            ..ConfState::default()
        }
    }

    #[test]
    fn both_encodings_decode_to_the_same_change() {
        // Goal: a `ConfChange` entry decodes to the `ConfChangeV2` raft-rs would apply for it.
        // Method: encode one removal both ways and compare the decoded forms.
        let v1 = ConfChange {
            change_type: ConfChangeType::RemoveNode,
            node_id: 2,
            context: b"why".to_vec().into(),
            ..ConfChange::default()
        };
        let v2 = ConfChangeV2 {
            changes: vec![single(ConfChangeType::RemoveNode, 2)].into(),
            context: b"why".to_vec().into(),
            ..ConfChangeV2::default()
        };
        let from_v1 = decode(&entry(
            EntryType::EntryConfChange,
            v1.write_to_bytes().unwrap(),
        ));
        let from_v2 = decode(&entry(
            EntryType::EntryConfChangeV2,
            v2.write_to_bytes().unwrap(),
        ));
        assert_eq!(from_v1.unwrap(), v2);
        assert_eq!(from_v2.unwrap(), v2);
    }

    #[test]
    fn a_simple_removal_removes_only_its_node() {
        // Goal: a simple change takes out exactly the node it removes. Method: check the removed
        // node, another node, and an addition of the node.
        let removal = ConfChangeV2 {
            changes: vec![single(ConfChangeType::RemoveNode, 2)].into(),
            ..ConfChangeV2::default()
        };
        let addition = ConfChangeV2 {
            changes: vec![single(ConfChangeType::AddNode, 2)].into(),
            ..ConfChangeV2::default()
        };
        let before = conf(&[1, 2, 3]);
        assert!(removes(&removal, NodeId(2), &before));
        assert!(!removes(&removal, NodeId(3), &before));
        assert!(!removes(&addition, NodeId(2), &before));
    }

    #[test]
    fn only_leaving_a_joint_configuration_removes_an_outgoing_voter() {
        // Goal: entering a joint configuration keeps the node among the outgoing voters;
        // leaving it takes out every node not among the incoming ones. Method: a removal
        // through joint consensus, then the empty change that leaves it.
        let enter = ConfChangeV2 {
            changes: vec![
                single(ConfChangeType::RemoveNode, 2),
                single(ConfChangeType::AddNode, 4),
            ]
            .into(),
            ..ConfChangeV2::default()
        };
        assert!(!removes(&enter, NodeId(2), &conf(&[1, 2, 3])));
        let joint = ConfState {
            voters_outgoing: vec![1, 2, 3],
            ..conf(&[1, 3, 4])
        };
        let leave = ConfChangeV2::default();
        assert!(removes(&leave, NodeId(2), &joint));
        assert!(!removes(&leave, NodeId(1), &joint));
    }
}
