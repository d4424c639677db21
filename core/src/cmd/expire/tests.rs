//! Expiry against a model: random SET / EXPIRE / PERSIST / GETEX / DEL / reads at random,
//! increasing cluster times, with apply passes flushed and the leader's active expiry run at
//! random points. The model is Redis's semantics over a map of (value, deadline).

use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::prelude::*;

use crate::kv::testing::Replica;
use crate::kv::Proposal;
use crate::reply::Reply;

/// Redis's semantics: key → (value, deadline).
#[derive(Default)]
struct Model {
    keys: BTreeMap<String, (String, Option<i64>)>,
    now: i64,
}

impl Model {
    fn live(&mut self, key: &str) -> Option<(String, Option<i64>)> {
        let now = self.now;
        if let Some((_, Some(deadline))) = self.keys.get(key) {
            if *deadline <= now {
                self.keys.remove(key);
            }
        }
        self.keys.get(key).cloned()
    }

    fn set_at(&mut self, key: &str, value: String, deadline: Option<i64>) {
        match deadline {
            Some(d) if d <= self.now => {
                self.keys.remove(key);
            }
            _ => {
                self.keys.insert(key.to_owned(), (value, deadline));
            }
        }
    }
}

#[derive(Clone, Debug)]
enum Step {
    Advance(u16),
    /// SET k v [NX|XX] [GET] [EX|PX|EXAT|PXAT n | KEEPTTL].
    Set {
        key: u8,
        value: u8,
        condition: u8,
        get: bool,
        ttl: u8,
        amount: i16,
    },
    /// EXPIRE family: unit/absolute choice, amount (relative to now for the AT forms), flag.
    Expire {
        key: u8,
        form: u8,
        amount: i16,
        flag: u8,
    },
    Persist(u8),
    GetEx {
        key: u8,
        form: u8,
        amount: i16,
    },
    Del(u8),
    Read {
        key: u8,
        which: u8,
    },
    ActiveExpire,
}

fn arb_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => any::<u16>().prop_map(|ms| Step::Advance(ms % 3000)),
        4 => (0u8..4, any::<u8>(), 0u8..3, any::<bool>(), 0u8..6, -50i16..5000)
            .prop_map(|(key, value, condition, get, ttl, amount)| Step::Set { key, value, condition, get, ttl, amount }),
        3 => (0u8..4, 0u8..4, -3000i16..5000, 0u8..5)
            .prop_map(|(key, form, amount, flag)| Step::Expire { key, form, amount, flag }),
        1 => (0u8..4).prop_map(Step::Persist),
        2 => (0u8..4, 0u8..6, -10i16..5000).prop_map(|(key, form, amount)| Step::GetEx { key, form, amount }),
        1 => (0u8..4).prop_map(Step::Del),
        4 => (0u8..4, 0u8..6).prop_map(|(key, which)| Step::Read { key, which }),
        2 => Just(Step::ActiveExpire),
    ]
}

const START: i64 = 1_700_000_000_000;

fn words(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Runs one step on both; the replies must agree.
fn run(step: &Step, replica: &mut Replica, model: &mut Model) -> Result<(), TestCaseError> {
    let now = model.now;
    let t = now as u64;
    let int = |n: i64| Reply::Integer(n);
    match step {
        Step::Advance(ms) => model.now += i64::from(*ms),
        Step::Set {
            key,
            value,
            condition,
            get,
            ttl,
            amount,
        } => {
            let k = format!("k{key}");
            let v = format!("v{value}");
            let mut cmd = words(&["SET", &k, &v]);
            match condition {
                1 => cmd.push("NX".into()),
                2 => cmd.push("XX".into()),
                _ => {}
            }
            if *get {
                cmd.push("GET".into());
            }
            let amount = i64::from(*amount);
            let deadline = match ttl {
                1 => Some(amount * 1000 + now),
                2 => Some(amount + now),
                3 => Some(amount * 1000 + (now / 1000) * 1000),
                4 => Some(amount + now),
                _ => None,
            };
            let arg = match ttl {
                1 | 2 => amount,
                3 => amount + now / 1000,
                4 => amount + now,
                _ => 0,
            };
            let opt = ["", "EX", "PX", "EXAT", "PXAT", "KEEPTTL"][*ttl as usize];
            if !opt.is_empty() {
                cmd.push(opt.into());
            }
            if (1..=4).contains(ttl) {
                cmd.push(arg.to_string());
            }
            let got = replica.write(t, &cmd);
            if (1..=4).contains(ttl) && arg <= 0 {
                prop_assert_eq!(
                    got,
                    Reply::error("ERR invalid expire time in 'set' command")
                );
                return Ok(());
            }
            let old = model.live(&k);
            let allowed = match condition {
                1 => old.is_none(),
                2 => old.is_some(),
                _ => true,
            };
            if allowed {
                let deadline = if *ttl == 5 {
                    old.as_ref().and_then(|o| o.1)
                } else {
                    deadline
                };
                model.set_at(&k, v, deadline);
            }
            let want = match (get, allowed) {
                (true, _) => old.map_or(Reply::Null, |(v, _)| Reply::Bulk(Bytes::from(v))),
                (false, true) => Reply::ok(),
                (false, false) => Reply::Null,
            };
            prop_assert_eq!(got, want, "{:?}", cmd);
        }
        Step::Expire {
            key,
            form,
            amount,
            flag,
        } => {
            let k = format!("k{key}");
            let amount = i64::from(*amount);
            let (name, arg, deadline) = match form {
                0 => ("EXPIRE", amount, amount * 1000 + now),
                1 => ("PEXPIRE", amount, amount + now),
                2 => (
                    "EXPIREAT",
                    now / 1000 + amount,
                    (now / 1000 + amount) * 1000,
                ),
                _ => ("PEXPIREAT", now + amount, now + amount),
            };
            let mut cmd = words(&[name, &k, &arg.to_string()]);
            let flag_word = ["", "NX", "XX", "GT", "LT"][*flag as usize];
            if !flag_word.is_empty() {
                cmd.push(flag_word.into());
            }
            let got = replica.write(t, &cmd);
            let want = match model.live(&k) {
                None => int(0),
                Some((value, current)) => {
                    let allowed = match flag {
                        1 => current.is_none(),
                        2 => current.is_some(),
                        3 => current.is_some_and(|c| deadline > c),
                        4 => current.is_none_or(|c| deadline < c),
                        _ => true,
                    };
                    if allowed {
                        model.set_at(&k, value, Some(deadline));
                    }
                    int(allowed.into())
                }
            };
            prop_assert_eq!(got, want, "{:?}", cmd);
        }
        Step::Persist(key) => {
            let k = format!("k{key}");
            let got = replica.write(t, &words(&["PERSIST", &k]));
            let want = match model.live(&k) {
                Some((value, Some(_))) => {
                    model.set_at(&k, value, None);
                    int(1)
                }
                _ => int(0),
            };
            prop_assert_eq!(got, want);
        }
        Step::GetEx { key, form, amount } => {
            let k = format!("k{key}");
            let amount = i64::from(*amount);
            let mut cmd = words(&["GETEX", &k]);
            let deadline = match form {
                1 => Some(amount * 1000 + now),
                2 => Some(amount + now),
                3 => Some(amount * 1000),
                4 => Some(amount),
                _ => None,
            };
            match form {
                1..=4 => cmd.extend([
                    ["", "EX", "PX", "EXAT", "PXAT"][*form as usize].to_owned(),
                    amount.to_string(),
                ]),
                5 => cmd.push("PERSIST".into()),
                _ => {}
            }
            let got = replica.write(t, &cmd);
            let want = match model.live(&k) {
                None => Reply::Null,
                Some(_) if (1..=4).contains(form) && amount <= 0 => {
                    Reply::error("ERR invalid expire time in 'getex' command")
                }
                Some((value, current)) => {
                    let reply = Reply::Bulk(Bytes::from(value.clone()));
                    match form {
                        1..=4 => model.set_at(&k, value, deadline),
                        5 => model.set_at(&k, value, None),
                        _ => model.set_at(&k, value, current),
                    }
                    reply
                }
            };
            prop_assert_eq!(got, want, "{:?}", cmd);
        }
        Step::Del(key) => {
            let k = format!("k{key}");
            let got = replica.write(t, &words(&["DEL", &k]));
            let want = int(model.live(&k).is_some().into());
            model.keys.remove(&k);
            prop_assert_eq!(got, want);
        }
        Step::Read { key, which } => {
            let k = format!("k{key}");
            // Reads are served at the cluster time of the last entry: bring it to `now`.
            replica.propose(&Proposal::Expire {
                unix_ms: t,
                keys: Vec::new(),
            });
            let name =
                ["GET", "TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME", "EXISTS"][*which as usize];
            let got = replica.read(&words(&[name, &k]));
            let live = model.live(&k);
            let want = match (name, live) {
                ("GET", None) => Reply::Null,
                ("GET", Some((v, _))) => Reply::Bulk(Bytes::from(v)),
                ("EXISTS", l) => int(l.is_some().into()),
                (_, None) => int(-2),
                (_, Some((_, None))) => int(-1),
                ("TTL", Some((_, Some(d)))) => int(((d - now).max(0) + 500) / 1000),
                ("PTTL", Some((_, Some(d)))) => int((d - now).max(0)),
                ("EXPIRETIME", Some((_, Some(d)))) => int((d + 500) / 1000),
                (_, Some((_, Some(d)))) => int(d),
            };
            prop_assert_eq!(got, want, "{} {}", name, k);
        }
        Step::ActiveExpire => replica.expire_due(t),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn expiry_agrees_with_a_model(steps in proptest::collection::vec(arb_step(), 1..80)) {
        let mut replica = Replica::new();
        let mut model = Model { now: START, ..Model::default() };
        for step in &steps {
            run(step, &mut replica, &mut model)?;
        }
        // Reclaim everything due, then the counts must be the model's exactly.
        for _ in 0..4 {
            replica.expire_due(model.now as u64);
        }
        let now = model.now;
        model.keys.retain(|_, (_, d)| d.is_none_or(|d| d > now));
        let state = replica.keyspace.state();
        prop_assert_eq!(state.keys, model.keys.len() as u64);
        prop_assert_eq!(state.expiring, model.keys.values().filter(|(_, d)| d.is_some()).count() as u64);
        prop_assert_eq!(replica.keyspace.due_keys(&replica.store, now as u64, 10), Vec::<Bytes>::new());
        let sum: i64 = model.keys.values().filter_map(|(_, d)| *d).sum();
        prop_assert_eq!(state.deadline_sum, sum as u128);
    }
}

#[test]
fn the_cluster_time_never_runs_backwards() {
    // Goal: an entry stamped by a leader whose clock is behind does not bring a key back.
    let mut replica = Replica::new();
    let t = START as u64;
    replica.write(t, &words(&["SET", "k", "v", "PX", "100"]));
    replica.write(t + 200, &words(&["SET", "other", "x"]));
    assert_eq!(replica.read(&words(&["GET", "k"])), Reply::Null);
    // A new leader 30 s behind.
    replica.write(t - 30_000, &words(&["SET", "other", "y"]));
    assert_eq!(replica.read(&words(&["GET", "k"])), Reply::Null);
    assert_eq!(replica.keyspace.state().clock_ms, t + 200);
    // Its relative TTLs count from the cluster time, not from its clock.
    replica.write(t - 30_000, &words(&["SET", "n", "v", "EX", "10"]));
    assert_eq!(
        replica.read(&words(&["PEXPIRETIME", "n"])),
        Reply::Integer((t + 200 + 10_000) as i64)
    );
}

#[test]
fn errors_are_redis_7s() {
    let mut replica = Replica::new();
    let t = START as u64;
    let cases: &[(&[&str], &str)] = &[
        (
            &["SET", "k", "v", "EX", "0"],
            "ERR invalid expire time in 'set' command",
        ),
        (
            &["SET", "k", "v", "EX", "abc"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["SET", "k", "v", "EX", "9223372036854775807"],
            "ERR invalid expire time in 'set' command",
        ),
        (
            &["SET", "k", "v", "PX", "9223372036854775000"],
            "ERR invalid expire time in 'set' command",
        ),
        (
            &["SETEX", "k", "0", "v"],
            "ERR invalid expire time in 'setex' command",
        ),
        (
            &["PSETEX", "k", "-1", "v"],
            "ERR invalid expire time in 'psetex' command",
        ),
        (
            &["EXPIRE", "k", "10", "NX", "XX"],
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ),
        (
            &["EXPIRE", "k", "10", "GT", "LT"],
            "ERR GT and LT options at the same time are not compatible",
        ),
        (&["EXPIRE", "k", "abc", "FOO"], "ERR Unsupported option FOO"),
        (
            &["EXPIRE", "k", "9223372036854775807"],
            "ERR invalid expire time in 'expire' command",
        ),
        (
            &["EXPIREAT", "k", "-9223372036854776"],
            "ERR invalid expire time in 'expireat' command",
        ),
        (
            &["PEXPIRE", "k", "9223372036854775000"],
            "ERR invalid expire time in 'pexpire' command",
        ),
    ];
    for (cmd, error) in cases {
        assert_eq!(
            replica.write(t, &words(cmd)),
            Reply::error(*error),
            "{cmd:?}"
        );
    }
    replica.write(t, &words(&["SET", "k", "v"]));
    assert_eq!(
        replica.write(t, &words(&["GETEX", "k", "PX", "9223372036854775807"])),
        Reply::error("ERR invalid expire time in 'getex' command")
    );
    assert_eq!(
        replica.write(t, &words(&["GETEX", "missing", "EX", "abc"])),
        Reply::Null,
        "GETEX checks the number only for a key that exists, as Redis does"
    );
}

#[test]
fn a_key_expires_at_its_deadline_not_after() {
    // Redis: a key whose deadline equals the time is gone.
    let mut replica = Replica::new();
    let t = START as u64;
    replica.write(t, &words(&["SET", "k", "v", "PX", "100"]));
    replica.propose(&Proposal::Expire {
        unix_ms: t + 99,
        keys: Vec::new(),
    });
    assert_eq!(replica.read(&words(&["PTTL", "k"])), Reply::Integer(1));
    replica.propose(&Proposal::Expire {
        unix_ms: t + 100,
        keys: Vec::new(),
    });
    assert_eq!(replica.read(&words(&["GET", "k"])), Reply::Null);
    assert_eq!(replica.read(&words(&["PTTL", "k"])), Reply::Integer(-2));
    // Not reclaimed yet, so DBSIZE still counts it, as Redis's does.
    assert_eq!(replica.keyspace.key_count(), 1);
    replica.expire_due(t + 100);
    assert_eq!(replica.keyspace.key_count(), 0);
    assert_eq!(replica.keyspace.expired_keys(), 1);
}

#[test]
fn expiretime_rounds_the_largest_deadline_without_overflow() {
    // Redis answers the exact rounded quotient for a deadline at i64::MAX; adding the half
    // second in i64 would overflow.
    let mut replica = Replica::new();
    let t = START as u64;
    replica.write(t, &words(&["SET", "k", "v"]));
    replica.write(t, &words(&["PEXPIREAT", "k", "9223372036854775807"]));
    assert_eq!(
        replica.read(&words(&["EXPIRETIME", "k"])),
        Reply::Integer(9_223_372_036_854_776)
    );
    assert_eq!(
        replica.read(&words(&["PEXPIRETIME", "k"])),
        Reply::Integer(i64::MAX)
    );
}
