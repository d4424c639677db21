//! Fourteen failure scenarios, once, as data: the spec's eleven, three of our own (a leader
//! pause, membership churn, and the nemesis's random mix), each a fault schedule and the
//! assertions that scenario adds to the checks every run gets.
//!
//! A runtime (the simulator) plays [`Scenario::schedule`] against a three-node cluster (nodes
//! join it in membership churn) while clients run a random GET/SET/DEL workload, then heals
//! every fault and checks:
//! - on every run: committed logs agree, caught-up replicas hold the same data, every
//!   acknowledged write is in the log, the history is linearizable, and the cluster converges
//!   and serves again within a bound once healed;
//! - per scenario: its [`Check`]s.
//!
//! Nodes are named by role when the fault happens ([`Target`]), so the same scenario means
//! the same thing whichever node the seed made leader.

use std::time::Duration;

/// One failure scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Short name, used on the command line (`--scenario leader-failure`).
    pub name: &'static str,
    /// Its number: the spec's (1-11) for the spec's scenarios, 12 and 13 for the leader pause
    /// and membership churn, 0 for the nemesis.
    pub number: u32,
    /// One line: what happens.
    pub summary: &'static str,
    /// Faults, each at a time after the workload starts.
    pub schedule: Vec<Step>,
    /// How long the workload runs before every fault is healed.
    pub duration: Duration,
    /// Latency and packet loss between nodes, before any fault changes them.
    pub network: Network,
    /// How far apart the nodes' clocks are.
    pub clocks: Clocks,
    /// What this scenario asserts beyond the checks every run gets.
    pub checks: Vec<Check>,
    /// Entries between log compactions, when the scenario wants them sooner than the spec's
    /// 10,000 (a simulated run writes a few thousand entries).
    pub snapshot_interval_entries: Option<u64>,
}

/// A fault at a moment of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Time since the workload started.
    pub at: Duration,
    /// The fault that starts (or ends) then.
    pub fault: Fault,
}

/// Which node a fault hits, resolved when it happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// The data group's leader (the node most nodes name as leader).
    Leader,
    /// A follower of the data group (the lowest-numbered one that is up).
    Follower,
    /// The node an earlier step hit, by step index.
    SameAs(usize),
    /// A node by its 1-based id.
    Node(u64),
}

/// A fault, or the end of one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The node's process dies (kill -9) and its unsynced writes are lost.
    Crash(Target),
    /// The node starts again from what it had synced.
    Restart(Target),
    /// Every node dies at once.
    CrashAll,
    /// Every node that is down starts again.
    RestartAll,
    /// The node can neither reach nor be reached by the other nodes (clients still reach it).
    Isolate(Target),
    /// The node receives nothing from the other nodes but its messages still reach them.
    CutInbound(Target),
    /// The node's process freezes (a long GC pause, a stalled VM) for this long, then carries
    /// on as if nothing happened: it may still believe it leads.
    Pause(Target, Duration),
    /// Every link between nodes works again.
    Heal,
    /// Every network hop takes this long (on top of the base latency).
    Latency(Duration),
    /// This percentage of packets is lost (streams retransmit them, later).
    PacketLoss(u32),
    /// A new, empty node with this id starts with `bootstrap = false` and asks a member to add
    /// it; it becomes a voter of every group on its own.
    AddNode(u64),
    /// An operator removes the node from every group (`seshat cluster remove-node`, sent to
    /// another member), while the run goes on.
    RemoveNode(Target),
}

/// A network profile for the whole run.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    /// The time one message takes, a range sampled per message.
    pub latency: (Duration, Duration),
    /// Probability a packet is lost (retransmitted later: streams stay reliable).
    pub loss: f64,
}

impl Network {
    /// A data-centre network: 1-5 ms, no loss.
    pub const LAN: Network = Network {
        latency: (Duration::from_millis(1), Duration::from_millis(5)),
        loss: 0.0,
    };
}

/// How far the nodes' clocks are from true time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clocks {
    /// Each node's wall clock is off by up to this much, either way.
    pub offset_max: Duration,
    /// Each node's clocks run fast or slow by up to this many parts per million.
    pub drift_ppm_max: u32,
}

impl Clocks {
    /// Clocks as on well-kept machines: NTP within a few ms, drift of a quartz crystal.
    pub const NTP: Clocks = Clocks {
        offset_max: Duration::from_millis(5),
        drift_ppm_max: 100,
    };
}

/// What a scenario asserts. Step indexes refer to [`Scenario::schedule`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// A node other than the one `step` hit is leader of a newer term within `within` of it.
    NewLeaderWithin {
        /// The step that took the old leader away.
        step: usize,
        /// How long after the step the new leader may take to appear.
        within: Duration,
    },
    /// Some write invoked after `step` is acknowledged within `within` of it.
    WritesResumeWithin {
        /// The step after which writes must succeed.
        step: usize,
        /// How long after the step the first acknowledgement may take.
        within: Duration,
    },
    /// Between steps `from` and `to`, the node `from` hit acknowledges no write it was
    /// asked (it cannot reach a majority), and answers at least one with `-NOQUORUM`.
    MinorityRefusesWrites {
        /// The step that cut the node off.
        from: usize,
        /// The step that healed it.
        to: usize,
    },
    /// The leader that `step` hit stops being leader within `within`.
    OldLeaderStepsDown {
        /// The step that cut the leader off.
        step: usize,
        /// How long after the step the old leader may go on believing it leads.
        within: Duration,
    },
    /// No write invoked after step `from` is acknowledged before step `to` (no majority is up
    /// in between).
    NoWriteAcknowledged {
        /// The step after which no majority is up.
        from: usize,
        /// The step that brings a majority back.
        to: usize,
    },
    /// Every write whose outcome the client never learned is, once the cluster has healed,
    /// in the log of every node or of none.
    IndeterminateWritesAllOrNothing,
    /// Operations acknowledged while `step`'s fault lasts: at least `ok_min` percent of the
    /// operations invoked then succeed, and the 99th percentile latency is under `p99_max`.
    AvailableUnder {
        /// The step that starts the fault.
        step: usize,
        /// Percentage of operations that must succeed.
        ok_min_percent: u32,
        /// The largest 99th percentile latency allowed.
        p99_max: Duration,
    },
    /// Without faults, leadership never changes after the first election: clock skew and
    /// drift cause no elections.
    NoElectionsAfterFirst,
    /// Each node's log starts after at least this index: it compacted (or installed a
    /// snapshot) past it. (Every group compacts once right after its first entry, so a bound
    /// of an interval or more is what shows compaction under load.)
    SnapshotsTaken {
        /// The index every node's log must have been compacted to.
        index_min: u64,
    },
    /// No node's log holds more than this many entries at the end.
    LogEntriesAtMost(u64),
    /// The node `step` hit caught up by installing a snapshot from the leader.
    SnapshotInstalled {
        /// The step that took the node away while the others compacted their logs.
        step: usize,
    },
    /// Once healed, the data group's voters are exactly these nodes.
    VotersAtEnd(Vec<u64>),
}

/// Every scenario: the spec's eleven in its order, then the leader pause, membership churn
/// and the nemesis.
pub fn all() -> Vec<Scenario> {
    let ms = Duration::from_millis;
    let s = Duration::from_secs;
    let scenario = |name, number, summary, schedule, duration, checks| Scenario {
        name,
        number,
        summary,
        schedule,
        duration,
        network: Network::LAN,
        clocks: Clocks::NTP,
        checks,
        snapshot_interval_entries: None,
    };
    let step = |at, fault| Step { at, fault };
    vec![
        scenario(
            "leader-failure",
            1,
            "the leader crashes; a new leader is elected within 2 s and the old one rejoins",
            vec![
                step(s(3), Fault::Crash(Target::Leader)),
                step(s(8), Fault::Restart(Target::SameAs(0))),
            ],
            s(12),
            vec![
                Check::NewLeaderWithin { step: 0, within: s(2) },
                Check::WritesResumeWithin { step: 0, within: s(3) },
            ],
        ),
        scenario(
            "follower-failure",
            2,
            "a follower crashes; writes continue on the other two",
            vec![
                step(s(3), Fault::Crash(Target::Follower)),
                step(s(8), Fault::Restart(Target::SameAs(0))),
            ],
            s(12),
            vec![Check::WritesResumeWithin { step: 0, within: ms(500) }],
        ),
        scenario(
            "partition-2-1",
            3,
            "one node is cut off; the majority commits, the minority never acknowledges a write",
            vec![
                step(s(3), Fault::Isolate(Target::Follower)),
                step(s(9), Fault::Heal),
            ],
            s(13),
            vec![
                Check::MinorityRefusesWrites { from: 0, to: 1 },
                Check::WritesResumeWithin { step: 0, within: s(1) },
            ],
        ),
        scenario(
            "asymmetric-partition",
            4,
            "the leader hears nothing from its peers but they hear it; it steps down",
            vec![
                step(s(3), Fault::CutInbound(Target::Leader)),
                step(s(9), Fault::Heal),
            ],
            s(13),
            vec![
                Check::OldLeaderStepsDown { step: 0, within: s(3) },
                Check::WritesResumeWithin { step: 0, within: s(5) },
            ],
        ),
        scenario(
            "leader-isolation",
            5,
            "the leader is cut off from both peers; it cannot commit and a new leader is elected",
            vec![
                step(s(3), Fault::Isolate(Target::Leader)),
                step(s(9), Fault::Heal),
            ],
            s(13),
            vec![
                Check::MinorityRefusesWrites { from: 0, to: 1 },
                Check::NewLeaderWithin { step: 0, within: s(3) },
                Check::OldLeaderStepsDown { step: 0, within: s(3) },
            ],
        ),
        scenario(
            "cascading-failures",
            6,
            "two nodes crash one after the other; no write succeeds until one returns",
            vec![
                step(s(3), Fault::Crash(Target::Follower)),
                step(s(5), Fault::Crash(Target::Follower)),
                step(s(9), Fault::Restart(Target::SameAs(1))),
                step(s(10), Fault::Restart(Target::SameAs(0))),
            ],
            s(14),
            vec![
                Check::NoWriteAcknowledged { from: 1, to: 2 },
                Check::WritesResumeWithin { step: 2, within: s(4) },
            ],
        ),
        scenario(
            "leader-crash-during-writes",
            7,
            "the leader crashes mid-write, twice; every unanswered write ends on all nodes or none",
            vec![
                step(s(3), Fault::Crash(Target::Leader)),
                step(s(5), Fault::Restart(Target::SameAs(0))),
                step(s(7), Fault::Crash(Target::Leader)),
                step(s(9), Fault::Restart(Target::SameAs(2))),
            ],
            s(12),
            vec![
                Check::IndeterminateWritesAllOrNothing,
                Check::NewLeaderWithin { step: 0, within: s(2) },
            ],
        ),
        scenario(
            "full-restart",
            8,
            "every node crashes at once and restarts; every acknowledged write is still there",
            vec![
                step(s(4), Fault::CrashAll),
                step(s(6), Fault::RestartAll),
            ],
            s(12),
            vec![Check::WritesResumeWithin { step: 1, within: s(4) }],
        ),
        scenario(
            "slow-network",
            9,
            "every link takes 100 ms; the cluster stays available with bounded latency",
            vec![step(s(2), Fault::Latency(ms(100)))],
            s(14),
            vec![Check::AvailableUnder {
                step: 0,
                ok_min_percent: 90,
                p99_max: s(2),
            }],
        ),
        Scenario {
            snapshot_interval_entries: Some(300),
            ..scenario(
                "compaction-under-load",
                10,
                "logs compact every 300 entries under load; a follower that was down catches up \
                 by snapshot; logs stay bounded",
                vec![
                    step(s(4), Fault::Crash(Target::Follower)),
                    step(s(16), Fault::Restart(Target::SameAs(0))),
                ],
                s(30),
                vec![
                    Check::SnapshotsTaken { index_min: 300 },
                    Check::LogEntriesAtMost(600),
                    Check::SnapshotInstalled { step: 0 },
                    Check::WritesResumeWithin { step: 0, within: ms(500) },
                ],
            )
        },
        Scenario {
            clocks: Clocks {
                offset_max: s(30),
                drift_ppm_max: 20_000,
            },
            ..scenario(
                "clock-skew",
                11,
                "clocks off by up to 30 s and drifting 2%; no effect on safety or elections",
                vec![],
                s(12),
                vec![Check::NoElectionsAfterFirst],
            )
        },
        scenario(
            "leader-pause",
            12,
            "the leader freezes for 3 s (a GC pause) while the others elect and write; it wakes up still believing it leads",
            vec![step(s(3), Fault::Pause(Target::Leader, s(3)))],
            s(10),
            vec![Check::NewLeaderWithin { step: 0, within: s(2) }],
        ),
        Scenario {
            snapshot_interval_entries: Some(500),
            ..scenario(
                "membership-churn",
                13,
                "nodes join, leave and are replaced while a follower crashes and the leader is cut off",
                vec![
                    step(s(2), Fault::AddNode(4)),
                    step(s(5), Fault::Crash(Target::Follower)),
                    step(s(7), Fault::Restart(Target::SameAs(1))),
                    step(s(9), Fault::RemoveNode(Target::Node(1))),
                    step(s(12), Fault::Isolate(Target::Leader)),
                    step(s(15), Fault::Heal),
                    step(s(17), Fault::AddNode(5)),
                    step(s(20), Fault::RemoveNode(Target::Node(2))),
                ],
                s(26),
                vec![Check::VotersAtEnd(vec![3, 4, 5])],
            )
        },
        Scenario {
            clocks: Clocks {
                offset_max: s(30),
                drift_ppm_max: 20_000,
            },
            // Compaction and snapshot transfers happen under the faults too.
            snapshot_interval_entries: Some(500),
            ..scenario(
                "nemesis",
                0,
                "the seed picks a random mix of every fault for 40 s, with logs compacting; \
                 then the cluster must heal",
                vec![],
                s(40),
                vec![],
            )
        },
    ]
}

/// The scenario called `name`.
pub fn by_name(name: &str) -> Option<Scenario> {
    all().into_iter().find(|scenario| scenario.name == name)
}

/// A random schedule of every kind of fault for the nemesis: `draw(n)` returns a random
/// number below `n` (the caller's seeded generator). Faults start after 2 s and stop 2 s before
/// `duration`; a crashed node is restarted before another crash, so a majority is down for
/// at most one step at a time.
pub fn nemesis_schedule(duration: Duration, mut draw: impl FnMut(u64) -> u64) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut at = Duration::from_secs(2);
    let end = duration.saturating_sub(Duration::from_secs(2));
    let mut down: Vec<usize> = Vec::new();
    while at < end {
        let fault = match draw(10) {
            0 if down.is_empty() => Fault::Crash(Target::Leader),
            1 if down.is_empty() => Fault::Crash(Target::Node(1 + draw(3))),
            2 => Fault::Isolate(Target::Node(1 + draw(3))),
            3 => Fault::CutInbound(Target::Leader),
            4 => Fault::Latency(Duration::from_millis(draw(150))),
            5 if down.is_empty() && draw(4) == 0 => Fault::CrashAll,
            6 => Fault::Heal,
            7 if draw(2) == 0 => {
                Fault::Pause(Target::Leader, Duration::from_millis(500 + draw(2500)))
            }
            8 if draw(2) == 0 => Fault::PacketLoss(draw(20) as u32),
            _ if !down.is_empty() => Fault::RestartAll,
            _ => Fault::Heal,
        };
        match fault {
            Fault::Crash(_) | Fault::CrashAll => down.push(steps.len()),
            Fault::RestartAll => down.clear(),
            _ => {}
        }
        steps.push(Step { at, fault });
        at += Duration::from_millis(500 + draw(3000));
    }
    if !down.is_empty() {
        steps.push(Step {
            at: end,
            fault: Fault::RestartAll,
        });
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_are_numbered_once_and_steps_are_in_time_order() {
        let scenarios = all();
        let mut numbers: Vec<u32> = scenarios.iter().map(|s| s.number).collect();
        numbers.sort_unstable();
        assert_eq!(numbers, (0..=13).collect::<Vec<_>>());
        for scenario in &scenarios {
            for pair in scenario.schedule.windows(2) {
                assert!(
                    pair[0].at <= pair[1].at,
                    "{}: steps out of order",
                    scenario.name
                );
            }
            assert!(
                scenario
                    .schedule
                    .iter()
                    .all(|step| step.at < scenario.duration),
                "{}: a step after the end",
                scenario.name
            );
            for (index, step) in scenario.schedule.iter().enumerate() {
                if let Fault::Crash(Target::SameAs(earlier))
                | Fault::Restart(Target::SameAs(earlier))
                | Fault::RemoveNode(Target::SameAs(earlier)) = step.fault
                {
                    assert!(earlier < index, "{}: SameAs must look back", scenario.name);
                }
            }
        }
    }

    #[test]
    fn nemesis_never_leaves_a_node_down() {
        let mut state = 7u64;
        for _ in 0..200 {
            let steps = nemesis_schedule(Duration::from_secs(40), |n| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 33) % n
            });
            let mut down = false;
            for step in &steps {
                match step.fault {
                    Fault::Crash(_) | Fault::CrashAll => {
                        assert!(!down, "a second crash before a restart");
                        down = true;
                    }
                    Fault::RestartAll => down = false,
                    _ => {}
                }
            }
            assert!(!down, "the schedule ends with a node down");
        }
    }
}
