//! The configuration file: the spec's TOML with sections `[node]`, `[cluster]`, `[raft]` and
//! `[limits]`, every field the spec gives a default defaulted, unknown fields rejected.
//!
//! The core does not read files: the runtime reads the text and calls [`Config::from_toml`],
//! which parses and then [`validate`](Config::validate)s. Every error names its field.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::ids::NodeId;

/// Bounds that reject absurd limits: the smallest and largest value accepted for each.
pub mod bounds {
    /// `limits.max_key_size_bytes`.
    pub const KEY_BYTES: (u64, u64) = (1, 64 * 1024);
    /// `limits.max_value_size_bytes`.
    pub const VALUE_BYTES: (u64, u64) = (1, 512 * 1024 * 1024);
    /// `limits.max_concurrent_client_connections`.
    pub const CONNECTIONS: (u64, u64) = (1, 1_000_000);
    /// `limits.request_timeout_secs`.
    pub const REQUEST_TIMEOUT_SECS: (u64, u64) = (1, 3600);
    /// `limits.raft_rpc_timeout_secs`.
    pub const RAFT_RPC_TIMEOUT_SECS: (u64, u64) = (1, 600);
    /// `limits.max_memory_per_raft_log_mb`.
    pub const RAFT_LOG_MEMORY_MB: (u64, u64) = (1, 1024 * 1024);
    /// `raft.heartbeat_interval_ms`.
    pub const HEARTBEAT_MS: (u64, u64) = (1, 60_000);
}

/// A whole configuration file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// This node.
    pub node: NodeConfigSection,
    /// The cluster it belongs to.
    #[serde(default)]
    pub cluster: ClusterConfig,
    /// Raft timing and log compaction.
    #[serde(default)]
    pub raft: RaftConfig,
    /// Resource limits.
    #[serde(default)]
    pub limits: LimitsConfig,
}

/// `[node]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeConfigSection {
    /// Unique, never 0.
    pub id: u64,
    /// Where Redis clients connect (bind address), `host:port`.
    #[serde(default = "default_client_addr")]
    pub client_addr: String,
    /// Where peers send Raft traffic (bind address), `host:port`.
    #[serde(default = "default_internal_addr")]
    pub internal_addr: String,
    /// Directory of the node's RocksDB.
    #[serde(default = "default_data_dir")]
    pub data_dir: String,
    /// The internal address peers use to reach this node. Default: the host name with
    /// `internal_addr`'s port.
    #[serde(default)]
    pub advertise_addr: Option<String>,
    /// The client address named in `MOVED` replies. Default: the advertised host with
    /// `client_addr`'s port.
    #[serde(default)]
    pub advertise_client_addr: Option<String>,
}

impl Default for NodeConfigSection {
    fn default() -> Self {
        NodeConfigSection {
            id: 0,
            client_addr: default_client_addr(),
            internal_addr: default_internal_addr(),
            data_dir: default_data_dir(),
            advertise_addr: None,
            advertise_client_addr: None,
        }
    }
}

/// `[cluster]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Form a new cluster from `initial_members` (true), or join one through `join_addr`.
    #[serde(default = "default_true")]
    pub bootstrap: bool,
    /// The founding members, the same list on every node.
    #[serde(default)]
    pub initial_members: Vec<MemberConfig>,
    /// Any member's internal address, when joining.
    #[serde(default)]
    pub join_addr: Option<String>,
    /// Replicas of each shard.
    #[serde(default = "default_replication_factor")]
    pub replication_factor: u64,
    /// What a follower does with a data command it cannot serve: `"moved"` (answer Redis
    /// Cluster's `-MOVED`, the spec's behaviour) or `"forward"` (pass it to the leader and
    /// relay the reply, for plain clients behind a load balancer). Read it through
    /// [`Config::follower_requests`], which [`Config::validate`] makes total.
    #[serde(default = "default_follower_requests")]
    pub follower_requests: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            bootstrap: true,
            initial_members: Vec::new(),
            join_addr: None,
            replication_factor: default_replication_factor(),
            follower_requests: default_follower_requests(),
        }
    }
}

/// One entry of `initial_members`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MemberConfig {
    /// The member's node id.
    pub id: u64,
    /// Its internal address, `host:port` (a DNS name is fine).
    pub addr: String,
    /// Its client address, if known; otherwise learned from the cluster at run time.
    #[serde(default)]
    pub client_addr: Option<String>,
}

/// `[raft]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RaftConfig {
    /// Leader heartbeat interval, milliseconds (ten Raft ticks).
    pub heartbeat_interval_ms: u64,
    /// Smallest election timeout, milliseconds.
    pub election_timeout_min_ms: u64,
    /// Largest election timeout, milliseconds.
    pub election_timeout_max_ms: u64,
    /// Snapshot after this many entries since the last one.
    pub snapshot_interval_entries: u64,
    /// Snapshot after this many log bytes since the last one.
    pub snapshot_interval_bytes: u64,
    /// Largest log, bytes.
    pub max_log_size_bytes: u64,
}

impl Default for RaftConfig {
    fn default() -> Self {
        RaftConfig {
            heartbeat_interval_ms: 100,
            election_timeout_min_ms: 500,
            election_timeout_max_ms: 1000,
            snapshot_interval_entries: 10_000,
            snapshot_interval_bytes: 100_000_000,
            max_log_size_bytes: 500_000_000,
        }
    }
}

/// `[limits]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Longest key, bytes.
    pub max_key_size_bytes: u64,
    /// Longest value, bytes.
    pub max_value_size_bytes: u64,
    /// Client connections open at once.
    pub max_concurrent_client_connections: u64,
    /// Memory for one group's in-memory log, MiB.
    pub max_memory_per_raft_log_mb: u64,
    /// A request not answered within this many seconds gets `-NOQUORUM`.
    pub request_timeout_secs: u64,
    /// Deadline of one internal RPC, seconds.
    pub raft_rpc_timeout_secs: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_key_size_bytes: 256,
            max_value_size_bytes: 65_536,
            max_concurrent_client_connections: 10_000,
            max_memory_per_raft_log_mb: 512,
            request_timeout_secs: 30,
            raft_rpc_timeout_secs: 5,
        }
    }
}

fn default_client_addr() -> String {
    "0.0.0.0:6379".to_owned()
}

fn default_internal_addr() -> String {
    "0.0.0.0:7379".to_owned()
}

fn default_data_dir() -> String {
    "/var/lib/seshat".to_owned()
}

fn default_true() -> bool {
    true
}

fn default_replication_factor() -> u64 {
    3
}

fn default_follower_requests() -> String {
    FollowerRequests::Moved.name().to_owned()
}

/// `cluster.follower_requests`: what a follower does with a data command (a read or a write)
/// that only the leader may serve.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FollowerRequests {
    /// Answer `-MOVED <slot> <leader>` (Redis Cluster's redirect), the spec's behaviour:
    /// cluster-aware clients follow it.
    #[default]
    Moved,
    /// Pass the command to the leader over the internal connection and relay its reply, so a
    /// plain client connected to any node works (see `core/src/node/forward.rs`).
    Forward,
}

impl FollowerRequests {
    const ALL: [FollowerRequests; 2] = [FollowerRequests::Moved, FollowerRequests::Forward];

    /// The name the configuration file uses.
    pub fn name(self) -> &'static str {
        match self {
            FollowerRequests::Moved => "moved",
            FollowerRequests::Forward => "forward",
        }
    }

    fn parse(name: &str) -> Option<FollowerRequests> {
        Self::ALL.into_iter().find(|mode| mode.name() == name)
    }
}

/// A configuration the node cannot run with. The message names the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(String);

impl ConfigError {
    fn field(field: &str, problem: impl fmt::Display) -> ConfigError {
        ConfigError(format!("{field}: {problem}"))
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Parses and validates a configuration file's text.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks everything parsing cannot: ids, membership, timing and limits, addresses.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let node = &self.node;
        if node.id == 0 {
            return Err(ConfigError::field("node.id", "must not be 0"));
        }
        check_addr("node.client_addr", &node.client_addr, true)?;
        check_addr("node.internal_addr", &node.internal_addr, true)?;
        if let Some(addr) = &node.advertise_addr {
            check_addr("node.advertise_addr", addr, false)?;
        }
        if let Some(addr) = &node.advertise_client_addr {
            check_addr("node.advertise_client_addr", addr, false)?;
        }
        if node.data_dir.is_empty() {
            return Err(ConfigError::field("node.data_dir", "must not be empty"));
        }

        let cluster = &self.cluster;
        let mut ids = BTreeSet::new();
        let mut addrs = BTreeSet::new();
        for (i, member) in cluster.initial_members.iter().enumerate() {
            let field = format!("cluster.initial_members[{i}]");
            if member.id == 0 {
                return Err(ConfigError::field(&format!("{field}.id"), "must not be 0"));
            }
            if !ids.insert(member.id) {
                return Err(ConfigError::field(
                    "cluster.initial_members",
                    format!("duplicate id {}", member.id),
                ));
            }
            check_addr(&format!("{field}.addr"), &member.addr, false)?;
            if !addrs.insert(member.addr.as_str()) {
                return Err(ConfigError::field(
                    "cluster.initial_members",
                    format!("duplicate address {}", member.addr),
                ));
            }
            if let Some(addr) = &member.client_addr {
                check_addr(&format!("{field}.client_addr"), addr, false)?;
            }
        }
        if cluster.bootstrap {
            if cluster.initial_members.is_empty() {
                return Err(ConfigError::field(
                    "cluster.initial_members",
                    "must list the founding members when cluster.bootstrap = true",
                ));
            }
            if !ids.contains(&node.id) {
                return Err(ConfigError::field(
                    "cluster.initial_members",
                    format!("must include this node (node.id = {})", node.id),
                ));
            }
        } else {
            match &cluster.join_addr {
                None => {
                    return Err(ConfigError::field(
                        "cluster.join_addr",
                        "is required when cluster.bootstrap = false",
                    ))
                }
                Some(addr) => check_addr("cluster.join_addr", addr, false)?,
            }
        }
        if cluster.replication_factor == 0 {
            return Err(ConfigError::field(
                "cluster.replication_factor",
                "must not be 0",
            ));
        }
        if FollowerRequests::parse(&cluster.follower_requests).is_none() {
            return Err(ConfigError::field(
                "cluster.follower_requests",
                format!(
                    "must be \"moved\" or \"forward\", not {:?}",
                    cluster.follower_requests
                ),
            ));
        }

        let raft = &self.raft;
        check_range(
            "raft.heartbeat_interval_ms",
            raft.heartbeat_interval_ms,
            bounds::HEARTBEAT_MS,
        )?;
        if raft.heartbeat_interval_ms >= raft.election_timeout_min_ms {
            return Err(ConfigError::field(
                "raft.heartbeat_interval_ms",
                format!(
                    "must be less than raft.election_timeout_min_ms ({})",
                    raft.election_timeout_min_ms
                ),
            ));
        }
        if raft.election_timeout_min_ms >= raft.election_timeout_max_ms {
            return Err(ConfigError::field(
                "raft.election_timeout_min_ms",
                format!(
                    "must be less than raft.election_timeout_max_ms ({})",
                    raft.election_timeout_max_ms
                ),
            ));
        }
        if raft.snapshot_interval_entries == 0 {
            return Err(ConfigError::field(
                "raft.snapshot_interval_entries",
                "must not be 0",
            ));
        }
        if raft.snapshot_interval_bytes == 0 {
            return Err(ConfigError::field(
                "raft.snapshot_interval_bytes",
                "must not be 0",
            ));
        }
        if raft.max_log_size_bytes == 0 {
            return Err(ConfigError::field(
                "raft.max_log_size_bytes",
                "must not be 0",
            ));
        }

        let limits = &self.limits;
        check_range(
            "limits.max_key_size_bytes",
            limits.max_key_size_bytes,
            bounds::KEY_BYTES,
        )?;
        check_range(
            "limits.max_value_size_bytes",
            limits.max_value_size_bytes,
            bounds::VALUE_BYTES,
        )?;
        check_range(
            "limits.max_concurrent_client_connections",
            limits.max_concurrent_client_connections,
            bounds::CONNECTIONS,
        )?;
        check_range(
            "limits.max_memory_per_raft_log_mb",
            limits.max_memory_per_raft_log_mb,
            bounds::RAFT_LOG_MEMORY_MB,
        )?;
        check_range(
            "limits.request_timeout_secs",
            limits.request_timeout_secs,
            bounds::REQUEST_TIMEOUT_SECS,
        )?;
        check_range(
            "limits.raft_rpc_timeout_secs",
            limits.raft_rpc_timeout_secs,
            bounds::RAFT_RPC_TIMEOUT_SECS,
        )?;
        Ok(())
    }

    /// Leader heartbeat interval (ten Raft ticks).
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_millis(self.raft.heartbeat_interval_ms)
    }

    /// Smallest election timeout.
    pub fn election_timeout_min(&self) -> Duration {
        Duration::from_millis(self.raft.election_timeout_min_ms)
    }

    /// Largest election timeout.
    pub fn election_timeout_max(&self) -> Duration {
        Duration::from_millis(self.raft.election_timeout_max_ms)
    }

    /// Client request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.limits.request_timeout_secs)
    }

    /// What followers do with data commands only the leader may serve. A configuration that
    /// [`Config::validate`] accepted always names a known mode; anything else reads as the
    /// default, `moved`.
    pub fn follower_requests(&self) -> FollowerRequests {
        FollowerRequests::parse(&self.cluster.follower_requests).unwrap_or_default()
    }

    /// Internal RPC timeout.
    pub fn raft_rpc_timeout(&self) -> Duration {
        Duration::from_secs(self.limits.raft_rpc_timeout_secs)
    }

    /// The founding members: id and internal address.
    pub fn members(&self) -> Vec<(NodeId, String)> {
        self.cluster
            .initial_members
            .iter()
            .map(|member| (NodeId(member.id), member.addr.clone()))
            .collect()
    }

    /// The internal address peers reach this node at: `advertise_addr`, else `hostname` with
    /// `internal_addr`'s port.
    pub fn advertise_addr_or(&self, hostname: &str) -> String {
        self.node
            .advertise_addr
            .clone()
            .unwrap_or_else(|| join_host_port(hostname, port_of(&self.node.internal_addr)))
    }

    /// The client address named in `MOVED` replies: `advertise_client_addr`, else the host of
    /// the advertised internal address with `client_addr`'s port.
    pub fn advertise_client_addr_or(&self, hostname: &str) -> String {
        if let Some(addr) = &self.node.advertise_client_addr {
            return addr.clone();
        }
        let advertised = self.advertise_addr_or(hostname);
        let host = split_host_port(&advertised).map_or(hostname, |(host, _)| host);
        join_host_port(host, port_of(&self.node.client_addr))
    }
}

fn check_range(field: &str, value: u64, (min, max): (u64, u64)) -> Result<(), ConfigError> {
    if value < min || value > max {
        return Err(ConfigError::field(
            field,
            format!("{value} is outside {min}..={max}"),
        ));
    }
    Ok(())
}

/// Checks a `host:port` address: a hostname, an IPv4 address or a bracketed IPv6 address, and
/// a port. Port 0 ("any free port") is accepted only for addresses this node binds.
fn check_addr(field: &str, addr: &str, is_bind: bool) -> Result<(), ConfigError> {
    let invalid = |why: &str| ConfigError::field(field, format!("invalid address {addr:?}: {why}"));
    let (host, port) = split_host_port(addr).ok_or_else(|| invalid("expected host:port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| invalid("the port must be a number 0-65535"))?;
    if port == 0 && !is_bind {
        return Err(invalid("port 0 is only allowed for bind addresses"));
    }
    if host.is_empty() {
        return Err(invalid("the host is empty"));
    }
    if let Some(ipv6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        ipv6.parse::<std::net::Ipv6Addr>()
            .map_err(|_| invalid("bad IPv6 address"))?;
        return Ok(());
    }
    let hostname_ok = host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if !hostname_ok {
        return Err(invalid("the host is neither a hostname nor an IP address"));
    }
    Ok(())
}

/// Splits `host:port` at the last colon; a bracketed IPv6 host keeps its brackets.
fn split_host_port(addr: &str) -> Option<(&str, &str)> {
    let (host, port) = addr.rsplit_once(':')?;
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return None; // An unbracketed IPv6 address.
    }
    Some((host, port))
}

fn port_of(addr: &str) -> &str {
    split_host_port(addr).map_or("", |(_, port)| port)
}

fn join_host_port(host: &str, port: &str) -> String {
    format!("{host}:{port}")
}

#[cfg(test)]
mod tests;
