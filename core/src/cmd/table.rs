//! The one table of commands this server knows. Everything that asks "which commands are
//! there, what are their keys, how do they run" reads it: the parser, routing, `COMMAND`.

use crate::cmd::{
    cluster, connection, counter, keys, server, string, substring, transaction, CommandSpec,
};

/// Every command this server accepts, one line each (a container's subcommands hang off its
/// spec). `COMMAND` lists them in this order.
pub static COMMANDS: &[&CommandSpec] = &[
    &string::GET,
    &string::SET,
    &string::SETNX,
    &string::GETSET,
    &string::GETDEL,
    &string::STRLEN,
    &string::MGET,
    &string::MSET,
    &string::MSETNX,
    &substring::GETRANGE,
    &substring::SUBSTR,
    &substring::SETRANGE,
    &substring::APPEND,
    &counter::INCR,
    &counter::DECR,
    &counter::INCRBY,
    &counter::DECRBY,
    &keys::DEL,
    &keys::UNLINK,
    &keys::EXISTS,
    &keys::TOUCH,
    &keys::TYPE,
    &keys::RENAME,
    &keys::RENAMENX,
    &keys::COPY,
    &server::DBSIZE,
    &connection::PING,
    &connection::ECHO,
    &connection::QUIT,
    &connection::HELLO,
    &connection::SELECT,
    &connection::CLIENT,
    &server::COMMAND,
    &server::CONFIG,
    &cluster::CLUSTER,
    &cluster::READONLY,
    &cluster::READWRITE,
    &cluster::ASKING,
    &server::INFO,
    &transaction::MULTI,
    &transaction::EXEC,
    &transaction::DISCARD,
];
