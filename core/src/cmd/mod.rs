//! Commands: the typed form of a request, parsed from its arguments with Redis's exact
//! replies for bad input.

mod slot;
mod table;

pub use slot::{crc16, key_hash_slot, SLOT_COUNT};
pub use table::{CommandSpec, COMMANDS};

use bytes::Bytes;

use crate::reply::Reply;
use crate::request::{Request, SetCondition, SetRequest};

/// Size limits checked while parsing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandLimits {
    /// Longest key, bytes (`limits.max_key_size_bytes`).
    pub key_bytes_max: usize,
    /// Longest value, bytes (`limits.max_value_size_bytes`).
    pub value_bytes_max: usize,
}

impl Default for CommandLimits {
    fn default() -> Self {
        CommandLimits {
            key_bytes_max: 256,
            value_bytes_max: 65_536,
        }
    }
}

/// A parsed command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Commands the node answers from the replicated state.
    Node(Request),
    /// `PING [message]`.
    Ping(Option<Bytes>),
    /// `ECHO message`.
    Echo(Bytes),
    /// `QUIT`.
    Quit,
    /// `HELLO [protover [AUTH username password] [SETNAME name]]`.
    Hello {
        /// 2 or 3; `None` keeps the current protocol.
        protover: Option<u8>,
        /// `AUTH username password`.
        auth: Option<(Bytes, Bytes)>,
        /// `SETNAME name`.
        setname: Option<Bytes>,
    },
    /// `SELECT index` (0 only).
    Select,
    /// `CLIENT SETNAME name`.
    ClientSetName(Bytes),
    /// `CLIENT GETNAME`.
    ClientGetName,
    /// `CLIENT ID`.
    ClientId,
    /// `CLIENT SETINFO LIB-NAME|LIB-VER value`.
    ClientSetInfo,
    /// `CLIENT INFO`.
    ClientInfo,
    /// `COMMAND`.
    CommandList,
    /// `COMMAND COUNT`.
    CommandCount,
    /// `COMMAND INFO [name ...]`.
    CommandInfo(Vec<Bytes>),
    /// `COMMAND DOCS [name ...]`.
    CommandDocs(Vec<Bytes>),
    /// `CONFIG GET pattern [pattern ...]`.
    ConfigGet(Vec<Bytes>),
}

impl Command {
    /// Parses a request's arguments. Bad input becomes the error reply Redis gives for it.
    pub fn parse(args: Vec<Bytes>, limits: &CommandLimits) -> Result<Command, Reply> {
        let Some(name) = args.first() else {
            return Err(Reply::error("ERR empty command"));
        };
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        let Some(spec) = COMMANDS.iter().find(|spec| spec.name == name) else {
            return Err(unknown_command(&args));
        };
        let arity_ok = if spec.arity >= 0 {
            args.len() == spec.arity as usize
        } else {
            args.len() >= spec.arity.unsigned_abs() as usize
        };
        if !arity_ok {
            return Err(wrong_arity(&name));
        }
        let mut args = args.into_iter().skip(1);
        let mut rest = || args.next().expect("arity checked");
        let command = match name.as_str() {
            "get" => Command::Node(Request::Get {
                key: key(rest(), limits)?,
            }),
            "set" => {
                let key = key(rest(), limits)?;
                let value = rest();
                if value.len() > limits.value_bytes_max {
                    return Err(Reply::error("ERR value too large"));
                }
                let options: Vec<Bytes> = args.collect();
                Command::Node(Request::Set(parse_set_options(key, value, &options)?))
            }
            "del" | "exists" => {
                let keys = args
                    .map(|k| key(k, limits))
                    .collect::<Result<Vec<_>, _>>()?;
                Command::Node(if name == "del" {
                    Request::Del { keys }
                } else {
                    Request::Exists { keys }
                })
            }
            "dbsize" => Command::Node(Request::DbSize),
            "info" => Command::Node(Request::Info {
                sections: args
                    .map(|s| String::from_utf8_lossy(&s).to_ascii_lowercase())
                    .collect(),
                connected_clients: 0,
            }),
            "ping" => match (args.next(), args.next()) {
                (message, None) => Command::Ping(message),
                _ => return Err(wrong_arity("ping")),
            },
            "echo" => Command::Echo(rest()),
            "quit" => Command::Quit,
            "select" => {
                let index = parse_i64(&rest())
                    .ok_or_else(|| Reply::error("ERR value is not an integer or out of range"))?;
                if index != 0 {
                    return Err(Reply::error("ERR DB index is out of range"));
                }
                Command::Select
            }
            "hello" => parse_hello(args.collect())?,
            "client" => parse_client(args.collect())?,
            "command" => parse_command(args.collect())?,
            "config" => parse_config(args.collect())?,
            "cluster" => parse_cluster(args.collect())?,
            other => unreachable!("{other} is in the table but has no parser"),
        };
        Ok(command)
    }

    /// The arguments that parse back to this command, for clients and tests. Connection
    /// commands other than PING have none: `None`.
    pub fn into_args(&self) -> Option<Vec<Bytes>> {
        let word = |w: &'static str| Bytes::from_static(w.as_bytes());
        Some(match self {
            Command::Node(Request::Get { key }) => vec![word("GET"), key.clone()],
            Command::Node(Request::Set(set)) => {
                let mut args = vec![word("SET"), set.key.clone(), set.value.clone()];
                match set.condition {
                    SetCondition::Always => {}
                    SetCondition::IfAbsent => args.push(word("NX")),
                    SetCondition::IfPresent => args.push(word("XX")),
                }
                if set.get {
                    args.push(word("GET"));
                }
                args
            }
            Command::Node(Request::Del { keys }) => std::iter::once(word("DEL"))
                .chain(keys.iter().cloned())
                .collect(),
            Command::Node(Request::Exists { keys }) => std::iter::once(word("EXISTS"))
                .chain(keys.iter().cloned())
                .collect(),
            Command::Node(Request::DbSize) => vec![word("DBSIZE")],
            Command::Node(Request::ClusterNodes) => vec![word("CLUSTER"), word("NODES")],
            Command::Ping(message) => std::iter::once(word("PING"))
                .chain(message.clone())
                .collect(),
            _ => return None,
        })
    }
}

fn key(key: Bytes, limits: &CommandLimits) -> Result<Bytes, Reply> {
    if key.len() > limits.key_bytes_max {
        return Err(Reply::error("ERR key too large"));
    }
    Ok(key)
}

/// SET's options. TTLs (EX, PX, EXAT, PXAT) are not supported in this version: the leader
/// would have to write absolute deadlines into the log and propose deletions when they pass,
/// so they are refused rather than silently ignored. KEEPTTL is accepted: no key has a TTL,
/// so keeping it changes nothing.
fn parse_set_options(key: Bytes, value: Bytes, options: &[Bytes]) -> Result<SetRequest, Reply> {
    let mut set = SetRequest {
        key,
        value,
        condition: SetCondition::Always,
        get: false,
    };
    let syntax = || Reply::error("ERR syntax error");
    for option in options {
        match option.to_ascii_uppercase().as_slice() {
            b"NX" if set.condition != SetCondition::IfPresent => {
                set.condition = SetCondition::IfAbsent
            }
            b"XX" if set.condition != SetCondition::IfAbsent => {
                set.condition = SetCondition::IfPresent
            }
            b"GET" => set.get = true,
            b"KEEPTTL" => {}
            _ => return Err(syntax()),
        }
    }
    Ok(set)
}

fn parse_hello(args: Vec<Bytes>) -> Result<Command, Reply> {
    let mut args = args.into_iter();
    let Some(version) = args.next() else {
        return Ok(Command::Hello {
            protover: None,
            auth: None,
            setname: None,
        });
    };
    let protover = parse_i64(&version)
        .ok_or_else(|| Reply::error("ERR Protocol version is not an integer or out of range"))?;
    if protover != 2 && protover != 3 {
        return Err(Reply::error("NOPROTO unsupported protocol version"));
    }
    let (mut auth, mut setname) = (None, None);
    while let Some(option) = args.next() {
        match option.to_ascii_uppercase().as_slice() {
            b"AUTH" => match (args.next(), args.next()) {
                (Some(user), Some(password)) => auth = Some((user, password)),
                _ => return Err(syntax_error_in_hello(&option)),
            },
            b"SETNAME" => match args.next() {
                Some(name) => setname = Some(name),
                None => return Err(syntax_error_in_hello(&option)),
            },
            _ => return Err(syntax_error_in_hello(&option)),
        }
    }
    Ok(Command::Hello {
        protover: Some(protover as u8),
        auth,
        setname,
    })
}

fn syntax_error_in_hello(option: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR Syntax error in HELLO option '{}'",
        sanitize(&String::from_utf8_lossy(option))
    ))
}

fn parse_client(args: Vec<Bytes>) -> Result<Command, Reply> {
    let sub = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    let arity = |n: usize| -> Result<(), Reply> {
        if args.len() == n {
            Ok(())
        } else {
            Err(wrong_arity(&format!("client|{sub}")))
        }
    };
    match sub.as_str() {
        "setname" => {
            arity(2)?;
            Ok(Command::ClientSetName(args[1].clone()))
        }
        "getname" => arity(1).map(|()| Command::ClientGetName),
        "id" => arity(1).map(|()| Command::ClientId),
        "info" => arity(1).map(|()| Command::ClientInfo),
        "setinfo" => {
            arity(3)?;
            match args[1].to_ascii_uppercase().as_slice() {
                b"LIB-NAME" | b"LIB-VER" => Ok(Command::ClientSetInfo),
                _ => Err(Reply::error(format!(
                    "ERR Unrecognized option '{}'",
                    sanitize(&String::from_utf8_lossy(&args[1]))
                ))),
            }
        }
        _ => Err(unknown_subcommand(&args[0], "CLIENT")),
    }
}

fn parse_command(args: Vec<Bytes>) -> Result<Command, Reply> {
    let Some(sub) = args.first() else {
        return Ok(Command::CommandList);
    };
    let names = args[1..].to_vec();
    match sub.to_ascii_lowercase().as_slice() {
        b"count" if names.is_empty() => Ok(Command::CommandCount),
        b"count" => Err(wrong_arity("command|count")),
        b"info" => Ok(Command::CommandInfo(names)),
        b"docs" => Ok(Command::CommandDocs(names)),
        _ => Err(unknown_subcommand(sub, "COMMAND")),
    }
}

fn parse_cluster(args: Vec<Bytes>) -> Result<Command, Reply> {
    match args[0].to_ascii_lowercase().as_slice() {
        b"nodes" if args.len() == 1 => Ok(Command::Node(Request::ClusterNodes)),
        b"nodes" => Err(wrong_arity("cluster|nodes")),
        _ => Err(unknown_subcommand(&args[0], "CLUSTER")),
    }
}

fn parse_config(args: Vec<Bytes>) -> Result<Command, Reply> {
    match args[0].to_ascii_lowercase().as_slice() {
        b"get" if args.len() >= 2 => Ok(Command::ConfigGet(args[1..].to_vec())),
        b"get" => Err(wrong_arity("config|get")),
        _ => Err(unknown_subcommand(&args[0], "CONFIG")),
    }
}

/// `ERR wrong number of arguments for 'get' command`.
pub fn wrong_arity(name: &str) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// Redis 7's wording: `ERR unknown command 'foo', with args beginning with: 'a' 'b' `, the
/// argument list cut once it reaches 128 bytes.
fn unknown_command(args: &[Bytes]) -> Reply {
    let name = String::from_utf8_lossy(&args[0]);
    let name = truncate(&name, 128);
    let mut listed = String::new();
    for arg in &args[1..] {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        listed.push_str(&format!(
            "'{}' ",
            truncate(&String::from_utf8_lossy(arg), room)
        ));
    }
    Reply::error(sanitize(&format!(
        "ERR unknown command '{name}', with args beginning with: {listed}"
    )))
}

fn unknown_subcommand(sub: &[u8], command: &str) -> Reply {
    Reply::error(sanitize(&format!(
        "ERR unknown subcommand '{}'. Try {command} HELP.",
        truncate(&String::from_utf8_lossy(sub), 128)
    )))
}

fn truncate(text: &str, bytes_max: usize) -> &str {
    if text.len() <= bytes_max {
        return text;
    }
    let mut end = bytes_max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Error text echoes client bytes; CR and LF would break the reply's framing.
fn sanitize(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

fn parse_i64(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

#[cfg(test)]
mod tests;
