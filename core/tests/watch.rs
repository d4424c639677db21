//! WATCH on the in-process cluster: a watch is replicated state, so an EXEC decides the same
//! way whichever node leads when it runs, also after that node caught up by snapshot.

use std::time::Duration;

use bytes::Bytes;
use seshat_core::cmd::CommandLimits;
use seshat_core::session::{Action, Session};
use seshat_core::testkit::{Cluster, ClusterOptions};
use seshat_core::{ClientId, GroupId, NodeId, Reply, Request};

const SECOND: Duration = Duration::from_secs(1);
const DATA: GroupId = GroupId::FIRST_DATA;

/// One client connection: its session and the id the nodes know it by.
struct Client {
    session: Session,
    id: ClientId,
}

impl Client {
    fn connect(cluster: &mut Cluster) -> Client {
        let id = cluster.connect();
        Client {
            session: Session::new(id, CommandLimits::default()),
            id,
        }
    }

    /// Sends `words` to `node`, as a connection to that node would.
    fn send(&mut self, cluster: &mut Cluster, node: NodeId, words: &[&str]) -> Reply {
        let args = words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        match self.session.handle_args(args, 1) {
            Action::Reply(reply) | Action::Close(reply) => reply,
            Action::Forward(request) => cluster
                .call_on(node, self.id, request, 10 * SECOND)
                .unwrap_or_else(|| panic!("{words:?} on node {node}: no reply")),
        }
    }

    fn transaction(&mut self, cluster: &mut Cluster, node: NodeId) -> Reply {
        self.send(cluster, node, &["MULTI"]);
        self.send(cluster, node, &["INCR", "k"]);
        self.send(cluster, node, &["EXEC"])
    }
}

fn transfer(cluster: &mut Cluster, from: NodeId, to: NodeId) {
    let request = Request::TransferLeader { group: DATA, to };
    assert_eq!(cluster.call(from, request, 10 * SECOND), Some(Reply::ok()));
    let led = cluster.run_until(10 * SECOND, |cluster| cluster.leader(DATA) == Some(to));
    assert!(led, "{to} does not lead");
}

#[test]
fn a_watch_outlives_changes_of_leader_and_a_snapshot_install() {
    // Goal: every replica decides an EXEC alike, whichever led while the watch was held, also
    // one that got the watch by snapshot. Method: WATCH on the leader A while follower B is
    // down; enough writes that B catches up by snapshot; B leads for a while, during which
    // another connection changes the key (or not); A leads again and the EXEC runs on the
    // watcher's connection to A. Replicas must agree on the outcome, and it must be Redis's.
    for (seed, change) in [(3, false), (4, true), (5, false), (6, true)] {
        let mut options = ClusterOptions::new(seed);
        options.snapshot_interval_entries = 20;
        let mut cluster = Cluster::new(options);
        let a = cluster
            .wait_for_stable_leader(DATA, 10 * SECOND, &[])
            .expect("a leader");
        let b = cluster
            .node_ids()
            .into_iter()
            .find(|&id| id != a)
            .expect("a follower");
        cluster.crash(b);
        let mut watcher = Client::connect(&mut cluster);
        let mut other = Client::connect(&mut cluster);
        assert_eq!(
            watcher.send(&mut cluster, a, &["SET", "k", "10"]),
            Reply::ok()
        );
        assert_eq!(watcher.send(&mut cluster, a, &["WATCH", "k"]), Reply::ok());
        for i in 0..60 {
            other.send(&mut cluster, a, &["SET", &format!("filler{i}"), "v"]);
        }
        cluster.restart(b);
        cluster.run_for(2 * SECOND);
        let installed = cluster
            .node(b)
            .expect("running")
            .status()
            .into_iter()
            .find(|status| status.group == DATA)
            .map_or(0, |status| status.snapshots.installed);
        assert!(
            installed > 0,
            "seed {seed}: {b} caught up without a snapshot"
        );
        transfer(&mut cluster, a, b);
        if change {
            assert_eq!(
                other.send(&mut cluster, b, &["SET", "k", "20"]),
                Reply::ok()
            );
        }
        transfer(&mut cluster, b, a);
        let (reply, value) = if change {
            (Reply::NullArray, "20")
        } else {
            (Reply::Array(vec![Reply::Integer(11)]), "11")
        };
        assert_eq!(watcher.transaction(&mut cluster, a), reply, "seed {seed}");
        assert_eq!(
            other.send(&mut cluster, a, &["GET", "k"]),
            Reply::bulk(value)
        );
        cluster.run_for(SECOND);
        cluster.assert_consistent();
    }
}
