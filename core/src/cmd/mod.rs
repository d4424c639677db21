//! The commands: one table ([`COMMANDS`]) of [`CommandSpec`]s, each naming its metadata and
//! how it runs. Parsing, routing (which key decides the slot), `COMMAND` and its subcommands
//! all read that one table, so they cannot drift apart.
//!
//! Each command, or small family, is one module that owns its spec, its parser and what it
//! does: [`string`] (GET, SET, DELEX, MGET, MSET, ...), [`substring`] (GETRANGE, SETRANGE),
//! [`lcs`] (LCS), [`counter`] (INCR, DECRBY, INCRBYFLOAT, ...; its floats are
//! [`LongDouble`]s), [`keys`] (DEL, EXISTS, TYPE, ...), [`scan`] (KEYS, SCAN, RANDOMKEY,
//! FLUSHDB, FLUSHALL), [`server`] (DBSIZE, TIME, COMMAND), [`info`] (INFO), [`config`]
//! (CONFIG), [`connection`]
//! (PING, ECHO, QUIT, HELLO, SELECT, CLIENT), [`cluster`] (CLUSTER, READONLY, ...) and
//! [`transaction`] (MULTI, EXEC, DISCARD).
//! Adding a command is: a module (or a function in its family's module) with its spec, one
//! line in [`COMMANDS`], and its tests.
//!
//! A parsed command is a [`Call`]: its spec and its arguments, checked. Arguments stay the
//! canonical form all the way: a write's log entry carries them (as Redis's replication
//! stream carries commands), and every replica applies them through the same spec.

pub(crate) mod cluster;
pub(crate) mod config;
pub(crate) mod connection;
pub(crate) mod counter;
pub(crate) mod expire;
mod glob;
pub(crate) mod info;
pub(crate) mod keys;
mod lcs;
mod long_double;
pub(crate) mod scan;
pub(crate) mod server;
mod slot;
pub(crate) mod string;
pub(crate) mod substring;
mod table;
pub(crate) mod transaction;

pub(crate) use glob::glob_match;
pub use long_double::LongDouble;
pub use slot::{crc16, key_hash_slot, SLOT_COUNT};
pub use table::COMMANDS;

use std::fmt;

use bytes::Bytes;

use crate::kv::{Reader, Writer};
use crate::node::Node;
use crate::reply::Reply;
use crate::session::{Action, Session};
use crate::stats::Accounting;

/// Size limits checked while parsing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandLimits {
    /// Longest key, bytes (`limits.max_key_size_bytes`).
    pub key_bytes_max: usize,
    /// Longest value, bytes (`limits.max_value_size_bytes`).
    pub value_bytes_max: usize,
}

impl CommandLimits {
    /// The most argument bytes one command may carry (each argument counts 4 bytes more, as
    /// in its log entry): what one log entry holds at most, so that the entry, and the Raft
    /// message that carries it, stay far below the internal port's 64 MiB message limit (a
    /// DEL of 270,000 keys of 250 bytes once made an entry no peer could receive: the leader
    /// lost leadership over it). 4 MiB, as a transaction's queue, or more where the value
    /// limit needs it: one SET of the largest value always fits.
    pub fn arguments_bytes_max(&self) -> usize {
        transaction::TRANSACTION_BYTES_MAX.max(self.value_bytes_max + self.key_bytes_max + 4096)
    }
}

impl Default for CommandLimits {
    fn default() -> Self {
        CommandLimits {
            key_bytes_max: 256,
            value_bytes_max: 65_536,
        }
    }
}

/// Where a command's keys are among its arguments (the name is argument 0), as Redis's
/// legacy key specification: `first`, then every `step`-th up to `last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    /// Position of the first key; 0 when the command takes no key.
    pub first: i64,
    /// Position of the last key; negative counts from the end (-1: the last argument).
    pub last: i64,
    /// Distance between two keys.
    pub step: i64,
}

impl KeySpec {
    /// No key.
    pub const NONE: KeySpec = KeySpec {
        first: 0,
        last: 0,
        step: 0,
    };
    /// One key, the first argument.
    pub const FIRST: KeySpec = KeySpec {
        first: 1,
        last: 1,
        step: 1,
    };
    /// Every argument after the name is a key.
    pub const ALL: KeySpec = KeySpec {
        first: 1,
        last: -1,
        step: 1,
    };

    /// Positions of the keys in `args` (the name included), in order.
    fn positions(self, args_len: usize) -> impl Iterator<Item = usize> {
        let len = args_len as i64;
        let last = if self.last < 0 {
            len + self.last
        } else {
            self.last
        };
        let (first, last) = if self.first <= 0 {
            (1, 0) // no keys
        } else {
            (self.first, last.min(len - 1))
        };
        (first..=last)
            .step_by(self.step.max(1) as usize)
            .map(|position| position as usize)
    }
}

/// What `COMMAND DOCS` says of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Docs {
    /// The command group (`string`, `generic`, `server`, ...).
    pub group: &'static str,
    /// One sentence.
    pub summary: &'static str,
    /// The Redis version that introduced it.
    pub since: &'static str,
    /// Time complexity.
    pub complexity: &'static str,
}

/// Validates a command's arguments (the name included) against the limits before it leaves
/// the connection. `Err` is the reply Redis gives for that input.
pub(crate) type Check = fn(&[Bytes], &CommandLimits) -> Result<(), Reply>;

/// How a command runs. The variant decides where: in the connection, on the node from its own
/// state, as a linearizable read, or as a replicated write.
#[derive(Clone, Copy)]
pub(crate) enum Run {
    /// Answered by the connection's [`Session`] without reaching the node (PING, HELLO, ...).
    /// The function parses the arguments itself.
    Session(fn(&mut Session, &[Bytes]) -> Action),
    /// Answered by the node from its own state, without consensus (INFO, CLUSTER NODES,
    /// CONFIG SET, which changes it). The last argument is the number of connections open on
    /// this node.
    Local {
        /// Checks the arguments.
        check: Check,
        /// Renders the reply.
        answer: fn(&mut Node, &[Bytes], u64) -> Reply,
    },
    /// A linearizable read of a data group: served once a ReadIndex round confirms it.
    Read {
        /// Checks the arguments.
        check: Check,
        /// Reads the answer at (or after) the confirmed index.
        read: fn(&[Bytes], &Reader<'_>) -> Reply,
    },
    /// A write: proposed, committed, then applied on every replica alike. Applying reads no
    /// clock and no local state, only the arguments and the keyspace.
    Write {
        /// Checks the arguments.
        check: Check,
        /// Applies the committed arguments.
        apply: fn(&[Bytes], &mut Writer<'_, '_>) -> Reply,
    },
    /// A container (CLIENT, CONFIG, CLUSTER) that runs only through a subcommand.
    Container,
}

/// One command's metadata and how it runs. Values follow Redis 7.2's command table.
pub struct CommandSpec {
    /// Lowercase name; a subcommand is `container|sub` (`client|setname`).
    pub name: &'static str,
    /// Redis arity, counting the name (and, for a subcommand, the container's name): `n`
    /// means exactly n arguments, `-n` at least n.
    pub arity: i64,
    /// Command flags (`readonly`, `write`, `fast`, ...).
    pub flags: &'static [&'static str],
    /// Where the keys are.
    pub keys: KeySpec,
    /// ACL categories (`@read`, `@string`, ...).
    pub acl_categories: &'static [&'static str],
    /// What `COMMAND DOCS` says.
    pub docs: Docs,
    /// Subcommands of a container, looked up by the second argument.
    pub subcommands: &'static [CommandSpec],
    pub(crate) run: Run,
}

impl fmt::Debug for CommandSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandSpec")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl CommandSpec {
    /// A keyless command that the connection's session answers: the shape of the connection
    /// and introspection commands.
    pub(crate) const fn session(
        name: &'static str,
        arity: i64,
        flags: &'static [&'static str],
        acl_categories: &'static [&'static str],
        docs: Docs,
        run: fn(&mut Session, &[Bytes]) -> Action,
    ) -> CommandSpec {
        Self::keyless(name, arity, flags, acl_categories, docs, Run::Session(run))
    }

    /// A keyless command that the node answers from its own state (INFO, CLUSTER, CONFIG's
    /// subcommands), with no argument check beyond its arity.
    pub(crate) const fn local(
        name: &'static str,
        arity: i64,
        flags: &'static [&'static str],
        acl_categories: &'static [&'static str],
        docs: Docs,
        answer: fn(&mut Node, &[Bytes], u64) -> Reply,
    ) -> CommandSpec {
        let run = Run::Local {
            check: no_check,
            answer,
        };
        Self::keyless(name, arity, flags, acl_categories, docs, run)
    }

    const fn keyless(
        name: &'static str,
        arity: i64,
        flags: &'static [&'static str],
        acl_categories: &'static [&'static str],
        docs: Docs,
        run: Run,
    ) -> CommandSpec {
        CommandSpec {
            name,
            arity,
            flags,
            keys: KeySpec::NONE,
            acl_categories,
            docs,
            subcommands: &[],
            run,
        }
    }

    /// The command named `name` (any case), if this server knows it.
    pub fn find(name: &[u8]) -> Option<&'static CommandSpec> {
        COMMANDS
            .iter()
            .copied()
            .find(|spec| spec.name.as_bytes().eq_ignore_ascii_case(name))
    }

    /// The subcommand `sub` (any case) of this container.
    fn subcommand(&'static self, sub: &[u8]) -> Option<&'static CommandSpec> {
        self.subcommands.iter().find(|spec| {
            let short = spec.name.rsplit('|').next().unwrap_or(spec.name);
            short.as_bytes().eq_ignore_ascii_case(sub)
        })
    }

    /// Whether `args_len` arguments (the name included) satisfy the arity.
    fn arity_allows(&self, args_len: usize) -> bool {
        if self.arity >= 0 {
            args_len == self.arity as usize
        } else {
            args_len >= self.arity.unsigned_abs() as usize
        }
    }

    /// Whether the command names keys (and so must go to the leader of their slot).
    pub fn has_keys(&self) -> bool {
        self.keys.first > 0
    }

    /// Whether it changes data.
    pub fn is_write(&self) -> bool {
        matches!(self.run, Run::Write { .. })
    }
}

/// A parsed command: its spec (the subcommand's, for a container) and its arguments, checked
/// against the limits. The arguments are kept as sent, the name included.
#[derive(Clone)]
pub struct Call {
    spec: &'static CommandSpec,
    args: Vec<Bytes>,
}

impl Call {
    /// Looks the command up, checks its arity and, for commands that leave the connection, its
    /// arguments. Bad input becomes the error reply Redis gives for it.
    pub fn parse(args: Vec<Bytes>, limits: &CommandLimits) -> Result<Call, Reply> {
        Self::parse_counted(args, limits).map_err(|(reply, _)| reply)
    }

    /// [`Call::parse`], with how a refusal counts in INFO's commandstats: an arity error
    /// (or a missing subcommand) is a `rejected_call` of the spec named, as in Redis; an
    /// argument check that fails is a `failed_call` (Redis finds those errors while running
    /// the command); an unknown command or subcommand counts in errorstats only.
    pub(crate) fn parse_counted(
        args: Vec<Bytes>,
        limits: &CommandLimits,
    ) -> Result<Call, (Reply, Accounting)> {
        let bytes: usize = args.iter().map(|arg| 4 + arg.len()).sum();
        if bytes > limits.arguments_bytes_max() {
            let accounting =
                Self::named_spec(&args).map_or(Accounting::default(), Accounting::rejected);
            let reply = Reply::error(format!(
                "ERR command too large ({bytes} bytes of arguments; the limit is {})",
                limits.arguments_bytes_max()
            ));
            return Err((reply, accounting));
        }
        let spec = Self::lookup(&args).map_err(|reply| {
            let accounting =
                Self::named_spec(&args).map_or(Accounting::default(), Accounting::rejected);
            (reply, accounting)
        })?;
        let check = match spec.run {
            Run::Local { check, .. } | Run::Read { check, .. } | Run::Write { check, .. } => {
                Some(check)
            }
            Run::Session(_) | Run::Container => None,
        };
        if let Some(check) = check {
            check(&args, limits).map_err(|reply| (reply, Accounting::ran(spec)))?;
        }
        Ok(Call { spec, args })
    }

    /// The spec `args` name, whatever their arity: the subcommand's if the container has it,
    /// the container's when no subcommand is given.
    fn named_spec(args: &[Bytes]) -> Option<&'static CommandSpec> {
        let spec = CommandSpec::find(args.first()?)?;
        match args.get(1) {
            Some(sub) if !spec.subcommands.is_empty() => spec.subcommand(sub),
            _ => Some(spec),
        }
    }

    /// Looks the command up and checks its arity and the size limits of its keys and
    /// arguments, but not its arguments' syntax: what Redis checks when it queues a command
    /// inside MULTI (the rest fails when the transaction runs, in its slot of EXEC's reply).
    pub(crate) fn parse_to_queue(args: Vec<Bytes>, limits: &CommandLimits) -> Result<Call, Reply> {
        let spec = Self::lookup(&args)?;
        let call = Call { spec, args };
        for key in call.keys() {
            check_key(key, limits)?;
        }
        for arg in &call.args[1..] {
            check_value(arg, limits)?;
        }
        Ok(call)
    }

    /// The spec `args` invoke, with the arity checked (Redis checks arity before anything
    /// else, and names a subcommand `container|sub`).
    fn lookup(args: &[Bytes]) -> Result<&'static CommandSpec, Reply> {
        let Some(name) = args.first() else {
            return Err(Reply::error("ERR empty command"));
        };
        let Some(mut spec) = CommandSpec::find(name) else {
            return Err(unknown_command(args));
        };
        if !spec.arity_allows(args.len()) {
            return Err(wrong_arity(spec.name));
        }
        if !spec.subcommands.is_empty() && args.len() >= 2 {
            spec = spec
                .subcommand(&args[1])
                .ok_or_else(|| unknown_subcommand(&args[1], &spec.name.to_ascii_uppercase()))?;
            if !spec.arity_allows(args.len()) {
                return Err(wrong_arity(spec.name));
            }
        }
        Ok(spec)
    }

    /// Rebuilds a call from a committed log entry's arguments, without the client-facing
    /// limits (they were checked before the entry was proposed). A transaction's entry names
    /// `exec`, which the table knows as the client-facing command: it is looked up apart.
    pub(crate) fn from_log(args: Vec<Bytes>) -> Option<Call> {
        let name = args.first()?;
        let spec = if name.eq_ignore_ascii_case(b"exec") {
            &transaction::TRANSACTION
        } else if name.eq_ignore_ascii_case(b"watch") {
            &transaction::WATCH_LOG
        } else if name.eq_ignore_ascii_case(b"unwatch") {
            &transaction::UNWATCH_LOG
        } else {
            Self::lookup(&args).ok()?
        };
        Some(Call { spec, args })
    }

    /// Rebuilds a call a follower forwarded: the internal writes a connection's session makes
    /// (a transaction's `exec`, `watch`, `unwatch`) as [`Call::from_log`] does, any other
    /// command parsed and checked against this node's `limits` as if a client had sent it.
    pub(crate) fn from_forwarded(args: Vec<Bytes>, limits: &CommandLimits) -> Result<Call, Reply> {
        let is_internal = args.first().is_some_and(|name| {
            [&b"exec"[..], b"watch", b"unwatch"]
                .iter()
                .any(|internal| name.eq_ignore_ascii_case(internal))
        });
        if is_internal {
            return Self::from_log(args).ok_or_else(syntax_error);
        }
        Self::parse(args, limits)
    }

    /// The command's spec.
    pub fn spec(&self) -> &'static CommandSpec {
        self.spec
    }

    pub(crate) fn run(&self) -> Run {
        self.spec.run
    }

    /// The arguments, the name included.
    pub fn args(&self) -> &[Bytes] {
        &self.args
    }

    /// Takes the arguments back.
    pub fn into_args(self) -> Vec<Bytes> {
        self.args
    }

    /// The keys, in order (from the spec's key positions).
    pub fn keys(&self) -> impl Iterator<Item = &Bytes> {
        self.spec
            .keys
            .positions(self.args.len())
            .map(|position| &self.args[position])
    }

    /// The first key, which decides the hash slot and so the group (and the `MOVED` target).
    pub fn first_key(&self) -> Option<&Bytes> {
        self.keys().next()
    }
}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Call")
            .field(&self.spec.name)
            .field(&self.args)
            .finish()
    }
}

impl PartialEq for Call {
    fn eq(&self, other: &Call) -> bool {
        std::ptr::eq(self.spec, other.spec) && self.args == other.args
    }
}

impl Eq for Call {}

// --- helpers the command modules share --------------------------------------------------

/// A check for commands whose arguments need nothing beyond their arity.
pub(crate) fn no_check(_: &[Bytes], _: &CommandLimits) -> Result<(), Reply> {
    Ok(())
}

/// Refuses a key longer than the limit: `ERR key too large`.
pub(crate) fn check_key(key: &[u8], limits: &CommandLimits) -> Result<(), Reply> {
    if key.len() > limits.key_bytes_max {
        return Err(Reply::error("ERR key too large"));
    }
    Ok(())
}

/// Refuses a value longer than the limit: `ERR value too large`.
pub(crate) fn check_value(value: &[u8], limits: &CommandLimits) -> Result<(), Reply> {
    if value.len() > limits.value_bytes_max {
        return Err(Reply::error("ERR value too large"));
    }
    Ok(())
}

/// `ERR wrong number of arguments for 'get' command`.
pub fn wrong_arity(name: &str) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// `ERR syntax error`.
pub(crate) fn syntax_error() -> Reply {
    Reply::error("ERR syntax error")
}

/// `ERR value is not an integer or out of range`.
pub(crate) fn not_an_integer() -> Reply {
    Reply::error("ERR value is not an integer or out of range")
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

/// `ERR unknown subcommand 'x'. Try CLIENT HELP.`
pub(crate) fn unknown_subcommand(sub: &[u8], command: &str) -> Reply {
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
pub(crate) fn sanitize(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

pub(crate) fn parse_i64(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

#[cfg(test)]
mod tests;
