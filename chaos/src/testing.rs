//! Histories for tests, made by running clients against a reference model: linearizable by
//! construction (connection order included), and easy to corrupt.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::history::{
    integer, ClientId, Completion, ConnectionId, History, Operation, Output, Record,
};

/// The reference map: each key's value, and whether a `SET ... PX` gave it a TTL (it may then
/// expire before any operation).
pub(crate) type Map = BTreeMap<Bytes, (Bytes, bool)>;

/// splitmix64: a small seeded generator, so that the tests need no `rand`.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with the given chance, in percent.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// How a planned operation ends for its client.
#[derive(Clone, Debug)]
pub(crate) enum End {
    Returned { returned_ns: u64, output: Output },
    Timeout { given_up_ns: u64 },
    Failed { returned_ns: u64 },
}

impl End {
    fn at_ns(&self) -> u64 {
        match self {
            End::Returned { returned_ns, .. } | End::Failed { returned_ns } => *returned_ns,
            End::Timeout { given_up_ns } => *given_up_ns,
        }
    }
}

/// One operation, before it is recorded.
#[derive(Clone, Debug)]
pub(crate) struct Planned {
    pub(crate) client: ClientId,
    /// The client's connection it is sent on; a connection's operations are planned in the
    /// order sent, their ends in the same order.
    pub(crate) connection: u64,
    pub(crate) operation: Operation,
    pub(crate) invoked_ns: u64,
    pub(crate) end: End,
}

/// The shape of a concurrent run.
pub(crate) struct Workload {
    pub(crate) seed: u64,
    pub(crate) clients: u64,
    pub(crate) keys: u64,
    pub(crate) operations: usize,
    /// Chance in percent that a client gives up waiting; half of those took effect.
    pub(crate) timeout_percent: u64,
    /// Chance in percent that an operation fails without taking effect.
    pub(crate) fail_percent: u64,
    /// Requests a client keeps in flight on its connection: 1 waits for each reply.
    pub(crate) depth: usize,
}

/// Clients, each with up to `depth` operations in flight on one connection (a new one after
/// a timeout), against a map that applies each operation at one instant inside its interval,
/// a connection's in the order sent: a linearizable history by construction.
pub(crate) fn concurrent(workload: &Workload) -> Vec<Planned> {
    /// One client's connection as the plan goes.
    #[derive(Clone, Default)]
    struct Client {
        connection: u64,
        next_invoke_ns: u64,
        /// The ends of its operations in flight, oldest first (the last `depth` planned).
        ends_ns: Vec<u64>,
        effect_last_ns: u64,
    }
    let mut rng = Rng::new(workload.seed);
    let mut clients: Vec<Client> = (0..workload.clients)
        .map(|_| Client {
            next_invoke_ns: rng.below(20),
            ..Client::default()
        })
        .collect();
    // (instant of effect, plan index): the order in which the model applies operations.
    let mut effects: Vec<(u64, usize)> = Vec::new();
    let mut plans: Vec<Planned> = Vec::with_capacity(workload.operations);
    let mut values_written = 0_u64;
    for index in 0..workload.operations {
        let client_number = index as u64 % workload.clients;
        let client = &mut clients[client_number as usize];
        // A request goes out once fewer than `depth` are in flight.
        if client.ends_ns.len() >= workload.depth {
            let oldest = client.ends_ns.remove(0);
            client.next_invoke_ns = client.next_invoke_ns.max(oldest);
        }
        let invoked_ns = client.next_invoke_ns;
        let key = format!("k{}", rng.below(workload.keys));
        let operation = match rng.below(20) {
            0..=7 => Operation::get(key),
            8..=13 => {
                values_written += 1;
                Operation::set(key, format!("v{values_written}"))
            }
            14..=16 => Operation::del(key),
            _ => Operation::incr(key),
        };
        // Effect instants are distinct across clients (time * clients + client), so the model's
        // order is unambiguous; they stay inside the operation's interval and after the
        // previous effect on the connection.
        let effect_ns = (invoked_ns + 1 + rng.below(40)).max(client.effect_last_ns + 1);
        let previous_end_ns = client.ends_ns.last().copied().unwrap_or(0);
        let returned_ns = (effect_ns + rng.below(40)).max(previous_end_ns);
        let end = if rng.chance(workload.fail_percent) {
            End::Failed { returned_ns }
        } else if rng.chance(workload.timeout_percent) {
            if rng.chance(50) {
                effects.push((effect_ns * workload.clients + client_number, index));
                client.effect_last_ns = effect_ns;
            }
            End::Timeout {
                given_up_ns: (invoked_ns + 100).max(returned_ns),
            }
        } else {
            effects.push((effect_ns * workload.clients + client_number, index));
            client.effect_last_ns = effect_ns;
            // The output is filled in below, once the model has run.
            End::Returned {
                returned_ns,
                output: Output::Set,
            }
        };
        let end_ns = end.at_ns();
        plans.push(Planned {
            client: ClientId(client_number),
            connection: client.connection,
            operation,
            invoked_ns,
            end: end.clone(),
        });
        if let End::Timeout { given_up_ns } = end {
            // The client drops the connection: what it had in flight timed out with it, so
            // the next operation goes on a new one, once every end is recorded.
            let last = client.ends_ns.iter().copied().max().unwrap_or(0);
            client.connection += 1;
            client.ends_ns.clear();
            client.next_invoke_ns = given_up_ns.max(last) + rng.below(20);
            continue;
        }
        client.ends_ns.push(end_ns);
        client.next_invoke_ns = if workload.depth == 1 {
            end_ns + rng.below(20)
        } else {
            invoked_ns + rng.below(10)
        };
    }
    // A timeout ends the operations in flight before it on its connection no later than it.
    // They were planned with earlier ends, so nothing to fix.
    effects.sort_unstable();
    run_model(&mut plans, &effects, &[]);
    plans
}

/// Operations one after another, each returning before the next is invoked.
pub(crate) fn sequential(operations: &[Operation]) -> Vec<Planned> {
    let mut model = Map::new();
    operations
        .iter()
        .enumerate()
        .map(|(index, operation)| {
            let output = apply(&mut model, operation);
            Planned {
                client: ClientId(index as u64 % 3),
                connection: 0,
                operation: operation.clone(),
                invoked_ns: 10 * index as u64,
                end: End::Returned {
                    returned_ns: 10 * index as u64 + 5,
                    output,
                },
            }
        })
        .collect()
}

/// Applies `operation` to the reference map and returns its output.
/// Nothing expires here: expiry happens between operations, by the caller.
pub(crate) fn apply(model: &mut Map, operation: &Operation) -> Output {
    match operation {
        Operation::Get { key } => Output::Get(model.get(key).map(|(value, _)| value.clone())),
        Operation::Set { key, value } => {
            model.insert(key.clone(), (value.clone(), false));
            Output::Set
        }
        Operation::SetPx { key, value, .. } => {
            model.insert(key.clone(), (value.clone(), true));
            Output::Set
        }
        Operation::Del { key } => Output::Del(model.remove(key).is_some()),
        Operation::Incr { key } => {
            let current = model.get(key).map_or(Some(0), |(value, _)| integer(value));
            // INCR keeps the TTL, as Redis's does.
            let has_ttl = model.get(key).is_some_and(|&(_, has_ttl)| has_ttl);
            match current.and_then(|n| n.checked_add(1)) {
                Some(next) => {
                    model.insert(key.clone(), (Bytes::from(next.to_string()), has_ttl));
                    Output::Incr(Some(next))
                }
                None => Output::Incr(None),
            }
        }
        Operation::Multi { ops, .. } => {
            Output::Multi(ops.iter().map(|op| apply(model, op)).collect())
        }
    }
}

/// Whether `key` holds a value with a TTL, which may expire.
fn may_expire(model: &Map, key: &[u8]) -> bool {
    model.get(key).is_some_and(|&(_, has_ttl)| has_ttl)
}

/// Runs the model over the operations that took effect, in `effects` order (sorted), and fills
/// in the outputs of the completed ones. A key with a TTL expires just before the `n`th
/// effect if `expiries[n]` (none past its end).
fn run_model(plans: &mut [Planned], effects: &[(u64, usize)], expiries: &[bool]) {
    let mut model = Map::new();
    for (n, &(_, index)) in effects.iter().enumerate() {
        let key = plans[index].operation.key();
        if expiries.get(n) == Some(&true) && may_expire(&model, key) {
            model.remove(key);
        }
        let output = apply(&mut model, &plans[index].operation);
        if let End::Returned { output: slot, .. } = &mut plans[index].end {
            *slot = output;
        }
    }
}

/// Makes the `n`th completed `GET` (counting from 0, wrapping around) return a value that no
/// `SET` wrote. Returns the key it read, or `None` if there is no completed `GET`.
pub(crate) fn corrupt_read(plans: &mut [Planned], n: usize) -> Option<Bytes> {
    let reads: Vec<usize> = plans
        .iter()
        .enumerate()
        .filter(|(_, plan)| {
            matches!(plan.operation, Operation::Get { .. })
                && matches!(plan.end, End::Returned { .. })
        })
        .map(|(index, _)| index)
        .collect();
    if reads.is_empty() {
        return None;
    }
    let plan = &mut plans[reads[n % reads.len()]];
    if let End::Returned { output, .. } = &mut plan.end {
        *output = Output::Get(Some(Bytes::from_static(b"never written")));
    }
    Some(plan.operation.key().clone())
}

/// Records the plans through the recorder API, invocations and ends interleaved in time order
/// as a client loop would call them, each plan's connection opened before its first send.
pub(crate) fn record(plans: &[Planned]) -> History {
    // (time, 0 = end or 1 = invoke or 2 = end of an instant operation, plan index): a client's
    // previous operation ends before its next one starts, even at the same instant, and an
    // operation that returns the instant it was invoked ends after it starts. A connection's
    // operations are planned in order with ends that do not go back, so they end in order.
    let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(plans.len() * 2);
    for (index, plan) in plans.iter().enumerate() {
        events.push((plan.invoked_ns, 1, index));
        let end_ns = plan.end.at_ns();
        events.push((end_ns, if end_ns == plan.invoked_ns { 2 } else { 0 }, index));
    }
    events.sort_unstable();
    let mut history = History::new();
    let mut connections: BTreeMap<(ClientId, u64), ConnectionId> = BTreeMap::new();
    let mut ids = vec![None; plans.len()];
    for (_, is_invoke, index) in events {
        let plan = &plans[index];
        if is_invoke == 1 {
            let connection = *connections
                .entry((plan.client, plan.connection))
                .or_insert_with(|| history.connect(plan.client));
            ids[index] = Some(history.send(connection, plan.invoked_ns, plan.operation.clone()));
            continue;
        }
        let id = ids[index].expect("an operation ends after it starts");
        end(&mut history, id, &plan.end);
    }
    history
}

fn end(history: &mut History, id: crate::history::OperationId, end: &End) {
    match end {
        End::Returned {
            returned_ns,
            output,
        } => history.complete(id, *returned_ns, output.clone()),
        End::Timeout { .. } => history.timeout(id),
        End::Failed { .. } => history.fail(id),
    }
}

/// Makes the `n`th completed `GET` (wrapping around) whose key was set at least twice before it
/// was invoked return the first value its key ever held, which is stale by then. Returns the key
/// it read, or `None` if there is no such `GET`.
pub(crate) fn stale_read(plans: &mut [Planned], n: usize) -> Option<Bytes> {
    // For each key, the first SET and the return of its second completed SET.
    let mut writes: BTreeMap<Bytes, (Bytes, Vec<u64>)> = BTreeMap::new();
    for plan in plans.iter() {
        if let (Operation::Set { key, value }, End::Returned { returned_ns, .. }) =
            (&plan.operation, &plan.end)
        {
            let entry = writes
                .entry(key.clone())
                .or_insert_with(|| (value.clone(), Vec::new()));
            entry.1.push(*returned_ns);
        }
    }
    let reads: Vec<usize> = plans
        .iter()
        .enumerate()
        .filter(|(_, plan)| match (&plan.operation, &plan.end) {
            (Operation::Get { key }, End::Returned { .. }) => writes
                .get(key)
                .and_then(|(_, returns)| returns.get(1))
                .is_some_and(|&second_ns| second_ns < plan.invoked_ns),
            _ => false,
        })
        .map(|(index, _)| index)
        .collect();
    if reads.is_empty() {
        return None;
    }
    let plan = &mut plans[reads[n % reads.len()]];
    let key = plan.operation.key().clone();
    let first = writes[&key].0.clone();
    if let End::Returned { output, .. } = &mut plan.end {
        *output = Output::Get(Some(first));
    }
    Some(key)
}

/// A history of at most `operations_max` operations over keys "a" and "b" with values "x",
/// "y" and "1" (an integer, as `INCR`s make), on a few connections that pipeline (so any
/// overlap is possible, and one connection's operations may overlap each other). Made
/// linearizable by construction, connection order included, with timeouts (the given chance,
/// in percent; half of them took effect) and failures; then, a quarter of the time, two
/// operations of one connection take effect in the other order where their intervals allow
/// it, and half the time the output of one completed `GET`, `DEL` or `INCR` is changed.
///
/// With `has_ttls`, also `SET ... PX` and transactions of one to three operations: "a" gets
/// `SET ... PX` and no `INCR`, "b" `INCR` and no `SET ... PX` (an `INCR` whose reply never came
/// on a value with a TTL is what the checker leaves undecided), and a key with a TTL expires
/// before an effect a third of the time.
pub(crate) fn small(
    rng: &mut Rng,
    operations_max: u64,
    timeout_percent: u64,
    has_ttls: bool,
) -> Vec<Planned> {
    let operations_len = 1 + rng.below(operations_max) as usize;
    let connections = 1 + rng.below(operations_len as u64);
    let mut plans = Vec::with_capacity(operations_len);
    // Each operation's effect time, if it took effect.
    let mut effect_times: Vec<Option<u64>> = Vec::with_capacity(operations_len);
    // Per connection: (last invocation, last end, last effect time).
    let mut lasts: BTreeMap<u64, (u64, u64, u64)> = BTreeMap::new();
    for index in 0..operations_len {
        let connection = rng.below(connections);
        let key = if rng.chance(75) { "a" } else { "b" };
        let value = match rng.below(3) {
            0 => "x",
            1 => "y",
            _ => "1",
        };
        let simple = |rng: &mut Rng| match rng.below(4) {
            0 => Operation::get(key),
            1 => Operation::set(key, value),
            2 => Operation::del(key),
            _ if key == "a" && has_ttls => Operation::set_px(key, value, 100),
            _ => Operation::incr(key),
        };
        let operation = if has_ttls && rng.chance(25) {
            let ops = (0..1 + rng.below(3)).map(|_| simple(rng)).collect();
            Operation::multi(ops)
        } else {
            simple(rng)
        };
        let (invoked_ns, end_floor_ns, effect_floor) = match lasts.get(&connection) {
            Some(&(invoked, end, effect)) => (invoked + rng.below(6), end, effect),
            None => (rng.below(20), 0, 0),
        };
        let mut returned_ns = (invoked_ns + rng.below(10)).max(end_floor_ns);
        // An integer time inside the interval, not before the connection's previous effect;
        // ties between operations break by index, which follows the order sent.
        let effect = (invoked_ns + rng.below(returned_ns - invoked_ns + 1)).max(effect_floor);
        returned_ns = returned_ns.max(effect);
        let end = if rng.chance(timeout_percent) {
            let took_effect = rng.chance(50);
            effect_times.push(took_effect.then_some(effect));
            End::Timeout {
                given_up_ns: returned_ns,
            }
        } else if rng.chance(5) {
            effect_times.push(None);
            End::Failed { returned_ns }
        } else {
            effect_times.push(Some(effect));
            End::Returned {
                returned_ns,
                output: Output::Set,
            }
        };
        let effect_last = effect_times[index].unwrap_or(effect_floor);
        lasts.insert(connection, (invoked_ns, end.at_ns(), effect_last));
        plans.push(Planned {
            client: ClientId(connection),
            connection,
            operation,
            invoked_ns,
            end,
        });
    }
    if rng.chance(25) {
        // Two operations of one connection that both took effect swap their effect times,
        // where each time lies in the other's interval.
        let pairs: Vec<(usize, usize)> = (0..operations_len)
            .flat_map(|a| (a + 1..operations_len).map(move |b| (a, b)))
            .filter(|&(a, b)| {
                let (Some(ta), Some(tb)) = (effect_times[a], effect_times[b]) else {
                    return false;
                };
                let inside = |plan: &Planned, t: u64| plan.invoked_ns <= t && t <= plan.end.at_ns();
                plans[a].connection == plans[b].connection
                    && ta != tb
                    && inside(&plans[a], tb)
                    && inside(&plans[b], ta)
            })
            .collect();
        if !pairs.is_empty() {
            let (a, b) = pairs[rng.below(pairs.len() as u64) as usize];
            effect_times.swap(a, b);
        }
    }
    let mut effects: Vec<(u64, usize)> = effect_times
        .iter()
        .enumerate()
        .filter_map(|(index, time)| time.map(|time| (time * 16 + index as u64, index)))
        .collect();
    effects.sort_unstable();
    let expiries: Vec<bool> = effects.iter().map(|_| has_ttls && rng.chance(33)).collect();
    run_model(&mut plans, &effects, &expiries);
    let answers: Vec<usize> = (0..operations_len)
        .filter(|&index| {
            matches!(plans[index].end, End::Returned { .. })
                && !matches!(
                    plans[index].operation,
                    Operation::Set { .. } | Operation::SetPx { .. }
                )
        })
        .collect();
    if !answers.is_empty() && rng.chance(50) {
        let index = answers[rng.below(answers.len() as u64) as usize];
        if let End::Returned { output, .. } = &mut plans[index].end {
            // One answer of a transaction.
            let output = match output {
                Output::Multi(outputs) => {
                    let n = rng.below(outputs.len() as u64) as usize;
                    &mut outputs[n]
                }
                output => output,
            };
            *output = match output {
                Output::Get(None) => Output::Get(Some(Bytes::from_static(b"x"))),
                Output::Get(Some(value)) if value == "x" => {
                    Output::Get(Some(Bytes::from_static(b"y")))
                }
                Output::Get(Some(_)) => Output::Get(None),
                Output::Del(removed) => Output::Del(!*removed),
                Output::Incr(Some(n)) if *n > 1 => Output::Incr(Some(*n - 1)),
                Output::Incr(Some(_)) => Output::Incr(None),
                Output::Incr(None) => Output::Incr(Some(1)),
                Output::Set => Output::Set,
                Output::Multi(_) => unreachable!("transactions do not nest"),
            };
        }
    }
    plans
}

/// How much of connection order [`brute_force`] enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BruteOrder {
    /// None: plain linearizability.
    None,
    /// Between operations of one connection on one key.
    WithinKeys,
    /// Between all operations of one connection.
    Connections,
}

/// Whether `history` is linearizable, decided by trying every order of its operations on the
/// whole map (no partition by key, no memo, no pruning): the definition, for small histories.
/// With connection order, an operation may go next only if every earlier operation of its
/// connection (on its key, for [`BruteOrder::WithinKeys`]) is placed or indeterminate; those
/// indeterminate ones are then left out for good.
pub(crate) fn brute_force(history: &History, order: BruteOrder) -> bool {
    let records: Vec<&Record> = history
        .records()
        .filter(|record| record.completion != Completion::Failed)
        .collect();
    assert!(records.len() <= 16, "brute force is for small histories");
    // Which records go in order with which: a group per connection (and key).
    let groups: Vec<(u64, Bytes)> = records
        .iter()
        .enumerate()
        .map(|(index, record)| match order {
            BruteOrder::None => (u64::MAX - index as u64, Bytes::new()),
            BruteOrder::WithinKeys => (record.connection.0, record.operation.key().clone()),
            BruteOrder::Connections => (record.connection.0, Bytes::new()),
        })
        .collect();
    brute_force_from(&records, &groups, 0, &BTreeMap::new(), &mut BTreeSet::new())
}

/// Whether the operations not in `done` (placed or left out) can follow, from `model`. `dead`
/// holds the (done, model) pairs already known to fail, only to keep the run time down.
fn brute_force_from(
    records: &[&Record],
    groups: &[(u64, Bytes)],
    done: u32,
    model: &Map,
    dead: &mut BTreeSet<(u32, Map)>,
) -> bool {
    if dead.contains(&(done, model.clone())) {
        return false;
    }
    let returned_ns = |record: &Record| match record.completion {
        Completion::Returned { returned_ns, .. } => Some(returned_ns),
        _ => None,
    };
    let is_done = |index: usize| done & (1 << index) != 0;
    let all_completed_done = records
        .iter()
        .enumerate()
        .all(|(index, record)| is_done(index) || returned_ns(record).is_none());
    if all_completed_done {
        // Operations that never returned may all be left out.
        return true;
    }
    for (index, record) in records.iter().enumerate() {
        if is_done(index) {
            continue;
        }
        // It may go next only if no operation not done returned strictly before its
        // invocation.
        let is_preceded = records.iter().enumerate().any(|(other, earlier)| {
            !is_done(other) && returned_ns(earlier).is_some_and(|ns| ns < record.invoked_ns)
        });
        if is_preceded {
            continue;
        }
        // And only if every earlier operation of its group not done is indeterminate: those
        // are left out.
        let passed: Vec<usize> = (0..index)
            .filter(|&other| !is_done(other) && groups[other] == groups[index])
            .collect();
        if passed
            .iter()
            .any(|&other| returned_ns(records[other]).is_some())
        {
            continue;
        }
        let done_next = passed
            .iter()
            .fold(done | (1 << index), |done, &other| done | (1 << other));
        // A key with a TTL may have expired just before.
        let key = record.operation.key();
        let expired = may_expire(model, key).then(|| {
            let mut expired = model.clone();
            expired.remove(key);
            expired
        });
        for from in std::iter::once(model.clone()).chain(expired) {
            let mut next = from;
            let output = apply(&mut next, &record.operation);
            let is_accepted = match &record.completion {
                Completion::Returned {
                    output: recorded, ..
                } => *recorded == output,
                _ => true,
            };
            if is_accepted && brute_force_from(records, groups, done_next, &next, dead) {
                return true;
            }
        }
    }
    dead.insert((done, model.clone()));
    false
}

/// Records the plans with every invocation first, in a shuffled order (so ids do not follow
/// time), then every end. Each connection's operations keep their order among themselves, so
/// the shuffle interleaves connections only.
pub(crate) fn record_shuffled(plans: &[Planned], rng: &mut Rng) -> History {
    let mut order: Vec<usize> = (0..plans.len()).collect();
    for index in (1..order.len()).rev() {
        order.swap(index, rng.below(index as u64 + 1) as usize);
    }
    // Give each connection's slots in the shuffled order its operations in their own order.
    let mut of_connection: BTreeMap<(ClientId, u64), Vec<usize>> = BTreeMap::new();
    for (index, plan) in plans.iter().enumerate() {
        of_connection
            .entry((plan.client, plan.connection))
            .or_default()
            .push(index);
    }
    let mut taken: BTreeMap<(ClientId, u64), usize> = BTreeMap::new();
    let order: Vec<usize> = order
        .into_iter()
        .map(|slot| {
            let key = (plans[slot].client, plans[slot].connection);
            let next = taken.entry(key).or_insert(0);
            *next += 1;
            of_connection[&key][*next - 1]
        })
        .collect();
    let mut history = History::new();
    let mut connections: BTreeMap<(ClientId, u64), ConnectionId> = BTreeMap::new();
    let ids: Vec<_> = order
        .iter()
        .map(|&index| {
            let plan = &plans[index];
            let connection = *connections
                .entry((plan.client, plan.connection))
                .or_insert_with(|| history.connect(plan.client));
            (
                index,
                history.send(connection, plan.invoked_ns, plan.operation.clone()),
            )
        })
        .collect();
    for (index, id) in ids {
        end(&mut history, id, &plans[index].end);
    }
    history
}
