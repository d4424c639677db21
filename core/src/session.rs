//! One client connection's state and the commands that need nothing else: PING, HELLO,
//! CLIENT, COMMAND, CONFIG GET and friends. Everything that reads or writes data becomes a
//! [`Request`] for the node.

use bytes::Bytes;

use crate::cmd::{Command, CommandLimits, CommandSpec, COMMANDS};
use crate::ids::ClientId;
use crate::node::REDIS_VERSION;
use crate::reply::{Protocol, Reply};
use crate::request::Request;

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
    client: ClientId,
    limits: CommandLimits,
    protocol: Protocol,
    name: Option<Bytes>,
}

impl Session {
    /// A new connection; it speaks RESP2 until `HELLO 3`.
    pub fn new(client: ClientId, limits: CommandLimits) -> Session {
        Session {
            client,
            limits,
            protocol: Protocol::Resp2,
            name: None,
        }
    }

    /// The protocol replies are encoded in now.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Handles one command's arguments. `connected_clients` is reported by INFO.
    pub fn handle_args(&mut self, args: Vec<Bytes>, connected_clients: u64) -> Action {
        let command = match Command::parse(args, &self.limits) {
            Ok(command) => command,
            Err(reply) => return Action::Reply(reply),
        };
        let reply = match command {
            Command::Node(Request::Info { sections, .. }) => {
                return Action::Forward(Request::Info {
                    sections,
                    connected_clients,
                });
            }
            Command::Node(request) => return Action::Forward(request),
            Command::Quit => return Action::Close(Reply::ok()),
            Command::Ping(None) => Reply::Simple("PONG".to_owned()),
            Command::Ping(Some(message)) | Command::Echo(message) => Reply::Bulk(message),
            Command::Select => Reply::ok(),
            Command::Hello {
                protover,
                auth,
                setname,
            } => {
                if let Some((user, _password)) = auth {
                    // No passwords are configured: the default user is "nopass", as in a
                    // Redis without requirepass; any other user does not exist.
                    if user.as_ref() != b"default" {
                        return Action::Reply(Reply::error(
                            "WRONGPASS invalid username-password pair or user is disabled.",
                        ));
                    }
                }
                if let Some(name) = setname {
                    if let Err(reply) = check_name(&name) {
                        return Action::Reply(reply);
                    }
                    self.name = Some(name);
                }
                match protover {
                    Some(3) => self.protocol = Protocol::Resp3,
                    Some(_) => self.protocol = Protocol::Resp2,
                    None => {}
                }
                self.hello_reply()
            }
            Command::ClientSetName(name) => match check_name(&name) {
                Ok(()) => {
                    self.name = (!name.is_empty()).then_some(name);
                    Reply::ok()
                }
                Err(reply) => reply,
            },
            Command::ClientGetName => self.name.clone().map_or(Reply::Null, Reply::Bulk),
            Command::ClientId => Reply::Integer(self.client.0 as i64),
            Command::ClientSetInfo => Reply::ok(),
            Command::ClientInfo => Reply::Verbatim(format!(
                "id={} name={} db=0 resp={}\n",
                self.client.0,
                self.name
                    .as_ref()
                    .map_or(String::new(), |n| String::from_utf8_lossy(n).into_owned()),
                if self.protocol == Protocol::Resp3 {
                    3
                } else {
                    2
                },
            )),
            Command::CommandList => Reply::Array(COMMANDS.iter().map(command_info).collect()),
            Command::CommandCount => Reply::Integer(COMMANDS.len() as i64),
            Command::CommandInfo(names) => Reply::Array(
                names
                    .iter()
                    .map(|name| find(name).map_or(Reply::Null, command_info))
                    .collect(),
            ),
            Command::CommandDocs(names) => {
                let specs: Vec<&CommandSpec> = if names.is_empty() {
                    COMMANDS.iter().collect()
                } else {
                    names.iter().filter_map(|name| find(name)).collect()
                };
                Reply::Map(
                    specs
                        .into_iter()
                        .map(|spec| (Reply::bulk(spec.name), command_docs(spec)))
                        .collect(),
                )
            }
            Command::ConfigGet(patterns) => Reply::Map(self.config_get(&patterns)),
        };
        Action::Reply(reply)
    }

    fn hello_reply(&self) -> Reply {
        let protocol = if self.protocol == Protocol::Resp3 {
            3
        } else {
            2
        };
        Reply::Map(vec![
            (Reply::bulk("server"), Reply::bulk("redis")),
            (Reply::bulk("version"), Reply::bulk(REDIS_VERSION)),
            (Reply::bulk("proto"), Reply::Integer(protocol)),
            (Reply::bulk("id"), Reply::Integer(self.client.0 as i64)),
            (Reply::bulk("mode"), Reply::bulk("standalone")),
            (Reply::bulk("role"), Reply::bulk("master")),
            (Reply::bulk("modules"), Reply::Array(Vec::new())),
        ])
    }

    /// The parameters this server can report truthfully; clients such as redis-benchmark read
    /// `save` and `appendonly` when they connect.
    fn config_get(&self, patterns: &[Bytes]) -> Vec<(Reply, Reply)> {
        let bulk_max = (self.limits.value_bytes_max + crate::resp::BULK_SLACK_BYTES).to_string();
        let parameters = [
            ("appendonly", "no".to_owned()),
            ("databases", "1".to_owned()),
            ("proto-max-bulk-len", bulk_max),
            ("save", String::new()),
        ];
        parameters
            .into_iter()
            .filter(|(name, _)| patterns.iter().any(|p| glob_match(p, name.as_bytes())))
            .map(|(name, value)| (Reply::bulk(name), Reply::bulk(value)))
            .collect()
    }
}

fn find(name: &[u8]) -> Option<&'static CommandSpec> {
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    COMMANDS.iter().find(|spec| spec.name == name)
}

/// One `COMMAND` entry in Redis 7's shape: name, arity, flags, first key, last key, step, ACL
/// categories, tips, key specifications, subcommands.
fn command_info(spec: &CommandSpec) -> Reply {
    let statuses = |items: &[&str]| {
        Reply::Set(
            items
                .iter()
                .map(|s| Reply::Simple((*s).to_owned()))
                .collect(),
        )
    };
    Reply::Array(vec![
        Reply::bulk(spec.name),
        Reply::Integer(spec.arity),
        statuses(spec.flags),
        Reply::Integer(spec.first_key),
        Reply::Integer(spec.last_key),
        Reply::Integer(spec.step),
        statuses(spec.acl_categories),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
    ])
}

fn command_docs(spec: &CommandSpec) -> Reply {
    Reply::Map(vec![
        (Reply::bulk("summary"), Reply::bulk(spec.summary)),
        (Reply::bulk("since"), Reply::bulk(spec.since)),
        (Reply::bulk("group"), Reply::bulk(spec.group)),
        (Reply::bulk("complexity"), Reply::bulk(spec.complexity)),
    ])
}

/// Redis rejects client names with spaces, newlines or other special characters.
fn check_name(name: &[u8]) -> Result<(), Reply> {
    if name.iter().all(|&b| (b'!'..=b'~').contains(&b)) {
        Ok(())
    } else {
        Err(Reply::error(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ))
    }
}

/// Redis's glob matching (`stringmatchlen`): `*`, `?`, `[...]` with ranges and `^`, `\`
/// escapes. Case-sensitive, as CONFIG GET lowercases nothing it does not need to.
pub(crate) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| glob_match(rest, &text[skip..])),
        Some((b'?', rest)) => !text.is_empty() && glob_match(rest, &text[1..]),
        Some((b'[', rest)) => {
            let Some((&c, text_rest)) = text.split_first() else {
                return false;
            };
            let (negate, mut class) = match rest.split_first() {
                Some((b'^', class)) => (true, class),
                _ => (false, rest),
            };
            let mut matched = false;
            loop {
                match class {
                    [] => return false, // Unterminated class: no match.
                    [b']', tail @ ..] => {
                        class = tail;
                        break;
                    }
                    [b'\\', escaped, tail @ ..] => {
                        matched |= *escaped == c;
                        class = tail;
                    }
                    [low, b'-', high, tail @ ..] if *high != b']' => {
                        let (low, high) = if low <= high {
                            (*low, *high)
                        } else {
                            (*high, *low)
                        };
                        matched |= (low..=high).contains(&c);
                        class = tail;
                    }
                    [single, tail @ ..] => {
                        matched |= *single == c;
                        class = tail;
                    }
                }
            }
            matched != negate && glob_match(class, text_rest)
        }
        Some((b'\\', rest)) if !rest.is_empty() => {
            text.first() == Some(&rest[0]) && glob_match(&rest[1..], &text[1..])
        }
        Some((&p, rest)) => text.first() == Some(&p) && glob_match(rest, &text[1..]),
    }
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

    #[test]
    fn hello_3_switches_to_resp3_and_describes_the_server() {
        let mut s = session();
        let Reply::Map(fields) = reply(&mut s, &["HELLO", "3"]) else {
            panic!("not a map")
        };
        assert_eq!(s.protocol(), Protocol::Resp3);
        assert!(fields.contains(&(Reply::bulk("proto"), Reply::Integer(3))));
        assert!(fields.contains(&(Reply::bulk("id"), Reply::Integer(7))));
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
    fn config_get_reports_what_redis_benchmark_asks_for() {
        let mut s = session();
        assert_eq!(
            reply(&mut s, &["CONFIG", "GET", "save"]),
            Reply::Map(vec![(Reply::bulk("save"), Reply::bulk(""))])
        );
        assert_eq!(
            reply(&mut s, &["CONFIG", "GET", "appendonly"]),
            Reply::Map(vec![(Reply::bulk("appendonly"), Reply::bulk("no"))])
        );
        assert_eq!(
            reply(&mut s, &["CONFIG", "GET", "no-such-thing"]),
            Reply::Map(vec![])
        );
        let Reply::Map(all) = reply(&mut s, &["CONFIG", "GET", "*"]) else {
            panic!()
        };
        assert_eq!(all.len(), 4);
    }

    #[test]
    fn command_reports_every_supported_command() {
        let mut s = session();
        assert_eq!(
            reply(&mut s, &["COMMAND", "COUNT"]),
            Reply::Integer(COMMANDS.len() as i64)
        );
        let Reply::Array(list) = reply(&mut s, &["COMMAND"]) else {
            panic!()
        };
        assert_eq!(list.len(), COMMANDS.len());
        let Reply::Map(docs) = reply(&mut s, &["COMMAND", "DOCS", "get"]) else {
            panic!()
        };
        assert_eq!(docs[0].0, Reply::bulk("get"));
        assert_eq!(
            reply(&mut s, &["COMMAND", "DOCS", "nope"]),
            Reply::Map(vec![])
        );
    }

    #[test]
    fn data_commands_are_forwarded_and_quit_closes() {
        let mut s = session();
        assert_eq!(
            s.handle_args(args(&["get", "k"]), 1),
            Action::Forward(Request::Get {
                key: Bytes::from_static(b"k")
            })
        );
        assert_eq!(
            s.handle_args(args(&["INFO", "Raft"]), 12),
            Action::Forward(Request::Info {
                sections: vec!["raft".to_owned()],
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
    fn glob_matches_like_redis() {
        assert!(glob_match(b"*", b"save"));
        assert!(glob_match(b"s?ve", b"save"));
        assert!(glob_match(b"[a-s]ave", b"save"));
        assert!(!glob_match(b"[^s]ave", b"save"));
        assert!(glob_match(b"*only", b"appendonly"));
        assert!(!glob_match(b"save?", b"save"));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_arguments_never_panic(words in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12), 0..6)) {
            let mut s = session();
            let _ = s.handle_args(words.into_iter().map(Bytes::from).collect(), 1);
        }
    }
}
