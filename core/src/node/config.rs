//! [`NodeConfig`]: what a [`Node`](crate::Node) needs to know to start, derived from the file
//! configuration.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::ids::NodeId;

/// Everything a [`Node`] needs to know to start. Build it from the file configuration with
/// [`NodeConfig::from_config`].
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// This node.
    pub id: NodeId,
    /// The client address this node advertises (in `MOVED` replies), `host:port`.
    pub client_addr: String,
    /// The internal address this node advertises to peers, `host:port`.
    pub internal_addr: String,
    /// The founding voters. Used only when the store holds no state yet (first start); after
    /// that the configuration comes from the log.
    pub bootstrap_members: Vec<NodeId>,
    /// Client addresses known from the configuration file, used for `MOVED` until the system
    /// group's directory names them.
    pub peer_client_addrs: BTreeMap<NodeId, String>,
    /// Number of data groups (shards). Phase 1: 1.
    pub data_groups: u64,
    /// The longest value a write may leave, bytes (`limits.max_value_size_bytes`); it must be
    /// the same on every node, since applying checks it.
    pub value_bytes_max: usize,
    /// The longest key a client may send, bytes (`limits.max_key_size_bytes`); a leader checks
    /// forwarded commands against it.
    pub key_bytes_max: usize,
    /// What this node does with a data command it cannot serve as a follower
    /// (`cluster.follower_requests`).
    pub follower_requests: crate::config::FollowerRequests,
    /// Length of one Raft tick.
    pub tick_interval: Duration,
    /// Ticks between leader heartbeats.
    pub heartbeat_ticks: usize,
    /// Election timeout is drawn from `election_ticks_min..election_ticks_max`.
    pub election_ticks_min: usize,
    /// Exclusive upper bound of the election timeout, ticks.
    pub election_ticks_max: usize,
    /// A request not answered within this time gets `-NOQUORUM`.
    pub request_timeout: Duration,
    /// Requests in flight on this node at most; more get `-TRYAGAIN`.
    pub requests_pending_max: usize,
    /// Largest Raft append message, bytes.
    pub message_bytes_max: u64,
    /// Appends in flight to one follower at most.
    pub inflight_messages_max: usize,
    /// Each group compacts its log once this many entries applied since the last compaction.
    pub snapshot_interval_entries: u64,
    /// ... or once its entries in memory take this many bytes.
    pub snapshot_interval_bytes: u64,
    /// Bytes one group's in-memory log may take: uncommitted entries beyond it are refused.
    pub raft_log_memory_bytes_max: u64,
    /// The configuration file this was derived from, as CONFIG GET reports it (the settings
    /// CONFIG SET changes are read from the fields above instead).
    pub settings: crate::config::Config,
    /// Facts about the process the runtime knows (pid, executable, port), for INFO. The
    /// runtime fills them in after [`NodeConfig::from_config`]; the simulator hands its own.
    pub process: crate::stats::ProcessInfo,
    /// Seeds every random choice the node makes. The tokio runtime draws it from the OS and
    /// logs it; the simulator passes its seed.
    pub rng_seed: u64,
    /// A bug to plant, so a test can show that the simulator's checks catch it. Exists only
    /// with the `planted-bugs` feature, which only simulation builds enable.
    #[cfg(feature = "planted-bugs")]
    pub planted_bug: Option<crate::PlantedBug>,
}

impl NodeConfig {
    /// Ticks `handle_timeout` performs at most in one call, so a runtime that stalled does
    /// not fire a burst of elections.
    pub const TICKS_PER_CALL_MAX: u32 = 10;

    /// Raft ticks per heartbeat interval. raft-rs draws election timeouts in whole ticks, so
    /// fine ticks give two followers many distinct timeouts to draw from: with one tick per
    /// heartbeat (100 ms) and a 500-1000 ms timeout there are only 5, both followers of a dead
    /// leader time out together one time in five, split the vote, and the election takes a
    /// second round (the simulator measured failovers over 2 s that way).
    pub const TICKS_PER_HEARTBEAT: u32 = 10;

    /// The node configuration for a validated file configuration. A Raft tick is a tenth of
    /// the heartbeat interval; election timeouts are rounded up to whole ticks.
    pub fn from_config(
        config: &crate::config::Config,
        hostname: &str,
        rng_seed: u64,
    ) -> NodeConfig {
        let tick_interval =
            (config.heartbeat_interval() / Self::TICKS_PER_HEARTBEAT).max(Duration::from_millis(1));
        let ticks = |d: Duration| -> usize {
            (d.as_micros().div_ceil(tick_interval.as_micros().max(1))) as usize
        };
        let heartbeat_ticks = ticks(config.heartbeat_interval()).max(1);
        let election_ticks_min = ticks(config.election_timeout_min()).max(heartbeat_ticks + 1);
        let election_ticks_max = ticks(config.election_timeout_max()).max(election_ticks_min + 1);
        let peer_client_addrs = config
            .cluster
            .initial_members
            .iter()
            .filter_map(|member| Some((NodeId(member.id), member.client_addr.clone()?)))
            .collect();
        NodeConfig {
            id: NodeId(config.node.id),
            client_addr: config.advertise_client_addr_or(hostname),
            internal_addr: config.advertise_addr_or(hostname),
            bootstrap_members: if config.cluster.bootstrap {
                config.members().into_iter().map(|(id, _)| id).collect()
            } else {
                Vec::new()
            },
            peer_client_addrs,
            data_groups: 1,
            value_bytes_max: config.limits.max_value_size_bytes as usize,
            key_bytes_max: config.limits.max_key_size_bytes as usize,
            follower_requests: config.follower_requests(),
            tick_interval,
            heartbeat_ticks,
            election_ticks_min,
            election_ticks_max,
            request_timeout: config.request_timeout(),
            requests_pending_max: config.limits.max_concurrent_client_connections as usize * 4,
            message_bytes_max: 1024 * 1024,
            inflight_messages_max: 256,
            snapshot_interval_entries: config.raft.snapshot_interval_entries,
            snapshot_interval_bytes: config.raft.snapshot_interval_bytes,
            raft_log_memory_bytes_max: config.limits.max_memory_per_raft_log_mb * 1024 * 1024,
            settings: config.clone(),
            process: crate::stats::ProcessInfo::default(),
            rng_seed,
            #[cfg(feature = "planted-bugs")]
            planted_bug: None,
        }
    }
}
