//! One seeded run of a scenario: start the cluster and the clients, play the fault schedule,
//! heal, wait for the cluster to converge and serve, then check everything.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use madsim::net::NetSim;
use madsim::rand::{thread_rng, Rng};
use madsim::runtime::{Handle, Runtime};
use seshat_chaos::scenario::{self, Check, Fault, Scenario, Target};
use seshat_chaos::{check, Completion, Operation, Outcome};
use seshat_core::storage::{inspect, Store};
use seshat_core::{GroupId, NodeId, PlantedBug, StateRole};
use tokio::time::Instant;

use crate::client::{run_client, Ending, Recording, Workload};
use crate::cluster::{client_addr, internal_addr, ClusterOptions, SimCluster};
use crate::disk::SimDisk;

/// How often the harness looks at the nodes' published state.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);
/// How long the cluster may take to elect its first leader.
const FIRST_LEADER_MAX: Duration = Duration::from_secs(10);
/// After every fault is healed, how long the cluster may take to serve a write and bring every
/// node up to date: the liveness bound.
const CONVERGE_MAX: Duration = Duration::from_secs(30);
/// A client gives up on a reply after this long (the nodes answer `-NOQUORUM` sooner).
const REPLY_TIMEOUT: Duration = Duration::from_secs(4);
/// Lines of one failure's explanation a report shows.
const FAILURE_LINES_MAX: usize = 60;
/// A run longer than this in simulated time is a hang.
const SIMULATED_TIME_MAX: Duration = Duration::from_secs(600);

/// What can vary between runs of one scenario besides the seed.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// A bug planted in every node, to show the checks catch it.
    pub planted_bug: Option<PlantedBug>,
    /// Concurrent clients.
    pub clients: u64,
    /// Keys the clients share.
    pub keys: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            planted_bug: None,
            clients: 4,
            keys: 5,
        }
    }
}

/// What one run did and found.
#[derive(Clone, Debug)]
pub struct Report {
    /// The scenario.
    pub scenario: &'static str,
    /// The seed.
    pub seed: u64,
    /// Simulated time the run took.
    pub simulated: Duration,
    /// Operations the clients invoked.
    pub operations: usize,
    /// Operations answered normally.
    pub answered: usize,
    /// Operations whose effect the client never learned (timeouts, `-NOQUORUM` to a write).
    pub indeterminate: usize,
    /// Snapshots the nodes installed from a leader, summed over the data group's nodes.
    pub snapshot_installs: u64,
    /// The faults as played, one line each.
    pub faults: Vec<String>,
    /// Every check that failed, with why.
    pub failures: Vec<String>,
    /// A hash of everything observable in the run: the same seed gives the same hash.
    pub trace_hash: u64,
}

impl Report {
    /// Whether every check held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The command that replays this run exactly.
    pub fn reproduce(&self, planted_bug: Option<PlantedBug>) -> String {
        let bug = planted_bug.map_or(String::new(), |bug| format!(" --plant {}", bug_name(bug)));
        format!(
            "scripts/sim.sh run --scenario {} --seed {}{bug}",
            self.scenario, self.seed
        )
    }
}

/// The command-line name of a planted bug.
pub fn bug_name(bug: PlantedBug) -> &'static str {
    match bug {
        PlantedBug::AckBeforeCommit => "ack-before-commit",
        PlantedBug::ReadWithoutReadIndex => "read-without-read-index",
    }
}

/// The planted bug called `name`.
pub fn bug_by_name(name: &str) -> Option<PlantedBug> {
    [
        PlantedBug::AckBeforeCommit,
        PlantedBug::ReadWithoutReadIndex,
    ]
    .into_iter()
    .find(|&bug| bug_name(bug) == name)
}

/// Runs `scenario` with `seed` in a fresh simulation. A panic anywhere in the simulation (a
/// node's assertion, say) becomes a failure of the report.
pub fn run(scenario: &Scenario, seed: u64, options: &RunOptions) -> Report {
    let mut config = madsim::Config::default();
    config.net.send_latency = scenario.network.latency.0..scenario.network.latency.1;
    config.net.packet_loss_rate = scenario.network.loss;
    let mut runtime = Runtime::with_seed_and_config(seed, config);
    runtime.set_time_limit(SIMULATED_TIME_MAX);
    let played = std::panic::catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(play(scenario.clone(), seed, options.clone()))
    }));
    played.unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic without a message".to_owned());
        Report {
            scenario: scenario.name,
            seed,
            simulated: Duration::ZERO,
            operations: 0,
            answered: 0,
            indeterminate: 0,
            snapshot_installs: 0,
            faults: Vec::new(),
            failures: vec![format!("the simulation panicked: {message}")],
            trace_hash: 0,
        }
    })
}

/// A fault as it was played.
#[derive(Clone, Debug)]
struct Played {
    at: Duration,
    fault: Fault,
    /// The nodes it hit.
    nodes: Vec<NodeId>,
    /// The data group's leader and term just before.
    leader_before: Option<NodeId>,
    term_before: u64,
}

/// A change in one node's view of the data group.
#[derive(Clone, Debug, Hash)]
struct Sample {
    at: Duration,
    node: NodeId,
    up: bool,
    leader: bool,
    term: u64,
}

struct Observer {
    start: Instant,
    samples: Vec<Sample>,
    last: BTreeMap<NodeId, (bool, bool, u64)>,
}

impl Observer {
    fn sample(&mut self, cluster: &SimCluster) {
        let at = self.start.elapsed();
        for id in cluster.ids() {
            let view = cluster.data_group(id);
            let now = match &view {
                Some(group) => (true, group.role == StateRole::Leader, group.term),
                None => (false, false, 0),
            };
            if self.last.insert(id, now) != Some(now) {
                self.samples.push(Sample {
                    at,
                    node: id,
                    up: now.0,
                    leader: now.1,
                    term: now.2,
                });
            }
        }
    }
}

async fn play(scenario: Scenario, seed: u64, options: RunOptions) -> Report {
    let base_latency = scenario.network.latency;
    let cluster_options = ClusterOptions {
        clock_offset_max: scenario.clocks.offset_max,
        drift_ppm_max: scenario.clocks.drift_ppm_max,
        planted_bug: options.planted_bug,
        snapshot_interval_entries: scenario
            .snapshot_interval_entries
            .unwrap_or(ClusterOptions::default().snapshot_interval_entries),
        ..ClusterOptions::default()
    };
    let mut cluster = SimCluster::start(&cluster_options);
    let mut failures = Vec::new();
    let schedule = if scenario.number == 0 {
        scenario::nemesis_schedule(scenario.duration, |n| thread_rng().gen_range(0..n))
    } else {
        scenario.schedule.clone()
    };

    // The first election, before any client or fault.
    let boot = Instant::now();
    while cluster.leader().is_none() && boot.elapsed() < FIRST_LEADER_MAX {
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    if cluster.leader().is_none() {
        failures.push(format!("no leader within {FIRST_LEADER_MAX:?} of boot"));
    }

    let start = Instant::now();
    let mut observer = Observer {
        start,
        samples: Vec::new(),
        last: BTreeMap::new(),
    };
    observer.sample(&cluster);
    let recording = Arc::new(Mutex::new(Recording::default()));
    let clients_node = Handle::current()
        .create_node()
        .name("clients")
        .ip(IpAddr::from([10, 0, 1, 1]))
        .build();
    let workload = Workload {
        nodes: cluster.ids().into_iter().map(client_addr).collect(),
        keys: options.keys,
        reply_timeout: REPLY_TIMEOUT,
        start,
        until: start + scenario.duration,
    };
    let clients: Vec<_> = (1..=options.clients)
        .map(|client| clients_node.spawn(run_client(client, workload.clone(), recording.clone())))
        .collect();

    // The fault schedule.
    let mut played: Vec<Played> = Vec::new();
    let mut paused: Vec<(Duration, NodeId)> = Vec::new();
    let mut removals = Vec::new();
    let mut steps = schedule.iter().peekable();
    while start.elapsed() < scenario.duration {
        paused.retain(|&(until, id)| {
            let due = until <= start.elapsed();
            if due {
                cluster.resume(id);
            }
            !due
        });
        while let Some(step) = steps.next_if(|step| step.at <= start.elapsed()) {
            let hit = apply(
                &mut cluster,
                &step.fault,
                &played,
                base_latency,
                &mut observer,
            )
            .await;
            if let Fault::RemoveNode(_) = step.fault {
                // An operator's command, running while the schedule goes on.
                let removed = hit.0[0];
                let via = cluster
                    .members()
                    .into_iter()
                    .find(|&id| id != removed && cluster.is_up(id))
                    .unwrap_or(NodeId(1));
                let admin = seshat_runtime_tokio::admin::Admin::new(internal_addr(via));
                let task = clients_node.spawn(async move { admin.remove_node(removed.0).await });
                removals.push((removed, task));
            }
            if let Fault::Pause(_, pause) = step.fault {
                paused.extend(hit.0.iter().map(|&id| (start.elapsed() + pause, id)));
            }
            played.push(Played {
                at: start.elapsed(),
                fault: step.fault.clone(),
                nodes: hit.0,
                leader_before: hit.1,
                term_before: hit.2,
            });
        }
        observer.sample(&cluster);
        tokio::time::sleep(SAMPLE_EVERY).await;
    }

    // Heal: every link, the latency, every node.
    let healed_at = start.elapsed();
    cluster.heal();
    set_latency(base_latency, Duration::ZERO);
    set_loss(scenario.network.loss);
    for (_, id) in paused {
        cluster.resume(id);
    }
    for id in cluster.ids() {
        cluster.restart(id);
    }
    for client in clients {
        client.await.expect("a client task");
    }
    for (removed, task) in removals {
        match tokio::time::timeout(CONVERGE_MAX, task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => {
                failures.push(format!("liveness: removing node {removed}: {error:#}"))
            }
            Ok(Err(_)) => failures.push(format!("removing node {removed}: the task failed")),
            Err(_) => failures.push(format!(
                "liveness: removing node {removed} did not finish within {CONVERGE_MAX:?} of healing"
            )),
        }
    }
    if let Some(expected) = scenario.checks.iter().find_map(|check| match check {
        Check::VotersAtEnd(voters) => Some(voters.clone()),
        _ => None,
    }) {
        // Joining nodes finish joining on their own once the cluster has healed.
        let deadline = Instant::now() + CONVERGE_MAX;
        while voters_at_leader(&cluster).as_ref() != Some(&expected) && Instant::now() < deadline {
            observer.sample(&cluster);
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
    }
    let converged = converge(&cluster, &clients_node, &mut observer).await;
    if let Err(why) = &converged {
        failures.push(format!(
            "liveness: {why} within {CONVERGE_MAX:?} of healing at {healed_at:?}"
        ));
    }
    let simulated = start.elapsed();

    let recording = std::mem::take(&mut *recording.lock().expect("recording lock"));
    let disks = cluster.disks();
    let stores: Vec<(NodeId, &dyn Store)> = disks
        .iter()
        .map(|(id, disk)| (*id, disk as &dyn Store))
        .collect();
    let members = cluster.members();
    let voters = voters_at_leader(&cluster);
    failures.extend(check_run(
        &scenario,
        &recording,
        &disks,
        &stores,
        &members,
        voters.as_deref(),
        &played,
        &observer.samples,
        converged.is_ok(),
    ));

    if std::env::var_os("SESHAT_SIM_OPS").is_some() {
        for op in &recording.ops {
            eprintln!("{op:?}");
        }
    }
    let operations = recording.ops.len();
    let answered = recording
        .ops
        .iter()
        .filter(|op| op.ending == Ending::Answered)
        .count();
    let indeterminate = recording
        .history
        .records()
        .filter(|record| record.is_indeterminate())
        .count();
    let faults = played
        .iter()
        .map(|p| {
            format!(
                "{:>9.3}s {:?} -> nodes {:?}",
                p.at.as_secs_f64(),
                p.fault,
                p.nodes
            )
        })
        .collect();
    let trace_hash = trace_hash(&recording, &played, &observer.samples, &stores);
    // Each install moves a node's data to the next generation.
    let snapshot_installs = stores
        .iter()
        .filter_map(|&(_, store)| inspect::data_range(store, GroupId::FIRST_DATA).ok())
        .map(|range| u64::from(range.generation))
        .sum();
    Report {
        scenario: scenario.name,
        seed,
        simulated,
        operations,
        answered,
        indeterminate,
        snapshot_installs,
        faults,
        failures,
        trace_hash,
    }
}

/// Plays one fault. Returns the nodes it hit and the leader and term before it.
async fn apply(
    cluster: &mut SimCluster,
    fault: &Fault,
    played: &[Played],
    base_latency: (Duration, Duration),
    observer: &mut Observer,
) -> (Vec<NodeId>, Option<NodeId>, u64) {
    if matches!(
        fault,
        Fault::Crash(Target::Leader)
            | Fault::Isolate(Target::Leader)
            | Fault::CutInbound(Target::Leader)
            | Fault::Pause(Target::Leader, _)
    ) {
        // A leader-targeted fault waits (briefly) for there to be one.
        let waited = Instant::now();
        while cluster.leader().is_none() && waited.elapsed() < Duration::from_secs(3) {
            observer.sample(cluster);
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
    }
    let leader = cluster.leader();
    let term = leader
        .and_then(|id| cluster.data_group(id))
        .map_or(0, |group| group.term);
    let resolve = |target: Target| -> NodeId {
        match target {
            Target::Leader => leader.unwrap_or(NodeId(1)),
            Target::Follower => cluster
                .ids()
                .into_iter()
                .find(|&id| Some(id) != leader && cluster.is_up(id))
                .unwrap_or(NodeId(1)),
            Target::SameAs(step) => played[step].nodes[0],
            Target::Node(id) => NodeId(id),
        }
    };
    let nodes = match *fault {
        Fault::Crash(target) => {
            let id = resolve(target);
            cluster.crash(id);
            vec![id]
        }
        Fault::Restart(target) => {
            let id = resolve(target);
            cluster.restart(id);
            vec![id]
        }
        Fault::CrashAll => {
            let up: Vec<NodeId> = cluster
                .ids()
                .into_iter()
                .filter(|&id| cluster.is_up(id))
                .collect();
            for &id in &up {
                cluster.crash(id);
            }
            up
        }
        Fault::RestartAll => {
            let down: Vec<NodeId> = cluster
                .ids()
                .into_iter()
                .filter(|&id| !cluster.is_up(id))
                .collect();
            for &id in &down {
                cluster.restart(id);
            }
            down
        }
        Fault::Isolate(target) => {
            let id = resolve(target);
            cluster.isolate(id);
            vec![id]
        }
        Fault::CutInbound(target) => {
            let id = resolve(target);
            cluster.cut_inbound(id);
            vec![id]
        }
        Fault::Pause(target, _) => {
            let id = resolve(target);
            cluster.pause(id);
            vec![id]
        }
        Fault::Heal => {
            cluster.heal();
            Vec::new()
        }
        Fault::Latency(extra) => {
            set_latency(base_latency, extra);
            Vec::new()
        }
        Fault::PacketLoss(percent) => {
            set_loss(f64::from(percent) / 100.0);
            Vec::new()
        }
        Fault::AddNode(id) => {
            // Join through a member that is up: the leader if there is one.
            let via = leader
                .or_else(|| cluster.members().into_iter().find(|&m| cluster.is_up(m)))
                .unwrap_or(NodeId(1));
            cluster.add_node(NodeId(id), via);
            vec![NodeId(id)]
        }
        // The caller starts the operator's command.
        Fault::RemoveNode(target) => vec![resolve(target)],
    };
    (nodes, leader, term)
}

fn set_loss(rate: f64) {
    NetSim::current().update_config(|config| config.packet_loss_rate = rate);
}

fn set_latency(base: (Duration, Duration), extra: Duration) {
    NetSim::current().update_config(|config| {
        config.send_latency = base.0 + extra..base.1 + extra;
    });
}

/// After healing: a write must succeed and every node must apply everything committed.
async fn converge(
    cluster: &SimCluster,
    clients_node: &madsim::runtime::NodeHandle,
    observer: &mut Observer,
) -> Result<(), String> {
    let deadline = Instant::now() + CONVERGE_MAX;
    let probe = clients_node.spawn(probe_write(
        cluster.ids().into_iter().map(client_addr).collect(),
        deadline,
    ));
    let wrote = probe.await.expect("the probe task");
    if !wrote {
        return Err("no write succeeded".to_owned());
    }
    loop {
        observer.sample(cluster);
        // Removed nodes stay behind for good: only members must catch up.
        let groups: Vec<_> = cluster
            .members()
            .into_iter()
            .map(|id| cluster.data_group(id))
            .collect();
        let commit = groups
            .iter()
            .flatten()
            .map(|g| g.commit_index)
            .max()
            .unwrap_or(0);
        if groups
            .iter()
            .all(|g| g.as_ref().is_some_and(|g| g.applied_index >= commit))
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let applied: Vec<String> = groups
                .iter()
                .map(|g| {
                    g.as_ref()
                        .map_or("down".to_owned(), |g| g.applied_index.to_string())
                })
                .collect();
            return Err(format!(
                "nodes did not catch up to commit {commit} (applied: {applied:?})"
            ));
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
}

/// The data group's voters at its leader, sorted, once it is in no joint configuration.
fn voters_at_leader(cluster: &SimCluster) -> Option<Vec<u64>> {
    let group = cluster.data_group(cluster.leader()?)?;
    if !group.voters_outgoing.is_empty() {
        return None;
    }
    let mut voters = group.voters;
    voters.sort_unstable();
    Some(voters)
}

/// Sets a probe key until some node acknowledges it or `deadline` passes.
async fn probe_write(nodes: Vec<String>, deadline: Instant) -> bool {
    let mut attempt = 0u64;
    while Instant::now() < deadline {
        attempt += 1;
        let value = format!("probe-{attempt}");
        if crate::client::set_once(&nodes, b"probe", value.as_bytes(), REPLY_TIMEOUT).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Every check of the run: the ones every run gets, then the scenario's own.
#[allow(clippy::too_many_arguments)]
fn check_run(
    scenario: &Scenario,
    recording: &Recording,
    disks: &[(NodeId, SimDisk)],
    stores: &[(NodeId, &dyn Store)],
    members: &[NodeId],
    voters: Option<&[u64]>,
    played: &[Played],
    samples: &[Sample],
    converged: bool,
) -> Vec<String> {
    let mut failures = Vec::new();
    let compacted = |id: NodeId, group: GroupId| {
        disks
            .iter()
            .find(|(disk_id, _)| *disk_id == id)
            .map(|(_, disk)| disk.compacted_entries(group))
            .unwrap_or_default()
    };
    if let Err(violation) =
        inspect::check_replicas_with(stores, &[GroupId::SYSTEM, GroupId::FIRST_DATA], &compacted)
    {
        failures.push(format!("replicas: {violation}"));
    }
    match check(&recording.history) {
        Outcome::Linearizable => {}
        Outcome::NotLinearizable { key, explanation } => failures.push(format!(
            "not linearizable on key {:?}: {explanation}",
            String::from_utf8_lossy(&key)
        )),
        outcome @ Outcome::Unknown { .. } => {
            failures.push(format!("linearizability undecided: {outcome:?}"))
        }
    }
    // Removed nodes stopped applying for good: the every-node checks are for members.
    let logs: Vec<AppliedLog> = applied_logs(disks)
        .into_iter()
        .filter(|log| members.contains(&log.node))
        .collect();
    for record in recording.history.records() {
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
                if converged && log.holds(value, index) == Some(false) {
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
    let at = |step: usize| played.get(step).map(|p| p.at);
    for check in &scenario.checks {
        if let Some(failure) = scenario_check(
            check, recording, stores, voters, played, samples, &logs, &at, converged,
        ) {
            failures.push(format!("{check:?}: {failure}"));
        }
    }
    failures
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

#[allow(clippy::too_many_arguments)]
fn scenario_check(
    check: &Check,
    recording: &Recording,
    stores: &[(NodeId, &dyn Store)],
    voters: Option<&[u64]>,
    played: &[Played],
    samples: &[Sample],
    logs: &[AppliedLog],
    at: &dyn Fn(usize) -> Option<Duration>,
    converged: bool,
) -> Option<String> {
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
                s.at >= fault.at && s.leader && Some(s.node) != old && s.term > fault.term_before
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
            let ok = writes_answered().any(|op| op.invoked >= from && op.ended <= from + within);
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
            (!refused).then(|| "the minority node never answered a write with NOQUORUM".to_owned())
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
            let (start, end) = (at(from)?, at(to)?);
            writes_answered()
                .find(|op| op.invoked >= start && op.invoked < end)
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
            let ops: Vec<_> = recording
                .ops
                .iter()
                .filter(|op| op.invoked >= from)
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

fn trace_hash(
    recording: &Recording,
    played: &[Played],
    samples: &[Sample],
    stores: &[(NodeId, &dyn Store)],
) -> u64 {
    let mut hasher = DefaultHasher::new();
    for p in played {
        (p.at, format!("{:?}", p.fault), &p.nodes).hash(&mut hasher);
    }
    samples.hash(&mut hasher);
    for op in &recording.ops {
        (
            op.id.0,
            &op.node,
            op.invoked,
            op.ended,
            format!("{:?}", op.ending),
        )
            .hash(&mut hasher);
    }
    for record in recording.history.records() {
        format!("{:?}", record.completion).hash(&mut hasher);
    }
    for &(id, store) in stores {
        id.0.hash(&mut hasher);
        inspect::data_pairs(store, GroupId::FIRST_DATA)
            .unwrap_or_default()
            .hash(&mut hasher);
    }
    hasher.finish()
}

/// A run's report as text: the header line, the faults, and the failures if any.
pub fn describe(report: &Report) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "scenario={} seed={} simulated={:.1}s ops={} answered={} indeterminate={} \
         snapshot_installs={} trace={:016x} {}",
        report.scenario,
        report.seed,
        report.simulated.as_secs_f64(),
        report.operations,
        report.answered,
        report.indeterminate,
        report.snapshot_installs,
        report.trace_hash,
        if report.passed() { "PASS" } else { "FAIL" },
    );
    for fault in &report.faults {
        let _ = writeln!(text, "  fault {fault}");
    }
    for failure in &report.failures {
        // A linearizability explanation lists the key's whole history: keep the start.
        let mut lines = failure.lines();
        let _ = writeln!(text, "  FAILED {}", lines.next().unwrap_or_default());
        for line in lines.by_ref().take(FAILURE_LINES_MAX) {
            let _ = writeln!(text, "    {line}");
        }
        if lines.next().is_some() {
            let _ = writeln!(text, "    ... (replay the seed for the rest)");
        }
    }
    text
}
