//! Histories for tests, made by running clients against a reference model: linearizable by
//! construction, and easy to corrupt.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::history::{ClientId, History, Operation, Output};

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

/// One operation, before it is recorded.
#[derive(Clone, Debug)]
pub(crate) struct Planned {
    pub(crate) client: ClientId,
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
}

/// Clients, each with one operation at a time, against a map that applies each operation at
/// one instant inside its interval: a linearizable history by construction.
pub(crate) fn concurrent(workload: &Workload) -> Vec<Planned> {
    let mut rng = Rng::new(workload.seed);
    let mut next_invoke_ns: Vec<u64> = (0..workload.clients).map(|_| rng.below(20)).collect();
    // (instant of effect, plan index): the order in which the model applies operations.
    let mut effects: Vec<(u64, usize)> = Vec::new();
    let mut plans: Vec<Planned> = Vec::with_capacity(workload.operations);
    let mut values_written = 0_u64;
    for index in 0..workload.operations {
        let client = index as u64 % workload.clients;
        let invoked_ns = next_invoke_ns[client as usize];
        let key = format!("k{}", rng.below(workload.keys));
        let operation = match rng.below(10) {
            0..=3 => Operation::get(key),
            4..=7 => {
                values_written += 1;
                Operation::set(key, format!("v{values_written}"))
            }
            _ => Operation::del(key),
        };
        // Effect instants are distinct across clients (time * clients + client), so the model's
        // order is unambiguous; they stay inside the operation's interval.
        let effect_ns = invoked_ns + 1 + rng.below(40);
        let returned_ns = effect_ns + rng.below(40);
        let end = if rng.chance(workload.fail_percent) {
            End::Failed { returned_ns }
        } else if rng.chance(workload.timeout_percent) {
            if rng.chance(50) {
                effects.push((effect_ns * workload.clients + client, index));
            }
            End::Timeout {
                given_up_ns: invoked_ns + 100,
            }
        } else {
            effects.push((effect_ns * workload.clients + client, index));
            // The output is filled in below, once the model has run.
            End::Returned {
                returned_ns,
                output: Output::Set,
            }
        };
        next_invoke_ns[client as usize] = match &end {
            End::Returned { returned_ns, .. } | End::Failed { returned_ns } => *returned_ns,
            End::Timeout { given_up_ns } => *given_up_ns,
        } + rng.below(20);
        plans.push(Planned {
            client: ClientId(client),
            operation,
            invoked_ns,
            end,
        });
    }
    effects.sort_unstable();
    let mut model: BTreeMap<Bytes, Bytes> = BTreeMap::new();
    for (_, index) in effects {
        let output = apply(&mut model, &plans[index].operation);
        if let End::Returned { output: slot, .. } = &mut plans[index].end {
            *slot = output;
        }
    }
    plans
}

/// Operations one after another, each returning before the next is invoked.
pub(crate) fn sequential(operations: &[Operation]) -> Vec<Planned> {
    let mut model: BTreeMap<Bytes, Bytes> = BTreeMap::new();
    operations
        .iter()
        .enumerate()
        .map(|(index, operation)| {
            let output = apply(&mut model, operation);
            Planned {
                client: ClientId(index as u64 % 3),
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
pub(crate) fn apply(model: &mut BTreeMap<Bytes, Bytes>, operation: &Operation) -> Output {
    match operation {
        Operation::Get { key } => Output::Get(model.get(key).cloned()),
        Operation::Set { key, value } => {
            model.insert(key.clone(), value.clone());
            Output::Set
        }
        Operation::Del { key } => Output::Del(model.remove(key).is_some()),
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
/// as a client loop would call them.
pub(crate) fn record(plans: &[Planned]) -> History {
    // (time, 0 = end or 1 = invoke or 2 = end of an instant operation, plan index): a client's
    // previous operation ends before its next one starts, even at the same instant, and an
    // operation that returns the instant it was invoked ends after it starts.
    let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(plans.len() * 2);
    for (index, plan) in plans.iter().enumerate() {
        events.push((plan.invoked_ns, 1, index));
        let end_ns = match &plan.end {
            End::Returned { returned_ns, .. } | End::Failed { returned_ns } => *returned_ns,
            End::Timeout { given_up_ns } => *given_up_ns,
        };
        events.push((end_ns, if end_ns == plan.invoked_ns { 2 } else { 0 }, index));
    }
    events.sort_unstable();
    let mut history = History::new();
    let mut ids = vec![None; plans.len()];
    for (_, is_invoke, index) in events {
        let plan = &plans[index];
        if is_invoke == 1 {
            ids[index] = Some(history.invoke(plan.client, plan.invoked_ns, plan.operation.clone()));
            continue;
        }
        let id = ids[index].expect("an operation ends after it starts");
        match &plan.end {
            End::Returned {
                returned_ns,
                output,
            } => history.complete(id, *returned_ns, output.clone()),
            End::Timeout { .. } => history.timeout(id),
            End::Failed { .. } => history.fail(id),
        }
    }
    history
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

/// A history of at most `operations_max` operations over keys "a" and "b" with values "x" and
/// "y", one client per operation (so any overlap is possible). Made linearizable by
/// construction, with timeouts (the given chance, in percent; half of them took effect) and
/// failures; then, half the time, the output of one completed GET or DEL is changed.
pub(crate) fn small(rng: &mut Rng, operations_max: u64, timeout_percent: u64) -> Vec<Planned> {
    let operations_len = 1 + rng.below(operations_max) as usize;
    let mut plans = Vec::with_capacity(operations_len);
    let mut effects: Vec<(u64, usize)> = Vec::new();
    for index in 0..operations_len {
        let key = if rng.chance(75) { "a" } else { "b" };
        let value = if rng.chance(50) { "x" } else { "y" };
        let operation = match rng.below(3) {
            0 => Operation::get(key),
            1 => Operation::set(key, value),
            _ => Operation::del(key),
        };
        let invoked_ns = rng.below(20);
        let returned_ns = invoked_ns + rng.below(10);
        // Effect instants are distinct: time * 8 + index, inside [invoked, returned].
        let effect = (invoked_ns + rng.below(returned_ns - invoked_ns + 1)) * 8 + index as u64;
        let end = if rng.chance(timeout_percent) {
            if rng.chance(50) {
                effects.push((effect, index));
            }
            End::Timeout {
                given_up_ns: returned_ns,
            }
        } else if rng.chance(5) {
            End::Failed { returned_ns }
        } else {
            effects.push((effect, index));
            End::Returned {
                returned_ns,
                output: Output::Set,
            }
        };
        plans.push(Planned {
            client: ClientId(index as u64),
            operation,
            invoked_ns,
            end,
        });
    }
    effects.sort_unstable();
    let mut model: BTreeMap<Bytes, Bytes> = BTreeMap::new();
    for (_, index) in effects {
        let output = apply(&mut model, &plans[index].operation);
        if let End::Returned { output: slot, .. } = &mut plans[index].end {
            *slot = output;
        }
    }
    let answers: Vec<usize> = (0..operations_len)
        .filter(|&index| {
            matches!(plans[index].end, End::Returned { .. })
                && !matches!(plans[index].operation, Operation::Set { .. })
        })
        .collect();
    if !answers.is_empty() && rng.chance(50) {
        let index = answers[rng.below(answers.len() as u64) as usize];
        if let End::Returned { output, .. } = &mut plans[index].end {
            *output = match output {
                Output::Get(None) => Output::Get(Some(Bytes::from_static(b"x"))),
                Output::Get(Some(value)) if value == "x" => {
                    Output::Get(Some(Bytes::from_static(b"y")))
                }
                Output::Get(Some(_)) => Output::Get(None),
                Output::Del(removed) => Output::Del(!*removed),
                Output::Set => Output::Set,
            };
        }
    }
    plans
}

/// Whether `history` is linearizable, decided by trying every order of its operations on the
/// whole map (no partition by key, no memo, no pruning): the definition, for small histories.
pub(crate) fn brute_force(history: &History) -> bool {
    let records: Vec<&crate::history::Record> = history
        .records()
        .filter(|record| record.completion != crate::history::Completion::Failed)
        .collect();
    assert!(records.len() <= 16, "brute force is for small histories");
    brute_force_from(&records, 0, &BTreeMap::new(), &mut BTreeSet::new())
}

/// Whether the operations not in `placed` can follow, from `model`. `dead` holds the
/// (placed, model) pairs already known to fail, only to keep the run time down.
fn brute_force_from(
    records: &[&crate::history::Record],
    placed: u32,
    model: &BTreeMap<Bytes, Bytes>,
    dead: &mut BTreeSet<(u32, BTreeMap<Bytes, Bytes>)>,
) -> bool {
    if dead.contains(&(placed, model.clone())) {
        return false;
    }
    use crate::history::Completion;
    let returned_ns = |record: &crate::history::Record| match record.completion {
        Completion::Returned { returned_ns, .. } => Some(returned_ns),
        _ => None,
    };
    let is_placed = |index: usize| placed & (1 << index) != 0;
    let all_completed_placed = records
        .iter()
        .enumerate()
        .all(|(index, record)| is_placed(index) || returned_ns(record).is_none());
    if all_completed_placed {
        // Operations that never returned may all be left out.
        return true;
    }
    for (index, record) in records.iter().enumerate() {
        if is_placed(index) {
            continue;
        }
        // It may go next only if no unplaced operation returned strictly before its invocation.
        let is_preceded = records.iter().enumerate().any(|(other, earlier)| {
            !is_placed(other) && returned_ns(earlier).is_some_and(|ns| ns < record.invoked_ns)
        });
        if is_preceded {
            continue;
        }
        let mut next = model.clone();
        let output = apply(&mut next, &record.operation);
        let is_accepted = match &record.completion {
            Completion::Returned {
                output: recorded, ..
            } => *recorded == output,
            _ => true,
        };
        if is_accepted && brute_force_from(records, placed | (1 << index), &next, dead) {
            return true;
        }
    }
    dead.insert((placed, model.clone()));
    false
}

/// Records the plans with every invocation first, in a shuffled order (so ids do not follow
/// time), then every end. Only for plans whose clients are all distinct.
pub(crate) fn record_shuffled(plans: &[Planned], rng: &mut Rng) -> History {
    let mut order: Vec<usize> = (0..plans.len()).collect();
    for index in (1..order.len()).rev() {
        order.swap(index, rng.below(index as u64 + 1) as usize);
    }
    let mut history = History::new();
    let ids: Vec<_> = order
        .iter()
        .map(|&index| {
            let plan = &plans[index];
            (
                index,
                history.invoke(plan.client, plan.invoked_ns, plan.operation.clone()),
            )
        })
        .collect();
    for (index, id) in ids {
        match &plans[index].end {
            End::Returned {
                returned_ns,
                output,
            } => history.complete(id, *returned_ns, output.clone()),
            End::Timeout { .. } => history.timeout(id),
            End::Failed { .. } => history.fail(id),
        }
    }
    history
}
