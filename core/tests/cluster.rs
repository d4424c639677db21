//! Whole-cluster tests on the in-process harness: three real `Node`s, a virtual clock and a
//! seeded network. Every test runs over many seeds (`SESHAT_SEED_COUNT`, default 100) or one
//! (`SESHAT_SEED`), prints each seed first, and on failure prints the command that replays it.
#![allow(clippy::disallowed_methods)] // Tests read SESHAT_SEED from the environment.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::Duration;

use bytes::Bytes;
use seshat_core::cmd::key_hash_slot;
use seshat_core::cmd::CommandLimits;
use seshat_core::membership::MembershipChange;
use seshat_core::testkit::{Cluster, ClusterOptions, Faults};
use seshat_core::{Call, GroupId, NodeId, Reply, Request};

const SECOND: Duration = Duration::from_secs(1);
const DATA: GroupId = GroupId::FIRST_DATA;

/// The seeds to run: `SESHAT_SEED` alone, or `SESHAT_SEED_COUNT` seeds (default 100) from a
/// fixed start, so CI runs the same list every time.
fn seeds() -> Vec<u64> {
    if let Ok(seed) = std::env::var("SESHAT_SEED") {
        return vec![seed.parse().expect("SESHAT_SEED is a number")];
    }
    let count = std::env::var("SESHAT_SEED_COUNT")
        .map(|n| n.parse().expect("SESHAT_SEED_COUNT is a number"))
        .unwrap_or(100);
    (1..=count).collect()
}

/// Runs `test` once per seed; a failure names the seed and the command that replays it.
fn for_each_seed(name: &str, test: impl Fn(u64)) {
    for seed in seeds() {
        println!("seed={seed} test={name}");
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| test(seed))) {
            eprintln!(
                "reproduce: SESHAT_SEED={seed} cargo test -p seshat-core --features testkit \
                 --test cluster -- {name} --exact"
            );
            resume_unwind(panic);
        }
    }
}

/// A three-node cluster; odd seeds get a lossy network (loss, duplicates, reordering).
fn cluster(seed: u64) -> Cluster {
    let mut options = ClusterOptions::new(seed);
    if seed % 2 == 1 {
        options.faults = Faults::lossy();
    }
    Cluster::new(options)
}

/// The request a client sends as `words`, parsed as a connection would.
fn command(words: &[&str]) -> Request {
    let args = words
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect();
    Request::from(Call::parse(args, &CommandLimits::default()).expect("a valid command"))
}

fn set(key: &str, value: &str) -> Request {
    command(&["SET", key, value])
}

fn get(key: &str) -> Request {
    command(&["GET", key])
}

fn del(keys: &[&str]) -> Request {
    let mut words = vec!["DEL"];
    words.extend(keys);
    command(&words)
}

fn bulk(value: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(value.as_bytes()))
}

fn leader_of(cluster: &mut Cluster, group: GroupId, ignoring: &[NodeId]) -> NodeId {
    cluster
        .wait_for_stable_leader(group, 10 * SECOND, ignoring)
        .unwrap_or_else(|| panic!("group {group} elected no stable leader within 10 s"))
}

fn is_error_with(reply: &Reply, code: &str) -> bool {
    matches!(reply, Reply::Error(text) if text.split(' ').next() == Some(code))
}

#[test]
fn every_group_elects_one_leader() {
    // Goal: a fresh cluster elects a leader for the system group and the data group, and no
    // term ever has two leaders. Method: run 10 s, sampling leaders after every event.
    for_each_seed("every_group_elects_one_leader", |seed| {
        let mut cluster = cluster(seed);
        for group in [GroupId::SYSTEM, DATA] {
            leader_of(&mut cluster, group, &[]);
        }
        let mut leaders_by_term = std::collections::BTreeMap::new();
        cluster.run_until(10 * SECOND, |cluster| {
            for id in cluster.node_ids() {
                for status in cluster.node(id).expect("running").status() {
                    if status.role == seshat_core::StateRole::Leader {
                        let previous = leaders_by_term.insert((status.group, status.term), id);
                        assert!(
                            previous.is_none_or(|p| p == id),
                            "two leaders in group {} term {}",
                            status.group,
                            status.term
                        );
                    }
                }
            }
            false
        });
    });
}

#[test]
fn writes_apply_in_the_same_order_on_every_node() {
    // Goal: SET and DEL are replicated to all three nodes and applied in one order. Method:
    // many concurrent writes to few keys through the leader, then compare the nodes' logs and
    // keyspaces.
    for_each_seed("writes_apply_in_the_same_order_on_every_node", |seed| {
        let mut cluster = cluster(seed);
        let leader = leader_of(&mut cluster, DATA, &[]);
        let mut handles = Vec::new();
        for i in 0..40 {
            let key = format!("k{}", i % 5);
            let request = if i % 7 == 3 {
                del(&[&key, "k0"])
            } else {
                set(&key, &format!("v{i}"))
            };
            handles.push(cluster.send(leader, request));
            cluster.run_for(Duration::from_millis(3));
        }
        assert!(cluster.run_until(10 * SECOND, |c| handles
            .iter()
            .all(|h| c.reply(*h).is_some())));
        for handle in &handles {
            let reply = cluster.reply(*handle).expect("answered");
            assert!(
                matches!(reply, Reply::Simple(_) | Reply::Integer(_)),
                "write answered {reply:?}"
            );
        }
        cluster.run_for(2 * SECOND);
        let applied: Vec<u64> = cluster
            .node_ids()
            .iter()
            .map(|&id| status(&cluster, id, DATA).applied_index)
            .collect();
        assert!(
            applied.windows(2).all(|w| w[0] == w[1]),
            "applied indexes differ: {applied:?}"
        );
        cluster.assert_consistent();
    });
}

#[test]
fn follower_answers_moved_with_the_leaders_address() {
    // Goal: a follower redirects keyed commands with Redis Cluster's MOVED format, naming the
    // leader's client address, learned from the system group's directory. Method: nodes
    // whose configuration names no client addresses; ask a follower.
    for_each_seed("follower_answers_moved_with_the_leaders_address", |seed| {
        let mut options = ClusterOptions::new(seed);
        options.config_names_client_addrs = false;
        let mut cluster = Cluster::new(options);
        let leader = leader_of(&mut cluster, DATA, &[]);
        let follower = cluster
            .node_ids()
            .into_iter()
            .find(|&id| id != leader)
            .expect("3 nodes");
        let reply = cluster
            .call(follower, get("user:1000"), 10 * SECOND)
            .expect("answered");
        let expected = format!(
            "MOVED {} node{}:6379",
            key_hash_slot(b"user:1000"),
            leader.0
        );
        assert_eq!(reply, Reply::Error(expected));
    });
}

#[test]
fn isolated_leader_cannot_commit_and_a_new_leader_takes_over() {
    // Goal: a leader cut off from the others never acknowledges a write, and the majority
    // elects a new leader that commits. Method: isolate the leader, write to both sides, heal.
    for_each_seed(
        "isolated_leader_cannot_commit_and_a_new_leader_takes_over",
        |seed| {
            let mut cluster = cluster(seed);
            let old = leader_of(&mut cluster, DATA, &[]);
            cluster.isolate(old);
            let stranded = cluster.send(old, set("x", "from-minority"));
            let new = leader_of(&mut cluster, DATA, &[old]);
            assert_ne!(new, old, "the isolated node is still the majority's leader");
            let reply = cluster.call(new, set("x", "from-majority"), 10 * SECOND);
            assert_eq!(reply, Some(Reply::ok()));
            cluster.run_until(10 * SECOND, |c| c.reply(stranded).is_some());
            let stranded_reply = cluster
                .reply(stranded)
                .expect("answered within the request timeout");
            assert!(
                is_error_with(stranded_reply, "NOQUORUM")
                    || is_error_with(stranded_reply, "TRYAGAIN"),
                "the isolated leader answered {stranded_reply:?}"
            );
            cluster.heal();
            let leader = leader_of(&mut cluster, DATA, &[]);
            assert_eq!(
                cluster.call(leader, get("x"), 10 * SECOND),
                Some(bulk("from-majority"))
            );
            cluster.run_for(2 * SECOND);
            cluster.assert_consistent();
        },
    );
}

#[test]
fn minority_answers_noquorum_and_never_ok() {
    // Goal: a node without a majority answers writes and reads with NOQUORUM within the
    // request timeout. Method: cut one follower off, wait out its election timeout, ask it.
    for_each_seed("minority_answers_noquorum_and_never_ok", |seed| {
        let mut cluster = cluster(seed);
        let leader = leader_of(&mut cluster, DATA, &[]);
        let lonely = cluster
            .node_ids()
            .into_iter()
            .find(|&id| id != leader)
            .expect("3 nodes");
        cluster.isolate(lonely);
        cluster.run_for(2 * SECOND);
        let sent_at = cluster.elapsed();
        let write = cluster.send(lonely, set("y", "1"));
        let read = cluster.send(lonely, get("y"));
        cluster.run_until(10 * SECOND, |c| {
            c.reply(write).is_some() && c.reply(read).is_some()
        });
        for handle in [write, read] {
            let reply = cluster.reply(handle).expect("answered");
            assert!(
                is_error_with(reply, "NOQUORUM"),
                "the minority answered {reply:?}"
            );
            assert_answered_within_the_timeout(&cluster, handle, sent_at);
        }
    });
}

/// Asserts that `handle` was answered within the 5 s request timeout (and a little slack)
/// of `sent_at`.
fn assert_answered_within_the_timeout(
    cluster: &Cluster,
    handle: seshat_core::testkit::RequestHandle,
    sent_at: Duration,
) {
    let waited = cluster.replied_at(handle).expect("answered") - sent_at;
    assert!(
        waited <= 5 * SECOND + Duration::from_millis(200),
        "answered after {waited:?}"
    );
}

#[test]
fn deposed_leader_never_serves_a_stale_read() {
    // Goal: GET is linearizable: a leader that lost its majority never returns a value that a
    // newer leader has overwritten. Method: write v1, isolate the leader, write v2 on the
    // majority, then read on the old leader before it notices it was deposed.
    for_each_seed("deposed_leader_never_serves_a_stale_read", |seed| {
        let mut cluster = cluster(seed);
        let old = leader_of(&mut cluster, DATA, &[]);
        assert_eq!(
            cluster.call(old, set("k", "v1"), 10 * SECOND),
            Some(Reply::ok())
        );
        cluster.isolate(old);
        let new = leader_of(&mut cluster, DATA, &[old]);
        assert_eq!(
            cluster.call(new, set("k", "v2"), 10 * SECOND),
            Some(Reply::ok())
        );
        let stale = cluster.send(old, get("k"));
        cluster.run_until(10 * SECOND, |c| c.reply(stale).is_some());
        let reply = cluster.reply(stale).expect("answered");
        assert_ne!(reply, &bulk("v1"), "the deposed leader served a stale read");
        assert!(
            reply.is_error() || reply == &bulk("v2"),
            "unexpected reply {reply:?}"
        );
        cluster.heal();
        let leader = leader_of(&mut cluster, DATA, &[]);
        assert_eq!(
            cluster.call(leader, get("k"), 10 * SECOND),
            Some(bulk("v2"))
        );
    });
}

#[test]
fn acknowledged_writes_survive_a_full_restart() {
    // Goal: a write acknowledged by the leader is durable on a majority. Method: write, crash
    // every node at once (unsynced batches are lost), restart all, read back.
    for_each_seed("acknowledged_writes_survive_a_full_restart", |seed| {
        let mut cluster = cluster(seed);
        let leader = leader_of(&mut cluster, DATA, &[]);
        for i in 0..10 {
            let reply = cluster.call(leader, set(&format!("r{i}"), &format!("{i}")), 10 * SECOND);
            assert_eq!(reply, Some(Reply::ok()));
        }
        for id in cluster.node_ids() {
            cluster.crash(id);
        }
        for id in cluster.node_ids() {
            cluster.restart(id);
        }
        let leader = leader_of(&mut cluster, DATA, &[]);
        for i in 0..10 {
            let reply = cluster.call(leader, get(&format!("r{i}")), 10 * SECOND);
            assert_eq!(reply, Some(bulk(&format!("{i}"))));
        }
        cluster.assert_consistent();
    });
}

#[test]
fn reads_are_batched_and_follower_dbsize_is_linearizable() {
    // Goal: concurrent GETs share ReadIndex rounds, EXISTS counts duplicates as Redis does,
    // and DBSIZE on a follower (ReadIndex forwarded to the leader) sees every acknowledged
    // write. Method: 20 GETs at once, then EXISTS and DBSIZE.
    for_each_seed(
        "reads_are_batched_and_follower_dbsize_is_linearizable",
        |seed| {
            let mut cluster = cluster(seed);
            let leader = leader_of(&mut cluster, DATA, &[]);
            assert_eq!(
                cluster.call(leader, set("a", "1"), 10 * SECOND),
                Some(Reply::ok())
            );
            assert_eq!(
                cluster.call(leader, set("b", "2"), 10 * SECOND),
                Some(Reply::ok())
            );
            let rounds_before = status(&cluster, leader, DATA).read_rounds_started;
            let gets: Vec<_> = (0..20).map(|_| cluster.send(leader, get("a"))).collect();
            cluster.run_until(10 * SECOND, |c| gets.iter().all(|h| c.reply(*h).is_some()));
            for handle in &gets {
                assert_eq!(cluster.reply(*handle), Some(&bulk("1")));
            }
            let rounds = status(&cluster, leader, DATA).read_rounds_started - rounds_before;
            assert!(
                rounds < 20,
                "20 concurrent reads took {rounds} ReadIndex rounds"
            );

            let exists = command(&["EXISTS", "a", "a", "b", "nope"]);
            assert_eq!(
                cluster.call(leader, exists, 10 * SECOND),
                Some(Reply::Integer(3))
            );
            let follower = cluster
                .node_ids()
                .into_iter()
                .find(|&id| id != leader)
                .expect("3 nodes");
            assert_eq!(
                cluster.call(follower, command(&["DBSIZE"]), 10 * SECOND),
                Some(Reply::Integer(2))
            );
        },
    );
}

#[test]
fn a_seed_replays_to_the_same_trace() {
    // Goal: determinism: one seed, one history. Method: run a scenario with faults, a
    // partition and writes twice and compare the hash of every output of every node.
    let run = |seed: u64| -> (u64, u64) {
        let mut options = ClusterOptions::new(seed);
        options.faults = Faults::lossy();
        let mut cluster = Cluster::new(options);
        let leader = leader_of(&mut cluster, DATA, &[]);
        for i in 0..5 {
            cluster.send(leader, set("t", &i.to_string()));
        }
        cluster.isolate(leader);
        cluster.run_for(3 * SECOND);
        cluster.heal();
        cluster.run_for(3 * SECOND);
        (cluster.trace_hash(), cluster.events())
    };
    for_each_seed("a_seed_replays_to_the_same_trace", |seed| {
        let first = run(seed);
        let second = run(seed);
        println!("seed={seed} trace={:016x} events={}", first.0, first.1);
        assert_eq!(
            first, second,
            "seed {seed} did not replay to the same trace"
        );
    });
}

#[test]
fn a_follower_behind_the_compacted_log_catches_up_by_snapshot() {
    // Goal: the log is compacted every `snapshot_interval_entries`, a follower that missed
    // the compacted entries receives the leader's snapshot, installs it atomically, keeps it
    // across a crash, and can then lead with every acknowledged write. Method: interval 40;
    // crash a follower, write 150 SETs and some DELs, restart it, wait for it to catch up,
    // crash and restart it, then take the old leader away and read everything back. Odd
    // seeds also interrupt transfers.
    for_each_seed(
        "a_follower_behind_the_compacted_log_catches_up_by_snapshot",
        |seed| {
            let mut options = ClusterOptions::new(seed);
            options.snapshot_interval_entries = 40;
            if seed % 2 == 1 {
                // Lossy, and a third of the snapshot transfers break off halfway: the next
                // transfer must start over cleanly.
                options.faults = Faults::lossy();
                options.snapshot_interruptions = true;
            }
            let mut cluster = Cluster::new(options);
            let leader = leader_of(&mut cluster, DATA, &[]);
            let behind = cluster
                .node_ids()
                .into_iter()
                .find(|&id| id != leader)
                .expect("a follower");
            cluster.crash(behind);
            for i in 0..150 {
                let reply =
                    cluster.call(leader, set(&format!("k{i}"), &format!("v{i}")), 10 * SECOND);
                assert_eq!(reply, Some(Reply::ok()), "SET k{i}");
            }
            let reply = cluster.call(leader, del(&["k0", "k1", "nothing"]), 10 * SECOND);
            assert_eq!(reply, Some(Reply::Integer(2)));

            let leading = status(&cluster, leader, DATA);
            assert!(leading.snapshots.compactions >= 3, "{leading:?}");
            assert!(leading.snapshot_index > 100, "{leading:?}");
            assert!(
                leading.log_entries_in_memory <= 40 + 5,
                "the log is bounded by the interval: {leading:?}"
            );

            cluster.restart(behind);
            let target = leading.commit_index;
            let caught_up = cluster.run_until(10 * SECOND, |cluster| {
                cluster
                    .node(behind)
                    .and_then(|node| node.status().into_iter().find(|s| s.group == DATA))
                    .is_some_and(|s| s.applied_index >= target)
            });
            assert!(
                caught_up,
                "node {behind} never caught up: {:?}",
                status(&cluster, behind, DATA)
            );
            let follower = status(&cluster, behind, DATA);
            assert!(follower.snapshots.installed >= 1, "{follower:?}");
            assert!(status(&cluster, leader, DATA).snapshots.sent >= 1);
            cluster.assert_consistent();

            // The install is durable: a crash right after it loses nothing.
            cluster.crash(behind);
            cluster.restart(behind);
            cluster.run_for(2 * SECOND);
            assert!(status(&cluster, behind, DATA).applied_index >= target);

            cluster.crash(leader);
            let new_leader = leader_of(&mut cluster, DATA, &[leader]);
            for i in [2, 77, 149] {
                let reply = cluster.call(new_leader, get(&format!("k{i}")), 10 * SECOND);
                assert_eq!(
                    reply,
                    Some(bulk(&format!("v{i}"))),
                    "GET k{i} on node {new_leader}"
                );
            }
            let reply = cluster.call(new_leader, get("k0"), 10 * SECOND);
            assert_eq!(reply, Some(Reply::Null));
            let reply = cluster.call(new_leader, command(&["DBSIZE"]), 10 * SECOND);
            assert_eq!(reply, Some(Reply::Integer(148)));
            cluster.restart(leader);
            cluster.run_for(3 * SECOND);
            cluster.assert_consistent();
        },
    );
}

/// Sends `request` to whichever node leads `group` until one accepts it: `NOTLEADER` and
/// `TRYAGAIN` answers are retried, as the admin tool does.
fn at_leader(cluster: &mut Cluster, group: GroupId, request: Request) -> Reply {
    for _ in 0..100 {
        let Some(leader) = cluster.leader(group) else {
            cluster.run_for(SECOND / 5);
            continue;
        };
        match cluster.call(leader, request.clone(), 10 * SECOND) {
            Some(reply)
                if is_error_with(&reply, "NOTLEADER") || is_error_with(&reply, "TRYAGAIN") =>
            {
                cluster.run_for(SECOND / 5);
            }
            Some(reply) => return reply,
            None => {}
        }
    }
    panic!("no leader of group {group} accepted {request:?}");
}

fn change(cluster: &mut Cluster, group: GroupId, change: MembershipChange) {
    let reply = at_leader(
        cluster,
        group,
        Request::ChangeMembership {
            group,
            change: change.clone(),
        },
    );
    assert_eq!(reply, Reply::ok(), "{change:?} in group {group}");
}

/// Runs until `done` holds for the status of `group` at its leader.
fn wait_for_leader_status(
    cluster: &mut Cluster,
    group: GroupId,
    what: &str,
    done: impl Fn(&seshat_core::GroupStatus) -> bool,
) {
    let ok = cluster.run_until(20 * SECOND, |cluster| {
        cluster
            .leader(group)
            .and_then(|leader| cluster.node(leader))
            .and_then(|node| node.status().into_iter().find(|s| s.group == group))
            .is_some_and(|status| done(&status))
    });
    assert!(ok, "group {group}: {what}");
}

#[test]
fn the_cluster_grows_to_five_and_shrinks_to_three_without_losing_a_write() {
    // Goal: membership changes through joint consensus keep every acknowledged write. Method:
    // with writes between every step, add nodes 4 and 5 to both groups as learners (they
    // start from a snapshot), promote them, hand leadership to node 4, remove nodes 1 and 2,
    // then read every acknowledged write from the three that remain; the removed nodes say
    // they were removed.
    for_each_seed(
        "the_cluster_grows_to_five_and_shrinks_to_three_without_losing_a_write",
        |seed| {
            let mut cluster = cluster(seed);
            leader_of(&mut cluster, DATA, &[]);
            leader_of(&mut cluster, GroupId::SYSTEM, &[]);
            let mut acknowledged = Vec::new();
            let mut write = |cluster: &mut Cluster, round: usize| {
                for i in 0..5 {
                    let key = format!("m{round}-{i}");
                    if at_leader(cluster, DATA, set(&key, &key)) == Reply::ok() {
                        acknowledged.push(key);
                    }
                }
            };
            let groups = [GroupId::SYSTEM, DATA];
            write(&mut cluster, 0);
            for (round, id) in [(1, NodeId(4)), (2, NodeId(5))] {
                cluster.add_node(id);
                for group in groups {
                    let learner = MembershipChange::AddLearner {
                        node: id,
                        client_addr: format!("node{}:6379", id.0),
                        internal_addr: format!("node{}:7379", id.0),
                    };
                    change(&mut cluster, group, learner);
                    write(&mut cluster, round * 10);
                    let caught_up = cluster.run_until(20 * SECOND, |cluster| {
                        let Some(leader) = cluster.leader(group) else {
                            return false;
                        };
                        let commit = status(cluster, leader, group).commit_index;
                        status(cluster, id, group).applied_index >= commit
                    });
                    assert!(
                        caught_up,
                        "node {id} never caught up in group {group}: {:?} leader {:?}",
                        status(&cluster, id, group),
                        cluster.leader(group).map(|l| status(&cluster, l, group))
                    );
                    assert!(
                        status(&cluster, id, group).snapshots.installed >= 1,
                        "joined without a snapshot"
                    );
                    change(&mut cluster, group, MembershipChange::Promote(id));
                    write(&mut cluster, round * 10 + 1);
                    wait_for_leader_status(
                        &mut cluster,
                        group,
                        "promotion never left the joint configuration",
                        |s| s.voters.contains(&id.0) && s.voters_outgoing.is_empty(),
                    );
                }
            }
            // A transfer gives up if its messages are lost (lossy seeds): ask again.
            for group in groups {
                let took_over = (0..10).any(|_| {
                    let reply = at_leader(
                        &mut cluster,
                        group,
                        Request::TransferLeader {
                            group,
                            to: NodeId(4),
                        },
                    );
                    assert_eq!(reply, Reply::ok());
                    cluster.run_until(3 * SECOND, |cluster| {
                        cluster.leader(group) == Some(NodeId(4))
                    })
                });
                assert!(took_over, "group {group}: node 4 never took over");
            }
            for (round, id) in [(3, NodeId(1)), (4, NodeId(2))] {
                for group in groups {
                    change(&mut cluster, group, MembershipChange::Remove(id));
                    write(&mut cluster, round * 10);
                    wait_for_leader_status(
                        &mut cluster,
                        group,
                        "removal never left the joint configuration",
                        |s| !s.voters.contains(&id.0) && s.voters_outgoing.is_empty(),
                    );
                }
            }
            write(&mut cluster, 50);
            let leader = leader_of(&mut cluster, DATA, &[NodeId(1), NodeId(2)]);
            assert!(leader.0 >= 3, "a removed node leads");
            let mut voters = status(&cluster, leader, DATA).voters;
            voters.sort_unstable();
            assert_eq!(voters, vec![3, 4, 5]);
            let Some(Reply::Verbatim(nodes)) =
                cluster.call(leader, command(&["CLUSTER", "NODES"]), 10 * SECOND)
            else {
                panic!("CLUSTER NODES answered no text");
            };
            let lines: Vec<&str> = nodes.lines().collect();
            assert_eq!(lines.len(), 3, "{nodes}");
            let masters: Vec<&&str> = lines
                .iter()
                .filter(|l| l.contains(" myself,master "))
                .collect();
            assert_eq!(masters.len(), 1, "{nodes}");
            assert!(masters[0].ends_with(" connected 0-16383"), "{nodes}");
            assert!(
                !nodes.contains("node1:") && !nodes.contains("node2:"),
                "{nodes}"
            );
            for key in &acknowledged {
                let reply = cluster.call(leader, get(key), 10 * SECOND);
                assert_eq!(
                    reply,
                    Some(bulk(key)),
                    "acknowledged {key} on node {leader}"
                );
            }
            assert!(
                acknowledged.len() >= 40,
                "only {} writes acknowledged",
                acknowledged.len()
            );
            // A removed node that never heard the outcome campaigns, and the leader tells it.
            cluster.run_for(3 * SECOND);
            for removed in [NodeId(1), NodeId(2)] {
                let reply = cluster.call(removed, get("m0-0"), 10 * SECOND);
                assert!(
                    matches!(&reply, Some(Reply::Error(text)) if text.contains("was removed")),
                    "node {removed} answered {reply:?}"
                );
            }
            cluster.assert_consistent();
        },
    );
}

#[test]
fn a_follower_cut_off_during_a_membership_change_catches_up_from_a_leader_it_never_knew() {
    // Goal: a node steps nothing from a node outside the configuration it has applied, yet a
    // follower that missed the entries adding a node still catches up once that node leads
    // (issue 13, point 2). It asks the stranger for a snapshot, which carries the
    // configuration naming it. Method: cut node 3 off; add node 4 to both groups, promote it
    // and hand it leadership of both; write; heal; node 3 must apply everything, know node 4
    // as its leader, and serve what was written.
    for_each_seed(
        "a_follower_cut_off_during_a_membership_change_catches_up_from_a_leader_it_never_knew",
        |seed| {
            let mut cluster = cluster(seed);
            leader_of(&mut cluster, DATA, &[]);
            leader_of(&mut cluster, GroupId::SYSTEM, &[]);
            let (behind, newcomer) = (NodeId(3), NodeId(4));
            cluster.isolate(behind);
            let groups = [GroupId::SYSTEM, DATA];
            for group in groups {
                leader_of(&mut cluster, group, &[behind]);
            }
            cluster.add_node(newcomer);
            cluster.partition(&[behind], &[newcomer]);
            for group in groups {
                let learner = MembershipChange::AddLearner {
                    node: newcomer,
                    client_addr: format!("node{}:6379", newcomer.0),
                    internal_addr: format!("node{}:7379", newcomer.0),
                };
                change(&mut cluster, group, learner);
                let caught_up = cluster.run_until(20 * SECOND, |cluster| {
                    cluster.leader(group).is_some_and(|leader| {
                        status(cluster, newcomer, group).applied_index
                            >= status(cluster, leader, group).commit_index
                    })
                });
                assert!(
                    caught_up,
                    "node {newcomer} never caught up in group {group}"
                );
                change(&mut cluster, group, MembershipChange::Promote(newcomer));
                wait_for_leader_status(
                    &mut cluster,
                    group,
                    "promotion never left the joint configuration",
                    |s| s.voters.contains(&newcomer.0) && s.voters_outgoing.is_empty(),
                );
                let took_over = (0..10).any(|_| {
                    let to = newcomer;
                    let reply =
                        at_leader(&mut cluster, group, Request::TransferLeader { group, to });
                    assert_eq!(reply, Reply::ok());
                    cluster.run_until(3 * SECOND, |cluster| cluster.leader(group) == Some(to))
                });
                assert!(took_over, "group {group}: node {newcomer} never took over");
            }
            assert_eq!(
                at_leader(&mut cluster, DATA, set("written", "apart")),
                Reply::ok()
            );
            assert!(
                !status(&cluster, behind, DATA).voters.contains(&newcomer.0),
                "node {behind} heard of node {newcomer} while cut off"
            );
            cluster.heal();
            for group in groups {
                let caught_up = cluster.run_until(30 * SECOND, |cluster| {
                    let mine = status(cluster, behind, group);
                    let lead = status(cluster, newcomer, group);
                    mine.voters.contains(&newcomer.0)
                        && mine.leader == Some(newcomer)
                        && mine.applied_index >= lead.commit_index
                });
                assert!(
                    caught_up,
                    "node {behind} never caught up in group {group}: {:?}",
                    status(&cluster, behind, group)
                );
                assert!(
                    status(&cluster, behind, group).snapshots.installed >= 1,
                    "node {behind} caught up without the snapshot it must ask for"
                );
            }
            // Node 3 forwards a read to the leader it now knows, and sees the write.
            let reply = cluster.call(behind, command(&["DBSIZE"]), 10 * SECOND);
            assert_eq!(reply, Some(Reply::Integer(1)));
            cluster.assert_consistent();
        },
    );
}

#[test]
fn a_leader_that_removes_itself_hands_leadership_over() {
    // Goal: removing the leader itself (no transfer first) does not leave the group with a
    // leader that can propose nothing. Method: remove the data group's leader at the leader,
    // then write through whoever leads next.
    for_each_seed(
        "a_leader_that_removes_itself_hands_leadership_over",
        |seed| {
            let mut cluster = cluster(seed);
            let leader = leader_of(&mut cluster, DATA, &[]);
            change(&mut cluster, DATA, MembershipChange::Remove(leader));
            let handed_over = cluster.run_until(10 * SECOND, |cluster| {
                cluster.leader(DATA).is_some_and(|next| next != leader)
            });
            assert!(handed_over, "node {leader} kept leading after its removal");
            let reply = at_leader(&mut cluster, DATA, set("after", "removal"));
            assert_eq!(reply, Reply::ok());
            let next = cluster.leader(DATA).expect("a leader");
            let mut voters = status(&cluster, next, DATA).voters;
            voters.sort_unstable();
            assert!(
                !voters.contains(&leader.0) && voters.len() == 2,
                "{voters:?}"
            );
        },
    );
}

fn status(cluster: &Cluster, node: NodeId, group: GroupId) -> seshat_core::GroupStatus {
    cluster
        .node(node)
        .expect("running")
        .status()
        .into_iter()
        .find(|s| s.group == group)
        .expect("group exists")
}

#[test]
#[ignore = "debugging aid: prints where two runs of SESHAT_SEED diverge"]
fn print_trace_divergence() {
    let seed = seeds()[0];
    let run = || {
        let mut options = ClusterOptions::new(seed);
        options.faults = Faults::lossy();
        let mut cluster = Cluster::new(options);
        cluster.record_trace();
        let leader = leader_of(&mut cluster, DATA, &[]);
        for i in 0..5 {
            cluster.send(leader, set("t", &i.to_string()));
        }
        cluster.isolate(leader);
        cluster.run_for(3 * SECOND);
        cluster.heal();
        cluster.run_for(3 * SECOND);
        cluster.trace_log().to_vec()
    };
    let (a, b) = (run(), run());
    if let Some(i) = a.iter().zip(&b).position(|(x, y)| x != y) {
        println!("first divergence at output {i}:\n{}\n{}", a[i], b[i]);
    }
}

#[test]
fn a_pipelined_connection_sees_its_commands_in_the_order_sent() {
    // Goal: commands of one connection take effect in the order sent, reads and writes mixed,
    // while other connections write the same keys. Method: pipeline SET/GET/DEL/EXISTS/INCR
    // on one key to the leader, with a second pipeline interleaved on another connection,
    // and check every reply against a sequential model of the first connection (the other
    // connection writes other keys, so the model is exact).
    for_each_seed(
        "a_pipelined_connection_sees_its_commands_in_the_order_sent",
        |seed| {
            let mut cluster = cluster(seed);
            let leader = leader_of(&mut cluster, DATA, &[]);
            let mut requests = Vec::new();
            let mut expected = Vec::new();
            let mut value: Option<i64> = None;
            for i in 0..60 {
                match (seed + i) % 6 {
                    0 | 3 => {
                        requests.push(set("k", &i.to_string()));
                        expected.push(Reply::ok());
                        value = Some(i as i64);
                    }
                    1 | 4 => {
                        requests.push(get("k"));
                        expected.push(value.map_or(Reply::Null, |v| bulk(&v.to_string())));
                    }
                    2 => {
                        requests.push(del(&["k"]));
                        expected.push(Reply::Integer(value.take().is_some().into()));
                    }
                    _ => {
                        requests.push(command(&["INCR", "k"]));
                        let next = value.unwrap_or(0) + 1;
                        value = Some(next);
                        expected.push(Reply::Integer(next));
                    }
                }
                if i % 7 == 0 {
                    requests.push(command(&["EXISTS", "k", "k"]));
                    expected.push(Reply::Integer(if value.is_some() { 2 } else { 0 }));
                }
            }
            let others: Vec<Request> = (0..40)
                .map(|i| {
                    if i % 2 == 0 {
                        set("other", "x")
                    } else {
                        get("other")
                    }
                })
                .collect();
            let handles = cluster.send_pipeline(leader, requests);
            let _ = cluster.send_pipeline(leader, others);
            let all = handles.clone();
            assert!(
                cluster.run_until(20 * SECOND, |c| all.iter().all(|h| c.reply(*h).is_some())),
                "the pipeline was not answered"
            );
            for (i, (handle, want)) in handles.iter().zip(&expected).enumerate() {
                let got = cluster.reply(*handle).expect("answered");
                if got.is_error() && !want.is_error() {
                    // A leader change: this command may or may not have taken effect, so the
                    // model ends here.
                    break;
                }
                assert_eq!(got, want, "command {i} of the pipeline");
            }
        },
    );
}

#[test]
fn a_read_never_rides_past_an_earlier_read_of_its_connection() {
    // Goal: a read that could ride on another connection's pending write (its time floor)
    // is not served before an earlier read of its own connection that waits for a ReadIndex
    // round. Method: a key with a deadline makes reads wait for a fresh clock entry; one read
    // starts a round; then connection A reads k (waiting for the next round), B sets k to 1,
    // A reads k again (its floor is B's write), B sets k to 2. A's two reads must see k's
    // values in the order they were written: never 2 then 1, never 1 then nil.
    for_each_seed(
        "a_read_never_rides_past_an_earlier_read_of_its_connection",
        |seed| {
            let mut cluster = Cluster::new(ClusterOptions::new(seed));
            let leader = leader_of(&mut cluster, DATA, &[]);
            let reply = cluster.call(leader, command(&["SET", "t", "v", "EX", "1000"]), SECOND);
            assert_eq!(reply, Some(Reply::ok()));
            cluster.run_for(Duration::from_millis(200));
            let (other, a, b) = (cluster.connect(), cluster.connect(), cluster.connect());
            cluster.send_on(leader, other, get("x"));
            cluster.run_for(Duration::from_micros(500));
            let first = cluster.send_on(leader, a, get("k"));
            cluster.send_on(leader, b, set("k", "1"));
            let second = cluster.send_on(leader, a, get("k"));
            cluster.send_on(leader, b, set("k", "2"));
            assert!(
                cluster.run_until(5 * SECOND, |c| c.reply(first).is_some()
                    && c.reply(second).is_some()),
                "the reads were not answered"
            );
            let rank = |handle| match cluster.reply(handle).expect("answered") {
                Reply::Null => 0,
                reply if *reply == bulk("1") => 1,
                reply if *reply == bulk("2") => 2,
                reply => panic!("unexpected reply {reply:?}"),
            };
            assert!(
                rank(first) <= rank(second),
                "A read {:?} and then {:?}",
                cluster.reply(first),
                cluster.reply(second)
            );
        },
    );
}

/// A follower, isolated until it knows no leader of the data group any more.
fn follower_that_forgot_the_leader(cluster: &mut Cluster) -> NodeId {
    let leader = leader_of(cluster, DATA, &[]);
    let alone = cluster
        .node_ids()
        .into_iter()
        .find(|&id| id != leader)
        .expect("a follower");
    cluster.isolate(alone);
    cluster.run_for(3 * SECOND);
    assert_eq!(
        status(cluster, alone, DATA).leader,
        None,
        "still knows a leader"
    );
    alone
}

#[test]
fn a_follower_without_a_leader_forgets_the_reads_it_answered_noquorum() {
    // Goal: reads queued on a follower that knows no leader do not pile up after their
    // requests timed out. Method: isolate a follower until it forgets the leader, send it 200
    // DBSIZEs (keyless: a follower queues them for a ReadIndex round), let them time out.
    let mut cluster = cluster(2);
    let alone = follower_that_forgot_the_leader(&mut cluster);
    let handles: Vec<_> = (0..200)
        .map(|_| cluster.send(alone, command(&["DBSIZE"])))
        .collect();
    cluster.run_for(10 * SECOND);
    for handle in handles {
        assert!(
            matches!(cluster.reply(handle), Some(Reply::Error(e)) if e.starts_with("NOQUORUM")),
            "{:?}",
            cluster.reply(handle)
        );
    }
    assert_eq!(status(&cluster, alone, DATA).reads_pending, 0);
}

#[test]
fn cluster_slots_lists_the_asked_node_first_while_no_leader_is_known() {
    // Goal: a cluster client starting during an election still gets a slot map (redis-py
    // fails its start on an empty one). Method: isolate a follower until it forgets the
    // leader; it lists itself first, then the others.
    let mut cluster = cluster(1);
    let alone = follower_that_forgot_the_leader(&mut cluster);
    let Some(Reply::Array(ranges)) =
        cluster.call(alone, command(&["CLUSTER", "SLOTS"]), 10 * SECOND)
    else {
        panic!("CLUSTER SLOTS is not an array");
    };
    let Some(Reply::Array(range)) = ranges.first() else {
        panic!("no slot range while no leader is known: {ranges:?}");
    };
    assert_eq!(range.len(), 2 + 3, "this node, then two replicas");
    let Reply::Array(first) = &range[2] else {
        panic!("a node is an array")
    };
    assert_eq!(first[2], Reply::bulk(format!("{:040x}", alone.0)));
}

#[test]
fn cluster_commands_describe_one_shard_led_by_the_raft_leader() {
    // Goal: cluster-mode clients read the topology: CLUSTER SLOTS, SHARDS, INFO and MYID in
    // Redis Cluster's shapes, the Raft leader as the master of every slot, on every node.
    // Method: ask each node and check the replies field by field; then the slot commands.
    for_each_seed(
        "cluster_commands_describe_one_shard_led_by_the_raft_leader",
        |seed| {
            let mut cluster = cluster(seed);
            let leader = leader_of(&mut cluster, DATA, &[]);
            let hex = |id: NodeId| Reply::bulk(format!("{:040x}", id.0));
            for node in cluster.node_ids() {
                let Some(Reply::Array(ranges)) =
                    cluster.call(node, command(&["CLUSTER", "SLOTS"]), 10 * SECOND)
                else {
                    panic!("CLUSTER SLOTS is not an array");
                };
                assert_eq!(ranges.len(), 1, "one slot range");
                let Reply::Array(range) = &ranges[0] else {
                    panic!("a range is an array")
                };
                assert_eq!(range[0], Reply::Integer(0));
                assert_eq!(range[1], Reply::Integer(16383));
                assert_eq!(range.len(), 2 + 3, "the master, then two replicas");
                let Reply::Array(master) = &range[2] else {
                    panic!("a node is an array")
                };
                assert!(matches!(&master[0], Reply::Bulk(host) if !host.is_empty()));
                assert!(matches!(master[1], Reply::Integer(port) if port > 0));
                assert_eq!(master[2], hex(leader), "node {node} lists the leader first");
                assert_eq!(master[3], Reply::Map(Vec::new()));

                let Some(Reply::Array(shards)) =
                    cluster.call(node, command(&["CLUSTER", "SHARDS"]), 10 * SECOND)
                else {
                    panic!("CLUSTER SHARDS is not an array");
                };
                let Reply::Map(shard) = &shards[0] else {
                    panic!("a shard is a map")
                };
                assert_eq!(shard[0].0, Reply::bulk("slots"));
                assert_eq!(
                    shard[0].1,
                    Reply::Array(vec![Reply::Integer(0), Reply::Integer(16383)])
                );
                assert_eq!(shard[1].0, Reply::bulk("nodes"));
                let Reply::Array(nodes) = &shard[1].1 else {
                    panic!("nodes is an array")
                };
                assert_eq!(nodes.len(), 3);
                let field = |node: &Reply, name: &str| -> Reply {
                    let Reply::Map(fields) = node else {
                        panic!("a shard node is a map")
                    };
                    fields
                        .iter()
                        .find(|(k, _)| *k == Reply::bulk(name.to_owned()))
                        .map(|(_, v)| v.clone())
                        .unwrap_or_else(|| panic!("no {name}"))
                };
                assert_eq!(field(&nodes[0], "id"), hex(leader));
                assert_eq!(field(&nodes[0], "role"), Reply::bulk("master"));
                assert_eq!(field(&nodes[1], "role"), Reply::bulk("replica"));
                for name in ["port", "ip", "endpoint", "replication-offset", "health"] {
                    field(&nodes[2], name);
                }

                let Some(Reply::Verbatim(info)) =
                    cluster.call(node, command(&["CLUSTER", "INFO"]), 10 * SECOND)
                else {
                    panic!("CLUSTER INFO is not text");
                };
                let term = status(&cluster, node, DATA).term;
                for line in [
                    "cluster_state:ok".to_owned(),
                    "cluster_slots_assigned:16384".to_owned(),
                    "cluster_known_nodes:3".to_owned(),
                    "cluster_size:1".to_owned(),
                    format!("cluster_current_epoch:{term}"),
                ] {
                    assert!(
                        info.split("\r\n").any(|l| l == line),
                        "node {node}: no {line} in {info:?}"
                    );
                }
                assert_eq!(
                    cluster.call(node, command(&["CLUSTER", "MYID"]), 10 * SECOND),
                    Some(hex(node))
                );
            }
            assert_eq!(
                cluster.call(leader, set("foo", "1"), 10 * SECOND),
                Some(Reply::ok())
            );
            assert_eq!(
                cluster.call(
                    leader,
                    command(&["CLUSTER", "COUNTKEYSINSLOT", "12182"]),
                    10 * SECOND
                ),
                Some(Reply::Integer(1))
            );
            assert_eq!(
                cluster.call(
                    leader,
                    command(&["CLUSTER", "GETKEYSINSLOT", "12182", "5"]),
                    10 * SECOND
                ),
                Some(Reply::Array(vec![bulk("foo")]))
            );
        },
    );
}

// --- follower forwarding (`cluster.follower_requests = "forward"`) ------------------------

/// A three-node cluster whose followers forward; odd seeds get a lossy network for Raft.
fn forwarding_cluster(seed: u64) -> Cluster {
    let mut options = ClusterOptions::new(seed);
    options.follower_requests = seshat_core::config::FollowerRequests::Forward;
    if seed % 2 == 1 {
        options.faults = Faults::lossy();
    }
    Cluster::new(options)
}

/// Sends SET/GET pairs of `key` on `client`'s connection to `node`, pipelined, values
/// `round-<i>` for each `i` of `pairs`; returns the handles, SET and GET alternating.
fn pipeline_pairs(
    cluster: &mut Cluster,
    node: NodeId,
    client: seshat_core::ClientId,
    key: &str,
    round: &str,
    pairs: std::ops::Range<usize>,
) -> Vec<seshat_core::testkit::RequestHandle> {
    let mut handles = Vec::new();
    for i in pairs {
        handles.push(cluster.send_on(node, client, set(key, &format!("{round}-{i}"))));
        handles.push(cluster.send_on(node, client, get(key)));
    }
    handles
}

/// Checks the replies of [`pipeline_pairs`] against connection order: an acknowledged SET is
/// read by the GET right after it; a GET after a SET that failed reads a value no later than
/// that SET's and no earlier than the last acknowledged one (`last_ok`, carried across
/// rounds); failures are NOQUORUM or TRYAGAIN only. Returns how many requests failed.
fn check_pairs(
    cluster: &Cluster,
    handles: &[seshat_core::testkit::RequestHandle],
    round: &str,
    last_ok: &mut Option<String>,
) -> usize {
    let mut failed = 0;
    // What the next GET may read: `None` for no value (nothing acknowledged yet).
    let mut candidates: Vec<Option<String>> = vec![last_ok.clone()];
    for (i, pair) in handles.chunks(2).enumerate() {
        let value = format!("{round}-{i}");
        let set_reply = cluster.reply(pair[0]).expect("SET answered");
        if *set_reply == Reply::ok() {
            candidates = vec![Some(value.clone())];
            *last_ok = Some(value.clone());
        } else {
            assert!(
                is_error_with(set_reply, "NOQUORUM") || is_error_with(set_reply, "TRYAGAIN"),
                "SET {value} answered {set_reply:?}"
            );
            failed += 1;
            candidates.push(Some(value.clone()));
        }
        let read = match cluster.reply(pair[1]).expect("GET answered") {
            Reply::Bulk(read) => Some(Some(String::from_utf8_lossy(read).into_owned())),
            Reply::Null => Some(None),
            other => {
                assert!(
                    is_error_with(other, "NOQUORUM") || is_error_with(other, "TRYAGAIN"),
                    "GET after SET {value} answered {other:?}"
                );
                failed += 1;
                None
            }
        };
        if let Some(read) = read {
            assert!(
                candidates.contains(&read),
                "GET after SET {value} read {read:?}, expected one of {candidates:?}"
            );
            // What the GET saw is settled for the GETs after it.
            if let Some(seen) = &read {
                *last_ok = Some(seen.clone());
            }
            candidates = vec![read];
        }
    }
    failed
}

/// [`forwarding_cluster`] once it elected a leader: the cluster, the leader, a follower.
fn forwarding_cluster_with_leader(seed: u64) -> (Cluster, NodeId, NodeId) {
    let mut cluster = forwarding_cluster(seed);
    let leader = leader_of(&mut cluster, DATA, &[]);
    let follower = a_follower_of(&cluster, leader);
    (cluster, leader, follower)
}

fn a_follower_of(cluster: &Cluster, leader: NodeId) -> NodeId {
    cluster
        .node_ids()
        .into_iter()
        .find(|&id| id != leader)
        .expect("3 nodes")
}

fn all_answered(cluster: &Cluster, handles: &[seshat_core::testkit::RequestHandle]) -> bool {
    handles
        .iter()
        .all(|&handle| cluster.reply(handle).is_some())
}

#[test]
fn a_forwarding_follower_keeps_a_pipelined_connection_in_order_across_a_leader_crash() {
    // Goal: with follower_requests = "forward", one pipelined connection to a follower reads
    // its own writes in the order it sent them, before, during and after the leader dies.
    // Method: 20 SET/GET pairs on one connection, then 20 more with the leader crashed right
    // after they went out (some in flight to it), then 20 once a new leader is elected (it
    // may be the follower itself); every reply is checked against connection order.
    for_each_seed(
        "a_forwarding_follower_keeps_a_pipelined_connection_in_order_across_a_leader_crash",
        |seed| {
            let (mut cluster, leader, follower) = forwarding_cluster_with_leader(seed);
            let client = cluster.connect();
            let mut last_ok = None;

            let before = pipeline_pairs(&mut cluster, follower, client, "k", "before", 0..20);
            assert!(cluster.run_until(10 * SECOND, |c| all_answered(c, &before)));
            let failed = check_pairs(&cluster, &before, "before", &mut last_ok);
            assert_eq!(failed, 0, "a healthy cluster refused forwarded requests");

            // The seed picks when the leader dies: before the first forward arrives, or after
            // some were answered; more requests follow while no new leader is known.
            let mut during = pipeline_pairs(&mut cluster, follower, client, "k", "during", 0..20);
            cluster.run_for(Duration::from_millis(seed % 40));
            cluster.crash(leader);
            during.extend(pipeline_pairs(
                &mut cluster,
                follower,
                client,
                "k",
                "during",
                20..30,
            ));
            cluster.run_for(Duration::from_millis(600));
            during.extend(pipeline_pairs(
                &mut cluster,
                follower,
                client,
                "k",
                "during",
                30..40,
            ));
            assert!(
                cluster.run_until(10 * SECOND, |c| all_answered(c, &during)),
                "requests in flight across the crash were not all answered within 10 s"
            );
            check_pairs(&cluster, &during, "during", &mut last_ok);

            leader_of(&mut cluster, DATA, &[leader]);
            let after = pipeline_pairs(&mut cluster, follower, client, "k", "after", 0..20);
            assert!(cluster.run_until(10 * SECOND, |c| all_answered(c, &after)));
            let failed = check_pairs(&cluster, &after, "after", &mut last_ok);
            assert_eq!(failed, 0, "the new leader refused forwarded requests");
            cluster.restart(leader);
            cluster.run_for(2 * SECOND);
            cluster.assert_consistent();
        },
    );
}

#[test]
fn a_forwarding_follower_keeps_order_across_a_leadership_transfer() {
    // Goal: requests a leader refuses because it handed leadership over (NOTLEADER) are sent
    // again to the next leader, in order, never answered MOVED and never lost. Method: move
    // leadership to the other follower while a pipeline from the first is in flight.
    for_each_seed(
        "a_forwarding_follower_keeps_order_across_a_leadership_transfer",
        |seed| {
            let (mut cluster, leader, follower) = forwarding_cluster_with_leader(seed);
            let heir = cluster
                .node_ids()
                .into_iter()
                .find(|&id| id != leader && id != follower)
                .expect("3 nodes");
            let client = cluster.connect();
            let mut last_ok = None;
            let handles = pipeline_pairs(&mut cluster, follower, client, "t", "moving", 0..30);
            cluster.send(
                leader,
                Request::TransferLeader {
                    group: DATA,
                    to: heir,
                },
            );
            assert!(cluster.run_until(10 * SECOND, |c| all_answered(c, &handles)));
            check_pairs(&cluster, &handles, "moving", &mut last_ok);
            for handle in &handles {
                let reply = cluster.reply(*handle).expect("answered");
                assert!(!is_error_with(reply, "MOVED"), "answered {reply:?}");
                assert!(!is_error_with(reply, "NOTLEADER"), "answered {reply:?}");
            }
            let after = pipeline_pairs(&mut cluster, follower, client, "t", "after", 0..5);
            assert!(cluster.run_until(10 * SECOND, |c| all_answered(c, &after)));
            assert_eq!(check_pairs(&cluster, &after, "after", &mut last_ok), 0);
        },
    );
}

#[test]
fn a_leader_handing_over_keeps_a_pipelined_connection_in_order() {
    // Goal: a write the leader cannot propose because it is handing leadership over (raft-rs
    // drops proposals then) waits, and the connection's later commands wait behind it: none
    // is served first. Method: forward mode (the parked write then runs at the next leader);
    // start a transfer and, in the same instant, pipeline DEL k, GET k, SET k, GET k to the
    // old leader; every reply must match the connection's own sequential order (simulator,
    // forward mode, membership-churn seed 20: a GET after a DEL returned the deleted value).
    for_each_seed(
        "a_leader_handing_over_keeps_a_pipelined_connection_in_order",
        |seed| {
            let (mut cluster, leader, heir) = forwarding_cluster_with_leader(seed);
            assert_eq!(
                cluster.call(leader, set("k", "old"), 5 * SECOND),
                Some(Reply::ok())
            );
            let client = cluster.connect();
            cluster.send(
                leader,
                Request::TransferLeader {
                    group: DATA,
                    to: heir,
                },
            );
            let pipeline = [del(&["k"]), get("k"), set("k", "new"), get("k")];
            let handles: Vec<_> = pipeline
                .into_iter()
                .map(|request| cluster.send_on(leader, client, request))
                .collect();
            assert!(cluster.run_until(10 * SECOND, |c| all_answered(c, &handles)));
            let replies: Vec<&Reply> = handles
                .iter()
                .map(|h| cluster.reply(*h).expect("answered"))
                .collect();
            // Each command either failed (it may not have run) or saw the ones before it.
            let mut value = Some("old");
            for (i, reply) in replies.iter().enumerate() {
                if reply.is_error() {
                    return; // Outcome unknown from here on: the model ends.
                }
                match i {
                    0 => {
                        assert_eq!(**reply, Reply::Integer(1), "DEL: {replies:?}");
                        value = None;
                    }
                    1 | 3 => assert_eq!(
                        **reply,
                        value.map_or(Reply::Null, bulk),
                        "GET {i}: {replies:?}"
                    ),
                    _ => {
                        assert_eq!(**reply, Reply::ok(), "SET: {replies:?}");
                        value = Some("new");
                    }
                }
            }
        },
    );
}

#[test]
fn a_partitioned_forwarding_follower_answers_noquorum_within_the_timeout() {
    // Goal: a forwarded request that reaches no leader gets NOQUORUM within the request
    // timeout, as a parked one does, and never OK. Method: cut a follower off, ask it at
    // once (it still believes in the leader, so it forwards into the cut link) and again
    // after its election timeout (no leader known).
    for_each_seed(
        "a_partitioned_forwarding_follower_answers_noquorum_within_the_timeout",
        |seed| {
            let mut cluster = forwarding_cluster(seed);
            let leader = leader_of(&mut cluster, DATA, &[]);
            let lonely = a_follower_of(&cluster, leader);
            cluster.isolate(lonely);
            let client = cluster.connect();
            for pause in [Duration::ZERO, 2 * SECOND] {
                cluster.run_for(pause);
                let sent_at = cluster.elapsed();
                let handles = [
                    cluster.send_on(lonely, client, set("p", "1")),
                    cluster.send_on(lonely, client, get("p")),
                    cluster.send_on(lonely, client, command(&["DBSIZE"])),
                ];
                assert!(cluster.run_until(10 * SECOND, |c| all_answered(c, &handles)));
                for handle in handles {
                    let reply = cluster.reply(handle).expect("answered");
                    assert!(is_error_with(reply, "NOQUORUM"), "answered {reply:?}");
                    assert_answered_within_the_timeout(&cluster, handle, sent_at);
                }
            }
        },
    );
}

#[test]
fn a_leader_refuses_forwards_from_strangers_old_terms_and_broken_links() {
    // Goal: a leader runs a forwarded request only from a member, in its own term, on the
    // follower's newest link. Method: hand the leader forged forwards and read its answers.
    let mut cluster = forwarding_cluster(2);
    let leader = leader_of(&mut cluster, DATA, &[]);
    let follower = a_follower_of(&cluster, leader);
    let term = status(&cluster, leader, DATA).term;
    let forward =
        |from: u64, client: u64, term: u64, generation: u64| seshat_core::ForwardedRequest {
            from: NodeId(from),
            group: DATA,
            client: seshat_core::ClientId(client),
            id: seshat_core::RequestId(1),
            term,
            link: seshat_core::Link {
                nonce: 7,
                generation,
            },
            args: vec![
                Bytes::from_static(b"SET"),
                Bytes::from_static(b"f"),
                Bytes::from_static(b"1"),
            ],
        };
    let answer = |cluster: &mut Cluster, request| {
        let handle = cluster.inject_forwarded(leader, request);
        cluster.run_until(10 * SECOND, |c| c.reply(handle).is_some());
        cluster.reply(handle).cloned().expect("answered")
    };
    let stranger = answer(&mut cluster, forward(9, 1, term, 0));
    assert_eq!(
        stranger,
        Reply::error(format!("ERR node 9 is not a member of group {DATA}"))
    );
    let old_term = answer(&mut cluster, forward(follower.0, 2, term - 1, 0));
    assert!(is_error_with(&old_term, "NOTLEADER"), "{old_term:?}");
    assert_eq!(
        answer(&mut cluster, forward(follower.0, 3, term, 5)),
        Reply::ok()
    );
    let stale = answer(&mut cluster, forward(follower.0, 4, term, 4));
    assert!(is_error_with(&stale, "NOQUORUM"), "{stale:?}");
    let mut bad = forward(follower.0, 5, term, 5);
    bad.args = vec![
        Bytes::from_static(b"SET"),
        Bytes::from(vec![b'k'; 300]),
        Bytes::from_static(b"1"),
    ];
    assert_eq!(answer(&mut cluster, bad), Reply::error("ERR key too large"));
    let mut info = forward(follower.0, 6, term, 5);
    info.args = vec![Bytes::from_static(b"INFO")];
    assert!(answer(&mut cluster, info).is_error());
    assert_eq!(
        cluster.call(leader, get("f"), 10 * SECOND),
        Some(bulk("1")),
        "the accepted forward ran"
    );
}
