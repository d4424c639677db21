//! Key expiry on the in-process cluster: the leader's active expiry reclaims keys nobody
//! reads, TTLs are read at a cluster time close to the leader's clock, and deadlines survive
//! snapshots, restarts and a change of leader.

use std::time::Duration;

use bytes::Bytes;
use seshat_core::cmd::CommandLimits;
use seshat_core::testkit::{Cluster, ClusterOptions};
use seshat_core::{Call, GroupId, NodeId, Reply, Request};

const SECOND: Duration = Duration::from_secs(1);
const DATA: GroupId = GroupId::FIRST_DATA;

fn command(words: &[&str]) -> Request {
    let args = words
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect();
    Request::from(Call::parse(args, &CommandLimits::default()).expect("a valid command"))
}

fn call(cluster: &mut Cluster, node: NodeId, words: &[&str]) -> Reply {
    cluster
        .call(node, command(words), 10 * SECOND)
        .unwrap_or_else(|| panic!("{words:?} on node {node}: no reply"))
}

fn leader(cluster: &mut Cluster, ignoring: &[NodeId]) -> NodeId {
    cluster
        .wait_for_stable_leader(DATA, 10 * SECOND, ignoring)
        .expect("a stable leader")
}

fn integer(reply: Reply) -> i64 {
    match reply {
        Reply::Integer(n) => n,
        other => panic!("not an integer: {other:?}"),
    }
}

#[test]
fn the_leader_reclaims_expired_keys_nobody_reads() {
    // Goal: short-lived keys do not pile up. Method: 600 keys with TTLs under a second and
    // 10 long-lived ones, then no traffic at all for 3 s: every replica must be down to the
    // 10, in more than one expiry entry (batches are bounded).
    for seed in 1..=3 {
        let mut cluster = Cluster::new(ClusterOptions::new(seed));
        let leader = leader(&mut cluster, &[]);
        for i in 0..600 {
            let ttl = (100 + i % 700).to_string();
            let reply = call(
                &mut cluster,
                leader,
                &["SET", &format!("s{i}"), "v", "PX", &ttl],
            );
            assert_eq!(reply, Reply::ok());
        }
        for i in 0..10 {
            call(
                &mut cluster,
                leader,
                &["SET", &format!("l{i}"), "v", "EX", "100"],
            );
        }
        cluster.run_for(3 * SECOND);
        for node in cluster.node_ids() {
            assert_eq!(
                call(&mut cluster, node, &["DBSIZE"]),
                Reply::Integer(10),
                "node {node}"
            );
        }
        cluster.assert_consistent();
    }
}

#[test]
fn a_ttl_is_read_at_the_leaders_time_even_without_writes() {
    // Goal: reads see time pass although no entry was written for seconds (the read waits
    // for an entry stamped now instead of reading at the last write's time).
    let mut cluster = Cluster::new(ClusterOptions::new(7));
    let leader = leader(&mut cluster, &[]);
    call(&mut cluster, leader, &["SET", "k", "v", "EX", "100"]);
    call(&mut cluster, leader, &["SET", "short", "v", "PX", "1500"]);
    cluster.run_for(5 * SECOND);
    let ttl = integer(call(&mut cluster, leader, &["PTTL", "k"]));
    assert!(
        (94_900..=95_100).contains(&ttl),
        "PTTL {ttl} after 5 s of a 100 s TTL"
    );
    assert_eq!(call(&mut cluster, leader, &["GET", "short"]), Reply::Null);
    assert_eq!(
        call(&mut cluster, leader, &["TTL", "short"]),
        Reply::Integer(-2)
    );
}

#[test]
fn deadlines_survive_snapshots_restarts_and_a_new_leader() {
    // Goal: a deadline is data: a follower that catches up by snapshot, and a node that
    // restarts, hold the same deadlines, and a new leader expires the keys on time.
    let mut options = ClusterOptions::new(11);
    options.snapshot_interval_entries = 20;
    let mut cluster = Cluster::new(options);
    let first = leader(&mut cluster, &[]);
    let behind = cluster
        .node_ids()
        .into_iter()
        .find(|&id| id != first)
        .expect("a follower");
    cluster.crash(behind);
    call(&mut cluster, first, &["SET", "soon", "v", "PX", "4000"]);
    call(&mut cluster, first, &["SET", "later", "v", "EX", "1000"]);
    let deadline = integer(call(&mut cluster, first, &["PEXPIRETIME", "later"]));
    for i in 0..60 {
        call(&mut cluster, first, &["SET", &format!("k{i}"), "v"]);
    }
    cluster.restart(behind);
    cluster.run_for(2 * SECOND);
    cluster.assert_consistent();
    // Only `behind` and one other node remain: `behind` is then in every majority, and
    // leads or serves with the deadlines it got by snapshot.
    cluster.crash(first);
    let second = leader(&mut cluster, &[first]);
    assert_eq!(
        integer(call(&mut cluster, second, &["PEXPIRETIME", "later"])),
        deadline
    );
    cluster.run_for(3 * SECOND);
    assert_eq!(
        call(&mut cluster, second, &["EXISTS", "soon"]),
        Reply::Integer(0)
    );
    cluster.restart(first);
    cluster.run_for(2 * SECOND);
    for node in cluster.node_ids() {
        assert_eq!(
            call(&mut cluster, node, &["DBSIZE"]),
            Reply::Integer(61),
            "node {node}"
        );
    }
    cluster.assert_consistent();
}

#[test]
fn reads_of_keys_without_ttls_never_wait_for_a_write() {
    // Goal: with no key that has a TTL, the cluster time does not matter, so a read-only load
    // is one ReadIndex round per read and writes nothing: no read waits for an entry (a write
    // round, with fsyncs) that moves the cluster time. Method: fsyncs much slower than the
    // network; a GET every millisecond for 2 s, no writes; every reply must come sooner than
    // one fsync, and the log must not grow.
    let fsync = Duration::from_millis(4)..Duration::from_millis(5);
    for seed in 1..=3 {
        let mut options = ClusterOptions::new(seed);
        options.fsync_latency = fsync.clone();
        options.faults.delay = Duration::from_micros(300)..Duration::from_micros(600);
        let mut cluster = Cluster::new(options);
        let leader = leader(&mut cluster, &[]);
        call(&mut cluster, leader, &["SET", "k", "v"]);
        cluster.run_for(SECOND);
        let last_index = |cluster: &Cluster| {
            let node = cluster.node(leader).expect("running");
            let status = node.status().into_iter().find(|s| s.group == DATA);
            status.expect("a data group").last_index
        };
        let index_before = last_index(&cluster);
        let mut sent = Vec::new();
        for _ in 0..2_000 {
            sent.push((
                cluster.elapsed(),
                cluster.send(leader, command(&["GET", "k"])),
            ));
            cluster.run_for(Duration::from_millis(1));
        }
        cluster.run_for(SECOND);
        let slowest = sent
            .iter()
            .map(|&(at, handle)| {
                assert_eq!(
                    cluster.reply(handle),
                    Some(&Reply::Bulk(Bytes::from_static(b"v")))
                );
                cluster.replied_at(handle).expect("replied") - at
            })
            .max()
            .expect("2,000 reads");
        assert!(
            slowest < fsync.start,
            "seed {seed}: a read took {slowest:?}, more than an fsync ({:?})",
            fsync.start
        );
        assert_eq!(
            last_index(&cluster),
            index_before,
            "seed {seed}: reads wrote"
        );
    }
}
