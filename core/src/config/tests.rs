use super::*;

/// The spec's bootstrap example, verbatim.
const BOOTSTRAP: &str = r#"
[node]
id = 1  # Unique node ID (1, 2, 3 for founding members)
client_addr = "0.0.0.0:6379"      # Bind for Redis clients
internal_addr = "0.0.0.0:7379"    # Bind for internal Raft RPC
data_dir = "/var/lib/seshat"
# advertise_addr = "kvstore-1:7379"  # Auto-detected from hostname

[cluster]
bootstrap = true  # Enable bootstrap mode

# All founding members (same list on all nodes)
initial_members = [
  {id = 1, addr = "kvstore-1:7379"},
  {id = 2, addr = "kvstore-2:7379"},
  {id = 3, addr = "kvstore-3:7379"},
]

replication_factor = 3

[raft]
heartbeat_interval_ms = 100
election_timeout_min_ms = 500
election_timeout_max_ms = 1000
snapshot_interval_entries = 10000
snapshot_interval_bytes = 100000000  # 100MB
max_log_size_bytes = 500000000       # 500MB

[limits]
max_key_size_bytes = 256
max_value_size_bytes = 65536  # 64KB
max_concurrent_client_connections = 10000
max_memory_per_raft_log_mb = 512
request_timeout_secs = 30
raft_rpc_timeout_secs = 5
"#;

/// The spec's join example, verbatim.
const JOIN: &str = r#"
[node]
id = 4  # New unique ID
client_addr = "0.0.0.0:6379"
internal_addr = "0.0.0.0:7379"
data_dir = "/var/lib/seshat"

[cluster]
bootstrap = false
join_addr = "kvstore-1:7379"  # Any existing node
replication_factor = 3

[raft]
# Same settings as existing cluster
heartbeat_interval_ms = 100
election_timeout_min_ms = 500
election_timeout_max_ms = 1000
"#;

fn error_of(text: &str) -> String {
    Config::from_toml(text)
        .expect_err("config should be rejected")
        .to_string()
}

fn with_bootstrap(replace: &str, with: &str) -> String {
    assert!(BOOTSTRAP.contains(replace), "{replace}");
    BOOTSTRAP.replacen(replace, with, 1)
}

#[test]
fn spec_examples_parse_and_validate() {
    let config = Config::from_toml(BOOTSTRAP).unwrap();
    assert_eq!(config.node.id, 1);
    assert_eq!(config.members().len(), 3);
    assert_eq!(config.advertise_addr_or("kvstore-1"), "kvstore-1:7379");
    assert_eq!(
        config.advertise_client_addr_or("kvstore-1"),
        "kvstore-1:6379"
    );
    let join = Config::from_toml(JOIN).unwrap();
    assert!(!join.cluster.bootstrap);
    assert_eq!(join.cluster.join_addr.as_deref(), Some("kvstore-1:7379"));
}

#[test]
fn omitted_fields_take_the_spec_defaults() {
    let config = Config::from_toml(
        "[node]\nid = 1\n[cluster]\ninitial_members = [{id = 1, addr = \"a:7379\"}]\n",
    )
    .unwrap();
    assert_eq!(config.raft, RaftConfig::default());
    assert_eq!(config.limits, LimitsConfig::default());
    assert_eq!(config.node.client_addr, "0.0.0.0:6379");
    assert_eq!(config.node.internal_addr, "0.0.0.0:7379");
    assert_eq!(config.limits.max_value_size_bytes, 65_536);
    assert_eq!(config.raft.snapshot_interval_entries, 10_000);
    assert_eq!(config.request_timeout(), Duration::from_secs(30));
    assert_eq!(config.follower_requests(), FollowerRequests::Moved);
}

#[test]
fn follower_requests_is_moved_or_forward() {
    let forward = with_bootstrap(
        "replication_factor = 3",
        "replication_factor = 3\nfollower_requests = \"forward\"",
    );
    let config = Config::from_toml(&forward).unwrap();
    assert_eq!(config.follower_requests(), FollowerRequests::Forward);
    let moved = forward.replace("\"forward\"", "\"moved\"");
    assert_eq!(
        Config::from_toml(&moved).unwrap().follower_requests(),
        FollowerRequests::Moved
    );
    assert_eq!(
        error_of(&forward.replace("\"forward\"", "\"proxy\"")),
        "cluster.follower_requests: must be \"moved\" or \"forward\", not \"proxy\""
    );
}

#[test]
fn unknown_field_is_rejected_by_name() {
    let error = error_of(&with_bootstrap(
        "replication_factor = 3",
        "replication_factr = 3",
    ));
    assert!(error.contains("replication_factr"), "{error}");
}

#[test]
fn node_id_zero_is_rejected() {
    assert_eq!(
        error_of(&with_bootstrap("id = 1  #", "id = 0  #")),
        "node.id: must not be 0"
    );
}

#[test]
fn member_id_zero_is_rejected() {
    let error = error_of(&with_bootstrap("{id = 2, addr", "{id = 0, addr"));
    assert!(
        error.starts_with("cluster.initial_members[1].id"),
        "{error}"
    );
}

#[test]
fn duplicate_member_ids_are_rejected() {
    let error = error_of(&with_bootstrap("{id = 3, addr", "{id = 2, addr"));
    assert_eq!(error, "cluster.initial_members: duplicate id 2");
}

#[test]
fn duplicate_member_addresses_are_rejected() {
    let error = error_of(&with_bootstrap("kvstore-3:7379", "kvstore-2:7379"));
    assert_eq!(
        error,
        "cluster.initial_members: duplicate address kvstore-2:7379"
    );
}

#[test]
fn bootstrap_needs_members_including_this_node() {
    let text = "[node]\nid = 1\n[cluster]\nbootstrap = true\n";
    assert!(error_of(text).starts_with("cluster.initial_members: must list"));
    let error = error_of(&with_bootstrap("id = 1  #", "id = 9  #"));
    assert_eq!(
        error,
        "cluster.initial_members: must include this node (node.id = 9)"
    );
}

#[test]
fn join_needs_a_join_address() {
    let error = error_of(&JOIN.replace("join_addr = \"kvstore-1:7379\"  # Any existing node", ""));
    assert_eq!(
        error,
        "cluster.join_addr: is required when cluster.bootstrap = false"
    );
}

#[test]
fn heartbeat_must_be_shorter_than_the_election_timeout() {
    let error = error_of(&with_bootstrap(
        "heartbeat_interval_ms = 100",
        "heartbeat_interval_ms = 500",
    ));
    assert_eq!(
        error,
        "raft.heartbeat_interval_ms: must be less than raft.election_timeout_min_ms (500)"
    );
    let error = error_of(&with_bootstrap(
        "heartbeat_interval_ms = 100",
        "heartbeat_interval_ms = 0",
    ));
    assert!(
        error.starts_with("raft.heartbeat_interval_ms: 0 is outside"),
        "{error}"
    );
}

#[test]
fn election_minimum_must_be_below_the_maximum() {
    let error = error_of(&with_bootstrap(
        "election_timeout_min_ms = 500",
        "election_timeout_min_ms = 1500",
    ));
    assert_eq!(
        error,
        "raft.election_timeout_min_ms: must be less than raft.election_timeout_max_ms (1000)"
    );
}

#[test]
fn zero_or_absurd_limits_are_rejected() {
    let cases = [
        (
            "max_key_size_bytes = 256",
            "max_key_size_bytes = 0",
            "limits.max_key_size_bytes",
        ),
        (
            "max_value_size_bytes = 65536",
            "max_value_size_bytes = 99999999999",
            "limits.max_value_size_bytes",
        ),
        (
            "max_concurrent_client_connections = 10000",
            "max_concurrent_client_connections = 0",
            "limits.max_concurrent_client_connections",
        ),
        (
            "request_timeout_secs = 30",
            "request_timeout_secs = 0",
            "limits.request_timeout_secs",
        ),
        (
            "raft_rpc_timeout_secs = 5",
            "raft_rpc_timeout_secs = 100000",
            "limits.raft_rpc_timeout_secs",
        ),
        (
            "max_memory_per_raft_log_mb = 512",
            "max_memory_per_raft_log_mb = 0",
            "limits.max_memory_per_raft_log_mb",
        ),
        (
            "snapshot_interval_entries = 10000",
            "snapshot_interval_entries = 0",
            "raft.snapshot_interval_entries",
        ),
    ];
    for (from, to, field) in cases {
        let error = error_of(&with_bootstrap(from, to));
        assert!(error.starts_with(field), "{to}: {error}");
    }
}

#[test]
fn addresses_are_checked() {
    let ok = [
        "10.0.0.1:7379",
        "[::1]:7379",
        "kvstore-1:7379",
        "kvstore-1.svc.cluster.local:1",
    ];
    for addr in ok {
        check_addr("f", addr, false).unwrap_or_else(|e| panic!("{addr}: {e}"));
    }
    let bad = [
        "kvstore-1",
        "host:70000",
        ":7379",
        "a b:1",
        "::1:7379",
        "host:0",
        "-x:1",
    ];
    for addr in bad {
        let error = check_addr("f", addr, false).expect_err(addr).to_string();
        assert!(error.starts_with("f: invalid address"), "{error}");
    }
    assert!(check_addr("f", "0.0.0.0:0", true).is_ok());
    let error = error_of(&with_bootstrap("kvstore-2:7379", "kvstore-2"));
    assert!(
        error.starts_with("cluster.initial_members[1].addr: invalid address"),
        "{error}"
    );
}
