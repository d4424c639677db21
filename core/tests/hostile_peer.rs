//! A broken or hostile peer against a three-node cluster on the in-process harness (issue 13,
//! point 2): whatever reaches a node's internal port, the node does not panic, a message from
//! a non-member changes nothing, and the cluster still commits a write afterwards.
//!
//! Method: a property test. Each case starts a fresh cluster from its seed, commits a SET,
//! then hands nodes a batch of forged messages ([`Cluster::inject`], the path the gRPC
//! handler's decoded messages take), between short stretches of normal traffic. A forged
//! message has a random type, sender, recipient and group, fields placed around the
//! recipient's own term and log (so they hit the interesting boundaries), and entries that are
//! empty, garbage, proposals of either kind or conf changes; some are random bytes decoded as
//! protobuf, as the gRPC handler decodes them. After each message that must be refused (its
//! sender is no member, it names another node or group, its type is local-only, it is a
//! proposal other than a follower's own registration, or its fields are ones raft-rs would
//! trip over) the recipient's state is checked unchanged and it wrote and answered nothing.
//! After the batch, a SET must commit and every replica must agree.
//!
//! Out of scope, as for Raft itself (a crash-fault model): a peer that impersonates a member
//! and forges log positions consistent with the recipient's log (appends or commit indexes
//! that match, acknowledgements of entries it does not have) can corrupt a replica; those
//! fields are moved out of that range for messages that claim to come from a member. Only
//! authenticating peers stops that. A removal notice claiming a member's name is not forged
//! either: a node believes it (it stops campaigning), by design.
//!
//! Cases: `PROPTEST_CASES` (default 48, a few seconds). The long run, 1M cases:
//! `PROPTEST_CASES=1000000 cargo test --release -p seshat-core --features testkit --test
//! hostile_peer -- --nocapture`. Each run prints its case count and time.
#![allow(clippy::disallowed_methods)] // Reads PROPTEST_CASES and times the run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use protobuf::Message as _;
use seshat_core::eraftpb::{
    ConfChange, ConfChangeSingle, ConfChangeType, ConfChangeV2, Entry, EntryType, Message,
    MessageType,
};
use seshat_core::testkit::{command_data, register_node_data, Cluster, ClusterOptions};
use seshat_core::{GroupId, NodeId, Reply, Request};

const MEMBERS: [u64; 3] = [1, 2, 3];
const CASES_DEFAULT: u32 = 48;

/// Forged messages handed to nodes, and how many of them had to be refused.
static MESSAGES: AtomicU64 = AtomicU64::new(0);
static REFUSED: AtomicU64 = AtomicU64::new(0);

/// A value placed relative to a base the recipient has (its term, its last index).
#[derive(Clone, Copy, Debug)]
enum Around {
    Zero,
    Below(u8),
    At,
    Above(u8),
    Huge,
    Max,
}

impl Around {
    fn at(self, base: u64) -> u64 {
        match self {
            Around::Zero => 0,
            Around::Below(k) => base.saturating_sub(u64::from(k)),
            Around::At => base,
            Around::Above(k) => base.saturating_add(u64::from(k)),
            Around::Huge => 1 << 40,
            Around::Max => u64::MAX,
        }
    }
}

fn around() -> impl Strategy<Value = Around> {
    prop_oneof![
        1 => Just(Around::Zero),
        3 => (1u8..4).prop_map(Around::Below),
        3 => Just(Around::At),
        3 => (1u8..4).prop_map(Around::Above),
        1 => Just(Around::Huge),
        1 => Just(Around::Max),
    ]
}

/// What an entry carries.
#[derive(Clone, Debug)]
enum Data {
    Empty,
    Garbage(Vec<u8>),
    /// The sender registering itself: what a follower forwards.
    RegisterSelf,
    /// The sender registering another node.
    RegisterOther(u64),
    /// A write, as a leader proposes one.
    Set,
    /// A conf change adding node 7, encoded the way its entry type says.
    AddNode,
}

#[derive(Clone, Debug)]
struct ForgedEntry {
    entry_type: EntryType,
    data: Data,
    /// Placed after the message's `index` when true (as an append's are), else anywhere.
    follows: bool,
    term: Around,
    context: Vec<u8>,
}

fn forged_entry() -> impl Strategy<Value = ForgedEntry> {
    let entry_type = prop_oneof![
        4 => Just(EntryType::EntryNormal),
        1 => Just(EntryType::EntryConfChange),
        1 => Just(EntryType::EntryConfChangeV2),
    ];
    let data = prop_oneof![
        1 => Just(Data::Empty),
        2 => proptest::collection::vec(any::<u8>(), 0..24).prop_map(Data::Garbage),
        2 => Just(Data::RegisterSelf),
        1 => (0u64..10).prop_map(Data::RegisterOther),
        1 => Just(Data::Set),
        1 => Just(Data::AddNode),
    ];
    let context = prop_oneof![
        4 => Just(Vec::new()),
        1 => proptest::collection::vec(any::<u8>(), 0..8),
    ];
    (entry_type, data, any::<bool>(), around(), context).prop_map(
        |(entry_type, data, follows, term, context)| ForgedEntry {
            entry_type,
            data,
            follows,
            term,
            context,
        },
    )
}

/// One forged message and where it goes.
#[derive(Clone, Debug)]
struct Shot {
    /// Virtual milliseconds of normal traffic before it.
    pause_ms: u8,
    /// The node it is handed to.
    target: u64,
    group: u64,
    /// `None`: addressed to `target`.
    to: Option<u64>,
    from: u64,
    msg_type: MessageType,
    term: Around,
    log_term: Around,
    index: Around,
    commit: Around,
    commit_term: Around,
    reject: bool,
    reject_hint: Around,
    request_snapshot: Around,
    entries: Vec<ForgedEntry>,
    context: Vec<u8>,
    /// When set, the message is these bytes decoded as protobuf (if they decode), sent by a
    /// non-member: what arbitrary bytes on the wire become.
    raw: Option<Vec<u8>>,
}

fn message_type() -> impl Strategy<Value = MessageType> {
    use MessageType::*;
    proptest::sample::select(vec![
        MsgHup,
        MsgBeat,
        MsgPropose,
        MsgAppend,
        MsgAppendResponse,
        MsgRequestVote,
        MsgRequestVoteResponse,
        MsgSnapshot,
        MsgHeartbeat,
        MsgHeartbeatResponse,
        MsgUnreachable,
        MsgSnapStatus,
        MsgCheckQuorum,
        MsgTransferLeader,
        MsgTimeoutNow,
        MsgReadIndex,
        MsgReadIndexResp,
        MsgRequestPreVote,
        MsgRequestPreVoteResponse,
    ])
}

fn shot() -> impl Strategy<Value = Shot> {
    let group = prop_oneof![
        5 => Just(1u64),
        4 => Just(0u64),
        1 => prop_oneof![Just(2u64), Just(99), Just(u64::MAX)],
    ];
    let to = prop_oneof![
        6 => Just(None),
        1 => prop_oneof![Just(0u64), 1u64..=3, Just(4), Just(u64::MAX)].prop_map(Some),
    ];
    // Another member most of the time (`None`: one of the recipient's two peers, picked
    // below), else the recipient itself (`Some(1..=3)` may be it) or ids no member has.
    let from = prop_oneof![
        8 => Just(None),
        1 => (1u64..=3).prop_map(Some),
        1 => Just(Some(0u64)),
        2 => (4u64..=9).prop_map(Some),
        1 => Just(Some(u64::MAX)),
        1 => any::<u64>().prop_map(Some),
    ];
    let raw = prop_oneof![
        6 => Just(None),
        1 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(Some),
    ];
    let fields = (
        around(),
        around(),
        around(),
        around(),
        around(),
        any::<bool>(),
        around(),
        around(),
    );
    (
        (
            0u8..60,
            1u64..=3,
            group,
            to,
            (from, 1u64..=3),
            message_type(),
        ),
        fields,
        proptest::collection::vec(forged_entry(), 0..4),
        proptest::collection::vec(any::<u8>(), 0..4),
        raw,
    )
        .prop_map(
            |(
                (pause_ms, target, group, to, (from, peer), msg_type),
                (term, log_term, index, commit, commit_term, reject, reject_hint, request_snapshot),
                entries,
                context,
                raw,
            )| Shot {
                pause_ms,
                target,
                group,
                to,
                from: from.unwrap_or((target + peer - 1) % 3 + 1),
                msg_type,
                term,
                log_term,
                index,
                commit,
                commit_term,
                reject,
                reject_hint,
                request_snapshot,
                entries,
                context,
                raw,
            },
        )
}

/// The recipient's view of the group the message names, to place fields around.
#[derive(Clone, Copy, Debug, Default)]
struct Base {
    term: u64,
    is_leader: bool,
    last_index: u64,
    commit_index: u64,
}

fn base(cluster: &Cluster, node: u64, group: u64) -> Base {
    cluster
        .node(NodeId(node))
        .and_then(|n| n.status().into_iter().find(|s| s.group == GroupId(group)))
        .map(|s| Base {
            term: s.term,
            is_leader: s.role == seshat_core::StateRole::Leader,
            last_index: s.last_index,
            commit_index: s.commit_index,
        })
        .unwrap_or_default()
}

fn entry_data(data: &Data, entry_type: EntryType, from: u64) -> Vec<u8> {
    let add_node = || ConfChangeSingle {
        change_type: ConfChangeType::AddNode,
        node_id: 7,
        ..ConfChangeSingle::default()
    };
    match data {
        Data::Empty => Vec::new(),
        Data::Garbage(bytes) => bytes.clone(),
        Data::RegisterSelf => register_node_data(NodeId(from), "forged:6379", "forged:7379"),
        Data::RegisterOther(node) => {
            register_node_data(NodeId(*node), "forged:6379", "forged:7379")
        }
        Data::Set => command_data(&[b"SET", b"forged", b"1"]),
        Data::AddNode if entry_type == EntryType::EntryConfChange => ConfChange {
            change_type: ConfChangeType::AddNode,
            node_id: 7,
            ..ConfChange::default()
        }
        .write_to_bytes()
        .expect("encodes"),
        Data::AddNode => ConfChangeV2 {
            changes: vec![add_node()].into(),
            ..ConfChangeV2::default()
        }
        .write_to_bytes()
        .expect("encodes"),
    }
}

/// The message `shot` describes, placed around the recipient's state.
fn forge(shot: &Shot, cluster: &Cluster) -> Message {
    let base = base(cluster, shot.target, shot.group);
    if let Some(bytes) = &shot.raw {
        let mut message = Message::parse_from_bytes(bytes).unwrap_or_default();
        // Random bytes sent by a member would be a forged member (see the crate docs).
        if MEMBERS.contains(&message.from) {
            message.from = 9;
        }
        if shot.to.is_none() {
            message.to = shot.target;
        }
        return message;
    }
    let mut message = Message {
        msg_type: shot.msg_type,
        to: shot.to.unwrap_or(shot.target),
        from: shot.from,
        term: shot.term.at(base.term),
        log_term: shot.log_term.at(base.term),
        index: shot.index.at(base.last_index),
        commit: shot.commit.at(base.last_index),
        commit_term: shot.commit_term.at(base.term),
        reject: shot.reject,
        reject_hint: shot.reject_hint.at(base.last_index),
        request_snapshot: shot.request_snapshot.at(base.last_index),
        context: shot.context.clone().into(),
        ..Message::default()
    };
    let mut next = message.index;
    for forged in &shot.entries {
        let index = if forged.follows {
            next = next.wrapping_add(1);
            next
        } else {
            forged.term.at(base.last_index)
        };
        message.entries.push(Entry {
            entry_type: forged.entry_type,
            term: forged.term.at(base.term),
            index,
            data: entry_data(&forged.data, forged.entry_type, shot.from).into(),
            context: forged.context.clone().into(),
            ..Entry::default()
        });
    }
    if is_member(message.from) {
        defang(&mut message, base);
    }
    message
}

fn is_member(node: u64) -> bool {
    MEMBERS.contains(&node)
}

/// Moves the fields of a message that claims a member's name out of the range where they
/// would be a forgery consistent with the recipient's log (see the crate docs), and drops a
/// member's removal notice.
fn defang(message: &mut Message, base: Base) {
    use MessageType::*;
    let unsettled = base.commit_index..=base.last_index;
    match message.get_msg_type() {
        MsgUnreachable => message.from = 9,
        // An append that could match the log: probe past its end instead.
        MsgAppend if message.log_term > 0 && unsettled.contains(&message.index) => {
            let shift = base.last_index + 1 - message.index;
            message.index += shift;
            for entry in message.entries.iter_mut() {
                entry.index = entry.index.wrapping_add(shift);
            }
        }
        // A commit index inside the log would commit entries a quorum may not have.
        MsgHeartbeat if unsettled.contains(&message.commit) => message.commit = base.commit_index,
        MsgRequestVote | MsgRequestPreVote | MsgRequestVoteResponse | MsgRequestPreVoteResponse => {
            message.commit_term = 0
        }
        MsgReadIndexResp if message.index <= base.last_index => message.index = base.commit_index,
        // A forged acknowledgement would let a leader count a replica it does not have.
        MsgAppendResponse if !message.reject && message.index <= base.last_index => {
            message.index = 0
        }
        _ => {}
    }
}

/// Whether the recipient must refuse `message` without any change: the rules of issue 13,
/// point 2, restated from the outside.
fn must_be_refused(message: &Message, target: u64, group: u64, base: Base) -> bool {
    use MessageType::*;
    if group > 1 || message.to != target || !is_member(message.from) || message.from == target {
        return true;
    }
    match message.get_msg_type() {
        MsgHup | MsgBeat | MsgSnapStatus | MsgCheckQuorum | MsgSnapshot => true,
        MsgPropose => !is_own_registration(message, group),
        MsgReadIndex => message.term != 0 || message.entries.len() != 1,
        _ if message.term == 0 => true,
        MsgHeartbeat => message.commit > base.last_index,
        MsgAppend => !entries_follow(message),
        MsgTransferLeader => !(base.is_leader && message.term == base.term),
        _ => false,
    }
}

/// A follower's forwarded registration: the one proposal a peer may send.
fn is_own_registration(message: &Message, group: u64) -> bool {
    let [entry] = message.entries.as_slice() else {
        return false;
    };
    group == 0
        && message.term == 0
        && entry.get_entry_type() == EntryType::EntryNormal
        && entry.context.is_empty()
        && entry.data.as_ref()
            == register_node_data(NodeId(message.from), "forged:6379", "forged:7379")
}

/// Whether an append's entries follow its `index` one by one, with terms that never go down
/// and never pass the message's term.
fn entries_follow(message: &Message) -> bool {
    let mut index = message.index;
    let mut term = message.log_term;
    if term == 0 && index != 0 || term > message.term {
        return false;
    }
    for entry in message.get_entries() {
        let Some(next) = index.checked_add(1) else {
            return false;
        };
        if entry.index != next || entry.term < term.max(1) || entry.term > message.term {
            return false;
        }
        index = next;
        term = entry.term;
    }
    true
}

/// What a message may not change on its recipient.
fn state(cluster: &Cluster, node: u64) -> (Vec<seshat_core::GroupStatus>, bool) {
    let live = cluster.node(NodeId(node)).expect("nodes stay up");
    (live.status(), live.is_removed())
}

/// Sends SET to whichever node leads the data group until one answers OK, or `within` passes.
fn commit_a_set(cluster: &mut Cluster, key: &str, within: Duration) -> Option<Reply> {
    let deadline = cluster.elapsed() + within;
    let mut last = None;
    while cluster.elapsed() < deadline {
        let Some(leader) =
            cluster.wait_for_stable_leader(GroupId::FIRST_DATA, Duration::from_secs(5), &[])
        else {
            continue;
        };
        let args = ["SET", key, "v"].map(|word| bytes::Bytes::from(word.to_owned()));
        let request = Request::from(
            seshat_core::Call::parse(args.to_vec(), &Default::default()).expect("SET parses"),
        );
        last = cluster.call(leader, request, Duration::from_secs(6));
        if last == Some(Reply::ok()) {
            return last;
        }
    }
    last
}

fn run_case(seed: u64, shots: &[Shot]) -> Result<(), TestCaseError> {
    let mut cluster = Cluster::new(ClusterOptions::new(seed));
    for group in [GroupId::SYSTEM, GroupId::FIRST_DATA] {
        cluster.wait_for_stable_leader(group, Duration::from_secs(10), &[]);
    }
    prop_assert_eq!(
        commit_a_set(&mut cluster, "before", Duration::from_secs(20)),
        Some(Reply::ok())
    );
    for shot in shots {
        cluster.run_for(Duration::from_millis(u64::from(shot.pause_ms)));
        let message = forge(shot, &cluster);
        let base = base(&cluster, shot.target, shot.group);
        let refused = must_be_refused(&message, shot.target, shot.group, base);
        MESSAGES.fetch_add(1, Ordering::Relaxed);
        REFUSED.fetch_add(u64::from(refused), Ordering::Relaxed);
        let before = state(&cluster, shot.target);
        let shown = format!("{message:?}");
        let injected = cluster.inject(NodeId(shot.target), GroupId(shot.group), message);
        if refused {
            prop_assert_eq!(
                &state(&cluster, shot.target),
                &before,
                "node {} changed on {}",
                shot.target,
                shown
            );
            prop_assert_eq!(
                injected.persisted,
                0,
                "node {} persisted on {}",
                shot.target,
                shown
            );
            prop_assert_eq!(
                injected.replied,
                0,
                "node {} replied on {}",
                shot.target,
                shown
            );
        }
    }
    prop_assert_eq!(
        commit_a_set(&mut cluster, "after", Duration::from_secs(60)),
        Some(Reply::ok()),
        "no SET committed after the batch"
    );
    cluster.assert_consistent();
    Ok(())
}

#[test]
fn hostile_peers_neither_crash_nor_move_a_node() {
    let cases = std::env::var("PROPTEST_CASES")
        .map(|n| n.parse().expect("PROPTEST_CASES is a number"))
        .unwrap_or(CASES_DEFAULT);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = (any::<u64>(), proptest::collection::vec(shot(), 1..16));
    let started = std::time::Instant::now();
    let result = runner.run(&strategy, |(seed, shots)| run_case(seed, &shots));
    println!(
        "hostile_peer: {cases} cases, {} forged messages ({} that must be refused) in {:.1?}",
        MESSAGES.load(Ordering::Relaxed),
        REFUSED.load(Ordering::Relaxed),
        started.elapsed()
    );
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
