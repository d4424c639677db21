//! Unit tests of one group: committed entries this version cannot apply.

use super::*;
use crate::ids::{ClientId, RequestId};
use crate::kv::{Keyspace, Member};
use crate::storage::MemStore;
use crate::system::Directory;
use bytes::Bytes;
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeSingle, ConfChangeType, ConfChangeV2};

fn config(group: GroupId) -> GroupConfig {
    GroupConfig::for_tests(NodeId(1), group)
}

/// Node 1's replica of a group of `voters`, over a fresh store; every `Persist` is durable
/// at once.
struct Replica {
    group: Group,
    store: MemStore,
    out: Outbox,
}

impl Replica {
    fn new(id: GroupId, voters: Vec<u64>) -> Replica {
        let mut store = MemStore::new();
        let log = LogView::bootstrap(id, voters);
        let mut batch = WriteBatch::new();
        log.initial_writes(&mut batch);
        store.write(batch).unwrap();
        let data = DataRange::first(id);
        let machine = if id.is_system() {
            Machine::System(Directory::load(data, &store).unwrap())
        } else {
            Machine::Data(Keyspace::load(data, &store, 65_536).unwrap())
        };
        let group = Group::new(&config(id), log, machine, data, 0).unwrap();
        Replica {
            group,
            store,
            out: Outbox::default(),
        }
    }

    /// Node 1 alone: it campaigns and leads.
    fn leader(id: GroupId) -> Replica {
        let mut replica = Replica::new(id, vec![1]);
        replica.group.raw.campaign().unwrap();
        replica.settle();
        assert!(replica.group.is_leader());
        replica
    }

    /// Drives the group, making each `Persist` durable, until nothing is left to do.
    fn settle(&mut self) {
        loop {
            self.group
                .drive(Instant::ZERO, &mut self.store, &mut self.out);
            let persists: Vec<PersistBatch> = std::mem::take(&mut self.out.outputs)
                .into_iter()
                .filter_map(|output| match output {
                    Output::Persist(batch) => Some(batch),
                    _ => None,
                })
                .collect();
            if persists.is_empty() {
                return;
            }
            for persist in persists {
                self.store.write(persist.batch).unwrap();
                self.group.on_persisted(
                    Instant::ZERO,
                    persist.ready_number,
                    &mut self.store,
                    &mut self.out,
                );
            }
        }
    }

    /// Node 2, leading term 1, appends one entry and commits it, as a leader does.
    fn commit_from_leader(&mut self, entry_type: EntryType, data: Vec<u8>) {
        let last = self.group.raw.raft.raft_log.last_index();
        let mut append = Message::default();
        append.set_msg_type(MessageType::MsgAppend);
        append.from = 2;
        append.to = 1;
        append.term = 1;
        append.index = last;
        append.log_term = self.group.raw.raft.raft_log.term(last).unwrap();
        append.commit = last + 1;
        append.entries.push(Entry {
            entry_type,
            term: 1,
            index: last + 1,
            data: data.into(),
            ..Entry::default()
        });
        assert!(matches!(self.group.admit(&append), Admission::Step));
        self.group.step(append).unwrap();
        self.settle();
        assert_eq!(self.group.applied_index, last + 1, "the entry applied");
    }

    fn key_count(&self) -> u64 {
        match self.group.machine() {
            Machine::Data(keyspace) => keyspace.key_count(),
            Machine::System(directory) => directory.record_count(),
        }
    }
}

fn command(args: &[&str]) -> Vec<u8> {
    Proposal::Command {
        unix_ms: 0,
        args: args
            .iter()
            .map(|arg| Bytes::copy_from_slice(arg.as_bytes()))
            .collect(),
    }
    .encode()
}

fn registration() -> Vec<u8> {
    Proposal::RegisterNode(Member {
        id: NodeId(2),
        client_addr: "node2:6379".to_owned(),
        internal_addr: "node2:7379".to_owned(),
    })
    .encode()
}

#[test]
fn committed_entries_this_version_cannot_apply_apply_as_nothing() {
    // Goal: an entry that commits but cannot apply (not a proposal, the other group's
    // kind, an unknown command, a read, a conf change that does not decode) applies as
    // nothing on a replica, which goes on applying what follows; it never panics (which
    // would stop every replica at that index, again at each restart). Method: a follower
    // of each kind of group takes each such entry from its leader, then a valid one.
    let garbage_conf_change = vec![0xff, 0xff, 0xff];
    let data_entries = [
        (EntryType::EntryNormal, vec![0xff, 1, 2, 3]),
        (EntryType::EntryNormal, vec![9]),
        (EntryType::EntryNormal, registration()),
        (EntryType::EntryNormal, command(&["FLY", "k"])),
        (EntryType::EntryNormal, command(&["GET", "k"])),
        (EntryType::EntryNormal, command(&[])),
        (EntryType::EntryConfChange, garbage_conf_change.clone()),
        (EntryType::EntryConfChangeV2, garbage_conf_change.clone()),
    ];
    let mut replica = Replica::new(GroupId::FIRST_DATA, vec![1, 2]);
    for (entry_type, data) in data_entries {
        replica.commit_from_leader(entry_type, data);
        assert_eq!(replica.key_count(), 0);
    }
    replica.commit_from_leader(EntryType::EntryNormal, command(&["SET", "k", "v"]));
    assert_eq!(replica.key_count(), 1);

    let mut system = Replica::new(GroupId::SYSTEM, vec![1, 2]);
    for (entry_type, data) in [
        (EntryType::EntryNormal, vec![0xff]),
        (EntryType::EntryNormal, command(&["SET", "k", "v"])),
        (EntryType::EntryConfChangeV2, garbage_conf_change),
    ] {
        system.commit_from_leader(entry_type, data);
        assert_eq!(system.key_count(), 0);
    }
    system.commit_from_leader(EntryType::EntryNormal, registration());
    assert_eq!(system.key_count(), 1);
    assert_eq!(
        system.group.raw.store().conf_state().voters,
        vec![1, 2],
        "the undecodable conf change changed nothing"
    );
}

#[test]
fn a_decodable_conf_change_still_applies() {
    // Goal: the no-op path is only for changes that do not decode. Method: a follower
    // takes a valid change adding learner 3 (both encodings).
    let mut replica = Replica::new(GroupId::FIRST_DATA, vec![1, 2]);
    let add = ConfChange {
        change_type: ConfChangeType::AddLearnerNode,
        node_id: 3,
        ..ConfChange::default()
    };
    replica.commit_from_leader(EntryType::EntryConfChange, add.write_to_bytes().unwrap());
    assert_eq!(replica.group.raw.store().conf_state().learners, vec![3]);
    let add = ConfChangeV2 {
        changes: vec![ConfChangeSingle {
            change_type: ConfChangeType::AddLearnerNode,
            node_id: 4,
            ..ConfChangeSingle::default()
        }]
        .into(),
        ..ConfChangeV2::default()
    };
    replica.commit_from_leader(EntryType::EntryConfChangeV2, add.write_to_bytes().unwrap());
    let mut learners = replica.group.raw.store().conf_state().learners.clone();
    learners.sort_unstable();
    assert_eq!(learners, vec![3, 4]);
}

#[test]
fn the_proposer_of_an_entry_that_cannot_apply_gets_an_error() {
    // Goal: whoever waits on such an entry is answered, with an error, not left to time
    // out. Method: a leader proposes garbage and waits on it.
    let mut leader = Replica::leader(GroupId::FIRST_DATA);
    leader.group.raw.propose(Vec::new(), vec![0xff, 0]).unwrap();
    let key = (ClientId(1), RequestId(1));
    leader.group.track_proposal(key, &mut leader.out);
    leader.settle();
    let replies: Vec<&Reply> = leader
        .out
        .completions
        .iter()
        .filter(|(k, _)| *k == key)
        .map(|(_, reply)| reply)
        .collect();
    assert_eq!(replies.len(), 1);
    assert!(replies[0].is_error(), "{:?}", replies[0]);
}
