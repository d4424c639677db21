//! Real, unmodified client libraries against a three-node cluster of real processes:
//! redis-py (`RedisCluster`; `Redis` over RESP2 and RESP3), ioredis (`Cluster`), Go's redigo
//! and its cluster client redisc, and the redis crate (`cluster::ClusterClient`, `Client`).
//! `scripts/clients.sh` installs each from its own registry (PyPI, npm, Debian, crates.io) and
//! says why Go's are Debian's and not go-redis v9.
//!
//! Every test does the same thing. It starts a cluster and connects the client: a cluster
//! client through a follower (it must find the leader in `CLUSTER SLOTS` and follow `MOVED`), a
//! plain client to the leader. The client checks SET/GET/DEL/MGET and a pipeline, then writes
//! one key every few milliseconds while the test kills the leader with SIGKILL. The client
//! must recover by itself, retrying only as its library does with the retry options a user
//! would set; after that every call must succeed at once, and every write the library
//! acknowledged must read back.
//!
//! The programs under `tests/clients/` and the in-process workload of the redis crate
//! ([`rust_workload`]) speak one line protocol:
//! - arguments: `MODE HOST:PORT`;
//! - stdout `ready acked=N`: the basics passed; the client now writes one key every ~10 ms and
//!   counts a write as acknowledged only when its library returned success;
//! - stdin `killed`: the leader is dead; stdin `back`: the killed node runs again (sent only to
//!   the clients that need it, see [`Recovery`]);
//! - stdout `recovered after_ms=N failed_writes=N errors=KIND:N,...`: the first write that
//!   started after the last signal succeeded, N ms after the signal;
//! - stdout `verified acked=N writes_tried=N`: every acknowledged write read back;
//! - exit status 0; a failure prints `error: ...` on stderr and exits 1.
//!
//! With the default `cluster.follower_requests = "moved"` a plain client must talk to the
//! leader, and after the leader dies it recovers only when that node runs and leads again.
//! With `"forward"` a plain client connected only to a follower works, and recovers by itself
//! when the leader dies; those tests are at the end of this file.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use redis::{ConnectionLike, RedisResult, Value};
use seshat_tests::Cluster;

const STARTUP: Duration = Duration::from_secs(15);
/// How long a client may take to connect and pass the basics.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// How long the client writes before the leader is killed, so that writes are in flight.
const WRITING_BEFORE_KILL: Duration = Duration::from_millis(300);
/// How long a client that needs its node back is left failing before the node restarts.
const OUTAGE: Duration = Duration::from_millis(500);
/// The longest a client may take to recover after the last signal ("a few seconds"). The
/// programs give up at 15 s; this bound is the assertion.
const RECOVERY_MAX: Duration = Duration::from_secs(10);
/// How long the rest of a run may take once the client has recovered.
const FINISH_WITHIN: Duration = Duration::from_secs(60);

/// How a client gets going again once the leader is dead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Recovery {
    /// A cluster client: it asks the survivors for the slots and finds the new leader.
    ByItself,
    /// A cluster client that keeps going to the dead leader's address and reloads the slots
    /// only on `MOVED`, so it recovers once that address answers again (as a follower, whose
    /// `MOVED` names the new leader): redisc 1.1.7 asks only masters for a connection, and the
    /// dead leader was the one master; the redis crate's blocking `ClusterConnection` retries
    /// a refused connection at once on the same address and never reloads the slots for it.
    WhenTheNodeRestarts,
    /// A plain client knows one node: it recovers once that node runs and leads again.
    WhenTheNodeLeadsAgain,
}

impl Recovery {
    fn signals(self) -> &'static [&'static str] {
        match self {
            Recovery::ByItself => &["killed"],
            Recovery::WhenTheNodeRestarts | Recovery::WhenTheNodeLeadsAgain => &["killed", "back"],
        }
    }
}

/// Which node the client is given.
#[derive(Clone, Copy, Debug)]
enum Connect {
    /// A follower: a cluster client must find the leader by itself.
    Follower,
    /// The leader, for plain clients.
    Leader,
    /// A follower of a cluster whose followers forward (`follower_requests = "forward"`), for
    /// plain clients: the only node they know. When the leader dies, either survivor may be
    /// elected, this one too (it then serves the client itself).
    ForwardingFollower,
}

// ---------------------------------------------------------------------------------------
// redis-py (PyPI)

#[test]
fn redis_py_cluster_client_recovers_from_a_leader_kill_by_itself() {
    check_program("python", "cluster", Connect::Follower, Recovery::ByItself);
}

#[test]
fn redis_py_resp2_client_on_the_leader_recovers_when_its_node_leads_again() {
    check_program(
        "python",
        "plain-resp2",
        Connect::Leader,
        Recovery::WhenTheNodeLeadsAgain,
    );
}

#[test]
fn redis_py_resp3_client_on_the_leader_recovers_when_its_node_leads_again() {
    check_program(
        "python",
        "plain-resp3",
        Connect::Leader,
        Recovery::WhenTheNodeLeadsAgain,
    );
}

// ---------------------------------------------------------------------------------------
// ioredis (npm)

#[test]
fn ioredis_cluster_client_recovers_from_a_leader_kill_by_itself() {
    check_program("node", "cluster", Connect::Follower, Recovery::ByItself);
}

// ---------------------------------------------------------------------------------------
// redigo and redisc (Debian)

#[test]
fn redisc_cluster_client_recovers_once_the_killed_node_answers_again() {
    check_program(
        "go",
        "cluster",
        Connect::Follower,
        Recovery::WhenTheNodeRestarts,
    );
}

#[test]
fn redigo_client_on_the_leader_recovers_when_its_node_leads_again() {
    check_program(
        "go",
        "plain",
        Connect::Leader,
        Recovery::WhenTheNodeLeadsAgain,
    );
}

// ---------------------------------------------------------------------------------------
// The redis crate (crates.io)

#[test]
fn redis_rs_async_cluster_client_recovers_from_a_leader_kill_by_itself() {
    check_rust(
        RustKind::AsyncCluster,
        Connect::Follower,
        Recovery::ByItself,
    );
}

#[test]
fn redis_rs_blocking_cluster_client_recovers_once_the_killed_node_answers_again() {
    check_rust(
        RustKind::Cluster,
        Connect::Follower,
        Recovery::WhenTheNodeRestarts,
    );
}

#[test]
fn redis_rs_client_on_the_leader_recovers_when_its_node_leads_again() {
    check_rust(
        RustKind::Plain,
        Connect::Leader,
        Recovery::WhenTheNodeLeadsAgain,
    );
}

fn check_rust(kind: RustKind, connect: Connect, recovery: Recovery) {
    check_client(&format!("redis-rs {kind:?}"), connect, recovery, |addr| {
        Driven::in_process(move |out, signals| rust_workload(kind, recovery, &addr, out, signals))
    });
}

// ---------------------------------------------------------------------------------------
// The harness

/// The workspace root.
fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
}

/// What runs a language's client program, installed by `scripts/clients.sh` once per test
/// binary (the script itself caches across runs and locks against concurrent installs).
fn installed(language: &'static str) -> PathBuf {
    static INSTALLED: Mutex<Vec<(&str, PathBuf)>> = Mutex::new(Vec::new());
    let mut installed = INSTALLED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, path)) = installed.iter().find(|(name, _)| *name == language) {
        return path.clone();
    }
    let output = Command::new("bash")
        .arg(workspace().join("scripts/clients.sh"))
        .arg(language)
        .stderr(Stdio::inherit())
        .output()
        .expect("running scripts/clients.sh");
    assert!(
        output.status.success(),
        "scripts/clients.sh {language} failed ({})",
        output.status
    );
    let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    installed.push((language, path.clone()));
    path
}

/// Runs `tests/clients/<language>`'s program in `mode` through [`check_client`].
fn check_program(language: &'static str, mode: &'static str, connect: Connect, recovery: Recovery) {
    let runner = installed(language);
    let dir = workspace().join("tests/clients").join(language);
    check_client(&format!("{language} {mode}"), connect, recovery, |addr| {
        let mut command = Command::new(&runner);
        // Python and Node run a script; Go's runner is the program itself.
        match language {
            "python" => command.arg(dir.join("client.py")),
            "node" => command.arg(dir.join("client.js")),
            _ => &mut command,
        };
        command.arg(mode).arg(addr).current_dir(&dir);
        Driven::program(command)
    });
}

/// The scenario every test runs (see the module docs).
fn check_client(
    name: &str,
    connect: Connect,
    recovery: Recovery,
    start: impl FnOnce(String) -> Driven,
) {
    let mut cluster = match connect {
        Connect::ForwardingFollower => {
            Cluster::start_configured(3, "follower_requests = \"forward\"", "")
        }
        Connect::Follower | Connect::Leader => Cluster::start(3),
    };
    // Clusters take turns (the harness runs one at a time): time this one's run alone.
    let began = Instant::now();
    let leader = cluster.wait_for_leader(STARTUP);
    let node = match connect {
        Connect::Follower | Connect::ForwardingFollower => (leader + 1) % 3,
        Connect::Leader => leader,
    };

    let addr = format!("127.0.0.1:{}", cluster.nodes[node].client_port);
    let mut client = start(addr);
    let ready = client.expect_line("ready", READY_WITHIN, &cluster);

    thread::sleep(WRITING_BEFORE_KILL);
    cluster.kill(leader);
    client.signal("killed");
    if recovery != Recovery::ByItself {
        let survivor = cluster.wait_for_leader(STARTUP);
        thread::sleep(OUTAGE);
        cluster.start_node(leader);
        // Every running node, the restarted one too, agrees on the leader.
        cluster.wait_for_leader(STARTUP);
        if recovery == Recovery::WhenTheNodeLeadsAgain {
            let id = cluster.nodes[leader].id.to_string();
            cluster.admin(survivor, &["transfer-leader", "--id", &id, "--group", "1"]);
            assert_eq!(
                cluster.wait_for_leader(STARTUP),
                leader,
                "leadership moved back"
            );
        }
        client.signal("back");
    }
    assert_eq!(recovery.signals().len(), client.signals_sent);

    let recovered = client.expect_line("recovered", RECOVERY_MAX + FINISH_WITHIN, &cluster);
    let verified = client.expect_line("verified", FINISH_WITHIN, &cluster);
    if let Err(why) = client.finish(FINISH_WITHIN) {
        panic!("{name}: {why}\n{}{}", client.transcript(), cluster.logs());
    }
    let after_ms: u64 = field(&recovered, "after_ms").parse().expect("after_ms");
    assert!(
        Duration::from_millis(after_ms) <= RECOVERY_MAX,
        "{name}: recovered only after {after_ms} ms\n{}",
        client.transcript()
    );
    println!(
        "{name}: {ready}; {recovered}; {verified}; cluster run {:.1?}",
        began.elapsed()
    );
}

/// The value of `key=value` in a protocol line.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
}

/// A client under test, speaking the line protocol: an external program or a thread.
struct Driven {
    lines: Receiver<String>,
    transcript: Arc<Mutex<String>>,
    stdin: Option<ChildStdin>,
    signals: Option<Sender<String>>,
    signals_sent: usize,
    child: Option<Child>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl Driven {
    /// Starts `command` with piped stdio.
    fn program(mut command: Command) -> Driven {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("starting {command:?}: {error}"));
        let transcript = Arc::new(Mutex::new(String::new()));
        let (lines_in, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let out = Arc::clone(&transcript);
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                out.lock().unwrap().push_str(&format!("stdout: {line}\n"));
                let _ = lines_in.send(line);
            }
        });
        let err = Arc::clone(&transcript);
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                err.lock().unwrap().push_str(&format!("stderr: {line}\n"));
            }
        });
        Driven {
            lines,
            transcript,
            stdin: child.stdin.take(),
            signals: None,
            signals_sent: 0,
            child: Some(child),
            thread: None,
        }
    }

    /// Runs `workload` on a thread, with the protocol's lines as channel messages.
    fn in_process(
        workload: impl FnOnce(&mut dyn FnMut(String), Receiver<String>) -> Result<(), String>
            + Send
            + 'static,
    ) -> Driven {
        let transcript = Arc::new(Mutex::new(String::new()));
        let (lines_in, lines) = mpsc::channel();
        let (signals, signals_out) = mpsc::channel();
        let out = Arc::clone(&transcript);
        let thread = thread::spawn(move || {
            let mut say = |line: String| {
                out.lock().unwrap().push_str(&format!("out: {line}\n"));
                let _ = lines_in.send(line);
            };
            let result = workload(&mut say, signals_out);
            if let Err(error) = &result {
                out.lock().unwrap().push_str(&format!("error: {error}\n"));
            }
            result
        });
        Driven {
            lines,
            transcript,
            stdin: None,
            signals: Some(signals),
            signals_sent: 0,
            child: None,
            thread: Some(thread),
        }
    }

    fn transcript(&self) -> String {
        format!("--- client transcript\n{}", self.transcript.lock().unwrap())
    }

    /// Sends a signal line. A client that has already exited is caught by `expect_line`.
    fn signal(&mut self, signal: &str) {
        self.signals_sent += 1;
        if let Some(stdin) = &mut self.stdin {
            let _ = writeln!(stdin, "{signal}").and_then(|()| stdin.flush());
        }
        if let Some(signals) = &self.signals {
            let _ = signals.send(signal.to_owned());
        }
    }

    /// The next line that starts with `prefix`, within `within`.
    fn expect_line(&mut self, prefix: &str, within: Duration, cluster: &Cluster) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "no '{prefix}' line within {within:?}\n{}{}",
                        self.transcript(),
                        cluster.logs()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.finish(Duration::from_secs(5));
                    panic!(
                        "the client ended before '{prefix}' ({status:?})\n{}{}",
                        self.transcript(),
                        cluster.logs()
                    )
                }
            }
        }
    }

    /// Waits for the client to end, and says whether it succeeded.
    fn finish(&mut self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        if let Some(child) = &mut self.child {
            loop {
                if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                    self.child = None;
                    return if status.success() {
                        Ok(())
                    } else {
                        Err(format!("the client program exited with {status}"))
                    };
                }
                if Instant::now() >= deadline {
                    return Err(format!("the client program did not exit within {within:?}"));
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        if let Some(thread) = self.thread.take() {
            while !thread.is_finished() {
                if Instant::now() >= deadline {
                    return Err(format!("the client thread did not end within {within:?}"));
                }
                thread::sleep(Duration::from_millis(20));
            }
            return thread
                .join()
                .map_err(|_| "the client thread panicked".to_owned())?;
        }
        Ok(())
    }
}

impl Drop for Driven {
    fn drop(&mut self) {
        // Only the program this test started, by its own handle.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------
// The redis crate's workload: the same protocol, in process.

/// How long the workload waits for its signals before it gives up.
const SIGNALS_WITHIN: Duration = Duration::from_secs(60);

/// Which of the redis crate's clients a workload drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RustKind {
    Cluster,
    AsyncCluster,
    Plain,
}

/// The redis crate's clients behind one interface.
enum RustClient {
    /// `cluster::ClusterClient`'s connection: follows `MOVED`, retries with backoff, reloads
    /// the slots from the nodes it knows.
    Cluster(Box<redis::cluster::ClusterConnection>),
    /// `cluster_async::ClusterConnection`, the async cluster client, on a runtime of its own.
    AsyncCluster {
        runtime: tokio::runtime::Runtime,
        connection: redis::cluster_async::ClusterConnection,
    },
    /// `Client`: a connection that is dropped after an I/O error, the next call asking the
    /// `Client` for a new one (the sync connection does not reconnect on its own).
    Plain {
        client: redis::Client,
        connection: Option<redis::Connection>,
    },
}

impl RustClient {
    fn connect(kind: RustKind, addr: &str) -> RedisResult<RustClient> {
        let url = format!("redis://{addr}/");
        // The retry options a user would set for failovers.
        let cluster_client = || {
            redis::cluster::ClusterClientBuilder::new(vec![url.clone()])
                .retries(8)
                .min_retry_wait(50)
                .max_retry_wait(500)
                .connection_timeout(Duration::from_secs(2))
                .response_timeout(Duration::from_secs(5))
                .build()
        };
        match kind {
            RustKind::Cluster => Ok(RustClient::Cluster(Box::new(
                cluster_client()?.get_connection()?,
            ))),
            RustKind::AsyncCluster => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                let connection = runtime.block_on(cluster_client()?.get_async_connection())?;
                Ok(RustClient::AsyncCluster {
                    runtime,
                    connection,
                })
            }
            RustKind::Plain => Ok(RustClient::Plain {
                client: redis::Client::open(url)?,
                connection: None,
            }),
        }
    }

    fn plain_connection<'a>(
        client: &redis::Client,
        connection: &'a mut Option<redis::Connection>,
    ) -> RedisResult<&'a mut redis::Connection> {
        if connection.as_ref().is_none_or(|c| !c.is_open()) {
            let fresh = client.get_connection_with_timeout(Duration::from_secs(2))?;
            fresh.set_read_timeout(Some(Duration::from_secs(5)))?;
            *connection = Some(fresh);
        }
        Ok(connection.as_mut().expect("just connected"))
    }

    fn query<T: redis::FromRedisValue>(&mut self, cmd: &redis::Cmd) -> RedisResult<T> {
        match self {
            RustClient::Cluster(connection) => cmd.query(connection),
            RustClient::AsyncCluster {
                runtime,
                connection,
            } => runtime.block_on(cmd.query_async(connection)),
            RustClient::Plain { client, connection } => {
                let result = cmd.query(Self::plain_connection(client, connection)?);
                if result.as_ref().is_err_and(|e| e.is_io_error()) {
                    *connection = None;
                }
                result
            }
        }
    }

    fn pipeline(&mut self, cmds: Vec<redis::Cmd>) -> RedisResult<Vec<Value>> {
        match self {
            RustClient::Cluster(connection) => {
                let mut pipe = redis::cluster::cluster_pipe();
                for cmd in cmds {
                    pipe.add_command(cmd);
                }
                pipe.query(connection)
            }
            RustClient::AsyncCluster {
                runtime,
                connection,
            } => {
                let mut pipe = redis::pipe();
                for cmd in cmds {
                    pipe.add_command(cmd);
                }
                runtime.block_on(pipe.query_async(connection))
            }
            RustClient::Plain { client, connection } => {
                let mut pipe = redis::pipe();
                for cmd in cmds {
                    pipe.add_command(cmd);
                }
                let result = pipe.query(Self::plain_connection(client, connection)?);
                if result.as_ref().is_err_and(|e| e.is_io_error()) {
                    *connection = None;
                }
                result
            }
        }
    }
}

fn set(key: &str, value: &str) -> redis::Cmd {
    redis::Cmd::set(key, value)
}

fn expect<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

/// The redis crate's side of the protocol: the same steps as the programs' (Python's
/// `client.py` is the reference), with lines and signals over channels.
fn rust_workload(
    kind: RustKind,
    recovery: Recovery,
    addr: &str,
    say: &mut dyn FnMut(String),
    signals: Receiver<String>,
) -> Result<(), String> {
    let e = |error: redis::RedisError| error.to_string();
    let mut client = RustClient::connect(kind, addr).map_err(e)?;
    let mut acked: BTreeMap<String, String> = BTreeMap::new();

    expect(
        "PING",
        client.query::<String>(&redis::cmd("PING")).map_err(e)?,
        "PONG".to_owned(),
    )?;
    client.query::<()>(&set("rs:a", "1")).map_err(e)?;
    acked.insert("rs:a".into(), "1".into());
    expect(
        "GET",
        client
            .query::<Option<String>>(&redis::Cmd::get("rs:a"))
            .map_err(e)?,
        Some("1".to_owned()),
    )?;
    client.query::<()>(&set("rs:gone", "x")).map_err(e)?;
    expect(
        "DEL",
        client
            .query::<i64>(&redis::Cmd::del("rs:gone"))
            .map_err(e)?,
        1,
    )?;
    expect(
        "GET after DEL",
        client
            .query::<Option<String>>(&redis::Cmd::get("rs:gone"))
            .map_err(e)?,
        None,
    )?;
    // MGET's keys share a hash tag, as cluster clients require of multi-key commands.
    for (key, value) in [("{rs}:m1", "v1"), ("{rs}:m2", "v2")] {
        client.query::<()>(&set(key, value)).map_err(e)?;
        acked.insert(key.into(), value.into());
    }
    let mget = redis::Cmd::mget(&["{rs}:m1", "{rs}:m2", "{rs}:none"]);
    expect(
        "MGET",
        client.query::<Vec<Option<String>>>(&mget).map_err(e)?,
        vec![Some("v1".into()), Some("v2".into()), None],
    )?;

    let mut cmds: Vec<redis::Cmd> = (0..20)
        .map(|i| set(&format!("{{rs}}:pipe:{i}"), &i.to_string()))
        .collect();
    cmds.push(redis::Cmd::get("{rs}:pipe:0"));
    cmds.push(redis::Cmd::incr("{rs}:counter", 1));
    cmds.push(redis::Cmd::del("{rs}:pipe:19"));
    cmds.push(redis::Cmd::get("{rs}:pipe:19"));
    let mut want = vec![Value::Okay; 20];
    want.extend([
        Value::BulkString(b"0".to_vec()),
        Value::Int(1),
        Value::Int(1),
        Value::Nil,
    ]);
    expect("pipeline", client.pipeline(cmds).map_err(e)?, want)?;
    for i in 0..19 {
        acked.insert(format!("{{rs}}:pipe:{i}"), i.to_string());
    }
    acked.insert("{rs}:counter".into(), "1".into());
    if kind == RustKind::Plain {
        // MULTI/EXEC, as the crate's atomic pipeline sends it.
        let mut tx = redis::pipe();
        tx.atomic()
            .set("{rs}:tx", "in-tx")
            .incr("{rs}:counter", 1)
            .get("{rs}:tx");
        let RustClient::Plain {
            client: c,
            connection,
        } = &mut client
        else {
            unreachable!()
        };
        let replies: (String, i64, String) = tx
            .query(RustClient::plain_connection(c, connection).map_err(e)?)
            .map_err(e)?;
        expect("MULTI/EXEC", replies, ("OK".into(), 2, "in-tx".into()))?;
        acked.insert("{rs}:tx".into(), "in-tx".into());
        acked.insert("{rs}:counter".into(), "2".into());
    }
    say(format!("ready acked={}", acked.len()));

    let wanted = recovery.signals();
    let ready_at = Instant::now();
    let mut said: Vec<Instant> = Vec::new();
    let mut errors: Vec<(String, usize)> = Vec::new();
    let mut i = 0;
    let recovered = loop {
        loop {
            match signals.try_recv() {
                Ok(_) => said.push(Instant::now()),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return Err("the test went away".into()),
            }
        }
        let started = Instant::now();
        let all_said = said.len() == wanted.len();
        let last = said.last().copied();
        if !all_said && started > ready_at + SIGNALS_WITHIN {
            return Err(format!("no signal within {SIGNALS_WITHIN:?}"));
        }
        if let (true, Some(last)) = (all_said, last) {
            if started > last + Duration::from_secs(15) {
                return Err(format!("no write succeeded within 15 s: {errors:?}"));
            }
        }
        let (key, value) = (format!("rs:w:{i}"), i.to_string());
        i += 1;
        match client.query::<()>(&set(&key, &value)) {
            Ok(()) => {
                acked.insert(key, value);
            }
            Err(error) => {
                // The library gave up on this write: not acknowledged.
                let kind = format!("{:?}", error.kind());
                match errors.iter_mut().find(|(k, _)| *k == kind) {
                    Some((_, count)) => *count += 1,
                    None => {
                        eprintln!("redis-rs write failed ({kind}): {error}");
                        errors.push((kind, 1));
                    }
                }
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        }
        if let (true, Some(last)) = (all_said, last) {
            if started > last {
                break last.elapsed();
            }
        }
        thread::sleep(Duration::from_millis(10));
    };
    let failed: usize = errors.iter().map(|(_, count)| count).sum();
    let summary = if errors.is_empty() {
        "none".to_owned()
    } else {
        let mut kinds: Vec<String> = errors.iter().map(|(k, n)| format!("{k}:{n}")).collect();
        kinds.sort();
        kinds.join(",")
    };
    say(format!(
        "recovered after_ms={} failed_writes={failed} errors={summary}",
        recovered.as_millis()
    ));

    // Recovered: from now on every call succeeds the first time.
    for j in 0..50 {
        let key = format!("rs:after:{j}");
        client
            .query::<()>(&set(&key, &j.to_string()))
            .map_err(|error| format!("SET {key} after recovery: {error}"))?;
        acked.insert(key, j.to_string());
    }
    let cmds = (0..10)
        .map(|j| set(&format!("{{rs}}:after-pipe:{j}"), &j.to_string()))
        .collect();
    let replies = client
        .pipeline(cmds)
        .map_err(|error| format!("pipeline after recovery: {error}"))?;
    expect("pipeline after recovery", replies, vec![Value::Okay; 10])?;
    for j in 0..10 {
        acked.insert(format!("{{rs}}:after-pipe:{j}"), j.to_string());
    }

    // Every acknowledged write is there.
    for (key, value) in &acked {
        let got: Option<String> = client.query(&redis::Cmd::get(key)).map_err(e)?;
        expect(&format!("GET {key}"), got.as_deref(), Some(value.as_str()))?;
    }
    expect(
        "GET after DEL",
        client
            .query::<Option<String>>(&redis::Cmd::get("{rs}:pipe:19"))
            .map_err(e)?,
        None,
    )?;
    say(format!("verified acked={} writes_tried={i}", acked.len()));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Plain clients on a forwarding follower (`cluster.follower_requests = "forward"`)
//
// A plain client connected only to a follower: every command goes through the follower to the
// leader and back, in the order sent (the basics include a pipeline of interleaved SET/GET that
// must read its own writes). The leader is killed; the client may see errors during the
// election but never a wrong value, and must recover by itself without its node leading.

#[test]
fn redis_py_resp2_client_on_a_forwarding_follower_recovers_from_a_leader_kill_by_itself() {
    check_program(
        "python",
        "forward-resp2",
        Connect::ForwardingFollower,
        Recovery::ByItself,
    );
}

#[test]
fn redis_py_resp3_client_on_a_forwarding_follower_recovers_from_a_leader_kill_by_itself() {
    check_program(
        "python",
        "forward-resp3",
        Connect::ForwardingFollower,
        Recovery::ByItself,
    );
}
