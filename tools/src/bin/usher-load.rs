//! `usher-load`: a RESP load generator for 127.0.0.1, so that usher and
//! redis-server are driven by the same code and compared on equal terms.
//!
//! Each client is one TCP connection; `--threads` event loops (mio) share
//! the clients. A *step* is the list of `--cmd` templates, sent back to back
//! on one connection; it counts as one op and completes with its last reply.
//!
//! - Closed loop (`--rate 0`, the default): each connection sends
//!   `--pipeline` steps, waits for all their replies, sends the next ones;
//!   latency is measured from the write.
//! - Open loop (`--rate R`): steps are due at a fixed total rate whatever
//!   the server does; a due step goes out on a connection with fewer than
//!   `--pipeline` steps in flight, and its latency is measured from the time
//!   it was *due*, so a stalled server cannot hide its stall by slowing the
//!   generator down (coordinated omission). A timerfd wakes the loop at each
//!   due time with microsecond precision.
//!
//! Templates are split like redis-cli lines; in a word, `{seq}` is the
//! step's number (0, 1, 2, ... across all threads; `{seq*M+A}`, `{seq*M}`
//! and `{seq+A}` scale and shift it) and `{rand:N}` is a uniform integer in
//! `0..N`, drawn anew at each place. Integers are printed without leading
//! zeros, so they parse as integers on both servers.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use usher_protocol::resp::split_args;

/// Most clients, steps in flight per client and threads accepted: enough
/// for any comparison here, and a typo cannot exhaust file descriptors.
const CLIENTS_MAX: usize = 10_000;
const PIPELINE_MAX: usize = 10_000;
const THREADS_MAX: usize = 64;
/// Distinct reply labels counted; later ones count as `other`.
const LABELS_MAX: usize = 16;
/// Longest simple or bulk string used as a reply label.
const LABEL_BYTES_MAX: usize = 32;
/// Initial read buffer per connection; it doubles for a larger reply.
const READ_BUFFER_BYTES: usize = 64 * 1024;
/// Poll rounds between checks for a stalled connection.
const STALL_CHECK_ROUNDS: u32 = 1024;
/// Largest latency the histogram records (1 hour, in ns); beyond saturates.
const LATENCY_NS_MAX: u64 = 3_600_000_000_000;
/// The poll token of the open-loop timer; clients use their index.
const TIMER_TOKEN: Token = Token(usize::MAX);

const AFTER_HELP: &str = "\
Examples:
  usher-load --port 7379 --requests 200000 --cmd 'INCR counter'
  usher-load --port 7379 --pipeline 16 --cmd 'SEAT.HOLD ev h{seq} 600000 {rand:1000000} {rand:1000000}'
  usher-load --port 7379 --cmd 'QUEUE.JOIN room u{seq}' --cmd 'QUEUE.POS room u{seq}'
  usher-load --port 6379 --rate 40000 --seconds 10 --cmd 'GET counter'

Output: one human line, then one machine-readable line:
  ops=… requests=… seconds=… rps=… cmd_rps=… p50_us=… p99_us=… p999_us=… max_us=… errors=…
rps counts steps (ops) per second, cmd_rps commands per second. A `replies` line counts
replies by label (the first string of an array reply, a simple string's text, or its type),
and the first error reply seen is printed. Exit status 1 if the server could not be reached,
closed a connection or sent something that is not RESP; error replies do not change it.";

#[derive(Parser, Debug)]
#[command(
    name = "usher-load",
    about = "RESP load generator for usher and Redis on 127.0.0.1",
    after_help = AFTER_HELP
)]
struct Args {
    /// Server port on 127.0.0.1.
    #[arg(short, long, default_value_t = 7379)]
    port: u16,
    /// Connections.
    #[arg(short, long, default_value_t = 50)]
    clients: usize,
    /// Steps in flight per connection.
    #[arg(short = 'P', long, default_value_t = 1)]
    pipeline: usize,
    /// Steps to run in all (default 100000 unless --seconds is given).
    #[arg(short = 'n', long, conflicts_with = "seconds")]
    requests: Option<u64>,
    /// Run for this long instead of a number of steps.
    #[arg(short, long)]
    seconds: Option<f64>,
    /// Total steps per second offered (open loop); 0 = as fast as the server answers.
    #[arg(short, long, default_value_t = 0)]
    rate: u64,
    /// Event-loop threads sharing the connections.
    #[arg(short, long, default_value_t = 1)]
    threads: usize,
    /// A command template; several make a step sent in sequence.
    #[arg(long = "cmd", required = true)]
    commands: Vec<String>,
    /// Seed of the `{rand:N}` generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Give up when a connection with steps in flight gets no reply for this long.
    #[arg(long, default_value_t = 10.0)]
    timeout_seconds: f64,
    /// Text to start the human line with (default: the templates).
    #[arg(long)]
    label: Option<String>,
    /// Also write every recorded latency to this file, one `nanoseconds
    /// count` line per distinct value, so several runs can be pooled into
    /// one distribution (`tools/compare.sh` does, for its latency rows).
    #[arg(long)]
    latency_out: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("usher-load: {error}");
            ExitCode::FAILURE
        }
    }
}

/// A run's settings after validation.
struct Plan {
    steps: Vec<Command>,
    clients: usize,
    pipeline: usize,
    threads: usize,
    /// Steps in all, or `None` for a timed run.
    total: Option<u64>,
    /// When a timed run stops sending, from the start.
    duration: Option<Duration>,
    rate: u64,
    seed: u64,
    timeout: Duration,
}

fn run(args: &Args) -> Result<String, String> {
    let plan = plan(args)?;
    let address = SocketAddr::from(([127, 0, 0, 1], args.port));
    let mut per_thread: Vec<Vec<StdTcpStream>> = (0..plan.threads).map(|_| Vec::new()).collect();
    for index in 0..plan.clients {
        let stream = StdTcpStream::connect_timeout(&address, Duration::from_secs(5))
            .map_err(|e| format!("cannot connect to {address}: {e}"))?;
        stream
            .set_nodelay(true)
            .and_then(|()| stream.set_nonblocking(true))
            .map_err(|e| format!("cannot set up a connection to {address}: {e}"))?;
        per_thread[index % plan.threads].push(stream);
    }
    let start = Instant::now();
    let results: Vec<Result<Tally, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = per_thread
            .into_iter()
            .enumerate()
            .map(|(thread, streams)| {
                let plan = &plan;
                scope.spawn(move || Worker::new(plan, thread, streams, start)?.run())
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err("a load thread panicked".to_string()))
            })
            .collect()
    });
    let mut total = Tally::new()?;
    for result in results {
        total.merge(result?)?;
    }
    let label = match &args.label {
        Some(label) => label.clone(),
        None => args.commands.join(" + "),
    };
    if let Some(path) = &args.latency_out {
        std::fs::write(path, total.latency_lines())
            .map_err(|error| format!("writing {}: {error}", path.display()))?;
    }
    Ok(total.report(&label, &plan))
}

fn plan(args: &Args) -> Result<Plan, String> {
    if args.clients == 0 || args.clients > CLIENTS_MAX {
        return Err(format!("--clients must be 1 to {CLIENTS_MAX}"));
    }
    if args.pipeline == 0 || args.pipeline > PIPELINE_MAX {
        return Err(format!("--pipeline must be 1 to {PIPELINE_MAX}"));
    }
    if args.threads == 0 || args.threads > THREADS_MAX || args.threads > args.clients {
        return Err(format!(
            "--threads must be 1 to {THREADS_MAX} and at most --clients"
        ));
    }
    let duration = match args.seconds {
        Some(seconds) if !(seconds > 0.0 && seconds < 1e6) => {
            return Err("--seconds must be a positive number of seconds".into())
        }
        Some(seconds) => Some(Duration::from_secs_f64(seconds)),
        None => None,
    };
    let total = match (args.requests, duration) {
        (Some(0), _) => return Err("--requests must be at least 1".into()),
        (Some(count), _) => Some(count),
        (None, Some(_)) => None,
        (None, None) => Some(100_000),
    };
    if !(args.timeout_seconds > 0.0 && args.timeout_seconds < 1e6) {
        return Err("--timeout-seconds must be a positive number of seconds".into());
    }
    let steps = args
        .commands
        .iter()
        .map(|text| Command::parse(text))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Plan {
        steps,
        clients: args.clients,
        pipeline: args.pipeline,
        threads: args.threads,
        total,
        duration,
        rate: args.rate,
        seed: args.seed,
        timeout: Duration::from_secs_f64(args.timeout_seconds),
    })
}

/// One piece of a template word.
#[derive(Debug, PartialEq)]
enum Part {
    Literal(Vec<u8>),
    /// `seq * multiply + add`.
    Seq {
        multiply: u64,
        add: u64,
    },
    /// Uniform in `0..bound`.
    Rand {
        bound: u64,
    },
}

/// A template word: pre-encoded when it has no placeholder.
#[derive(Debug)]
enum Word {
    Fixed(Vec<u8>),
    Parts(Vec<Part>),
}

/// A command template, encoded as a RESP array of bulk strings per use.
#[derive(Debug)]
struct Command {
    /// `*<words>\r\n`.
    header: Vec<u8>,
    words: Vec<Word>,
}

impl Command {
    fn parse(text: &str) -> Result<Command, String> {
        let words = split_args(text.as_bytes())
            .ok_or_else(|| format!("unbalanced quotes in --cmd {text:?}"))?;
        if words.is_empty() {
            return Err("an empty --cmd".into());
        }
        let mut parsed = Vec::with_capacity(words.len());
        for word in &words {
            let parts = parse_word(word).map_err(|e| format!("in --cmd {text:?}: {e}"))?;
            parsed.push(match parts.as_slice() {
                [] => Word::Fixed(bulk(b"")),
                [Part::Literal(bytes)] => Word::Fixed(bulk(bytes)),
                _ => Word::Parts(parts),
            });
        }
        Ok(Command {
            header: format!("*{}\r\n", parsed.len()).into_bytes(),
            words: parsed,
        })
    }

    /// Appends this command for step `seq` to `out`; `scratch` holds a
    /// dynamic word while its length is not known yet.
    fn encode(&self, seq: u64, random: &mut Random, scratch: &mut Vec<u8>, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.header);
        let mut digits = itoa::Buffer::new();
        for word in &self.words {
            match word {
                Word::Fixed(encoded) => out.extend_from_slice(encoded),
                Word::Parts(parts) => {
                    scratch.clear();
                    for part in parts {
                        match part {
                            Part::Literal(bytes) => scratch.extend_from_slice(bytes),
                            Part::Seq { multiply, add } => scratch.extend_from_slice(
                                digits
                                    .format(seq.wrapping_mul(*multiply).wrapping_add(*add))
                                    .as_bytes(),
                            ),
                            Part::Rand { bound } => scratch
                                .extend_from_slice(digits.format(random.below(*bound)).as_bytes()),
                        }
                    }
                    out.push(b'$');
                    out.extend_from_slice(digits.format(scratch.len()).as_bytes());
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(scratch);
                    out.extend_from_slice(b"\r\n");
                }
            }
        }
    }
}

fn bulk(bytes: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", bytes.len()).into_bytes();
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
    out
}

/// Splits a word into literals and placeholders. Braces that do not start
/// `{seq` or `{rand:` are literal (Redis hash tags such as `{user}`).
fn parse_word(word: &[u8]) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut literal = Vec::new();
    let mut rest = word;
    while let Some(&byte) = rest.first() {
        let placeholder =
            byte == b'{' && (rest.starts_with(b"{seq") || rest.starts_with(b"{rand:"));
        if !placeholder {
            literal.push(byte);
            rest = &rest[1..];
            continue;
        }
        let close = rest.iter().position(|&b| b == b'}').ok_or_else(|| {
            format!(
                "unclosed placeholder in {:?}",
                String::from_utf8_lossy(word)
            )
        })?;
        let inside = std::str::from_utf8(&rest[1..close])
            .map_err(|_| "a placeholder must be ASCII".to_string())?;
        if !literal.is_empty() {
            parts.push(Part::Literal(std::mem::take(&mut literal)));
        }
        parts.push(parse_placeholder(inside)?);
        rest = &rest[close + 1..];
    }
    if !literal.is_empty() {
        parts.push(Part::Literal(literal));
    }
    Ok(parts)
}

fn parse_placeholder(inside: &str) -> Result<Part, String> {
    let number = |text: &str| -> Result<u64, String> {
        text.parse::<u64>()
            .map_err(|_| format!("{{{inside}}}: {text:?} is not a non-negative integer"))
    };
    if let Some(bound) = inside.strip_prefix("rand:") {
        let bound = number(bound)?;
        if bound == 0 {
            return Err(format!("{{{inside}}}: the bound must be at least 1"));
        }
        return Ok(Part::Rand { bound });
    }
    let Some(rest) = inside.strip_prefix("seq") else {
        return Err(format!("unknown placeholder {{{inside}}}"));
    };
    let (multiply, add) = match (rest.strip_prefix('*'), rest.strip_prefix('+')) {
        (Some(scaled), _) => match scaled.split_once('+') {
            Some((multiply, add)) => (number(multiply)?, number(add)?),
            None => (number(scaled)?, 0),
        },
        (None, Some(add)) => (1, number(add)?),
        (None, None) if rest.is_empty() => (1, 0),
        (None, None) => {
            return Err(format!(
                "unknown placeholder {{{inside}}} (use {{seq}}, {{seq*M}}, {{seq+A}}, {{seq*M+A}} or {{rand:N}})"
            ))
        }
    };
    Ok(Part::Seq { multiply, add })
}

/// wyrand: fast, and plenty for picking keys.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let product = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        (product as u64) ^ ((product >> 64) as u64)
    }

    /// Uniform in `0..bound` by multiply-shift (bias below 2⁻⁴⁰ for any
    /// bound used here).
    fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(bound)) >> 64) as u64
    }
}

/// What one thread (or the whole run, merged) measured.
struct Tally {
    latency: Histogram<u64>,
    /// Open loop: how late each step went out after its due time (the
    /// generator's own delay, already inside `latency`).
    send_lag: Histogram<u64>,
    steps: u64,
    errors: u64,
    first_error: Option<String>,
    labels: Vec<(Vec<u8>, u64)>,
    other_labels: u64,
    /// When the last reply arrived, from the start.
    finished: Duration,
}

impl Tally {
    fn new() -> Result<Tally, String> {
        Ok(Tally {
            latency: Histogram::new_with_bounds(1, LATENCY_NS_MAX, 3)
                .map_err(|e| format!("histogram: {e}"))?,
            send_lag: Histogram::new_with_bounds(1, LATENCY_NS_MAX, 3)
                .map_err(|e| format!("histogram: {e}"))?,
            steps: 0,
            errors: 0,
            first_error: None,
            labels: Vec::new(),
            other_labels: 0,
            finished: Duration::ZERO,
        })
    }

    fn count_label(&mut self, label: &[u8]) {
        if let Some(entry) = self.labels.iter_mut().find(|(known, _)| known == label) {
            entry.1 += 1;
        } else if self.labels.len() < LABELS_MAX {
            self.labels.push((label.to_vec(), 1));
        } else {
            self.other_labels += 1;
        }
    }

    fn merge(&mut self, other: Tally) -> Result<(), String> {
        self.latency
            .add(&other.latency)
            .and_then(|()| self.send_lag.add(&other.send_lag))
            .map_err(|e| format!("histogram: {e}"))?;
        self.steps += other.steps;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        for (label, count) in other.labels {
            if let Some(entry) = self.labels.iter_mut().find(|(known, _)| *known == label) {
                entry.1 += count;
            } else if self.labels.len() < LABELS_MAX {
                self.labels.push((label, count));
            } else {
                self.other_labels += count;
            }
        }
        self.other_labels += other.other_labels;
        self.finished = self.finished.max(other.finished);
        Ok(())
    }

    /// Every recorded latency as `nanoseconds count` lines, in increasing
    /// order (values are the histogram's, within its 3 significant digits).
    fn latency_lines(&self) -> String {
        let mut text = String::new();
        for value in self.latency.iter_recorded() {
            text.push_str(&format!(
                "{} {}\n",
                self.latency.highest_equivalent(value.value_iterated_to()),
                value.count_at_value()
            ));
        }
        text
    }

    fn report(&self, label: &str, plan: &Plan) -> String {
        let seconds = self.finished.as_secs_f64().max(1e-9);
        let requests = self.steps * plan.steps.len() as u64;
        let rps = self.steps as f64 / seconds;
        let cmd_rps = requests as f64 / seconds;
        let us = |quantile: f64| self.latency.value_at_quantile(quantile) as f64 / 1e3;
        let max_us = self.latency.max() as f64 / 1e3;
        let mode = if plan.rate == 0 {
            "closed loop".to_string()
        } else {
            format!("offered {} steps/s", plan.rate)
        };
        let mut text = format!(
            "{label}: {} ops ({requests} requests) in {seconds:.3} s = {rps:.0} ops/s, {} clients, pipeline {}, {mode}; \
             latency p50 {:.0} µs, p99 {:.0} µs, p99.9 {:.0} µs, max {max_us:.0} µs; {} error replies\n",
            self.steps,
            plan.clients,
            plan.pipeline,
            us(0.5),
            us(0.99),
            us(0.999),
            self.errors,
        );
        text.push_str(&format!(
            "ops={} requests={requests} seconds={seconds:.3} rps={rps:.0} cmd_rps={cmd_rps:.0} \
             p50_us={:.0} p99_us={:.0} p999_us={:.0} max_us={max_us:.0} errors={} offered_rps={} clients={} pipeline={}\n",
            self.steps,
            us(0.5),
            us(0.99),
            us(0.999),
            self.errors,
            plan.rate,
            plan.clients,
            plan.pipeline,
        ));
        let mut labels: Vec<String> = self
            .labels
            .iter()
            .map(|(label, count)| format!("{}={count}", String::from_utf8_lossy(label)))
            .collect();
        if self.other_labels > 0 {
            labels.push(format!("other={}", self.other_labels));
        }
        text.push_str(&format!("replies {}\n", labels.join(" ")));
        if plan.rate > 0 {
            let lag_us = |quantile: f64| self.send_lag.value_at_quantile(quantile) as f64 / 1e3;
            text.push_str(&format!(
                "send_lag lag_p50_us={:.0} lag_p99_us={:.0} lag_p999_us={:.0} lag_max_us={:.0} (open loop: from due time to sent, \
                 i.e. waiting for a client with room plus the generator's own delay; included in the latency above)\n",
                lag_us(0.5),
                lag_us(0.99),
                lag_us(0.999),
                self.send_lag.max() as f64 / 1e3,
            ));
        }
        if let Some(error) = &self.first_error {
            text.push_str(&format!("first error reply: {error}\n"));
        }
        if plan.rate > 0 && rps < plan.rate as f64 * 0.95 {
            text.push_str(&format!(
                "warning: achieved {rps:.0} steps/s, below the offered {}: the server or the generator could not keep up\n",
                plan.rate
            ));
        }
        text
    }
}

/// One connection's buffers and the steps it has in flight.
struct Client {
    stream: TcpStream,
    out: Vec<u8>,
    written: usize,
    /// Received bytes: `input[parsed..filled]` is not parsed yet.
    input: Vec<u8>,
    parsed: usize,
    filled: usize,
    /// When each step in flight was sent (closed loop) or due (open loop),
    /// in ns from the start; replies come back in order.
    in_flight: VecDeque<u64>,
    /// Replies received so far for the oldest step in flight.
    head_replies: usize,
    /// When this client last saw a reply or sent with nothing in flight.
    last_progress: Instant,
}

impl Client {
    /// Writes as much of `out` as the socket takes.
    fn flush(&mut self) -> io::Result<()> {
        while self.written < self.out.len() {
            match self.stream.write(&self.out[self.written..]) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "socket closed")),
                Ok(count) => self.written += count,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.written = 0;
        Ok(())
    }
}

/// One event-loop thread and its share of the clients and the steps.
struct Worker<'a> {
    plan: &'a Plan,
    poll: Poll,
    clients: Vec<Client>,
    /// This thread's step numbers are `thread + k * threads`.
    thread: u64,
    /// Steps this thread has started.
    started: u64,
    /// Steps this thread may start, or `None` for a timed run.
    quota: Option<u64>,
    /// Open loop: steps per second of this thread, and the phase that
    /// interleaves the threads' schedules.
    rate: f64,
    phase: f64,
    random: Random,
    scratch: Vec<u8>,
    start: Instant,
    timer: Timer,
    tally: Tally,
    /// Open loop: the next client to try for a due step.
    cursor: usize,
}

impl<'a> Worker<'a> {
    fn new(
        plan: &'a Plan,
        thread: usize,
        streams: Vec<StdTcpStream>,
        start: Instant,
    ) -> Result<Worker<'a>, String> {
        let poll = Poll::new().map_err(|e| format!("cannot create a poller: {e}"))?;
        let mut clients = Vec::with_capacity(streams.len());
        for (index, stream) in streams.into_iter().enumerate() {
            let mut stream = TcpStream::from_std(stream);
            poll.registry()
                .register(
                    &mut stream,
                    Token(index),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .map_err(|e| format!("cannot register a connection: {e}"))?;
            clients.push(Client {
                stream,
                out: Vec::with_capacity(4096),
                written: 0,
                input: vec![0; READ_BUFFER_BYTES],
                parsed: 0,
                filled: 0,
                in_flight: VecDeque::with_capacity(plan.pipeline),
                head_replies: 0,
                last_progress: start,
            });
        }
        let threads = plan.threads as u64;
        let thread = thread as u64;
        let quota = plan
            .total
            .map(|total| total / threads + u64::from(thread < total % threads));
        let timer = Timer::new(&poll).map_err(|e| format!("cannot create a timer: {e}"))?;
        Ok(Worker {
            plan,
            poll,
            clients,
            thread,
            started: 0,
            quota,
            rate: plan.rate as f64 / threads as f64,
            phase: thread as f64 / threads as f64,
            random: Random(plan.seed ^ (thread + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            scratch: Vec::with_capacity(256),
            start,
            timer,
            tally: Tally::new()?,
            cursor: 0,
        })
    }

    fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// Whether another step may start at `now_ns`.
    fn may_start(&self, now_ns: u64) -> bool {
        match (self.quota, self.plan.duration) {
            (Some(quota), _) => self.started < quota,
            (None, Some(duration)) => now_ns < duration.as_nanos() as u64,
            (None, None) => false,
        }
    }

    /// Open loop: when step number `started` is due, in ns from the start.
    fn due_ns(&self) -> u64 {
        ((self.started as f64 + self.phase) * 1e9 / self.rate) as u64
    }

    /// Encodes the next step on client `index`, stamped `at_ns`.
    fn start_step(&mut self, index: usize, at_ns: u64) {
        let seq = self.thread + self.started * self.plan.threads as u64;
        self.started += 1;
        let client = &mut self.clients[index];
        for command in &self.plan.steps {
            command.encode(seq, &mut self.random, &mut self.scratch, &mut client.out);
        }
        client.in_flight.push_back(at_ns);
    }

    /// Closed loop: refills an idle client with up to `pipeline` steps.
    fn refill(&mut self, index: usize) -> Result<(), String> {
        if !self.clients[index].in_flight.is_empty() {
            return Ok(());
        }
        let now = self.now_ns();
        for _ in 0..self.plan.pipeline {
            if !self.may_start(now) {
                break;
            }
            self.start_step(index, now);
        }
        let client = &mut self.clients[index];
        client.last_progress = Instant::now();
        client
            .flush()
            .map_err(|e| format!("cannot write to the server: {e}"))
    }

    /// Open loop: starts every step that is due and has a client with room;
    /// true if a due step is left waiting because every client is full.
    fn send_due(&mut self) -> Result<bool, String> {
        let now = self.now_ns();
        let count = self.clients.len();
        let mut blocked = false;
        let mut sent = false;
        while self.may_start(now) && self.due_ns() <= now {
            let found = (0..count)
                .map(|offset| (self.cursor + offset) % count)
                .find(|&index| self.clients[index].in_flight.len() < self.plan.pipeline);
            // The step stays due, and its latency will count the wait.
            let Some(index) = found else {
                blocked = true;
                break;
            };
            self.cursor = (index + 1) % count;
            if self.clients[index].in_flight.is_empty() {
                self.clients[index].last_progress = Instant::now();
            }
            let due = self.due_ns();
            self.tally
                .send_lag
                .saturating_record(now.saturating_sub(due).max(1));
            self.start_step(index, due);
            sent = true;
        }
        if sent {
            for client in &mut self.clients {
                if client.written < client.out.len() {
                    client
                        .flush()
                        .map_err(|e| format!("cannot write to the server: {e}"))?;
                }
            }
        }
        Ok(blocked)
    }

    fn in_flight(&self) -> bool {
        self.clients
            .iter()
            .any(|client| !client.in_flight.is_empty())
    }

    fn run(mut self) -> Result<Tally, String> {
        let open_loop = self.plan.rate > 0;
        if !open_loop {
            for index in 0..self.clients.len() {
                self.refill(index)?;
            }
        }
        let mut events = Events::with_capacity(1024);
        let mut rounds: u32 = 0;
        loop {
            let blocked = open_loop && self.send_due()?;
            let now = self.now_ns();
            let more = self.may_start(now);
            if !more && !self.in_flight() {
                break;
            }
            let timeout = if open_loop && more && !blocked {
                let due = self.due_ns();
                self.timer
                    .wait(
                        Duration::from_nanos(due.saturating_sub(now)),
                        self.plan.timeout,
                    )
                    .map_err(|e| format!("timer: {e}"))?
            } else if self.plan.duration.is_some() && more {
                // A timed run must notice its end even if no reply comes;
                // replies normally wake it much sooner.
                Some(self.plan.timeout.min(Duration::from_millis(100)))
            } else {
                Some(self.plan.timeout)
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("poll: {e}")),
            }
            for event in events.iter() {
                if event.token() == TIMER_TOKEN {
                    self.timer.clear();
                    continue;
                }
                let index = event.token().0;
                if event.is_writable() {
                    self.clients[index]
                        .flush()
                        .map_err(|e| format!("cannot write to the server: {e}"))?;
                }
                if event.is_readable() || event.is_read_closed() {
                    self.read(index)?;
                    if !open_loop {
                        self.refill(index)?;
                    }
                }
            }
            rounds += 1;
            if events.is_empty() || rounds >= STALL_CHECK_ROUNDS {
                rounds = 0;
                self.check_stalled()?;
            }
        }
        Ok(self.tally)
    }

    /// Fails the run if a client has waited too long for a reply.
    fn check_stalled(&self) -> Result<(), String> {
        let limit = self.plan.timeout;
        for client in &self.clients {
            if !client.in_flight.is_empty() && client.last_progress.elapsed() > limit {
                return Err(format!(
                    "no reply for {:.1} s with {} steps in flight: the server stalled",
                    limit.as_secs_f64(),
                    client.in_flight.len()
                ));
            }
        }
        Ok(())
    }

    /// Reads everything available on client `index` and counts the replies.
    fn read(&mut self, index: usize) -> Result<(), String> {
        let commands = self.plan.steps.len();
        loop {
            let client = &mut self.clients[index];
            if client.parsed == client.filled {
                client.parsed = 0;
                client.filled = 0;
            } else if client.filled == client.input.len() {
                // Full: move the partial reply to the front, or grow for a
                // reply larger than the buffer.
                if client.parsed > 0 {
                    client.input.copy_within(client.parsed..client.filled, 0);
                    client.filled -= client.parsed;
                    client.parsed = 0;
                } else {
                    let size = client.input.len() * 2;
                    client.input.resize(size, 0);
                }
            }
            let count = match client.stream.read(&mut client.input[client.filled..]) {
                Ok(count) => count,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("cannot read from the server: {e}")),
            };
            if count == 0 {
                if client.in_flight.is_empty() {
                    return Ok(());
                }
                return Err(format!(
                    "the server closed a connection with {} steps in flight",
                    client.in_flight.len()
                ));
            }
            client.filled += count;
            let now = self.start.elapsed();
            let now_ns = now.as_nanos() as u64;
            client.last_progress = Instant::now();
            loop {
                let client = &mut self.clients[index];
                let pending = &client.input[client.parsed..client.filled];
                let Some(length) = scan_reply(pending)? else {
                    break;
                };
                let reply = &pending[..length];
                client.parsed += length;
                let Some(&sent) = client.in_flight.front() else {
                    return Err("the server sent a reply nobody asked for".into());
                };
                if reply[0] == b'-' && self.tally.first_error.is_none() {
                    let text = &reply[1..length - 2];
                    self.tally.first_error = Some(String::from_utf8_lossy(text).into_owned());
                }
                self.tally.errors += u64::from(reply[0] == b'-');
                self.tally.count_label(reply_label(reply));
                client.head_replies += 1;
                if client.head_replies == commands {
                    client.head_replies = 0;
                    client.in_flight.pop_front();
                    self.tally
                        .latency
                        .saturating_record(now_ns.saturating_sub(sent).max(1));
                    self.tally.steps += 1;
                    self.tally.finished = now;
                }
            }
        }
    }
}

/// The length of the complete RESP reply at the start of `buf`, `None` if
/// more bytes are needed. Nested aggregates are walked with a counter of
/// elements still expected, not recursion.
fn scan_reply(buf: &[u8]) -> Result<Option<usize>, String> {
    let mut position = 0;
    let mut expected: u64 = 1;
    while expected > 0 {
        let Some(line_end) = find_crlf(&buf[position..]) else {
            return Ok(None);
        };
        let line = &buf[position..position + line_end];
        let Some((&kind, rest)) = line.split_first() else {
            return Err("an empty line where a RESP reply should start".into());
        };
        position += line_end + 2;
        expected -= 1;
        match kind {
            b'+' | b'-' | b':' | b',' | b'#' | b'_' | b'(' => {}
            b'$' | b'!' | b'=' => {
                let length = parse_length(rest)?;
                if length >= 0 {
                    let end = position + length as usize + 2;
                    if buf.len() < end {
                        return Ok(None);
                    }
                    if &buf[end - 2..end] != b"\r\n" {
                        return Err("a bulk string not followed by CRLF".into());
                    }
                    position = end;
                }
            }
            b'*' | b'~' | b'>' => {
                let count = parse_length(rest)?;
                expected += count.max(0) as u64;
            }
            b'%' | b'|' => {
                let count = parse_length(rest)?;
                // An attribute (`|`) precedes the reply it annotates.
                expected += 2 * count.max(0) as u64 + u64::from(kind == b'|');
            }
            other => {
                return Err(format!(
                    "the server sent something that is not RESP (byte 0x{other:02x})"
                ))
            }
        }
    }
    Ok(Some(position))
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(offset) = buf[from..].iter().position(|&b| b == b'\r') {
        let at = from + offset;
        match buf.get(at + 1) {
            Some(b'\n') => return Some(at),
            Some(_) => from = at + 1,
            None => return None,
        }
    }
    None
}

fn parse_length(digits: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|text| text.parse::<i64>().ok())
        .filter(|&length| length >= -1)
        .ok_or_else(|| {
            format!(
                "a bad length {:?} in a RESP reply",
                String::from_utf8_lossy(digits)
            )
        })
}

/// What a complete reply is counted as: an array's first string, a simple
/// string's text, or the reply's type.
fn reply_label(reply: &[u8]) -> &[u8] {
    // The text of a short simple or bulk string at the start of `element`.
    let text_of = |element: &[u8]| -> Option<(usize, usize)> {
        let end = find_crlf(element)?;
        match element.first()? {
            b'+' if end - 1 <= LABEL_BYTES_MAX => Some((1, end)),
            b'$' => {
                let length = usize::try_from(parse_length(&element[1..end]).ok()?).ok()?;
                (length <= LABEL_BYTES_MAX && element.len() >= end + 2 + length)
                    .then_some((end + 2, end + 2 + length))
            }
            _ => None,
        }
    };
    match reply.first() {
        Some(b'*') | Some(b'>') => {
            let Some(end) = find_crlf(reply) else {
                return b"array";
            };
            let element = &reply[end + 2..];
            match text_of(element) {
                Some((from, to)) => &element[from..to],
                None => b"array",
            }
        }
        Some(b'+') => match text_of(reply) {
            Some((from, to)) => &reply[from..to],
            None => b"simple",
        },
        Some(b'-') => b"error",
        Some(b':') => b"int",
        Some(b'$') if reply.starts_with(b"$-1\r\n") => b"nil",
        Some(b'$') => b"bulk",
        Some(b'_') => b"nil",
        Some(b'%') => b"map",
        _ => b"other",
    }
}

/// Wakes the open loop when the next step is due. On Linux a timerfd gives
/// microsecond precision (poll timeouts are whole milliseconds); elsewhere
/// the poll timeout is used, rounded up to a millisecond.
#[cfg(target_os = "linux")]
struct Timer {
    fd: std::os::fd::OwnedFd,
}

#[cfg(target_os = "linux")]
impl Timer {
    fn new(poll: &Poll) -> io::Result<Timer> {
        use std::os::fd::{AsRawFd, FromRawFd};
        // SAFETY: timerfd_create has no memory arguments; a non-negative
        // result is a new descriptor we own.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nothing else.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        poll.registry().register(
            &mut mio::unix::SourceFd(&fd.as_raw_fd()),
            TIMER_TOKEN,
            Interest::READABLE,
        )?;
        Ok(Timer { fd })
    }

    /// Arms the timer to fire after `delay`; returns the poll timeout to use.
    fn wait(&self, delay: Duration, limit: Duration) -> io::Result<Option<Duration>> {
        use std::os::fd::AsRawFd;
        // A zero value would disarm the timer instead of firing at once.
        let delay = delay.max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: delay.as_secs() as libc::time_t,
                tv_nsec: delay.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: `spec` is a valid itimerspec and the old value is not
        // requested (null).
        let result =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if result < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Some(limit))
    }

    /// Consumes an expiry so the edge-triggered poll reports the next one.
    fn clear(&self) {
        use std::os::fd::AsRawFd;
        let mut expirations = [0u8; 8];
        // SAFETY: reads at most 8 bytes into an 8-byte buffer; EAGAIN
        // (nothing to read) is fine.
        let _ = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                expirations.as_mut_ptr().cast(),
                expirations.len(),
            )
        };
    }
}

#[cfg(not(target_os = "linux"))]
struct Timer;

#[cfg(not(target_os = "linux"))]
impl Timer {
    fn new(_poll: &Poll) -> io::Result<Timer> {
        Ok(Timer)
    }

    fn wait(&self, delay: Duration, limit: Duration) -> io::Result<Option<Duration>> {
        Ok(Some(delay.min(limit)))
    }

    fn clear(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(template: &str, seq: u64) -> String {
        let command = Command::parse(template).expect("template parses");
        let mut out = Vec::new();
        command.encode(seq, &mut Random(7), &mut Vec::new(), &mut out);
        String::from_utf8(out).expect("ascii")
    }

    #[test]
    fn latency_lines_hold_every_sample_in_increasing_order() {
        let mut tally = Tally::new().expect("histogram");
        for value in [85_000u64, 85_000, 1_000, 3_000_000, 85_000, 250_000] {
            tally.latency.record(value).expect("in range");
        }
        let lines: Vec<(u64, u64)> = tally
            .latency_lines()
            .lines()
            .map(|line| {
                let (value, count) = line.split_once(' ').expect("two fields");
                (value.parse().expect("value"), count.parse().expect("count"))
            })
            .collect();
        assert_eq!(lines.iter().map(|(_, count)| count).sum::<u64>(), 6);
        assert!(lines.windows(2).all(|pair| pair[0].0 < pair[1].0));
        // Each value is its bucket's highest equivalent, as the quantiles
        // usher-load prints are.
        assert_eq!(lines[0], (tally.latency.highest_equivalent(1_000), 1));
        assert_eq!(lines[1], (tally.latency.highest_equivalent(85_000), 3));
        assert_eq!(
            lines.last().map(|line| line.0),
            Some(tally.latency.highest_equivalent(3_000_000))
        );
    }

    #[test]
    fn placeholders_print_without_leading_zeros() {
        assert_eq!(
            encode("SEAT.HOLD ev h{seq} {seq*2} {seq*2+1} {seq+10}", 0),
            "*6\r\n$9\r\nSEAT.HOLD\r\n$2\r\nev\r\n$2\r\nh0\r\n$1\r\n0\r\n$1\r\n1\r\n$2\r\n10\r\n"
        );
        assert_eq!(encode("X {seq*2+1}", 41), "*2\r\n$1\r\nX\r\n$2\r\n83\r\n");
    }

    #[test]
    fn rand_stays_below_its_bound_and_covers_it() {
        let command = Command::parse("X {rand:3}").expect("parses");
        let mut random = Random(1);
        let mut seen = [0u32; 3];
        for _ in 0..3000 {
            let mut out = Vec::new();
            command.encode(0, &mut random, &mut Vec::new(), &mut out);
            let text = String::from_utf8(out).expect("ascii");
            let value: usize = text
                .trim_end()
                .rsplit("\r\n")
                .next()
                .and_then(|v| v.parse().ok())
                .expect("a number");
            seen[value] += 1;
        }
        assert!(seen.iter().all(|&count| count > 800), "{seen:?}");
    }

    #[test]
    fn other_braces_are_literal_and_bad_placeholders_fail() {
        assert_eq!(
            encode("GET {user}:1", 0),
            "*2\r\n$3\r\nGET\r\n$8\r\n{user}:1\r\n"
        );
        assert!(Command::parse("GET {rand:0}").is_err());
        assert!(Command::parse("GET {rand:x}").is_err());
        assert!(Command::parse("GET {seqq}").is_err());
        assert!(Command::parse("GET {seq").is_err());
        assert!(Command::parse("GET 'open").is_err());
    }

    #[test]
    fn scanner_finds_complete_replies_only() {
        let replies: [&[u8]; 6] = [
            b"+OK\r\n",
            b"-ERR no\r\n",
            b":42\r\n",
            b"$-1\r\n",
            b"$3\r\na\r\n\r\n",
            b"*3\r\n$4\r\nheld\r\n:600000\r\n*2\r\n:1\r\n:2\r\n",
        ];
        for reply in replies {
            assert_eq!(scan_reply(reply), Ok(Some(reply.len())), "{reply:?}");
            for cut in 0..reply.len() {
                assert_eq!(
                    scan_reply(&reply[..cut]),
                    Ok(None),
                    "{reply:?} cut at {cut}"
                );
            }
        }
        assert!(scan_reply(b"?what\r\n").is_err());
    }

    #[test]
    fn labels() {
        assert_eq!(
            reply_label(b"*3\r\n$4\r\nheld\r\n:600000\r\n*0\r\n"),
            b"held"
        );
        assert_eq!(reply_label(b"*2\r\n+taken\r\n*0\r\n"), b"taken");
        assert_eq!(reply_label(b"+OK\r\n"), b"OK");
        assert_eq!(reply_label(b":7\r\n"), b"int");
        assert_eq!(reply_label(b"$-1\r\n"), b"nil");
        assert_eq!(reply_label(b"$2\r\nab\r\n"), b"bulk");
        assert_eq!(reply_label(b"-ERR x\r\n"), b"error");
    }
}
