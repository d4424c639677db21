//! The connection commands, answered by the connection's [`Session`] alone: PING, ECHO, QUIT,
//! HELLO, SELECT and CLIENT (<https://redis.io/docs/latest/commands/?group=connection>).

use bytes::Bytes;

use crate::cmd::{parse_i64, sanitize, CommandSpec, Docs, KeySpec, Run};
use crate::node::REDIS_VERSION;
use crate::reply::{Protocol, Reply};
use crate::session::{Action, Session};

/// A connection command's spec: no keys, answered by the session.
const fn connection(
    name: &'static str,
    arity: i64,
    flags: &'static [&'static str],
    docs: Docs,
    run: fn(&mut Session, &[Bytes]) -> Action,
) -> CommandSpec {
    CommandSpec::session(name, arity, flags, &["@fast", "@connection"], docs, run)
}

const fn docs(summary: &'static str, since: &'static str) -> Docs {
    Docs {
        group: "connection",
        summary,
        since,
        complexity: "O(1)",
    }
}

/// `PING [message]`.
pub(crate) static PING: CommandSpec = connection(
    "ping",
    -1,
    &["fast"],
    docs("Returns the server's liveliness response.", "1.0.0"),
    ping,
);

fn ping(_: &mut Session, args: &[Bytes]) -> Action {
    match args {
        [_] => Action::Reply(Reply::Simple("PONG".to_owned())),
        [_, message] => Action::Reply(Reply::Bulk(message.clone())),
        _ => Action::Reply(crate::cmd::wrong_arity("ping")),
    }
}

/// `ECHO message`.
pub(crate) static ECHO: CommandSpec = connection(
    "echo",
    2,
    &["fast"],
    docs("Returns the given string.", "1.0.0"),
    |_, args| Action::Reply(Reply::Bulk(args[1].clone())),
);

/// `QUIT`: answers OK, then the connection closes.
pub(crate) static QUIT: CommandSpec = connection(
    "quit",
    -1,
    &[
        "allow_busy",
        "noscript",
        "loading",
        "stale",
        "fast",
        "no_auth",
    ],
    docs("Closes the connection.", "1.0.0"),
    |_, _| Action::Close(Reply::ok()),
);

/// `SELECT index`: database 0 is the only one.
pub(crate) static SELECT: CommandSpec = connection(
    "select",
    2,
    &["loading", "stale", "fast"],
    docs("Changes the selected database.", "1.0.0"),
    select,
);

fn select(_: &mut Session, args: &[Bytes]) -> Action {
    Action::Reply(match parse_i64(&args[1]) {
        None => crate::cmd::not_an_integer(),
        Some(0) => Reply::ok(),
        Some(_) => Reply::error("ERR DB index is out of range"),
    })
}

/// `HELLO [protover [AUTH username password] [SETNAME name]]`.
pub(crate) static HELLO: CommandSpec = connection(
    "hello",
    -1,
    &[
        "noscript",
        "loading",
        "stale",
        "fast",
        "no_auth",
        "allow_busy",
    ],
    docs("Handshakes with the Redis server.", "6.0.0"),
    hello,
);

fn hello(session: &mut Session, args: &[Bytes]) -> Action {
    match hello_reply(session, args) {
        Ok(reply) | Err(reply) => Action::Reply(reply),
    }
}

fn hello_reply(session: &mut Session, args: &[Bytes]) -> Result<Reply, Reply> {
    let mut args = args[1..].iter();
    let protover = match args.next() {
        None => None,
        Some(version) => {
            let version = parse_i64(version).ok_or_else(|| {
                Reply::error("ERR Protocol version is not an integer or out of range")
            })?;
            if version != 2 && version != 3 {
                return Err(Reply::error("NOPROTO unsupported protocol version"));
            }
            Some(version)
        }
    };
    let (mut auth, mut setname) = (None, None);
    while let Some(option) = args.next() {
        match option.to_ascii_uppercase().as_slice() {
            b"AUTH" => match (args.next(), args.next()) {
                (Some(user), Some(password)) => auth = Some((user, password)),
                _ => return Err(syntax_error_in_hello(option)),
            },
            b"SETNAME" => match args.next() {
                Some(name) => setname = Some(name),
                None => return Err(syntax_error_in_hello(option)),
            },
            _ => return Err(syntax_error_in_hello(option)),
        }
    }
    if let Some((user, _password)) = auth {
        // No passwords are configured: the default user is "nopass", as in a Redis without
        // requirepass; any other user does not exist.
        if user.as_ref() != b"default" {
            return Err(Reply::error(
                "WRONGPASS invalid username-password pair or user is disabled.",
            ));
        }
    }
    if let Some(name) = setname {
        check_name(name)?;
        session.name = Some(name.clone());
    }
    match protover {
        Some(3) => session.protocol = Protocol::Resp3,
        Some(_) => session.protocol = Protocol::Resp2,
        None => {}
    }
    Ok(Reply::Map(vec![
        (Reply::bulk("server"), Reply::bulk("redis")),
        (Reply::bulk("version"), Reply::bulk(REDIS_VERSION)),
        (
            Reply::bulk("proto"),
            Reply::Integer(session.protocol_version()),
        ),
        (Reply::bulk("id"), Reply::Integer(session.client.0 as i64)),
        (Reply::bulk("mode"), Reply::bulk("cluster")),
        (Reply::bulk("role"), Reply::bulk("master")),
        (Reply::bulk("modules"), Reply::Array(Vec::new())),
    ]))
}

fn syntax_error_in_hello(option: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR Syntax error in HELLO option '{}'",
        sanitize(&String::from_utf8_lossy(option))
    ))
}

/// `CLIENT <subcommand>`.
pub(crate) static CLIENT: CommandSpec = CommandSpec {
    name: "client",
    arity: -2,
    flags: &["sentinel"],
    keys: KeySpec::NONE,
    acl_categories: &["@slow", "@connection"],
    docs: Docs {
        group: "connection",
        summary: "A container for client connection commands.",
        since: "2.4.0",
        complexity: "Depends on subcommand.",
    },
    subcommands: &[
        client(
            "client|setname",
            3,
            "Sets the connection name.",
            "2.6.9",
            client_setname,
        ),
        client(
            "client|getname",
            2,
            "Returns the name of the connection.",
            "2.6.9",
            |s, _| Action::Reply(s.name.clone().map_or(Reply::Null, Reply::Bulk)),
        ),
        client(
            "client|id",
            2,
            "Returns the unique client ID of the connection.",
            "5.0.0",
            |s, _| Action::Reply(Reply::Integer(s.client.0 as i64)),
        ),
        client(
            "client|info",
            2,
            "Returns information about the connection.",
            "6.2.0",
            client_info,
        ),
        client(
            "client|setinfo",
            4,
            "Sets information specific to the client or connection.",
            "7.2.0",
            client_setinfo,
        ),
    ],
    run: Run::Container,
};

const fn client(
    name: &'static str,
    arity: i64,
    summary: &'static str,
    since: &'static str,
    run: fn(&mut Session, &[Bytes]) -> Action,
) -> CommandSpec {
    CommandSpec::session(
        name,
        arity,
        &["noscript", "loading", "stale"],
        &["@slow", "@connection"],
        docs(summary, since),
        run,
    )
}

fn client_setname(session: &mut Session, args: &[Bytes]) -> Action {
    let name = &args[2];
    Action::Reply(match check_name(name) {
        Ok(()) => {
            session.name = (!name.is_empty()).then(|| name.clone());
            Reply::ok()
        }
        Err(reply) => reply,
    })
}

fn client_info(session: &mut Session, _: &[Bytes]) -> Action {
    Action::Reply(Reply::Verbatim(format!(
        "id={} name={} db=0 resp={}\n",
        session.client.0,
        session
            .name
            .as_ref()
            .map_or(String::new(), |n| String::from_utf8_lossy(n).into_owned()),
        session.protocol_version(),
    )))
}

fn client_setinfo(_: &mut Session, args: &[Bytes]) -> Action {
    Action::Reply(match args[2].to_ascii_uppercase().as_slice() {
        b"LIB-NAME" | b"LIB-VER" => Reply::ok(),
        _ => Reply::error(format!(
            "ERR Unrecognized option '{}'",
            sanitize(&String::from_utf8_lossy(&args[2]))
        )),
    })
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
