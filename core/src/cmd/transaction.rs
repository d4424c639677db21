//! Transactions: MULTI, EXEC and DISCARD (<https://redis.io/docs/latest/develop/interactions/transactions/>).
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
//! which aborts the transaction. WATCH is not supported yet.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::cmd::{Call, CommandLimits, CommandSpec, Docs, KeySpec, Run};
use crate::kv::Writer;
use crate::reply::Reply;
use crate::session::{Action, Session};

/// Queued commands' arguments a transaction holds at most, bytes: its log entry stays well
/// inside one Raft message.
pub(crate) const TRANSACTION_BYTES_MAX: usize = 4 * 1024 * 1024;

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
        Some(_) => Action::Reply(Reply::ok()),
        None => Action::Reply(Reply::error("ERR DISCARD without MULTI")),
    },
);

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
        return Action::Reply(Reply::error(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    if queue.calls.is_empty() {
        return Action::Reply(Reply::Array(Vec::new()));
    }
    let mut args = Vec::with_capacity(1 + queue.calls.len());
    args.push(Bytes::from_static(b"exec"));
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
    let call = Call::parse_to_queue(args, limits)?;
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

/// Applies every queued command in order, reads seeing the writes before them.
fn apply(args: &[Bytes], db: &mut Writer<'_, '_>) -> Reply {
    let replies = args[1..]
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
