//! Simulated Redis clients: RESP over madsim TCP through the core's codec, a random GET / SET /
//! DEL workload over a few keys with unique values, `MOVED` followed, and every operation
//! recorded in a [`History`] together with where it ended and how.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use madsim::rand::{thread_rng, Rng};
use seshat_chaos::{ClientId, History, Operation, OperationId, Output};
use seshat_core::resp::{decode_reply, encode_request};
use seshat_core::{ClusterError, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Redirects followed for one operation at most.
const REDIRECTS_MAX: usize = 3;

/// How an operation ended, beyond what the history keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// A normal answer.
    Answered,
    /// `-NOQUORUM`: the node could not commit or confirm in time.
    NoQuorum,
    /// `-TRYAGAIN`: certainly not applied.
    TryAgain,
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
    /// Whether it writes (SET or DEL).
    pub is_write: bool,
    /// The node whose answer ended it (the last one asked), by client address.
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
    /// The nodes' client addresses; each operation starts at a random one.
    pub nodes: Vec<String>,
    /// Keys, `k0..`.
    pub keys: usize,
    /// How long a client waits for a reply before it gives up on the connection.
    pub reply_timeout: Duration,
    /// When the run started: times are measured from it.
    pub start: Instant,
    /// When clients stop invoking.
    pub until: Instant,
}

/// Runs one client until `workload.until`.
pub async fn run_client(client: u64, workload: Workload, recording: Arc<Mutex<Recording>>) {
    let mut connections: HashMap<String, Connection> = HashMap::new();
    let mut sequence = 0u64;
    while Instant::now() < workload.until {
        sequence += 1;
        let (operation, args) = random_operation(client, sequence, workload.keys);
        let is_write = !matches!(operation, Operation::Get { .. });
        let first = workload.nodes[thread_rng().gen_range(0..workload.nodes.len())].clone();
        let invoked = workload.start.elapsed();
        let id = recording.lock().expect("recording lock").history.invoke(
            ClientId(client),
            nanos(invoked),
            operation.clone(),
        );

        let (node, answer) = execute(&mut connections, first, &args, workload.reply_timeout).await;
        let ended = workload.start.elapsed();
        {
            let mut recording = recording.lock().expect("recording lock");
            let ending = match answer {
                Ok(reply) => match output(&operation, &reply) {
                    Some(output) => {
                        recording.history.complete(id, nanos(ended), output);
                        Ending::Answered
                    }
                    None => {
                        let ending = error_ending(&reply);
                        // An error certainly had no effect when nothing was proposed (MOVED,
                        // TRYAGAIN) or the operation only reads; otherwise the write may yet
                        // commit.
                        let certain = matches!(ending, Ending::TryAgain | Ending::Redirected);
                        if certain || !is_write {
                            recording.history.fail(id);
                        } else {
                            recording.history.timeout(id);
                        }
                        ending
                    }
                },
                Err(ending) => {
                    if ending == Ending::Unreachable || !is_write {
                        recording.history.fail(id);
                    } else {
                        recording.history.timeout(id);
                    }
                    ending
                }
            };
            recording.ops.push(OpRecord {
                id,
                is_write,
                node,
                invoked,
                ended,
                ending,
            });
        }
        let pause = thread_rng().gen_range(0..20);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// Sends one `SET key value` to a random node, following `MOVED`; true if it was
/// acknowledged.
pub async fn set_once(nodes: &[String], key: &[u8], value: &[u8], reply_timeout: Duration) -> bool {
    let mut connections = HashMap::new();
    let first = nodes[thread_rng().gen_range(0..nodes.len())].clone();
    let args = [
        Bytes::from_static(b"SET"),
        Bytes::copy_from_slice(key),
        Bytes::copy_from_slice(value),
    ];
    let (_, answer) = execute(&mut connections, first, &args, reply_timeout).await;
    matches!(answer, Ok(Reply::Simple(ok)) if ok == "OK")
}

/// Sends `args` to `node`, following `MOVED`. Returns the node that answered last and its
/// answer.
async fn execute(
    connections: &mut HashMap<String, Connection>,
    mut node: String,
    args: &[Bytes],
    reply_timeout: Duration,
) -> (String, Result<Reply, Ending>) {
    for redirect in 0..=REDIRECTS_MAX {
        let connection = match connections.get_mut(&node) {
            Some(connection) => connection,
            None => match Connection::open(&node, reply_timeout).await {
                Some(connection) => connections.entry(node.clone()).or_insert(connection),
                None => return (node, Err(Ending::Unreachable)),
            },
        };
        let reply = match connection.call(args, reply_timeout).await {
            Some(reply) => reply,
            None => {
                // The reply may still come; a later request must not read it as its own.
                connections.remove(&node);
                return (node, Err(Ending::TimedOut));
            }
        };
        match cluster_error(&reply) {
            Some(ClusterError::Moved { addr, .. }) if redirect < REDIRECTS_MAX => node = addr,
            _ => return (node, Ok(reply)),
        }
    }
    unreachable!("the last iteration returns")
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

    /// Sends one request and waits for its reply; `None` when the connection broke or the
    /// reply did not come within `timeout`.
    async fn call(&mut self, args: &[Bytes], timeout: Duration) -> Option<Reply> {
        let mut request = BytesMut::new();
        encode_request(args, &mut request);
        let exchange = async {
            self.stream.write_all(&request).await.ok()?;
            self.stream.flush().await.ok()?;
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

/// A random operation with a value no other operation uses.
fn random_operation(client: u64, sequence: u64, keys: usize) -> (Operation, Vec<Bytes>) {
    let mut rng = thread_rng();
    let key = Bytes::from(format!("k{}", rng.gen_range(0..keys)));
    match rng.gen_range(0..100) {
        0..=39 => (
            Operation::get(key.clone()),
            vec![Bytes::from_static(b"GET"), key],
        ),
        40..=84 => {
            let value = Bytes::from(format!("c{client:03}-{sequence:07}"));
            (
                Operation::set(key.clone(), value.clone()),
                vec![Bytes::from_static(b"SET"), key, value],
            )
        }
        _ => (
            Operation::del(key.clone()),
            vec![Bytes::from_static(b"DEL"), key],
        ),
    }
}

/// The history's output for a normal reply to `operation`; `None` for an error or a reply of
/// the wrong kind.
fn output(operation: &Operation, reply: &Reply) -> Option<Output> {
    match (operation, reply) {
        (Operation::Get { .. }, Reply::Bulk(value)) => Some(Output::Get(Some(value.clone()))),
        (Operation::Get { .. }, Reply::Null) => Some(Output::Get(None)),
        (Operation::Set { .. }, Reply::Simple(ok)) if ok == "OK" => Some(Output::Set),
        (Operation::Del { .. }, Reply::Integer(n)) => Some(Output::Del(*n > 0)),
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
