//! Snapshot and restart figures for a large keyspace on RocksDB, printed (not a timed test).
//!
//! ```text
//! cargo bench -p seshat-runtime-tokio --bench snapshot                      # 1M keys, 100 B
//! cargo bench -p seshat-runtime-tokio --bench snapshot -- --keys 10000000   # about 1 GB
//! ```
//!
//! It fills a node's RocksDB with `--keys` keys of `--value-bytes` bytes, then measures:
//! - **snapshot**: making a point-in-time view and reading it whole in chunks, as a leader
//!   does for a follower;
//! - **stage**: writing those chunks into another store's staging generation, as the
//!   follower does while receiving (the install that follows is one small batch);
//! - **warm restart**: opening the store and starting the node, which reads the log tail and
//!   the key count, never the data.
//!
//! A cold restart (a wiped node) costs one snapshot plus one stage, plus the network.

use std::path::Path;
use std::time::{Duration, Instant};

use seshat_core::config::Config;
use seshat_core::snapshot::{decode_pairs, SnapshotSource, CHUNK_BYTES_MAX};
use seshat_core::storage::{ColumnFamily, DataRange, StateKey, Store, WriteBatch};
use seshat_core::{GroupId, Node, NodeConfig, Now};
use seshat_runtime_tokio::store::{RocksStore, SyncWrite};

/// Keys written per batch while filling.
const FILL_BATCH_KEYS: u64 = 10_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str, default: u64| -> u64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| v.parse().expect("a number"))
    };
    let keys = flag("--keys", 1_000_000);
    let value_bytes = flag("--value-bytes", 100) as usize;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let leader_dir = dir.path().join("leader");
    let range = DataRange::first(GroupId::FIRST_DATA);

    let started = Instant::now();
    let mut store = open_node(&leader_dir);
    fill(&mut store, range, keys, value_bytes);
    let data_bytes = keys * (14 + value_bytes as u64);
    report("fill", started.elapsed(), keys, data_bytes);

    let started = Instant::now();
    let source = SnapshotSource::new(store.view(), range, 1);
    let mut chunks = 0u64;
    let mut pairs = 0u64;
    let mut bytes = 0u64;
    let mut follower = RocksStore::open(&dir.path().join("follower")).expect("a store");
    let mut stage_time = Duration::ZERO;
    for chunk in source.chunks(CHUNK_BYTES_MAX) {
        let chunk = chunk.expect("reading the view");
        chunks += 1;
        pairs += chunk.pairs;
        bytes += chunk.data.len() as u64;
        // Staging is timed apart from reading.
        let staging = Instant::now();
        let mut batch = WriteBatch::new();
        for (key, record) in decode_pairs(&chunk.data).expect("well-formed chunks") {
            batch.put(range.cf(), range.next().key(key), record.to_vec());
        }
        follower.write(batch).expect("staging");
        stage_time += staging.elapsed();
    }
    let staging = Instant::now();
    follower
        .write_synced(WriteBatch::new(), true)
        .expect("the final sync");
    stage_time += staging.elapsed();
    let total = started.elapsed();
    assert_eq!(pairs, keys, "the snapshot holds every key");
    report("snapshot", total - stage_time, pairs, bytes);
    report("stage", stage_time, pairs, bytes);
    println!(
        "  ({chunks} chunks of up to {} KiB)",
        CHUNK_BYTES_MAX / 1024
    );
    drop((source, store, follower));

    // The first restart replays RocksDB's write-ahead log of what the fill left in memory;
    // the second finds it flushed, as a node that ran for a while does.
    for run in ["first", "second"] {
        let started = Instant::now();
        drop(open_node(&leader_dir));
        println!(
            "warm restart ({run}): {:.3} s (open RocksDB and start the node over {keys} keys)",
            started.elapsed().as_secs_f64()
        );
    }
}

/// Opens the store at `path` and starts a one-node cluster's node over it (bootstrapping it
/// the first time), as the server does.
fn open_node(path: &Path) -> RocksStore {
    let config = Config::from_toml(
        "[node]\nid = 1\n[cluster]\nbootstrap = true\n\
         initial_members = [{id = 1, addr = \"127.0.0.1:7379\"}]\n",
    )
    .expect("a valid configuration");
    let store = RocksStore::open(path).expect("a store");
    let now = Now {
        instant: seshat_core::Instant::ZERO,
        unix_ms: 0,
    };
    let node_config = NodeConfig::from_config(&config, "localhost", 1);
    let node = Node::new(node_config, Box::new(store.clone()), now).expect("the node starts");
    drop(node);
    store
}

/// Writes `keys` records of the data group as applying SETs would leave them.
fn fill(store: &mut RocksStore, range: DataRange, keys: u64, value_bytes: usize) {
    let mut record = vec![0u8; 1 + value_bytes];
    record[1..].fill(b'v');
    let mut written = 0;
    while written < keys {
        let mut batch = WriteBatch::new();
        for i in written..(written + FILL_BATCH_KEYS).min(keys) {
            batch.put(
                range.cf(),
                range.key(format!("key:{i:010}").as_bytes()),
                record.clone(),
            );
        }
        written = (written + FILL_BATCH_KEYS).min(keys);
        store.write(batch).expect("filling");
    }
    let mut batch = WriteBatch::new();
    batch.put(
        ColumnFamily::raft_state(range.group),
        StateKey::KeyCount.encode(range.group),
        keys.to_be_bytes().to_vec(),
    );
    store.write_synced(batch, true).expect("the key count");
}

fn report(what: &str, took: Duration, pairs: u64, bytes: u64) {
    let seconds = took.as_secs_f64().max(1e-9);
    println!(
        "{what}: {seconds:.3} s for {pairs} pairs, {:.1} MiB ({:.0} MiB/s, {:.0} pairs/s)",
        bytes as f64 / (1024.0 * 1024.0),
        bytes as f64 / seconds / (1024.0 * 1024.0),
        pairs as f64 / seconds,
    );
}
