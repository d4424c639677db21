//! The search for one key: Wing and Gong's walk with Lowe's memo, over a register model, with
//! each connection's operations taking effect in the order they were sent.
//!
//! [`crate::linearizability`] explains the method and prepares the operations (one key, values
//! turned into [`State`]s, unobservable timeouts dropped, places on their connections); this
//! module only searches.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use crate::history::OperationId;

/// A register state: [`ABSENT`], [`UNREAD`], or 2 + the index of a value some `GET` returned.
pub(crate) type State = u32;

/// The state of a key that does not exist (every key, at first).
pub(crate) const ABSENT: State = 0;

/// The state of a key that holds a non-integer value no completed `GET` returned (see
/// `linearizability::key_operations`).
pub(crate) const UNREAD: State = 1;

/// What `INCR` does in one state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Increment {
    /// It stores and answers the integer of this state.
    To(State),
    /// It refuses: the value is no integer, or is `i64::MAX`. Nothing changes.
    Refused,
    /// It would make an integer no history of this key can reach (more `INCR`s than there
    /// are): no linearization goes there.
    Unreachable,
}

/// The register's transitions that depend on the values behind the states: what `INCR` does
/// in each state, indexed by state, and the operations of each transaction.
///
/// States below `len` are the key's values without a TTL (and [`ABSENT`]); `state + len` is
/// the same value set by `SET ... PX`, which may expire: it may turn into `ABSENT` before any
/// operation (`linearizability::check_key` explains the choices that keep this deterministic).
#[derive(Clone, Debug, Default)]
pub(crate) struct Model {
    /// What `INCR` does in each state without a TTL (one with keeps its TTL).
    pub(crate) increments: Vec<Increment>,
    /// The number of states without a TTL, `ABSENT` included.
    pub(crate) len: State,
    /// The steps of each transaction, by [`Step::Multi`] index.
    pub(crate) transactions: Vec<Vec<Step>>,
}

impl Model {
    fn increment(&self, state: State) -> Increment {
        self.increments
            .get(state as usize)
            .copied()
            .unwrap_or(Increment::Unreachable)
    }

    /// Whether `state` holds a value that may expire.
    pub(crate) fn is_volatile(&self, state: State) -> bool {
        state >= self.len
    }

    /// The value of `state`, TTL aside.
    pub(crate) fn base(&self, state: State) -> State {
        if self.is_volatile(state) {
            state - self.len
        } else {
            state
        }
    }

    /// The state of `base`'s value with a TTL if `is_volatile`.
    fn with_ttl(&self, base: State, is_volatile: bool) -> State {
        if is_volatile && base != ABSENT {
            base + self.len
        } else {
            base
        }
    }
}

/// One operation of the register model, with its values turned into [`State`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Step {
    /// A completed `GET` that returned this state (a state without a TTL: what it read).
    Get(State),
    /// A `SET` of this state, completed or not (its output tells nothing).
    Set(State),
    /// A `SET ... PX` of this state (without its TTL), completed or not.
    SetPx(State),
    /// A `DEL` that returned whether the key was present, or `None` if its reply never came.
    Del(Option<bool>),
    /// A completed `INCR` that answered the integer of this state.
    Incr(State),
    /// A completed `INCR` that was refused: the key held no integer (or `i64::MAX`).
    IncrRefused,
    /// An `INCR` whose reply never came.
    IncrUnknown,
    /// A transaction: the steps `Model::transactions` holds at this index, in order, at one
    /// point; those of one whose reply never came have unknown outputs.
    Multi(u32),
}

impl Step {
    /// The state after this step, or `None` if the register cannot give this output in
    /// `state`.
    ///
    /// A value with a TTL may have expired just before: a step that accepts `state` as it is
    /// goes on from it, else one that accepts absence goes on from there. When both accept,
    /// the first is the one to take: they differ only where an `INCR` found 0 or nothing,
    /// which leads to the same value with and without a TTL, and the one with a TTL can do
    /// everything the other can (it need not expire). An `INCR` whose reply never came on a
    /// value with a TTL is the one case where the two differ otherwise; `check_key` keeps it
    /// out of the search.
    pub(crate) fn apply(self, state: State, model: &Model) -> Option<State> {
        match self {
            Step::Multi(index) => {
                let steps = &model.transactions[index as usize];
                let run = |from: State| {
                    steps
                        .iter()
                        .try_fold(from, |state, step| step.apply_unexpired(state, model))
                };
                run(state).or_else(|| model.is_volatile(state).then(|| run(ABSENT)).flatten())
            }
            step => step.apply_unexpired(state, model).or_else(|| {
                match (model.is_volatile(state), step) {
                    (false, _) | (true, Step::IncrUnknown) => None,
                    (true, _) => step.apply_unexpired(ABSENT, model),
                }
            }),
        }
    }

    /// [`Step::apply`] with nothing expiring first (as between a transaction's operations).
    fn apply_unexpired(self, state: State, model: &Model) -> Option<State> {
        let is_volatile = model.is_volatile(state);
        let base = model.base(state);
        match self {
            Step::Get(returned) => (base == returned).then_some(state),
            Step::Set(written) => Some(written),
            Step::SetPx(written) => Some(model.with_ttl(written, true)),
            Step::Del(Some(true)) => (state != ABSENT).then_some(ABSENT),
            Step::Del(Some(false)) => (state == ABSENT).then_some(ABSENT),
            Step::Del(None) => Some(ABSENT),
            // INCR keeps the TTL, as Redis's does.
            Step::Incr(answered) => (model.increment(base) == Increment::To(answered))
                .then(|| model.with_ttl(answered, is_volatile)),
            Step::IncrRefused => (model.increment(base) == Increment::Refused).then_some(state),
            Step::IncrUnknown => match model.increment(base) {
                Increment::To(next) => Some(model.with_ttl(next, is_volatile)),
                Increment::Refused => Some(state),
                Increment::Unreachable => None,
            },
            Step::Multi(_) => self.apply(state, model),
        }
    }

    /// Whether a completed operation of this kind leaves the state as it found it, unless
    /// it finds a value with a TTL expired (see `Search::read_admitted`).
    fn is_read(self) -> bool {
        matches!(
            self,
            Step::Get(_) | Step::Del(Some(false)) | Step::IncrRefused
        )
    }
}

/// An operation as the search sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyOperation {
    pub(crate) id: OperationId,
    pub(crate) step: Step,
    pub(crate) invoked_ns: u64,
    /// `None` for an indeterminate operation: its return is at +infinity.
    pub(crate) returned_ns: Option<u64>,
    /// Where it stands on its connection, among this key's operations searched.
    pub(crate) place: Place,
}

/// An operation's place on its connection, counting only the operations of one key that the
/// search has (so positions have no gaps).
///
/// The connection's operations take effect in the order sent: an operation may be
/// linearized only once every earlier completed one of its connection is, and never after a
/// later one of its connection (an earlier indeterminate one it passes has then not taken
/// effect). With `placed` the position of the connection's latest linearized operation (0
/// for none), the first condition is `after <= placed`, the second `placed < position`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Place {
    /// The connection, numbered from 0 among those of the key.
    pub(crate) connection: u32,
    /// 1 for the connection's first operation on the key, then 2, 3, ...
    pub(crate) position: u32,
    /// The position of the latest completed operation sent before it on its connection, 0 if
    /// none.
    pub(crate) after: u32,
    /// When that operation returned, if there is one.
    pub(crate) after_returned_ns: Option<u64>,
    /// Whether it is the connection's last operation on the key.
    pub(crate) is_last: bool,
}

/// The end of the entry list, and "no node".
const NIL: usize = usize::MAX;

/// The sentinel before the first entry of the list.
const HEAD: usize = 0;

/// A call or a return in the doubly linked entry list. A lifted node keeps its links, so that
/// putting it back (in the reverse order of lifting) restores the list exactly.
#[derive(Clone, Copy, Debug)]
struct Node {
    /// Index into the operations; meaningless for [`HEAD`].
    operation: usize,
    is_return: bool,
    prev: usize,
    next: usize,
}

/// The set of linearized operations, in the compact form the memo stores.
///
/// Operations are numbered by call order, completed and indeterminate ones apart. Take the
/// earliest-called completed operation not yet linearized: every completed one called before
/// it is linearized, and none called after its return can be (it has to take effect first).
/// So the completed bits are all ones up to a frontier and all zeros shortly after it, while
/// indeterminate operations may stay out for ever and so get bits of their own. Storing only
/// the words between the leading ones and the trailing zeros keeps a memo entry to a few words
/// however long the history is.
#[derive(Clone, Debug)]
struct Linearized {
    completed: Bits,
    indeterminate: Bits,
    /// For each operation, whether it is indeterminate and its number among its kind.
    slots: Vec<(bool, usize)>,
    /// The xor of `zobrist(operation)` over the members, kept up to date by every flip.
    hash: u64,
}

impl Linearized {
    fn insert(&mut self, operation: usize) {
        match self.slots[operation] {
            (false, slot) => self.completed.insert(slot),
            (true, slot) => self.indeterminate.insert(slot),
        }
        self.hash ^= zobrist(operation as u64);
    }

    fn remove(&mut self, operation: usize) {
        match self.slots[operation] {
            (false, slot) => self.completed.remove(slot),
            (true, slot) => self.indeterminate.remove(slot),
        }
        self.hash ^= zobrist(operation as u64);
    }
}

/// A bitset that knows where its all-ones prefix ends and where its last one is.
#[derive(Clone, Debug)]
struct Bits {
    words: Vec<u64>,
    /// `words[..full]` are all ones, and `words[full]` is not.
    full: usize,
    /// `words[end..]` are all zeros, and `words[end - 1]` is not. `full <= end`.
    end: usize,
}

impl Bits {
    fn new(len: usize) -> Self {
        Bits {
            words: vec![0; len.div_ceil(64)],
            full: 0,
            end: 0,
        }
    }

    fn insert(&mut self, bit: usize) {
        let word = bit / 64;
        self.words[word] |= 1 << (bit % 64);
        self.end = self.end.max(word + 1);
        while self.full < self.words.len() && self.words[self.full] == u64::MAX {
            self.full += 1;
        }
    }

    fn remove(&mut self, bit: usize) {
        let word = bit / 64;
        self.words[word] &= !(1 << (bit % 64));
        self.full = self.full.min(word);
        while self.end > self.full && self.words[self.end - 1] == 0 {
            self.end -= 1;
        }
    }

    /// The words between the all-ones prefix and the all-zeros suffix.
    fn live(&self) -> &[u64] {
        &self.words[self.full..self.end]
    }
}

/// Lowe's memo: the (set, state word) pairs the search has reached. The state word holds the
/// register state and the awaiting state (see [`Memo::insert`]).
///
/// Entries live in flat vectors (a chained hash table over them), so adding one allocates
/// nothing most of the time and costs a few dozen bytes.
#[derive(Debug, Default)]
struct Memo {
    /// The hash of a (set, state word) pair to the index of the latest entry with that hash.
    chains: HashMap<u64, u32, BuildHasherDefault<PassThroughHasher>>,
    entries: Vec<MemoEntry>,
    /// The live words of every entry's two bitsets, back to back.
    words: Vec<u64>,
}

/// One memo entry: a [`Linearized`] set, trimmed, and a state word.
#[derive(Debug)]
struct MemoEntry {
    state: u64,
    completed_full: u32,
    indeterminate_full: u32,
    /// `words[start..start + completed_len]` are the completed live words, the
    /// `indeterminate_len` words after them the indeterminate ones.
    start: usize,
    completed_len: u32,
    indeterminate_len: u32,
    /// The previous entry with the same hash, or `u32::MAX`.
    next: u32,
}

impl Memo {
    /// Adds (`linearized`, `state`, `awaiting`). Returns whether it was new.
    fn insert(&mut self, linearized: &Linearized, state: State, awaiting: Option<State>) -> bool {
        // Both states in one word: `state` low, `awaiting` + 1 (0 for none) high.
        let state = u64::from(state) | (awaiting.map_or(0, |before| u64::from(before) + 1) << 32);
        let hash = linearized.hash ^ zobrist(state ^ 0x5EED_C0FF_EE00_0001);
        let completed = linearized.completed.live();
        let indeterminate = linearized.indeterminate.live();
        let chain = self.chains.get(&hash).copied().unwrap_or(u32::MAX);
        let mut index = chain;
        while index != u32::MAX {
            let entry = &self.entries[index as usize];
            let completed_end = entry.start + entry.completed_len as usize;
            let is_same = entry.state == state
                && entry.completed_full as usize == linearized.completed.full
                && entry.indeterminate_full as usize == linearized.indeterminate.full
                && self.words[entry.start..completed_end] == *completed
                && self.words[completed_end..completed_end + entry.indeterminate_len as usize]
                    == *indeterminate;
            if is_same {
                return false;
            }
            index = entry.next;
        }
        let too_many = "fewer than 2^32 memo entries and 2^38 operations";
        let start = self.words.len();
        self.words.extend_from_slice(completed);
        self.words.extend_from_slice(indeterminate);
        let index = u32::try_from(self.entries.len()).expect(too_many);
        self.entries.push(MemoEntry {
            state,
            completed_full: u32::try_from(linearized.completed.full).expect(too_many),
            indeterminate_full: u32::try_from(linearized.indeterminate.full).expect(too_many),
            start,
            completed_len: u32::try_from(completed.len()).expect(too_many),
            indeterminate_len: u32::try_from(indeterminate.len()).expect(too_many),
            next: chain,
        });
        self.chains.insert(hash, index);
        true
    }
}

/// A fixed pseudo-random number per operation (splitmix64's finaliser), so that the hash of a
/// set is the xor of its members' numbers and the same on every run.
fn zobrist(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A hasher for keys that are already well-mixed `u64`s: it passes them through. Fixed, so the
/// memo behaves the same on every run (std's `RandomState` is seeded per process).
#[derive(Default)]
struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = zobrist(self.0 ^ u64::from(byte));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 ^= value;
    }
}

/// A sequence of operations that a register starting absent accepts, in that order, and that
/// respects real time among the operations it contains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prefix {
    /// The operations in the order they took effect.
    pub operations: Vec<OperationId>,
    /// The completed operation whose return the search reached right after this prefix: it
    /// had to take effect by then, and neither it nor anything that could go before it
    /// extends the prefix into one that admits it.
    pub blocked: Option<OperationId>,
}

/// How the search of one key ended.
#[derive(Debug)]
pub(crate) enum SearchResult {
    Linearizable,
    Violation(Prefix),
    Exhausted,
}

/// Where the walk of the search stands.
#[derive(Clone, Copy, Debug)]
enum Cursor {
    /// Just after a step forward: first look for a read that can go next (see
    /// `Search::read_admitted`), then walk the list from the front.
    Fresh,
    /// At this node of the list (a completed operation's call or return).
    List(usize),
    /// The walk reached the return node `bound`, the first one left in the list, so every
    /// completed call that could go next has been tried. Now the indeterminate operations
    /// invoked before it: the heads of their twin chains after `after` (all, if `None`), in call
    /// order. When none is left, backtrack.
    Heads {
        bound: usize,
        after: Option<(u64, usize)>,
    },
    /// Nothing else to try: the operation linearized here was a read that had to go first.
    Refuted,
}

/// Wing and Gong's search with Lowe's memo over the operations of one key.
///
/// Only completed operations are in the list. Indeterminate ones never return, so once
/// invoked they stay candidates for good; walking past each of them after every step made long
/// histories with many timeouts quadratic. They wait in `heads` instead, and the walk tries
/// them when it reaches a return.
///
/// Connection order (see [`Place`]) is one more condition on every candidate. It leaves the
/// memo sound: the latest linearized position of each connection is a function of the set of
/// linearized operations, since a connection's operations are linearized in the order sent.
pub(crate) struct Search<'a> {
    operations: &'a [KeyOperation],
    /// What `INCR` does in each state.
    model: &'a Model,
    /// For each connection, the position of its latest linearized operation; 0 for none.
    placed: Vec<u32>,
    /// Whether some `INCR` whose reply never came is searched: then an indeterminate write may
    /// be observed through it, after more than one step (see `admits`).
    has_increment_unknown: bool,
    /// `nodes[HEAD]` is the sentinel; the calls and returns of completed operations follow in
    /// time order. At equal times calls come first, so an operation that returned at `t`
    /// overlaps one invoked at `t`; then by index, so the list is the same on every run.
    nodes: Vec<Node>,
    /// The node of each completed operation's call, `NIL` for an indeterminate one.
    call_nodes: Vec<usize>,
    /// The node of each completed operation's return, `NIL` for an indeterminate one.
    return_nodes: Vec<usize>,
    /// For an indeterminate operation, the next one in call order that is its twin; `NIL` if
    /// none. Twins are two `DEL`s, or two `SET`s of one state (of one value, or of two values
    /// no completed `GET` returned: see [`UNREAD`]).
    ///
    /// Two twins are interchangeable once both are invoked: neither ever returns, so they can
    /// take effect at the same points from then on, with the same effect on what follows, and
    /// the earlier one can go wherever the later one can. So the search lets only the earliest
    /// twin not yet linearized take effect, which removes the choice of which twin to use, a
    /// choice that would otherwise multiply the states visited by the number of twins.
    twins_next: Vec<usize>,
    /// The earliest twin not yet linearized of each chain, as (invocation time, operation):
    /// the indeterminate operations the search may linearize.
    ///
    /// With connection order, an earlier twin can go wherever a later one can, and rule out
    /// nothing the later one would not, only if it is the last operation of its connection,
    /// the one just before it there is completed (or there is none), and that one returned
    /// before the later twin was invoked (so it is linearized whenever the later twin may
    /// go). An operation that fails the first two is a chain of its own; one that fails the
    /// third starts a new chain.
    heads: BTreeSet<(u64, usize)>,
    /// For each operation, whether it is indeterminate and its place in call order among its
    /// kind (see [`Linearized`]).
    slots: Vec<(bool, usize)>,
}

impl<'a> Search<'a> {
    pub(crate) fn new(operations: &'a [KeyOperation], model: &'a Model) -> Self {
        // (time, is_return, operation): calls before returns at equal times, then by index.
        let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(operations.len() * 2);
        // (time, operation): indeterminate calls in the order they would have in the list.
        let mut indeterminate: Vec<(u64, usize)> = Vec::new();
        for (index, operation) in operations.iter().enumerate() {
            match operation.returned_ns {
                Some(returned_ns) => {
                    events.push((operation.invoked_ns, false, index));
                    events.push((returned_ns, true, index));
                }
                None => indeterminate.push((operation.invoked_ns, index)),
            }
        }
        events.sort_unstable();
        indeterminate.sort_unstable();

        let mut nodes = Vec::with_capacity(events.len() + 1);
        nodes.push(Node {
            operation: NIL,
            is_return: false,
            prev: NIL,
            next: if events.is_empty() { NIL } else { 1 },
        });
        let mut call_nodes = vec![NIL; operations.len()];
        let mut return_nodes = vec![NIL; operations.len()];
        let mut slots = vec![(false, NIL); operations.len()];
        let mut completed_slots = 0;
        for (position, &(_, is_return, operation)) in events.iter().enumerate() {
            let node = position + 1;
            if is_return {
                return_nodes[operation] = node;
            } else {
                call_nodes[operation] = node;
                slots[operation] = (false, completed_slots);
                completed_slots += 1;
            }
            nodes.push(Node {
                operation,
                is_return,
                prev: position,
                next: if node == events.len() { NIL } else { node + 1 },
            });
        }

        // Twins are chained in call order, not id order: a recorder may invoke operations out
        // of time order, and an earlier twin must be able to go wherever a later one can.
        let mut twins_next = vec![NIL; operations.len()];
        let mut twins_last: BTreeMap<Step, usize> = BTreeMap::new();
        let mut heads = BTreeSet::new();
        for (slot, &(invoked_ns, operation)) in indeterminate.iter().enumerate() {
            slots[operation] = (true, slot);
            let place = operations[operation].place;
            if !place.is_last || place.after + 1 != place.position {
                heads.insert((invoked_ns, operation));
                continue;
            }
            let previous = twins_last
                .insert(operations[operation].step, operation)
                .filter(|&previous| {
                    let before = operations[previous].place.after_returned_ns;
                    before.is_none_or(|returned_ns| returned_ns < invoked_ns)
                });
            match previous {
                Some(previous) => twins_next[previous] = operation,
                None => {
                    heads.insert((invoked_ns, operation));
                }
            }
        }
        let connections = operations
            .iter()
            .map(|operation| operation.place.connection as usize + 1)
            .max()
            .unwrap_or(0);
        // An indeterminate transaction may carry a wait on as such an INCR does.
        let has_increment_unknown = operations.iter().any(|operation| {
            operation.step == Step::IncrUnknown
                || (operation.returned_ns.is_none() && matches!(operation.step, Step::Multi(_)))
        });
        Search {
            operations,
            model,
            placed: vec![0; connections],
            has_increment_unknown,
            nodes,
            call_nodes,
            return_nodes,
            twins_next,
            heads,
            slots,
        }
    }

    fn unlink(&mut self, node: usize) {
        let Node { prev, next, .. } = self.nodes[node];
        self.nodes[prev].next = next;
        if next != NIL {
            self.nodes[next].prev = prev;
        }
    }

    fn relink(&mut self, node: usize) {
        let Node { prev, next, .. } = self.nodes[node];
        self.nodes[prev].next = node;
        if next != NIL {
            self.nodes[next].prev = node;
        }
    }

    /// Takes a linearized operation out of the candidates: a completed one's call and return
    /// out of the list, an indeterminate one out of `heads` (its next twin takes its place).
    fn lift(&mut self, operation: usize) {
        if self.call_nodes[operation] != NIL {
            self.unlink(self.call_nodes[operation]);
            self.unlink(self.return_nodes[operation]);
        } else {
            let removed = self
                .heads
                .remove(&(self.operations[operation].invoked_ns, operation));
            assert!(
                removed,
                "an indeterminate operation was linearized out of turn"
            );
            let twin = self.twins_next[operation];
            if twin != NIL {
                self.heads.insert((self.operations[twin].invoked_ns, twin));
            }
        }
    }

    /// Undoes [`Search::lift`]: back in, in the reverse order.
    fn unlift(&mut self, operation: usize) {
        if self.call_nodes[operation] != NIL {
            self.relink(self.return_nodes[operation]);
            self.relink(self.call_nodes[operation]);
        } else {
            let twin = self.twins_next[operation];
            if twin != NIL {
                self.heads.remove(&(self.operations[twin].invoked_ns, twin));
            }
            self.heads
                .insert((self.operations[operation].invoked_ns, operation));
        }
    }

    /// The next indeterminate operation to try at the end of a walk that reached `bound`:
    /// the first head after `after` invoked before that return.
    fn head_after(&self, bound: usize, after: Option<(u64, usize)>) -> Option<(u64, usize)> {
        use std::ops::Bound::{Excluded, Unbounded};
        let bound_ns = self.operations[self.nodes[bound].operation]
            .returned_ns
            .expect("only completed operations have return nodes");
        let from = after.map_or(Unbounded, Excluded);
        let &(invoked_ns, operation) = self.heads.range((from, Unbounded)).next()?;
        // A call at the same time as the return comes before it in the list.
        (invoked_ns <= bound_ns).then_some((invoked_ns, operation))
    }

    pub(crate) fn run(mut self, search_steps_max: u64) -> SearchResult {
        let operations = self.operations;
        // Indeterminate operations never need to be linearized: one that took effect could
        // be placed last, after every completed operation, and the model accepts it there in
        // any state (its output is unknown). So the search succeeds once every completed
        // operation is linearized, which is Porcupine's "return at +infinity" without walking
        // those returns.
        let completed_total = operations
            .iter()
            .filter(|operation| operation.returned_ns.is_some())
            .count();
        let mut completed_linearized = 0;
        let mut linearized = Linearized {
            completed: Bits::new(completed_total),
            indeterminate: Bits::new(operations.len() - completed_total),
            slots: std::mem::take(&mut self.slots),
            hash: 0,
        };
        let mut memo = Memo::default();
        let mut state = ABSENT;
        // The state before the indeterminate write on top of the stack, while that write waits
        // for the completed operation that justifies it (see `admits`).
        let mut awaiting: Option<State> = None;
        // The linearized operations, in order, each with `state` and `awaiting` before it, the
        // cursor to go on from if it is undone, and its connection's `placed` before it.
        let mut stack: Vec<(usize, State, Option<State>, Cursor, u32)> = Vec::new();
        // The longest stack seen, for the report. `shared` entries at its front are also at the
        // front of `stack`, so updating it copies only what changed: amortised O(1) per step.
        let mut longest: Vec<usize> = Vec::new();
        let mut shared = 0;
        let mut blocked: Option<usize> = None;

        let mut cursor = Cursor::Fresh;
        let mut steps = 0;
        loop {
            if completed_linearized == completed_total {
                return SearchResult::Linearizable;
            }
            if steps >= search_steps_max {
                return SearchResult::Exhausted;
            }
            steps += 1;
            // The operation to try and where to go on if it cannot be linearized now, or the
            // return that ends the walk (if any) when every candidate has been tried.
            let next: Result<(usize, Cursor), Option<usize>> = match cursor {
                Cursor::Fresh => {
                    let (read, scanned) = self.read_admitted(state, awaiting);
                    steps += scanned;
                    match read {
                        Some(operation) => Ok((operation, Cursor::Refuted)),
                        None => {
                            cursor = Cursor::List(self.nodes[HEAD].next);
                            continue;
                        }
                    }
                }
                Cursor::List(entry) => {
                    // Some completed operation is still in the list, and every node before
                    // `entry` is a call, so its return lies ahead.
                    assert_ne!(
                        entry, NIL,
                        "the walk passed the end with returns still in the list"
                    );
                    let node = self.nodes[entry];
                    if node.is_return {
                        cursor = Cursor::Heads {
                            bound: entry,
                            after: None,
                        };
                        continue;
                    }
                    Ok((node.operation, Cursor::List(node.next)))
                }
                Cursor::Heads { bound, after } => {
                    // An awaiting write admits only a completed operation next, or an INCR
                    // that carries its effect on (see `admits`).
                    let head = match awaiting {
                        Some(_) if !self.has_increment_unknown => None,
                        _ => self.head_after(bound, after),
                    };
                    match head {
                        Some(head) => Ok((
                            head.1,
                            Cursor::Heads {
                                bound,
                                after: Some(head),
                            },
                        )),
                        None => Err(Some(self.nodes[bound].operation)),
                    }
                }
                Cursor::Refuted => Err(None),
            };

            let (operation, cursor_next) = match next {
                Ok(candidate) => candidate,
                Err(bound) => {
                    // Nothing can go next: the return that ended the walk had to take effect
                    // by now and could not. Backtrack.
                    if blocked.is_none() && stack.len() == longest.len() && shared == stack.len() {
                        blocked = bound;
                    }
                    let Some((undone, state_before, awaiting_before, resume, placed_before)) =
                        stack.pop()
                    else {
                        let prefix = Prefix {
                            operations: longest.iter().map(|&index| operations[index].id).collect(),
                            blocked: blocked.map(|index| operations[index].id),
                        };
                        return SearchResult::Violation(prefix);
                    };
                    shared = shared.min(stack.len());
                    state = state_before;
                    awaiting = awaiting_before;
                    self.placed[operations[undone].place.connection as usize] = placed_before;
                    linearized.remove(undone);
                    self.unlift(undone);
                    if operations[undone].returned_ns.is_some() {
                        completed_linearized -= 1;
                    }
                    cursor = resume;
                    continue;
                }
            };

            let admitted = self
                .order_admits(operation)
                .then(|| admits(&operations[operation], state, awaiting, self.model))
                .flatten()
                .filter(|&(state_next, awaiting_next)| {
                    // An indeterminate write needs its observer next: look before stepping in.
                    match (operations[operation].returned_ns, awaiting_next) {
                        (None, Some(before)) => self.has_observer(before, state_next),
                        _ => true,
                    }
                });
            if let Some((state_next, awaiting_next)) = admitted {
                linearized.insert(operation);
                if memo.insert(&linearized, state_next, awaiting_next) {
                    let place = operations[operation].place;
                    let placed = &mut self.placed[place.connection as usize];
                    stack.push((operation, state, awaiting, cursor_next, *placed));
                    *placed = place.position;
                    state = state_next;
                    awaiting = awaiting_next;
                    self.lift(operation);
                    if operations[operation].returned_ns.is_some() {
                        completed_linearized += 1;
                    }
                    if stack.len() > longest.len() {
                        longest.truncate(shared);
                        longest.extend(stack[shared..].iter().map(|&(operation, ..)| operation));
                        shared = stack.len();
                        blocked = None;
                    }
                    cursor = Cursor::Fresh;
                    continue;
                }
                linearized.remove(operation);
            }
            cursor = cursor_next;
        }
    }

    /// Whether connection order lets `operation` be linearized now (see [`Place`]).
    fn order_admits(&self, operation: usize) -> bool {
        let place = self.operations[operation].place;
        let placed = self.placed[place.connection as usize];
        place.after <= placed && placed < place.position
    }

    /// Whether a completed operation that `admits` would take right after an indeterminate
    /// write from `state_before` to `state_after` could go next. Connection order is left
    /// out, which only makes the answer yes more often. With an indeterminate `INCR` in the
    /// search the observer may come later, after it, so the answer is always yes.
    fn has_observer(&self, state_before: State, state_after: State) -> bool {
        if self.has_increment_unknown {
            return true;
        }
        let mut entry = self.nodes[HEAD].next;
        while entry != NIL && !self.nodes[entry].is_return {
            let operation = &self.operations[self.nodes[entry].operation];
            if admits(operation, state_after, Some(state_before), self.model).is_some() {
                return true;
            }
            entry = self.nodes[entry].next;
        }
        false
    }

    /// A completed read (a `GET`, a `DEL` that found nothing, a refused `INCR`) that could go
    /// next, and how many calls were looked at to find it.
    ///
    /// When there is one, the search linearizes it and tries nothing else here: if any
    /// linearization goes on from here, one goes on with this read first. Take one, and move
    /// the read to the front. Every operation that had to precede it is already placed (it is a
    /// call before the first return, and every operation sent before it on its connection is
    /// linearized), moving it earlier breaks no "must precede" of its own, and it leaves the
    /// state as it found it, so everything after still sees what it saw. (`admits` holds too:
    /// if an indeterminate write awaits, the read is its observer, or a refused `INCR` that
    /// leaves the wait as it was.) Without this, every set of overlapping reads would be tried
    /// in every order.
    ///
    /// A read whose connection still has an unplaced operation sent before it is not taken
    /// here, even when connection order admits it (that operation is indeterminate): taking it
    /// would rule out that operation for good, which a linearization may need.
    ///
    /// A read that finds a value with a TTL expired (a `GET` answering nothing, a `DEL`
    /// answering 0) changes the state, so it is not taken here. One that leaves the state as
    /// it is here but took effect later, as an expiry, in some linearization, may still be
    /// moved to the front: the operations after its place there then find the value with a
    /// TTL instead of absence, and that value can do everything absence can (expire first).
    fn read_admitted(&self, state: State, awaiting: Option<State>) -> (Option<usize>, u64) {
        let mut scanned = 0;
        let mut entry = self.nodes[HEAD].next;
        while entry != NIL && !self.nodes[entry].is_return {
            scanned += 1;
            let index = self.nodes[entry].operation;
            let operation = &self.operations[index];
            let place = operation.place;
            let is_next = self.placed[place.connection as usize] + 1 == place.position;
            let admitted = admits(operation, state, awaiting, self.model);
            if operation.step.is_read()
                && is_next
                && admitted.is_some_and(|(state_next, _)| state_next == state)
            {
                return (Some(index), scanned);
            }
            entry = self.nodes[entry].next;
        }
        (None, scanned)
    }
}

/// The state after `operation`, and the awaiting state after it, if the search may linearize
/// it next, from `state`, with `awaiting` the state the key would be in without an
/// indeterminate write linearized just before (and carried through what followed it).
///
/// Beyond the register model, this restricts where indeterminate writes go, which keeps each
/// one from doubling the states the search visits (with it or without it before every later
/// write). The restriction loses no history. Take any linearization and repeatedly remove an
/// indeterminate write X (it may not have happened) whose removal leaves a valid
/// linearization; removing one keeps real-time and connection order among the rest. In the
/// end, follow the key along two tracks from X on: the state with X and the state without it.
/// They differ right after X (or X was removable), and they stay apart until a completed
/// operation accepts the state with X and rejects the one without (or X was removable again).
/// Until then only operations that accept both states and keep them apart can come: a `SET`
/// or a `DEL` makes them meet, a `GET` or a completed `INCR` accepts only one integer (or
/// absence and 0, which it maps to the same 1), so what is left is
/// - a refused `INCR`, which accepts any two non-integers and keeps both, and
/// - an indeterminate `INCR` that changes the state with X and leaves the tracks apart;
/// - with TTLs and transactions, more: a `GET` of one value with and without a TTL, or a
///   transaction that keeps the tracks apart. So the rule is the general one:
///
/// - an indeterminate write must change the state, and
/// - while one awaits, only a completed operation that rejects the state without it may come
///   next, or an operation that accepts both and keeps them apart (an indeterminate one
///   changing the state with X), which carries the wait on.
fn admits(
    operation: &KeyOperation,
    state: State,
    awaiting: Option<State>,
    model: &Model,
) -> Option<(State, Option<State>)> {
    let is_completed = operation.returned_ns.is_some();
    let state_next = operation.step.apply(state, model)?;
    let Some(state_before_write) = awaiting else {
        return match is_completed {
            true => Some((state_next, None)),
            false => (state_next != state).then_some((state_next, Some(state))),
        };
    };
    match (
        is_completed,
        operation.step.apply(state_before_write, model),
    ) {
        // It tells the two tracks apart: the write has its observer.
        (true, None) => Some((state_next, None)),
        // The tracks meet: the write was removable.
        (_, Some(before_next)) if before_next == state_next => None,
        (true, Some(before_next)) => Some((state_next, Some(before_next))),
        (false, Some(before_next)) => {
            (state_next != state).then_some((state_next, Some(before_next)))
        }
        (false, None) => None,
    }
}
