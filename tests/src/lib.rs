//! End-to-end harness: real `seshat` processes on loopback, talked to by the `redis` crate
//! and by raw TCP.
//!
//! A [`Cluster`] writes one configuration per node into its own temporary directory, picks
//! free loopback ports, starts the processes, and on drop kills exactly the processes it
//! started, by pid. Each node's log goes to a file; [`Cluster::logs`] prints the tails when
//! a test fails.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use seshat_runtime_tokio::wait::wait_until_blocking;

mod oracle;
pub use oracle::{Peer, RedisServer};

/// Request timeout configured on every test node, seconds.
pub const REQUEST_TIMEOUT_SECS: u64 = 3;

/// The `seshat` binary: `SESHAT_BIN`, or the workspace's debug build (built once if missing).
pub fn seshat_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(bin) = std::env::var("SESHAT_BIN") {
            return PathBuf::from(bin);
        }
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace root");
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| workspace.join("target"));
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "-p", "seshat-runtime-tokio", "--bin", "seshat"])
            .current_dir(workspace)
            .status()
            .expect("running cargo build");
        assert!(status.success(), "building seshat failed");
        target.join("debug").join("seshat")
    })
}

/// `count` distinct free TCP ports on 127.0.0.1 (bound, read, released). All are held until
/// the last is read, so the kernel cannot hand out one port twice (which it may do for
/// back-to-back bind-and-release calls).
fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0"))
        .collect();
    listeners
        .iter()
        .map(|listener| listener.local_addr().unwrap().port())
        .collect()
}

/// One node of a test cluster.
pub struct TestNode {
    /// Node id, 1-based.
    pub id: u64,
    /// Redis port on 127.0.0.1.
    pub client_port: u16,
    /// Internal (gRPC) port on 127.0.0.1.
    pub internal_port: u16,
    config: PathBuf,
    /// The node's RocksDB directory.
    pub data_dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl TestNode {
    /// Whether the process is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

/// A cluster of real processes.
pub struct Cluster {
    /// The nodes, index = id - 1.
    pub nodes: Vec<TestNode>,
    _dir: tempfile::TempDir,
    /// Clusters run one at a time: timing assertions (failover within 2 s) must not compete
    /// with other clusters for the machine's cores.
    _turn: std::sync::MutexGuard<'static, ()>,
}

static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Cluster {
    /// Starts `n` nodes bootstrapping one cluster.
    pub fn start(n: u64) -> Cluster {
        Cluster::start_with(n, "")
    }

    /// Starts `n` nodes bootstrapping one cluster, with `raft` added to each node's `[raft]`
    /// section (for example `snapshot_interval_entries = 200`).
    pub fn start_with(n: u64, raft: &str) -> Cluster {
        Cluster::start_configured(n, "", raft)
    }

    /// Starts `n` nodes bootstrapping one cluster, with `cluster` added to each node's
    /// `[cluster]` section (for example `follower_requests = "forward"`) and `raft` to its
    /// `[raft]` section.
    pub fn start_configured(n: u64, cluster: &str, raft: &str) -> Cluster {
        let turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let bin = seshat_bin();
        let dir = tempfile::tempdir().expect("temp dir");
        let ports: Vec<(u16, u16)> = free_ports(2 * n as usize)
            .chunks(2)
            .map(|pair| (pair[0], pair[1]))
            .collect();
        let members: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (client, internal))| {
                format!(
                    "{{id = {}, addr = \"127.0.0.1:{internal}\", client_addr = \"127.0.0.1:{client}\"}}",
                    i + 1
                )
            })
            .collect();
        let mut nodes = Vec::new();
        for (i, (client, internal)) in ports.iter().enumerate() {
            let id = i as u64 + 1;
            let data_dir = dir.path().join(format!("node{id}"));
            let config = dir.path().join(format!("node{id}.toml"));
            let text = format!(
                "[node]\nid = {id}\nclient_addr = \"127.0.0.1:{client}\"\n\
                 internal_addr = \"127.0.0.1:{internal}\"\ndata_dir = \"{}\"\n\
                 advertise_addr = \"127.0.0.1:{internal}\"\n\
                 advertise_client_addr = \"127.0.0.1:{client}\"\n\n\
                 [cluster]\nbootstrap = true\ninitial_members = [{}]\n{cluster}\n\n\
                 [raft]\nheartbeat_interval_ms = 100\nelection_timeout_min_ms = 500\n\
                 election_timeout_max_ms = 1000\n{raft}\n\n[limits]\n\
                 request_timeout_secs = {REQUEST_TIMEOUT_SECS}\n",
                data_dir.display(),
                members.join(", ")
            );
            std::fs::write(&config, text).expect("writing config");
            let log = dir.path().join(format!("node{id}.log"));
            nodes.push(TestNode {
                id,
                client_port: *client,
                internal_port: *internal,
                config,
                data_dir,
                log,
                child: None,
            });
        }
        let _ = bin;
        let mut cluster = Cluster {
            nodes,
            _dir: dir,
            _turn: turn,
        };
        for i in 0..n as usize {
            cluster.start_node(i);
        }
        cluster
    }

    /// Starts one more node, configured to join the running cluster through node 1
    /// (`bootstrap = false`, `join_addr`), and returns its index. It asks to be added and
    /// becomes a voter of every group on its own.
    pub fn add_joining_node(&mut self) -> usize {
        let id = self.nodes.len() as u64 + 1;
        let taken: Vec<u16> = self
            .nodes
            .iter()
            .flat_map(|node| [node.client_port, node.internal_port])
            .collect();
        let fresh: Vec<u16> = free_ports(2 + taken.len())
            .into_iter()
            .filter(|port| !taken.contains(port))
            .collect();
        let (client, internal) = (fresh[0], fresh[1]);
        let dir = self._dir.path();
        let data_dir = dir.join(format!("node{id}"));
        let config = dir.join(format!("node{id}.toml"));
        let text = format!(
            "[node]\nid = {id}\nclient_addr = \"127.0.0.1:{client}\"\n\
             internal_addr = \"127.0.0.1:{internal}\"\ndata_dir = \"{}\"\n\
             advertise_addr = \"127.0.0.1:{internal}\"\n\
             advertise_client_addr = \"127.0.0.1:{client}\"\n\n\
             [cluster]\nbootstrap = false\njoin_addr = \"127.0.0.1:{}\"\n\n\
             [raft]\nheartbeat_interval_ms = 100\nelection_timeout_min_ms = 500\n\
             election_timeout_max_ms = 1000\n\n[limits]\n\
             request_timeout_secs = {REQUEST_TIMEOUT_SECS}\n",
            data_dir.display(),
            self.nodes[0].internal_port,
        );
        std::fs::write(&config, text).expect("writing config");
        let log = dir.join(format!("node{id}.log"));
        self.nodes.push(TestNode {
            id,
            client_port: client,
            internal_port: internal,
            config,
            data_dir,
            log,
            child: None,
        });
        let index = self.nodes.len() - 1;
        self.start_node(index);
        index
    }

    /// Kills node `i`, wipes its data and starts it again as a node that joins through node
    /// `via` (`bootstrap = false`), as an operator replaces a failed disk.
    pub fn rejoin_wiped(&mut self, i: usize, via: usize) {
        self.kill(i);
        let node = &self.nodes[i];
        std::fs::remove_dir_all(&node.data_dir).expect("wiping the data");
        let text = std::fs::read_to_string(&node.config).expect("reading config");
        let cluster_start = text.find("[cluster]").expect("a [cluster] section");
        let cluster_end = text.find("[raft]").expect("a [raft] section");
        let text = format!(
            "{}[cluster]\nbootstrap = false\njoin_addr = \"127.0.0.1:{}\"\n\n{}",
            &text[..cluster_start],
            self.nodes[via].internal_port,
            &text[cluster_end..]
        );
        std::fs::write(&node.config, text).expect("writing config");
        self.start_node(i);
    }

    /// Runs `seshat cluster ARGS... --addr <node i's internal address>` and returns its
    /// output, asserting that it succeeded.
    pub fn admin(&self, i: usize, args: &[&str]) -> String {
        let addr = format!("127.0.0.1:{}", self.nodes[i].internal_port);
        let output = Command::new(seshat_bin())
            .arg("cluster")
            .arg("--addr")
            .arg(&addr)
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .expect("running seshat cluster");
        assert!(
            output.status.success(),
            "seshat cluster {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.logs()
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Starts node `i` (index) from its configuration and data.
    pub fn start_node(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        assert!(node.child.is_none(), "node {} is running", node.id);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .expect("opening log");
        let child = Command::new(seshat_bin())
            .arg("--config")
            .arg(&node.config)
            .env("RUST_LOG", "info,raft=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting seshat");
        node.child = Some(child);
    }

    /// Crashes node `i` with SIGKILL.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops node `i` with SIGTERM and asserts that it exits 0.
    pub fn stop(&mut self, i: usize) {
        let mut child = self.nodes[i].child.take().expect("node is running");
        // SAFETY: kill(2) on a pid this process started and has not reaped.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        let exited = wait_until_blocking(deadline, Duration::from_millis(20), || {
            child.try_wait().expect("waiting for seshat")
        });
        let Some(status) = exited else {
            let _ = child.kill();
            panic!(
                "node {} did not stop within 15 s of SIGTERM\n{}",
                i + 1,
                self.logs()
            );
        };
        assert!(
            status.success(),
            "node {} exited with {status}\n{}",
            i + 1,
            self.logs()
        );
    }

    /// Waits up to `within` for node `i`'s process to exit on its own and returns how it
    /// exited; `None` if it is still running.
    pub fn wait_for_exit(
        &mut self,
        i: usize,
        within: Duration,
    ) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        let child = self.nodes[i].child.as_mut()?;
        let status = wait_until_blocking(deadline, Duration::from_millis(20), || {
            child.try_wait().expect("waiting for seshat")
        })?;
        self.nodes[i].child = None;
        Some(status)
    }

    /// Moves node `i`'s data (the node must not be running) to `to`, which must not exist
    /// yet, and points its configuration there.
    pub fn move_data_dir(&mut self, i: usize, to: &Path) {
        let node = &mut self.nodes[i];
        assert!(node.child.is_none(), "node {} is running", node.id);
        let copied = Command::new("cp")
            .arg("-a")
            .arg(&node.data_dir)
            .arg(to)
            .status()
            .expect("running cp");
        assert!(
            copied.success(),
            "copying {} to {}",
            node.data_dir.display(),
            to.display()
        );
        std::fs::remove_dir_all(&node.data_dir).expect("removing the old data dir");
        let text = std::fs::read_to_string(&node.config).expect("reading config");
        let old = format!("data_dir = \"{}\"", node.data_dir.display());
        assert!(text.contains(&old), "config names the data dir");
        let text = text.replace(&old, &format!("data_dir = \"{}\"", to.display()));
        std::fs::write(&node.config, text).expect("writing config");
        node.data_dir = to.to_path_buf();
    }

    /// The log of node `i`, all of it.
    pub fn log_of(&self, i: usize) -> String {
        std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default()
    }

    /// A Redis connection to node `i`.
    pub fn client(&self, i: usize) -> redis::Connection {
        let url = format!("redis://127.0.0.1:{}/", self.nodes[i].client_port);
        let client = redis::Client::open(url).expect("redis url");
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last_error = None;
        let connected = wait_until_blocking(deadline, Duration::from_millis(50), || {
            client
                .get_connection_with_timeout(Duration::from_secs(1))
                .map_err(|error| last_error = Some(error))
                .ok()
        });
        let Some(connection) = connected else {
            let error = last_error.expect("a wait tries at least once");
            panic!("connecting to node {}: {error}\n{}", i + 1, self.logs());
        };
        connection
            .set_read_timeout(Some(Duration::from_secs(REQUEST_TIMEOUT_SECS + 5)))
            .expect("read timeout");
        connection
    }

    /// A raw TCP connection to node `i`.
    pub fn raw(&self, i: usize) -> TcpStream {
        let stream = TcpStream::connect(("127.0.0.1", self.nodes[i].client_port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
    }

    /// The running node that leads the data group, once all running nodes agree on one.
    pub fn wait_for_leader(&self, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        let leader = wait_until_blocking(deadline, Duration::from_millis(25), || {
            let mut leaders = Vec::new();
            let mut followers_know = true;
            for (i, node) in self.nodes.iter().enumerate() {
                if !node.is_running() {
                    continue;
                }
                let Some(info) = self.try_info(i, "replication") else {
                    followers_know = false;
                    continue;
                };
                if info.contains("role:master") {
                    leaders.push(i);
                } else if !info.contains("master_port:") {
                    followers_know = false;
                }
            }
            (leaders.len() == 1 && followers_know).then(|| leaders[0])
        });
        leader.unwrap_or_else(|| panic!("no single leader within {within:?}\n{}", self.logs()))
    }

    fn try_info(&self, i: usize, section: &str) -> Option<String> {
        let url = format!("redis://127.0.0.1:{}/", self.nodes[i].client_port);
        let client = redis::Client::open(url).ok()?;
        let mut connection = client
            .get_connection_with_timeout(Duration::from_millis(300))
            .ok()?;
        connection
            .set_read_timeout(Some(Duration::from_secs(1)))
            .ok()?;
        redis::cmd("INFO").arg(section).query(&mut connection).ok()
    }

    /// The last lines of every node's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            let text = std::fs::read_to_string(&node.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(30)..];
            out.push_str(&format!(
                "--- node {} log (last {} lines)\n{}\n",
                node.id,
                tail.len(),
                tail.join("\n")
            ));
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}

/// Sends raw bytes and reads what comes back until the server closes or `wait` passes.
pub fn exchange(stream: &mut TcpStream, bytes: &[u8], wait: Duration) -> (Vec<u8>, bool) {
    stream.write_all(bytes).expect("write");
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    (reply, closed)
}
