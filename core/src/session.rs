//! One client connection's state. Commands that need nothing but the connection (PING, HELLO,
//! CLIENT, COMMAND, CONFIG HELP, ...) run here, through their spec; everything that reads or
//! writes data, or needs the node's state, becomes a [`Request`] for the node.

use bytes::Bytes;

use crate::cmd::transaction::{self, Queue, Watching};
use crate::cmd::{Call, CommandLimits, Run};
use crate::ids::ClientId;
use crate::reply::{Protocol, Reply};
use crate::request::Request;
use crate::stats::Accounting;

/// What the runtime does with a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send this reply.
    Reply(Reply),
    /// Hand this request to the node; its reply comes from there.
    Forward(Request),
    /// Send this reply, then close the connection (QUIT).
    Close(Reply),
}

/// The per-connection state of one client: protocol version, name, limits.
#[derive(Clone, Debug)]
pub struct Session {
    /// The connection's id (CLIENT ID, HELLO).
    pub(crate) client: ClientId,
    /// The limits every command is checked against.
    pub(crate) limits: CommandLimits,
    /// The protocol replies are encoded in: RESP2 until `HELLO 3`.
    pub(crate) protocol: Protocol,
    /// CLIENT SETNAME's name; `None` until one is set.
    pub(crate) name: Option<Bytes>,
    /// The commands queued since MULTI; `None` outside a transaction.
    pub(crate) transaction: Option<Queue>,
    /// The keys WATCHed for the next EXEC.
    pub(crate) watching: Watching,
}

impl Session {
    /// A new connection; it speaks RESP2 until `HELLO 3`.
    pub fn new(client: ClientId, limits: CommandLimits) -> Session {
        Session {
            client,
            limits,
            protocol: Protocol::Resp2,
            name: None,
            transaction: None,
            watching: Watching::default(),
        }
    }

    /// The protocol replies are encoded in now.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// 2 or 3, as HELLO and CLIENT INFO report it.
    pub(crate) fn protocol_version(&self) -> i64 {
        match self.protocol {
            Protocol::Resp2 => 2,
            Protocol::Resp3 => 3,
        }
    }

    /// Handles one command's arguments. `connected_clients` is reported by INFO.
    pub fn handle_args(&mut self, args: Vec<Bytes>, connected_clients: u64) -> Action {
        self.handle_counted(args, connected_clients).0
    }

    /// [`Session::handle_args`], with what the runtime needs to count the command in INFO's
    /// commandstats once its reply is known ([`CommandStats::record`]).
    ///
    /// [`CommandStats::record`]: crate::stats::CommandStats::record
    pub fn handle_counted(
        &mut self,
        args: Vec<Bytes>,
        connected_clients: u64,
    ) -> (Action, Accounting) {
        if self.transaction.is_some() && !ends_queuing(&args) {
            return (transaction::queue(self, args), Accounting::queued());
        }
        let call = match Call::parse_counted(args, &self.limits) {
            Ok(call) => call,
            Err((reply, accounting)) => return (Action::Reply(reply), accounting),
        };
        let accounting = Accounting::ran(call.spec());
        let action = match call.run() {
            Run::Session(run) => run(self, call.args()),
            Run::Container => unreachable!("a container's arity asks for a subcommand"),
            Run::Local { .. } | Run::Read { .. } | Run::Write { .. } => {
                Action::Forward(Request::Command {
                    call,
                    connected_clients,
                })
            }
        };
        (action, accounting)
    }
}

/// Whether a command inside MULTI runs at once instead of being queued (as in Redis: the
/// commands that end or nest the transaction, WATCH, which refuses, and QUIT).
fn ends_queuing(args: &[Bytes]) -> bool {
    let Some(name) = args.first() else {
        return false;
    };
    ["exec", "discard", "multi", "watch", "quit"]
        .iter()
        .any(|word| name.eq_ignore_ascii_case(word.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    fn reply(session: &mut Session, words: &[&str]) -> Reply {
        match session.handle_args(args(words), 1) {
            Action::Reply(reply) => reply,
            other => panic!("{words:?} gave {other:?}"),
        }
    }

    fn session() -> Session {
        Session::new(ClientId(7), CommandLimits::default())
    }

    fn call(words: &[&str]) -> Call {
        Call::parse(args(words), &CommandLimits::default()).expect("parses")
    }

    #[test]
    fn hello_3_switches_to_resp3_and_describes_the_server() {
        let mut s = session();
        let Reply::Map(fields) = reply(&mut s, &["HELLO", "3"]) else {
            panic!("not a map")
        };
        assert_eq!(s.protocol(), Protocol::Resp3);
        assert!(fields.contains(&(Reply::bulk("proto"), Reply::Integer(3))));
        assert!(fields.contains(&(Reply::bulk("id"), Reply::Integer(7))));
        // Cluster clients (and Redis Cluster) say `cluster`: every node serves the slots.
        assert!(fields.contains(&(Reply::bulk("mode"), Reply::bulk("cluster"))));
        reply(&mut s, &["HELLO", "2"]);
        assert_eq!(s.protocol(), Protocol::Resp2);
    }

    #[test]
    fn hello_rejects_unknown_versions_and_users() {
        let mut s = session();
        assert_eq!(
            reply(&mut s, &["HELLO", "4"]),
            Reply::error("NOPROTO unsupported protocol version")
        );
        assert_eq!(
            reply(&mut s, &["HELLO", "x"]),
            Reply::error("ERR Protocol version is not an integer or out of range")
        );
        assert!(reply(&mut s, &["HELLO", "3", "AUTH", "bob", "pw"]).is_error());
        assert!(!reply(
            &mut s,
            &["HELLO", "3", "AUTH", "default", "pw", "SETNAME", "app"]
        )
        .is_error());
        assert_eq!(reply(&mut s, &["CLIENT", "GETNAME"]), Reply::bulk("app"));
    }

    #[test]
    fn client_names_are_validated_and_kept() {
        let mut s = session();
        assert_eq!(reply(&mut s, &["CLIENT", "GETNAME"]), Reply::Null);
        assert!(reply(&mut s, &["client", "setname", "a b"]).is_error());
        assert_eq!(
            reply(&mut s, &["client", "setname", "worker-1"]),
            Reply::ok()
        );
        assert_eq!(
            reply(&mut s, &["CLIENT", "GETNAME"]),
            Reply::bulk("worker-1")
        );
        assert_eq!(reply(&mut s, &["CLIENT", "ID"]), Reply::Integer(7));
        assert_eq!(
            reply(&mut s, &["CLIENT", "SETINFO", "LIB-NAME", "redis-py"]),
            Reply::ok()
        );
        assert_eq!(
            reply(&mut s, &["CLIENT", "NOPE"]),
            Reply::error("ERR unknown subcommand 'NOPE'. Try CLIENT HELP.")
        );
    }

    #[test]
    fn data_commands_are_forwarded_and_quit_closes() {
        let mut s = session();
        assert_eq!(
            s.handle_args(args(&["get", "k"]), 1),
            Action::Forward(Request::Command {
                call: call(&["get", "k"]),
                connected_clients: 1
            })
        );
        assert_eq!(
            s.handle_args(args(&["INFO", "Raft"]), 12),
            Action::Forward(Request::Command {
                call: call(&["INFO", "Raft"]),
                connected_clients: 12
            })
        );
        assert_eq!(
            s.handle_args(args(&["QUIT"]), 1),
            Action::Close(Reply::ok())
        );
        assert_eq!(reply(&mut s, &["PING"]), Reply::Simple("PONG".to_owned()));
        assert_eq!(reply(&mut s, &["PING", "hi"]), Reply::bulk("hi"));
        assert_eq!(reply(&mut s, &["ECHO", "x"]), Reply::bulk("x"));
        assert_eq!(reply(&mut s, &["SELECT", "0"]), Reply::ok());
        assert_eq!(
            reply(&mut s, &["SELECT", "1"]),
            Reply::error("ERR DB index is out of range")
        );
    }

    #[test]
    fn commands_are_accounted_as_redis_counts_them() {
        // Goal: what the runtime counts per command follows Redis's cmdstat rules. Method: run
        // each kind of command and compare its accounting with one built from its spec.
        use crate::stats::Accounting;
        let mut s = session();
        let spec = |words: &[&str]| call(words).spec();
        let counted = |s: &mut Session, words: &[&str]| s.handle_counted(args(words), 1).1;
        assert_eq!(counted(&mut s, &["PING"]), Accounting::ran(spec(&["PING"])));
        assert_eq!(
            counted(&mut s, &["GET", "k"]),
            Accounting::ran(spec(&["GET", "k"]))
        );
        assert_eq!(
            counted(&mut s, &["GET"]),
            Accounting::rejected(spec(&["GET", "k"]))
        );
        let config_get = spec(&["CONFIG", "GET", "x"]);
        assert_eq!(
            counted(&mut s, &["CONFIG", "GET"]),
            Accounting::rejected(config_get)
        );
        assert_eq!(counted(&mut s, &["NOPE"]), Accounting::default());
        assert_eq!(counted(&mut s, &["CONFIG", "NOPE"]), Accounting::default());
        // A failed argument check ran (Redis finds syntax errors while running).
        let set = spec(&["SET", "k", "v"]);
        assert_eq!(
            counted(&mut s, &["SET", "k", "v", "NX", "XX"]),
            Accounting::ran(set)
        );
        counted(&mut s, &["MULTI"]);
        assert_eq!(counted(&mut s, &["SET", "k", "v"]), Accounting::queued());
        assert_eq!(counted(&mut s, &["EXEC"]), Accounting::ran(spec(&["EXEC"])));
        // Only INFO and CONFIG RESETSTAT make the runtime read its facts.
        let reads = |words: &[&str]| Request::from(call(words)).reads_runtime_stats();
        assert!(reads(&["INFO"]) && reads(&["CONFIG", "RESETSTAT"]));
        assert!(!reads(&["CONFIG", "GET", "x"]) && !reads(&["GET", "k"]));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_arguments_never_panic(words in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12), 0..6)) {
            let mut s = session();
            let _ = s.handle_args(words.into_iter().map(Bytes::from).collect(), 1);
        }
    }
}
