//! Playing the fault schedule: each [`Fault`] resolved to the nodes it targets at that moment
//! and applied to the simulated cluster or network.

use std::time::Duration;

use madsim::net::NetSim;
use seshat_chaos::scenario::{Fault, Target};
use seshat_core::NodeId;
use tokio::time::Instant;

use crate::cluster::SimCluster;
use crate::run::Observer;

/// How long a leader-targeted fault waits for there to be a leader before it falls back to
/// node 1.
const LEADER_WAIT_MAX: Duration = Duration::from_secs(3);

/// A fault as it was played.
#[derive(Clone, Debug)]
pub(crate) struct Played {
    /// When it was played, since the workload started.
    pub(crate) at: Duration,
    pub(crate) fault: Fault,
    /// The nodes it hit.
    pub(crate) nodes: Vec<NodeId>,
    /// The data group's leader just before.
    pub(crate) leader_before: Option<NodeId>,
    /// The leader's term just before; 0 without a leader.
    pub(crate) term_before: u64,
}

/// What playing one fault hit, and the data group as it was just before.
#[derive(Clone, Debug)]
pub(crate) struct Hit {
    /// The nodes the fault resolved to (none for a network-wide fault).
    pub(crate) nodes: Vec<NodeId>,
    /// The data group's leader just before.
    pub(crate) leader_before: Option<NodeId>,
    /// The leader's term just before; 0 without a leader.
    pub(crate) term_before: u64,
}

impl Played {
    /// The record of `fault`, played at `at` with `hit`.
    pub(crate) fn new(at: Duration, fault: Fault, hit: Hit) -> Played {
        Played {
            at,
            fault,
            nodes: hit.nodes,
            leader_before: hit.leader_before,
            term_before: hit.term_before,
        }
    }
}

/// Plays one fault. `played` (the faults before it) resolves [`Target::SameAs`]; the network's
/// latency faults add to `base_latency`. A [`Fault::RemoveNode`] only picks its node: the caller
/// starts the operator's command, which runs while the schedule goes on.
pub(crate) async fn apply(
    cluster: &mut SimCluster,
    fault: &Fault,
    played: &[Played],
    base_latency: (Duration, Duration),
    observer: &mut Observer,
) -> Hit {
    if matches!(
        fault,
        Fault::Crash(Target::Leader)
            | Fault::Isolate(Target::Leader)
            | Fault::CutInbound(Target::Leader)
            | Fault::Pause(Target::Leader, _)
    ) {
        // A leader-targeted fault waits (briefly) for there to be one.
        let deadline = Instant::now() + LEADER_WAIT_MAX;
        observer
            .wait_until(cluster, deadline, || cluster.leader())
            .await;
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
    Hit {
        nodes,
        leader_before: leader,
        term_before: term,
    }
}

/// Sets the probability that a packet is lost, for every link.
pub(crate) fn set_loss(rate: f64) {
    NetSim::current().update_config(|config| config.packet_loss_rate = rate);
}

/// Sets every link's latency to the range `base` (the scenario's network) plus `extra`.
pub(crate) fn set_latency(base: (Duration, Duration), extra: Duration) {
    let (low, high) = base;
    NetSim::current().update_config(|config| {
        config.send_latency = low + extra..high + extra;
    });
}
