//! What INFO counts and what the runtime knows about the process: the per-command and
//! per-error counters (`# Commandstats`, `# Errorstats`), and the facts a runtime hands in
//! as values (process id, RSS, CPU time, connections).
//!
//! The counters are kept by the runtime, which owns connections and clocks, in one
//! [`CommandStats`] its connections share: recording a command is four relaxed atomic adds
//! into a fixed table, with no allocation and no lock. The node never reads it: before an INFO
//! or `CONFIG RESETSTAT` the runtime hands the node a [`RuntimeStats`] value with a
//! [`StatsSnapshot`] in it, so INFO stays a function of the node's inputs. `CONFIG
//! RESETSTAT` keeps the snapshot it saw as a baseline that later INFOs subtract (Redis zeroes
//! its counters; the difference is invisible to a client).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::cmd::{CommandSpec, COMMANDS};
use crate::reply::Reply;

/// Error codes Seshat replies with: the first word of every error it sends. `errorstat_<CODE>`
/// is counted for these; an error with another first word counts as `ERR`'s sibling
/// [`OTHER_ERROR`] so the table stays fixed (Redis stops adding codes at 128 and logs it).
pub const ERROR_CODES: &[&str] = &[
    "ERR",
    "WRONGTYPE",
    "EXECABORT",
    "NOPROTO",
    "WRONGPASS",
    "MOVED",
    "NOQUORUM",
    "NOTLEADER",
    "TRYAGAIN",
];

/// The errorstat name under which an error with an unlisted code is counted.
pub const OTHER_ERROR: &str = "OTHER";

/// Every spec the counters have a slot for, in slot order: the table's commands, then each
/// container's subcommands (Redis counts `config|get`, not `config`).
fn slot_specs() -> impl Iterator<Item = &'static CommandSpec> {
    COMMANDS
        .iter()
        .copied()
        .chain(COMMANDS.iter().flat_map(|spec| spec.subcommands.iter()))
}

/// The counter slot of `spec`: its place in [`slot_specs`]. A linear scan of about a hundred
/// pointers, cheaper than the name lookup that found the spec.
///
/// # Panics
/// If `spec` is not in the command table (every spec a [`Call`](crate::Call) holds is).
pub(crate) fn slot_of(spec: &'static CommandSpec) -> usize {
    slot_specs()
        .position(|candidate| std::ptr::eq(candidate, spec))
        .unwrap_or_else(|| panic!("{} is not in the command table", spec.name))
}

/// How one command ended, as Redis's `cmdstat` fields count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It ran and answered (`calls`, `usec`).
    Done,
    /// It ran and answered an error (`calls`, `usec` and `failed_calls`).
    Failed,
    /// It was refused before running: wrong arity or arguments over a limit
    /// (`rejected_calls`).
    Rejected,
}

/// What a connection must remember about a command until its reply is known, to count it:
/// which spec it invoked (none for an unknown command, which Redis counts in errorstats only)
/// and whether it was refused before it ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Accounting {
    slot: Option<usize>,
    rejected: bool,
    /// Queued inside MULTI: Redis counts it when EXEC runs it, not now.
    queued: bool,
}

impl Accounting {
    /// A command of `spec` that runs.
    pub(crate) fn ran(spec: &'static CommandSpec) -> Accounting {
        Accounting {
            slot: Some(slot_of(spec)),
            ..Accounting::default()
        }
    }

    /// A command of `spec` refused before it ran.
    pub(crate) fn rejected(spec: &'static CommandSpec) -> Accounting {
        Accounting {
            slot: Some(slot_of(spec)),
            rejected: true,
            queued: false,
        }
    }

    /// A command queued inside MULTI, counted when EXEC runs.
    pub(crate) fn queued() -> Accounting {
        Accounting {
            queued: true,
            ..Accounting::default()
        }
    }
}

#[derive(Debug, Default)]
struct SlotCounters {
    calls: AtomicU64,
    usec: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
}

/// The command and error counters of one node, shared by its connections (`Arc`). Only ever
/// incremented; [`CommandStats::snapshot`] reads them.
#[derive(Debug)]
pub struct CommandStats {
    /// One per spec, in [`slot_specs`] order.
    slots: Box<[SlotCounters]>,
    /// One per [`ERROR_CODES`] entry, then [`OTHER_ERROR`].
    errors: Box<[AtomicU64]>,
}

impl Default for CommandStats {
    fn default() -> Self {
        CommandStats {
            slots: slot_specs().map(|_| SlotCounters::default()).collect(),
            errors: (0..=ERROR_CODES.len()).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl CommandStats {
    /// Counts one command once its reply is known: `elapsed` is how long the server took to
    /// answer it (the runtime measures it), `reply` what it answered.
    pub fn record(&self, accounting: Accounting, reply: &Reply, elapsed: Duration) {
        if let Reply::Error(text) = reply {
            self.record_error(text);
        }
        if accounting.queued {
            return;
        }
        let Some(slot) = accounting.slot else {
            return;
        };
        let counters = &self.slots[slot];
        if accounting.rejected {
            counters.rejected.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let usec = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        counters.calls.fetch_add(1, Ordering::Relaxed);
        counters.usec.fetch_add(usec, Ordering::Relaxed);
        if reply.is_error() {
            counters.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one error reply under its code, the text's first word.
    fn record_error(&self, text: &str) {
        let code = text.split(' ').next().unwrap_or("");
        let index = ERROR_CODES
            .iter()
            .position(|known| *known == code)
            .unwrap_or(ERROR_CODES.len());
        self.errors[index].fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now, as a value to hand to the node.
    pub fn snapshot(&self) -> StatsSnapshot {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StatsSnapshot {
            commands: self
                .slots
                .iter()
                .map(|slot| CommandCounts {
                    calls: load(&slot.calls),
                    usec: load(&slot.usec),
                    rejected: load(&slot.rejected),
                    failed: load(&slot.failed),
                })
                .collect(),
            errors: self.errors.iter().map(load).collect(),
        }
    }
}

/// One command's counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommandCounts {
    /// Times it ran.
    pub calls: u64,
    /// Microseconds spent answering it, in total.
    pub usec: u64,
    /// Times it was refused before running.
    pub rejected: u64,
    /// Times it ran and answered an error.
    pub failed: u64,
}

/// [`CommandStats`] read at one moment. Empty (all zero) when a runtime counts nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Per slot; shorter than the table (or empty) means zeros.
    commands: Vec<CommandCounts>,
    /// Per error code, then [`OTHER_ERROR`].
    errors: Vec<u64>,
}

impl StatsSnapshot {
    /// What was counted since `baseline` (a `CONFIG RESETSTAT`).
    pub(crate) fn since(&self, baseline: &StatsSnapshot) -> StatsSnapshot {
        let commands = self
            .commands
            .iter()
            .enumerate()
            .map(|(slot, now)| {
                let before = baseline.commands.get(slot).copied().unwrap_or_default();
                CommandCounts {
                    calls: now.calls.saturating_sub(before.calls),
                    usec: now.usec.saturating_sub(before.usec),
                    rejected: now.rejected.saturating_sub(before.rejected),
                    failed: now.failed.saturating_sub(before.failed),
                }
            })
            .collect();
        let errors = self
            .errors
            .iter()
            .enumerate()
            .map(|(i, now)| now.saturating_sub(baseline.errors.get(i).copied().unwrap_or(0)))
            .collect();
        StatsSnapshot { commands, errors }
    }

    /// Every command that ran or was refused, with its Redis name (`config|get`).
    pub(crate) fn commands(&self) -> impl Iterator<Item = (&'static str, CommandCounts)> + '_ {
        slot_specs()
            .zip(self.commands.iter().copied())
            .filter(|(_, counts)| counts.calls + counts.rejected > 0)
            .map(|(spec, counts)| (spec.name, counts))
    }

    /// Every error code answered at least once, with its count.
    pub(crate) fn errors(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        ERROR_CODES
            .iter()
            .copied()
            .chain(std::iter::once(OTHER_ERROR))
            .zip(self.errors.iter().copied())
            .filter(|(_, count)| *count > 0)
    }

    /// Commands that ran (`total_commands_processed`).
    pub(crate) fn commands_processed(&self) -> u64 {
        self.commands.iter().map(|counts| counts.calls).sum()
    }

    /// Error replies sent (`total_error_replies`).
    pub(crate) fn error_replies(&self) -> u64 {
        self.errors.iter().sum()
    }
}

/// Facts about the process that do not change while it runs, handed to the node in
/// [`NodeConfig::process`](crate::NodeConfig::process). The simulator hands its own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessInfo {
    /// The operating system's process id (`process_id`).
    pub process_id: u32,
    /// Absolute path of the running executable (`executable`).
    pub executable: String,
    /// Absolute path of the configuration file it was started with (`config_file`; empty
    /// if none).
    pub config_file: String,
    /// Kernel name, release and machine, as `uname -srm` prints them (`os`).
    pub os: String,
    /// 64 or 32 (`arch_bits`).
    pub arch_bits: u32,
    /// The port clients connect to, as bound (`tcp_port`).
    pub tcp_port: u16,
    /// The memory allocator (`mem_allocator`): `libc` for Rust's system allocator.
    pub mem_allocator: String,
    /// Physical memory of the machine, bytes (`total_system_memory`); 0 if unknown.
    pub system_memory_bytes: u64,
}

/// Facts that change while the process runs, read by the runtime just before an INFO (or a
/// `CONFIG RESETSTAT`) and handed to [`Node::handle_runtime_stats`](crate::Node).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeStats {
    /// Resident set size, bytes (`used_memory_rss`).
    pub rss_bytes: u64,
    /// The largest resident set size so far, bytes (`used_memory_peak`).
    pub rss_peak_bytes: u64,
    /// CPU time spent in the kernel by all threads (`used_cpu_sys`).
    pub cpu_sys: Duration,
    /// CPU time spent in user space by all threads (`used_cpu_user`).
    pub cpu_user: Duration,
    /// Client connections accepted since start (`total_connections_received`).
    pub connections_received: u64,
    /// Client connections refused at the limit (`rejected_connections`).
    pub connections_rejected: u64,
    /// Bytes read from clients (`total_net_input_bytes`).
    pub net_input_bytes: u64,
    /// Bytes written to clients (`total_net_output_bytes`).
    pub net_output_bytes: u64,
    /// The command and error counters.
    pub commands: StatsSnapshot,
}

impl RuntimeStats {
    /// What was counted since `baseline`; gauges (RSS, its peak) keep their values.
    pub(crate) fn since(&self, baseline: &RuntimeStats) -> RuntimeStats {
        RuntimeStats {
            rss_bytes: self.rss_bytes,
            rss_peak_bytes: self.rss_peak_bytes,
            cpu_sys: self.cpu_sys,
            cpu_user: self.cpu_user,
            connections_received: self
                .connections_received
                .saturating_sub(baseline.connections_received),
            connections_rejected: self
                .connections_rejected
                .saturating_sub(baseline.connections_rejected),
            net_input_bytes: self
                .net_input_bytes
                .saturating_sub(baseline.net_input_bytes),
            net_output_bytes: self
                .net_output_bytes
                .saturating_sub(baseline.net_output_bytes),
            commands: self.commands.since(&baseline.commands),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::config::CONFIG;

    fn get() -> &'static CommandSpec {
        CommandSpec::find(b"get").expect("GET is in the table")
    }

    #[test]
    fn every_spec_has_its_own_slot() {
        // Goal: slots identify specs one to one, subcommands included. Method: look each spec
        // up and compare with its position.
        for (position, spec) in slot_specs().enumerate() {
            assert_eq!(slot_of(spec), position, "{}", spec.name);
        }
        assert!(slot_specs().any(|spec| spec.name == "config|get"));
    }

    #[test]
    fn outcomes_land_in_their_fields() {
        let stats = CommandStats::default();
        let ms = Duration::from_millis(1);
        stats.record(Accounting::ran(get()), &Reply::Null, ms);
        stats.record(Accounting::ran(get()), &Reply::error("WRONGTYPE x"), ms);
        stats.record(Accounting::rejected(get()), &Reply::error("ERR arity"), ms);
        stats.record(Accounting::default(), &Reply::error("ERR unknown"), ms);
        stats.record(Accounting::queued(), &Reply::Simple("QUEUED".into()), ms);
        stats.record(Accounting::ran(get()), &Reply::error("WEIRD x"), ms);
        let snapshot = stats.snapshot();
        let commands: Vec<_> = snapshot.commands().collect();
        assert_eq!(
            commands,
            [(
                "get",
                CommandCounts {
                    calls: 3,
                    usec: 3000,
                    rejected: 1,
                    failed: 2
                }
            )]
        );
        let errors: Vec<_> = snapshot.errors().collect();
        assert_eq!(errors, [("ERR", 2), ("WRONGTYPE", 1), (OTHER_ERROR, 1)]);
        assert_eq!(snapshot.commands_processed(), 3);
        assert_eq!(snapshot.error_replies(), 4);
    }

    #[test]
    fn since_a_baseline_counts_only_what_came_after() {
        let stats = CommandStats::default();
        let sub = CONFIG.subcommands.first().expect("CONFIG has subcommands");
        stats.record(Accounting::ran(sub), &Reply::error("ERR x"), Duration::ZERO);
        let baseline = stats.snapshot();
        assert_eq!(baseline.since(&baseline).commands().count(), 0);
        assert_eq!(baseline.since(&baseline).errors().count(), 0);
        stats.record(Accounting::ran(get()), &Reply::Null, Duration::ZERO);
        let after = stats.snapshot().since(&baseline);
        assert_eq!(
            after.commands().map(|(name, _)| name).collect::<Vec<_>>(),
            ["get"]
        );
        assert_eq!(
            StatsSnapshot::default()
                .since(&baseline)
                .commands_processed(),
            0
        );
    }
}
