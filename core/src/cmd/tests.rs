//! Tests of the table and the parser as a whole; each command module tests its own command.

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::ids::ClientId;

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
        error(&["CONFIG", "REWRITE"]),
        "ERR unknown subcommand 'REWRITE'. Try CONFIG HELP."
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
fn a_command_bigger_than_one_log_entry_may_hold_is_refused() {
    // 20,000 keys of 250 bytes: under every per-argument limit, over the 4 MiB a command may
    // carry, so it never becomes an entry too large to replicate.
    let limits = CommandLimits::default();
    let key = Bytes::from(vec![b'k'; 250]);
    let mut huge = vec![Bytes::from_static(b"DEL")];
    huge.extend(std::iter::repeat_n(key.clone(), 20_000));
    let Err(Reply::Error(text)) = Call::parse(huge, &limits) else {
        panic!("a 5 MB DEL was accepted");
    };
    assert_eq!(
        text,
        "ERR command too large (5080007 bytes of arguments; the limit is 4194304)"
    );
    let mut fits = vec![Bytes::from_static(b"DEL")];
    fits.extend(std::iter::repeat_n(key, 15_000));
    assert!(Call::parse(fits, &limits).is_ok());
    // The largest value always fits in one SET.
    let big = CommandLimits {
        key_bytes_max: 256,
        value_bytes_max: 8 << 20,
    };
    let set = vec![
        Bytes::from_static(b"SET"),
        Bytes::from(vec![b'k'; 256]),
        Bytes::from(vec![b'v'; 8 << 20]),
    ];
    assert!(Call::parse(set, &big).is_ok());
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
            // WATCH names its keys (cluster clients route it by them); its session turns it
            // into a write.
            Run::Session(_) if std::ptr::eq(*spec, &transaction::WATCH) => {}
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

/// A one-node cluster's node, its own leader, with INFO's process facts filled in: what the
/// node commands (INFO, CONFIG) are tested against.
pub(crate) struct LoneNode {
    pub(crate) node: crate::Node,
    store: crate::storage::MemStore,
    now: crate::Now,
    next_request: u64,
}

impl LoneNode {
    pub(crate) fn new() -> LoneNode {
        let config = crate::config::Config::from_toml(
            r#"
            [node]
            id = 1
            client_addr = "127.0.0.1:6379"
            internal_addr = "127.0.0.1:7379"
            data_dir = "/data/seshat"
            [cluster]
            initial_members = [{ id = 1, addr = "127.0.0.1:7379" }]
            "#,
        )
        .expect("a valid configuration");
        let mut node_config = crate::NodeConfig::from_config(&config, "localhost", 7);
        node_config.process = crate::stats::ProcessInfo {
            process_id: 4242,
            executable: "/usr/bin/seshat".to_owned(),
            config_file: "/etc/seshat/node.toml".to_owned(),
            os: "Linux 6.1.0 x86_64".to_owned(),
            arch_bits: 64,
            tcp_port: 6379,
            mem_allocator: "libc".to_owned(),
            system_memory_bytes: 8 << 30,
        };
        let store = crate::storage::MemStore::new();
        let now = crate::Now {
            instant: crate::Instant::ZERO,
            unix_ms: 1_700_000_000_000,
        };
        let node = crate::Node::new(node_config, Box::new(store.clone()), now).expect("starts");
        let mut lone = LoneNode {
            node,
            store,
            now,
            next_request: 0,
        };
        for _ in 0..1000 {
            if lone.node.status()[1].role == raft::StateRole::Leader {
                break;
            }
            lone.advance(std::time::Duration::from_millis(10));
        }
        assert_eq!(lone.node.status()[1].role, raft::StateRole::Leader);
        lone
    }

    /// Moves time on by `by`, persisting whatever the node asks to.
    pub(crate) fn advance(&mut self, by: std::time::Duration) {
        self.now.instant = self.now.instant + by;
        self.now.unix_ms += by.as_millis() as u64;
        self.node.handle_timeout(self.now);
        self.drain();
    }

    fn drain(&mut self) -> Vec<Reply> {
        let mut replies = Vec::new();
        while let Some(output) = self.node.poll_output() {
            match output {
                crate::Output::Persist(batch) => {
                    crate::storage::Store::write(&mut self.store, batch.batch)
                        .expect("the in-memory store never fails");
                    self.node
                        .handle_persisted(self.now, batch.group, batch.ready_number);
                }
                crate::Output::Reply { reply, .. } => replies.push(reply),
                _ => {}
            }
        }
        replies
    }

    /// The node's reply to a command it answers from its own state, with `connected` clients.
    pub(crate) fn local(&mut self, words: &[&str], connected: u64) -> Reply {
        let replies = self.submit(words, connected);
        assert_eq!(replies.len(), 1, "{words:?} answered at once");
        replies.into_iter().next().expect("checked")
    }

    /// The node's reply to any command, time moving on until it comes.
    pub(crate) fn call(&mut self, words: &[&str]) -> Reply {
        let mut replies = self.submit(words, 1);
        while replies.is_empty() {
            self.now.instant = self.now.instant + std::time::Duration::from_millis(1);
            self.node.handle_timeout(self.now);
            replies = self.drain();
        }
        replies.into_iter().next().expect("checked")
    }

    fn submit(&mut self, words: &[&str], connected: u64) -> Vec<Reply> {
        let call = parse(words).expect("parses");
        self.next_request += 1;
        let request = crate::Request::Command {
            call,
            connected_clients: connected,
        };
        self.node.handle_request(
            self.now,
            ClientId(1),
            crate::RequestId(self.next_request),
            request,
        );
        self.drain()
    }

    /// The INFO text for `sections`.
    pub(crate) fn info(&mut self, sections: &[&str]) -> String {
        let mut words = vec!["INFO"];
        words.extend(sections);
        match self.local(&words, 3) {
            Reply::Verbatim(text) => text,
            other => panic!("INFO answered {other:?}"),
        }
    }

    /// Hands the node runtime facts, as a runtime does before an INFO.
    pub(crate) fn hand_stats(&mut self, stats: crate::stats::RuntimeStats) {
        self.node.handle_runtime_stats(self.now, stats);
    }
}
