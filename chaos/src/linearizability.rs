//! Whether a [`History`] of `GET`/`SET`/`DEL`/`INCR` operations is linearizable, with each
//! connection's operations taking effect in the order it sent them.
//!
//! The method is Porcupine's (Athalye, `porcupine/checker.go`), in three steps, plus
//! reductions of our own that keep the search small:
//!
//! 1. **P-compositionality** (Horn and Kroening, "Faster linearizability checking via
//!    P-compositionality", FORTE 2015). A map of independent registers is linearizable iff the
//!    history of each key is, so every key is checked alone. The search below is exponential in
//!    the number of overlapping operations, so this is what makes long histories cheap.
//! 2. **Wing and Gong's search** ("Testing and verifying concurrent objects", JPDC 1993). The
//!    calls and returns of one key form a list sorted by time, calls before returns at equal
//!    times. Walking it from the front, the first call whose operation the register model
//!    accepts is linearized: it and its return are lifted out of the list, its previous state
//!    is pushed on a stack, and the walk starts again. Reaching a return means that operation
//!    had to take effect by now and did not: pop the last linearized operation, put it back in
//!    the list and try the call after it.
//! 3. **Lowe's memoisation** ("Testing for linearizability", CCPE 2017). Two partial
//!    linearizations with the same set of operations and the same state have the same futures,
//!    so a (set, state) pair already seen is not explored again. The set is a bitset with an
//!    incrementally kept Zobrist hash, stored trimmed (see `search::Linearized` and
//!    `search::Memo`).
//! 4. **Reductions.** Each one comes with the argument that it loses no linearization, and
//!    tests compare the checker with a brute-force one on thousands of small histories.
//!    - Non-integer values no completed `GET` returned are one state, `UNREAD`: nothing tells
//!      them apart (`INCR` refuses them all alike). Integers each have their own state.
//!    - A read that can go next goes next, with no alternative tried
//!      (`search::Search::read_admitted`): overlapping reads are not tried in every order.
//!    - An operation that timed out has its return at +infinity, as in Porcupine, and need not
//!      be linearized at all: the search succeeds once every completed operation is. Those that
//!      no completed operation could observe are dropped before the search (`key_operations`),
//!      and the search places the rest only right before a completed operation that needs them
//!      (`search::admits`), picking the earliest of interchangeable ones
//!      (`search::Search::twins_next`). Without this, each one could be placed, or not,
//!      before every later write.
//!
//! # Connection order
//!
//! Redis runs the commands of one connection in the order it sent them, pipelined or not.
//! Linearizability alone does not say so for pipelined requests: they overlap in real time, so
//! any order of them would do. The checker therefore looks for a linearization that also
//! respects each connection's order: for operations a and b sent in that order on one
//! connection, a takes effect before b. An indeterminate a may not take effect at all, but if
//! it does, it is before b.
//!
//! Per key, that is one more condition in the search (`search::Place`): an operation may be
//! linearized only after every earlier completed operation of its connection on the same key,
//! and never after a later one. Operations of one connection on *different* keys cannot be
//! ordered inside a per-key search without giving up P-compositionality (the search would have
//! to carry every key's state at once), so that search alone misses a connection whose `SET a`
//! took effect after its later `SET b`. One sound consequence of the cross-key order is cheap
//! and checked ([`Deadline`]): if a later operation b of a's connection is a `SET` whose value
//! (written by no other `SET`, and no integer an `INCR` could make) a completed `GET` returned
//! at time t, then b took effect by t, so a did too: a's return is moved back to t before its
//! key is searched. What that does not catch: orders that no reader saw before the earlier
//! operation returned anyway.
//!
//! The search stops after a named number of steps per key ([`SEARCH_STEPS_MAX`]) and then
//! says [`Outcome::Unknown`] rather than running for hours.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bytes::Bytes;

use crate::history::{
    integer, Completion, ConnectionId, History, Operation, OperationId, Output, Quoted, Record,
};
use crate::search::{
    Increment, KeyOperation, Model, Place, Prefix, Search, SearchResult, State, Step, ABSENT,
    UNREAD,
};

/// How many steps the search may take on one key before [`check`] gives up with
/// [`Outcome::Unknown`]. A step is one look at one candidate operation and costs about 80 ns
/// (release build), so this bound is about four seconds of work per key. The memo gains at
/// most one entry per step, of about 70 bytes; in practice one per ten steps, so around
/// 400 MB at the bound. Use [`check_bounded`] for another budget.
///
/// Most histories need far less: 10,000 operations from 10 clients over 5 keys take under
/// half a million steps in all, and the same from 20 clients on a single key about 21
/// million. What exhausts it is proving a violation on one key that many clients write at
/// once, since every order of the overlapping writes before the violation must be ruled out.
pub const SEARCH_STEPS_MAX: u64 = 50_000_000;

/// The verdict on a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Some order of the operations agrees with their real-time order, with the order each
    /// connection sent its operations in, and with a map whose keys start absent.
    Linearizable,
    /// No such order exists. When several keys fail, `key` is the one with the fewest
    /// operations that did not fail (then the smallest key), so that the report is the
    /// shortest one.
    NotLinearizable {
        /// The key whose operations cannot be ordered.
        key: Bytes,
        /// The key's operations and how far the search got (boxed: it is large, and the other
        /// outcomes are small).
        explanation: Box<Explanation>,
    },
    /// The search on `key` used up its step budget before it found an answer, and no other key
    /// failed. Linearizability checking is NP-complete; an answer here means the history has
    /// too many overlapping operations on one key.
    Unknown {
        /// The first key (in byte order) whose search ran out of steps.
        key: Bytes,
        /// The step budget that ran out.
        search_steps_max: u64,
    },
    /// No key failed, but `key`'s history is one the checker cannot decide: an `INCR` whose
    /// reply never came, alone or in a transaction, that may have met a value set with a TTL
    /// (see the [crate docs](crate#expiring-keys)).
    Unsupported {
        /// The first key (in byte order) the checker could not decide.
        key: Bytes,
    },
}

impl Outcome {
    /// Whether the history is certainly linearizable (connection order included).
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Outcome::Linearizable)
    }
}

/// Why one key's operations cannot be linearized, in a form meant for a failure report: the
/// [`Display`](fmt::Display) output shows the key's sub-history, the longest linearizable
/// prefix the search found, and the operation it could not place after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// The key checked.
    pub key: Bytes,
    /// All operations on `key`, failed and timed-out ones included, with their original ids.
    pub history: History,
    /// Completed `GET`s and `INCR`s that returned a value no write of this key could have
    /// produced (no `SET` wrote it, and no run of the key's `INCR`s reaches it). Any one of
    /// them is enough for a violation, so when this is not empty the search was skipped.
    pub values_unwritten: Vec<OperationId>,
    /// The longest partial linearization found, if the search ran.
    pub prefix_longest: Option<Prefix>,
    /// Operations of `key` whose return the cross-key connection order moved earlier (see
    /// [`Deadline`]), in id order.
    pub deadlines: Vec<Deadline>,
    /// Whether the key's operations are linearizable once connection order (and the deadlines
    /// it implies) is ignored: then what failed is the order in which some connection's
    /// operations took effect. False also when that search ran out of steps.
    pub is_order_violation: bool,
}

/// A completed operation that took effect before it returned, as connection order shows: a
/// later operation of its connection is a `SET` whose value a `GET` returned sooner.
///
/// With a sent before b on one connection, b a `SET` of a value no other write produces, and
/// a completed `GET` c that returned that value at `by_ns`: a takes effect before b, which
/// takes effect before c, which took effect by its return. So a took effect by `by_ns`, and
/// the search of a's key treats `by_ns` as its return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deadline {
    /// The operation whose return moves back.
    pub operation: OperationId,
    /// When it took effect by: the reader's return (or the operation's invocation, if that
    /// is later; the writer's key then fails on real time alone).
    pub by_ns: u64,
    /// The `SET` its connection sent after it.
    pub writer: Record,
    /// The completed `GET` that returned the writer's value at `by_ns`.
    pub reader: Record,
}

/// Checks `history` with the default step budget, [`SEARCH_STEPS_MAX`] per key.
///
/// Same history, same outcome and same explanation, on every run and every platform.
pub fn check(history: &History) -> Outcome {
    check_bounded(history, SEARCH_STEPS_MAX)
}

/// Checks `history`, giving the search of each key at most `search_steps_max` steps.
///
/// Every key is checked, even after one fails, so that the shortest failing key is reported.
pub fn check_bounded(history: &History, search_steps_max: u64) -> Outcome {
    check_with(history, search_steps_max, Order::Connections)
}

/// How much of connection order a check enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Order {
    /// None: plain linearizability.
    None,
    /// Within each key only: no [`Deadline`]s. For the tests, which compare each level with
    /// a brute-force search.
    #[cfg_attr(not(test), allow(dead_code))]
    WithinKeys,
    /// Within each key, and the [`Deadline`]s across keys.
    Connections,
}

/// [`check_bounded`], enforcing `order`.
pub(crate) fn check_with(history: &History, search_steps_max: u64, order: Order) -> Outcome {
    let deadlines = match order {
        Order::Connections => deadlines(history),
        Order::None | Order::WithinKeys => BTreeMap::new(),
    };
    let is_ordered = order != Order::None;
    let mut violation: Option<(usize, &[u8], Vec<&Record>, KeyViolation)> = None;
    let mut exhausted: Option<&[u8]> = None;
    let mut unsupported: Option<&[u8]> = None;
    for (key, records) in partition(history) {
        match check_key(&records, &deadlines, is_ordered, search_steps_max) {
            KeyOutcome::Linearizable => {}
            KeyOutcome::Exhausted => {
                exhausted.get_or_insert(key);
            }
            KeyOutcome::Unsupported => {
                unsupported.get_or_insert(key);
            }
            KeyOutcome::Violation(found) => {
                // Keys come in increasing order, so on a tie the first (smallest) key stays.
                let is_shorter = violation
                    .as_ref()
                    .is_none_or(|(len, ..)| records.len() < *len);
                if is_shorter {
                    violation = Some((records.len(), key, records, found));
                }
            }
        }
    }
    match (violation, exhausted) {
        (Some((_, key, records, found)), _) => {
            let is_order_violation = is_ordered
                && matches!(
                    check_key(&records, &BTreeMap::new(), false, search_steps_max),
                    KeyOutcome::Linearizable
                );
            let key_deadlines = records
                .iter()
                .filter_map(|record| deadlines.get(&record.id).cloned())
                .collect();
            let key = Bytes::copy_from_slice(key);
            let explanation = Explanation {
                key: key.clone(),
                history: history.for_key(&key),
                values_unwritten: found.values_unwritten,
                prefix_longest: found.prefix_longest,
                deadlines: key_deadlines,
                is_order_violation,
            };
            Outcome::NotLinearizable {
                key,
                explanation: Box::new(explanation),
            }
        }
        (None, Some(key)) => Outcome::Unknown {
            key: Bytes::copy_from_slice(key),
            search_steps_max,
        },
        (None, None) => match unsupported {
            Some(key) => Outcome::Unsupported {
                key: Bytes::copy_from_slice(key),
            },
            None => Outcome::Linearizable,
        },
    }
}

/// The operations of `history` grouped by key, in key order, without the failed ones (they
/// did not take effect, so no linearization contains them).
fn partition(history: &History) -> BTreeMap<&[u8], Vec<&Record>> {
    let mut keys: BTreeMap<&[u8], Vec<&Record>> = BTreeMap::new();
    for record in history.records() {
        if record.completion != Completion::Failed {
            keys.entry(record.operation.key()).or_default().push(record);
        }
    }
    keys
}

/// The [`Deadline`]s connection order sets across keys, by operation.
///
/// Each connection is walked from its last operation back, keeping the soonest reader's
/// return among the `SET`s sent after the operation at hand; an operation that returned later
/// than that gets it as a deadline. Failed operations neither take nor give one. A later
/// operation on the same key gives one too (the search would find the same order without it).
fn deadlines(history: &History) -> BTreeMap<OperationId, Deadline> {
    // The one SET of each non-integer value per key, or `None` when several write it.
    // (A transaction's SETs count as other writers of their values, never as the one.)
    let mut writers: BTreeMap<(&[u8], &[u8]), Option<&Record>> = BTreeMap::new();
    for record in history.records() {
        if record.completion == Completion::Failed {
            continue;
        }
        for (operation, _) in exchanges(record) {
            if let Operation::Set { key, value } | Operation::SetPx { key, value, .. } = operation {
                if integer(value).is_none() {
                    let is_alone = !matches!(record.operation, Operation::Multi { .. });
                    writers
                        .entry((key.as_ref(), value.as_ref()))
                        .and_modify(|writer| *writer = None)
                        .or_insert(is_alone.then_some(record));
                }
            }
        }
    }
    // The completed GET that returned each such SET's value first, and when.
    let mut first_read: BTreeMap<OperationId, (u64, &Record)> = BTreeMap::new();
    for record in history.records() {
        let (
            Operation::Get { key },
            Completion::Returned {
                returned_ns,
                output: Output::Get(Some(value)),
            },
        ) = (&record.operation, &record.completion)
        else {
            continue;
        };
        if let Some(Some(writer)) = writers.get(&(key.as_ref(), value.as_ref())) {
            let read = first_read
                .entry(writer.id)
                .or_insert((*returned_ns, record));
            if *returned_ns < read.0 {
                *read = (*returned_ns, record);
            }
        }
    }
    let mut connections: BTreeMap<ConnectionId, Vec<&Record>> = BTreeMap::new();
    for record in history.records() {
        if record.completion != Completion::Failed {
            connections
                .entry(record.connection)
                .or_default()
                .push(record);
        }
    }
    let mut deadlines = BTreeMap::new();
    for records in connections.values() {
        // (by_ns, writer, reader) of the soonest read SET after the record at hand.
        let mut soonest: Option<(u64, &Record, &Record)> = None;
        for &record in records.iter().rev() {
            if let (Completion::Returned { returned_ns, .. }, Some((by_ns, writer, reader))) =
                (&record.completion, soonest)
            {
                if by_ns < *returned_ns {
                    let deadline = Deadline {
                        operation: record.id,
                        by_ns: by_ns.max(record.invoked_ns),
                        writer: writer.clone(),
                        reader: reader.clone(),
                    };
                    deadlines.insert(record.id, deadline);
                }
            }
            if let Some(&(by_ns, reader)) = first_read.get(&record.id) {
                if soonest.is_none_or(|(soonest_ns, ..)| by_ns < soonest_ns) {
                    soonest = Some((by_ns, record, reader));
                }
            }
        }
    }
    deadlines
}

/// The verdict on one key.
#[derive(Debug)]
enum KeyOutcome {
    Linearizable,
    Violation(KeyViolation),
    Exhausted,
    Unsupported,
}

/// What is known about a key that cannot be linearized.
#[derive(Debug)]
struct KeyViolation {
    values_unwritten: Vec<OperationId>,
    prefix_longest: Option<Prefix>,
}

/// Checks the operations of one key (none of them failed), with each completed one's return
/// moved back to its deadline, if it has one, and with connection order if `is_ordered`.
fn check_key(
    records: &[&Record],
    deadlines: &BTreeMap<OperationId, Deadline>,
    is_ordered: bool,
    search_steps_max: u64,
) -> KeyOutcome {
    let values = Values::new(records);
    let values_unwritten = values.unwritten(records);
    if !values_unwritten.is_empty() {
        return KeyOutcome::Violation(KeyViolation {
            values_unwritten,
            prefix_longest: None,
        });
    }
    let mut model = values.model();
    let operations = key_operations(records, &values, &mut model, deadlines, is_ordered);
    // An INCR whose reply never came, on a value with a TTL, leads to two states that neither
    // can stand for the other: the value counted on (or kept, if refused), or 1 after the
    // value expired. The search carries one state, so such a key is left undecided.
    let has_ttl = records.iter().any(|record| sets_ttl(&record.operation));
    let has_increment_unknown = operations.iter().any(|operation| match operation.step {
        Step::IncrUnknown => true,
        Step::Multi(index) => model.transactions[index as usize].contains(&Step::IncrUnknown),
        _ => false,
    });
    if has_ttl && has_increment_unknown {
        return KeyOutcome::Unsupported;
    }
    match Search::new(&operations, &model).run(search_steps_max) {
        SearchResult::Linearizable => KeyOutcome::Linearizable,
        SearchResult::Exhausted => KeyOutcome::Exhausted,
        SearchResult::Violation(prefix) => KeyOutcome::Violation(KeyViolation {
            values_unwritten,
            prefix_longest: Some(prefix),
        }),
    }
}

/// Whether `operation` is a `SET ... PX` or a transaction with one.
fn sets_ttl(operation: &Operation) -> bool {
    match operation {
        Operation::SetPx { .. } => true,
        Operation::Multi { ops, .. } => ops.iter().any(sets_ttl),
        _ => false,
    }
}

/// `record`'s operations with their outputs (`None` if it has none): itself, or a
/// transaction's queued operations.
fn exchanges(record: &Record) -> Vec<(&Operation, Option<&Output>)> {
    let output = match &record.completion {
        Completion::Returned { output, .. } => Some(output),
        _ => None,
    };
    match (&record.operation, output) {
        (Operation::Multi { ops, .. }, Some(Output::Multi(outputs))) => {
            ops.iter().zip(outputs.iter().map(Some)).collect()
        }
        (Operation::Multi { ops, .. }, _) => ops.iter().map(|op| (op, None)).collect(),
        (operation, output) => vec![(operation, output)],
    }
}

/// The register states of one key's values.
///
/// A state for each non-integer value a completed `GET` returned, in first-read order, and
/// one state, `UNREAD`, for all other non-integer values: no `GET` tells them apart, and
/// `DEL` and `INCR` treat every non-integer alike, so the register cannot tell them apart
/// either. Merging them lets the memo see that writes of unread values in either order lead
/// to the same place. Integers cannot be merged (an `INCR` answers what it found plus one),
/// so every integer the key can hold has its own state: those a `SET` writes, and each of
/// those and 0 plus up to as many as there are `INCR`s that can follow it.
struct Values<'a> {
    /// The non-integer values some completed `GET` returned, with their states.
    read: BTreeMap<&'a [u8], State>,
    /// Every integer the key can hold, with its state.
    integers: BTreeMap<i64, State>,
    /// The number of states: `ABSENT`, `UNREAD`, then those of `read`, then `integers`.
    len: usize,
}

impl<'a> Values<'a> {
    fn new(records: &[&'a Record]) -> Self {
        let too_many = "fewer than 2^32 states";
        let mut read: BTreeMap<&[u8], State> = BTreeMap::new();
        for record in records {
            for (_, output) in exchanges(record) {
                if let Some(Output::Get(Some(value))) = output {
                    if integer(value).is_none() {
                        let state_next = State::try_from(read.len() + 2).expect(too_many);
                        read.entry(value.as_ref()).or_insert(state_next);
                    }
                }
            }
        }
        // The INCRs, as the earliest time each returned (none for an indeterminate one), a
        // transaction's included.
        let increments: Vec<Option<u64>> = records
            .iter()
            .flat_map(|record| {
                let returned = match record.completion {
                    Completion::Returned { returned_ns, .. } => Some(returned_ns),
                    _ => None,
                };
                exchanges(record)
                    .into_iter()
                    .filter(|(operation, _)| matches!(operation, Operation::Incr { .. }))
                    .map(move |_| returned)
            })
            .collect();
        let mut reachable: BTreeSet<i64> = BTreeSet::new();
        let mut add_run = |from: i64, count: usize| {
            let mut value = from;
            reachable.insert(value);
            for _ in 0..count {
                let Some(next) = value.checked_add(1) else {
                    break;
                };
                value = next;
                reachable.insert(value);
            }
        };
        if !increments.is_empty() {
            // From absence (at the start, or after a DEL) every INCR may follow.
            add_run(1, increments.len() - 1);
        }
        for record in records {
            for (operation, _) in exchanges(record) {
                if let Operation::Set { value, .. } | Operation::SetPx { value, .. } = operation {
                    if let Some(from) = integer(value) {
                        let following = increments
                            .iter()
                            .filter(|returned| returned.is_none_or(|ns| ns >= record.invoked_ns))
                            .count();
                        add_run(from, following);
                    }
                }
            }
        }
        let first = read.len() + 2;
        let integers = reachable
            .into_iter()
            .enumerate()
            .map(|(index, value)| (value, State::try_from(first + index).expect(too_many)))
            .collect::<BTreeMap<_, _>>();
        let len = first + integers.len();
        // Every state also has a twin with a TTL (see `Model`).
        State::try_from(2 * len).expect(too_many);
        Values {
            read,
            integers,
            len,
        }
    }

    /// The state of `value` as a `SET` writes it (an integer a `SET` writes always has one).
    fn written(&self, value: &[u8]) -> State {
        match integer(value) {
            Some(n) => self.integers[&n],
            None => self.read.get(value).copied().unwrap_or(UNREAD),
        }
    }

    /// The state a completed `GET` returned, `None` for an integer the key cannot hold.
    fn returned(&self, value: &Option<Bytes>) -> Option<State> {
        let Some(value) = value else {
            return Some(ABSENT);
        };
        match integer(value) {
            Some(n) => self.integers.get(&n).copied(),
            None => self.read.get(value.as_ref()).copied(),
        }
    }

    /// What `INCR` does in each state.
    fn model(&self) -> Model {
        let mut increments = vec![Increment::Refused; self.len];
        increments[ABSENT as usize] = self
            .integers
            .get(&1)
            .map_or(Increment::Unreachable, |&state| Increment::To(state));
        for (&value, &state) in &self.integers {
            increments[state as usize] = match value.checked_add(1) {
                None => Increment::Refused,
                Some(next) => self
                    .integers
                    .get(&next)
                    .map_or(Increment::Unreachable, |&state| Increment::To(state)),
            };
        }
        Model {
            increments,
            len: State::try_from(self.len).expect("checked in Values::new"),
            transactions: Vec::new(),
        }
    }

    /// The completed `GET`s and `INCR`s that returned a value that no write of the key
    /// (completed or not) produces. Each is a violation by itself, found without a search.
    fn unwritten(&self, records: &[&Record]) -> Vec<OperationId> {
        let written: BTreeSet<&[u8]> = records
            .iter()
            .flat_map(|record| exchanges(record))
            .filter_map(|(operation, _)| match operation {
                Operation::Set { value, .. } | Operation::SetPx { value, .. } => {
                    Some(value.as_ref())
                }
                _ => None,
            })
            .collect();
        records
            .iter()
            .filter(|record| {
                exchanges(record)
                    .into_iter()
                    .any(|(_, output)| match output {
                        Some(Output::Get(Some(value))) => match integer(value) {
                            Some(n) => !self.integers.contains_key(&n),
                            None => !written.contains(value.as_ref()),
                        },
                        Some(Output::Incr(Some(n))) => !self.integers.contains_key(n),
                        _ => false,
                    })
            })
            .map(|record| record.id)
            .collect()
    }
}

/// Turns one key's records into search operations, dropping the indeterminate ones that no
/// completed operation could observe, with the deadlines applied and each operation's place
/// on its connection (every operation on a connection of its own if not `is_ordered`).
///
/// Dropping is sound because an indeterminate operation may not have happened at all: if a
/// linearization contains a dropped operation X, removing X leaves a linearization too
/// (connection order among the others included). The operations placed after X and before the
/// next `SET` or `DEL` see X's effect, through any indeterminate `INCR`s between, and for a
/// dropped X none of them is a completed one that depends on it:
/// - an indeterminate `GET` constrains nothing, so it is always dropped;
/// - an indeterminate `SET v` is kept only if a completed operation that can observe v's state
///   returns at or after X's invocation: a `GET` returning v, a `DEL` returning true, an
///   `INCR` answering v + 1 (or refused, for a non-integer v); or if v is an integer and some
///   indeterminate `INCR` is kept, which can carry it on to an observer;
/// - an indeterminate `DEL` likewise, for absence: a `GET` returning nothing, a `DEL`
///   returning false, an `INCR` answering 1, or any indeterminate `INCR`;
/// - an indeterminate `INCR` is kept only if some completed operation other than a `SET`
///   returns at or after its invocation (any of those may observe what it made);
/// - a completed transaction may observe any state, so it keeps every indeterminate write
///   invoked before it returned; an indeterminate `SET ... PX` or transaction that writes is
///   always kept, one that only reads is dropped.
///
/// The states above are values without their TTL: a `GET` of v observes v with a TTL too.
///
/// Without this, every write that timed out would stay a candidate for the rest of the search.
fn key_operations(
    records: &[&Record],
    values: &Values<'_>,
    model: &mut Model,
    deadlines: &BTreeMap<OperationId, Deadline>,
    is_ordered: bool,
) -> Vec<KeyOperation> {
    // When each completed operation took effect by: its return, or its deadline.
    let returned_by = |record: &Record| match record.completion {
        Completion::Returned { returned_ns, .. } => Some(
            deadlines
                .get(&record.id)
                .map_or(returned_ns, |deadline| deadline.by_ns.min(returned_ns)),
        ),
        _ => None,
    };

    // The latest return of a completed operation that observes each state, of a DEL that
    // observes presence, of a refused INCR (which observes a non-integer or i64::MAX), and of
    // any completed operation but a SET.
    let mut observed_ns: BTreeMap<State, u64> = BTreeMap::new();
    let mut removed_ns: Option<u64> = None;
    let mut refused_ns: Option<u64> = None;
    let mut answered_ns: Option<u64> = None;
    let mut transaction_ns: Option<u64> = None;
    for record in records {
        let (Some(returned_ns), Completion::Returned { output, .. }) =
            (returned_by(record), &record.completion)
        else {
            continue;
        };
        let mut observe = |state: State| {
            let latest = observed_ns.entry(state).or_insert(returned_ns);
            *latest = (*latest).max(returned_ns);
        };
        match output {
            Output::Get(value) => observe(values.returned(value).expect("values checked first")),
            Output::Del(false) => observe(ABSENT),
            Output::Del(true) => removed_ns = removed_ns.max(Some(returned_ns)),
            Output::Incr(Some(n)) => {
                // What it found: n - 1, or absence for 1.
                if *n == 1 {
                    observe(ABSENT);
                }
                if let Some(&state) = n.checked_sub(1).and_then(|m| values.integers.get(&m)) {
                    observe(state);
                }
            }
            Output::Incr(None) => refused_ns = refused_ns.max(Some(returned_ns)),
            Output::Multi(_) => transaction_ns = transaction_ns.max(Some(returned_ns)),
            Output::Set => {}
        }
        if !matches!(output, Output::Set) {
            answered_ns = answered_ns.max(Some(returned_ns));
        }
    }
    // Indeterminate transactions that write are all kept, and may count on as INCRs do.
    let has_increment_unknown = records.iter().any(|record| {
        let is_counter = match &record.operation {
            Operation::Incr { .. } => answered_ns.is_some_and(|ns| ns >= record.invoked_ns),
            operation @ Operation::Multi { .. } => operation.is_write(),
            _ => false,
        };
        is_counter && record.is_indeterminate()
    });
    let is_observable = |state: State, invoked_ns: u64| {
        let is_after = |ns: Option<u64>| ns.is_some_and(|ns| ns >= invoked_ns);
        let increment = model.increments[state as usize];
        is_after(observed_ns.get(&state).copied())
            || is_after(transaction_ns)
            || (state != ABSENT && is_after(removed_ns))
            || (increment == Increment::Refused && is_after(refused_ns))
            || (matches!(increment, Increment::To(_)) && has_increment_unknown)
    };
    // A completed operation's step; a transaction's queued ones, with or without outputs.
    let step_of = |operation: &Operation, output: Option<&Output>| match (operation, output) {
        (Operation::Get { .. }, Some(Output::Get(value))) => Some(Step::Get(
            values.returned(value).expect("values checked first"),
        )),
        (Operation::Get { .. }, None) => None,
        (Operation::Set { value, .. }, _) => Some(Step::Set(values.written(value))),
        (Operation::SetPx { value, .. }, _) => Some(Step::SetPx(values.written(value))),
        (Operation::Del { .. }, Some(Output::Del(removed))) => Some(Step::Del(Some(*removed))),
        (Operation::Del { .. }, None) => Some(Step::Del(None)),
        (Operation::Incr { .. }, Some(Output::Incr(Some(n)))) => {
            Some(Step::Incr(values.integers[n]))
        }
        (Operation::Incr { .. }, Some(Output::Incr(None))) => Some(Step::IncrRefused),
        (Operation::Incr { .. }, None) => Some(Step::IncrUnknown),
        _ => unreachable!("History::complete checks the output's kind"),
    };
    let mut transactions: Vec<Vec<Step>> = Vec::new();
    let mut transaction = |record: &Record| {
        let steps = exchanges(record)
            .into_iter()
            .filter_map(|(operation, output)| step_of(operation, output))
            .collect();
        let index = u32::try_from(transactions.len()).expect("fewer than 2^32 transactions");
        transactions.push(steps);
        Step::Multi(index)
    };

    let mut kept: Vec<(&Record, Step, Option<u64>)> = Vec::with_capacity(records.len());
    for &record in records {
        let returned_ns = returned_by(record);
        let step = match (&record.operation, &record.completion) {
            (_, Completion::Failed) => unreachable!("partition drops failed operations"),
            (Operation::Multi { .. }, Completion::Returned { .. }) => transaction(record),
            (operation, Completion::Returned { output, .. }) => {
                step_of(operation, Some(output)).expect("a completed operation has a step")
            }
            (Operation::Get { .. }, Completion::InFlight | Completion::Timeout) => continue,
            (operation @ Operation::Multi { .. }, Completion::InFlight | Completion::Timeout) => {
                if !operation.is_write() {
                    continue;
                }
                transaction(record)
            }
            (Operation::SetPx { value, .. }, Completion::InFlight | Completion::Timeout) => {
                Step::SetPx(values.written(value))
            }
            (Operation::Set { value, .. }, Completion::InFlight | Completion::Timeout) => {
                let state = values.written(value);
                if !is_observable(state, record.invoked_ns) {
                    continue;
                }
                Step::Set(state)
            }
            (Operation::Del { .. }, Completion::InFlight | Completion::Timeout) => {
                if !is_observable(ABSENT, record.invoked_ns) {
                    continue;
                }
                Step::Del(None)
            }
            (Operation::Incr { .. }, Completion::InFlight | Completion::Timeout) => {
                if answered_ns.is_none_or(|ns| ns < record.invoked_ns) {
                    continue;
                }
                Step::IncrUnknown
            }
        };
        kept.push((record, step, returned_ns));
    }
    model.transactions = transactions;

    // Places on connections, in the order sent (records are in id order).
    let mut connections: BTreeMap<ConnectionId, (u32, u32, u32, Option<u64>)> = BTreeMap::new();
    let mut places = Vec::with_capacity(kept.len());
    for (index, &(record, _, returned_ns)) in kept.iter().enumerate() {
        let place = if is_ordered {
            let count = connections.len() as u32;
            // (connection number, operations so far, position of the last completed one,
            // its return)
            let connection = connections
                .entry(record.connection)
                .or_insert((count, 0, 0, None));
            connection.1 += 1;
            let place = Place {
                connection: connection.0,
                position: connection.1,
                after: connection.2,
                after_returned_ns: connection.3,
                is_last: false,
            };
            if returned_ns.is_some() {
                connection.2 = connection.1;
                connection.3 = returned_ns;
            }
            place
        } else {
            Place {
                connection: u32::try_from(index).expect("fewer than 2^32 operations"),
                position: 1,
                after: 0,
                after_returned_ns: None,
                is_last: true,
            }
        };
        places.push(place);
    }
    if is_ordered {
        let mut lengths = vec![0; connections.len()];
        for &(number, length, ..) in connections.values() {
            lengths[number as usize] = length;
        }
        for place in &mut places {
            place.is_last = lengths[place.connection as usize] == place.position;
        }
    }
    kept.into_iter()
        .zip(places)
        .map(|((record, step, returned_ns), place)| KeyOperation {
            id: record.id,
            step,
            invoked_ns: record.invoked_ns,
            returned_ns,
            place,
        })
        .collect()
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Linearizable => f.write_str("linearizable"),
            Outcome::NotLinearizable { explanation, .. } => write!(f, "{explanation}"),
            Outcome::Unknown {
                key,
                search_steps_max,
            } => write!(
                f,
                "unknown: the search on key {} used up its {search_steps_max} steps",
                Quoted(key)
            ),
            Outcome::Unsupported { key } => write!(
                f,
                "unsupported: key {} has an INCR whose reply never came and a SET ... PX",
                Quoted(key)
            ),
        }
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = Quoted(&self.key);
        writeln!(
            f,
            "not linearizable: no order of the operations on key {key} agrees with real time, \
             with the order each connection sent them in, and with a register that starts absent"
        )?;
        if self.is_order_violation {
            writeln!(
                f,
                "ignoring connection order they are linearizable: some connection's operations \
                 took effect out of the order it sent them in"
            )?;
        }
        writeln!(
            f,
            "operations on {key} ({}; times in ns; one that returned at t overlaps one invoked \
             at t; one whose reply never came may take effect at any later time or never):",
            count(self.history.len(), "operation"),
        )?;
        write!(f, "{}", self.history)?;
        for &id in &self.values_unwritten {
            let line = self.line(id);
            writeln!(f, "{line}: no write of {key} produces this value")?;
        }
        for deadline in &self.deadlines {
            let line = self.line(deadline.operation);
            writeln!(
                f,
                "{line}: took effect by {}, since its connection sent {} {} after it, which {} \
                 {} {} read by then",
                deadline.by_ns,
                deadline.writer.id,
                deadline.writer.operation,
                deadline.reader.id,
                deadline.reader.client,
                deadline.reader.operation,
            )?;
        }
        if let Some(prefix) = &self.prefix_longest {
            writeln!(
                f,
                "longest linearizable prefix found ({}), each with the value after it:",
                count(prefix.operations.len(), "operation"),
            )?;
            let mut value: Option<Bytes> = None;
            for &id in &prefix.operations {
                let line = self.line(id);
                if let Some(record) = self.history.get(id) {
                    value = value_after(&record.operation, value);
                }
                let after = value
                    .as_ref()
                    .map_or("(nil)".to_owned(), |value| Quoted(value).to_string());
                writeln!(f, "  {line:<48} then {after}")?;
            }
            if let Some(id) = prefix.blocked {
                let line = self.line(id);
                writeln!(
                    f,
                    "{line}: had to take effect next, by its return, and cannot after this prefix"
                )?;
            }
        }
        Ok(())
    }
}

/// The key's value after `operation` takes effect on `value` (an expiry is not shown).
fn value_after(operation: &Operation, value: Option<Bytes>) -> Option<Bytes> {
    match operation {
        Operation::Get { .. } => value,
        Operation::Set { value, .. } | Operation::SetPx { value, .. } => Some(value.clone()),
        Operation::Multi { ops, .. } => ops.iter().fold(value, |value, op| value_after(op, value)),
        Operation::Del { .. } => None,
        Operation::Incr { .. } => {
            let current = value.as_deref().map_or(Some(0), integer);
            match current.and_then(|n| n.checked_add(1)) {
                Some(next) => Some(Bytes::from(next.to_string())),
                None => value,
            }
        }
    }
}

impl Explanation {
    /// `#id client n OPERATION -> OUTPUT`, for naming an operation of the report on one line.
    fn line(&self, id: OperationId) -> String {
        match self.history.get(id) {
            Some(record) => {
                let output = match &record.completion {
                    Completion::Returned { output, .. } => output.to_string(),
                    Completion::InFlight | Completion::Timeout | Completion::Failed => {
                        "?".to_owned()
                    }
                };
                format!(
                    "{id} {} {} {} -> {output}",
                    record.client, record.connection, record.operation
                )
            }
            None => id.to_string(),
        }
    }
}

/// "1 operation", "3 operations".
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::history::{ClientId, ConnectionId};
    use crate::testing::{self, BruteOrder, Workload};

    /// Records one completed operation.
    fn done(
        history: &mut History,
        client: u64,
        invoked_ns: u64,
        returned_ns: u64,
        operation: Operation,
        output: Output,
    ) -> OperationId {
        let id = history.invoke(ClientId(client), invoked_ns, operation);
        history.complete(id, returned_ns, output);
        id
    }

    /// Records one operation that timed out.
    fn timed_out(
        history: &mut History,
        client: u64,
        invoked_ns: u64,
        operation: Operation,
    ) -> OperationId {
        let id = history.invoke(ClientId(client), invoked_ns, operation);
        history.timeout(id);
        id
    }

    fn read(value: &'static str) -> Output {
        Output::Get(Some(Bytes::from_static(value.as_bytes())))
    }

    /// The explanation of a history that must fail on `key`.
    fn violation(history: &History, key: &str) -> Explanation {
        match check(history) {
            Outcome::NotLinearizable {
                key: failed,
                explanation,
            } => {
                assert_eq!(
                    failed,
                    key.as_bytes(),
                    "failed on the wrong key:\n{explanation}"
                );
                *explanation
            }
            other => panic!("expected a violation on {key:?}, got {other:?}\n{history}"),
        }
    }

    fn assert_linearizable(history: &History) {
        let outcome = check(history);
        assert_eq!(outcome, Outcome::Linearizable, "{outcome}\n{history}");
    }

    #[test]
    fn stale_read_after_a_later_set_is_caught() {
        // Goal: a read may not return a value overwritten before it began. Method: SET a, SET b,
        // then a GET invoked after both returned reads a.
        let mut history = History::new();
        done(
            &mut history,
            1,
            0,
            10,
            Operation::set("k", "a"),
            Output::Set,
        );
        done(
            &mut history,
            1,
            20,
            30,
            Operation::set("k", "b"),
            Output::Set,
        );
        done(&mut history, 2, 40, 50, Operation::get("k"), read("a"));
        violation(&history, "k");
    }

    #[test]
    fn lost_write_read_as_absent_is_caught() {
        // Goal: an acknowledged SET must be visible to a later read. Method: SET, then GET nil.
        let mut history = History::new();
        done(
            &mut history,
            1,
            0,
            10,
            Operation::set("k", "a"),
            Output::Set,
        );
        done(
            &mut history,
            2,
            20,
            30,
            Operation::get("k"),
            Output::Get(None),
        );
        violation(&history, "k");
    }

    #[test]
    fn lost_write_read_as_the_earlier_value_is_caught() {
        // Goal: the same, when the read sees the value from before the lost SET.
        let mut history = History::new();
        done(
            &mut history,
            1,
            0,
            10,
            Operation::set("k", "a"),
            Output::Set,
        );
        done(
            &mut history,
            1,
            20,
            30,
            Operation::set("k", "b"),
            Output::Set,
        );
        done(&mut history, 2, 40, 50, Operation::get("k"), read("b"));
        done(&mut history, 3, 60, 70, Operation::get("k"), read("a"));
        violation(&history, "k");
    }

    #[test]
    fn read_of_a_value_never_written_is_caught() {
        // Goal: a value out of nowhere fails without a search, and the report names the read.
        let mut history = History::new();
        done(
            &mut history,
            1,
            0,
            10,
            Operation::set("k", "a"),
            Output::Set,
        );
        let get = done(&mut history, 2, 5, 15, Operation::get("k"), read("z"));
        let explanation = violation(&history, "k");
        assert_eq!(explanation.values_unwritten, vec![get]);
        assert_eq!(explanation.prefix_longest, None);
    }

    #[test]
    fn del_reporting_true_on_an_absent_key_is_caught() {
        // Goal: DEL may only report a removal if the key was present. Method: DEL -> 1 on a key
        // that was never set.
        let mut history = History::new();
        done(
            &mut history,
            1,
            0,
            10,
            Operation::del("k"),
            Output::Del(true),
        );
        violation(&history, "k");
    }

    #[test]
    fn del_reporting_true_after_a_removal_is_caught() {
        // Goal: the same when the key was set and already removed by an earlier DEL.
        let mut history = History::new();
        done(
            &mut history,
            1,
            0,
            10,
            Operation::set("k", "a"),
            Output::Set,
        );
        done(
            &mut history,
            1,
            20,
            30,
            Operation::del("k"),
            Output::Del(true),
        );
        done(
            &mut history,
            2,
            40,
            50,
            Operation::del("k"),
            Output::Del(true),
        );
        violation(&history, "k");
    }

    #[test]
    fn sequential_reads_in_an_order_no_write_order_allows_are_caught() {
        // Goal: two reads, one after the other, cannot see writes in an order neither write
        // order explains. Method: SET a precedes SET b; a read sees b, a later read sees a.
        let mut history = History::new();
        done(
            &mut history,
            1,
            0,
            10,
            Operation::set("k", "a"),
            Output::Set,
        );
        done(
            &mut history,
            2,
            20,
            100,
            Operation::set("k", "b"),
            Output::Set,
        );
        done(&mut history, 3, 30, 40, Operation::get("k"), read("b"));
        done(&mut history, 3, 50, 60, Operation::get("k"), read("a"));
        violation(&history, "k");
    }

    #[test]
    fn reads_flip_flopping_between_two_concurrent_writes_are_caught() {
        // Goal: with two concurrent SETs either order is fine, but not both. Method: reads see
        // a, then b, then a again, while both SETs are in flight.
        let mut history = History::new();
        done(
            &mut history,
            1,
            0,
            100,
            Operation::set("k", "a"),
            Output::Set,
        );
        done(
            &mut history,
            2,
            0,
            100,
            Operation::set("k", "b"),
            Output::Set,
        );
        done(&mut history, 3, 10, 20, Operation::get("k"), read("a"));
        done(&mut history, 3, 30, 40, Operation::get("k"), read("b"));
        done(&mut history, 3, 50, 60, Operation::get("k"), read("a"));
        violation(&history, "k");
    }

    #[test]
    fn concurrent_set_and_get_may_see_either_value() {
        // Goal: a GET overlapping a SET may see the value before or after it. Method: one
        // history for each answer.
        for output in [read("a"), read("b")] {
            let mut history = History::new();
            done(
                &mut history,
                1,
                0,
                10,
                Operation::set("k", "a"),
                Output::Set,
            );
            done(
                &mut history,
                1,
                20,
                40,
                Operation::set("k", "b"),
                Output::Set,
            );
            done(&mut history, 2, 25, 35, Operation::get("k"), output);
            assert_linearizable(&history);
        }
    }

    #[test]
    fn timed_out_set_whose_value_is_later_read_is_linearizable() {
        // Goal: a SET without a reply may have taken effect. Method: a read after its
        // invocation sees its value.
        let mut history = History::new();
        timed_out(&mut history, 1, 0, Operation::set("k", "a"));
        done(&mut history, 2, 500, 510, Operation::get("k"), read("a"));
        assert_linearizable(&history);
    }

    #[test]
    fn timed_out_set_never_read_is_linearizable() {
        // Goal: a SET without a reply may never take effect. Method: every later read sees the
        // key absent, or the value of a completed SET after it.
        let mut history = History::new();
        timed_out(&mut history, 1, 0, Operation::set("k", "lost"));
        done(
            &mut history,
            2,
            10,
            20,
            Operation::get("k"),
            Output::Get(None),
        );
        done(
            &mut history,
            2,
            30,
            40,
            Operation::set("k", "b"),
            Output::Set,
        );
        done(&mut history, 2, 50, 60, Operation::get("k"), read("b"));
        done(&mut history, 2, 70, 80, Operation::get("k"), read("b"));
        assert_linearizable(&history);
    }

    #[test]
    fn timed_out_set_takes_effect_at_most_once() {
        // Goal: an indeterminate SET is one write, not a value that can come back. Method: its
        // value is read, then overwritten, then read again.
        let mut history = History::new();
        timed_out(&mut history, 1, 0, Operation::set("k", "a"));
        done(&mut history, 2, 10, 20, Operation::get("k"), read("a"));
        done(
            &mut history,
            2,
            30,
            40,
            Operation::set("k", "b"),
            Output::Set,
        );
        done(&mut history, 2, 50, 60, Operation::get("k"), read("a"));
        violation(&history, "k");
    }

    #[test]
    fn read_returning_before_a_timed_out_set_was_invoked_cannot_see_it() {
        // Goal: a timed-out SET takes effect after its invocation, never before.
        let mut history = History::new();
        done(&mut history, 2, 10, 20, Operation::get("k"), read("a"));
        timed_out(&mut history, 1, 30, Operation::set("k", "a"));
        violation(&history, "k");
    }

    #[test]
    fn timed_out_set_can_explain_a_del_that_removed_something() {
        // Goal: an unread indeterminate SET is still kept when a DEL -> 1 needs it.
        let mut history = History::new();
        timed_out(&mut history, 1, 0, Operation::set("k", "a"));
        done(
            &mut history,
            2,
            10,
            20,
            Operation::del("k"),
            Output::Del(true),
        );
        assert_linearizable(&history);
    }

    #[test]
    fn timed_out_del_can_explain_an_absent_read() {
        // Goal: a DEL without a reply may have removed the key. Method: SET, DEL times out, a
        // read sees nothing; and the same read is a violation without the DEL.
        let mut history = History::new();
        done(
            &mut history,
            1,
            0,
            10,
            Operation::set("k", "a"),
            Output::Set,
        );
        timed_out(&mut history, 1, 20, Operation::del("k"));
        done(
            &mut history,
            2,
            30,
            40,
            Operation::get("k"),
            Output::Get(None),
        );
        assert_linearizable(&history);

        let mut history = History::new();
        done(
            &mut history,
            1,
            0,
            10,
            Operation::set("k", "a"),
            Output::Set,
        );
        done(
            &mut history,
            2,
            30,
            40,
            Operation::get("k"),
            Output::Get(None),
        );
        violation(&history, "k");
    }

    #[test]
    fn operation_still_in_flight_is_checked_as_indeterminate() {
        // Goal: a run that stops with a SET in flight may have applied it, or not.
        for output in [read("a"), Output::Get(None)] {
            let mut history = History::new();
            history.invoke(ClientId(1), 0, Operation::set("k", "a"));
            done(&mut history, 2, 10, 20, Operation::get("k"), output);
            assert_linearizable(&history);
        }
    }

    #[test]
    fn failed_set_never_takes_effect() {
        // Goal: a SET recorded as failed is left out. Method: a read of its value is one of a
        // value never written.
        let mut history = History::new();
        let set = history.invoke(ClientId(1), 0, Operation::set("k", "a"));
        history.fail(set);
        done(&mut history, 2, 10, 20, Operation::get("k"), read("a"));
        let explanation = violation(&history, "k");
        assert!(explanation
            .to_string()
            .contains("failed, did not take effect"));
    }

    #[test]
    fn empty_history_is_linearizable() {
        assert_linearizable(&History::new());
    }

    #[test]
    fn operation_returning_at_the_instant_another_is_invoked_overlaps_it() {
        // Goal: equal timestamps mean "concurrent". Method: SET b returns at 20 and a GET is
        // invoked at 20; the GET may still see a.
        let mut history = History::new();
        done(
            &mut history,
            1,
            0,
            10,
            Operation::set("k", "a"),
            Output::Set,
        );
        done(
            &mut history,
            1,
            15,
            20,
            Operation::set("k", "b"),
            Output::Set,
        );
        done(&mut history, 2, 20, 30, Operation::get("k"), read("a"));
        assert_linearizable(&history);
    }

    #[test]
    fn operation_returning_strictly_before_another_is_invoked_precedes_it() {
        // Goal: the other side of the convention: one nanosecond earlier and the GET must see b.
        let mut history = History::new();
        done(
            &mut history,
            1,
            0,
            10,
            Operation::set("k", "a"),
            Output::Set,
        );
        done(
            &mut history,
            1,
            15,
            19,
            Operation::set("k", "b"),
            Output::Set,
        );
        done(&mut history, 2, 20, 30, Operation::get("k"), read("a"));
        violation(&history, "k");
    }

    /// A lost write on key "k" with enough around it to make the report interesting.
    fn lost_write_history() -> History {
        let mut history = History::new();
        done(
            &mut history,
            1,
            0,
            10,
            Operation::set("k", "a"),
            Output::Set,
        );
        done(&mut history, 2, 5, 15, Operation::get("k"), read("a"));
        done(
            &mut history,
            1,
            20,
            30,
            Operation::set("k", "b"),
            Output::Set,
        );
        timed_out(&mut history, 3, 25, Operation::del("other"));
        done(&mut history, 2, 40, 50, Operation::get("k"), read("a"));
        history
    }

    #[test]
    fn explanation_shows_the_key_history_and_the_longest_prefix() {
        // Goal: a report names the key, lists its operations and shows how far the search got.
        // Method: a lost write; the longest prefix is the first three operations and the last
        // read is the one that cannot follow.
        let history = lost_write_history();
        let explanation = violation(&history, "k");
        let prefix = explanation.prefix_longest.clone().expect("the search ran");
        assert_eq!(
            prefix.operations,
            vec![OperationId(0), OperationId(1), OperationId(2)]
        );
        assert_eq!(prefix.blocked, Some(OperationId(4)));
        assert_eq!(explanation.history.len(), 4, "only the operations on k");

        let rendered = explanation.to_string();
        let expected = "\
not linearizable: no order of the operations on key \"k\" agrees with real time, with the order each connection sent them in, and with a register that starts absent
operations on \"k\" (4 operations; times in ns; one that returned at t overlaps one invoked at t; one whose reply never came may take effect at any later time or never):
  #0     client 1   conn 0   [0, 10]                  SET \"k\" \"a\" -> OK
  #1     client 2   conn 1   [5, 15]                  GET \"k\" -> \"a\"
  #2     client 1   conn 0   [20, 30]                 SET \"k\" \"b\" -> OK
  #4     client 2   conn 1   [40, 50]                 GET \"k\" -> \"a\"
longest linearizable prefix found (3 operations), each with the value after it:
  #0 client 1 conn 0 SET \"k\" \"a\" -> OK             then \"a\"
  #1 client 2 conn 1 GET \"k\" -> \"a\"                then \"a\"
  #2 client 1 conn 0 SET \"k\" \"b\" -> OK             then \"b\"
#4 client 2 conn 1 GET \"k\" -> \"a\": had to take effect next, by its return, and cannot after this prefix
";
        assert_eq!(rendered, expected);
    }

    #[test]
    fn explanation_is_the_same_on_every_run() {
        // Goal: determinism. Method: check a failing concurrent history twice, from two copies.
        let mut plans = testing::concurrent(&Workload {
            seed: 7,
            clients: 6,
            keys: 3,
            operations: 600,
            timeout_percent: 10,
            fail_percent: 5,
            depth: 1,
        });
        testing::corrupt_read(&mut plans, 40).expect("the workload reads");
        let first = check(&testing::record(&plans));
        let second = check(&testing::record(&plans.clone()));
        assert!(!first.is_linearizable());
        assert_eq!(first.to_string(), second.to_string());
        assert_eq!(first, second);
    }

    #[test]
    fn exhausted_budget_reports_unknown() {
        // Goal: a search that cannot finish says so instead of guessing. Method: 20 concurrent
        // SETs, then reads that flip between two of them, which only a search through every
        // write order can rule out; the budget allows 1,000 steps.
        let mut history = History::new();
        for client in 0..20 {
            let value = format!("v{client}");
            done(
                &mut history,
                client,
                0,
                100,
                Operation::set("k", value),
                Output::Set,
            );
        }
        done(&mut history, 20, 200, 210, Operation::get("k"), read("v0"));
        done(&mut history, 20, 220, 230, Operation::get("k"), read("v1"));
        done(&mut history, 20, 240, 250, Operation::get("k"), read("v0"));
        assert_eq!(
            check_bounded(&history, 1_000),
            Outcome::Unknown {
                key: Bytes::from_static(b"k"),
                search_steps_max: 1_000
            }
        );
    }

    #[test]
    fn violation_on_one_key_beats_an_exhausted_search_on_another() {
        // Goal: a definite answer wins over "unknown". Method: the flip-flop reads of
        // `exhausted_budget_reports_unknown` on "a", a lost write on "b".
        let mut history = History::new();
        for client in 0..20 {
            let value = format!("v{client}");
            done(
                &mut history,
                client,
                0,
                100,
                Operation::set("a", value),
                Output::Set,
            );
        }
        done(&mut history, 20, 200, 210, Operation::get("a"), read("v0"));
        done(&mut history, 20, 220, 230, Operation::get("a"), read("v1"));
        done(&mut history, 20, 240, 250, Operation::get("a"), read("v0"));
        done(
            &mut history,
            21,
            0,
            10,
            Operation::set("b", "x"),
            Output::Set,
        );
        done(
            &mut history,
            21,
            20,
            30,
            Operation::get("b"),
            Output::Get(None),
        );
        assert!(matches!(
            check_bounded(&history, 1_000),
            Outcome::NotLinearizable { key, .. } if key == "b"
        ));
    }

    #[test]
    fn shortest_failing_key_is_reported() {
        // Goal: of two failing keys the report shows the shorter history. Method: "a" fails
        // with three operations, "b" with two.
        let mut history = History::new();
        done(
            &mut history,
            1,
            0,
            10,
            Operation::set("a", "1"),
            Output::Set,
        );
        done(
            &mut history,
            1,
            20,
            30,
            Operation::set("a", "2"),
            Output::Set,
        );
        done(&mut history, 1, 40, 50, Operation::get("a"), read("1"));
        done(
            &mut history,
            2,
            0,
            10,
            Operation::set("b", "1"),
            Output::Set,
        );
        done(
            &mut history,
            2,
            20,
            30,
            Operation::get("b"),
            Output::Get(None),
        );
        violation(&history, "b");
    }

    /// Every key gets eight SETs that all overlap, and then a read of one of them.
    fn many_overlapping_keys(keys: u64) -> History {
        let mut history = History::new();
        for key in 0..keys {
            let key_name = format!("key{key:03}");
            for writer in 0..8 {
                let id = history.invoke(
                    ClientId(writer),
                    0,
                    Operation::set(key_name.clone(), format!("v{writer}")),
                );
                history.complete(id, 100, Output::Set);
            }
            let read_value = Bytes::from(format!("v{}", key % 8));
            let id = history.invoke(ClientId(8), 200 + key, Operation::get(key_name));
            history.complete(id, 200 + key, Output::Get(Some(read_value)));
        }
        history
    }

    #[test]
    fn history_with_many_keys_is_checked_key_by_key() {
        // Goal: keys are checked apart (P-compositionality). Method: 100 keys, each with 8
        // overlapping SETs. Checked as one history, 800 overlapping operations would be far
        // beyond any budget (the memo alone would hold up to 2^800 sets); key by key each
        // search meets at most 8 * 2^7 (set, state) pairs, so 100,000 steps per key is plenty.
        // A lost write on one key is then reported with that key's operations alone.
        let history = many_overlapping_keys(100);
        let groups = partition(&history);
        assert_eq!(groups.len(), 100);
        for (key, records) in &groups {
            assert_eq!(records.len(), 9);
            assert!(records.iter().all(|record| record.operation.key() == key));
        }
        assert_eq!(check_bounded(&history, 100_000), Outcome::Linearizable);

        let mut history = history;
        done(
            &mut history,
            9,
            300,
            310,
            Operation::set("key042", "x"),
            Output::Set,
        );
        done(
            &mut history,
            9,
            320,
            330,
            Operation::get("key042"),
            read("v2"),
        );
        let explanation = violation(&history, "key042");
        assert_eq!(explanation.history.len(), 11);
        assert!(explanation
            .history
            .records()
            .all(|record| record.operation.key() == "key042"));
    }

    #[test]
    fn concurrent_model_histories_with_faults_are_linearizable() {
        // Goal: no false alarms on realistic histories. Method: seeded runs of clients against
        // a reference map, with timeouts (half applied) and failures.
        for seed in 0..20 {
            let plans = testing::concurrent(&Workload {
                seed,
                clients: 8,
                keys: 3,
                operations: 1_000,
                timeout_percent: 10,
                fail_percent: 5,
                depth: 1,
            });
            let history = testing::record(&plans);
            let outcome = check(&history);
            assert_eq!(outcome, Outcome::Linearizable, "seed {seed}: {outcome}");
        }
    }

    #[test]
    fn concurrent_model_histories_with_a_corrupted_read_are_caught() {
        // Goal: a read of a value never written is caught in a busy history, on its key.
        for seed in 0..20 {
            let mut plans = testing::concurrent(&Workload {
                seed,
                clients: 8,
                keys: 3,
                operations: 1_000,
                timeout_percent: 10,
                fail_percent: 5,
                depth: 1,
            });
            let key = testing::corrupt_read(&mut plans, seed as usize * 13).expect("reads");
            match check(&testing::record(&plans)) {
                Outcome::NotLinearizable { key: failed, .. } => assert_eq!(failed, key),
                other => panic!("seed {seed}: expected a violation, got {other:?}"),
            }
        }
    }

    /// How many of a batch of histories each brute-force level accepted.
    #[derive(Debug, Default)]
    struct Agreement {
        /// Linearizable, connection order ignored.
        plain: u32,
        /// Linearizable with connection order within each key.
        within_keys: u32,
        /// Linearizable with connection order across keys too.
        connections: u32,
    }

    /// Compares `check` with `testing::brute_force` on `rounds` seeded `testing::small`
    /// histories, and returns how many each level of brute force accepted. With
    /// `is_shuffled`, operations are recorded out of time order.
    ///
    /// Without connection order, and with it within keys, the two must agree exactly. Across
    /// keys `check` enforces only the deadlines, so it sits between: whatever the full brute
    /// force accepts `check` accepts, and whatever `check` accepts the within-key one does.
    fn agree_with_brute_force(
        seed: u64,
        rounds: u32,
        operations_max: u64,
        timeout_percent: u64,
        is_shuffled: bool,
        has_ttls: bool,
    ) -> Agreement {
        let mut rng = testing::Rng::new(seed);
        let mut agreement = Agreement::default();
        for round in 0..rounds {
            let plans = testing::small(&mut rng, operations_max, timeout_percent, has_ttls);
            let history = if is_shuffled {
                testing::record_shuffled(&plans, &mut rng)
            } else {
                testing::record(&plans)
            };
            let levels = [
                (Order::None, BruteOrder::None),
                (Order::WithinKeys, BruteOrder::WithinKeys),
            ];
            let mut expected = [false; 2];
            for (level, (order, brute_order)) in levels.into_iter().enumerate() {
                expected[level] = testing::brute_force(&history, brute_order);
                let outcome = check_with(&history, SEARCH_STEPS_MAX, order);
                assert!(
                    !matches!(outcome, Outcome::Unknown { .. }),
                    "round {round}: {outcome}"
                );
                assert_eq!(
                    outcome.is_linearizable(),
                    expected[level],
                    "round {round}, {order:?}: brute force says {}, check says\n{outcome}\n{history}",
                    expected[level],
                );
            }
            let full = testing::brute_force(&history, BruteOrder::Connections);
            let outcome = check(&history);
            assert!(
                !full || outcome.is_linearizable(),
                "round {round}: brute force accepts, check says\n{outcome}\n{history}"
            );
            assert!(
                !outcome.is_linearizable() || expected[1],
                "round {round}: check accepts what order within keys rules out\n{history}"
            );
            agreement.plain += u32::from(expected[0]);
            agreement.within_keys += u32::from(expected[1]);
            agreement.connections += u32::from(full);
        }
        agreement
    }

    #[test]
    fn check_agrees_with_brute_force_on_small_histories() {
        // Goal: the pruning, the memo, the restrictions on indeterminate writes and the
        // connection-order conditions never change the verdict. Method: 20,000 seeded
        // histories of up to 7 overlapping operations over two keys and three values (one an
        // integer), INCRs included, on a few pipelining connections, with timeouts and
        // failures, a quarter with two operations of a connection swapped, half of them with
        // one output changed; compare `check` with trying every order on the whole map.
        let agreement = agree_with_brute_force(0x5E5A_7000, 20_000, 7, 15, false, false);
        println!("{agreement:?}");
        assert!((8_000..16_000).contains(&agreement.plain), "{agreement:?}");
        // Connection order rules out some histories that are linearizable without it.
        assert!(
            agreement.within_keys + 500 < agreement.plain,
            "{agreement:?}"
        );
    }

    #[test]
    fn check_agrees_with_brute_force_when_many_operations_time_out() {
        // Goal: the same with indeterminate operations everywhere, where the twin and
        // awaiting rules of the search do most of their work. Method: up to 10 operations,
        // 40% of which time out.
        let agreement = agree_with_brute_force(0x5E5A_7001, 5_000, 10, 40, false, false);
        println!("{agreement:?}");
        assert!((2_000..4_500).contains(&agreement.plain), "{agreement:?}");
    }

    #[test]
    fn check_agrees_with_brute_force_when_operations_are_recorded_out_of_time_order() {
        // Goal: nothing in the search leans on ids following time (a recorder may invoke in
        // any order, each connection's operations in the order sent). Method: as above, with
        // invocations recorded in a shuffled order.
        let agreement = agree_with_brute_force(0x5E5A_7002, 5_000, 10, 40, true, false);
        println!("{agreement:?}");
        assert!((2_000..4_500).contains(&agreement.plain), "{agreement:?}");
    }

    #[test]
    fn check_agrees_with_brute_force_with_expiring_keys_and_transactions() {
        // Goal: the TTL states, the expiry rules and transactions never change the verdict.
        // Method: as above, with SET ... PX on one key (which expires before a third of the
        // effects), INCR on the other, and transactions of one to three operations on both.
        for (seed, rounds, operations_max, timeout_percent, is_shuffled) in [
            (0x5E5A_7010, 10_000, 7, 15, false),
            (0x5E5A_7011, 3_000, 9, 40, false),
            (0x5E5A_7012, 3_000, 9, 40, true),
        ] {
            let agreement = agree_with_brute_force(
                seed,
                rounds,
                operations_max,
                timeout_percent,
                is_shuffled,
                true,
            );
            println!("{agreement:?}");
            // Both verdicts are common, so both directions are tested.
            let low = rounds / 10;
            assert!(
                (low..rounds - low).contains(&agreement.plain),
                "{agreement:?}"
            );
        }
    }

    /// A completed `SET key value PX 100`.
    fn set_px(
        history: &mut History,
        client: u64,
        invoked_ns: u64,
        returned_ns: u64,
        value: &'static str,
    ) {
        done(
            history,
            client,
            invoked_ns,
            returned_ns,
            Operation::set_px("k", value, 100),
            Output::Set,
        );
    }

    #[test]
    fn expired_value_that_reappears_is_caught() {
        // Goal: a key seen expired stays gone until a new write. Method: SET PX, a read of
        // the value, a read of nothing (it expired), then the value again.
        let mut history = History::new();
        set_px(&mut history, 1, 0, 10, "a");
        done(&mut history, 2, 20, 30, Operation::get("k"), read("a"));
        done(
            &mut history,
            2,
            40,
            50,
            Operation::get("k"),
            Output::Get(None),
        );
        assert_linearizable(&history);
        done(&mut history, 3, 60, 70, Operation::get("k"), read("a"));
        let explanation = violation(&history, "k");
        assert!(!explanation.is_order_violation);
    }

    #[test]
    fn expiry_is_judged_per_value_and_a_plain_set_clears_the_ttl() {
        // Goal: a new SET PX may expire again, a plain SET never does. Method: SET PX a,
        // expired, SET PX b, read b, expired; then SET c, read nothing: caught.
        let mut history = History::new();
        set_px(&mut history, 1, 0, 10, "a");
        done(
            &mut history,
            2,
            20,
            30,
            Operation::get("k"),
            Output::Get(None),
        );
        set_px(&mut history, 1, 40, 50, "b");
        done(&mut history, 2, 60, 70, Operation::get("k"), read("b"));
        done(
            &mut history,
            2,
            80,
            90,
            Operation::del("k"),
            Output::Del(false),
        );
        assert_linearizable(&history);
        done(
            &mut history,
            1,
            100,
            110,
            Operation::set("k", "c"),
            Output::Set,
        );
        done(
            &mut history,
            2,
            120,
            130,
            Operation::get("k"),
            Output::Get(None),
        );
        violation(&history, "k");
    }

    #[test]
    fn timed_out_set_px_may_explain_an_expiry_and_then_stays_expired() {
        // Goal: an indeterminate SET PX may have replaced a value without TTL, which then
        // expired; it cannot bring its value back after. Method: SET a, a SET PX b that timed
        // out, reads of a, of nothing; then a read of b is caught.
        let mut history = History::new();
        done(
            &mut history,
            1,
            0,
            10,
            Operation::set("k", "a"),
            Output::Set,
        );
        timed_out(&mut history, 3, 15, Operation::set_px("k", "b", 100));
        done(&mut history, 2, 20, 30, Operation::get("k"), read("a"));
        done(
            &mut history,
            2,
            40,
            50,
            Operation::get("k"),
            Output::Get(None),
        );
        assert_linearizable(&history);
        done(&mut history, 2, 60, 70, Operation::get("k"), read("b"));
        violation(&history, "k");
    }

    #[test]
    fn transaction_seen_half_applied_is_caught() {
        // Goal: a transaction takes effect at one point. Method: MULTI SET a; SET b EXEC
        // concurrent with a read; the read sees a, which only a split transaction shows.
        let mut history = History::new();
        let multi = history.invoke(
            ClientId(1),
            0,
            Operation::multi(vec![Operation::set("k", "a"), Operation::set("k", "b")]),
        );
        done(&mut history, 2, 5, 15, Operation::get("k"), read("a"));
        history.complete(multi, 20, Output::Multi(vec![Output::Set, Output::Set]));
        violation(&history, "k");
    }

    #[test]
    fn transaction_interleaved_with_another_write_is_caught() {
        // Goal: nothing takes effect between a transaction's operations. Method: MULTI INCR;
        // INCR EXEC and another INCR, overlapping.
        // Answered 1, 3 with the other at 2 is split; 1, 2 with the other at 3 is fine.
        for (other, second, is_linearizable) in [(2, 3, false), (3, 2, true)] {
            let mut history = History::new();
            let multi = history.invoke(
                ClientId(1),
                0,
                Operation::multi(vec![Operation::incr("k"), Operation::incr("k")]),
            );
            let incr = history.invoke(ClientId(2), 5, Operation::incr("k"));
            history.complete(incr, 15, Output::Incr(Some(other)));
            let outputs = vec![Output::Incr(Some(1)), Output::Incr(Some(second))];
            history.complete(multi, 20, Output::Multi(outputs));
            assert_eq!(check(&history).is_linearizable(), is_linearizable);
        }
    }

    #[test]
    fn timed_out_transaction_takes_effect_wholly_or_not_at_all() {
        // Goal: an indeterminate transaction is all or nothing. Method: MULTI SET a; SET b
        // EXEC times out; a later read of b is fine, of nothing fine, of a caught.
        for (output, is_linearizable) in [
            (read("b"), true),
            (Output::Get(None), true),
            (read("a"), false),
        ] {
            let mut history = History::new();
            timed_out(
                &mut history,
                1,
                0,
                Operation::multi(vec![Operation::set("k", "a"), Operation::set("k", "b")]),
            );
            done(&mut history, 2, 20, 30, Operation::get("k"), output.clone());
            assert_eq!(
                check(&history).is_linearizable(),
                is_linearizable,
                "{output}"
            );
        }
    }

    #[test]
    fn nothing_expires_inside_a_transaction() {
        // Goal: a transaction reads at one point: a value it sees does not vanish before its
        // next operation. Method: MULTI GET; GET EXEC answering a, then nothing, is caught;
        // nothing then nothing, after a read of a, is fine.
        let transaction = || Operation::multi(vec![Operation::get("k"), Operation::get("k")]);
        let mut history = History::new();
        set_px(&mut history, 1, 0, 10, "a");
        done(
            &mut history,
            2,
            20,
            30,
            transaction(),
            Output::Multi(vec![read("a"), Output::Get(None)]),
        );
        violation(&history, "k");
        let mut history = History::new();
        set_px(&mut history, 1, 0, 10, "a");
        done(&mut history, 2, 12, 18, Operation::get("k"), read("a"));
        done(
            &mut history,
            2,
            20,
            30,
            transaction(),
            Output::Multi(vec![Output::Get(None), Output::Get(None)]),
        );
        assert_linearizable(&history);
    }

    #[test]
    fn timed_out_increment_on_a_key_with_a_ttl_is_left_undecided() {
        // Goal: the one case the checker cannot decide says so rather than guess. Method: SET
        // PX then an INCR that timed out and a read.
        let mut history = History::new();
        set_px(&mut history, 1, 0, 10, "a");
        timed_out(&mut history, 2, 20, Operation::incr("k"));
        done(&mut history, 3, 40, 50, Operation::get("k"), read("a"));
        assert_eq!(
            check(&history),
            Outcome::Unsupported {
                key: Bytes::from_static(b"k")
            }
        );
    }

    #[test]
    #[ignore = "soak: run with --release -- --ignored --nocapture (about a minute)"]
    fn check_agrees_with_brute_force_on_many_more_histories() {
        // Goal: the cross-checks above, on far more histories than CI can afford; rare
        // disagreements (one in 100,000) showed up only here. Method: 1.2 million histories
        // in three shapes.
        for seed in 0..40 {
            let shuffled = seed % 2 == 1;
            let shapes = [(20_000, 10, 30), (10_000, 12, 50), (5_000, 13, 70)];
            for (shape, (rounds, operations_max, timeout_percent)) in shapes.into_iter().enumerate()
            {
                let seed = 0xC0DE_0000 + (shape as u64) * 0x1_0000 + seed;
                let agreement = agree_with_brute_force(
                    seed,
                    rounds,
                    operations_max,
                    timeout_percent,
                    shuffled,
                    seed.is_multiple_of(4),
                );
                println!("seed {seed:x}: {agreement:?}");
            }
        }
    }

    /// Records `operation` sent on `connection` at `invoked_ns`.
    fn sent(
        history: &mut History,
        connection: ConnectionId,
        invoked_ns: u64,
        operation: Operation,
    ) -> OperationId {
        history.send(connection, invoked_ns, operation)
    }

    /// The checker's verdicts on `history` without connection order and with it.
    fn verdicts(history: &History) -> (bool, bool) {
        let plain = check_with(history, SEARCH_STEPS_MAX, Order::None).is_linearizable();
        (plain, check(history).is_linearizable())
    }

    #[test]
    fn pipelined_read_that_misses_its_connections_earlier_write_is_caught() {
        // Goal: a read sent after a write on one connection sees it, even when both are in
        // flight at once. Method: SET then GET pipelined; the GET returns nil. Linearizable
        // (the GET could go first), not in connection order.
        let mut history = History::new();
        let connection = history.connect(ClientId(1));
        let set = sent(&mut history, connection, 0, Operation::set("k", "a"));
        let get = sent(&mut history, connection, 1, Operation::get("k"));
        history.complete(set, 10, Output::Set);
        history.complete(get, 11, Output::Get(None));
        assert_eq!(verdicts(&history), (true, false));
        let explanation = violation(&history, "k");
        assert!(explanation.is_order_violation);
        assert!(explanation
            .to_string()
            .contains("ignoring connection order they are linearizable"));
    }

    #[test]
    fn pipelined_read_that_sees_its_connections_later_write_is_caught() {
        // Goal: a read does not see a write its connection sent after it. Method: GET then
        // SET pipelined; the GET returns the SET's value.
        let mut history = History::new();
        let connection = history.connect(ClientId(1));
        let get = sent(&mut history, connection, 0, Operation::get("k"));
        let set = sent(&mut history, connection, 0, Operation::set("k", "a"));
        history.complete(get, 10, read("a"));
        history.complete(set, 10, Output::Set);
        assert_eq!(verdicts(&history), (true, false));
    }

    #[test]
    fn pipelined_connection_that_keeps_its_order_is_accepted() {
        // Goal: no false alarm on a pipeline answered in order. Method: one connection sends
        // SET, GET, INCR (refused), DEL, INCR, INCR, GET at once, answered as a map in that
        // order; another client's SET overlaps them all and lands just before the DEL.
        let mut history = History::new();
        let connection = history.connect(ClientId(1));
        let ids = [
            sent(&mut history, connection, 0, Operation::set("k", "a")),
            sent(&mut history, connection, 0, Operation::get("k")),
            sent(&mut history, connection, 1, Operation::incr("k")),
            sent(&mut history, connection, 1, Operation::del("k")),
            sent(&mut history, connection, 2, Operation::incr("k")),
            sent(&mut history, connection, 2, Operation::incr("k")),
            sent(&mut history, connection, 3, Operation::get("k")),
        ];
        done(
            &mut history,
            2,
            0,
            50,
            Operation::set("k", "b"),
            Output::Set,
        );
        let outputs = [
            Output::Set,
            read("a"),
            Output::Incr(None),
            Output::Del(true),
            Output::Incr(Some(1)),
            Output::Incr(Some(2)),
            read("2"),
        ];
        for (id, output) in ids.into_iter().zip(outputs) {
            history.complete(id, 20, output);
        }
        assert_eq!(verdicts(&history), (true, true));
    }

    #[test]
    fn timed_out_write_that_took_effect_after_its_connections_later_read_is_caught() {
        // Goal: an indeterminate operation need not take effect, but if it does, it is before
        // what its connection sent after it. Method: a SET times out, the GET sent after it on
        // the same connection returns nil, and a later read by another client sees the SET's
        // value: it took effect, after the GET.
        let mut history = History::new();
        let connection = history.connect(ClientId(1));
        let set = sent(&mut history, connection, 0, Operation::set("k", "a"));
        let get = sent(&mut history, connection, 1, Operation::get("k"));
        history.timeout(set);
        history.complete(get, 5, Output::Get(None));
        done(&mut history, 2, 20, 30, Operation::get("k"), read("a"));
        assert_eq!(verdicts(&history), (true, false));
        assert!(violation(&history, "k").is_order_violation);
    }

    #[test]
    fn timed_out_write_seen_by_its_connections_later_read_is_accepted() {
        // Goal: the same timed-out SET may take effect before the GET. Method: the GET sees
        // it.
        let mut history = History::new();
        let connection = history.connect(ClientId(1));
        let set = sent(&mut history, connection, 0, Operation::set("k", "a"));
        let get = sent(&mut history, connection, 1, Operation::get("k"));
        history.timeout(set);
        history.complete(get, 5, read("a"));
        assert_eq!(verdicts(&history), (true, true));
    }

    #[test]
    fn earlier_operation_a_twin_would_rule_out_is_not_lost() {
        // Goal: two timed-out INCRs are interchangeable only if placing the earlier one rules
        // out nothing its connection sent before it. Method: the history a soak run found: an
        // INCR on a connection after a timed-out DEL, a twin INCR on another connection, a
        // read of 1 and then an INCR answering 1. Only "the other INCR, the read, the DEL,
        // the INCR" explains it: the first INCR would rule out its connection's DEL.
        let mut history = History::new();
        let connection = history.connect(ClientId(3));
        let del = sent(&mut history, connection, 2, Operation::del("a"));
        let incr = sent(&mut history, connection, 5, Operation::incr("a"));
        history.timeout(del);
        history.timeout(incr);
        timed_out(&mut history, 4, 5, Operation::incr("a"));
        timed_out(&mut history, 1, 12, Operation::incr("a"));
        done(&mut history, 5, 14, 16, Operation::get("a"), read("1"));
        done(
            &mut history,
            0,
            22,
            26,
            Operation::incr("a"),
            Output::Incr(Some(1)),
        );
        assert_eq!(verdicts(&history), (true, true));
        assert!(testing::brute_force(&history, BruteOrder::Connections));
    }

    /// A connection that sends `SET a x` then `SET b y`, pipelined, both answered late;
    /// `reader` then adds reads by other clients.
    fn two_keys_in_order(reader: impl FnOnce(&mut History)) -> History {
        let mut history = History::new();
        let connection = history.connect(ClientId(1));
        let a = sent(&mut history, connection, 0, Operation::set("a", "x"));
        let b = sent(&mut history, connection, 1, Operation::set("b", "y"));
        reader(&mut history);
        history.complete(a, 100, Output::Set);
        history.complete(b, 101, Output::Set);
        history
    }

    #[test]
    fn cross_key_order_seen_by_a_later_reader_is_caught() {
        // Goal: the deadline across keys. Method: SET a then SET b on one connection; another
        // client reads b's new value, returning at 10, and then reads a as absent: SET b took
        // effect by 10, so SET a did too. Each key alone is linearizable (both SETs are still
        // in flight when the reads run).
        let history = two_keys_in_order(|history| {
            done(history, 2, 5, 10, Operation::get("b"), read("y"));
            done(history, 2, 20, 30, Operation::get("a"), Output::Get(None));
        });
        assert_eq!(
            check_with(&history, SEARCH_STEPS_MAX, Order::WithinKeys),
            Outcome::Linearizable
        );
        assert!(!testing::brute_force(&history, BruteOrder::Connections));
        let explanation = violation(&history, "a");
        assert_eq!(explanation.deadlines.len(), 1);
        assert_eq!(explanation.deadlines[0].operation, OperationId(0));
        assert_eq!(explanation.deadlines[0].by_ns, 10);
        assert!(explanation.is_order_violation);
        assert!(explanation.to_string().contains("took effect by 10"));
    }

    #[test]
    fn cross_key_order_seen_only_by_a_pipelined_reader_is_missed() {
        // Goal: say what the cross-key check does not catch. Method: the same writer; a
        // pipelining reader sends GET b then GET a, and sees b's new value but a's old one.
        // Both connections' orders together rule that out (the brute force says so), but the
        // reads overlap the deadline, so key by key it passes.
        let history = two_keys_in_order(|history| {
            let reader = history.connect(ClientId(2));
            let b = sent(history, reader, 2, Operation::get("b"));
            let a = sent(history, reader, 2, Operation::get("a"));
            history.complete(b, 11, read("y"));
            history.complete(a, 12, Output::Get(None));
        });
        assert!(!testing::brute_force(&history, BruteOrder::Connections));
        assert!(testing::brute_force(&history, BruteOrder::WithinKeys));
        assert_eq!(check(&history), Outcome::Linearizable);
    }

    #[test]
    fn increments_in_sequence_are_linearizable_and_a_lost_one_is_caught() {
        // Goal: INCR counts from absence, and two INCRs one after the other cannot both
        // answer 1. Method: INCR, INCR, GET answered 1, 2, "2"; then a third INCR answers 2.
        let mut history = History::new();
        done(
            &mut history,
            1,
            0,
            10,
            Operation::incr("k"),
            Output::Incr(Some(1)),
        );
        done(
            &mut history,
            2,
            20,
            30,
            Operation::incr("k"),
            Output::Incr(Some(2)),
        );
        done(&mut history, 1, 40, 50, Operation::get("k"), read("2"));
        assert_linearizable(&history);
        done(
            &mut history,
            2,
            60,
            70,
            Operation::incr("k"),
            Output::Incr(Some(2)),
        );
        violation(&history, "k");
    }

    #[test]
    fn incr_is_refused_on_a_string_and_counts_on_from_a_set_integer() {
        // Goal: the register follows Redis: INCR of "a" is refused and changes nothing, INCR
        // of "41" makes 42. Method: both, then a refusal on the integer is caught.
        let mut history = History::new();
        done(
            &mut history,
            1,
            0,
            10,
            Operation::set("k", "a"),
            Output::Set,
        );
        done(
            &mut history,
            1,
            20,
            30,
            Operation::incr("k"),
            Output::Incr(None),
        );
        done(&mut history, 1, 40, 50, Operation::get("k"), read("a"));
        done(
            &mut history,
            1,
            60,
            70,
            Operation::set("k", "41"),
            Output::Set,
        );
        done(
            &mut history,
            1,
            80,
            90,
            Operation::incr("k"),
            Output::Incr(Some(42)),
        );
        assert_linearizable(&history);
        done(
            &mut history,
            1,
            100,
            110,
            Operation::incr("k"),
            Output::Incr(None),
        );
        violation(&history, "k");
    }

    #[test]
    fn incr_answering_a_value_no_write_reaches_is_caught_without_a_search() {
        // Goal: an INCR answer beyond every run of INCRs fails at once. Method: one INCR
        // answers 5.
        let mut history = History::new();
        let incr = done(
            &mut history,
            1,
            0,
            10,
            Operation::incr("k"),
            Output::Incr(Some(5)),
        );
        let explanation = violation(&history, "k");
        assert_eq!(explanation.values_unwritten, vec![incr]);
    }

    #[test]
    fn timed_out_increments_explain_a_later_count() {
        // Goal: indeterminate INCRs may have counted. Method: two INCRs time out, then a read
        // sees 2; a read of 3 is caught.
        let mut history = History::new();
        timed_out(&mut history, 1, 0, Operation::incr("k"));
        timed_out(&mut history, 2, 0, Operation::incr("k"));
        done(&mut history, 3, 20, 30, Operation::get("k"), read("2"));
        assert_linearizable(&history);
        done(&mut history, 3, 40, 50, Operation::get("k"), read("3"));
        violation(&history, "k");
    }

    #[test]
    fn pipelined_model_histories_with_faults_are_linearizable() {
        // Goal: no false alarms when clients pipeline. Method: seeded runs of clients keeping
        // up to eight requests in flight against a reference map that applies each
        // connection's in order, with timeouts (a new connection after each) and failures.
        for seed in 0..20 {
            let plans = testing::concurrent(&Workload {
                seed,
                clients: 8,
                keys: 3,
                operations: 1_000,
                timeout_percent: 5,
                fail_percent: 5,
                depth: 8,
            });
            let history = testing::record(&plans);
            let outcome = check(&history);
            assert_eq!(outcome, Outcome::Linearizable, "seed {seed}: {outcome}");
        }
    }

    #[test]
    fn pipelined_model_histories_with_a_corrupted_read_are_caught() {
        // Goal: a read of a value never written is caught when clients pipeline.
        for seed in 0..20 {
            let mut plans = testing::concurrent(&Workload {
                seed,
                clients: 8,
                keys: 3,
                operations: 1_000,
                timeout_percent: 5,
                fail_percent: 5,
                depth: 4,
            });
            let key = testing::corrupt_read(&mut plans, seed as usize * 13).expect("reads");
            match check(&testing::record(&plans)) {
                Outcome::NotLinearizable { key: failed, .. } => assert_eq!(failed, key),
                other => panic!("seed {seed}: expected a violation, got {other:?}"),
            }
        }
    }

    fn operation_strategy() -> impl Strategy<Value = Operation> {
        (0..3_u8, 0..4_u8, 0..4_u8).prop_map(|(key, kind, value)| {
            let key = format!("k{key}");
            match kind {
                0 | 1 => Operation::get(key),
                2 => Operation::set(key, format!("v{value}")),
                _ => Operation::del(key),
            }
        })
    }

    proptest! {
        #[test]
        fn sequential_model_history_is_linearizable(
            operations in prop::collection::vec(operation_strategy(), 0..300),
        ) {
            // Goal: any history a sequential map produces passes. Method: run random operations
            // on a BTreeMap one at a time and record them without overlap.
            let history = testing::record(&testing::sequential(&operations));
            prop_assert_eq!(check(&history), Outcome::Linearizable);
        }

        #[test]
        fn sequential_model_history_with_a_corrupted_read_is_caught(
            operations in prop::collection::vec(operation_strategy(), 1..300),
            read in any::<prop::sample::Index>(),
        ) {
            // Goal: the same history with one read changed to a value never written fails, on
            // that read's key.
            let mut plans = testing::sequential(&operations);
            let n = read.index(plans.len());
            let Some(key) = testing::corrupt_read(&mut plans, n) else {
                return Ok(());
            };
            let outcome = check(&testing::record(&plans));
            prop_assert!(
                matches!(&outcome, Outcome::NotLinearizable { key: failed, .. } if *failed == key),
                "{outcome:?}"
            );
        }
    }

    #[test]
    #[ignore = "timing: run with --release -- --ignored --nocapture"]
    fn ten_thousand_operations_over_five_keys_check_time() {
        // Goal: measure, not assert, the time to check a large history. Method: 10,000
        // operations from 10 clients over 5 keys with timeouts and failures.
        let plans = testing::concurrent(&Workload {
            seed: 1,
            clients: 10,
            keys: 5,
            operations: 10_000,
            timeout_percent: 5,
            fail_percent: 2,
            depth: 1,
        });
        let history = testing::record(&plans);
        let started = std::time::Instant::now();
        let outcome = check(&history);
        let elapsed = started.elapsed();
        assert_eq!(outcome, Outcome::Linearizable);
        println!("checked {} operations in {elapsed:?}", history.len());

        // A read turned stale: it returns the first value its key ever held. Only the search
        // can rule that out, so this times a failing search on a long key history.
        let mut plans = plans;
        let key = testing::stale_read(&mut plans, 4_321).expect("the workload reads");
        let history = testing::record(&plans);
        let started = std::time::Instant::now();
        let outcome = check(&history);
        let elapsed = started.elapsed();
        assert!(
            matches!(&outcome, Outcome::NotLinearizable { key: failed, .. } if *failed == key),
            "{outcome:?}"
        );
        println!("found the stale read in {elapsed:?}");
    }
}
