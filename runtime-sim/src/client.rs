//! Simulated Redis clients: RESP over madsim TCP through the core's codec, a random GET / SET /
//! DEL / INCR workload over a few keys with unique values, with expiring keys (`SET ... PX`)
//! and transactions (`MULTI` ... `EXEC` on one key), and every operation recorded in a
//! [`History`] together with where it ended and how.
//!
//! Keys `k0`, `k2`, ... are counters (`INCR`, no `PX`), `k1`, `k3`, ... expire (`SET ... PX`,
//! no `INCR`): an `INCR` whose reply never came on a value with a TTL is the one thing the
//! checker cannot decide (see `seshat_chaos`'s crate docs). A transaction is `MULTI`, its
//! queued commands and `EXEC`, written back to back as one operation of the history; its
//! `+OK` and `+QUEUED` replies are read and dropped, `EXEC`'s array is the output.
//!
//! A client opens one connection after another, each to one node for a few dozen requests at
//! most. A connection keeps up to its *depth* of requests in flight (1 to the workload's
//! `depth_max`, drawn per connection): it writes a burst of requests at once, and while replies
//! come back, in order as RESP guarantees, it sometimes tops the pipeline up before it has
//! drained. Each request is an operation of the history, on the connection it was sent on:
//! invoked when it is written to the socket, ended when its reply is read.
//!
//! `MOVED` ends the operation as failed (nothing was proposed) and sends the same command
//! again, as a new operation, first thing on a connection to the node the reply names, as a
//! Redis cluster client would. The connection that got it sends nothing more; the requests
//! already in flight on it are still read and recorded with their own outcomes.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use madsim::rand::{thread_rng, Rng};
use seshat_chaos::{ClientId, ConnectionId, History, Operation, OperationId, Output};
use seshat_core::resp::{decode_reply, encode_request};
use seshat_core::{ClusterError, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Redirects followed for one command at most.
const REDIRECTS_MAX: usize = 3;
/// Requests a connection sends at most before the client closes it and opens another.
const CONNECTION_REQUESTS_MAX: usize = 30;
/// After a round (a pipeline sent and drained), the client pauses up to this long for each
/// request the round sent: about the old one-at-a-time client's rate, whatever the depth.
const PAUSE_PER_REQUEST_MAX_MS: u64 = 20;
/// Chance in percent that a command is a transaction.
const TRANSACTION_PERCENT: u32 = 10;
/// Commands a transaction queues at most.
const TRANSACTION_OPS_MAX: u64 = 4;
/// The TTLs of `SET ... PX`, milliseconds: short, so that keys expire during a run.
const TTL_MS: std::ops::RangeInclusive<u64> = 50..=2000;
/// Chance in percent that a new connection goes to the node the last `MOVED` named rather
/// than to a random one. Low, so that every node, a cut-off minority included, keeps getting
/// requests (some scenarios check what it answers).
const TO_KNOWN_LEADER_PERCENT: u32 = 25;

/// How an operation ended, beyond what the history keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// A normal answer.
    Answered,
    /// `-NOQUORUM`: the node could not commit or confirm in time.
    NoQuorum,
    /// `-TRYAGAIN`: certainly not applied.
    TryAgain,
    /// `-MOVED`, and the command was sent again, as a new operation, to the node it names:
    /// routing, not a failure to serve.
    Moved,
    /// Still `-MOVED` after the last redirect.
    Redirected,
    /// Some other error reply.
    Error(String),
    /// The connection could not be opened: the request never left.
    Unreachable,
    /// No reply in time, or the connection broke after the request left.
    TimedOut,
}

/// One operation as the client saw it.
#[derive(Clone, Debug)]
pub struct OpRecord {
    /// Its id in the history.
    pub id: OperationId,
    /// Whether it writes (SET, DEL or INCR).
    pub is_write: bool,
    /// The node whose answer ended it (the one its connection went to), by client address.
    pub node: String,
    /// When it was invoked, since the run started.
    pub invoked: Duration,
    /// When it ended, since the run started.
    pub ended: Duration,
    /// How it ended, which decides what the history records.
    pub ending: Ending,
}

/// Everything the clients recorded, shared between them.
#[derive(Debug, Default)]
pub struct Recording {
    /// The history the linearizability checker reads.
    pub history: History,
    /// One record per operation, in the order they ended.
    pub ops: Vec<OpRecord>,
}

/// What a workload client needs.
#[derive(Clone, Debug)]
pub struct Workload {
    /// The nodes' client addresses; a connection goes to a random one unless a `MOVED`
    /// named one.
    pub nodes: Vec<String>,
    /// Keys, `k0..`.
    pub keys: usize,
    /// How long a client waits for a reply before it gives up on the connection.
    pub reply_timeout: Duration,
    /// When the run started: times are measured from it.
    pub start: Instant,
    /// When clients stop invoking.
    pub until: Instant,
    /// The most requests a connection keeps in flight; each draws its depth from `1..=` it.
    pub depth_max: usize,
    /// A probe rather than a workload client: every connection goes to `nodes[0]`, every
    /// command is a plain SET, and a `MOVED` ends its operation without being followed. A
    /// check of what a cut-off node answers writes needs writes to reach that node, which a
    /// random client does not promise.
    pub pinned: bool,
}

/// A command to send: the operation the history records and its requests' RESP arguments
/// (one request, or `MULTI`, the queued ones and `EXEC`: the last reply is the answer).
#[derive(Clone, Debug)]
struct Command {
    operation: Operation,
    requests: Vec<Vec<Bytes>>,
    /// Times it was sent again after `MOVED`.
    redirects: usize,
}

/// A request written to a connection whose reply has not been read.
struct Sent {
    id: OperationId,
    command: Command,
    invoked: Duration,
}

/// One client's loop state across its connections.
struct Client {
    number: u64,
    workload: Workload,
    recording: Arc<Mutex<Recording>>,
    /// Commands made so far, for unique values.
    sequence: u64,
    /// Commands a `MOVED` sent back, to go first on the next connection.
    redirected: VecDeque<Command>,
    /// The node the last `MOVED` named.
    leader: Option<String>,
}

/// Runs one client until `workload.until`.
pub async fn run_client(client: u64, workload: Workload, recording: Arc<Mutex<Recording>>) {
    let mut client = Client {
        number: client,
        workload,
        recording,
        sequence: 0,
        redirected: VecDeque::new(),
        leader: None,
    };
    let mut target: Option<String> = None;
    while Instant::now() < client.workload.until {
        let node = target.take().unwrap_or_else(|| client.pick_node());
        let Some(connection) = Connection::open(&node, client.workload.reply_timeout).await else {
            client.record_unreachable(node);
            client.pause(1).await;
            continue;
        };
        target = client.serve(connection, node).await;
    }
}

impl Client {
    /// Where the next connection goes: the node the last `MOVED` named, mostly.
    fn pick_node(&self) -> String {
        let mut rng = thread_rng();
        if self.workload.pinned {
            return self.workload.nodes[0].clone();
        }
        match &self.leader {
            Some(leader) if rng.gen_ratio(TO_KNOWN_LEADER_PERCENT, 100) => leader.clone(),
            _ => self.workload.nodes[rng.gen_range(0..self.workload.nodes.len())].clone(),
        }
    }

    /// Records the next command as an operation that never left, since no connection to
    /// `node` opened: availability counts it.
    fn record_unreachable(&mut self, node: String) {
        let command = self.next_command();
        let now = self.workload.start.elapsed();
        let mut recording = self.recording.lock().expect("recording lock");
        let id =
            recording
                .history
                .invoke(ClientId(self.number), nanos(now), command.operation.clone());
        recording.history.fail(id);
        recording.ops.push(OpRecord {
            id,
            is_write: command.operation.is_write(),
            node,
            invoked: now,
            ended: now,
            ending: Ending::Unreachable,
        });
    }

    /// Stops sending new connections to `node` first, after it failed to serve.
    fn forget_leader(&mut self, node: &str) {
        if self.leader.as_deref() == Some(node) {
            self.leader = None;
        }
    }

    /// A command sent back by `MOVED`, or a new random one.
    fn next_command(&mut self) -> Command {
        if let Some(command) = self.redirected.pop_front() {
            return command;
        }
        self.sequence += 1;
        if self.workload.pinned {
            return plain_set(self.number, self.sequence, self.workload.keys);
        }
        random_command(self.number, self.sequence, self.workload.keys)
    }

    async fn pause(&self, requests: usize) {
        let max_ms = PAUSE_PER_REQUEST_MAX_MS * requests.max(1) as u64;
        let pause = thread_rng().gen_range(0..max_ms);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }

    /// Sends requests on `connection` to `node`, pipelined up to a depth it draws, until it
    /// has sent its share, the run ends, a cluster error comes (`MOVED`, `NOQUORUM`, ...) or
    /// the connection fails; then reads what is still in flight. Returns the node a `MOVED`
    /// named, for the next connection.
    async fn serve(&mut self, mut connection: Connection, node: String) -> Option<String> {
        let (depth, requests_max) = {
            let mut rng = thread_rng();
            (
                rng.gen_range(1..=self.workload.depth_max),
                rng.gen_range(1..=CONNECTION_REQUESTS_MAX),
            )
        };
        let id = self
            .recording
            .lock()
            .expect("recording lock")
            .history
            .connect(ClientId(self.number));
        let mut in_flight: VecDeque<Sent> = VecDeque::new();
        let mut sent = 0;
        let mut round = 0;
        let mut moved_to: Option<String> = None;
        // Set by a reply that says this node cannot serve now: send nothing more here.
        let mut is_done = false;
        loop {
            let room = depth - in_flight.len();
            let may_send =
                !is_done && sent < requests_max && Instant::now() < self.workload.until && room > 0;
            // A burst when the pipeline is empty; now and then a top-up while it drains.
            let burst = match (may_send, in_flight.is_empty()) {
                (false, _) => 0,
                (true, true) => thread_rng().gen_range(1..=room),
                (true, false) if thread_rng().gen_ratio(1, 3) => thread_rng().gen_range(1..=room),
                (true, false) => 0,
            }
            .min(requests_max - sent);
            if burst > 0 {
                let broke = self.send(&mut connection, id, burst, &mut in_flight).await;
                sent += burst;
                round += burst;
                if broke {
                    self.time_out_all(&mut in_flight, &node);
                    self.forget_leader(&node);
                    return moved_to;
                }
            }
            if in_flight.is_empty() {
                return moved_to;
            }
            let replies = in_flight
                .front()
                .map_or(1, |sent| sent.command.requests.len());
            let Some(reply) = connection
                .read_replies(replies, self.workload.reply_timeout)
                .await
            else {
                // The replies may still come; the connection is dropped so that nothing reads
                // them as another request's.
                self.time_out_all(&mut in_flight, &node);
                self.forget_leader(&node);
                return moved_to;
            };
            let sent_request = in_flight.pop_front().expect("checked above");
            let mut resend = false;
            match cluster_error(&reply) {
                Some(ClusterError::Moved { .. }) if self.workload.pinned => is_done = true,
                Some(ClusterError::Moved { addr, .. }) => {
                    self.leader = Some(addr.clone());
                    moved_to = Some(addr);
                    resend = sent_request.command.redirects < REDIRECTS_MAX;
                    is_done = true;
                }
                Some(_) => {
                    // NOQUORUM, TRYAGAIN, a removed node: try another node, as a cluster
                    // client refreshes its view after such an error.
                    self.forget_leader(&node);
                    is_done = true;
                }
                None => {}
            }
            self.record_reply(&sent_request, &reply, &node, resend);
            if resend {
                let mut command = sent_request.command;
                command.redirects += 1;
                self.redirected.push_back(command);
            }
            if in_flight.is_empty() && !is_done {
                self.pause(round).await;
                round = 0;
            }
        }
    }

    /// Writes `count` new requests on `connection` in one go, each recorded as sent now.
    /// Returns true if the connection broke (they are then in flight, to time out).
    async fn send(
        &mut self,
        connection: &mut Connection,
        id: ConnectionId,
        count: usize,
        in_flight: &mut VecDeque<Sent>,
    ) -> bool {
        let mut bytes = BytesMut::new();
        let invoked = self.workload.start.elapsed();
        for _ in 0..count {
            let command = self.next_command();
            for args in &command.requests {
                encode_request(args, &mut bytes);
            }
            let operation_id = self.recording.lock().expect("recording lock").history.send(
                id,
                nanos(invoked),
                command.operation.clone(),
            );
            in_flight.push_back(Sent {
                id: operation_id,
                command,
                invoked,
            });
        }
        !connection.write(&bytes).await
    }

    /// Records the reply to `sent`. A `MOVED` whose command goes out again is
    /// [`Ending::Moved`].
    fn record_reply(&self, sent: &Sent, reply: &Reply, node: &str, is_resent: bool) {
        let ended = self.workload.start.elapsed();
        let operation = &sent.command.operation;
        let mut recording = self.recording.lock().expect("recording lock");
        let ending = match output(operation, reply) {
            Some(output) => {
                recording.history.complete(sent.id, nanos(ended), output);
                Ending::Answered
            }
            None => {
                let ending = match error_ending(reply) {
                    Ending::Redirected if is_resent => Ending::Moved,
                    ending => ending,
                };
                // An error certainly had no effect when nothing was proposed (MOVED,
                // TRYAGAIN) or the operation only reads; otherwise the write may yet commit.
                let certain = matches!(
                    ending,
                    Ending::TryAgain | Ending::Redirected | Ending::Moved
                );
                if certain || !operation.is_write() {
                    recording.history.fail(sent.id);
                } else {
                    recording.history.timeout(sent.id);
                }
                ending
            }
        };
        recording.ops.push(OpRecord {
            id: sent.id,
            is_write: operation.is_write(),
            node: node.to_owned(),
            invoked: sent.invoked,
            ended,
            ending,
        });
    }

    /// Ends every request in flight as timed out, in the order sent: a write may yet take
    /// effect, a read certainly changed nothing.
    fn time_out_all(&self, in_flight: &mut VecDeque<Sent>, node: &str) {
        let ended = self.workload.start.elapsed();
        let mut recording = self.recording.lock().expect("recording lock");
        for sent in in_flight.drain(..) {
            if sent.command.operation.is_write() {
                recording.history.timeout(sent.id);
            } else {
                recording.history.fail(sent.id);
            }
            recording.ops.push(OpRecord {
                id: sent.id,
                is_write: sent.command.operation.is_write(),
                node: node.to_owned(),
                invoked: sent.invoked,
                ended,
                ending: Ending::TimedOut,
            });
        }
    }
}

/// Sends one `SET key value` to a random node, following `MOVED`; true if it was
/// acknowledged.
pub async fn set_once(nodes: &[String], key: &[u8], value: &[u8], reply_timeout: Duration) -> bool {
    let mut node = nodes[thread_rng().gen_range(0..nodes.len())].clone();
    let args = [
        Bytes::from_static(b"SET"),
        Bytes::copy_from_slice(key),
        Bytes::copy_from_slice(value),
    ];
    let mut request = BytesMut::new();
    encode_request(&args, &mut request);
    for _ in 0..=REDIRECTS_MAX {
        let Some(mut connection) = Connection::open(&node, reply_timeout).await else {
            return false;
        };
        if !connection.write(&request).await {
            return false;
        }
        match connection.read_reply(reply_timeout).await {
            Some(reply) => match cluster_error(&reply) {
                Some(ClusterError::Moved { addr, .. }) => node = addr,
                _ => return matches!(reply, Reply::Simple(ok) if ok == "OK"),
            },
            None => return false,
        }
    }
    false
}

/// A RESP connection to one node; `buffer` holds bytes read but not yet decoded into a reply.
struct Connection {
    stream: TcpStream,
    buffer: BytesMut,
}

impl Connection {
    async fn open(addr: &str, timeout: Duration) -> Option<Connection> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .ok()?
            .ok()?;
        Some(Connection {
            stream,
            buffer: BytesMut::new(),
        })
    }

    /// Writes `bytes` (whole requests); false if the connection broke.
    async fn write(&mut self, bytes: &[u8]) -> bool {
        // madsim's simulated socket sends only on flush.
        self.stream.write_all(bytes).await.is_ok() && self.stream.flush().await.is_ok()
    }

    /// The last of the next `count` replies (the others are a transaction's `+OK` and
    /// `+QUEUED`); `None` when the connection broke or one did not come within `timeout`.
    async fn read_replies(&mut self, count: usize, timeout: Duration) -> Option<Reply> {
        let mut last = None;
        for _ in 0..count {
            last = Some(self.read_reply(timeout).await?);
        }
        last
    }

    /// The next reply; `None` when the connection broke or no reply came within `timeout`.
    async fn read_reply(&mut self, timeout: Duration) -> Option<Reply> {
        let exchange = async {
            loop {
                if let Some(reply) = decode_reply(&mut self.buffer).ok()? {
                    return Some(reply);
                }
                if self.stream.read_buf(&mut self.buffer).await.ok()? == 0 {
                    return None;
                }
            }
        };
        tokio::time::timeout(timeout, exchange).await.ok()?
    }
}

/// A random command on a random key, with values no other command uses: now and then a
/// transaction of a few commands on one key.
fn random_command(client: u64, sequence: u64, keys: usize) -> Command {
    let mut rng = thread_rng();
    let index = rng.gen_range(0..keys);
    let key = Bytes::from(format!("k{index}"));
    // Odd keys expire, even ones count (see the module docs).
    let expires = index % 2 == 1;
    if !rng.gen_ratio(TRANSACTION_PERCENT, 100) {
        let (operation, args) = random_simple(&key, expires, client, sequence * 8);
        return Command {
            operation,
            requests: vec![args],
            redirects: 0,
        };
    }
    let len = rng.gen_range(1..=TRANSACTION_OPS_MAX);
    let (ops, queued): (Vec<Operation>, Vec<Vec<Bytes>>) = (0..len)
        .map(|n| random_simple(&key, expires, client, sequence * 8 + n))
        .unzip();
    let mut requests = vec![vec![Bytes::from_static(b"MULTI")]];
    requests.extend(queued);
    requests.push(vec![Bytes::from_static(b"EXEC")]);
    Command {
        operation: Operation::multi(ops),
        requests,
        redirects: 0,
    }
}

/// A `SET` of a value no other command uses on a random key, with no TTL.
fn plain_set(client: u64, sequence: u64, keys: usize) -> Command {
    let key = Bytes::from(format!("k{}", thread_rng().gen_range(0..keys)));
    let value = Bytes::from(format!("c{client:03}-{:08}", sequence * 8));
    Command {
        requests: vec![vec![Bytes::from_static(b"SET"), key.clone(), value.clone()]],
        operation: Operation::set(key, value),
        redirects: 0,
    }
}

/// A GET, SET, DEL, and INCR on a counter or `SET ... PX` on a key that `expires`, with its
/// RESP arguments. A SET's value is unique to (`client`, `unique`): mostly a string, a quarter
/// of the time (on counters) an integer, spaced out so that INCRs of one never reach another.
fn random_simple(key: &Bytes, expires: bool, client: u64, unique: u64) -> (Operation, Vec<Bytes>) {
    let mut rng = thread_rng();
    let string = || Bytes::from(format!("c{client:03}-{unique:08}"));
    let (operation, name) = match rng.gen_range(0..100) {
        0..=34 => (Operation::get(key.clone()), "GET"),
        35..=69 => {
            let value = if !expires && rng.gen_ratio(1, 4) {
                Bytes::from(((client * 100_000_000 + unique) * 100_000).to_string())
            } else {
                string()
            };
            let args = vec![Bytes::from_static(b"SET"), key.clone(), value.clone()];
            return (Operation::set(key.clone(), value), args);
        }
        70..=84 => (Operation::del(key.clone()), "DEL"),
        _ if expires => {
            let value = string();
            let ttl_ms = rng.gen_range(TTL_MS);
            let args = vec![
                Bytes::from_static(b"SET"),
                key.clone(),
                value.clone(),
                Bytes::from_static(b"PX"),
                Bytes::from(ttl_ms.to_string()),
            ];
            return (Operation::set_px(key.clone(), value, ttl_ms), args);
        }
        _ => (Operation::incr(key.clone()), "INCR"),
    };
    (
        operation,
        vec![Bytes::from_static(name.as_bytes()), key.clone()],
    )
}

/// The history's output for a normal reply to `operation`; `None` for an error or a reply of
/// the wrong kind. An INCR's refusal of a value that is no integer is a normal answer, in a
/// transaction too.
fn output(operation: &Operation, reply: &Reply) -> Option<Output> {
    match (operation, reply) {
        (Operation::Get { .. }, Reply::Bulk(value)) => Some(Output::Get(Some(value.clone()))),
        (Operation::Get { .. }, Reply::Null) => Some(Output::Get(None)),
        (Operation::Set { .. } | Operation::SetPx { .. }, Reply::Simple(ok)) if ok == "OK" => {
            Some(Output::Set)
        }
        (Operation::Del { .. }, Reply::Integer(n)) => Some(Output::Del(*n > 0)),
        (Operation::Incr { .. }, Reply::Integer(n)) => Some(Output::Incr(Some(*n))),
        (Operation::Incr { .. }, Reply::Error(text))
            if text.starts_with("ERR value is not an integer")
                || text.starts_with("ERR increment or decrement would overflow") =>
        {
            Some(Output::Incr(None))
        }
        (Operation::Multi { ops, .. }, Reply::Array(replies)) if replies.len() == ops.len() => ops
            .iter()
            .zip(replies)
            .map(|(op, reply)| output(op, reply))
            .collect::<Option<Vec<Output>>>()
            .map(Output::Multi),
        _ => None,
    }
}

/// How an operation whose reply was not a normal answer ended.
fn error_ending(reply: &Reply) -> Ending {
    let Reply::Error(text) = reply else {
        return Ending::Error(format!("unexpected reply {reply:?}"));
    };
    match ClusterError::parse(text) {
        Some(ClusterError::NoQuorum(_)) => Ending::NoQuorum,
        Some(ClusterError::TryAgain(_)) => Ending::TryAgain,
        Some(ClusterError::Moved { .. }) => Ending::Redirected,
        // A removed node proposes nothing: the write certainly did not happen there.
        Some(ClusterError::Removed(_)) => Ending::TryAgain,
        // `NOTLEADER` answers only an operator's requests; any other error is the command's.
        _ => Ending::Error(text.clone()),
    }
}

/// The cluster error `reply` carries, if it is one.
fn cluster_error(reply: &Reply) -> Option<ClusterError> {
    match reply {
        Reply::Error(text) => ClusterError::parse(text),
        _ => None,
    }
}

fn nanos(since_start: Duration) -> u64 {
    since_start.as_nanos() as u64
}
