//! Transactions: MULTI, EXEC, DISCARD, WATCH and UNWATCH
//! (<https://redis.io/docs/latest/develop/interactions/transactions/>).
//!
//! The session queues the commands between MULTI and EXEC (answering `+QUEUED`, or the error
//! and then `-EXECABORT` at EXEC for a command that does not parse). EXEC turns the queue into
//! one write, [`TRANSACTION`], whose log entry carries every queued command: each replica
//! applies them one after the other in one step, so no other command runs between them, and
//! the reply is the array of their replies (a command that fails at run time fails alone, as
//! in Redis).
//!
//! Only data commands (reads and writes) can be queued; connection and node commands (PING,
//! INFO, CLIENT, ...) inside MULTI answer `-ERR Command not allowed inside a transaction`,
//! which aborts the transaction.
//!
//! WATCH is a write: its log entry ([`WATCH_LOG`]) starts a watch of each key for the
//! connection's *token*, which every later change of the key marks (see
//! [`crate::kv::Writer::watch`]). The EXEC that follows carries the token and the keys in a
//! header before the queued commands, and applies them only if no watched key changed; else
//! it answers the null array and changes nothing. The token is the node's nonce (drawn when
//! it starts), the connection's id and the connection's watch generation, which moves on at
//! every EXEC, DISCARD and UNWATCH: a token never names two watches. The node stamps the
//! first two into the request ([`stamp`]). DISCARD and UNWATCH of watched keys are writes
//! too ([`UNWATCH_LOG`]); a connection that closes while watching leaves its records to be
//! reclaimed (see [`crate::kv`]'s watch module, which also says how long a watch can last).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::cmd::{check_key, Call, CommandLimits, CommandSpec, Docs, KeySpec, Run};
use crate::ids::ClientId;
use crate::kv::Writer;
use crate::reply::Reply;
use crate::request::Request;
use crate::session::{Action, Session};

/// Queued commands' arguments a transaction holds at most, bytes: its log entry stays well
/// inside one Raft message.
pub(crate) const TRANSACTION_BYTES_MAX: usize = 4 * 1024 * 1024;

/// The keys a connection watches, and the generation of its token.
#[derive(Clone, Debug, Default)]
pub(crate) struct Watching {
    keys: Vec<Bytes>,
    generation: u64,
}

impl Watching {
    /// The connection's part of its token: the generation (the node stamps the rest).
    fn token(&self) -> Bytes {
        Bytes::copy_from_slice(&self.generation.to_be_bytes())
    }

    /// Ends the watch: the keys are forgotten and the next WATCH has a new token.
    fn end(&mut self) -> (Bytes, Vec<Bytes>) {
        let token = self.token();
        self.generation += 1;
        (token, std::mem::take(&mut self.keys))
    }
}

/// The commands queued since MULTI.
#[derive(Clone, Debug, Default)]
pub(crate) struct Queue {
    calls: Vec<Call>,
    bytes: usize,
    /// A command failed to queue: EXEC answers `-EXECABORT`.
    aborted: bool,
}

const fn docs(summary: &'static str, since: &'static str) -> Docs {
    Docs {
        group: "transactions",
        summary,
        since,
        complexity: "O(1)",
    }
}

/// `MULTI`: starts queuing.
pub(crate) static MULTI: CommandSpec = CommandSpec::session(
    "multi",
    1,
    &["noscript", "loading", "stale", "fast", "allow_busy"],
    &["@fast", "@transaction"],
    docs("Starts a transaction.", "1.2.0"),
    |session, _| {
        if session.transaction.is_some() {
            return Action::Reply(Reply::error("ERR MULTI calls can not be nested"));
        }
        session.transaction = Some(Queue::default());
        Action::Reply(Reply::ok())
    },
);

/// `DISCARD`: drops the queue.
pub(crate) static DISCARD: CommandSpec = CommandSpec::session(
    "discard",
    1,
    &["noscript", "loading", "stale", "fast", "allow_busy"],
    &["@fast", "@transaction"],
    docs("Discards a transaction.", "2.0.0"),
    |session, _| match session.transaction.take() {
        Some(_) => unwatch_all(session),
        None => Action::Reply(Reply::error("ERR DISCARD without MULTI")),
    },
);

/// `WATCH key [key ...]`: EXEC will run only if none of the keys changes first.
pub(crate) static WATCH: CommandSpec = CommandSpec {
    name: "watch",
    arity: -2,
    flags: &["noscript", "loading", "stale", "fast", "allow_busy"],
    keys: KeySpec::ALL,
    acl_categories: &["@fast", "@transaction"],
    docs: Docs {
        complexity: "O(1) for every key.",
        ..docs(
            "Monitors changes to keys to determine the execution of a transaction.",
            "2.2.0",
        )
    },
    subcommands: &[],
    run: Run::Session(watch),
};

/// `UNWATCH`: forgets the watched keys.
pub(crate) static UNWATCH: CommandSpec = CommandSpec::session(
    "unwatch",
    1,
    &["noscript", "loading", "stale", "fast", "allow_busy"],
    &["@fast", "@transaction"],
    docs("Forgets about watched keys of a transaction.", "2.2.0"),
    |session, _| unwatch_all(session),
);

fn watch(session: &mut Session, args: &[Bytes]) -> Action {
    if session.transaction.is_some() {
        return Action::Reply(Reply::error("ERR WATCH inside MULTI is not allowed"));
    }
    for key in &args[1..] {
        if let Err(reply) = check_key(key, &session.limits) {
            return Action::Reply(reply);
        }
    }
    let watching = &mut session.watching;
    for key in &args[1..] {
        if !watching.keys.contains(key) {
            watching.keys.push(key.clone());
        }
    }
    let mut log = Vec::with_capacity(args.len() + 1);
    log.push(Bytes::from_static(b"watch"));
    log.push(watching.token());
    log.extend(args[1..].iter().cloned());
    Action::Forward(Request::from(Call {
        spec: &WATCH_LOG,
        args: log,
    }))
}

/// Ends the connection's watch: `+OK` at once if it watches nothing, else through the log.
fn unwatch_all(session: &mut Session) -> Action {
    if session.watching.keys.is_empty() {
        return Action::Reply(Reply::ok());
    }
    let (token, keys) = session.watching.end();
    let mut log = Vec::with_capacity(keys.len() + 2);
    log.push(Bytes::from_static(b"unwatch"));
    log.push(token);
    log.extend(keys);
    Action::Forward(Request::from(Call {
        spec: &UNWATCH_LOG,
        args: log,
    }))
}

/// The write a WATCH becomes: `watch <token> <key>...`. Not in the command table, like
/// [`TRANSACTION`].
pub(crate) static WATCH_LOG: CommandSpec = watch_log(&WATCH, |args, db| {
    if let [_, token, keys @ ..] = args {
        for key in keys {
            db.watch(key, token);
        }
    }
    Reply::ok()
});

/// The write that ends a watch (UNWATCH, DISCARD): `unwatch <token> <key>...`; queued in a
/// transaction, just `unwatch`.
pub(crate) static UNWATCH_LOG: CommandSpec = watch_log(&UNWATCH, |args, db| {
    // Queued inside MULTI it has no token: EXEC ended the watch already.
    if let [_, token, keys @ ..] = args {
        for key in keys {
            db.unwatch(key, token);
        }
    }
    Reply::ok()
});

/// The log's form of `command`: a write whose keys follow the token.
const fn watch_log(
    command: &'static CommandSpec,
    apply: fn(&[Bytes], &mut Writer<'_, '_>) -> Reply,
) -> CommandSpec {
    CommandSpec {
        name: command.name,
        arity: -3,
        flags: command.flags,
        keys: KeySpec {
            first: 2,
            last: -1,
            step: 1,
        },
        acl_categories: command.acl_categories,
        docs: command.docs,
        subcommands: &[],
        run: Run::Write {
            check: |_, _| Ok(()),
            apply,
        },
    }
}

/// Completes the tokens of a watch request with what only the node knows: its nonce and the
/// connection's id. Other requests pass unchanged.
pub(crate) fn stamp(request: &mut Request, nonce: u64, client: ClientId) {
    let Request::Command { call, .. } = request else {
        return;
    };
    let full = |token: &Bytes| {
        let mut full = Vec::with_capacity(16 + token.len());
        full.extend_from_slice(&nonce.to_be_bytes());
        full.extend_from_slice(&client.0.to_be_bytes());
        full.extend_from_slice(token);
        Bytes::from(full)
    };
    let spec = call.spec;
    if std::ptr::eq(spec, &WATCH_LOG) || std::ptr::eq(spec, &UNWATCH_LOG) {
        call.args[1] = full(&call.args[1]);
    } else if std::ptr::eq(spec, &TRANSACTION) {
        if let Some(mut header) = call.args.get(1).cloned().and_then(watch_header) {
            header[1] = full(&header[1]);
            call.args[1] = encode(&header);
        }
    }
}

/// The watch header of a transaction's first queued slot, `watch <token> <key>...` (WATCH
/// cannot be queued, so no queued command looks like it).
fn watch_header(encoded: Bytes) -> Option<Vec<Bytes>> {
    decode(encoded).filter(|args| args.len() >= 2 && args[0].as_ref() == b"watch")
}

/// `EXEC`: runs the queue as one transaction.
pub(crate) static EXEC: CommandSpec = CommandSpec::session(
    "exec",
    1,
    &["noscript", "loading", "stale", "skip_slowlog"],
    &["@slow", "@transaction"],
    docs("Executes all commands in a transaction.", "1.2.0"),
    exec,
);

fn exec(session: &mut Session, _: &[Bytes]) -> Action {
    let Some(queue) = session.transaction.take() else {
        return Action::Reply(Reply::error("ERR EXEC without MULTI"));
    };
    if queue.aborted {
        // Redis forgets the watched keys too; their records are left to be reclaimed.
        session.watching.end();
        return Action::Reply(Reply::error(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    let watched = !session.watching.keys.is_empty();
    if queue.calls.is_empty() && !watched {
        return Action::Reply(Reply::Array(Vec::new()));
    }
    let mut args = Vec::with_capacity(2 + queue.calls.len());
    args.push(Bytes::from_static(b"exec"));
    if watched {
        let (token, keys) = session.watching.end();
        let mut header = Vec::with_capacity(2 + keys.len());
        header.push(Bytes::from_static(b"watch"));
        header.push(token);
        header.extend(keys);
        args.push(encode(&header));
    }
    args.extend(queue.calls.iter().map(|call| encode(call.args())));
    Action::Forward(crate::request::Request::from(Call {
        spec: &TRANSACTION,
        args,
    }))
}

/// Queues one command of a transaction: `+QUEUED`, or the error (and the transaction will
/// abort). `args` did not name MULTI, EXEC or DISCARD.
pub(crate) fn queue(session: &mut Session, args: Vec<Bytes>) -> Action {
    let limits = session.limits.clone();
    let queue = session
        .transaction
        .as_mut()
        .expect("queuing inside a transaction");
    match queue_call(queue, args, &limits) {
        Ok(()) => Action::Reply(Reply::Simple("QUEUED".to_owned())),
        Err(reply) => {
            queue.aborted = true;
            Action::Reply(reply)
        }
    }
}

fn queue_call(queue: &mut Queue, args: Vec<Bytes>, limits: &CommandLimits) -> Result<(), Reply> {
    let mut call = Call::parse_to_queue(args, limits)?;
    if std::ptr::eq(call.spec, &UNWATCH) {
        // Queued, UNWATCH answers `+OK` in its slot: EXEC forgets the watched keys anyway.
        call.spec = &UNWATCH_LOG;
    }
    if !matches!(call.run(), Run::Read { .. } | Run::Write { .. }) {
        return Err(Reply::error("ERR Command not allowed inside a transaction"));
    }
    let bytes: usize = call.args().iter().map(|arg| 4 + arg.len()).sum();
    if queue.bytes + bytes > TRANSACTION_BYTES_MAX {
        return Err(Reply::error(format!(
            "ERR transaction too large (more than {TRANSACTION_BYTES_MAX} bytes of arguments)"
        )));
    }
    queue.bytes += bytes;
    queue.calls.push(call);
    Ok(())
}

/// The write an EXEC becomes: its arguments are `exec` and then each queued command, encoded
/// (see [`encode`]). Not in the command table: clients reach it only through MULTI/EXEC, and
/// the log finds it through [`Call::from_log`].
pub(crate) static TRANSACTION: CommandSpec = CommandSpec {
    name: "exec",
    arity: -2,
    flags: &["noscript", "loading", "stale", "skip_slowlog"],
    keys: KeySpec::NONE,
    acl_categories: &["@slow", "@transaction"],
    docs: docs("Executes all commands in a transaction.", "1.2.0"),
    subcommands: &[],
    run: Run::Write {
        check: |_, _| Ok(()),
        apply,
    },
};

/// One queued command's arguments as one byte string: a `u32` count, then each argument as a
/// `u32` length and its bytes (big-endian).
fn encode(args: &[Bytes]) -> Bytes {
    let mut out = BytesMut::with_capacity(4 + args.iter().map(|a| 4 + a.len()).sum::<usize>());
    out.put_u32(args.len() as u32);
    for arg in args {
        out.put_u32(arg.len() as u32);
        out.put_slice(arg);
    }
    out.freeze()
}

/// The arguments [`encode`] wrote; `None` if `bytes` is not such an encoding. Never allocates
/// more than `bytes` holds.
fn decode(mut bytes: Bytes) -> Option<Vec<Bytes>> {
    if bytes.remaining() < 4 {
        return None;
    }
    let count = bytes.get_u32() as usize;
    if count > bytes.remaining() / 4 {
        return None;
    }
    let mut args = Vec::with_capacity(count);
    for _ in 0..count {
        if bytes.remaining() < 4 {
            return None;
        }
        let len = bytes.get_u32() as usize;
        if len > bytes.remaining() {
            return None;
        }
        args.push(bytes.split_to(len));
    }
    bytes.is_empty().then_some(args)
}

/// Applies every queued command in order, reads seeing the writes before them; with a watch
/// header, only if every watched key is unchanged (else the null array).
fn apply(args: &[Bytes], db: &mut Writer<'_, '_>) -> Reply {
    let mut queued = &args[1..];
    if let Some(header) = queued.first().cloned().and_then(watch_header) {
        queued = &queued[1..];
        let (token, keys) = (&header[1], &header[2..]);
        let intact = keys.iter().all(|key| db.watch_intact(key, token));
        for key in keys {
            db.unwatch(key, token);
        }
        if !intact {
            return Reply::NullArray;
        }
    }
    let replies = queued
        .iter()
        .map(|encoded| {
            let Some(call) = decode(encoded.clone()).and_then(Call::from_log) else {
                return Reply::error("ERR a queued command of this transaction is unreadable");
            };
            match call.run() {
                Run::Write { apply, .. } => apply(call.args(), db),
                Run::Read { read, .. } => read(call.args(), &db.reader()),
                _ => Reply::error("ERR Command not allowed inside a transaction"),
            }
        })
        .collect();
    Reply::Array(replies)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::tests::{args, reply, session};
    use crate::kv::testing::Replica;
    use proptest::prelude::*;

    #[test]
    fn queuing_answers_as_redis_does() {
        let mut s = session();
        assert_eq!(
            reply(&mut s, &["EXEC"]),
            Reply::error("ERR EXEC without MULTI")
        );
        assert_eq!(
            reply(&mut s, &["DISCARD"]),
            Reply::error("ERR DISCARD without MULTI")
        );
        assert_eq!(reply(&mut s, &["MULTI"]), Reply::ok());
        assert_eq!(
            reply(&mut s, &["MULTI"]),
            Reply::error("ERR MULTI calls can not be nested")
        );
        assert_eq!(
            reply(&mut s, &["SET", "a", "1"]),
            Reply::Simple("QUEUED".to_owned())
        );
        assert_eq!(reply(&mut s, &["DISCARD"]), Reply::ok());
        assert_eq!(reply(&mut s, &["MULTI"]), Reply::ok());
        assert_eq!(reply(&mut s, &["EXEC"]), Reply::Array(Vec::new()));

        assert_eq!(reply(&mut s, &["MULTI"]), Reply::ok());
        assert_eq!(
            reply(&mut s, &["SET", "a"]),
            Reply::error("ERR wrong number of arguments for 'set' command")
        );
        assert_eq!(
            reply(&mut s, &["GET", "a"]),
            Reply::Simple("QUEUED".to_owned())
        );
        assert_eq!(
            reply(&mut s, &["EXEC"]),
            Reply::error("EXECABORT Transaction discarded because of previous errors.")
        );
        assert_eq!(reply(&mut s, &["MULTI"]), Reply::ok());
        assert_eq!(
            reply(&mut s, &["PING"]),
            Reply::error("ERR Command not allowed inside a transaction")
        );
    }

    #[test]
    fn exec_forwards_one_write_holding_every_queued_command() {
        let mut s = session();
        for words in [
            &["MULTI"][..],
            &["SET", "a", "1"],
            &["INCR", "a"],
            &["GET", "a"],
        ] {
            reply(&mut s, words);
        }
        let Action::Forward(crate::request::Request::Command { call, .. }) =
            s.handle_args(args(&["EXEC"]), 1)
        else {
            panic!("EXEC is not forwarded");
        };
        assert!(call.spec().is_write());
        let queued: Vec<Vec<Bytes>> = call.args()[1..]
            .iter()
            .map(|encoded| decode(encoded.clone()).unwrap())
            .collect();
        assert_eq!(
            queued,
            [
                args(&["SET", "a", "1"]),
                args(&["INCR", "a"]),
                args(&["GET", "a"])
            ]
        );
        let replay = Call::from_log(call.into_args()).expect("the log finds the transaction");
        assert!(std::ptr::eq(replay.spec(), &TRANSACTION));
    }

    /// Connections over one replica, as a node serves them: what a session forwards is
    /// stamped, then applied (a write) or served (a read) at once, at cluster time `now_ms`.
    struct Server {
        replica: Replica,
        now_ms: u64,
    }

    impl Server {
        fn new() -> Server {
            Server {
                replica: Replica::new(),
                now_ms: 1_000,
            }
        }

        fn send(&mut self, session: &mut Session, words: &[&str]) -> Reply {
            match session.handle_args(args(words), 1) {
                Action::Reply(reply) | Action::Close(reply) => reply,
                Action::Forward(mut request) => {
                    stamp(&mut request, 99, session.client);
                    let Request::Command { call, .. } = request else {
                        panic!("{words:?} is not a command");
                    };
                    match call.run() {
                        Run::Write { .. } => self.replica.apply(self.now_ms, call.into_args()),
                        Run::Read { .. } => self.replica.serve(call.into_args()),
                        _ => panic!("{words:?} ran as {call:?}"),
                    }
                }
            }
        }

        /// Sends `words` one after the other; the last reply.
        fn script(&mut self, session: &mut Session, script: &[&[&str]]) -> Reply {
            let mut last = Reply::Null;
            for words in script {
                last = self.send(session, words);
            }
            last
        }
    }

    fn client(id: u64) -> Session {
        Session::new(ClientId(id), CommandLimits::default())
    }

    const INCR_IN_MULTI: &[&[&str]] = &[&["MULTI"], &["INCR", "k"], &["EXEC"]];

    #[test]
    fn exec_aborts_when_another_connection_changed_a_watched_key() {
        let mut server = Server::new();
        let (mut a, mut b) = (client(1), client(2));
        assert_eq!(server.send(&mut a, &["WATCH", "k", "other"]), Reply::ok());
        server.send(&mut b, &["SET", "k", "5"]);
        assert_eq!(server.script(&mut a, INCR_IN_MULTI), Reply::NullArray);
        assert_eq!(server.send(&mut a, &["GET", "k"]), Reply::bulk("5"));
        // The watch ended with the EXEC: the same transaction now runs.
        assert_eq!(
            server.script(&mut a, INCR_IN_MULTI),
            Reply::Array(vec![Reply::Integer(6)])
        );
    }

    #[test]
    fn exec_runs_when_nothing_watched_changed() {
        let mut server = Server::new();
        let (mut a, mut b) = (client(1), client(2));
        server.send(&mut a, &["WATCH", "k"]);
        server.send(&mut b, &["SET", "unrelated", "1"]);
        server.send(&mut b, &["GET", "k"]);
        server.send(&mut b, &["DEL", "k"]); // absent: no change
        assert_eq!(
            server.script(&mut a, INCR_IN_MULTI),
            Reply::Array(vec![Reply::Integer(1)])
        );
        // Nothing queued, nothing changed: an empty array, through the log.
        server.send(&mut a, &["WATCH", "k"]);
        assert_eq!(
            server.script(&mut a, &[&["MULTI"], &["EXEC"]]),
            Reply::Array(vec![])
        );
    }

    #[test]
    fn every_kind_of_change_aborts() {
        let changes: &[&[&[&str]]] = &[
            &[&["SET", "k", "1"], &["DEL", "k"]], // created and deleted again
            &[&["SET", "k", "same"]],             // written with the value it had
            &[&["APPEND", "k", ""]],
            &[&["EXPIRE", "k", "100"]],
            &[&["RENAME", "k", "k2"]],
            &[&["SET", "k2", "x"], &["RENAME", "k2", "k"]],
            &[&["FLUSHALL"]],
        ];
        for change in changes {
            let mut server = Server::new();
            let (mut a, mut b) = (client(1), client(2));
            let prepare: &[&str] = if change[0][0] == "SET" && change.len() == 2 {
                &["DEL", "k"]
            } else {
                &["SET", "k", "same"]
            };
            server.send(&mut b, prepare);
            server.send(&mut a, &["WATCH", "k"]);
            server.script(&mut b, change);
            assert_eq!(
                server.script(&mut a, &[&["MULTI"], &["SET", "k", "mine"], &["EXEC"]]),
                Reply::NullArray,
                "after {change:?}"
            );
        }
    }

    #[test]
    fn commands_that_change_nothing_leave_a_watch_intact() {
        // As in Redis 7.0.15: none of these signals a change of `k`.
        let unchanged: &[&[&str]] = &[
            &["GETEX", "k", "PERSIST"],
            &["PERSIST", "k"],
            &["GET", "k"],
            &["SET", "k", "x", "NX"],
            &["DEL", "absent"],
            &["INCRBY", "k", "x"],
        ];
        for command in unchanged {
            let mut server = Server::new();
            let (mut a, mut b) = (client(1), client(2));
            server.send(&mut b, &["SET", "k", "1"]);
            server.send(&mut a, &["WATCH", "k"]);
            server.send(&mut b, command);
            assert_eq!(
                server.script(&mut a, INCR_IN_MULTI),
                Reply::Array(vec![Reply::Integer(2)]),
                "after {command:?}"
            );
        }
    }

    #[test]
    fn a_connections_own_write_before_multi_aborts_but_not_a_flush_of_absent_keys() {
        let mut server = Server::new();
        let (mut a, mut b) = (client(1), client(2));
        server.send(&mut a, &["WATCH", "k"]);
        server.send(&mut a, &["SET", "k", "1"]);
        assert_eq!(server.script(&mut a, INCR_IN_MULTI), Reply::NullArray);

        server.send(&mut a, &["WATCH", "absent"]);
        server.send(&mut b, &["SET", "present", "1"]);
        server.send(&mut b, &["FLUSHALL"]);
        server.replica.restart(); // the records outlived the flush in the store too
        assert_eq!(
            server.script(&mut a, &[&["MULTI"], &["INCR", "absent"], &["EXEC"]]),
            Reply::Array(vec![Reply::Integer(1)])
        );
    }

    #[test]
    fn a_watched_key_that_expires_aborts() {
        let mut server = Server::new();
        let mut a = client(1);
        server.send(&mut a, &["SET", "k", "1", "PX", "50"]);
        server.send(&mut a, &["WATCH", "k"]);
        server.now_ms += 100;
        assert_eq!(server.script(&mut a, INCR_IN_MULTI), Reply::NullArray);
        // A key that had expired before the WATCH is simply absent.
        server.send(&mut a, &["SET", "k", "1", "PX", "50"]);
        server.now_ms += 100;
        server.send(&mut a, &["WATCH", "k"]);
        assert_eq!(
            server.script(&mut a, INCR_IN_MULTI),
            Reply::Array(vec![Reply::Integer(1)])
        );
    }

    #[test]
    fn unwatch_and_discard_end_the_watch() {
        for end in [&[&["UNWATCH"][..]][..], &[&["MULTI"], &["DISCARD"]]] {
            let mut server = Server::new();
            let (mut a, mut b) = (client(1), client(2));
            server.send(&mut a, &["WATCH", "k"]);
            assert_eq!(server.script(&mut a, end), Reply::ok());
            server.send(&mut b, &["SET", "k", "5"]);
            assert_eq!(
                server.script(&mut a, INCR_IN_MULTI),
                Reply::Array(vec![Reply::Integer(6)]),
                "after {end:?}"
            );
            assert_eq!(
                server.replica.keyspace.pairs(),
                1,
                "records left after {end:?}"
            );
        }
    }

    #[test]
    fn unwatch_inside_multi_is_queued_and_answers_ok() {
        let mut server = Server::new();
        let mut a = client(1);
        assert_eq!(
            server.script(&mut a, &[&["MULTI"], &["UNWATCH"]]),
            Reply::Simple("QUEUED".to_owned())
        );
        assert_eq!(
            server.send(&mut a, &["EXEC"]),
            Reply::Array(vec![Reply::ok()])
        );
    }

    #[test]
    fn short_watch_entries_change_nothing() {
        let mut server = Server::new();
        for name in ["watch", "unwatch"] {
            assert_eq!(server.replica.apply(1, args(&[name])), Reply::ok());
        }
        assert_eq!(server.replica.keyspace.pairs(), 0);
    }

    #[test]
    fn watch_inside_multi_is_refused_without_aborting() {
        let mut server = Server::new();
        let mut a = client(1);
        server.send(&mut a, &["MULTI"]);
        assert_eq!(
            server.send(&mut a, &["WATCH", "k"]),
            Reply::error("ERR WATCH inside MULTI is not allowed")
        );
        server.send(&mut a, &["INCR", "k"]);
        assert_eq!(
            server.send(&mut a, &["EXEC"]),
            Reply::Array(vec![Reply::Integer(1)])
        );
    }

    #[test]
    fn one_connections_exec_aborts_another_watching_the_same_key() {
        let mut server = Server::new();
        let (mut a, mut b) = (client(1), client(2));
        server.send(&mut a, &["WATCH", "k"]);
        server.send(&mut b, &["WATCH", "k"]);
        assert_eq!(
            server.script(&mut b, INCR_IN_MULTI),
            Reply::Array(vec![Reply::Integer(1)])
        );
        assert_eq!(server.script(&mut a, INCR_IN_MULTI), Reply::NullArray);
    }

    #[test]
    fn watches_survive_a_restart() {
        for change in [false, true] {
            let mut server = Server::new();
            let (mut a, mut b) = (client(1), client(2));
            server.send(&mut a, &["WATCH", "k"]);
            server.replica.restart();
            if change {
                server.send(&mut b, &["SET", "k", "5"]);
            }
            server.replica.restart();
            let expected = if change {
                Reply::NullArray
            } else {
                Reply::Array(vec![Reply::Integer(1)])
            };
            assert_eq!(server.script(&mut a, INCR_IN_MULTI), expected);
        }
    }

    #[test]
    fn a_forgotten_watch_is_reclaimed_and_its_exec_aborts() {
        let mut server = Server::new();
        let (mut a, mut b) = (client(1), client(2));
        server.send(&mut a, &["WATCH", "k", "j"]);
        assert_eq!(server.replica.keyspace.pairs(), 2);
        server.now_ms += crate::kv::WATCH_HOLD_MS;
        server.send(&mut b, &["SET", "x", "1"]);
        assert_eq!(
            server.replica.keyspace.pairs(),
            1,
            "only x's record is left"
        );
        server.replica.restart();
        assert_eq!(server.replica.keyspace.pairs(), 1);
        assert_eq!(server.script(&mut a, INCR_IN_MULTI), Reply::NullArray);
    }

    #[test]
    fn tokens_tell_nodes_connections_and_generations_apart() {
        let mut request = Request::from(Call {
            spec: &WATCH_LOG,
            args: args(&["watch", "g", "k"]),
        });
        stamp(&mut request, 5, ClientId(6));
        let Request::Command { call, .. } = &request else {
            unreachable!()
        };
        let mut token = 5u64.to_be_bytes().to_vec();
        token.extend_from_slice(&6u64.to_be_bytes());
        token.push(b'g');
        assert_eq!(call.args()[1], token);
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(words in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 0..6)) {
            let words: Vec<Bytes> = words.into_iter().map(Bytes::from).collect();
            prop_assert_eq!(decode(encode(&words)), Some(words));
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = decode(Bytes::from(data));
        }
    }
}
