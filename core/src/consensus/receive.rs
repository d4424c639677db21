//! Receiving a snapshot from the leader: its pairs are staged in the group's next data
//! generation as they stream in, the `MsgSnapshot` is stepped into raft-rs once every pair is
//! staged, and installing it makes the staged generation the live one (see [`crate::snapshot`]
//! for the whole path).

use raft::eraftpb::{Message, SnapshotMetadata};

use crate::consensus::group::write;
use crate::consensus::machine::Machine;
use crate::ids::{GroupId, NodeId};
use crate::snapshot::{decode_pairs, SnapshotDescriptor, SnapshotId};
use crate::storage::{ColumnFamily, DataRange, StateKey, Store, WriteBatch};
use crate::system::Directory;

/// A snapshot being received from the leader, staged in the next data generation.
#[derive(Debug)]
struct Receiving {
    id: SnapshotId,
    /// The `MsgSnapshot` that started it, stepped into raft-rs once every pair is staged.
    message: Message,
    /// What the leader announced: `pairs` is the number of pairs the transfer carries.
    descriptor: SnapshotDescriptor,
    /// Where the pairs are staged: the generation after the group's live data.
    staging: DataRange,
    /// Pairs staged so far; never more than `descriptor.pairs`.
    pairs_staged: u64,
}

/// The snapshot transfer one group is receiving, if any.
#[derive(Debug)]
pub(super) struct Receiver {
    /// This node, for the logs.
    node: NodeId,
    /// The group receiving, whose state keys the install writes.
    group: GroupId,
    /// The transfer in progress; a newer transfer replaces it.
    receiving: Option<Receiving>,
}

impl Receiver {
    /// Receives nothing yet.
    pub(super) fn new(node: NodeId, group: GroupId) -> Receiver {
        Receiver {
            node,
            group,
            receiving: None,
        }
    }

    /// Starts receiving the snapshot `message` (a `MsgSnapshot`) announces, staged after the
    /// live `data`: clears the staging generation of whatever an earlier, interrupted transfer
    /// left there. A newer transfer replaces one in progress. Returns false (and stages
    /// nothing) if the message does not carry a snapshot this version understands.
    pub(super) fn begin(
        &mut self,
        message: Message,
        data: DataRange,
        store: &mut dyn Store,
    ) -> bool {
        let Some(descriptor) = SnapshotDescriptor::decode(&message.get_snapshot().data) else {
            return false;
        };
        let id = SnapshotId::of(self.group, &message);
        let staging = data.next();
        clear_staging(self.group, data, store);
        tracing::info!(node = self.node.0, %id, pairs = descriptor.pairs, "receiving a snapshot");
        self.receiving = Some(Receiving {
            id,
            message,
            descriptor,
            staging,
            pairs_staged: 0,
        });
        true
    }

    /// Stages one chunk of the transfer `id`. Chunks of any other transfer are ignored; a
    /// malformed chunk or one with more pairs than announced abandons the transfer.
    pub(super) fn chunk(
        &mut self,
        id: SnapshotId,
        chunk: &[u8],
        data: DataRange,
        store: &mut dyn Store,
    ) {
        let Some(receiving) = self.receiving.as_mut().filter(|r| r.id == id) else {
            return;
        };
        let pairs = decode_pairs(chunk);
        let fits = pairs.as_ref().is_some_and(|pairs| {
            receiving.pairs_staged + pairs.len() as u64 <= receiving.descriptor.pairs
        });
        let Some(pairs) = pairs.filter(|_| fits) else {
            tracing::warn!(node = self.node.0, %id, "abandoning a malformed snapshot transfer");
            self.abandon(data, store);
            return;
        };
        let staging = receiving.staging;
        let mut batch = WriteBatch::new();
        for (key, record) in &pairs {
            batch.put(staging.cf(), staging.key(key), record.to_vec());
        }
        receiving.pairs_staged += pairs.len() as u64;
        write(store, batch, self.group, "staging a snapshot");
    }

    /// The `MsgSnapshot` that started the transfer `id`, if every pair it announced is staged:
    /// the caller steps it into raft-rs.
    pub(super) fn complete(&self, id: SnapshotId) -> Option<Message> {
        self.receiving
            .as_ref()
            .filter(|r| r.id == id && r.pairs_staged == r.descriptor.pairs)
            .map(|r| r.message.clone())
    }

    /// Drops the transfer in progress and clears what it staged after the live `data`.
    pub(super) fn abandon(&mut self, data: DataRange, store: &mut dyn Store) {
        self.receiving = None;
        clear_staging(self.group, data, store);
    }

    /// Installs the staged snapshot that `metadata` describes over the live `data` and
    /// `machine`: the staged generation becomes the live one, the old one is deleted and the
    /// applied index jumps to the snapshot's, all in `batch`. Returns the state machine over
    /// the new generation, and that generation.
    ///
    /// # Panics
    /// If the snapshot is not the one this node staged in full: only complete transfers are
    /// stepped into raft-rs.
    pub(super) fn install(
        &mut self,
        metadata: &SnapshotMetadata,
        data: DataRange,
        machine: &Machine,
        store: &dyn Store,
        batch: &mut WriteBatch,
    ) -> (Machine, DataRange) {
        let group = self.group;
        let receiving = self
            .receiving
            .take()
            .filter(|r| r.id.index == metadata.index && r.id.term == metadata.term)
            .unwrap_or_else(|| {
                panic!(
                    "group {group}: raft-rs restored snapshot {}/{} that was not staged",
                    metadata.index, metadata.term
                )
            });
        let old = data;
        let live = receiving.staging;
        let state_cf = ColumnFamily::raft_state(group);
        batch.delete_range(old.cf(), old.prefix().to_vec(), old.end());
        batch.put(
            state_cf,
            StateKey::DataGeneration.encode(group),
            live.generation.to_be_bytes().to_vec(),
        );
        batch.put(
            state_cf,
            StateKey::AppliedIndex.encode(group),
            metadata.index.to_be_bytes().to_vec(),
        );
        let machine = match machine {
            Machine::Data(old) => {
                let keyspace = old
                    .installed(live, receiving.descriptor.keyspace, store)
                    .unwrap_or_else(|e| panic!("group {group}: installed keyspace: {e}"));
                keyspace.finish_pass(batch);
                Machine::Data(keyspace)
            }
            Machine::System(_) => Machine::System(
                Directory::load(live, store)
                    .unwrap_or_else(|e| panic!("group {group}: installed directory: {e}")),
            ),
        };
        tracing::info!(
            node = self.node.0,
            id = %receiving.id,
            pairs = receiving.descriptor.pairs,
            generation = live.generation,
            "snapshot installed"
        );
        (machine, live)
    }
}

/// Clears the staging generation after the live `data` of `group`.
fn clear_staging(group: GroupId, data: DataRange, store: &mut dyn Store) {
    let staging = data.next();
    let mut batch = WriteBatch::new();
    batch.delete_range(staging.cf(), staging.prefix().to_vec(), staging.end());
    write(store, batch, group, "clearing staged data");
}
