//! The record of what concurrent clients asked a key-value store and what it answered.
//!
//! A client loop records every operation in two steps: [`History::invoke`] just before the
//! request leaves, then exactly one of [`History::complete`] (a reply arrived),
//! [`History::timeout`] (no reply: the operation may or may not have taken effect) or
//! [`History::fail`] (a reply that proves the operation did not take effect, such as a
//! "not leader" error from a node that never proposed it).
//!
//! Every operation is sent on a connection, and a connection's operations take effect in the
//! order they were sent, as Redis promises for the commands of one connection, pipelined or
//! not. A client that waits for each reply uses [`History::invoke`], which keeps one connection
//! per client; a pipelining client opens connections with [`History::connect`] and sends on
//! them with [`History::send`], several operations in flight on each, their replies read in
//! the order sent.
//!
//! ```
//! use seshat_chaos::{ClientId, History, Operation, Output};
//!
//! let mut history = History::new();
//! let client = ClientId(1);
//! let id = history.invoke(client, 100, Operation::set("k", "v1"));
//! history.complete(id, 250, Output::Set);
//! let id = history.invoke(client, 300, Operation::get("k"));
//! history.timeout(id);
//! assert_eq!(history.len(), 2);
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use bytes::Bytes;

/// A simulated client: a loop that sends operations on one connection after another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u64);

/// One connection of a client, unique within a [`History`]: its operations take effect in the
/// order they were sent (invoked), whether the client waited for each reply or pipelined them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(pub u64);

/// An operation of one [`History`], in the order the operations were invoked. Ids stay the same
/// in the sub-histories that [`History::for_key`] returns, so a failure report can name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OperationId(pub usize);

/// What a client asked for. Every operation touches exactly one key.
///
/// A key may expire: after a [`Operation::SetPx`] it may vanish at any later moment, until the
/// next write replaces it, and once gone it stays gone (see the
/// [crate docs](crate#expiring-keys)). The TTL itself is not modelled: a store may judge it
/// on a clock that runs faster or slower than the client's.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// `GET key`: the current value, or nothing if the key is absent.
    Get {
        /// The key read.
        key: Bytes,
    },
    /// `SET key value`: unconditional, with no expiry.
    Set {
        /// The key written.
        key: Bytes,
        /// The value it holds afterwards.
        value: Bytes,
    },
    /// `SET key value PX ttl_ms`: unconditional, and the key may expire any time after.
    SetPx {
        /// The key written.
        key: Bytes,
        /// The value it holds afterwards, until it expires.
        value: Bytes,
        /// The TTL asked for, in milliseconds: reported, not checked.
        ttl_ms: u64,
    },
    /// `DEL key` with a single key: whether it was present (and is now removed).
    Del {
        /// The key removed.
        key: Bytes,
    },
    /// `INCR key`: the key's value as a decimal 64-bit integer (absent counts as 0) plus one,
    /// stored and answered; refused, with no change, if the value is no such integer or is
    /// `i64::MAX` (see [`integer`]).
    Incr {
        /// The counter.
        key: Bytes,
    },
    /// `MULTI`, the operations, `EXEC`, on one connection: the operations take effect in order
    /// at one moment, all of them or (if the transaction's reply never came) none. Every one
    /// is on `key` and none is a transaction; see [`Operation::multi`].
    Multi {
        /// The one key every operation touches.
        key: Bytes,
        /// The queued operations, in the order sent.
        ops: Vec<Operation>,
    },
}

impl Operation {
    /// A `GET key`.
    pub fn get(key: impl Into<Bytes>) -> Self {
        Operation::Get { key: key.into() }
    }

    /// A `SET key value`.
    pub fn set(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Operation::Set {
            key: key.into(),
            value: value.into(),
        }
    }

    /// A `DEL key`.
    pub fn del(key: impl Into<Bytes>) -> Self {
        Operation::Del { key: key.into() }
    }

    /// An `INCR key`.
    pub fn incr(key: impl Into<Bytes>) -> Self {
        Operation::Incr { key: key.into() }
    }

    /// A `SET key value PX ttl_ms`.
    pub fn set_px(key: impl Into<Bytes>, value: impl Into<Bytes>, ttl_ms: u64) -> Self {
        Operation::SetPx {
            key: key.into(),
            value: value.into(),
            ttl_ms,
        }
    }

    /// A transaction of `ops` on their one key.
    ///
    /// # Panics
    ///
    /// If `ops` is empty, touches more than one key, or holds a transaction: a transaction on
    /// one key keeps the check key by key (the `linearizability` module's P-compositionality).
    pub fn multi(ops: Vec<Operation>) -> Self {
        let key = ops
            .first()
            .expect("a transaction of one operation or more")
            .key()
            .clone();
        for op in &ops {
            assert!(op.key() == &key, "a transaction on one key, not {op}");
            assert!(
                !matches!(op, Operation::Multi { .. }),
                "a nested transaction"
            );
        }
        Operation::Multi { key, ops }
    }

    /// The one key this operation reads or writes.
    pub fn key(&self) -> &Bytes {
        match self {
            Operation::Get { key }
            | Operation::Set { key, .. }
            | Operation::SetPx { key, .. }
            | Operation::Del { key }
            | Operation::Incr { key }
            | Operation::Multi { key, .. } => key,
        }
    }

    /// Whether the operation may change the key (every kind but `GET`, and a transaction of
    /// `GET`s only).
    pub fn is_write(&self) -> bool {
        match self {
            Operation::Get { .. } => false,
            Operation::Multi { ops, .. } => ops.iter().any(Operation::is_write),
            _ => true,
        }
    }

    /// Whether `output` is the kind of answer this operation gives (a `GET` answers with an
    /// optional value, a `SET` with nothing, a `DEL` with a boolean, an `INCR` with an optional
    /// integer, a transaction with one answer per operation, each of its kind).
    pub fn accepts(&self, output: &Output) -> bool {
        match (self, output) {
            (Operation::Multi { ops, .. }, Output::Multi(outputs)) => {
                ops.len() == outputs.len()
                    && ops
                        .iter()
                        .zip(outputs)
                        .all(|(op, output)| op.accepts(output))
            }
            _ => matches!(
                (self, output),
                (Operation::Get { .. }, Output::Get(_))
                    | (Operation::Set { .. } | Operation::SetPx { .. }, Output::Set)
                    | (Operation::Del { .. }, Output::Del(_))
                    | (Operation::Incr { .. }, Output::Incr(_))
            ),
        }
    }
}

/// The value as `INCR` reads it: a decimal `i64` exactly as Redis's `string2ll` accepts it
/// (an optional `-`, then digits with no leading zero, nothing else), which is exactly what
/// `i64::to_string` writes.
pub fn integer(value: &[u8]) -> Option<i64> {
    let n: i64 = std::str::from_utf8(value).ok()?.parse().ok()?;
    (n.to_string().as_bytes() == value).then_some(n)
}

/// What the store answered to a completed [`Operation`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Output {
    /// The answer to a `GET`: the value, or `None` for an absent key (a RESP null).
    Get(Option<Bytes>),
    /// The answer to a `SET`, with or without `PX`: `+OK`.
    Set,
    /// The answer to a `DEL`: whether the key was present (`:1`) or not (`:0`).
    Del(bool),
    /// The answer to an `INCR`: the value after it, or `None` for Redis's refusal (`-ERR value
    /// is not an integer or out of range`, or `-ERR increment or decrement would overflow`),
    /// which changed nothing.
    Incr(Option<i64>),
    /// The answer to a transaction: `EXEC`'s array, one answer per operation, in order (the
    /// `+QUEUED` replies to the operations themselves are not recorded).
    Multi(Vec<Output>),
}

/// How an operation ended, as far as its client knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    /// Invoked, and nothing recorded since. The checker treats it as [`Completion::Timeout`]:
    /// a run that stops with operations in flight cannot know whether they took effect.
    InFlight,
    /// A reply arrived.
    Returned {
        /// When the reply arrived, in nanoseconds of simulated time; never before the invocation.
        returned_ns: u64,
        /// The reply.
        output: Output,
    },
    /// No reply will come (a timeout, a dropped connection). The operation may have taken
    /// effect, at any time after its invocation, or never.
    Timeout,
    /// The operation certainly did not take effect. The checker ignores it.
    Failed,
}

/// One operation of a [`History`] and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Unique within the history it was recorded in; records are kept in increasing id order.
    pub id: OperationId,
    /// The client that invoked it.
    pub client: ClientId,
    /// The connection it was sent on: it takes effect after the operations sent on it before.
    pub connection: ConnectionId,
    /// What was asked.
    pub operation: Operation,
    /// When the request left the client, in nanoseconds of simulated time.
    pub invoked_ns: u64,
    /// How it ended.
    pub completion: Completion,
}

impl Record {
    /// Whether the operation may have taken effect without the client learning its output:
    /// it timed out or was still in flight when the history was checked.
    pub fn is_indeterminate(&self) -> bool {
        matches!(self.completion, Completion::InFlight | Completion::Timeout)
    }
}

/// The operations of concurrent clients against one key-value store, in invocation order.
///
/// Times are nanoseconds of simulated time, or any other totally ordered count; only their
/// order matters. See the [crate docs](crate) for how equal times are read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    /// Sorted by id, so a record is found by binary search (sub-histories keep the ids of the
    /// history they come from and so have gaps).
    records: Vec<Record>,
    /// The id the next [`History::invoke`] hands out: one more than the largest id recorded.
    id_next: usize,
    /// The number the next [`History::connect`] hands out.
    connection_next: u64,
    /// Every connection opened, with its client and what it has in flight.
    connections: BTreeMap<ConnectionId, Connection>,
    /// The connection [`History::invoke`] sends each client's operations on.
    connection_of_client: BTreeMap<ClientId, ConnectionId>,
}

/// One connection of a [`History`].
#[derive(Clone, Debug, PartialEq, Eq)]
struct Connection {
    client: ClientId,
    /// The operations sent and not ended yet, oldest first: replies come in this order.
    in_flight: VecDeque<OperationId>,
    /// When the last operation was sent on it: the next one cannot be sent earlier.
    sent_last_ns: u64,
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `client`, which waits for each reply before it sends the next request,
    /// sent `operation` at `invoked_ns`. Call it before the request leaves, then end the
    /// operation with [`complete`](Self::complete), [`timeout`](Self::timeout) or
    /// [`fail`](Self::fail). All of a client's operations recorded this way are on one
    /// connection, opened on its first.
    ///
    /// # Panics
    ///
    /// If `client` already has an operation in flight.
    pub fn invoke(
        &mut self,
        client: ClientId,
        invoked_ns: u64,
        operation: Operation,
    ) -> OperationId {
        let connection = match self.connection_of_client.get(&client) {
            Some(&connection) => connection,
            None => {
                let connection = self.connect(client);
                self.connection_of_client.insert(client, connection);
                connection
            }
        };
        if let Some(previous) = self.connections[&connection].in_flight.front() {
            panic!(
                "client {} invoked {} while {previous} was still in flight",
                client.0,
                OperationId(self.id_next),
            );
        }
        self.send(connection, invoked_ns, operation)
    }

    /// Opens a new connection for `client`, for [`send`](Self::send).
    pub fn connect(&mut self, client: ClientId) -> ConnectionId {
        let connection = ConnectionId(self.connection_next);
        self.connection_next += 1;
        self.connections.insert(
            connection,
            Connection {
                client,
                in_flight: VecDeque::new(),
                sent_last_ns: 0,
            },
        );
        connection
    }

    /// Records that `operation` was sent on `connection` at `invoked_ns`, whatever else is in
    /// flight on it (pipelining). It takes effect, if at all, after every operation sent on
    /// the connection before it; end them in the order sent, as their replies come.
    ///
    /// # Panics
    ///
    /// If `connection` was not opened by [`connect`](Self::connect), or `invoked_ns` is before
    /// the connection's previous send.
    pub fn send(
        &mut self,
        connection: ConnectionId,
        invoked_ns: u64,
        operation: Operation,
    ) -> OperationId {
        let id = OperationId(self.id_next);
        let open = self
            .connections
            .get_mut(&connection)
            .unwrap_or_else(|| panic!("{id} was sent on {connection}, which was never opened"));
        assert!(
            invoked_ns >= open.sent_last_ns,
            "{id} was sent on {connection} at {invoked_ns}, before the previous send at {}",
            open.sent_last_ns,
        );
        open.sent_last_ns = invoked_ns;
        open.in_flight.push_back(id);
        let client = open.client;
        self.id_next += 1;
        self.records.push(Record {
            id,
            client,
            connection,
            operation,
            invoked_ns,
            completion: Completion::InFlight,
        });
        id
    }

    /// Records that the reply `output` to operation `id` arrived at `returned_ns`.
    ///
    /// # Panics
    ///
    /// If `id` is not in flight, if an operation sent on its connection before it is, if
    /// `returned_ns` is before its invocation, or if `output` is not the kind of answer its
    /// operation gives.
    pub fn complete(&mut self, id: OperationId, returned_ns: u64, output: Output) {
        let record = self.end(id);
        assert!(
            returned_ns >= record.invoked_ns,
            "{id} returned at {returned_ns}, before its invocation at {}",
            record.invoked_ns,
        );
        assert!(
            record.operation.accepts(&output),
            "{id} is {}, which cannot answer {output:?}",
            record.operation,
        );
        record.completion = Completion::Returned {
            returned_ns,
            output,
        };
    }

    /// Records that operation `id` will get no reply: it may have taken effect or not.
    ///
    /// # Panics
    ///
    /// If `id` is not in flight, or an operation sent on its connection before it is.
    pub fn timeout(&mut self, id: OperationId) {
        self.end(id).completion = Completion::Timeout;
    }

    /// Records that operation `id` certainly did not take effect. It stays in the history, for
    /// reports, but the checker ignores it.
    ///
    /// # Panics
    ///
    /// If `id` is not in flight, or an operation sent on its connection before it is.
    pub fn fail(&mut self, id: OperationId) {
        self.end(id).completion = Completion::Failed;
    }

    /// The record of operation `id`, if this history has it.
    pub fn get(&self, id: OperationId) -> Option<&Record> {
        let index = self
            .records
            .binary_search_by_key(&id, |record| record.id)
            .ok()?;
        Some(&self.records[index])
    }

    /// All records, in invocation order (increasing id).
    pub fn records(&self) -> impl Iterator<Item = &Record> + '_ {
        self.records.iter()
    }

    /// How many operations were recorded, failed ones included.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no operation was recorded.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The operations on `key` alone, with their ids and completions unchanged.
    pub fn for_key(&self, key: &[u8]) -> History {
        self.filter(|record| record.operation.key() == key)
    }

    /// The operations for which `keep` is true, with their ids and completions unchanged.
    pub(crate) fn filter(&self, mut keep: impl FnMut(&Record) -> bool) -> History {
        let records: Vec<Record> = self
            .records
            .iter()
            .filter(|record| keep(record))
            .cloned()
            .collect();
        let mut connections = self.connections.clone();
        for connection in connections.values_mut() {
            connection.in_flight.clear();
        }
        for record in &records {
            if record.completion == Completion::InFlight {
                let connection = connections
                    .get_mut(&record.connection)
                    .expect("every record's connection was opened");
                connection.in_flight.push_back(record.id);
            }
        }
        History {
            records,
            id_next: self.id_next,
            connection_next: self.connection_next,
            connections,
            connection_of_client: self.connection_of_client.clone(),
        }
    }

    /// Ends operation `id` on behalf of its connection, whose next operation may end after it.
    fn end(&mut self, id: OperationId) -> &mut Record {
        let index = self
            .records
            .binary_search_by_key(&id, |record| record.id)
            .unwrap_or_else(|_| panic!("{id} was never invoked in this history"));
        let record = &mut self.records[index];
        assert!(
            record.completion == Completion::InFlight,
            "{id} already ended as {:?}",
            record.completion,
        );
        let connection = self
            .connections
            .get_mut(&record.connection)
            .expect("every record's connection was opened");
        let oldest = connection.in_flight.pop_front();
        assert_eq!(
            oldest,
            Some(id),
            "{id} ended before {}, sent before it on {}",
            oldest.map_or(id, |oldest| oldest),
            record.connection,
        );
        record
    }
}

impl fmt::Display for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client {}", self.0)
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn {}", self.0)
    }
}

/// Bytes as a double-quoted string, with anything but printable ASCII escaped.
pub(crate) struct Quoted<'a>(pub(crate) &'a [u8]);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0.escape_ascii())
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::Get { key } => write!(f, "GET {}", Quoted(key)),
            Operation::Set { key, value } => write!(f, "SET {} {}", Quoted(key), Quoted(value)),
            Operation::Del { key } => write!(f, "DEL {}", Quoted(key)),
            Operation::Incr { key } => write!(f, "INCR {}", Quoted(key)),
            Operation::SetPx { key, value, ttl_ms } => {
                write!(f, "SET {} {} PX {ttl_ms}", Quoted(key), Quoted(value))
            }
            Operation::Multi { ops, .. } => {
                f.write_str("MULTI")?;
                for op in ops {
                    write!(f, "; {op}")?;
                }
                f.write_str("; EXEC")
            }
        }
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Get(Some(value)) => write!(f, "{}", Quoted(value)),
            Output::Get(None) => f.write_str("(nil)"),
            Output::Set => f.write_str("OK"),
            Output::Del(removed) => write!(f, "{}", u8::from(*removed)),
            Output::Incr(Some(value)) => write!(f, "{value}"),
            Output::Incr(None) => f.write_str("ERR not an integer"),
            Output::Multi(outputs) => {
                f.write_str("[")?;
                for (index, output) in outputs.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{output}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl fmt::Display for Record {
    /// One line: id, client, connection, interval and exchange, e.g.
    /// `#7  client 2  conn 3  [1200, 1450]  SET "k" "v3" -> OK`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (interval, outcome) = match &self.completion {
            Completion::Returned {
                returned_ns,
                output,
            } => (
                format!("[{}, {returned_ns}]", self.invoked_ns),
                format!("-> {output}"),
            ),
            Completion::Timeout => (
                format!("[{}, ...)", self.invoked_ns),
                "-> ? (timed out)".to_owned(),
            ),
            Completion::InFlight => (
                format!("[{}, ...)", self.invoked_ns),
                "-> ? (in flight)".to_owned(),
            ),
            Completion::Failed => (
                format!("[{}, failed]", self.invoked_ns),
                "-> failed, did not take effect".to_owned(),
            ),
        };
        // Padding through `{:<n}` keeps the columns aligned in a report.
        let id = self.id.to_string();
        let client = self.client.to_string();
        let connection = self.connection.to_string();
        write!(
            f,
            "{id:<6} {client:<10} {connection:<8} {interval:<24} {} {outcome}",
            self.operation
        )
    }
}

impl fmt::Display for History {
    /// One record per line, in invocation order. Times are nanoseconds; `...)` marks an
    /// operation whose reply never came.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for record in &self.records {
            writeln!(f, "  {record}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_keeps_every_way_an_operation_ends() {
        // Goal: each recorder call leaves the completion it names. Method: one op of each kind.
        let mut history = History::new();
        let set = history.invoke(ClientId(1), 10, Operation::set("k", "a"));
        let get = history.invoke(ClientId(2), 11, Operation::get("k"));
        let del = history.invoke(ClientId(3), 12, Operation::del("k"));
        let in_flight = history.invoke(ClientId(4), 13, Operation::get("k"));
        history.complete(set, 20, Output::Set);
        history.timeout(get);
        history.fail(del);

        assert_eq!(
            history.get(set).map(|record| &record.completion),
            Some(&Completion::Returned {
                returned_ns: 20,
                output: Output::Set
            })
        );
        assert_eq!(history.get(get).unwrap().completion, Completion::Timeout);
        assert_eq!(history.get(del).unwrap().completion, Completion::Failed);
        assert_eq!(
            history.get(in_flight).unwrap().completion,
            Completion::InFlight
        );
        assert!(history.get(in_flight).unwrap().is_indeterminate());
        assert_eq!(history.len(), 4);
    }

    #[test]
    fn client_may_invoke_again_after_a_timeout() {
        // Goal: a timed-out operation frees its client. Method: time out, then invoke again.
        let mut history = History::new();
        let first = history.invoke(ClientId(1), 10, Operation::get("k"));
        history.timeout(first);
        let second = history.invoke(ClientId(1), 20, Operation::get("k"));
        assert_eq!(second, OperationId(1));
    }

    #[test]
    #[should_panic(expected = "still in flight")]
    fn invoke_rejects_a_second_operation_in_flight_on_one_client() {
        // Goal: a client loop that forgets to end an operation is caught where it happens.
        let mut history = History::new();
        history.invoke(ClientId(1), 10, Operation::get("k"));
        history.invoke(ClientId(1), 20, Operation::get("k"));
    }

    #[test]
    fn a_connection_keeps_several_in_flight_and_ends_them_in_order() {
        // Goal: pipelining is recorded as sent. Method: three sends on one connection, ended
        // in order; a second connection of the same client is independent.
        let mut history = History::new();
        let connection = history.connect(ClientId(1));
        let other = history.connect(ClientId(1));
        let first = history.send(connection, 10, Operation::set("k", "a"));
        let second = history.send(connection, 10, Operation::get("k"));
        let third = history.send(connection, 11, Operation::incr("k"));
        let elsewhere = history.send(other, 12, Operation::del("k"));
        history.complete(elsewhere, 13, Output::Del(true));
        history.complete(first, 20, Output::Set);
        history.fail(second);
        history.timeout(third);
        let connections: Vec<ConnectionId> = history.records().map(|r| r.connection).collect();
        assert_eq!(connections, [connection, connection, connection, other]);
        assert!(history.records().all(|record| record.client == ClientId(1)));
    }

    #[test]
    #[should_panic(expected = "sent before it on conn 0")]
    fn replies_on_a_connection_come_in_the_order_sent() {
        // Goal: a recorder that reads a pipeline's replies out of order is caught.
        let mut history = History::new();
        let connection = history.connect(ClientId(1));
        history.send(connection, 10, Operation::get("k"));
        let second = history.send(connection, 10, Operation::get("k"));
        history.complete(second, 20, Output::Get(None));
    }

    #[test]
    #[should_panic(expected = "before the previous send")]
    fn sends_on_a_connection_do_not_go_back_in_time() {
        // Goal: the order sent is the order of the sends, in time as in ids.
        let mut history = History::new();
        let connection = history.connect(ClientId(1));
        history.send(connection, 10, Operation::get("k"));
        history.send(connection, 9, Operation::get("k"));
    }

    #[test]
    fn integers_parse_as_redis_parses_them() {
        // Goal: INCR's reading of a value matches Redis's string2ll. Method: edge cases.
        for (text, value) in [
            ("0", Some(0)),
            ("-1", Some(-1)),
            ("9223372036854775807", Some(i64::MAX)),
            ("9223372036854775808", None),
            ("-0", None),
            ("01", None),
            ("+1", None),
            (" 1", None),
            ("", None),
            ("x", None),
        ] {
            assert_eq!(integer(text.as_bytes()), value, "{text:?}");
        }
    }

    #[test]
    #[should_panic(expected = "cannot answer")]
    fn complete_rejects_an_output_of_the_wrong_kind() {
        // Goal: a GET cannot be answered with a DEL's boolean.
        let mut history = History::new();
        let id = history.invoke(ClientId(1), 10, Operation::get("k"));
        history.complete(id, 20, Output::Del(true));
    }

    #[test]
    #[should_panic(expected = "before its invocation")]
    fn complete_rejects_a_reply_before_the_request() {
        // Goal: time going backwards in the recorder is a bug, not a history.
        let mut history = History::new();
        let id = history.invoke(ClientId(1), 10, Operation::get("k"));
        history.complete(id, 9, Output::Get(None));
    }

    #[test]
    #[should_panic(expected = "already ended")]
    fn complete_rejects_an_operation_that_already_timed_out() {
        // Goal: a late reply after a timeout must not rewrite the history.
        let mut history = History::new();
        let id = history.invoke(ClientId(1), 10, Operation::get("k"));
        history.timeout(id);
        history.complete(id, 30, Output::Get(None));
    }

    #[test]
    fn for_key_keeps_ids_and_only_that_key() {
        // Goal: a sub-history names operations as the full history does. Method: two keys.
        let mut history = History::new();
        let a = history.invoke(ClientId(1), 10, Operation::set("a", "1"));
        let b = history.invoke(ClientId(2), 11, Operation::set("b", "1"));
        history.complete(b, 15, Output::Set);
        let sub = history.for_key(b"b");
        assert_eq!(sub.len(), 1);
        assert_eq!(sub.get(b).map(|record| record.id), Some(b));
        assert!(sub.get(a).is_none());
    }

    #[test]
    fn display_shows_one_aligned_line_per_operation() {
        // Goal: a report reads as a table. Method: render a returned, a timed-out and a failed op.
        let mut history = History::new();
        let set = history.invoke(ClientId(1), 10, Operation::set("k", "a\n"));
        let get = history.invoke(ClientId(2), 12, Operation::get("k"));
        let del = history.invoke(ClientId(3), 13, Operation::del("k"));
        history.complete(set, 20, Output::Set);
        history.timeout(get);
        history.fail(del);
        let rendered = history.to_string();
        let expected = concat!(
            "  #0     client 1   conn 0   [10, 20]                 SET \"k\" \"a\\n\" -> OK\n",
            "  #1     client 2   conn 1   [12, ...)                GET \"k\" -> ? (timed out)\n",
            "  #2     client 3   conn 2   [13, failed]             DEL \"k\" -> failed, did not take effect\n",
        );
        assert_eq!(rendered, expected);
    }
}
