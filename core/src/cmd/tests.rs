//! Tests of the table and the parser as a whole; each command module tests its own command.

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::ids::{ClientId, GroupId};
use crate::kv::{ApplyContext, Keyspace, Proposal, ReadKind};
use crate::storage::{DataRange, MemStore, Store};

pub(crate) fn args(words: &[&str]) -> Vec<Bytes> {
    words
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect()
}

pub(crate) fn parse(words: &[&str]) -> Result<Call, Reply> {
    Call::parse(args(words), &CommandLimits::default())
}

pub(crate) fn error(words: &[&str]) -> String {
    match parse(words) {
        Err(Reply::Error(text)) => text,
        Ok(call) => match call.run() {
            // Connection commands check their arguments when they run.
            Run::Session(run) => match run(&mut session(), call.args()) {
                Action::Reply(Reply::Error(text)) => text,
                other => panic!("{words:?} ran as {other:?}"),
            },
            _ => panic!("{words:?} parsed as {call:?}"),
        },
        Err(other) => panic!("{words:?} failed with {other:?}"),
    }
}

pub(crate) fn session() -> Session {
    Session::new(ClientId(7), CommandLimits::default())
}

/// The reply a session gives to a command it answers itself.
pub(crate) fn reply(session: &mut Session, words: &[&str]) -> Reply {
    match session.handle_args(args(words), 1) {
        Action::Reply(reply) => reply,
        other => panic!("{words:?} gave {other:?}"),
    }
}

/// A keyspace over a memory store, applying one entry per pass.
pub(crate) struct Replica {
    pub(crate) store: MemStore,
    pub(crate) keyspace: Keyspace,
}

impl Replica {
    pub(crate) fn new() -> Replica {
        let store = MemStore::new();
        let keyspace = Keyspace::load(DataRange::first(GroupId(1)), &store, 1 << 20).unwrap();
        Replica { store, keyspace }
    }

    pub(crate) fn propose(&mut self, proposal: &Proposal) -> Reply {
        let mut cx = ApplyContext::new(&self.store);
        let reply = self.keyspace.apply(&mut cx, proposal).expect("applies");
        let mut batch = cx.into_batch();
        self.keyspace.finish_pass(&mut batch);
        self.store.write(batch).unwrap();
        reply
    }

    pub(crate) fn write(&mut self, unix_ms: u64, words: &[String]) -> Reply {
        let args = words.iter().map(|w| Bytes::from(w.clone())).collect();
        self.propose(&Proposal::Command { unix_ms, args })
    }

    pub(crate) fn read(&self, words: &[String]) -> Reply {
        let args = words.iter().map(|w| Bytes::from(w.clone())).collect();
        let call = Call::from_log(args).expect("a known read");
        ReadKind::new(call).serve(&self.keyspace, &self.store, None)
    }

    /// The leader's active expiry at `unix_ms`.
    pub(crate) fn expire_due(&mut self, unix_ms: u64) {
        let keys = self.keyspace.due_keys(&self.store, unix_ms, 3);
        self.propose(&Proposal::Expire { unix_ms, keys });
    }

    /// Runs `words` as a client would see it at cluster time `unix_ms`: a write is applied
    /// as a committed entry, a read served from the keyspace.
    pub(crate) fn run(&mut self, unix_ms: u64, words: &[&str]) -> Reply {
        let words: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        let call = Call::from_log(words.iter().map(|w| Bytes::from(w.clone())).collect())
            .expect("a known command");
        if call.spec().is_write() {
            self.write(unix_ms, &words)
        } else {
            self.read(&words)
        }
    }
}

#[test]
fn wrong_arity_uses_redis_wording() {
    assert_eq!(
        error(&["GET"]),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        error(&["get", "a", "b"]),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        error(&["SET", "k"]),
        "ERR wrong number of arguments for 'set' command"
    );
    assert_eq!(
        error(&["DEL"]),
        "ERR wrong number of arguments for 'del' command"
    );
    assert_eq!(
        error(&["PING", "a", "b"]),
        "ERR wrong number of arguments for 'ping' command"
    );
    assert_eq!(
        error(&["CLIENT", "SETNAME"]),
        "ERR wrong number of arguments for 'client|setname' command"
    );
    assert_eq!(
        error(&["CLIENT"]),
        "ERR wrong number of arguments for 'client' command"
    );
}

#[test]
fn unknown_command_lists_its_first_arguments() {
    assert_eq!(
        error(&["foo", "a", "b"]),
        "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
    );
    assert_eq!(
        error(&["foo"]),
        "ERR unknown command 'foo', with args beginning with: "
    );
    let long = "x".repeat(300);
    let text = error(&["foo", &long, "next"]);
    assert!(text.len() < 300, "{} bytes", text.len());
    assert!(!text.contains("next"));
}

#[test]
fn unknown_subcommands_name_their_container() {
    assert_eq!(
        error(&["CLIENT", "NOPE"]),
        "ERR unknown subcommand 'NOPE'. Try CLIENT HELP."
    );
    assert_eq!(
        error(&["cluster", "slotz"]),
        "ERR unknown subcommand 'slotz'. Try CLUSTER HELP."
    );
    assert_eq!(
        error(&["CONFIG", "SET", "a", "b"]),
        "ERR unknown subcommand 'SET'. Try CONFIG HELP."
    );
}

#[test]
fn oversized_keys_and_values_are_refused() {
    let key = "k".repeat(257);
    assert_eq!(error(&["GET", &key]), "ERR key too large");
    assert_eq!(error(&["SET", &key, "v"]), "ERR key too large");
    assert_eq!(error(&["DEL", "ok", &key]), "ERR key too large");
    let value = "v".repeat(65_537);
    assert_eq!(error(&["SET", "k", &value]), "ERR value too large");
    assert!(parse(&["SET", &"k".repeat(256), &"v".repeat(65_536)]).is_ok());
}

#[test]
fn select_accepts_only_database_zero() {
    assert_eq!(reply(&mut session(), &["SELECT", "0"]), Reply::ok());
    assert_eq!(error(&["SELECT", "3"]), "ERR DB index is out of range");
    assert_eq!(
        error(&["SELECT", "x"]),
        "ERR value is not an integer or out of range"
    );
}

#[test]
fn names_are_case_insensitive() {
    let (lower, upper) = (parse(&["gEt", "k"]).unwrap(), parse(&["GET", "k"]).unwrap());
    assert!(std::ptr::eq(lower.spec(), upper.spec()));
    assert_eq!(lower.args()[1..], upper.args()[1..]);
    assert_eq!(parse(&["ping"]).unwrap().spec().name, "ping");
    assert_eq!(
        parse(&["Cluster", "NODES"]).unwrap().spec().name,
        "cluster|nodes"
    );
}

#[test]
fn the_table_is_consistent() {
    // Goal: every spec can be parsed, routed and listed. Method: check the invariants the
    // parser, routing and COMMAND rely on, for every entry and subcommand.
    let mut names = std::collections::BTreeSet::new();
    for spec in COMMANDS {
        assert!(names.insert(spec.name), "{} is listed twice", spec.name);
        assert_eq!(spec.name, spec.name.to_ascii_lowercase());
        assert!(!spec.name.contains('|'));
        assert_eq!(
            CommandSpec::find(spec.name.as_bytes()).map(|s| s.name),
            Some(spec.name)
        );
        let is_container = matches!(spec.run, Run::Container);
        assert!(
            !is_container || !spec.subcommands.is_empty(),
            "{}",
            spec.name
        );
        for sub in spec.subcommands {
            assert!(
                sub.name.starts_with(&format!("{}|", spec.name)),
                "{}",
                sub.name
            );
            assert!(sub.arity.unsigned_abs() >= 2, "{}", sub.name);
            assert!(sub.subcommands.is_empty(), "{}", sub.name);
        }
        // Readers and writers say so in their flags, as Redis's table does.
        match spec.run {
            Run::Read { .. } => assert!(spec.flags.contains(&"readonly"), "{}", spec.name),
            Run::Write { .. } => assert!(spec.flags.contains(&"write"), "{}", spec.name),
            _ => assert!(!spec.has_keys(), "{} has keys but no data path", spec.name),
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_arguments_never_panic(words in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..10), 0..6)) {
        let _ = Call::parse(words.into_iter().map(Bytes::from).collect(), &CommandLimits::default());
    }

    #[test]
    fn known_names_with_arbitrary_arguments_never_panic(
        index in 0..COMMANDS.len(),
        rest in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..10), 0..6),
    ) {
        let mut words = vec![Bytes::from_static(COMMANDS[index].name.as_bytes())];
        words.extend(rest.into_iter().map(Bytes::from));
        let _ = session().handle_args(words, 1);
    }
}
