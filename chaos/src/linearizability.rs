//! Whether a [`History`] of `GET`/`SET`/`DEL` operations is linearizable.
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
//!    - Values no completed `GET` returned are one state, `UNREAD`: nothing tells them apart.
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
//! The search stops after a named number of steps per key ([`SEARCH_STEPS_MAX`]) and then
//! says [`Outcome::Unknown`] rather than running for hours.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bytes::Bytes;

use crate::history::{Completion, History, Operation, OperationId, Output, Quoted, Record};
use crate::search::{KeyOperation, Prefix, Search, SearchResult, State, Step, ABSENT, UNREAD};

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
    /// Some order of the operations agrees with their real-time order and with a map whose
    /// keys start absent.
    Linearizable,
    /// No such order exists. When several keys fail, `key` is the one with the fewest
    /// operations that did not fail (then the smallest key), so that the report is the
    /// shortest one.
    NotLinearizable {
        /// The key whose operations cannot be ordered.
        key: Bytes,
        /// The key's operations and how far the search got.
        explanation: Explanation,
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
}

impl Outcome {
    /// Whether the history is certainly linearizable.
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
    /// `GET`s that returned a value no `SET` of this key ever wrote. Any one of them is enough
    /// for a violation, so when this is not empty the search was skipped.
    pub values_unwritten: Vec<OperationId>,
    /// The longest partial linearization found, if the search ran.
    pub prefix_longest: Option<Prefix>,
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
    let mut violation: Option<(usize, &[u8], KeyViolation)> = None;
    let mut exhausted: Option<&[u8]> = None;
    for (key, records) in partition(history) {
        match check_key(&records, search_steps_max) {
            KeyOutcome::Linearizable => {}
            KeyOutcome::Exhausted => {
                exhausted.get_or_insert(key);
            }
            KeyOutcome::Violation(found) => {
                // Keys come in increasing order, so on a tie the first (smallest) key stays.
                let is_shorter = violation
                    .as_ref()
                    .is_none_or(|(len, _, _)| records.len() < *len);
                if is_shorter {
                    violation = Some((records.len(), key, found));
                }
            }
        }
    }
    match (violation, exhausted) {
        (Some((_, key, found)), _) => {
            let key = Bytes::copy_from_slice(key);
            let explanation = Explanation {
                key: key.clone(),
                history: history.for_key(&key),
                values_unwritten: found.values_unwritten,
                prefix_longest: found.prefix_longest,
            };
            Outcome::NotLinearizable { key, explanation }
        }
        (None, Some(key)) => Outcome::Unknown {
            key: Bytes::copy_from_slice(key),
            search_steps_max,
        },
        (None, None) => Outcome::Linearizable,
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

/// The verdict on one key.
#[derive(Debug)]
enum KeyOutcome {
    Linearizable,
    Violation(KeyViolation),
    Exhausted,
}

/// What is known about a key that cannot be linearized.
#[derive(Debug)]
struct KeyViolation {
    values_unwritten: Vec<OperationId>,
    prefix_longest: Option<Prefix>,
}

/// Checks the operations of one key (none of them failed).
fn check_key(records: &[&Record], search_steps_max: u64) -> KeyOutcome {
    let values_unwritten = values_unwritten(records);
    if !values_unwritten.is_empty() {
        return KeyOutcome::Violation(KeyViolation {
            values_unwritten,
            prefix_longest: None,
        });
    }
    let operations = key_operations(records);
    match Search::new(&operations).run(search_steps_max) {
        SearchResult::Linearizable => KeyOutcome::Linearizable,
        SearchResult::Exhausted => KeyOutcome::Exhausted,
        SearchResult::Violation(prefix) => KeyOutcome::Violation(KeyViolation {
            values_unwritten,
            prefix_longest: Some(prefix),
        }),
    }
}

/// The completed `GET`s that returned a value that no `SET` of the key (completed or not)
/// wrote. Each is a violation by itself, found without a search.
fn values_unwritten(records: &[&Record]) -> Vec<OperationId> {
    let written: BTreeSet<&[u8]> = records
        .iter()
        .filter_map(|record| match &record.operation {
            Operation::Set { value, .. } => Some(value.as_ref()),
            Operation::Get { .. } | Operation::Del { .. } => None,
        })
        .collect();
    records
        .iter()
        .filter(|record| match &record.completion {
            Completion::Returned {
                output: Output::Get(Some(value)),
                ..
            } => !written.contains(value.as_ref()),
            _ => false,
        })
        .map(|record| record.id)
        .collect()
}

/// Turns one key's records into search operations, dropping the indeterminate ones that no
/// completed operation could observe.
///
/// Dropping is sound because an indeterminate operation may not have happened at all: if a
/// linearization contains a dropped operation X, removing X leaves a linearization too. The
/// operations placed after X and before the next write see X's effect, and for a dropped X none
/// of them is a completed one that depends on it:
/// - an indeterminate `GET` constrains nothing, so it is always dropped;
/// - an indeterminate `SET v` is kept only if a completed `GET` returning `v`, or a completed
///   `DEL` returning true, returns at or after X's invocation (only those can follow X);
/// - an indeterminate `DEL` is kept only if a completed `GET` returning nothing, or a completed
///   `DEL` returning false, returns at or after X's invocation.
///
/// Without this, every write that timed out would stay a candidate for the rest of the search.
fn key_operations(records: &[&Record]) -> Vec<KeyOperation> {
    // A state for each value a completed GET returned, in first-read order, and one state,
    // `UNREAD`, for all other values: no GET tells them apart and a DEL treats every value
    // alike, so the register cannot tell them apart either. Merging them lets the memo see
    // that writes of unread values in either order lead to the same place.
    let mut values: BTreeMap<&[u8], State> = BTreeMap::new();
    for record in records {
        if let Completion::Returned {
            output: Output::Get(Some(value)),
            ..
        } = &record.completion
        {
            let state_next = State::try_from(values.len() + 2).expect("fewer than 2^32 values");
            values.entry(value.as_ref()).or_insert(state_next);
        }
    }
    let state_of_value = |value: &[u8]| values.get(value).copied().unwrap_or(UNREAD);
    let state_of = |value: &Option<Bytes>| value.as_deref().map_or(ABSENT, state_of_value);

    // The latest return of a completed operation that observes each state, and of a DEL that
    // observes presence.
    let mut observed_ns: BTreeMap<State, u64> = BTreeMap::new();
    let mut removed_ns: Option<u64> = None;
    for record in records {
        if let Completion::Returned {
            returned_ns,
            output,
        } = &record.completion
        {
            let observed = match output {
                Output::Get(value) => Some(state_of(value)),
                Output::Del(false) => Some(ABSENT),
                Output::Del(true) => {
                    removed_ns = removed_ns.max(Some(*returned_ns));
                    None
                }
                Output::Set => None,
            };
            if let Some(state) = observed {
                let latest = observed_ns.entry(state).or_insert(*returned_ns);
                *latest = (*latest).max(*returned_ns);
            }
        }
    }
    let is_observable = |state: State, invoked_ns: u64| {
        let observed = observed_ns.get(&state).is_some_and(|&ns| ns >= invoked_ns);
        // A completed DEL returning true can follow a SET, never a DEL.
        let removed = state != ABSENT && removed_ns.is_some_and(|ns| ns >= invoked_ns);
        observed || removed
    };

    let mut operations = Vec::with_capacity(records.len());
    for record in records {
        let (step, returned_ns) = match (&record.operation, &record.completion) {
            (_, Completion::Failed) => unreachable!("partition drops failed operations"),
            (
                operation,
                Completion::Returned {
                    returned_ns,
                    output,
                },
            ) => {
                let step = match (operation, output) {
                    (Operation::Get { .. }, Output::Get(value)) => Step::Get(state_of(value)),
                    (Operation::Set { value, .. }, Output::Set) => Step::Set(state_of_value(value)),
                    (Operation::Del { .. }, Output::Del(removed)) => Step::Del(Some(*removed)),
                    _ => unreachable!("History::complete checks the output's kind"),
                };
                (step, Some(*returned_ns))
            }
            (Operation::Get { .. }, Completion::InFlight | Completion::Timeout) => continue,
            (Operation::Set { value, .. }, Completion::InFlight | Completion::Timeout) => {
                let state = state_of_value(value);
                if !is_observable(state, record.invoked_ns) {
                    continue;
                }
                (Step::Set(state), None)
            }
            (Operation::Del { .. }, Completion::InFlight | Completion::Timeout) => {
                if !is_observable(ABSENT, record.invoked_ns) {
                    continue;
                }
                (Step::Del(None), None)
            }
        };
        operations.push(KeyOperation {
            id: record.id,
            step,
            invoked_ns: record.invoked_ns,
            returned_ns,
        });
    }
    operations
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
        }
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = Quoted(&self.key);
        writeln!(
            f,
            "not linearizable: no order of the operations on key {key} agrees with both real \
             time and a register that starts absent"
        )?;
        writeln!(
            f,
            "operations on {key} ({}; times in ns; one that returned at t overlaps one invoked \
             at t; one whose reply never came may take effect at any later time or never):",
            count(self.history.len(), "operation"),
        )?;
        write!(f, "{}", self.history)?;
        for &id in &self.values_unwritten {
            let line = self.line(id);
            writeln!(f, "{line}: no SET of {key} wrote this value")?;
        }
        if let Some(prefix) = &self.prefix_longest {
            writeln!(
                f,
                "longest linearizable prefix found ({}), each with the value after it:",
                count(prefix.operations.len(), "operation"),
            )?;
            let mut value: Option<&Bytes> = None;
            for &id in &prefix.operations {
                let line = self.line(id);
                if let Some(record) = self.history.get(id) {
                    match &record.operation {
                        Operation::Set { value: written, .. } => value = Some(written),
                        Operation::Del { .. } => value = None,
                        Operation::Get { .. } => {}
                    }
                }
                let after = value.map_or("(nil)".to_owned(), |value| Quoted(value).to_string());
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
                format!("{id} {} {} -> {output}", record.client, record.operation)
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
    use crate::history::ClientId;
    use crate::testing::{self, Workload};

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
                explanation
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
not linearizable: no order of the operations on key \"k\" agrees with both real time and a register that starts absent
operations on \"k\" (4 operations; times in ns; one that returned at t overlaps one invoked at t; one whose reply never came may take effect at any later time or never):
  #0     client 1   [0, 10]                  SET \"k\" \"a\" -> OK
  #1     client 2   [5, 15]                  GET \"k\" -> \"a\"
  #2     client 1   [20, 30]                 SET \"k\" \"b\" -> OK
  #4     client 2   [40, 50]                 GET \"k\" -> \"a\"
longest linearizable prefix found (3 operations), each with the value after it:
  #0 client 1 SET \"k\" \"a\" -> OK                    then \"a\"
  #1 client 2 GET \"k\" -> \"a\"                       then \"a\"
  #2 client 1 SET \"k\" \"b\" -> OK                    then \"b\"
#4 client 2 GET \"k\" -> \"a\": had to take effect next, by its return, and cannot after this prefix
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
            });
            let key = testing::corrupt_read(&mut plans, seed as usize * 13).expect("reads");
            match check(&testing::record(&plans)) {
                Outcome::NotLinearizable { key: failed, .. } => assert_eq!(failed, key),
                other => panic!("seed {seed}: expected a violation, got {other:?}"),
            }
        }
    }

    /// Compares `check` with `testing::brute_force` on `rounds` seeded `testing::small`
    /// histories, and returns how many were linearizable. With `is_shuffled`, operations are
    /// recorded out of time order.
    fn agree_with_brute_force(
        seed: u64,
        rounds: u32,
        operations_max: u64,
        timeout_percent: u64,
        is_shuffled: bool,
    ) -> u32 {
        let mut rng = testing::Rng::new(seed);
        let mut linearizable = 0;
        for round in 0..rounds {
            let plans = testing::small(&mut rng, operations_max, timeout_percent);
            let history = if is_shuffled {
                testing::record_shuffled(&plans, &mut rng)
            } else {
                testing::record(&plans)
            };
            let expected = testing::brute_force(&history);
            let outcome = check(&history);
            assert!(
                !matches!(outcome, Outcome::Unknown { .. }),
                "round {round}: {outcome}"
            );
            assert_eq!(
                outcome.is_linearizable(),
                expected,
                "round {round}: brute force says {expected}, check says\n{outcome}\n{history}"
            );
            linearizable += u32::from(expected);
        }
        linearizable
    }

    #[test]
    fn check_agrees_with_brute_force_on_small_histories() {
        // Goal: the pruning, the memo and the restrictions on indeterminate writes never change
        // the verdict. Method: 20,000 seeded histories of up to 7 overlapping operations over
        // two keys and two values, with timeouts and failures, half of them with one output
        // changed; compare `check` with trying every order on the whole map.
        let linearizable = agree_with_brute_force(0x5E5A_7000, 20_000, 7, 15, false);
        assert!(
            (8_000..16_000).contains(&linearizable),
            "{linearizable} linearizable"
        );
    }

    #[test]
    fn check_agrees_with_brute_force_when_many_operations_time_out() {
        // Goal: the same with indeterminate operations everywhere, where the twin and
        // awaiting rules of the search do most of their work. Method: up to 10 operations,
        // 40% of which time out.
        let linearizable = agree_with_brute_force(0x5E5A_7001, 5_000, 10, 40, false);
        assert!(
            (2_000..4_500).contains(&linearizable),
            "{linearizable} linearizable"
        );
    }

    #[test]
    fn check_agrees_with_brute_force_when_operations_are_recorded_out_of_time_order() {
        // Goal: nothing in the search leans on ids following time (a recorder may invoke in
        // any order). Method: as above, with invocations recorded in a shuffled order.
        let linearizable = agree_with_brute_force(0x5E5A_7002, 5_000, 10, 40, true);
        assert!(
            (2_000..4_500).contains(&linearizable),
            "{linearizable} linearizable"
        );
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
