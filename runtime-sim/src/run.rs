//! One seeded run of a scenario: start the cluster and the clients, play the fault schedule,
//! heal, wait for the cluster to converge and serve, then check everything.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::rand::{thread_rng, Rng};
use madsim::runtime::{Handle, Runtime};
use seshat_chaos::scenario::{self, Check, Fault, Scenario};
use seshat_core::config::FollowerRequests;
use seshat_core::storage::{inspect, Store};
use seshat_core::{GroupId, NodeId, PlantedBug, StateRole};
use seshat_runtime_tokio::wait::{wait_until, wait_until_with};
use tokio::time::Instant;

use crate::checker::Evidence;
use crate::client::{run_client, Ending, Recording, Workload};
use crate::cluster::{client_addr, internal_addr, ClusterOptions, SimCluster};
use crate::faults::{apply, set_latency, set_loss, Played};

/// How often the harness looks at the nodes' published state.
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_millis(20);
/// How long the cluster may take to elect its first leader.
const FIRST_LEADER_MAX: Duration = Duration::from_secs(10);
/// After every fault is healed, how long the cluster may take to serve a write and bring every
/// node up to date: the liveness bound.
const CONVERGE_MAX: Duration = Duration::from_secs(30);
/// A client gives up on a reply after this long (the nodes answer `-NOQUORUM` sooner).
const REPLY_TIMEOUT: Duration = Duration::from_secs(4);
/// Lines of one failure's explanation a report shows, unless `SESHAT_SIM_FAILURE_LINES` says
/// otherwise (a linearizability failure's whole key history can run to thousands).
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
    /// The most requests a client connection keeps in flight (each draws its own depth up to
    /// it); `None` lets the seed choose, from 1 (no pipelining) to
    /// [`PIPELINE_DEPTH_MAX`].
    pub pipeline_depth_max: Option<usize>,
    /// Whether followers forward data commands to the leader (`cluster.follower_requests =
    /// "forward"`) instead of answering `MOVED`; the clients then stay on whatever node they
    /// connected to.
    pub forward: bool,
}

/// The deepest pipeline a seed may choose.
pub const PIPELINE_DEPTH_MAX: usize = 8;

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            planted_bug: None,
            clients: 4,
            keys: 5,
            pipeline_depth_max: None,
            forward: false,
        }
    }
}

/// What one run did and found.
#[derive(Clone, Debug)]
pub struct Report {
    /// The scenario's name, as `--scenario` takes it.
    pub scenario: &'static str,
    /// The madsim seed: running the scenario with it again replays the run.
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
    /// The most requests a client connection kept in flight (the seed's choice, or the
    /// options').
    pub pipeline_depth_max: usize,
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

    /// The command that replays this run, made with `options`, exactly.
    pub fn reproduce(&self, options: &RunOptions) -> String {
        let bug = options
            .planted_bug
            .map_or(String::new(), |bug| format!(" --plant {}", bug_name(bug)));
        let depth = options
            .pipeline_depth_max
            .map_or(String::new(), |depth| format!(" --depth {depth}"));
        let forward = if options.forward { " --forward" } else { "" };
        format!(
            "scripts/sim.sh run --scenario {} --seed {}{bug}{depth}{forward}",
            self.scenario, self.seed
        )
    }
}

/// The command-line name of a planted bug.
pub fn bug_name(bug: PlantedBug) -> &'static str {
    match bug {
        PlantedBug::AckBeforeCommit => "ack-before-commit",
        PlantedBug::ReadWithoutReadIndex => "read-without-read-index",
        PlantedBug::IgnoreConnectionOrder => "ignore-connection-order",
        PlantedBug::SplitTransaction => "split-transaction",
    }
}

/// The planted bug called `name`.
pub fn bug_by_name(name: &str) -> Option<PlantedBug> {
    [
        PlantedBug::AckBeforeCommit,
        PlantedBug::ReadWithoutReadIndex,
        PlantedBug::IgnoreConnectionOrder,
        PlantedBug::SplitTransaction,
    ]
    .into_iter()
    .find(|&bug| bug_name(bug) == name)
}

/// Runs `scenario` with `seed` in a fresh simulation. A panic anywhere in the simulation (a
/// node's assertion, say) becomes a failure of the report.
///
/// Each simulation runs on a thread of its own. std draws a thread's `HashMap` keys once, at
/// the thread's first `HashMap`, and madsim can make that draw come from the seed only if it
/// has not happened yet (otherwise it warns "failed to initialize std random state"). On a
/// thread that built one before (tracing's setup in `seshat-sim`, the test harness, an earlier
/// run of a sweep), the keys were the OS's, and iteration over hash maps in the nodes'
/// dependencies could differ from one replay to the next.
pub fn run(scenario: &Scenario, seed: u64, options: &RunOptions) -> Report {
    let (owned, options) = (scenario.clone(), options.clone());
    let simulation = std::thread::Builder::new()
        .name(format!("sim-{}-{seed}", scenario.name))
        .stack_size(SIMULATION_STACK_BYTES)
        .spawn(move || simulate(&owned, seed, &options))
        .expect("the OS starts the simulation's thread");
    simulation
        .join()
        .unwrap_or_else(|panic| panicked(scenario, seed, &*panic))
}

/// The stack of a simulation's thread: the nodes' tasks run on it, and a spawned thread's
/// default (2 MiB) is less than the main thread's (8 MiB) that runs used to get.
const SIMULATION_STACK_BYTES: usize = 8 << 20;

/// [`run`], on the current thread.
fn simulate(scenario: &Scenario, seed: u64, options: &RunOptions) -> Report {
    let mut config = madsim::Config::default();
    config.net.send_latency = scenario.network.latency.0..scenario.network.latency.1;
    config.net.packet_loss_rate = scenario.network.loss;
    let mut runtime = Runtime::with_seed_and_config(seed, config);
    runtime.set_time_limit(SIMULATED_TIME_MAX);
    let played = std::panic::catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(play(scenario.clone(), seed, options.clone()))
    }));
    played.unwrap_or_else(|panic| panicked(scenario, seed, &*panic))
}

/// The report of a run that panicked with `panic`.
fn panicked(scenario: &Scenario, seed: u64, panic: &(dyn std::any::Any + Send)) -> Report {
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
        pipeline_depth_max: 0,
        faults: Vec::new(),
        failures: vec![format!("the simulation panicked: {message}")],
        trace_hash: 0,
    }
}

/// A change in one node's view of the data group.
#[derive(Clone, Debug, Hash)]
pub(crate) struct Sample {
    /// When the harness saw it, since the workload started.
    pub(crate) at: Duration,
    pub(crate) node: NodeId,
    /// Whether the node is running.
    pub(crate) up: bool,
    /// Whether it says it leads the data group.
    pub(crate) leader: bool,
    /// Its term; 0 while it is down.
    pub(crate) term: u64,
}

/// One node's view of the data group, as a sample records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct View {
    up: bool,
    leader: bool,
    term: u64,
}

/// Records the nodes' views of the data group as they change, looking every time the harness
/// calls [`Observer::sample`] (about every [`SAMPLE_EVERY`]).
pub(crate) struct Observer {
    /// When the workload started: samples are timed from it.
    start: Instant,
    /// Every change seen, in time order.
    samples: Vec<Sample>,
    /// Each node's view at the last sample.
    last: BTreeMap<NodeId, View>,
}

impl Observer {
    /// Looks at every node and records each view that changed since the last look.
    pub(crate) fn sample(&mut self, cluster: &SimCluster) {
        let at = self.start.elapsed();
        for id in cluster.ids() {
            let view = match cluster.data_group(id) {
                Some(group) => View {
                    up: true,
                    leader: group.role == StateRole::Leader,
                    term: group.term,
                },
                None => View {
                    up: false,
                    leader: false,
                    term: 0,
                },
            };
            if self.last.insert(id, view) != Some(view) {
                self.samples.push(Sample {
                    at,
                    node: id,
                    up: view.up,
                    leader: view.leader,
                    term: view.term,
                });
            }
        }
    }

    /// Waits as [`wait_until`] does, polling every [`SAMPLE_EVERY`] and sampling `cluster`
    /// before each sleep, so that the samples cover the wait.
    pub(crate) async fn wait_until<T>(
        &mut self,
        cluster: &SimCluster,
        deadline: Instant,
        condition: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        wait_until_with(deadline, SAMPLE_EVERY, condition, || self.sample(cluster)).await
    }
}

/// The run itself, inside the madsim runtime [`run`] made: boot, the workload and the fault
/// schedule, healing, the liveness wait, then the checks.
async fn play(scenario: Scenario, seed: u64, options: RunOptions) -> Report {
    let base_latency = scenario.network.latency;
    let cluster_options = ClusterOptions {
        clock_offset_max: scenario.clocks.offset_max,
        drift_ppm_max: scenario.clocks.drift_ppm_max,
        planted_bug: options.planted_bug,
        follower_requests: if options.forward {
            FollowerRequests::Forward
        } else {
            FollowerRequests::Moved
        },
        snapshot_interval_entries: scenario
            .snapshot_interval_entries
            .unwrap_or(ClusterOptions::default().snapshot_interval_entries),
        ..ClusterOptions::default()
    };
    // Drawn first, so that the rest of the run's randomness follows from the seed as before.
    let depth_max = options
        .pipeline_depth_max
        .unwrap_or_else(|| thread_rng().gen_range(1..=PIPELINE_DEPTH_MAX));
    let mut cluster = SimCluster::start(&cluster_options);
    let mut failures = Vec::new();
    let schedule = if scenario.number == 0 {
        scenario::nemesis_schedule(scenario.duration, |n| thread_rng().gen_range(0..n))
    } else {
        scenario.schedule.clone()
    };

    // The first election, before any client or fault.
    let first_leader = wait_until(Instant::now() + FIRST_LEADER_MAX, SAMPLE_EVERY, || {
        cluster.leader()
    })
    .await;
    if first_leader.is_none() {
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
        depth_max,
        pinned: false,
    };
    let mut clients: Vec<_> = (1..=options.clients)
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
                let removed = hit.nodes[0];
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
                paused.extend(hit.nodes.iter().map(|&id| (start.elapsed() + pause, id)));
            }
            // A check of the writes a cut-off node answers gets writes sent to it.
            for check in &scenario.checks {
                let &Check::MinorityRefusesWrites { from, to } = check else {
                    continue;
                };
                let (Some(&cut_off), Some(healed)) = (hit.nodes.first(), schedule.get(to)) else {
                    continue;
                };
                if from != played.len() {
                    continue;
                }
                let probe = Workload {
                    nodes: vec![client_addr(cut_off)],
                    until: start + healed.at,
                    depth_max: 1,
                    pinned: true,
                    ..workload.clone()
                };
                let number = options.clients + 1 + from as u64;
                clients.push(clients_node.spawn(run_client(number, probe, recording.clone())));
            }
            played.push(Played::new(start.elapsed(), step.fault.clone(), hit));
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
        observer
            .wait_until(&cluster, deadline, || {
                (voters_at_leader(&cluster).as_ref() == Some(&expected)).then_some(())
            })
            .await;
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
    let evidence = Evidence {
        scenario: &scenario,
        recording: &recording,
        disks: &disks,
        stores: &stores,
        members: &members,
        voters: voters.as_deref(),
        played: &played,
        samples: &observer.samples,
        converged: converged.is_ok(),
    };
    failures.extend(evidence.check());

    if std::env::var_os("SESHAT_SIM_OPS").is_some() {
        for op in &recording.ops {
            match recording.history.get(op.id) {
                Some(record) => eprintln!("{op:?} {record}"),
                None => eprintln!("{op:?}"),
            }
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
    let trace_hash = evidence.trace_hash();
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
        pipeline_depth_max: depth_max,
        faults,
        failures,
        trace_hash,
    }
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
    let mut progress = None;
    let caught_up = wait_until(deadline, SAMPLE_EVERY, || {
        observer.sample(cluster);
        let now = Progress::of(cluster);
        let is_caught_up = now.is_caught_up();
        progress = Some(now);
        is_caught_up.then_some(())
    })
    .await;
    if caught_up.is_some() {
        return Ok(());
    }
    let progress = progress.expect("a wait polls at least once");
    Err(format!(
        "nodes did not catch up to commit {} (applied: {:?})",
        progress.commit,
        progress.applied_text()
    ))
}

/// How far the data group's members are behind the highest commit index any of them knows.
/// Removed nodes stay behind for good: only members must catch up.
struct Progress {
    /// The highest commit index a running member reports.
    commit: u64,
    /// Each member's applied index, in member order; `None` while it is down.
    applied: Vec<Option<u64>>,
}

impl Progress {
    /// A member's applied index is the lower of what it reports and what its disk holds: a
    /// snapshot install moves the reported one at once, but reaches the disk (which the checks
    /// read) only when the writer gets to its batch.
    fn of(cluster: &SimCluster) -> Progress {
        let disks = cluster.disks();
        let groups: Vec<_> = cluster
            .members()
            .into_iter()
            .map(|id| {
                let on_disk = disks
                    .iter()
                    .find(|(disk_id, _)| *disk_id == id)
                    .and_then(|(_, disk)| inspect::applied_index(disk, GroupId::FIRST_DATA).ok());
                cluster.data_group(id).map(|group| {
                    (
                        group.commit_index,
                        group.applied_index.min(on_disk.unwrap_or(0)),
                    )
                })
            })
            .collect();
        Progress {
            commit: groups
                .iter()
                .flatten()
                .map(|&(commit, _)| commit)
                .max()
                .unwrap_or(0),
            applied: groups
                .iter()
                .map(|group| group.map(|(_, applied)| applied))
                .collect(),
        }
    }

    /// Whether every member is up and has applied up to `commit`.
    fn is_caught_up(&self) -> bool {
        self.applied
            .iter()
            .all(|applied| applied.is_some_and(|applied| applied >= self.commit))
    }

    /// Each member's applied index as text, `down` for a member that is down.
    fn applied_text(&self) -> Vec<String> {
        self.applied
            .iter()
            .map(|applied| applied.map_or("down".to_owned(), |applied| applied.to_string()))
            .collect()
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
///
/// Not a [`wait_until`]: each attempt is a whole round trip (up to [`REPLY_TIMEOUT`]) and the
/// deadline is checked before it rather than after, and moving that check would change when a
/// failing run gives up.
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

/// A run's report as text: the header line, the faults, and the failures if any.
pub fn describe(report: &Report) -> String {
    let failure_lines_max = std::env::var("SESHAT_SIM_FAILURE_LINES")
        .ok()
        .and_then(|lines| lines.parse().ok())
        .unwrap_or(FAILURE_LINES_MAX);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "scenario={} seed={} simulated={:.1}s ops={} answered={} indeterminate={} \
         snapshot_installs={} depth_max={} trace={:016x} {}",
        report.scenario,
        report.seed,
        report.simulated.as_secs_f64(),
        report.operations,
        report.answered,
        report.indeterminate,
        report.snapshot_installs,
        report.pipeline_depth_max,
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
        for line in lines.by_ref().take(failure_lines_max) {
            let _ = writeln!(text, "    {line}");
        }
        if lines.next().is_some() {
            let _ = writeln!(text, "    ... (replay the seed for the rest)");
        }
    }
    text
}
