//! A seeded simulation of seats, stock and `REQ`: random interleavings of
//! SEAT.*, STOCK.* and REQ over many holders, with clock jumps and timer
//! runs of random budgets, applied to the real `State` and to a small
//! reference model written independently here (plain maps, no slots, no
//! heaps). Every reply must match the model's and every invariant must hold
//! after every step. A failure names its seed and the last commands.
//!
//! CI runs `USHER_SIM_SEEDS` seeds (default 50) of `USHER_SIM_STEPS` steps
//! (default 2000); `USHER_SIM_SEED=n` runs seed `n` alone. A longer run:
//! `USHER_SIM_SEEDS=2000 USHER_SIM_STEPS=20000 cargo test --release --test usher simulation::`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};

use usher::client::args;
use usher::protocol::{ErrorCode, Reply, ServerError};
use usher::state::{State, StateLimits, Value};

use crate::support::rng::Rng;

const HOLD_TTL_MS_MAX: u64 = 5_000;
const WINDOW_MS: u64 = 4_000;
const REQ_ENTRIES_MAX: usize = 12;
const STATUS_COUNT_MAX: u64 = 40;
const HOLDERS: usize = 10;
const REQ_IDS: usize = 16;

/// `(key, seats, LIMIT)` of the simulated events.
const EVENTS: [(&str, u32, u64); 2] = [("ev0", 24, 3), ("ev1", 6, 2)];
/// `(key, total, LIMIT)` of the simulated SKUs.
const SKUS: [(&str, u64, Option<u64>); 2] = [("sku0", 30, Some(4)), ("sku1", 5, None)];

fn error(code: ErrorCode) -> Reply {
    Reply::Error(ServerError::new(code, ""))
}

/// Error messages are the server's own wording; the model only predicts
/// the code.
fn normalize(reply: Reply) -> Reply {
    match reply {
        Reply::Error(error) => Reply::Error(ServerError::new(error.code, "")),
        other => other,
    }
}

fn tag(name: &'static str, rest: Vec<Reply>) -> Reply {
    let mut items = vec![Reply::simple(name)];
    items.extend(rest);
    Reply::Array(items)
}

fn list<'a>(seats: impl IntoIterator<Item = &'a u32>) -> Reply {
    Reply::Array(
        seats
            .into_iter()
            .map(|&s| Reply::Int(i64::from(s)))
            .collect(),
    )
}

fn int(value: u64) -> Reply {
    Reply::Int(value as i64)
}

fn field(name: &'static str, value: Reply) -> (Reply, Reply) {
    (Reply::bulk_static(name.as_bytes()), value)
}

#[derive(Default)]
struct ModelEvent {
    total: u32,
    limit: u64,
    /// seat → (holder, sold)
    owner: BTreeMap<u32, (String, bool)>,
    /// holder → hold deadline (only while it holds seats)
    deadline: HashMap<String, u64>,
}

impl ModelEvent {
    fn seats_of(&self, holder: &str, sold: bool) -> Vec<u32> {
        self.owner
            .iter()
            .filter(|(_, (owner, is_sold))| owner == holder && *is_sold == sold)
            .map(|(seat, _)| *seat)
            .collect()
    }

    fn expire(&mut self, now: u64) {
        let due: Vec<String> = self
            .deadline
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(holder, _)| holder.clone())
            .collect();
        for holder in due {
            self.deadline.remove(&holder);
            self.owner
                .retain(|_, (owner, sold)| *sold || *owner != holder);
        }
    }
}

#[derive(Default)]
struct ModelStock {
    total: u64,
    limit: Option<u64>,
    held: HashMap<String, u64>,
    bought: HashMap<String, u64>,
    deadline: HashMap<String, u64>,
}

impl ModelStock {
    fn held_total(&self) -> u64 {
        self.held.values().sum()
    }

    fn sold_total(&self) -> u64 {
        self.bought.values().sum()
    }

    fn available(&self) -> u64 {
        self.total - self.held_total() - self.sold_total()
    }

    fn owned(&self, holder: &str) -> u64 {
        self.held.get(holder).copied().unwrap_or(0) + self.bought.get(holder).copied().unwrap_or(0)
    }

    fn expire(&mut self, now: u64) {
        let due: Vec<String> = self
            .deadline
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(holder, _)| holder.clone())
            .collect();
        for holder in due {
            self.deadline.remove(&holder);
            self.held.remove(&holder);
        }
    }

    /// Why `qty` more cannot go to `holder`.
    fn refusal(&self, holder: &str, qty: u64) -> Option<Reply> {
        let available = self.available();
        if qty > available {
            return Some(tag("soldout", vec![int(available)]));
        }
        let owned = self.owned(holder);
        match self.limit {
            Some(limit) if owned + qty > limit => Some(tag("limit", vec![int(owned)])),
            _ => None,
        }
    }
}

struct Remembered {
    command: Vec<String>,
    deadline: u64,
    reply: Reply,
}

#[derive(Default)]
struct Model {
    events: HashMap<String, ModelEvent>,
    skus: HashMap<String, ModelStock>,
    strings: BTreeSet<String>,
    reqs: HashMap<String, Remembered>,
}

fn num(word: &str) -> u64 {
    word.parse().expect("the simulation generates numbers")
}

impl Model {
    fn expire(&mut self, now: u64) {
        for event in self.events.values_mut() {
            event.expire(now);
        }
        for stock in self.skus.values_mut() {
            stock.expire(now);
        }
        self.reqs.retain(|_, entry| entry.deadline > now);
    }

    fn missing(&self, key: &str) -> Reply {
        if self.strings.contains(key)
            || self.events.contains_key(key)
            || self.skus.contains_key(key)
        {
            error(ErrorCode::WrongType)
        } else {
            error(ErrorCode::NoSuchKey)
        }
    }

    fn apply(&mut self, words: &[String], now: u64) -> Reply {
        self.expire(now);
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        match w[0] {
            "REQ" => self.req(w[1], &words[2..], now),
            name if name.starts_with("SEAT.") => self.seat(&w, now),
            _ => self.stock(&w, now),
        }
    }

    fn req(&mut self, id: &str, command: &[String], now: u64) -> Reply {
        if let Some(entry) = self.reqs.get(id) {
            return if entry.command == command {
                entry.reply.clone()
            } else {
                error(ErrorCode::IdempotencyMismatch)
            };
        }
        if self.reqs.len() >= REQ_ENTRIES_MAX {
            return error(ErrorCode::Limit);
        }
        let reply = self.apply(command, now);
        self.reqs.insert(
            id.to_string(),
            Remembered {
                command: command.to_vec(),
                deadline: now + WINDOW_MS,
                reply: reply.clone(),
            },
        );
        reply
    }

    fn seat(&mut self, w: &[&str], now: u64) -> Reply {
        let (name, key) = (w[0], w[1]);
        if name == "SEAT.HOLD" && num(w[3]) > HOLD_TTL_MS_MAX {
            return error(ErrorCode::Limit);
        }
        if name == "SEAT.STATUS" && num(w[3]) > STATUS_COUNT_MAX {
            return error(ErrorCode::Limit);
        }
        if !self.events.contains_key(key) {
            return self.missing(key);
        }
        let event = self.events.get_mut(key).expect("checked above");
        let out_of_range = |seats: &[&str]| seats.iter().any(|s| num(s) >= u64::from(event.total));
        match name {
            "SEAT.HOLD" => {
                let (holder, ttl) = (w[2], num(w[3]));
                if out_of_range(&w[4..]) {
                    return error(ErrorCode::OutOfRange);
                }
                let wanted: BTreeSet<u32> = w[4..].iter().map(|s| num(s) as u32).collect();
                let taken: Vec<u32> = wanted
                    .iter()
                    .copied()
                    .filter(|seat| event.owner.get(seat).is_some_and(|(o, _)| o != holder))
                    .collect();
                if !taken.is_empty() {
                    return tag("taken", vec![list(&taken)]);
                }
                let new: Vec<u32> = wanted
                    .iter()
                    .copied()
                    .filter(|seat| !event.owner.contains_key(seat))
                    .collect();
                let owned = event.owner.values().filter(|(o, _)| o == holder).count() as u64;
                if owned + new.len() as u64 > event.limit {
                    return tag("limit", vec![int(owned)]);
                }
                for seat in new {
                    event.owner.insert(seat, (holder.to_string(), false));
                }
                let held = event.seats_of(holder, false);
                if !held.is_empty() {
                    event.deadline.insert(holder.to_string(), now + ttl);
                }
                tag("held", vec![int(ttl), list(&held)])
            }
            "SEAT.CONFIRM" => {
                let holder = w[2];
                let held = event.seats_of(holder, false);
                if held.is_empty() {
                    return error(ErrorCode::NotHeld);
                }
                for seat in &held {
                    event.owner.insert(*seat, (holder.to_string(), true));
                }
                event.deadline.remove(holder);
                tag("sold", vec![list(&held)])
            }
            "SEAT.RELEASE" => {
                let holder = w[2];
                if out_of_range(&w[3..]) {
                    return error(ErrorCode::OutOfRange);
                }
                let named: BTreeSet<u32> = w[3..].iter().map(|s| num(s) as u32).collect();
                let released: Vec<u32> = event
                    .seats_of(holder, false)
                    .into_iter()
                    .filter(|seat| named.is_empty() || named.contains(seat))
                    .collect();
                for seat in &released {
                    event.owner.remove(seat);
                }
                if event.seats_of(holder, false).is_empty() {
                    event.deadline.remove(holder);
                }
                int(released.len() as u64)
            }
            "SEAT.HOLDER" => {
                let holder = w[2];
                let held = event.seats_of(holder, false);
                let sold = event.seats_of(holder, true);
                if !held.is_empty() {
                    let left = event.deadline[holder] - now;
                    tag("held", vec![int(left), list(&held)])
                } else if !sold.is_empty() {
                    tag("sold", vec![list(&sold)])
                } else {
                    tag("none", vec![])
                }
            }
            "SEAT.STATUS" => {
                let (from, count) = (num(w[2]), num(w[3]));
                let end = (from + count).min(u64::from(event.total));
                Reply::Array(
                    (from..end.max(from))
                        .map(|seat| {
                            int(match event.owner.get(&(seat as u32)) {
                                None => 0,
                                Some((_, false)) => 1,
                                Some((_, true)) => 2,
                            })
                        })
                        .collect(),
                )
            }
            "SEAT.INFO" => {
                let held = event.owner.values().filter(|(_, sold)| !sold).count() as u64;
                let sold = event.owner.values().filter(|(_, sold)| *sold).count() as u64;
                let holders: BTreeSet<&String> = event.owner.values().map(|(o, _)| o).collect();
                let total = u64::from(event.total);
                Reply::Map(vec![
                    field("total", int(total)),
                    field("free", int(total - held - sold)),
                    field("held", int(held)),
                    field("sold", int(sold)),
                    field("limit", int(event.limit)),
                    field("holders", int(holders.len() as u64)),
                ])
            }
            other => panic!("the simulation does not generate {other}"),
        }
    }

    fn stock(&mut self, w: &[&str], now: u64) -> Reply {
        let (name, key) = (w[0], w[1]);
        if name == "STOCK.RESERVE" && num(w[4]) > HOLD_TTL_MS_MAX {
            return error(ErrorCode::Limit);
        }
        if !self.skus.contains_key(key) {
            return self.missing(key);
        }
        let stock = self.skus.get_mut(key).expect("checked above");
        match name {
            "STOCK.CONFIG" => {
                let total = num(w[2]);
                let limit = w.get(4).map(|k| num(k));
                if total < stock.held_total() + stock.sold_total() {
                    return error(ErrorCode::OutOfRange);
                }
                if let Some(limit) = limit {
                    let most = stock
                        .held
                        .keys()
                        .chain(stock.bought.keys())
                        .map(|holder| stock.owned(holder))
                        .max()
                        .unwrap_or(0);
                    if most > limit {
                        return error(ErrorCode::OutOfRange);
                    }
                    stock.limit = Some(limit);
                }
                stock.total = total;
                Reply::OK
            }
            "STOCK.RESERVE" => {
                let (holder, qty, ttl) = (w[2], num(w[3]), num(w[4]));
                if let Some(refused) = stock.refusal(holder, qty) {
                    return refused;
                }
                *stock.held.entry(holder.to_string()).or_default() += qty;
                stock.deadline.insert(holder.to_string(), now + ttl);
                tag(
                    "held",
                    vec![int(stock.held[holder]), int(stock.available())],
                )
            }
            "STOCK.TAKE" => {
                let (holder, qty) = (w[2], num(w[3]));
                if let Some(refused) = stock.refusal(holder, qty) {
                    return refused;
                }
                *stock.bought.entry(holder.to_string()).or_default() += qty;
                tag(
                    "sold",
                    vec![int(stock.bought[holder]), int(stock.available())],
                )
            }
            "STOCK.CONFIRM" => {
                let holder = w[2];
                let moved = stock.held.remove(holder).unwrap_or(0);
                stock.deadline.remove(holder);
                if moved > 0 {
                    *stock.bought.entry(holder.to_string()).or_default() += moved;
                }
                int(moved)
            }
            "STOCK.RELEASE" => {
                let holder = w[2];
                stock.deadline.remove(holder);
                int(stock.held.remove(holder).unwrap_or(0))
            }
            "STOCK.REFUND" => {
                let (holder, qty) = (w[2], num(w[3]));
                let bought = stock.bought.entry(holder.to_string()).or_default();
                let refunded = qty.min(*bought);
                *bought -= refunded;
                if *bought == 0 {
                    stock.bought.remove(holder);
                }
                int(refunded)
            }
            "STOCK.INFO" => Reply::Map(vec![
                field("total", int(stock.total)),
                field("available", int(stock.available())),
                field("held", int(stock.held_total())),
                field("sold", int(stock.sold_total())),
                field("limit", stock.limit.map_or(Reply::Nil, int)),
            ]),
            other => panic!("the simulation does not generate {other}"),
        }
    }
}

/// A random data command (never REQ).
fn command(rng: &mut Rng) -> Vec<String> {
    let holder = format!("h{}", rng.below(HOLDERS as u64));
    // Now and then over hold_ttl_ms_max.
    let ttl_ms = |rng: &mut Rng| {
        if rng.chance(3) {
            HOLD_TTL_MS_MAX + 1 + rng.below(100)
        } else {
            1 + rng.below(HOLD_TTL_MS_MAX)
        }
        .to_string()
    };
    let mut words: Vec<String> = Vec::new();
    let roll = rng.below(100);
    if roll < 50 {
        let (key, total, _) = if rng.chance(2) {
            *rng.pick(&[("missing", 5, 1), ("str", 5, 1), ("sku0", 5, 1)])
        } else {
            *rng.pick(&EVENTS)
        };
        let seat = |rng: &mut Rng| {
            // Now and then one past the end.
            let past_end = u64::from(rng.chance(5));
            rng.below(u64::from(total) + past_end).to_string()
        };
        match rng.below(100) {
            0..=34 => {
                let ttl = ttl_ms(rng);
                words.extend(["SEAT.HOLD".into(), key.into(), holder, ttl]);
                for _ in 0..1 + rng.below(3) {
                    words.push(seat(rng));
                }
            }
            35..=44 => words.extend(["SEAT.CONFIRM".into(), key.into(), holder]),
            45..=69 => {
                words.extend(["SEAT.RELEASE".into(), key.into(), holder]);
                for _ in 0..rng.below(3) {
                    words.push(seat(rng));
                }
            }
            70..=79 => words.extend(["SEAT.HOLDER".into(), key.into(), holder]),
            80..=89 => {
                let from = rng.below(u64::from(total) + 2).to_string();
                let count = rng.below(STATUS_COUNT_MAX + 2).to_string();
                words.extend(["SEAT.STATUS".into(), key.into(), from, count]);
            }
            _ => words.extend(["SEAT.INFO".into(), key.into()]),
        }
    } else {
        let (key, _, _) = if rng.chance(2) {
            *rng.pick(&[("missing", 0, None), ("str", 0, None), ("ev0", 0, None)])
        } else {
            *rng.pick(&SKUS)
        };
        let qty = |rng: &mut Rng| (1 + rng.below(4)).to_string();
        match rng.below(100) {
            0..=29 => {
                let (q, t) = (qty(rng), ttl_ms(rng));
                words.extend(["STOCK.RESERVE".into(), key.into(), holder, q, t]);
            }
            30..=44 => words.extend(["STOCK.CONFIRM".into(), key.into(), holder]),
            45..=54 => words.extend(["STOCK.RELEASE".into(), key.into(), holder]),
            55..=74 => {
                let q = qty(rng);
                words.extend(["STOCK.TAKE".into(), key.into(), holder, q]);
            }
            75..=84 => {
                let q = qty(rng);
                words.extend(["STOCK.REFUND".into(), key.into(), holder, q]);
            }
            85..=89 if key.starts_with("sku") => {
                words.extend(["STOCK.CONFIG".into(), key.into(), rng.below(40).to_string()]);
                if rng.chance(50) {
                    words.extend(["LIMIT".into(), (1 + rng.below(6)).to_string()]);
                }
            }
            _ => words.extend(["STOCK.INFO".into(), key.into()]),
        }
    }
    words
}

/// `(free or available, held, sold)` of every seat map and SKU, read from
/// the state without running any command.
fn raw_counts(state: &State) -> BTreeMap<String, (u64, u64, u64)> {
    state
        .keyspace
        .iter()
        .filter_map(|(key, entry)| {
            let counts = match &entry.value {
                Value::Seats(map) => (
                    u64::from(map.free()),
                    u64::from(map.held()),
                    u64::from(map.sold()),
                ),
                Value::Stock(stock) => (stock.available(), stock.held(), stock.sold()),
                _ => return None,
            };
            Some((String::from_utf8_lossy(key).into_owned(), counts))
        })
        .collect()
}

fn model_counts(model: &Model) -> BTreeMap<String, (u64, u64, u64)> {
    let mut counts = BTreeMap::new();
    for (key, event) in &model.events {
        let held = event.owner.values().filter(|(_, sold)| !sold).count() as u64;
        let sold = event.owner.len() as u64 - held;
        counts.insert(
            key.clone(),
            (u64::from(event.total) - held - sold, held, sold),
        );
    }
    for (key, stock) in &model.skus {
        counts.insert(
            key.clone(),
            (stock.available(), stock.held_total(), stock.sold_total()),
        );
    }
    counts
}

fn run_seed(seed: u64, steps: usize, history: &mut Vec<String>) {
    let mut rng = Rng::new(seed);
    let mut state = State::new(StateLimits {
        hold_ttl_ms_max: HOLD_TTL_MS_MAX,
        idempotency_window_ms: WINDOW_MS,
        idempotency_entries_max: REQ_ENTRIES_MAX,
        seat_status_count_max: STATUS_COUNT_MAX,
        ..StateLimits::default()
    });
    let mut model = Model::default();
    let mut now: u64 = 1_000_000;
    let mut setup: Vec<Vec<String>> = vec![vec!["SET".into(), "str".into(), "x".into()]];
    model.strings.insert("str".into());
    for (key, total, limit) in EVENTS {
        setup.push(
            [
                "SEAT.CREATE",
                key,
                &total.to_string(),
                "LIMIT",
                &limit.to_string(),
            ]
            .map(String::from)
            .to_vec(),
        );
        model.events.insert(
            key.to_string(),
            ModelEvent {
                total,
                limit,
                ..ModelEvent::default()
            },
        );
    }
    for (key, total, limit) in SKUS {
        let mut words = vec!["STOCK.CONFIG".to_string(), key.into(), total.to_string()];
        if let Some(limit) = limit {
            words.extend(["LIMIT".into(), limit.to_string()]);
        }
        setup.push(words);
        model.skus.insert(
            key.to_string(),
            ModelStock {
                total,
                limit,
                ..ModelStock::default()
            },
        );
    }
    for words in &setup {
        let request = usher::protocol::parse(&args(words)).expect("setup parses");
        assert!(!state.apply(&request, now).is_error(), "setup {words:?}");
    }
    let mut recent_reqs: Vec<Vec<String>> = Vec::new();
    for step in 0..steps {
        // The clock: mostly small steps, sometimes a jump past every TTL.
        if rng.chance(25) {
            now += rng.below(1_500);
        } else if rng.chance(3) {
            now += rng.below(3 * WINDOW_MS);
        }
        // The timer, as the engine would run it between batches.
        if rng.chance(10) {
            let budget = 1 + rng.below(4) as usize;
            history.push(format!("{step} @{now}: run_timers(budget {budget})"));
            state.run_timers(now, budget);
            state.check_invariants();
        } else if rng.chance(5) {
            history.push(format!("{step} @{now}: run_timers(all)"));
            state.run_timers(now, usize::MAX);
            state.check_invariants();
            model.expire(now);
            assert!(
                state.next_timer_ms().is_none_or(|due| due > now),
                "seed {seed} step {step}: timers left due work"
            );
            assert_eq!(
                raw_counts(&state),
                model_counts(&model),
                "seed {seed} step {step}: counts after the timer differ from the model"
            );
        }
        // Now and then an event or SKU starts over (DEL, then create): sold
        // out events would otherwise stop exercising holds, and the hold
        // index must cope with keys deleted while they have deadlines.
        if rng.chance(1) {
            let (key, create) = if rng.chance(50) {
                let (key, total, limit) = *rng.pick(&EVENTS);
                model.events.insert(
                    key.to_string(),
                    ModelEvent {
                        total,
                        limit,
                        ..ModelEvent::default()
                    },
                );
                (key, format!("SEAT.CREATE {key} {total} LIMIT {limit}"))
            } else {
                let (key, total, limit) = *rng.pick(&SKUS);
                model.skus.insert(
                    key.to_string(),
                    ModelStock {
                        total,
                        limit,
                        ..ModelStock::default()
                    },
                );
                let limit = limit.map(|k| format!(" LIMIT {k}")).unwrap_or_default();
                (key, format!("STOCK.CONFIG {key} {total}{limit}"))
            };
            history.push(format!("{step} @{now}: DEL {key}; {create}"));
            for line in [format!("DEL {key}"), create] {
                let request =
                    usher::protocol::parse(&args(line.split(' '))).expect("reset commands parse");
                let reply = state.apply(&request, now);
                assert!(
                    !reply.is_error(),
                    "seed {seed} step {step}: {line}: {reply:?}"
                );
            }
            state.check_invariants();
        }
        let words = if rng.chance(20) {
            if !recent_reqs.is_empty() && rng.chance(40) {
                // A retry of a recent REQ, word for word.
                rng.pick(&recent_reqs).clone()
            } else {
                let mut words = vec!["REQ".to_string(), format!("r{}", rng.below(REQ_IDS as u64))];
                words.extend(command(&mut rng));
                if recent_reqs.len() == 8 {
                    recent_reqs.remove(0);
                }
                recent_reqs.push(words.clone());
                words
            }
        } else {
            command(&mut rng)
        };
        history.push(format!("{step} @{now}: {}", words.join(" ")));
        let request = match usher::protocol::parse(&args(&words)) {
            Ok(request) => request,
            Err(error) => panic!("seed {seed} step {step}: {words:?} does not parse: {error}"),
        };
        let got = normalize(state.apply(&request, now));
        state.check_invariants();
        let expected = model.apply(&words, now);
        history.push(format!("    -> {got:?}"));
        assert_eq!(
            got, expected,
            "seed {seed} step {step}: reply to {words:?} differs from the model"
        );
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {text:?}")),
        Err(_) => default,
    }
}

#[test]
fn seeded_simulation_matches_the_model() {
    let steps = env_number("USHER_SIM_STEPS", 2_000) as usize;
    let seeds: Vec<u64> = match std::env::var("USHER_SIM_SEED") {
        Ok(_) => vec![env_number("USHER_SIM_SEED", 0)],
        Err(_) => (0..env_number("USHER_SIM_SEEDS", 50)).collect(),
    };
    for seed in seeds {
        let mut history = Vec::new();
        let outcome = catch_unwind(AssertUnwindSafe(|| run_seed(seed, steps, &mut history)));
        if let Err(panic) = outcome {
            let start = history.len().saturating_sub(40);
            eprintln!("--- last commands of seed {seed} ---");
            for line in &history[start..] {
                eprintln!("{line}");
            }
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!(
                "simulation failed with seed {seed} (rerun with USHER_SIM_SEED={seed}): {message}"
            );
        }
    }
}
