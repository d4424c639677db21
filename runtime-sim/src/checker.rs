//! The checks after a run: replicas agree, the client history is linearizable, every
//! acknowledged write is in the applied logs, and the scenario's own [`Check`]s. Also the trace
//! hash, which folds the same evidence into one number that a replay must reproduce.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::time::Duration;

use bytes::Bytes;
use seshat_chaos::scenario::{Check, Scenario};
use seshat_chaos::{check, Completion, Operation, Outcome};
use seshat_core::storage::{inspect, Store};
use seshat_core::{GroupId, NodeId};

use crate::client::{Ending, Recording};
use crate::cluster::client_addr;
use crate::disk::SimDisk;
use crate::faults::Played;
use crate::run::Sample;

/// Everything a finished run left for the checks to read.
pub(crate) struct Evidence<'a> {
    pub(crate) scenario: &'a Scenario,
    /// What the clients did and saw.
    pub(crate) recording: &'a Recording,
    /// Each node's disk, crashed and removed nodes included.
    pub(crate) disks: &'a [(NodeId, SimDisk)],
    /// The same disks, as the stores the nodes read.
    pub(crate) stores: &'a [(NodeId, &'a dyn Store)],
    /// The data group's members at the end, as its leader sees them.
    pub(crate) members: &'a [NodeId],
    /// The data group's voters at the end, sorted; `None` without a leader or while in a joint
    /// configuration.
    pub(crate) voters: Option<&'a [u64]>,
    /// The faults, in the order they were played.
    pub(crate) played: &'a [Played],
    /// Every change in a node's view of the data group, in time order.
    pub(crate) samples: &'a [Sample],
    /// Whether the cluster served a write and every member caught up after healing.
    pub(crate) converged: bool,
}

impl Evidence<'_> {
    /// When step `step` of the schedule was played, if it was.
    fn played_at(&self, step: usize) -> Option<Duration> {
        self.played.get(step).map(|p| p.at)
    }

    /// Every check of the run, the ones every run gets and then the scenario's own: one line
    /// per failure.
    pub(crate) fn check(&self) -> Vec<String> {
        let mut failures = Vec::new();
        let compacted = |id: NodeId, group: GroupId| {
            self.disks
                .iter()
                .find(|(disk_id, _)| *disk_id == id)
                .map(|(_, disk)| disk.compacted_entries(group))
                .unwrap_or_default()
        };
        if let Err(violation) = inspect::check_replicas_with(
            self.stores,
            &[GroupId::SYSTEM, GroupId::FIRST_DATA],
            &compacted,
        ) {
            failures.push(format!("replicas: {violation}"));
        }
        match check(&self.recording.history) {
            Outcome::Linearizable => {}
            Outcome::NotLinearizable { key, explanation } => failures.push(format!(
                "not linearizable on key {:?}: {explanation}",
                String::from_utf8_lossy(&key)
            )),
            outcome @ (Outcome::Unknown { .. } | Outcome::Unsupported { .. }) => {
                failures.push(format!("linearizability undecided: {outcome}"))
            }
        }
        // Removed nodes stopped applying for good: the every-node checks are for members.
        let logs: Vec<AppliedLog> = applied_logs(self.disks)
            .into_iter()
            .filter(|log| self.members.contains(&log.node))
            .collect();
        for record in self.recording.history.records() {
            if let (Operation::Set { value, .. }, Completion::Returned { .. }) =
                (&record.operation, &record.completion)
            {
                let Some(index) = index_of(&logs, value) else {
                    failures.push(format!(
                        "acknowledged SET of {:?} ({}) is not in any node's applied log",
                        String::from_utf8_lossy(value),
                        record.id
                    ));
                    continue;
                };
                for log in &logs {
                    if self.converged && log.holds(value, index) == Some(false) {
                        failures.push(format!(
                            "acknowledged SET of {:?} ({}) is not in node {}'s applied log",
                            String::from_utf8_lossy(value),
                            record.id,
                            log.node
                        ));
                    }
                }
            }
        }
        for check in &self.scenario.checks {
            if let Some(failure) = self.scenario_check(check, &logs) {
                failures.push(format!("{check:?}: {failure}"));
            }
        }
        failures
    }

    /// Why one of the scenario's checks failed, if it did. `logs` are the members' applied
    /// logs.
    fn scenario_check(&self, check: &Check, logs: &[AppliedLog]) -> Option<String> {
        let Evidence {
            recording,
            stores,
            voters,
            played,
            samples,
            converged,
            ..
        } = *self;
        let at = |step: usize| self.played_at(step);
        let writes_answered = || {
            recording
                .ops
                .iter()
                .filter(|op| op.is_write && op.ending == Ending::Answered)
        };
        match *check {
            Check::NewLeaderWithin { step, within } => {
                let fault = played.get(step)?;
                let old = fault.nodes.first().copied();
                let elected = samples.iter().find(|s| {
                    s.at >= fault.at
                        && s.leader
                        && Some(s.node) != old
                        && s.term > fault.term_before
                });
                match elected {
                    Some(s) if s.at - fault.at <= within => None,
                    Some(s) => Some(format!(
                        "node {} led only after {:?}",
                        s.node,
                        s.at - fault.at
                    )),
                    None => Some("no new leader at all".to_owned()),
                }
            }
            Check::WritesResumeWithin { step, within } => {
                let from = at(step)?;
                let ok =
                    writes_answered().any(|op| op.invoked >= from && op.ended <= from + within);
                (!ok).then(|| {
                    format!("no write invoked after {from:?} was acknowledged within {within:?}")
                })
            }
            Check::MinorityRefusesWrites { from, to } => {
                let (start, end) = (at(from)?, at(to)?);
                let minority = client_addr(*played[from].nodes.first()?);
                if let Some(op) = writes_answered()
                    .find(|op| op.node == minority && op.invoked >= start && op.ended < end)
                {
                    return Some(format!("the minority node acknowledged {}", op.id));
                }
                let refused = recording.ops.iter().any(|op| {
                    op.node == minority
                        && op.is_write
                        && op.ending == Ending::NoQuorum
                        && op.invoked >= start
                        && op.invoked < end
                });
                (!refused)
                    .then(|| "the minority node never answered a write with NOQUORUM".to_owned())
            }
            Check::OldLeaderStepsDown { step, within } => {
                let fault = played.get(step)?;
                let old = *fault.nodes.first()?;
                if fault.leader_before != Some(old) {
                    return Some(format!("node {old} was not the leader when cut off"));
                }
                let stepped_down = samples
                    .iter()
                    .find(|s| s.node == old && s.at >= fault.at && (!s.leader || !s.up));
                match stepped_down {
                    Some(s) if s.at - fault.at <= within => None,
                    Some(s) => Some(format!("stepped down only after {:?}", s.at - fault.at)),
                    None => Some("never stepped down".to_owned()),
                }
            }
            Check::NoWriteAcknowledged { from, to } => {
                // Acknowledged before the majority came back. Not "invoked in the window and
                // ever acknowledged": a pipelined request reaches the node only once the
                // requests before it on its connection are answered, so one sent in the
                // window may be proposed after it and rightly commit.
                let (start, end) = (at(from)?, at(to)?);
                writes_answered()
                    .find(|op| op.invoked >= start && op.ended < end)
                    .map(|op| format!("{} was acknowledged with no majority up", op.id))
            }
            Check::IndeterminateWritesAllOrNothing => {
                if !converged {
                    return Some("the cluster never converged".to_owned());
                }
                for record in recording.history.records().filter(|r| r.is_indeterminate()) {
                    let Operation::Set { value, .. } = &record.operation else {
                        continue;
                    };
                    let Some(index) = index_of(logs, value) else {
                        continue; // In no log: it did not take effect.
                    };
                    if let Some(missing) = logs
                        .iter()
                        .find(|log| log.holds(value, index) == Some(false))
                    {
                        return Some(format!(
                            "{} is in some logs but not in node {}'s",
                            record.id, missing.node
                        ));
                    }
                }
                None
            }
            Check::AvailableUnder {
                step,
                ok_min_percent,
                p99_max,
            } => {
                let from = at(step)?;
                // A MOVED whose command went out again is routing, not a failure to serve.
                let ops: Vec<_> = recording
                    .ops
                    .iter()
                    .filter(|op| op.invoked >= from && op.ending != Ending::Moved)
                    .collect();
                let mut latencies: Vec<Duration> = ops
                    .iter()
                    .filter(|op| op.ending == Ending::Answered)
                    .map(|op| op.ended - op.invoked)
                    .collect();
                if ops.is_empty() || latencies.len() * 100 < ops.len() * ok_min_percent as usize {
                    return Some(format!(
                        "{} of {} operations succeeded",
                        latencies.len(),
                        ops.len()
                    ));
                }
                latencies.sort_unstable();
                let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
                (p99 > p99_max).then(|| format!("p99 latency {p99:?}"))
            }
            Check::NoElectionsAfterFirst => {
                let first_term = samples.iter().filter(|s| s.leader).map(|s| s.term).min()?;
                samples
                    .iter()
                    .find(|s| s.term > first_term)
                    .map(|s| format!("node {} reached term {} at {:?}", s.node, s.term, s.at))
            }
            Check::SnapshotsTaken { index_min } => stores.iter().find_map(|&(id, store)| {
                let index = inspect::snapshot_index(store, GroupId::FIRST_DATA).unwrap_or(0);
                (index < index_min)
                    .then(|| format!("node {id}'s log was compacted only to index {index}"))
            }),
            Check::SnapshotInstalled { step } => {
                let node = *played.get(step)?.nodes.first()?;
                let &(_, store) = stores.iter().find(|(id, _)| *id == node)?;
                let range = inspect::data_range(store, GroupId::FIRST_DATA).ok()?;
                (range.generation == 0).then(|| format!("node {node} installed no snapshot"))
            }
            Check::VotersAtEnd(ref expected) => match voters {
                Some(voters) if voters == expected.as_slice() => None,
                voters => Some(format!("the voters are {voters:?}")),
            },
            Check::LogEntriesAtMost(limit) => stores.iter().find_map(|&(id, store)| {
                let entries = inspect::log_entries(store, GroupId::FIRST_DATA).ok()?.len() as u64;
                (entries > limit).then(|| format!("node {id} holds {entries} log entries"))
            }),
        }
    }

    /// A hash of everything observable in the run (the faults as played, the samples, the
    /// clients' operations and the data each node holds): the same seed gives the same hash.
    pub(crate) fn trace_hash(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        for p in self.played {
            (p.at, format!("{:?}", p.fault), &p.nodes).hash(&mut hasher);
        }
        self.samples.hash(&mut hasher);
        for op in &self.recording.ops {
            (
                op.id.0,
                &op.node,
                op.invoked,
                op.ended,
                format!("{:?}", op.ending),
            )
                .hash(&mut hasher);
        }
        for record in self.recording.history.records() {
            format!("{:?}", record.completion).hash(&mut hasher);
        }
        for &(id, store) in self.stores {
            id.0.hash(&mut hasher);
            inspect::data_pairs(store, GroupId::FIRST_DATA)
                .unwrap_or_default()
                .hash(&mut hasher);
        }
        hasher.finish()
    }
}

/// What one node applied, as far as its disk shows it: the values its applied entries set,
/// compacted entries included. Entries it skipped by installing a snapshot are not there.
struct AppliedLog {
    node: NodeId,
    applied: u64,
    /// Indexes of the entries it holds, up to `applied`.
    held: BTreeSet<u64>,
    /// The index of each value set by one of those entries (the workload's values are unique).
    values: BTreeMap<Bytes, u64>,
}

impl AppliedLog {
    /// Whether the node applied the SET of `value` at `index`: `None` when it cannot tell,
    /// because a snapshot install covered that index.
    fn holds(&self, value: &Bytes, index: u64) -> Option<bool> {
        if self.values.contains_key(value) {
            Some(true)
        } else if index > self.applied || self.held.contains(&index) {
            Some(false)
        } else {
            None
        }
    }
}

/// Each disk's applied log of the data group.
fn applied_logs(disks: &[(NodeId, SimDisk)]) -> Vec<AppliedLog> {
    let group = GroupId::FIRST_DATA;
    disks
        .iter()
        .map(|(id, disk)| {
            let applied = inspect::applied_index(disk, group).unwrap_or(0);
            let mut entries = disk.compacted_entries(group);
            entries.extend(inspect::log_entries(disk, group).unwrap_or_default());
            let mut log = AppliedLog {
                node: *id,
                applied,
                held: BTreeSet::new(),
                values: BTreeMap::new(),
            };
            for entry in entries.iter().filter(|entry| entry.index <= applied) {
                log.held.insert(entry.index);
                for (_, value) in inspect::values_set(entry) {
                    log.values.insert(value, entry.index);
                }
            }
            log
        })
        .collect()
}

/// The index of the entry that set `value`, in whichever node's log still has it.
fn index_of(logs: &[AppliedLog], value: &Bytes) -> Option<u64> {
    logs.iter().find_map(|log| log.values.get(value).copied())
}
