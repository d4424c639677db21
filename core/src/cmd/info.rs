//! `INFO [section ...]` (<https://redis.io/docs/latest/commands/info/>): the node's own state
//! in Redis's format, as redis_exporter and client libraries parse it. Every line is
//! `field:value` and ends with CRLF, a section opens with `# Name`, sections are separated by
//! one empty line, and the text ends with the last field's CRLF. Field names, order and value
//! formats follow Redis 7.0; fields Seshat cannot fill truthfully are left out rather than
//! faked (README, "INFO").

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use raft::{ProgressState, StateRole};

use crate::cmd::{CommandSpec, Docs};
use crate::node::{Node, REDIS_VERSION};
use crate::reply::Reply;

/// `INFO [section ...]`: this node's own state, no consensus needed.
pub(crate) static INFO: CommandSpec = CommandSpec::local(
    "info",
    -1,
    &["loading", "stale", "sentinel"],
    &["@slow", "@dangerous"],
    Docs {
        group: "server",
        summary: "Returns information and statistics about the server.",
        since: "1.0.0",
        complexity: "O(1)",
    },
    info,
);

/// The sections, in the order Redis prints them; Seshat's own `raft` comes last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Section {
    Server,
    Clients,
    Memory,
    Persistence,
    Stats,
    Replication,
    Cpu,
    Modules,
    Commandstats,
    Errorstats,
    Cluster,
    Keyspace,
    Raft,
}

impl Section {
    const ALL: [Section; 13] = [
        Section::Server,
        Section::Clients,
        Section::Memory,
        Section::Persistence,
        Section::Stats,
        Section::Replication,
        Section::Cpu,
        Section::Modules,
        Section::Commandstats,
        Section::Errorstats,
        Section::Cluster,
        Section::Keyspace,
        Section::Raft,
    ];

    /// The name `INFO <name>` selects it by, lowercase.
    fn name(self) -> &'static str {
        match self {
            Section::Server => "server",
            Section::Clients => "clients",
            Section::Memory => "memory",
            Section::Persistence => "persistence",
            Section::Stats => "stats",
            Section::Replication => "replication",
            Section::Cpu => "cpu",
            Section::Modules => "modules",
            Section::Commandstats => "commandstats",
            Section::Errorstats => "errorstats",
            Section::Cluster => "cluster",
            Section::Keyspace => "keyspace",
            Section::Raft => "raft",
        }
    }

    /// The header line's text.
    fn title(self) -> &'static str {
        match self {
            Section::Server => "Server",
            Section::Clients => "Clients",
            Section::Memory => "Memory",
            Section::Persistence => "Persistence",
            Section::Stats => "Stats",
            Section::Replication => "Replication",
            Section::Cpu => "CPU",
            Section::Modules => "Modules",
            Section::Commandstats => "Commandstats",
            Section::Errorstats => "Errorstats",
            Section::Cluster => "Cluster",
            Section::Keyspace => "Keyspace",
            Section::Raft => "Raft",
        }
    }

    /// Whether plain `INFO` (and `INFO default`) prints it: Redis 7.0 leaves out only
    /// commandstats (and latencystats, which Seshat does not keep). `raft` is printed, as it
    /// always was: it is the section an operator of a Raft store looks at first, it is a few
    /// lines, and scripts that read `group1:` from plain INFO keep working.
    fn is_default(self) -> bool {
        self != Section::Commandstats
    }
}

/// Which sections the arguments ask for: none means `default`; `all` and `everything` mean
/// every section (Seshat has no module sections, which is all that separates them); a name
/// Redis knows but Seshat does not keep (`latencystats`) or an unknown one selects nothing.
/// Names are case-insensitive and may be combined (Redis 7).
fn selected(args: &[Bytes]) -> [bool; Section::ALL.len()] {
    let mut selected = [false; Section::ALL.len()];
    let words: Vec<&[u8]> = if args.is_empty() {
        vec![b"default"]
    } else {
        args.iter().map(|arg| &arg[..]).collect()
    };
    for word in words {
        for (i, section) in Section::ALL.iter().enumerate() {
            let chosen =
                if word.eq_ignore_ascii_case(b"all") || word.eq_ignore_ascii_case(b"everything") {
                    true
                } else if word.eq_ignore_ascii_case(b"default") {
                    section.is_default()
                } else {
                    word.eq_ignore_ascii_case(section.name().as_bytes())
                };
            selected[i] |= chosen;
        }
    }
    selected
}

fn info(node: &mut Node, args: &[Bytes], connected_clients: u64) -> Reply {
    Reply::Verbatim(render(node, &args[1..], connected_clients))
}

/// The INFO text for `sections` (INFO's arguments after its name).
pub(crate) fn render(node: &Node, sections: &[Bytes], connected_clients: u64) -> String {
    let selected = selected(sections);
    let mut out = String::new();
    for (section, _) in Section::ALL
        .iter()
        .zip(selected)
        .filter(|(_, is_selected)| *is_selected)
    {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let _ = write!(out, "# {}\r\n", section.title());
        let mut lines = Lines(&mut out);
        match section {
            Section::Server => server(node, &mut lines),
            Section::Clients => clients(node, connected_clients, &mut lines),
            Section::Memory => memory(node, &mut lines),
            Section::Persistence => persistence(node, &mut lines),
            Section::Stats => stats(node, &mut lines),
            Section::Replication => replication(node, &mut lines),
            Section::Cpu => cpu(node, &mut lines),
            Section::Modules => {}
            Section::Commandstats => commandstats(node, &mut lines),
            Section::Errorstats => errorstats(node, &mut lines),
            Section::Cluster => lines.field("cluster_enabled", 1),
            Section::Keyspace => keyspace(node, &mut lines),
            Section::Raft => raft(node, &mut lines),
        }
    }
    out
}

/// Writes `field:value` lines.
struct Lines<'a>(&'a mut String);

impl Lines<'_> {
    fn field(&mut self, name: &str, value: impl std::fmt::Display) {
        let _ = write!(self.0, "{name}:{value}\r\n");
    }
}

fn server(node: &Node, lines: &mut Lines<'_>) {
    let config = node.config();
    let process = &config.process;
    let uptime = node.uptime().as_secs();
    lines.field("redis_version", REDIS_VERSION);
    lines.field("seshat_version", env!("CARGO_PKG_VERSION"));
    lines.field("redis_mode", "cluster");
    lines.field("os", &process.os);
    lines.field("arch_bits", process.arch_bits);
    lines.field("process_id", process.process_id);
    lines.field("run_id", node.run_id());
    lines.field("tcp_port", process.tcp_port);
    lines.field("server_time_usec", node.unix_ms() * 1000);
    lines.field("uptime_in_seconds", uptime);
    lines.field("uptime_in_days", uptime / 86_400);
    lines.field("executable", &process.executable);
    lines.field("config_file", &process.config_file);
    lines.field("node_id", config.id);
}

fn clients(node: &Node, connected_clients: u64, lines: &mut Lines<'_>) {
    let settings = &node.config().settings;
    lines.field("connected_clients", connected_clients);
    lines.field(
        "maxclients",
        settings.limits.max_concurrent_client_connections,
    );
    // No command blocks a connection (no BLPOP, WAIT, ...).
    lines.field("blocked_clients", 0);
    lines.field("requests_in_flight", node.requests_in_flight());
}

fn memory(node: &Node, lines: &mut Lines<'_>) {
    let stats = node.runtime_stats();
    let process = &node.config().process;
    // The core counts no allocations, so used_memory is the resident set size: what the
    // process costs the machine, RocksDB's caches and memtables included.
    for (name, bytes) in [
        ("used_memory", stats.rss_bytes),
        ("used_memory_rss", stats.rss_bytes),
        ("used_memory_peak", stats.rss_peak_bytes),
        ("total_system_memory", process.system_memory_bytes),
    ] {
        lines.field(name, bytes);
        lines.field(&format!("{name}_human"), human_bytes(bytes));
    }
    // Seshat never evicts: a write over a limit is refused instead.
    lines.field("maxmemory", 0);
    lines.field("maxmemory_human", human_bytes(0));
    lines.field("maxmemory_policy", "noeviction");
    lines.field("mem_allocator", &process.mem_allocator);
}

/// Redis's `bytesToHuman`: `512B`, `1.50K`, `2.00M`, ...
fn human_bytes(bytes: u64) -> String {
    const UNITS: [(u64, &str); 5] = [
        (1 << 50, "P"),
        (1 << 40, "T"),
        (1 << 30, "G"),
        (1 << 20, "M"),
        (1 << 10, "K"),
    ];
    for (unit, suffix) in UNITS {
        if bytes >= unit {
            return format!("{:.2}{suffix}", bytes as f64 / unit as f64);
        }
    }
    format!("{bytes}B")
}

/// Seshat has no RDB snapshots and no background rewrite; its Raft log is an append-only file
/// that is fsynced before any write is acknowledged (`appendfsync always`), and compacted in
/// place. So: nothing is ever waiting to be saved, nothing is loading once the node serves.
fn persistence(node: &Node, lines: &mut Lines<'_>) {
    lines.field("loading", 0);
    lines.field("async_loading", 0);
    lines.field("rdb_changes_since_last_save", 0);
    lines.field("rdb_bgsave_in_progress", 0);
    // Redis reports its start time until the first save.
    lines.field("rdb_last_save_time", node.started_unix_ms() / 1000);
    lines.field("rdb_last_bgsave_status", "ok");
    lines.field("rdb_last_bgsave_time_sec", -1);
    lines.field("rdb_current_bgsave_time_sec", -1);
    lines.field("rdb_saves", 0);
    lines.field("aof_enabled", 1);
    lines.field("aof_rewrite_in_progress", 0);
    lines.field("aof_rewrite_scheduled", 0);
    lines.field("aof_last_rewrite_time_sec", -1);
    lines.field("aof_current_rewrite_time_sec", -1);
    lines.field("aof_last_bgrewrite_status", "ok");
    lines.field("aof_last_write_status", "ok");
}

fn stats(node: &Node, lines: &mut Lines<'_>) {
    let stats = node.runtime_stats();
    lines.field("total_connections_received", stats.connections_received);
    lines.field(
        "total_commands_processed",
        stats.commands.commands_processed(),
    );
    lines.field("total_net_input_bytes", stats.net_input_bytes);
    lines.field("total_net_output_bytes", stats.net_output_bytes);
    lines.field("rejected_connections", stats.connections_rejected);
    lines.field("expired_keys", node.expired_keys());
    lines.field("evicted_keys", 0);
    lines.field("total_error_replies", stats.commands.error_replies());
}

/// The data group's Raft leader is the master; every other member a replica of it. Offsets
/// are Raft log indexes: the leader's last index, a replica's applied index, and in the
/// leader's `slaveN` lines the index each replica is known to match.
fn replication(node: &Node, lines: &mut Lines<'_>) {
    let data = node.data_status();
    let split = |addr: &str| -> (String, String) {
        let (host, port) = addr.rsplit_once(':').unwrap_or((addr, ""));
        (host.to_owned(), port.to_owned())
    };
    if data.role == StateRole::Leader {
        let replicas = node.data_replicas();
        lines.field("role", "master");
        lines.field("connected_slaves", replicas.len());
        for (i, replica) in replicas.iter().enumerate() {
            let addr = node.client_addr_of(replica.node).unwrap_or_default();
            let (host, port) = split(&addr);
            let state = match replica.state {
                ProgressState::Replicate => "online",
                ProgressState::Snapshot => "send_bulk",
                ProgressState::Probe => "probe",
            };
            lines.field(
                &format!("slave{i}"),
                format_args!(
                    "ip={host},port={port},state={state},offset={}",
                    replica.matched
                ),
            );
        }
        lines.field("master_repl_offset", data.last_index);
        return;
    }
    lines.field("role", "slave");
    let leader_addr = data.leader.and_then(|leader| node.client_addr_of(leader));
    if let Some(addr) = &leader_addr {
        let (host, port) = split(addr);
        lines.field("master_host", host);
        lines.field("master_port", port);
    }
    // Up while this node knows a leader of the current term, which it learns only by hearing
    // from it; an election timeout without word from it clears it.
    let link = if leader_addr.is_some() { "up" } else { "down" };
    lines.field("master_link_status", link);
    lines.field("slave_repl_offset", data.applied_index);
    // A replica never accepts a write: it answers MOVED.
    lines.field("slave_read_only", 1);
    lines.field("connected_slaves", 0);
    lines.field("master_repl_offset", data.applied_index);
}

fn cpu(node: &Node, lines: &mut Lines<'_>) {
    let stats = node.runtime_stats();
    let seconds = |d: Duration| format!("{:.6}", d.as_secs_f64());
    lines.field("used_cpu_sys", seconds(stats.cpu_sys));
    lines.field("used_cpu_user", seconds(stats.cpu_user));
    // Seshat starts no child processes.
    lines.field("used_cpu_sys_children", seconds(Duration::ZERO));
    lines.field("used_cpu_user_children", seconds(Duration::ZERO));
}

fn commandstats(node: &Node, lines: &mut Lines<'_>) {
    let stats = node.runtime_stats();
    for (name, counts) in stats.commands.commands() {
        let per_call = if counts.calls == 0 {
            0.0
        } else {
            counts.usec as f64 / counts.calls as f64
        };
        lines.field(
            &format!("cmdstat_{name}"),
            format_args!(
                "calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}",
                counts.calls, counts.usec, counts.rejected, counts.failed
            ),
        );
    }
}

fn errorstats(node: &Node, lines: &mut Lines<'_>) {
    let stats = node.runtime_stats();
    for (code, count) in stats.commands.errors() {
        lines.field(&format!("errorstat_{code}"), format_args!("count={count}"));
    }
}

fn keyspace(node: &Node, lines: &mut Lines<'_>) {
    let keyspace = node.keyspace();
    let state = keyspace.state();
    if state.keys > 0 {
        lines.field(
            "db0",
            format_args!(
                "keys={},expires={},avg_ttl={}",
                state.keys,
                state.expiring,
                keyspace.avg_ttl_ms()
            ),
        );
    }
}

fn raft(node: &Node, lines: &mut Lines<'_>) {
    for status in node.status() {
        lines.field(
            &format!("group{}", status.group),
            format_args!(
                "role={:?},term={},leader={},commit_index={},applied_index={},\
                 last_index={},snapshot_index={},log_entries={},log_bytes={},\
                 compactions={},snapshots_sent={},snapshots_installed={},voters={:?},\
                 learners={:?},voters_outgoing={:?}",
                status.role,
                status.term,
                status.leader.map_or(0, |id| id.0),
                status.commit_index,
                status.applied_index,
                status.last_index,
                status.snapshot_index,
                status.log_entries_in_memory,
                status.log_bytes_in_memory,
                status.snapshots.compactions,
                status.snapshots.sent,
                status.snapshots.installed,
                status.voters,
                status.learners,
                status.voters_outgoing,
            ),
        );
    }
    for member in node.directory().members() {
        lines.field(
            &format!("member{}", member.id),
            format_args!(
                "client_addr={},internal_addr={}",
                member.client_addr, member.internal_addr
            ),
        );
    }
    lines.field("messages_dropped", node.messages_dropped());
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cmd::tests::{args, parse, LoneNode};
    use crate::stats::{Accounting, CommandStats, RuntimeStats};
    use crate::testkit::{Cluster, ClusterOptions};
    use crate::{GroupId, Request};

    /// The sections of an INFO text, each a title and its `(field, value)` lines, checking the
    /// framing strictly as it goes: CRLF line ends, `# Title` openers, one empty line between
    /// sections, none at the end, and `field:value` lines with nothing else.
    fn sections(text: &str) -> Vec<(String, Vec<(String, String)>)> {
        assert!(text.ends_with("\r\n"), "ends with CRLF: {text:?}");
        assert!(
            !text.ends_with("\r\n\r\n"),
            "no empty line at the end: {text:?}"
        );
        let body = text.strip_suffix("\r\n").expect("checked");
        let mut sections = Vec::new();
        for block in body.split("\r\n\r\n") {
            let mut lines = block.split("\r\n");
            let title = lines.next().expect("a header");
            let title = title
                .strip_prefix("# ")
                .unwrap_or_else(|| panic!("header {title:?}"));
            let fields = lines
                .map(|line| {
                    assert!(!line.contains('\n') && !line.contains('\r'), "{line:?}");
                    let (field, value) = line
                        .split_once(':')
                        .unwrap_or_else(|| panic!("not field:value: {line:?}"));
                    assert!(!field.is_empty(), "{line:?}");
                    (field.to_owned(), value.to_owned())
                })
                .collect();
            sections.push((title.to_owned(), fields));
        }
        sections
    }

    fn titles(text: &str) -> Vec<String> {
        sections(text).into_iter().map(|(title, _)| title).collect()
    }

    fn field(text: &str, name: &str) -> Option<String> {
        sections(text)
            .into_iter()
            .flat_map(|(_, fields)| fields)
            .find(|(field, _)| field == name)
            .map(|(_, value)| value)
    }

    #[test]
    fn plain_info_prints_redis_default_sections_and_raft() {
        let mut lone = LoneNode::new();
        let default = [
            "Server",
            "Clients",
            "Memory",
            "Persistence",
            "Stats",
            "Replication",
            "CPU",
            "Modules",
            "Errorstats",
            "Cluster",
            "Keyspace",
            "Raft",
        ];
        assert_eq!(titles(&lone.info(&[])), default);
        assert_eq!(titles(&lone.info(&["default"])), default);
        let mut everything = default.to_vec();
        everything.insert(8, "Commandstats");
        assert_eq!(titles(&lone.info(&["all"])), everything);
        assert_eq!(titles(&lone.info(&["EVERYTHING"])), everything);
        assert_eq!(titles(&lone.info(&["default", "commandstats"])), everything);
    }

    #[test]
    fn named_sections_come_in_redis_order_and_unknown_ones_are_empty() {
        let mut lone = LoneNode::new();
        assert_eq!(titles(&lone.info(&["cpu", "Server"])), ["Server", "CPU"]);
        assert_eq!(titles(&lone.info(&["raft", "raft"])), ["Raft"]);
        assert_eq!(lone.info(&["latencystats"]), "");
        assert_eq!(lone.info(&["nosuch"]), "");
        assert_eq!(titles(&lone.info(&["nosuch", "keyspace"])), ["Keyspace"]);
    }

    #[test]
    fn server_section_reports_the_runtime_facts() {
        let mut lone = LoneNode::new();
        lone.advance(Duration::from_secs(90_000));
        let text = lone.info(&["server"]);
        let expected = [
            ("redis_version", REDIS_VERSION),
            ("redis_mode", "cluster"),
            ("os", "Linux 6.1.0 x86_64"),
            ("arch_bits", "64"),
            ("process_id", "4242"),
            ("tcp_port", "6379"),
            ("uptime_in_days", "1"),
            ("executable", "/usr/bin/seshat"),
            ("config_file", "/etc/seshat/node.toml"),
            ("node_id", "1"),
        ];
        for (name, value) in expected {
            assert_eq!(field(&text, name).as_deref(), Some(value), "{name}");
        }
        let uptime: u64 = field(&text, "uptime_in_seconds").unwrap().parse().unwrap();
        assert!(uptime >= 90_000);
        let run_id = field(&text, "run_id").unwrap();
        assert_eq!(run_id.len(), 40);
        assert!(run_id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(field(&lone.info(&["server"]), "run_id"), Some(run_id));
    }

    #[test]
    fn memory_cpu_and_clients_come_from_the_handed_in_facts() {
        let mut lone = LoneNode::new();
        lone.hand_stats(RuntimeStats {
            rss_bytes: 3 * 1024 * 1024 / 2,
            rss_peak_bytes: 2 << 20,
            cpu_sys: Duration::from_millis(1500),
            cpu_user: Duration::from_micros(2_000_001),
            ..RuntimeStats::default()
        });
        let text = lone.info(&["memory", "cpu", "clients"]);
        for (name, value) in [
            ("used_memory", "1572864"),
            ("used_memory_human", "1.50M"),
            ("used_memory_rss", "1572864"),
            ("used_memory_peak_human", "2.00M"),
            ("total_system_memory_human", "8.00G"),
            ("maxmemory", "0"),
            ("maxmemory_human", "0B"),
            ("maxmemory_policy", "noeviction"),
            ("mem_allocator", "libc"),
            ("used_cpu_sys", "1.500000"),
            ("used_cpu_user", "2.000001"),
            ("connected_clients", "3"),
            ("maxclients", "10000"),
        ] {
            assert_eq!(field(&text, name).as_deref(), Some(value), "{name}");
        }
        assert_eq!(human_bytes(1023), "1023B");
        assert_eq!(human_bytes(1536), "1.50K");
    }

    #[test]
    fn commandstats_errorstats_and_totals_count_from_the_last_resetstat() {
        // Goal: the counters a runtime hands in are rendered in Redis's format, and CONFIG
        // RESETSTAT starts them again. Method: count commands into a CommandStats, hand its
        // snapshot in, read INFO; reset; count more.
        let mut lone = LoneNode::new();
        let counters = CommandStats::default();
        let get = parse(&["GET", "k"]).unwrap().spec();
        let config_get = parse(&["CONFIG", "GET", "x"]).unwrap().spec();
        let ms = Duration::from_millis(1);
        counters.record(Accounting::ran(get), &Reply::Null, ms);
        counters.record(Accounting::ran(get), &Reply::error("MOVED 1 h:1"), ms * 2);
        counters.record(Accounting::rejected(config_get), &Reply::error("ERR a"), ms);
        let hand = |lone: &mut LoneNode, counters: &CommandStats| {
            lone.hand_stats(RuntimeStats {
                connections_received: 5,
                commands: counters.snapshot(),
                ..RuntimeStats::default()
            });
        };
        hand(&mut lone, &counters);
        let text = lone.info(&["commandstats", "errorstats", "stats"]);
        assert_eq!(titles(&text), ["Stats", "Commandstats", "Errorstats"]);
        assert_eq!(
            sections(&text)[1].1,
            [
                (
                    "cmdstat_get".to_owned(),
                    "calls=2,usec=3000,usec_per_call=1500.00,rejected_calls=0,failed_calls=1"
                        .to_owned()
                ),
                (
                    "cmdstat_config|get".to_owned(),
                    "calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0".to_owned()
                ),
            ]
        );
        assert_eq!(field(&text, "errorstat_ERR").as_deref(), Some("count=1"));
        assert_eq!(field(&text, "errorstat_MOVED").as_deref(), Some("count=1"));
        assert_eq!(
            field(&text, "total_commands_processed").as_deref(),
            Some("2")
        );
        assert_eq!(field(&text, "total_error_replies").as_deref(), Some("2"));
        assert_eq!(
            field(&text, "total_connections_received").as_deref(),
            Some("5")
        );

        assert_eq!(lone.local(&["CONFIG", "RESETSTAT"], 1), Reply::ok());
        let text = lone.info(&["commandstats", "errorstats", "stats"]);
        assert!(sections(&text)[1].1.is_empty(), "{text}");
        assert!(sections(&text)[2].1.is_empty(), "{text}");
        assert_eq!(
            field(&text, "total_connections_received").as_deref(),
            Some("0")
        );

        counters.record(Accounting::ran(get), &Reply::Null, ms);
        hand(&mut lone, &counters);
        let text = lone.info(&["commandstats"]);
        assert_eq!(
            field(&text, "cmdstat_get").as_deref(),
            Some("calls=1,usec=1000,usec_per_call=1000.00,rejected_calls=0,failed_calls=0")
        );
        assert_eq!(field(&text, "cmdstat_config|get"), None);
    }

    #[test]
    fn persistence_describes_a_log_fsynced_before_every_ack() {
        let mut lone = LoneNode::new();
        let text = lone.info(&["persistence"]);
        assert_eq!(field(&text, "loading").as_deref(), Some("0"));
        assert_eq!(field(&text, "aof_enabled").as_deref(), Some("1"));
        assert_eq!(field(&text, "rdb_bgsave_in_progress").as_deref(), Some("0"));
        assert_eq!(
            field(&text, "rdb_last_save_time").as_deref(),
            Some("1700000000")
        );
    }

    #[test]
    fn replication_names_the_leader_master_and_its_followers_slaves() {
        // Goal: role:master on exactly the data group's leader, with a slaveN line per
        // follower; role:slave with the leader's address elsewhere. Method: a three-node
        // harness cluster, INFO replication on every node once replication is steady.
        let mut cluster = Cluster::new(ClusterOptions::new(3));
        let leader = cluster
            .wait_for_stable_leader(GroupId::FIRST_DATA, Duration::from_secs(10), &[])
            .expect("a leader");
        let set = Request::from(parse(&["SET", "k", "v"]).unwrap());
        assert_eq!(
            cluster.call(leader, set, Duration::from_secs(5)),
            Some(Reply::ok())
        );
        cluster.run_for(Duration::from_secs(1));
        let info = |cluster: &mut Cluster, node| {
            let request = Request::from(
                crate::Call::parse(args(&["INFO", "replication"]), &Default::default()).unwrap(),
            );
            match cluster.call(node, request, Duration::from_secs(1)) {
                Some(Reply::Verbatim(text)) => text,
                other => panic!("INFO answered {other:?}"),
            }
        };
        let leader_addr = cluster
            .node(leader)
            .unwrap()
            .client_addr_of(leader)
            .unwrap();
        let (leader_host, leader_port) = leader_addr.rsplit_once(':').unwrap();
        let mut masters = 0;
        for id in cluster.node_ids() {
            let text = info(&mut cluster, id);
            let role = field(&text, "role").unwrap();
            if id == leader {
                masters += 1;
                assert_eq!(role, "master");
                assert_eq!(field(&text, "connected_slaves").as_deref(), Some("2"));
                let offset = field(&text, "master_repl_offset").unwrap();
                for i in 0..2 {
                    let line = field(&text, &format!("slave{i}")).unwrap();
                    assert!(line.starts_with("ip="), "{line}");
                    assert!(
                        line.ends_with(&format!(",state=online,offset={offset}")),
                        "{line} (leader at {offset})"
                    );
                }
            } else {
                assert_eq!(role, "slave");
                assert_eq!(field(&text, "master_host").as_deref(), Some(leader_host));
                assert_eq!(field(&text, "master_port").as_deref(), Some(leader_port));
                assert_eq!(field(&text, "master_link_status").as_deref(), Some("up"));
            }
        }
        assert_eq!(masters, 1);
    }
}
