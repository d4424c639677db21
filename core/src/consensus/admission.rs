//! What a peer's message must be before raft-rs sees it (issue 13, point 2).
//!
//! raft-rs trusts its caller: it `fatal!`s on an empty `MsgPropose`, on a heartbeat whose
//! commit index is past the log, on an append whose entries do not follow its index; it takes a
//! message with term 0 for a local one of the current term; it appends whatever a proposal
//! carries, conf changes included, and steps local message types from anyone. The internal
//! port is reachable by anything on the network, so every message is checked here first:
//!
//! - it is for this node (`to`), from another node (`from` is not 0 and not this node);
//! - its type is one a peer sends: never `MsgHup`, `MsgBeat`, `MsgSnapStatus` or
//!   `MsgCheckQuorum`, and a `MsgSnapshot` only through the snapshot stream; `MsgUnreachable`
//!   is this crate's removal notice (see `membership`);
//! - its sender is a member of the group's configuration, voter or learner, incoming or
//!   outgoing (as this node has applied it; see [`catch_up_answer`] for a sender that leads a
//!   configuration this node has not applied yet);
//! - its term is set exactly when raft-rs sets it (`MsgPropose` and `MsgReadIndex` travel
//!   with term 0, everything else with the sender's term), and no more than
//!   [`TERM_LEAP_MAX`] past this node's;
//! - its fields are ones raft-rs can take: a proposal is a follower's own registration (the
//!   only proposal a follower forwards, see [`proposal`]), a `MsgReadIndex` carries its one
//!   context entry, a heartbeat commits no further than the log reaches, an append's entries
//!   follow its index, a response names no index past the log, and a leadership transfer
//!   request reaches the leader of its term.
//!
//! A refused message is dropped and counted; it changes nothing. This guards against broken
//! and misdirected peers and against anyone who is not a member. A peer that impersonates a
//! member and forges log positions consistent with this node's log is outside Raft's fault
//! model (it is Byzantine): only authenticating peers stops it.

use std::fmt;

use raft::eraftpb::{ConfState, EntryType, Message, MessageType};

use crate::ids::{GroupId, NodeId};
use crate::kv::Proposal;

/// How far past this node's term a message's term may be. Terms grow by one per election, so
/// no peer reaches a term four billion ahead by elections; refusing such a term keeps raft-rs's
/// `term + 1` from ever overflowing.
pub(crate) const TERM_LEAP_MAX: u64 = 1 << 32;

/// What to do with a peer's message.
#[derive(Debug)]
pub(crate) enum Admission {
    /// Step it into raft-rs.
    Step,
    /// A removal notice from a member: take it in.
    RemovalNotice,
    /// Step nothing, but send the sender this answer: a removal notice, or a request to
    /// catch up (see [`catch_up_answer`]).
    Answer(Message),
    /// Drop it (and count it).
    Drop(Refusal),
}

/// What a group knows about itself when a message arrives: the facts the checks compare to.
#[derive(Clone, Copy, Debug)]
pub(crate) struct View<'a> {
    /// This node.
    pub(crate) node: NodeId,
    /// The group the message names.
    pub(crate) group: GroupId,
    /// The configuration this node has applied.
    pub(crate) conf: &'a ConfState,
    /// raft-rs's current term.
    pub(crate) term: u64,
    /// Whether this node leads the group.
    pub(crate) is_leader: bool,
    /// The leader this node follows, 0 if none.
    pub(crate) leader: u64,
    /// The last index in this node's log.
    pub(crate) last_index: u64,
    /// raft-rs's commit index.
    pub(crate) commit_index: u64,
}

/// Why a message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `to` names another node.
    NotForThisNode,
    /// `from` is 0 or this node.
    NoSender,
    /// A type raft-rs only creates locally.
    LocalType,
    /// A `MsgSnapshot` outside the snapshot stream.
    SnapshotOutsideStream,
    /// The sender is not in the group's configuration.
    NotAMember,
    /// The term is missing, set where raft-rs never sets one, or implausibly far ahead.
    Term,
    /// A proposal other than a follower's own registration.
    Proposal,
    /// A `MsgReadIndex` or `MsgReadIndexResp` without exactly one context entry, or a
    /// response from a node this one does not follow.
    ReadIndex,
    /// A heartbeat that commits past the end of this node's log.
    CommitPastLog,
    /// An append whose entries do not follow its index, or whose terms go back or pass the
    /// message's term.
    EntriesOutOfOrder,
    /// An append response naming an index past this node's log.
    IndexPastLog,
    /// A leadership transfer request that does not reach the leader of its term.
    TransferNotToLeader,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::NotForThisNode => "addressed to another node",
            Refusal::NoSender => "sent by no node or by this node",
            Refusal::LocalType => "a local message type",
            Refusal::SnapshotOutsideStream => "a snapshot outside the snapshot stream",
            Refusal::NotAMember => "sent by a node that is not a member of the group",
            Refusal::Term => "a term raft-rs would never send",
            Refusal::Proposal => "a proposal no follower forwards",
            Refusal::ReadIndex => "a malformed read index message",
            Refusal::CommitPastLog => "a commit index past the end of the log",
            Refusal::EntriesOutOfOrder => "entries that do not follow the message's index",
            Refusal::IndexPastLog => "an index past the end of the log",
            Refusal::TransferNotToLeader => "a leadership transfer request for a non-leader",
        })
    }
}

/// Checks `message` against everything but membership answers: `Ok` if raft-rs may step it
/// (or, for a removal notice, if the group may take it in).
pub(crate) fn check(view: &View<'_>, message: &Message) -> Result<(), Refusal> {
    use MessageType::*;
    if message.to != view.node.0 {
        return Err(Refusal::NotForThisNode);
    }
    if message.from == 0 || message.from == view.node.0 {
        return Err(Refusal::NoSender);
    }
    let kind = message.get_msg_type();
    match kind {
        MsgHup | MsgBeat | MsgSnapStatus | MsgCheckQuorum => return Err(Refusal::LocalType),
        MsgSnapshot => return Err(Refusal::SnapshotOutsideStream),
        _ => {}
    }
    if !crate::membership::is_member(view.conf, NodeId(message.from)) {
        return Err(Refusal::NotAMember);
    }
    // raft-rs sends proposals and read index requests as local messages (term 0) and stamps
    // its term on everything else; the removal notice carries none.
    let untermed = matches!(kind, MsgPropose | MsgReadIndex | MsgUnreachable);
    if untermed != (message.term == 0) || message.term > view.term.saturating_add(TERM_LEAP_MAX) {
        return Err(Refusal::Term);
    }
    match kind {
        MsgPropose => proposal(view.group, message),
        // A leader reads `entries[0]` as the request's context without looking.
        MsgReadIndex if message.entries.len() != 1 => Err(Refusal::ReadIndex),
        // raft-rs takes the index as confirmed by whoever sends it; only a leader answers.
        MsgReadIndexResp if message.entries.len() != 1 || message.from != view.leader => {
            Err(Refusal::ReadIndex)
        }
        // A leader's heartbeat commits at most what the follower has acknowledged; raft-rs
        // `fatal!`s on more.
        MsgHeartbeat if message.commit > view.last_index => Err(Refusal::CommitPastLog),
        MsgAppend => entries_follow(message),
        MsgAppendResponse => response_within_log(view, message),
        // A follower forwards a transfer request to its leader as it came, and raft-rs
        // `fatal!`s sending a forwarded message that carries a term (which a request from the
        // network does): only the leader of the message's term takes one.
        MsgTransferLeader if !view.is_leader || message.term != view.term => {
            Err(Refusal::TransferNotToLeader)
        }
        _ => Ok(()),
    }
}

/// A forwarded proposal: exactly one normal entry, no context, whose data is a proposal this
/// version writes and a follower forwards. Today that is only a node registering its own
/// addresses in the system group (`Node::register_self`, through `propose_untracked`, which
/// raft-rs forwards from a follower to the leader). Data-group writes and membership changes
/// are proposed only by a leader, locally, after their checks.
fn proposal(group: GroupId, message: &Message) -> Result<(), Refusal> {
    let [entry] = message.entries.as_slice() else {
        return Err(Refusal::Proposal);
    };
    if !group.is_system()
        || entry.get_entry_type() != EntryType::EntryNormal
        || !entry.context.is_empty()
    {
        return Err(Refusal::Proposal);
    }
    match Proposal::decode(&entry.data) {
        Some(Proposal::RegisterNode(member)) if member.id.0 == message.from => Ok(()),
        _ => Err(Refusal::Proposal),
    }
}

/// An append's entries as a leader sends them: indexes one past the message's index, one by
/// one, terms never going back from `log_term` and never past the message's term. raft-rs
/// relies on it: entries out of place could conflict with committed ones (a `fatal!`) or leave
/// a gap in the log. A `log_term` of 0 exists only at index 0 (raft-rs reads any index past
/// the log as term 0, so it would match there).
fn entries_follow(message: &Message) -> Result<(), Refusal> {
    let out_of_order = Err(Refusal::EntriesOutOfOrder);
    if (message.log_term == 0 && message.index != 0) || message.log_term > message.term {
        return out_of_order;
    }
    let (mut index, mut term) = (message.index, message.log_term);
    for entry in message.get_entries() {
        let Some(next) = index.checked_add(1) else {
            return out_of_order;
        };
        if entry.index != next || entry.term < term.max(1) || entry.term > message.term {
            return out_of_order;
        }
        (index, term) = (next, entry.term);
    }
    Ok(())
}

/// A follower answers an append with indexes of the leader's own log: the index it was sent
/// (or its commit index, which the leader has too) and its hint, never past the log. raft-rs
/// would otherwise count a replica at an index it does not have, or overflow adding one.
fn response_within_log(view: &View<'_>, message: &Message) -> Result<(), Refusal> {
    let within = |index: u64| index <= view.last_index;
    if within(message.index) && within(message.reject_hint) && within(message.request_snapshot) {
        Ok(())
    } else {
        Err(Refusal::IndexPastLog)
    }
}

/// The answer to leader traffic (`MsgAppend`, `MsgHeartbeat`) from a node that is not in the
/// configuration this node has applied, if any; the message itself is never stepped.
///
/// Such a sender may be a real leader of a configuration this node has not applied yet: this
/// node was cut off while the sender was added, and the entries that add it are exactly the
/// ones it misses. Stepping nothing from it, it would never catch up. So it asks for a
/// snapshot instead (a rejection carrying `request_snapshot`, which raft-rs answers with a
/// `MsgSnapshot` through the snapshot stream): the snapshot brings the configuration that
/// names the sender. A joining node, which has no configuration until its first snapshot,
/// comes in the same way. To a sender at a lower term it says its own term, as raft-rs does to
/// a stale leader, so that a stale term cannot keep it out for good. Nothing here changes this
/// node's state, whoever the sender is.
pub(crate) fn catch_up_answer(view: &View<'_>, message: &Message) -> Option<Message> {
    let kind = message.get_msg_type();
    let is_leader_traffic = matches!(kind, MessageType::MsgAppend | MessageType::MsgHeartbeat);
    if !is_leader_traffic || message.term == 0 {
        return None;
    }
    let mut answer = Message::default();
    answer.set_msg_type(MessageType::MsgAppendResponse);
    answer.from = view.node.0;
    answer.to = message.from;
    if message.term < view.term {
        answer.term = view.term;
        return Some(answer);
    }
    if message.term == view.term && view.is_leader {
        return None; // Two leaders of one term: the sender is not one.
    }
    answer.term = message.term;
    answer.reject = true;
    // For an append, the index it probed (a leader ignores a rejection of any other); a
    // heartbeat probes none, and this node's commit index is in any real leader's log.
    answer.index = if kind == MessageType::MsgAppend {
        message.index
    } else {
        view.commit_index
    };
    answer.reject_hint = view.commit_index;
    // raft-rs's `INVALID_INDEX` is 0, so a node with nothing committed asks from index 1.
    answer.request_snapshot = view.commit_index.max(1);
    Some(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::Member;
    use raft::eraftpb::Entry;

    fn conf() -> ConfState {
        ConfState {
            voters: vec![1, 2, 3],
            learners: vec![4],
            ..ConfState::default()
        }
    }

    fn view(conf: &ConfState) -> View<'_> {
        View {
            node: NodeId(1),
            group: GroupId::FIRST_DATA,
            conf,
            term: 5,
            is_leader: false,
            leader: 2,
            last_index: 10,
            commit_index: 8,
        }
    }

    fn message(kind: MessageType, from: u64, term: u64) -> Message {
        let mut message = Message::default();
        message.set_msg_type(kind);
        message.to = 1;
        message.from = from;
        message.term = term;
        message
    }

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            ..Entry::default()
        }
    }

    #[test]
    fn addressing_and_sender_come_first() {
        // Goal: a message for another node, from no node, or from this node, is refused
        // whatever it is. Method: a valid heartbeat, readdressed.
        let conf = conf();
        let view = view(&conf);
        let heartbeat = message(MessageType::MsgHeartbeat, 2, 5);
        assert_eq!(check(&view, &heartbeat), Ok(()));
        let mut other = heartbeat.clone();
        other.to = 3;
        assert_eq!(check(&view, &other), Err(Refusal::NotForThisNode));
        for from in [0, 1] {
            let mut from_nobody = heartbeat.clone();
            from_nobody.from = from;
            assert_eq!(check(&view, &from_nobody), Err(Refusal::NoSender));
        }
    }

    #[test]
    fn local_types_and_stray_snapshots_are_refused() {
        // Goal: raft-rs's local message types never come from the network. Method: each one
        // from a member.
        let conf = conf();
        let view = view(&conf);
        for kind in [
            MessageType::MsgHup,
            MessageType::MsgBeat,
            MessageType::MsgSnapStatus,
            MessageType::MsgCheckQuorum,
        ] {
            assert_eq!(check(&view, &message(kind, 2, 5)), Err(Refusal::LocalType));
        }
        assert_eq!(
            check(&view, &message(MessageType::MsgSnapshot, 2, 5)),
            Err(Refusal::SnapshotOutsideStream)
        );
    }

    #[test]
    fn members_in_every_role_may_send_and_others_may_not() {
        // Goal: voters, learners and outgoing voters are members; anyone else is not.
        // Method: a vote request from each.
        let conf = ConfState {
            voters_outgoing: vec![5],
            ..conf()
        };
        let view = view(&conf);
        for from in [2, 3, 4, 5] {
            let vote = message(MessageType::MsgRequestVote, from, 6);
            assert_eq!(check(&view, &vote), Ok(()), "from {from}");
        }
        let stranger = message(MessageType::MsgRequestVote, 9, 6);
        assert_eq!(check(&view, &stranger), Err(Refusal::NotAMember));
    }

    #[test]
    fn terms_are_where_raft_rs_puts_them() {
        // Goal: term 0 only on proposals and read index requests (raft-rs treats a term-0
        // message as local), and no leap that could overflow. Method: both directions.
        let conf = conf();
        let view = view(&conf);
        assert_eq!(
            check(&view, &message(MessageType::MsgHeartbeat, 2, 0)),
            Err(Refusal::Term)
        );
        let mut read = message(MessageType::MsgReadIndex, 2, 0);
        read.entries.push(Entry::default());
        assert_eq!(check(&view, &read), Ok(()));
        read.term = 5;
        assert_eq!(check(&view, &read), Err(Refusal::Term));
        let leap = message(MessageType::MsgRequestVote, 2, 5 + TERM_LEAP_MAX + 1);
        assert_eq!(check(&view, &leap), Err(Refusal::Term));
        let far = message(MessageType::MsgRequestVote, 2, 5 + TERM_LEAP_MAX);
        assert_eq!(check(&view, &far), Ok(()));
    }

    #[test]
    fn only_a_followers_own_registration_may_be_proposed() {
        // Goal: the one proposal a follower forwards passes; empty, garbage, conf-change,
        // data-group, multi-entry and someone else's registrations do not. Method: each.
        let conf = conf();
        let system = View {
            group: GroupId::SYSTEM,
            ..view(&conf)
        };
        let registration = |id: u64| {
            Proposal::RegisterNode(Member {
                id: NodeId(id),
                client_addr: "a:1".to_owned(),
                internal_addr: "a:2".to_owned(),
            })
            .encode()
        };
        let propose = |entries: Vec<Entry>| {
            let mut proposal = message(MessageType::MsgPropose, 2, 0);
            proposal.entries = entries.into();
            proposal
        };
        let normal = |data: Vec<u8>| Entry {
            data: data.into(),
            ..Entry::default()
        };
        assert_eq!(
            check(&system, &propose(vec![normal(registration(2))])),
            Ok(())
        );
        let refused = [
            propose(vec![]),
            propose(vec![normal(Vec::new())]),
            propose(vec![normal(vec![0xff, 1, 2])]),
            propose(vec![normal(registration(3))]),
            propose(vec![normal(registration(2)), normal(registration(2))]),
            propose(vec![Entry {
                entry_type: EntryType::EntryConfChangeV2,
                ..normal(registration(2))
            }]),
            propose(vec![Entry {
                context: b"x".to_vec().into(),
                ..normal(registration(2))
            }]),
        ];
        for proposal in &refused {
            assert_eq!(
                check(&system, proposal),
                Err(Refusal::Proposal),
                "{proposal:?}"
            );
        }
        let data = view(&conf);
        assert_eq!(
            check(&data, &propose(vec![normal(registration(2))])),
            Err(Refusal::Proposal)
        );
    }

    #[test]
    fn read_index_messages_carry_one_context() {
        // Goal: a leader indexes `entries[0]` of a read index request; a response comes from
        // the leader. Method: none, two, and a response from a follower.
        let conf = conf();
        let view = view(&conf);
        let mut read = message(MessageType::MsgReadIndex, 3, 0);
        assert_eq!(check(&view, &read), Err(Refusal::ReadIndex));
        read.entries = vec![Entry::default(), Entry::default()].into();
        assert_eq!(check(&view, &read), Err(Refusal::ReadIndex));
        let mut answer = message(MessageType::MsgReadIndexResp, 2, 5);
        answer.entries.push(Entry::default());
        assert_eq!(check(&view, &answer), Ok(()));
        answer.from = 3;
        assert_eq!(check(&view, &answer), Err(Refusal::ReadIndex));
    }

    #[test]
    fn a_heartbeat_commits_no_further_than_the_log() {
        // Goal: the misdirected heartbeat that made raft-rs `fatal!`. Method: commit at and
        // one past the last index.
        let conf = conf();
        let view = view(&conf);
        let mut heartbeat = message(MessageType::MsgHeartbeat, 2, 5);
        heartbeat.commit = 10;
        assert_eq!(check(&view, &heartbeat), Ok(()));
        heartbeat.commit = 11;
        assert_eq!(check(&view, &heartbeat), Err(Refusal::CommitPastLog));
    }

    #[test]
    fn an_appends_entries_follow_its_index() {
        // Goal: entries one by one after `index`, terms between `log_term` and the message's
        // term. Method: a good append, then each way of breaking it.
        let conf = conf();
        let view = view(&conf);
        let append = |index: u64, log_term: u64, entries: Vec<Entry>| {
            let mut append = message(MessageType::MsgAppend, 2, 5);
            append.index = index;
            append.log_term = log_term;
            append.entries = entries.into();
            append
        };
        assert_eq!(
            check(&view, &append(8, 4, vec![entry(9, 4), entry(10, 5)])),
            Ok(())
        );
        assert_eq!(check(&view, &append(0, 0, vec![entry(1, 1)])), Ok(()));
        for broken in [
            append(8, 4, vec![entry(10, 4)]),
            append(8, 4, vec![entry(1, 4)]),
            append(8, 4, vec![entry(9, 3)]),
            append(8, 4, vec![entry(9, 6)]),
            append(8, 6, vec![]),
            append(8, 0, vec![]),
            append(u64::MAX, 4, vec![entry(0, 4)]),
        ] {
            assert_eq!(
                check(&view, &broken),
                Err(Refusal::EntriesOutOfOrder),
                "{broken:?}"
            );
        }
    }

    #[test]
    fn an_append_response_names_indexes_of_this_log() {
        // Goal: no acknowledgement, hint or snapshot request past the log. Method: each field
        // one past the last index.
        let conf = conf();
        let view = view(&conf);
        let response = message(MessageType::MsgAppendResponse, 2, 5);
        assert_eq!(check(&view, &response), Ok(()));
        for field in 0..3 {
            let mut past = response.clone();
            match field {
                0 => past.index = 11,
                1 => past.reject_hint = 11,
                _ => past.request_snapshot = 11,
            }
            assert_eq!(check(&view, &past), Err(Refusal::IndexPastLog));
        }
    }

    #[test]
    fn only_the_leader_of_its_term_takes_a_transfer_request() {
        // Goal: a follower would forward the request and raft-rs `fatal!`s forwarding a
        // message with a term. Method: the request at a follower, at the leader of its term and
        // at the leader of another term.
        let conf = conf();
        let follower = view(&conf);
        let leader = View {
            is_leader: true,
            ..follower
        };
        let request = message(MessageType::MsgTransferLeader, 2, 5);
        assert_eq!(
            check(&follower, &request),
            Err(Refusal::TransferNotToLeader)
        );
        assert_eq!(check(&leader, &request), Ok(()));
        let newer = message(MessageType::MsgTransferLeader, 2, 6);
        assert_eq!(check(&leader, &newer), Err(Refusal::TransferNotToLeader));
    }

    #[test]
    fn a_stranger_leading_a_newer_term_is_asked_for_a_snapshot() {
        // Goal: leader traffic from a non-member gets a snapshot request at its term, or this
        // node's term if the sender's is older, and nothing else does. Method: each case.
        let conf = conf();
        let view = view(&conf);
        let mut append = message(MessageType::MsgAppend, 9, 6);
        append.index = 20;
        let answer = catch_up_answer(&view, &append).expect("an answer");
        assert_eq!(answer.get_msg_type(), MessageType::MsgAppendResponse);
        assert_eq!((answer.from, answer.to, answer.term), (1, 9, 6));
        assert!(answer.reject);
        assert_eq!((answer.index, answer.request_snapshot), (20, 8));
        let stale = message(MessageType::MsgHeartbeat, 9, 4);
        let answer = catch_up_answer(&view, &stale).expect("an answer");
        assert_eq!((answer.term, answer.reject), (5, false));
        assert!(catch_up_answer(&view, &message(MessageType::MsgRequestVote, 9, 6)).is_none());
        assert!(catch_up_answer(&view, &message(MessageType::MsgHeartbeat, 9, 0)).is_none());
        let leading = View {
            is_leader: true,
            ..view
        };
        assert!(catch_up_answer(&leading, &message(MessageType::MsgHeartbeat, 9, 5)).is_none());
    }
}
