//! A three-node Seshat cluster inside one madsim runtime: each node is a madsim node running
//! runtime-tokio's own `serve` (driver, gRPC transport, RESP listener) over a [`SimDisk`], with
//! its own clock skew. The harness crashes and restarts nodes, cuts links between them and
//! reads their state.

use std::net::IpAddr;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::net::NetSim;
use madsim::rand::{thread_rng, Rng};
use madsim::runtime::{Handle, NodeHandle};
use seshat_core::config::{Config, FollowerRequests};
use seshat_core::stats::ProcessInfo;
use seshat_core::{GroupId, GroupStatus, NodeConfig, NodeId, PlantedBug, StateRole};
use seshat_runtime_tokio::channels::NodeStatus;
use seshat_runtime_tokio::clock::{Clock, Skew};
use seshat_runtime_tokio::process::Probe;
use seshat_runtime_tokio::server::serve;
use tokio::sync::watch;

use crate::disk::SimDisk;
use crate::writer::SimWriter;

/// Port of the Redis listener on every node.
pub const CLIENT_PORT: u16 = 6379;
/// Port of the internal gRPC service on every node.
pub const INTERNAL_PORT: u16 = 7379;

/// How the cluster is built.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Number of nodes.
    pub nodes: u64,
    /// Each node's wall clock is off by up to this much either way.
    pub clock_offset_max: Duration,
    /// Each node's clocks drift by up to this many parts per million either way.
    pub drift_ppm_max: u32,
    /// How long one fsync takes.
    pub fsync_latency: Range<Duration>,
    /// A bug planted in every node.
    pub planted_bug: Option<PlantedBug>,
    /// The request timeout the nodes answer `-NOQUORUM` at.
    pub request_timeout: Duration,
    /// Entries between log compactions.
    pub snapshot_interval_entries: u64,
    /// `cluster.follower_requests` on every node.
    pub follower_requests: FollowerRequests,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            nodes: 3,
            clock_offset_max: Duration::from_millis(5),
            drift_ppm_max: 100,
            fsync_latency: Duration::from_micros(200)..Duration::from_millis(3),
            planted_bug: None,
            request_timeout: Duration::from_secs(2),
            snapshot_interval_entries: 10_000,
            follower_requests: FollowerRequests::Moved,
        }
    }
}

/// One node of the cluster.
struct Server {
    id: NodeId,
    handle: NodeHandle,
    disk: SimDisk,
    /// The running incarnation's published state; `None` while the node is down.
    status: Arc<Mutex<Option<watch::Receiver<NodeStatus>>>>,
    up: bool,
    skew: Skew,
}

/// The cluster.
pub struct SimCluster {
    /// `servers[i]` is node `i + 1`.
    servers: Vec<Server>,
    options: ClusterOptions,
}

/// The IP of node `id`.
pub fn node_ip(id: NodeId) -> IpAddr {
    IpAddr::from([10, 0, 0, id.0 as u8])
}

/// The internal (gRPC) address of node `id`.
pub fn internal_addr(id: NodeId) -> String {
    format!("{}:{INTERNAL_PORT}", node_ip(id))
}

/// The Redis address of node `id`.
pub fn client_addr(id: NodeId) -> String {
    format!("{}:{CLIENT_PORT}", node_ip(id))
}

impl SimCluster {
    /// Starts the nodes. Must run inside a madsim runtime.
    pub fn start(options: &ClusterOptions) -> SimCluster {
        let ids: Vec<NodeId> = (1..=options.nodes).map(NodeId).collect();
        let mut cluster = SimCluster {
            servers: Vec::new(),
            options: options.clone(),
        };
        for &id in &ids {
            let config = node_config_file(id, &ids, options, None);
            cluster.spawn(id, config);
        }
        cluster
    }

    /// Starts a new, empty node `id` that joins through member `via` (`bootstrap = false`).
    ///
    /// # Panics
    /// If `id` is not the next id.
    pub fn add_node(&mut self, id: NodeId, via: NodeId) {
        assert_eq!(
            id.0,
            self.servers.len() as u64 + 1,
            "nodes are added in id order"
        );
        let founders: Vec<NodeId> = (1..=self.options.nodes).map(NodeId).collect();
        let config = node_config_file(id, &founders, &self.options, Some(via));
        self.spawn(id, config);
    }

    fn spawn(&mut self, id: NodeId, config: Config) {
        let disk = SimDisk::new();
        let status = Arc::new(Mutex::new(None));
        let skew = random_skew(&self.options);
        let handle = Handle::current()
            .create_node()
            .name(format!("node{}", id.0))
            .ip(node_ip(id))
            .init({
                let disk = disk.clone();
                let status = status.clone();
                let options = self.options.clone();
                move || {
                    run_node(
                        config.clone(),
                        disk.clone(),
                        status.clone(),
                        skew,
                        options.clone(),
                    )
                }
            })
            .build();
        self.servers.push(Server {
            id,
            handle,
            disk,
            status,
            up: true,
            skew,
        });
    }

    /// The data group's voters and learners as its leader sees them, or every node when no
    /// leader is known.
    pub fn members(&self) -> Vec<NodeId> {
        match self.leader().and_then(|id| self.data_group(id)) {
            Some(group) => {
                let mut members: Vec<NodeId> = group
                    .voters
                    .iter()
                    .chain(&group.learners)
                    .map(|&id| NodeId(id))
                    .collect();
                members.sort_unstable();
                members
            }
            None => self.ids(),
        }
    }

    /// The ids of every node.
    pub fn ids(&self) -> Vec<NodeId> {
        self.servers.iter().map(|s| s.id).collect()
    }

    /// The clock skew each node was given.
    pub fn skews(&self) -> Vec<(NodeId, Skew)> {
        self.servers.iter().map(|s| (s.id, s.skew)).collect()
    }

    fn server(&self, id: NodeId) -> &Server {
        &self.servers[(id.0 - 1) as usize]
    }

    fn server_mut(&mut self, id: NodeId) -> &mut Server {
        &mut self.servers[(id.0 - 1) as usize]
    }

    /// Whether `id` is running.
    pub fn is_up(&self, id: NodeId) -> bool {
        self.server(id).up
    }

    /// The node's process dies: its tasks stop and every write it had not synced is lost.
    pub fn crash(&mut self, id: NodeId) {
        let server = self.server_mut(id);
        if !server.up {
            return;
        }
        Handle::current().kill(server.handle.id());
        server.disk.crash();
        *server.status.lock().expect("status lock") = None;
        server.up = false;
    }

    /// Starts a crashed node again from its disk.
    pub fn restart(&mut self, id: NodeId) {
        let server = self.server_mut(id);
        if server.up {
            return;
        }
        Handle::current().restart(server.handle.id());
        server.up = true;
    }

    /// Freezes every task of `id` until [`resume`](Self::resume).
    pub fn pause(&self, id: NodeId) {
        if self.is_up(id) {
            Handle::current().pause(self.server(id).handle.id());
        }
    }

    /// Lets a paused node run again.
    pub fn resume(&self, id: NodeId) {
        if self.is_up(id) {
            Handle::current().resume(self.server(id).handle.id());
        }
    }

    /// Cuts every link between `id` and the other nodes, both ways. Clients still reach it.
    pub fn isolate(&self, id: NodeId) {
        let net = NetSim::current();
        let me = self.server(id).handle.id();
        for other in self.servers.iter().filter(|s| s.id != id) {
            net.clog_link(me, other.handle.id());
            net.clog_link(other.handle.id(), me);
        }
    }

    /// Cuts the links into `id` from the other nodes; its own messages still go out.
    pub fn cut_inbound(&self, id: NodeId) {
        let net = NetSim::current();
        let me = self.server(id).handle.id();
        for other in self.servers.iter().filter(|s| s.id != id) {
            net.clog_link(other.handle.id(), me);
        }
    }

    /// Every link between nodes works again.
    pub fn heal(&self) {
        let net = NetSim::current();
        for a in &self.servers {
            for b in &self.servers {
                if a.id != b.id {
                    net.unclog_link(a.handle.id(), b.handle.id());
                }
            }
        }
    }

    /// The state node `id` published last, if it is up.
    pub fn status(&self, id: NodeId) -> Option<NodeStatus> {
        let slot = self.server(id).status.lock().expect("status lock");
        slot.as_ref().map(|status| status.borrow().clone())
    }

    /// Node `id`'s view of the data group, if it is up.
    pub fn data_group(&self, id: NodeId) -> Option<GroupStatus> {
        self.status(id)?
            .groups
            .into_iter()
            .find(|group| group.group == GroupId::FIRST_DATA)
    }

    /// The data group's leader: the up node that says it leads, in the highest term.
    pub fn leader(&self) -> Option<NodeId> {
        self.ids()
            .into_iter()
            .filter_map(|id| Some((id, self.data_group(id)?)))
            .filter(|(_, group)| group.role == StateRole::Leader)
            .max_by_key(|(_, group)| group.term)
            .map(|(id, _)| id)
    }

    /// Each node's disk, crashed nodes included.
    pub fn disks(&self) -> Vec<(NodeId, SimDisk)> {
        self.servers
            .iter()
            .map(|s| (s.id, s.disk.clone()))
            .collect()
    }
}

/// One incarnation of a node: what its init closure runs after every (re)start.
async fn run_node(
    config: Config,
    disk: SimDisk,
    status_slot: Arc<Mutex<Option<watch::Receiver<NodeStatus>>>>,
    skew: Skew,
    options: ClusterOptions,
) {
    let (status, receiver) = watch::channel(NodeStatus::default());
    *status_slot.lock().expect("status lock") = Some(receiver);
    let hostname = node_ip(NodeId(config.node.id)).to_string();
    let mut node_config = NodeConfig::from_config(&config, &hostname, thread_rng().gen());
    node_config.planted_bug = options.planted_bug;
    // The simulated nodes share one real process: INFO gets the simulation's own facts, not
    // the host's (the probe reads nothing either; see `Probe::None`).
    node_config.process = ProcessInfo {
        process_id: config.node.id as u32,
        executable: "seshat-sim".to_owned(),
        os: "madsim".to_owned(),
        arch_bits: usize::BITS,
        mem_allocator: "libc".to_owned(),
        ..ProcessInfo::default()
    };
    let store = Box::new(disk.clone());
    let fsync_latency = options.fsync_latency.clone();
    let result = serve(
        &config,
        node_config,
        store,
        Clock::skewed(skew),
        move |events| SimWriter::start(disk, events, fsync_latency),
        status,
        Probe::None,
        std::future::pending(),
    )
    .await;
    if let Err(error) = result {
        panic!("node {} failed: {error:#}", config.node.id);
    }
}

/// The configuration file a node of the simulated cluster would have.
/// The configuration file of node `id`: a founding member of `ids`, or, with `join_via`, a
/// node that joins through that member.
fn node_config_file(
    id: NodeId,
    ids: &[NodeId],
    options: &ClusterOptions,
    join_via: Option<NodeId>,
) -> Config {
    let cluster = match join_via {
        None => "bootstrap = true\ninitial_members = [{members}]".to_owned(),
        Some(via) => format!(
            "bootstrap = false\njoin_addr = \"{}:{INTERNAL_PORT}\"",
            node_ip(via)
        ),
    };
    let members: Vec<String> = ids
        .iter()
        .map(|&peer| {
            format!(
                r#"{{id = {}, addr = "{}:{INTERNAL_PORT}", client_addr = "{}"}}"#,
                peer.0,
                node_ip(peer),
                client_addr(peer)
            )
        })
        .collect();
    let text = format!(
        r#"
[node]
id = {id}
client_addr = "0.0.0.0:{CLIENT_PORT}"
internal_addr = "0.0.0.0:{INTERNAL_PORT}"
data_dir = "/sim/node{id}"
advertise_addr = "{ip}:{INTERNAL_PORT}"
advertise_client_addr = "{ip}:{CLIENT_PORT}"

[cluster]
{cluster}
follower_requests = "{follower_requests}"

[raft]
heartbeat_interval_ms = 100
election_timeout_min_ms = 500
election_timeout_max_ms = 1000
snapshot_interval_entries = {snapshot_interval_entries}

[limits]
request_timeout_secs = {timeout}
raft_rpc_timeout_secs = 1
"#,
        id = id.0,
        ip = node_ip(id),
        cluster = cluster.replace("{members}", &members.join(", ")),
        timeout = options.request_timeout.as_secs().max(1),
        snapshot_interval_entries = options.snapshot_interval_entries,
        follower_requests = options.follower_requests.name(),
    );
    let config = Config::from_toml(&text).expect("the simulated configuration parses");
    config
        .validate()
        .expect("the simulated configuration is valid");
    config
}

fn random_skew(options: &ClusterOptions) -> Skew {
    let mut rng = thread_rng();
    let offset_max = options.clock_offset_max.as_millis() as i64;
    let drift_max = options.drift_ppm_max as i32;
    Skew {
        monotonic_origin: Duration::from_millis(rng.gen_range(0..3_600_000)),
        wall_offset_ms: rng.gen_range(-offset_max..=offset_max),
        drift_ppm: rng.gen_range(-drift_max..=drift_max),
    }
}
