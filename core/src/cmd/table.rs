//! The commands this server knows, with the metadata `COMMAND` and `COMMAND DOCS` report.
//! Values follow Redis 7.2's command table.

/// One command's metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandSpec {
    /// Lowercase name.
    pub name: &'static str,
    /// Redis arity: `n` means exactly n arguments including the name, `-n` at least n.
    pub arity: i64,
    /// Command flags (`readonly`, `write`, `fast`, ...).
    pub flags: &'static [&'static str],
    /// Position of the first key, 0 if none.
    pub first_key: i64,
    /// Position of the last key (-1: the last argument).
    pub last_key: i64,
    /// Step between keys.
    pub step: i64,
    /// ACL categories.
    pub acl_categories: &'static [&'static str],
    /// `COMMAND DOCS` group.
    pub group: &'static str,
    /// `COMMAND DOCS` summary.
    pub summary: &'static str,
    /// Redis version that introduced it.
    pub since: &'static str,
    /// Time complexity.
    pub complexity: &'static str,
}

const fn spec(
    name: &'static str,
    arity: i64,
    flags: &'static [&'static str],
    keys: (i64, i64, i64),
    acl_categories: &'static [&'static str],
    (group, summary, since, complexity): (&'static str, &'static str, &'static str, &'static str),
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        first_key: keys.0,
        last_key: keys.1,
        step: keys.2,
        acl_categories,
        group,
        summary,
        since,
        complexity,
    }
}

/// Every command this server accepts.
pub static COMMANDS: &[CommandSpec] = &[
    spec("get", 2, &["readonly", "fast"], (1, 1, 1), &["@read", "@string", "@fast"],
        ("string", "Returns the string value of a key.", "1.0.0", "O(1)")),
    spec("set", -3, &["write", "denyoom"], (1, 1, 1), &["@write", "@string", "@slow"],
        ("string", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", "1.0.0", "O(1)")),
    spec("del", -2, &["write"], (1, -1, 1), &["@keyspace", "@write", "@slow"],
        ("generic", "Deletes one or more keys.", "1.0.0", "O(N) where N is the number of keys that will be removed.")),
    spec("exists", -2, &["readonly", "fast"], (1, -1, 1), &["@keyspace", "@read", "@fast"],
        ("generic", "Determines whether one or more keys exist.", "1.0.0", "O(N) where N is the number of keys to check.")),
    spec("dbsize", 1, &["readonly", "fast"], (0, 0, 0), &["@keyspace", "@read", "@fast"],
        ("server", "Returns the number of keys in the database.", "1.0.0", "O(1)")),
    spec("ping", -1, &["fast"], (0, 0, 0), &["@fast", "@connection"],
        ("connection", "Returns the server's liveliness response.", "1.0.0", "O(1)")),
    spec("echo", 2, &["fast"], (0, 0, 0), &["@fast", "@connection"],
        ("connection", "Returns the given string.", "1.0.0", "O(1)")),
    spec("quit", -1, &["allow_busy", "noscript", "loading", "stale", "fast", "no_auth"], (0, 0, 0), &["@fast", "@connection"],
        ("connection", "Closes the connection.", "1.0.0", "O(1)")),
    spec("hello", -1, &["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"], (0, 0, 0), &["@fast", "@connection"],
        ("connection", "Handshakes with the Redis server.", "6.0.0", "O(1)")),
    spec("select", 2, &["loading", "stale", "fast"], (0, 0, 0), &["@fast", "@connection"],
        ("connection", "Changes the selected database.", "1.0.0", "O(1)")),
    spec("client", -2, &["sentinel"], (0, 0, 0), &["@slow", "@connection"],
        ("connection", "A container for client connection commands.", "2.4.0", "Depends on subcommand.")),
    spec("command", -1, &["loading", "stale", "sentinel"], (0, 0, 0), &["@slow", "@connection"],
        ("server", "Returns detailed information about all commands.", "2.8.13", "O(N) where N is the total number of Redis commands")),
    spec("config", -2, &[], (0, 0, 0), &["@slow"],
        ("server", "A container for server configuration commands.", "2.0.0", "Depends on subcommand.")),
    spec("cluster", -2, &[], (0, 0, 0), &["@slow"],
        ("cluster", "A container for Redis Cluster commands (NODES: the nodes and their roles).", "3.0.0", "Depends on subcommand.")),
    spec("info", -1, &["loading", "stale", "sentinel"], (0, 0, 0), &["@slow", "@dangerous"],
        ("server", "Returns information and statistics about the server.", "1.0.0", "O(1)")),
];
