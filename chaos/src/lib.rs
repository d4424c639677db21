//! Tools for chaos testing Seshat: client histories, a linearizability checker, and the
//! failure scenarios (the spec's and our own) as data ([`scenario`]).
//!
//! The simulator runs clients against a cluster under faults and records what each asked and
//! what it was told in a [`History`]; [`check`] then says whether some single order of those
//! operations, consistent with real time and with the order each connection sent its
//! operations in, explains every answer.
//!
//! Like `seshat-core`, this crate has no I/O, threads, clocks or randomness: the same history
//! gives the same [`Outcome`], explanation included, on every run, so it can run inside a
//! deterministic simulation.
//!
//! # The model
//!
//! Each key is a register that starts absent. `GET key` returns its value or nothing,
//! `SET key value` stores a value, `DEL key` removes it and says whether it was present, and
//! `INCR key` adds one to the decimal integer it holds (absent counts as 0) and answers the
//! sum, or is refused and changes nothing if the value is no such integer. Keys are
//! independent, so the history is checked key by key (P-compositionality).
//!
//! A transaction (`MULTI`, operations, `EXEC`: [`Operation::Multi`]) is on one key, so that the
//! key-by-key check stays valid: its operations take effect in order at one point, and one whose
//! reply never came took effect wholly or not at all, never in part.
//!
//! # Expiring keys
//!
//! `SET key value PX ttl` ([`Operation::SetPx`]) stores a value that may vanish at any later
//! point, until the next write of the key. The checker does not judge how long a TTL lasted:
//! Seshat decides expiry on a replicated cluster time (the largest leader timestamp in the log),
//! so under clock skew a TTL may run faster or slower than the client's clock. What it checks is
//! what holds on any clock: a value seen expired never comes back without a new write, and a
//! value seen again after a read of it was not expired in between (a `GET` answering nothing
//! moves the key to absent for good). Within one transaction nothing expires.
//!
//! One combination is left undecided ([`Outcome::Unsupported`]): an `INCR` whose reply never
//! came (alone or in a transaction) on a key that some `SET ... PX` wrote. Whether the key had
//! expired before it decides between two different values, which the search, a deterministic
//! register, cannot carry both of. The simulator's workload keeps `INCR` and `PX` on separate
//! keys.
//!
//! # Connection order
//!
//! A connection's operations take effect in the order it sent them, as Redis promises,
//! pipelined or not: for a before b on one connection, a takes effect before b (if a takes
//! effect at all). Pipelined requests overlap in real time, so linearizability alone would
//! allow any order among them. The check enforces this order between operations of one
//! connection on the same key, and a cheap consequence of it across keys ([`Deadline`]); see
//! the `linearizability` module for what that leaves out.
//!
//! # How times are read
//!
//! Times are `u64` nanoseconds of simulated time (any totally ordered count works). An
//! operation *precedes* another, and so must take effect before it, only if it returned
//! strictly before the other was invoked. An operation that returned at `t` and one invoked at
//! `t` are concurrent: either may take effect first. This is the cautious reading when a clock
//! has a coarse tick, and the one Porcupine uses (calls sort before returns at equal times).
//!
//! # Operations without an answer
//!
//! - **Timed out** ([`History::timeout`]), or still in flight when the history is checked: the
//!   operation may have taken effect at any moment after its invocation, or never. Porcupine's
//!   convention is to put its return at +infinity; since its output is unknown, the register
//!   accepts it in any state, so "never" and "last, after everything else" are the same thing
//!   and the checker may simply leave it out. A timed-out `SET` whose value someone later read
//!   is linearized where it explains that read; one never read can be skipped.
//! - **Failed** ([`History::fail`]): the operation certainly did not take effect (an error
//!   reply from a node that never proposed it). The checker ignores it; reports still show it.
//!
//! # Usage
//!
//! ```
//! use seshat_chaos::{check, ClientId, History, Operation, Outcome, Output};
//!
//! let mut history = History::new();
//! // A client loop: invoke, then exactly one of complete / timeout / fail.
//! let set = history.invoke(ClientId(1), 0, Operation::set("k", "a"));
//! history.complete(set, 10, Output::Set);
//! let get = history.invoke(ClientId(2), 20, Operation::get("k"));
//! history.complete(get, 30, Output::Get(None)); // the acknowledged write was lost
//!
//! match check(&history) {
//!     Outcome::Linearizable => {}
//!     Outcome::NotLinearizable { explanation, .. } => println!("{explanation}"),
//!     Outcome::Unknown { .. } => println!("too many overlapping operations to decide"),
//!     Outcome::Unsupported { .. } => println!("an INCR without a reply on a key with a TTL"),
//! }
//! assert!(!check(&history).is_linearizable());
//!
//! // A pipelining client: two requests in flight on one connection, replies in order.
//! let mut history = History::new();
//! let connection = history.connect(ClientId(3));
//! let incr = history.send(connection, 0, Operation::incr("n"));
//! let get = history.send(connection, 0, Operation::get("n"));
//! history.complete(incr, 10, Output::Incr(Some(1)));
//! history.complete(get, 10, Output::Get(None)); // missed its own connection's INCR
//! assert!(!check(&history).is_linearizable());
//! ```
#![warn(missing_docs, unreachable_pub)]

mod history;
pub use history::{
    integer, ClientId, Completion, ConnectionId, History, Operation, OperationId, Output, Record,
};

mod linearizability;
pub use linearizability::{check, check_bounded, Deadline, Explanation, Outcome, SEARCH_STEPS_MAX};

pub mod scenario;

mod search;
pub use search::Prefix;

#[cfg(test)]
mod testing;
