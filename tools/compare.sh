#!/usr/bin/env bash
# Side-by-side figures for usher and Redis from one run on this machine,
# printed as ratios usher/Redis. Absolute numbers drift on shared machines;
# compare the ratios, which come from the same run.
#
#   bash tools/compare.sh                            # everything, defaults below
#   REQUESTS=50000 bash tools/compare.sh             # quicker
#   PARTS="seats memory" bash tools/compare.sh       # some parts only
#
# Parts (PARTS, default all, in this order):
#   basic        INCR, SET, GET, ZADD without persistence (after a PING row that
#                measures the load generator's ceiling), and the waiting-room
#                commands one by one (QUEUE.JOIN vs ZADD NX, QUEUE.POS vs ZRANK):
#                redis-benchmark, -P 1 and -P 16.
#   seats        2-seat all-or-nothing hold: usher's SEAT.HOLD against the same
#                rule as a Lua script in Redis (tools/seat_hold.lua, EVALSHA),
#                two random seats of SEATS each, new holder per request (and, as
#                a ceiling, the same request to an event that does not exist):
#                usher-load, -P 1 and -P 16.
#   queue        a waiting-room step, QUEUE.JOIN + QUEUE.POS against
#                ZADD NX + ZRANK, same member, counted as one op: usher-load.
#   memory       bytes per queue member (QUEUE_MEMBERS members 'user:N' in one
#                queue / one sorted set) and per held seat (SEAT_HOLDERS holders
#                x 2 seats; Redis: one string key per seat with a PX TTL, as the
#                Lua script stores them), per set member, hash field (one big hash,
#                and many 10-field hashes) and list element (COLLECTION_ITEMS
#                each): growth of INFO used_memory (and RSS).
#   latency      p50/p99/p99.9 at a fixed offered rate (LATENCY_RATE requests/s,
#                LATENCY_SECONDS, open loop, measured from each request's due
#                time) for INCR and GET: usher-load, LATENCY_REPEATS alternating
#                runs per server, medians of the runs, and the runs pooled into
#                one distribution per server.
#   commands     the plain Redis commands sale backends use, CPU per request against
#                Redis: SADD, SISMEMBER, HSET, HINCRBY, LPUSH, RPOP (redis-benchmark,
#                random members of one set/hash, one list), MGET of 10 keys of
#                100000 set first, and MULTI of 3 INCRs (usher-load, MULTI INCR
#                INCR INCR EXEC counted as one step): -P 1 and -P 16. Each row
#                runs REPEATS times, alternating servers, and a note gives the
#                median CPU ratio.
#   persistence  INCR with usher --fsync always|everysec|no against Redis
#                appendonly yes + appendfsync always|everysec|no: redis-benchmark.
#   growth       latency while a waiting room grows past the size at which its
#                index grows: GROW_MEMBERS members loaded (pipelined, untimed),
#                then new members join at GROW_RATE/s for GROW_SECONDS (QUEUE.JOIN
#                vs ZADD NX): usher-load, GROW_REPEATS runs, each on fresh servers
#                (each server loaded right before its own timed run; the first
#                server alternates), and the runs pooled.
#
# Environment (defaults in brackets):
#   REQUESTS [200000]          requests per unpipelined throughput row
#   PIPELINED_REQUESTS [1000000] requests per pipelined (-P 16) row, so that it
#                              runs about as long as an unpipelined one
#   PERSIST_REQUESTS [REQUESTS] requests per unpipelined persistence row
#   PERSIST_ROUNDS [3]         runs of each persistence row, alternating between the
#                              servers; each run is a table row, and a note gives the
#                              median ratio (these rows drift most: the disk's mood)
#   CLIENTS [50]               connections per row
#   SEATS [1000000]            seats in the event of the hold rows
#   QUEUE_MEMBERS [1000000]    members loaded for the memory rows
#   SEAT_HOLDERS [100000]      holders (2 seats each) loaded for the memory rows
#   COLLECTION_ITEMS [1000000] set members, hash fields and list elements loaded for the
#                              memory rows
#   LATENCY_RATE [20000]       offered requests/s in the latency view: keep it well below
#                              both servers' unpipelined throughput (the basic rows), or
#                              the figures measure queueing, not the servers
#   LATENCY_SECONDS [4]        length of each latency run
#   LATENCY_REPEATS [5]        latency runs per server and command (alternating);
#                              the table shows the median of the runs
#   GROW_MEMBERS [1700000]     members loaded before each growth run: the runs then
#                              cross usher's index growth at 1835008 members (7/8 of
#                              2^21 buckets) and Redis's dict growth at 2^21
#   GROW_RATE [50000]          offered joins/s in the growth runs
#   GROW_SECONDS [8]           length of each growth run (GROW_RATE x GROW_SECONDS new
#                              members: 400000 by default)
#   GROW_REPEATS [3]           growth runs per server
#   REPEATS [3]                runs of each row of the commands part
#   LOAD_THREADS [1]           usher-load event-loop threads
#   USHER_PORT [7471], REDIS_PORT [7472]
#   USHER_SERVER [./target/release/usher-server]  the usher binary to run (another
#                              build, for a before/after comparison)
#
# Load generators: redis-benchmark (50 clients, as the issue asks) where it can
# express the command, and usher-load (tools/src/bin/usher-load.rs) where it cannot:
# Lua, multi-command steps, integer arguments that must not have leading zeros
# (redis-benchmark's __rand_int__ pads with zeros, which both servers reject as
# integers), and latency under a fixed offered load. Each row uses the same
# generator for both servers.
#
# Installs redis-server/redis-tools from the distribution if missing, builds
# usher in release mode, starts both servers on loopback ports (no
# persistence unless the row says otherwise), and stops them at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=${REQUESTS:-200000}
PIPELINED_REQUESTS=${PIPELINED_REQUESTS:-1000000}
PERSIST_REQUESTS=${PERSIST_REQUESTS:-$REQUESTS}
PERSIST_ROUNDS=${PERSIST_ROUNDS:-3}
CLIENTS=${CLIENTS:-50}
SEATS=${SEATS:-1000000}
QUEUE_MEMBERS=${QUEUE_MEMBERS:-1000000}
SEAT_HOLDERS=${SEAT_HOLDERS:-100000}
COLLECTION_ITEMS=${COLLECTION_ITEMS:-1000000}
LATENCY_RATE=${LATENCY_RATE:-20000}
LATENCY_SECONDS=${LATENCY_SECONDS:-4}
LATENCY_REPEATS=${LATENCY_REPEATS:-5}
GROW_MEMBERS=${GROW_MEMBERS:-1700000}
GROW_RATE=${GROW_RATE:-50000}
GROW_SECONDS=${GROW_SECONDS:-8}
GROW_REPEATS=${GROW_REPEATS:-3}
LOAD_THREADS=${LOAD_THREADS:-1}
USHER_PORT=${USHER_PORT:-7471}
REDIS_PORT=${REDIS_PORT:-7472}
USHER_SERVER=${USHER_SERVER:-./target/release/usher-server}
REPEATS=${REPEATS:-3}
PARTS=${PARTS:-basic commands seats queue memory latency persistence growth}

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
  echo "installing redis-server and redis-tools..." >&2
  apt-get update -qq && apt-get install -y -qq redis-server redis-tools >/dev/null
fi
cargo build --release --quiet --bin usher-server --bin usher-load
LOAD=./target/release/usher-load

work=$(mktemp -d)
pids=()
notes=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

want() { [[ " $PARTS " == *" $1 "* ]]; }

wait_port() {
  for _ in $(seq 1 100); do
    redis-cli -p "$1" PING >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server on port $1 did not start" >&2
  exit 1
}

# start_pair MODE: none | always | everysec | no
start_pair() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
  rm -rf "$work/usher" "$work/redis"
  mkdir -p "$work/redis"
  local usher_flags redis_flags
  case $1 in
    none) usher_flags=(--persist false); redis_flags=(--appendonly no) ;;
    *) usher_flags=(--dir "$work/usher" --fsync "$1"); redis_flags=(--appendonly yes --appendfsync "$1") ;;
  esac
  for port in "$USHER_PORT" "$REDIS_PORT"; do
    if redis-cli -p "$port" PING >/dev/null 2>&1; then
      echo "port $port is already taken by another server; set USHER_PORT / REDIS_PORT" >&2
      exit 1
    fi
  done
  "$USHER_SERVER" --port "$USHER_PORT" "${usher_flags[@]}" >"$work/usher.log" 2>&1 &
  pids+=($!)
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --dir "$work/redis" "${redis_flags[@]}" >"$work/redis.log" 2>&1 &
  pids+=($!)
  wait_port "$USHER_PORT"
  wait_port "$REDIS_PORT"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
# median V...: the median of the numbers given (mean of the middle two for
# an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# max_rate A B C: the largest of three request rates, rounded.
max_rate() { awk -v a="$1" -v b="$2" -v c="$3" 'BEGIN { m = a; if (b > m) m = b; if (c > m) m = c; printf "%.0f", m }'; }

# A value from usher-load's machine line (the one starting with ops=), or
# from its send_lag line for lag_* names: field NAME FILE.
field() {
  grep -E '^(ops=|send_lag )' "$2" | awk -v key="$1" '{ for (i = 1; i <= NF; i++) if (index($i, key "=") == 1) print substr($i, length(key) + 2) }' | tail -1
}

row_line() { printf '| %-38s | %3s | %12s | %12s | %5s | %9s | %9s | %9s | %10s | %10s | %9s | %9s |\n' "$@"; }
table_head() {
  row_line test P "usher rps" "redis rps" ratio "usher CPU" "redis CPU" "CPU ratio" "usher busy" "redis busy" "gen usher" "gen redis"
  echo "|----------------------------------------|-----|--------------|--------------|-------|-----------|-----------|-----------|------------|------------|-----------|-----------|"
}

# timed FILE COMMAND...: runs COMMAND (its stderr discarded) and writes the
# CPU seconds it used, user and system, to FILE (bash's time keyword, so it
# needs nothing installed).
timed() {
  local file=$1
  shift
  { TIMEFORMAT='%3U %3S'; time "$@" 2>/dev/null; } 2>"$file"
}

# gen_busy FILE WALL0 WALL1: how busy the load generator was during its run
# (CPU time over wall time, %; one thread is 100 %). Near 100 % with a
# single-threaded generator means the generator, not the server, set the
# row's pace.
gen_busy() { awk -v s="$2" -v e="$3" '{ printf "%.0f", ($1 + $2) * 1e11 / (e - s) }' "$1"; }

# CPU time the server process has used, all threads, in ns (schedstat).
cpu_ns() {
  cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ sum += $1 } END { printf "%.0f", sum }'
}

# Server CPU per request in µs between two cpu_ns readings.
per_request() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.2f", (b - a) / n / 1000 }'; }

# requests_for PIPELINE: requests (steps) per row at that pipeline depth.
requests_for() { if [ "$1" = 1 ]; then echo "$REQUESTS"; else echo "$PIPELINED_REQUESTS"; fi; }

# rps PORT PIPELINE TEST...: redis-benchmark's requests per second.
rps() {
  local port=$1 pipeline=$2
  shift 2
  timed "$work/gen.$port" redis-benchmark -p "$port" -c "$CLIENTS" -n "$(requests_for "$pipeline")" -P "$pipeline" -r 100000 -q "$@" |
    tr '\r' '\n' | grep "requests per second" | tail -1 |
    awk '{for (i = 2; i <= NF; i++) if ($i == "requests") print $(i - 1)}'
}

# pair LABEL PIPELINE USHER-COMMAND... -- REDIS-COMMAND...: redis-benchmark
# with different commands for the same step (usher's native command against
# its Redis equivalent).
pair() {
  local label=$1 pipeline=$2
  shift 2
  local usher_cmd=() redis_cmd=()
  while [ "$1" != "--" ]; do usher_cmd+=("$1"); shift; done
  shift
  redis_cmd=("$@")
  local usher redis c0 c1 c2 c3 t0 t1 t2 t3
  t0=$(date +%s%N) c0=$(cpu_ns "${pids[0]}")
  usher=$(rps "$USHER_PORT" "$pipeline" "${usher_cmd[@]}")
  t1=$(date +%s%N) c1=$(cpu_ns "${pids[0]}")
  t2=$(date +%s%N) c2=$(cpu_ns "${pids[1]}")
  redis=$(rps "$REDIS_PORT" "$pipeline" "${redis_cmd[@]}")
  t3=$(date +%s%N) c3=$(cpu_ns "${pids[1]}")
  cpu_row "$label" "$pipeline" "$usher" "$redis" "$c0" "$c1" "$c2" "$c3" "$(requests_for "$pipeline")" "$t0" "$t1" "$t2" "$t3"
}

# cpu_row LABEL P USHER_RPS REDIS_RPS U0 U1 R0 R1 REQUESTS UT0 UT1 RT0 RT1: a
# table row with each server's CPU per request (µs), the CPU ratio
# redis/usher (above 1: usher needs less CPU per request), how busy each
# server was during its run (CPU time / wall time, %; one thread is 100 %),
# and how busy the load generator was in each run (from the gen.PORT files
# its last runs left).
# The CPU figures depend far less on what else runs on the machine than the
# rps figures do; a server well below 100 % busy was waiting for the load
# generator, so that row's rps measures the generator, not the server; a
# single-threaded generator near 100 % is itself the limit.
cpu_row() {
  local u r ub rb gu gr
  # For callers that need the rates (the generator-ceiling note, medians).
  last_usher=$3 last_redis=$4
  u=$(per_request "$5" "$6" "$9")
  r=$(per_request "$7" "$8" "$9")
  last_cpu_ratio=$(ratio "$r" "$u")
  ub=$(busy "$5" "$6" "${10}" "${11}")
  rb=$(busy "$7" "$8" "${12}" "${13}")
  gu=$(gen_busy "$work/gen.$USHER_PORT" "${10}" "${11}")
  gr=$(gen_busy "$work/gen.$REDIS_PORT" "${12}" "${13}")
  row_line "$1" "$2" "$3" "$4" "$(ratio "$3" "$4")" "$u" "$r" "$(ratio "$r" "$u")" "$ub" "$rb" "$gu" "$gr"
}

# busy CPU0 CPU1 WALL0 WALL1: CPU time over wall time in percent.
busy() { awk -v a="$1" -v b="$2" -v s="$3" -v e="$4" 'BEGIN { printf "%.0f", (b - a) * 100 / (e - s) }'; }

# row LABEL PIPELINE TEST...: redis-benchmark, the same test on both.
row() {
  local label=$1 pipeline=$2
  shift 2
  local usher redis c0 c1 c2 c3 t0 t1 t2 t3
  t0=$(date +%s%N) c0=$(cpu_ns "${pids[0]}")
  usher=$(rps "$USHER_PORT" "$pipeline" "$@")
  t1=$(date +%s%N) c1=$(cpu_ns "${pids[0]}")
  t2=$(date +%s%N) c2=$(cpu_ns "${pids[1]}")
  redis=$(rps "$REDIS_PORT" "$pipeline" "$@")
  t3=$(date +%s%N) c3=$(cpu_ns "${pids[1]}")
  cpu_row "$label" "$pipeline" "$usher" "$redis" "$c0" "$c1" "$c2" "$c3" "$(requests_for "$pipeline")" "$t0" "$t1" "$t2" "$t3"
}

# load NAME PORT ARGS...: runs usher-load, output in $work/NAME; a failed run
# stops the script with usher-load's message.
load() {
  local name=$1 port=$2
  shift 2
  if ! { TIMEFORMAT='%3U %3S'; time "$LOAD" --port "$port" --clients "$CLIENTS" --threads "$LOAD_THREADS" "$@" >"$work/$name" 2>"$work/$name.err"; } 2>"$work/gen.$port"; then
    echo "usher-load failed ($name): $(cat "$work/$name.err")" >&2
    exit 1
  fi
  local errors
  errors=$(field errors "$work/$name")
  if [ "${errors:-0}" != 0 ]; then
    notes+=("$name: $errors error replies, first: $(sed -n 's/^first error reply: //p' "$work/$name")")
  fi
}

# load_pair LABEL PIPELINE USHER-TEMPLATES... -- REDIS-TEMPLATES...: usher-load
# for REQUESTS steps on each server (each template one --cmd; several make a
# step); one table row, and the reply counts as a note.
load_pair() {
  local label=$1 pipeline=$2
  shift 2
  local usher_args=() redis_args=()
  while [ "$1" != "--" ]; do usher_args+=(--cmd "$1"); shift; done
  shift
  for template in "$@"; do redis_args+=(--cmd "$template"); done
  local tag
  tag=$(echo "$label-P$pipeline" | tr -c 'A-Za-z0-9\n' '_')
  local usher redis c0 c1 c2 c3 t0 t1 t2 t3
  t0=$(date +%s%N) c0=$(cpu_ns "${pids[0]}")
  load "$tag.usher" "$USHER_PORT" --pipeline "$pipeline" --requests "$(requests_for "$pipeline")" "${usher_args[@]}"
  t1=$(date +%s%N) c1=$(cpu_ns "${pids[0]}")
  t2=$(date +%s%N) c2=$(cpu_ns "${pids[1]}")
  load "$tag.redis" "$REDIS_PORT" --pipeline "$pipeline" --requests "$(requests_for "$pipeline")" "${redis_args[@]}"
  t3=$(date +%s%N) c3=$(cpu_ns "${pids[1]}")
  usher=$(field rps "$work/$tag.usher")
  redis=$(field rps "$work/$tag.redis")
  # CPU per step (a step may be several commands).
  cpu_row "$label" "$pipeline" "$usher" "$redis" "$c0" "$c1" "$c2" "$c3" "$(requests_for "$pipeline")" "$t0" "$t1" "$t2" "$t3"
  notes+=("$label P$pipeline replies: usher $(sed -n 's/^replies //p' "$work/$tag.usher"); redis $(sed -n 's/^replies //p' "$work/$tag.redis")")
  generator_note "$label" "$pipeline" "$(requests_for "$pipeline")" "$redis"
}

# generator_note LABEL PIPELINE STEPS REDIS_RPS: what usher-load's own CPU
# per step (in its run against usher) allows at most, against Redis's rate:
# on its LOAD_THREADS thread(s), and on every core of the machine with a
# server that cost nothing. A target above the second figure cannot show on
# this machine, whatever the server does.
generator_note() {
  local threads cores
  threads=$LOAD_THREADS cores=$(nproc)
  [ "$threads" -gt "$cores" ] && threads=$cores
  notes+=("$(awk -v label="$1" -v p="$2" -v n="$3" -v redis="$4" -v t="$threads" -v c="$cores" '{
    g = ($1 + $2) / n * 1e6
    printf "%s P%s generator: usher-load used %.2f us of CPU per step against usher; it can drive at most %.0f steps/s on its %d thread(s) (%.1fx Redis'"'"'s rate here), and %.0f on all %d cores with a server that cost nothing (%.1fx)", label, p, g, t / g * 1e6, t, t / g * 1e6 / redis, c / g * 1e6, c, c / g * 1e6 / redis
  }' "$work/gen.$USHER_PORT")")
}

# pooled FILES...: "p50 p99 p99.9 max" in µs of the latencies in usher-load
# --latency-out files (`nanoseconds count` lines), taken as one distribution.
# A quantile is the first value whose running count reaches that share of
# the total, as usher-load's own figures are.
pooled() {
  cat "$@" | awk '{ c[$1] += $2 } END { for (v in c) print v, c[v] }' | sort -n | awk '
    { v[NR] = $1; n[NR] = $2; t += $2 }
    END {
      split("0.5 0.99 0.999", q, " ")
      for (i = 1; i <= 3; i++) {
        target = q[i] * t; cum = 0
        for (j = 1; j <= NR; j++) { cum += n[j]; if (cum >= target) { printf "%.0f ", v[j] / 1000; break } }
      }
      printf "%.0f\n", v[NR] / 1000
    }'
}

both() { redis-cli -p "$USHER_PORT" "$@" >/dev/null && redis-cli -p "$REDIS_PORT" "$@" >/dev/null; }

used_memory() { redis-cli -p "$1" INFO memory | tr -d '\r' | awk -F: -v key="$2" '$1 == key { print $2 }'; }

print_notes() {
  if [ ${#notes[@]} -gt 0 ]; then
    echo
    for note in "${notes[@]}"; do echo "- $note"; done
  fi
  notes=()
}

echo "usher vs Redis $(redis-server --version | awk '{print $3}' | sed 's/v=//'), $CLIENTS clients, $REQUESTS requests per row at P 1 and $PIPELINED_REQUESTS at P 16 (persistence P 1: $PERSIST_REQUESTS), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
if want basic || want commands || want seats || want queue || want persistence; then
  table_head
fi
start_pair none
# Untimed warm-up of both servers and the generator: the first run of a
# fresh pair was repeatedly a few per cent slower than the same run later.
for port in "$USHER_PORT" "$REDIS_PORT"; do
  redis-benchmark -p "$port" -c "$CLIENTS" -n 100000 -q -t ping_mbulk,incr >/dev/null 2>&1 || true
done
if want basic; then
  for pipeline in 1 16; do
    # The generator's own ceiling: PING costs either server next to
    # nothing, so the faster of the two PING runs estimates what
    # redis-benchmark can drive here (one run's noise is a few per cent).
    # A row of this block that ran faster still (the PING row can land in
    # a slow stretch) raises the estimate: the generator drove that too.
    row "ping: generator ceiling" "$pipeline" -t ping_mbulk
    ceiling=$(max_rate 0 "$last_usher" "$last_redis") redis_rates=()
    for test in incr set get; do
      row "$test (no persistence)" "$pipeline" -t "$test"
      ceiling=$(max_rate "$ceiling" "$last_usher" "$last_redis") redis_rates+=("$test $last_redis")
    done
    row "zadd (no persistence)" "$pipeline" ZADD myzset __rand_int__ member:__rand_int__
    redis_rates+=("zadd $last_redis")
    caps=()
    for entry in "${redis_rates[@]}"; do
      caps+=("${entry% *} $(ratio "$ceiling" "${entry#* }")")
    done
    notes+=("P$pipeline: the generator drove up to $ceiling requests/s in this block (the faster PING run, or a faster INCR/SET/GET run), so against Redis's rates in these rows no server could show a ratio much above: $(IFS=,; echo "${caps[*]}" | sed 's/,/, /g')")
  done
  # A waiting-room step: usher's queue against a Redis sorted set used as
  # one (ZADD NX with the arrival time as score, ZRANK for the position).
  redis-cli -p "$USHER_PORT" QUEUE.CONFIG room >/dev/null
  for pipeline in 1 16; do
    pair "QUEUE.JOIN vs ZADD NX" "$pipeline" QUEUE.JOIN room user:__rand_int__ -- \
      ZADD room NX __rand_int__ user:__rand_int__
    pair "QUEUE.POS vs ZRANK" "$pipeline" QUEUE.POS room user:__rand_int__ -- \
      ZRANK room user:__rand_int__
  done
fi
if want commands; then
  # repeated LABEL KIND ARGS...: KIND row|load_pair, REPEATS runs; a note
  # with the median CPU ratio (redis/usher: above 1, usher needs less CPU).
  repeated() {
    local label=$1 kind=$2
    shift 2
    local ratios=()
    for _ in $(seq 1 "$REPEATS"); do
      "$kind" "$label" "$@"
      ratios+=("$last_cpu_ratio")
    done
    notes+=("$label P$1: median CPU ratio redis/usher $(median "${ratios[@]}") over $REPEATS runs")
  }
  redis-benchmark -p "$USHER_PORT" -c "$CLIENTS" -n 300000 -r 100000 -q SET key:__rand_int__ value >/dev/null 2>&1
  redis-benchmark -p "$REDIS_PORT" -c "$CLIENTS" -n 300000 -r 100000 -q SET key:__rand_int__ value >/dev/null 2>&1
  mget=(MGET)
  for _ in $(seq 1 10); do mget+=(key:__rand_int__); done
  for pipeline in 1 16; do
    repeated "SADD" row "$pipeline" SADD coupons user:__rand_int__
    repeated "SISMEMBER" row "$pipeline" SISMEMBER coupons user:__rand_int__
    repeated "HSET" row "$pipeline" HSET product field:__rand_int__ 7
    repeated "HINCRBY" row "$pipeline" HINCRBY product field:__rand_int__ 1
    # As many pops as pushes at each depth, so every RPOP finds an item.
    repeated "LPUSH" row "$pipeline" LPUSH jobs job
    repeated "RPOP" row "$pipeline" RPOP jobs
    repeated "MGET of 10 keys" row "$pipeline" "${mget[@]}"
    repeated "MULTI of 3 INCRs" load_pair "$pipeline" \
      MULTI "INCR c:{rand:100000}" "INCR c:{rand:100000}" "INCR c:{rand:100000}" EXEC -- \
      MULTI "INCR c:{rand:100000}" "INCR c:{rand:100000}" "INCR c:{rand:100000}" EXEC
  done
fi
if want seats; then
  for pipeline in 1 16; do
    both FLUSHALL
    redis-cli -p "$USHER_PORT" SEAT.CREATE ev "$SEATS" LIMIT 3 >/dev/null
    sha=$(redis-cli -p "$REDIS_PORT" SCRIPT LOAD "$(cat tools/seat_hold.lua)")
    load_pair "2-seat hold: SEAT.HOLD vs Lua" "$pipeline" \
      "SEAT.HOLD ev h{seq} 600000 {rand:$SEATS} {rand:$SEATS}" -- \
      "EVALSHA $sha 2 seat:{rand:$SEATS} seat:{rand:$SEATS} h{seq} 600000"
    # The most any hold could show here: the same request to an event that
    # does not exist is parsed, misses its key and gets an error reply, and
    # nothing else. Its rate over Redis's is the ratio no hold can pass on
    # this machine with this generator (every reply is an error, on purpose).
    "$LOAD" --port "$USHER_PORT" --clients "$CLIENTS" --threads "$LOAD_THREADS" --pipeline "$pipeline" \
      --requests "$(requests_for "$pipeline")" \
      --cmd "SEAT.HOLD no-such-event h{seq} 600000 {rand:$SEATS} {rand:$SEATS}" >"$work/hold-floor-P$pipeline" 2>&1 || true
    floor=$(field rps "$work/hold-floor-P$pipeline")
    lua=$(field rps "$work/$(echo "2-seat hold: SEAT.HOLD vs Lua-P$pipeline" | tr -c 'A-Za-z0-9\n' '_').redis")
    notes+=("$(awk -v p="$pipeline" -v floor="${floor:-0}" -v lua="${lua:-0}" 'BEGIN {
      if (lua > 0) printf "2-seat hold P%s ceiling: the same SEAT.HOLD to an event that does not exist (parse, one missed lookup, an error reply) ran at %.0f requests/s, %.1fx Redis'"'"'s Lua rate: no hold could show a much higher ratio here", p, floor, floor / lua
      else printf "2-seat hold P%s ceiling: not measured", p
    }')")
  done
fi
if want queue; then
  for pipeline in 1 16; do
    both FLUSHALL
    redis-cli -p "$USHER_PORT" QUEUE.CONFIG room >/dev/null
    load_pair "JOIN+POS vs ZADD NX+ZRANK (step)" "$pipeline" \
      "QUEUE.JOIN room user:{seq}" "QUEUE.POS room user:{seq}" -- \
      "ZADD room NX {seq} user:{seq}" "ZRANK room user:{seq}"
  done
fi
if want persistence; then
  saved=$REQUESTS
  REQUESTS=$PERSIST_REQUESTS
  for mode in always everysec no; do
    start_pair "$mode"
    for pipeline in 1 16; do
      ratios=() cpu_ratios=()
      for run in $(seq "$PERSIST_ROUNDS"); do
        label="incr (fsync $mode)"
        [ "$PERSIST_ROUNDS" -gt 1 ] && label="$label, run $run"
        row "$label" "$pipeline" -t incr
        ratios+=("$(ratio "$last_usher" "$last_redis")") cpu_ratios+=("$last_cpu_ratio")
      done
      if [ "$PERSIST_ROUNDS" -gt 1 ]; then
        notes+=("incr (fsync $mode) P$pipeline: median ratio $(median "${ratios[@]}") over $PERSIST_ROUNDS runs (${ratios[*]}), median CPU ratio $(median "${cpu_ratios[@]}") (${cpu_ratios[*]})")
      fi
    done
  done
  REQUESTS=$saved
fi
print_notes

if want memory; then
  echo
  echo "Memory: growth of INFO used_memory (usher: live heap bytes requested, counted by its allocator;"
  echo "Redis: bytes allocated by jemalloc) and of used_memory_rss, over the same data loaded by usher-load -P 16."
  echo
  printf '| %-44s | %10s | %10s | %5s | %10s | %10s |\n' "data" "usher B" "redis B" ratio "usher rss" "redis rss"
  echo "|----------------------------------------------|------------|------------|-------|------------|------------|"
  # measure LABEL REQUESTS UNITS USHER-SETUP USHER-TEMPLATE REDIS-TEMPLATE:
  # memory growth from before USHER-SETUP (a command line, may be empty) to
  # after REQUESTS steps of the template, divided by UNITS.
  measure() {
    local label=$1 count=$2 units=$3 setup=$4 usher_template=$5 redis_template=$6
    local port name before after rss_before rss_after template
    local -A grown rss
    # Fresh servers, so RSS is not flattered by pages an earlier row freed.
    start_pair none
    redis-cli -p "$REDIS_PORT" SCRIPT LOAD "$(cat tools/seat_hold.lua)" >/dev/null
    for server in usher redis; do
      if [ $server = usher ]; then port=$USHER_PORT; template=$usher_template; else port=$REDIS_PORT; template=$redis_template; fi
      before=$(used_memory "$port" used_memory)
      rss_before=$(used_memory "$port" used_memory_rss)
      if [ $server = usher ] && [ -n "$setup" ]; then
        read -r -a setup_words <<<"$setup"
        redis-cli -p "$port" "${setup_words[@]}" >/dev/null
      fi
      name="mem-$(echo "$label" | tr -c 'A-Za-z0-9\n' '_').$server"
      load "$name" "$port" --pipeline 16 --requests "$count" --cmd "$template"
      after=$(used_memory "$port" used_memory)
      rss_after=$(used_memory "$port" used_memory_rss)
      grown[$server]=$(awk -v a="$after" -v b="$before" -v n="$units" 'BEGIN { printf "%.1f", (a - b) / n }')
      rss[$server]=$(awk -v a="$rss_after" -v b="$rss_before" -v n="$units" 'BEGIN { printf "%.1f", (a - b) / n }')
      notes+=("$label, $server: $(sed -n 's/^replies //p' "$work/$name")")
    done
    printf '| %-44s | %10s | %10s | %5s | %10s | %10s |\n' "$label" "${grown[usher]}" "${grown[redis]}" \
      "$(ratio "${grown[usher]}" "${grown[redis]}")" "${rss[usher]}" "${rss[redis]}"
  }
  measure "per queue member ($QUEUE_MEMBERS, 'user:N')" "$QUEUE_MEMBERS" "$QUEUE_MEMBERS" "QUEUE.CONFIG mq" \
    "QUEUE.JOIN mq user:{seq}" "ZADD mq NX {seq} user:{seq}"
  # A script's SHA1 depends on its text only: the fresh Redis that
  # measure() starts gets the same one when it loads the script.
  sha=$(redis-cli -p "$REDIS_PORT" SCRIPT LOAD "$(cat tools/seat_hold.lua)")
  # The event has exactly the seats held, so usher's figure includes its
  # whole seat map (created inside the measured span).
  measure "per held seat ($SEAT_HOLDERS holders x 2 seats)" "$SEAT_HOLDERS" "$((2 * SEAT_HOLDERS))" \
    "SEAT.CREATE ms $((2 * SEAT_HOLDERS)) LIMIT 3" \
    "SEAT.HOLD ms h{seq} 600000 {seq*2} {seq*2+1}" \
    "EVALSHA $sha 2 ms:{seq*2} ms:{seq*2+1} h{seq} 600000"
  # 22-byte ids, as the issue's coupon list has: 'user:' and 17 digits.
  measure "per set member ($COLLECTION_ITEMS, 22-byte ids)" "$COLLECTION_ITEMS" "$COLLECTION_ITEMS" "" \
    "SADD coupons user:{seq+10000000000000000}" "SADD coupons user:{seq+10000000000000000}"
  measure "per hash field (one hash, $COLLECTION_ITEMS fields)" "$COLLECTION_ITEMS" "$COLLECTION_ITEMS" "" \
    "HSET product field:{seq+1000000000000000} 7" "HSET product field:{seq+1000000000000000} 7"
  small_hash="HSET product:{seq}"
  for field in 0 1 2 3 4 5 6 7 8 9; do small_hash+=" counter-field-name-$field 7"; done
  measure "per hash field ($((COLLECTION_ITEMS / 10)) hashes x 10 fields)" "$((COLLECTION_ITEMS / 10))" "$COLLECTION_ITEMS" "" \
    "$small_hash" "$small_hash"
  measure "per list element ($COLLECTION_ITEMS, 22 bytes)" "$COLLECTION_ITEMS" "$COLLECTION_ITEMS" "" \
    "RPUSH jobs job:{seq+100000000000000000}" "RPUSH jobs job:{seq+100000000000000000}"
  print_notes
fi

if want latency; then
  start_pair none
  echo
  echo "Latency at a fixed offered load: $LATENCY_RATE requests/s, $CLIENTS clients, $LATENCY_REPEATS alternating runs of ${LATENCY_SECONDS} s per server, open loop (from each request's due time); median over the runs, µs"
  echo
  printf '| %-10s | %9s | %9s | %9s | %9s | %11s | %11s | %9s | %9s |\n' command "usher p50" "redis p50" "usher p99" "redis p99" "usher p99.9" "redis p99.9" "usher max" "redis max"
  echo "|------------|-----------|-----------|-----------|-----------|-------------|-------------|-----------|-----------|"
  both SET counter 0
  pooled_rows=()
  for command in "INCR counter" "GET counter"; do
    tag=$(echo "$command" | tr -c 'A-Za-z0-9\n' '_')
    # Runs alternate between the servers so that a noisy moment on the
    # shared machine lands on both; each figure is the median of the runs.
    for run in $(seq "$LATENCY_REPEATS"); do
      for server in usher redis; do
        if [ $server = usher ]; then port=$USHER_PORT; else port=$REDIS_PORT; fi
        load "lat-$tag.$server.$run" "$port" --rate "$LATENCY_RATE" --seconds "$LATENCY_SECONDS" --cmd "$command" \
          --latency-out "$work/lat-$tag.$server.$run.hist"
        if grep -q '^warning' "$work/lat-$tag.$server.$run"; then
          notes+=("$command on $server, run $run: $(sed -n 's/^warning: //p' "$work/lat-$tag.$server.$run")")
        fi
      done
    done
    # runs KEY SERVER: that figure of every run, space-separated.
    runs() { for run in $(seq "$LATENCY_REPEATS"); do field "$1" "$work/lat-$tag.$2.$run"; done | tr '\n' ' ' | sed 's/ $//'; }
    med() { runs "$1" "$2" | tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
    printf '| %-10s | %9s | %9s | %9s | %9s | %11s | %11s | %9s | %9s |\n' "${command%% *}" \
      "$(med p50_us usher)" "$(med p50_us redis)" "$(med p99_us usher)" "$(med p99_us redis)" \
      "$(med p999_us usher)" "$(med p999_us redis)" "$(med max_us usher)" "$(med max_us redis)"
    # The same runs as one distribution per server: every request of every
    # run counts once, so one noisy run moves the figure by its share only.
    read -r up50 up99 up999 umax < <(pooled "$work"/lat-"$tag".usher.*.hist)
    read -r rp50 rp99 rp999 rmax < <(pooled "$work"/lat-"$tag".redis.*.hist)
    pooled_rows+=("$(printf '| %-10s | %9s | %9s | %9s | %9s | %11s | %11s | %9s | %9s |' "${command%% *}" \
      "$up50" "$rp50" "$up99" "$rp99" "$up999" "$rp999" "$umax" "$rmax")")
    notes+=("${command%% *} p99 of each run (µs): usher $(runs p99_us usher); redis $(runs p99_us redis). p99.9: usher $(runs p999_us usher); redis $(runs p999_us redis)")
    notes+=("${command%% *} achieved (steps/s): usher $(runs rps usher); redis $(runs rps redis). Send lag p99 (µs from due to sent: waiting for a free connection + generator delay, inside the figures above): usher $(runs lag_p99_us usher); redis $(runs lag_p99_us redis)")
  done
  echo
  echo "The same runs pooled: all of a server's requests in one distribution, µs"
  echo
  printf '| %-10s | %9s | %9s | %9s | %9s | %11s | %11s | %9s | %9s |\n' command "usher p50" "redis p50" "usher p99" "redis p99" "usher p99.9" "redis p99.9" "usher max" "redis max"
  echo "|------------|-----------|-----------|-----------|-----------|-------------|-------------|-----------|-----------|"
  printf '%s\n' "${pooled_rows[@]}"
  print_notes
fi

if want growth; then
  echo
  echo "Latency while a waiting room grows: $GROW_MEMBERS members loaded (-P 16, untimed), then $GROW_RATE new members/s for ${GROW_SECONDS} s, $CLIENTS clients, open loop; QUEUE.JOIN vs ZADD NX; fresh servers per run, µs"
  echo
  printf '| %-5s | %9s | %9s | %9s | %9s | %11s | %11s | %9s | %9s | %10s | %10s |
' run "usher p50" "redis p50" "usher p99" "redis p99" "usher p99.9" "redis p99.9" "usher max" "redis max" "usher size" "redis size"
  echo "|-------|-----------|-----------|-----------|-----------|-------------|-------------|-----------|-----------|------------|------------|"
  for run in $(seq "$GROW_REPEATS"); do
    start_pair none
    redis-cli -p "$USHER_PORT" QUEUE.CONFIG room >/dev/null
    # Each server is loaded right before its own timed run, while the other
    # is still empty, so both runs follow the same steps; odd runs time
    # usher first, even runs Redis. (Before, both were loaded and then both
    # timed, usher first: usher's run followed Redis's load. In 4 runs of
    # each order minutes apart, usher's p99 spread over 172-286 µs that way
    # against 170-184 µs this way; why is not known, as neither server used
    # measurable CPU in the 8 s after its load.)
    order="usher redis"
    [ $((run % 2)) = 0 ] && order="redis usher"
    for server in $order; do
      if [ "$server" = usher ]; then
        load "grow-pre.usher.$run" "$USHER_PORT" --pipeline 16 --requests "$GROW_MEMBERS" --cmd "QUEUE.JOIN room a{seq}"
        load "grow.usher.$run" "$USHER_PORT" --rate "$GROW_RATE" --seconds "$GROW_SECONDS" --cmd "QUEUE.JOIN room b{seq}" \
          --latency-out "$work/grow.usher.$run.hist"
      else
        load "grow-pre.redis.$run" "$REDIS_PORT" --pipeline 16 --requests "$GROW_MEMBERS" --cmd "ZADD room NX {seq} a{seq}"
        load "grow.redis.$run" "$REDIS_PORT" --rate "$GROW_RATE" --seconds "$GROW_SECONDS" --cmd "ZADD room NX {seq} b{seq}" \
          --latency-out "$work/grow.redis.$run.hist"
      fi
    done
    usher_size=$(redis-cli -p "$USHER_PORT" QUEUE.INFO room | tr -d '\r' | sed -n '2p')
    redis_size=$(redis-cli -p "$REDIS_PORT" ZCARD room | tr -d '\r')
    g() { field "$1" "$work/grow.$2.$run"; }
    printf '| %-5s | %9s | %9s | %9s | %9s | %11s | %11s | %9s | %9s | %10s | %10s |\n' "$run" \
      "$(g p50_us usher)" "$(g p50_us redis)" "$(g p99_us usher)" "$(g p99_us redis)" \
      "$(g p999_us usher)" "$(g p999_us redis)" "$(g max_us usher)" "$(g max_us redis)" "$usher_size" "$redis_size"
    notes+=("run $run achieved (steps/s): usher $(g rps usher), redis $(g rps redis); send lag p99 (µs, inside the figures above): usher $(g lag_p99_us usher), redis $(g lag_p99_us redis)")
  done
  read -r up50 up99 up999 umax < <(pooled "$work"/grow.usher.*.hist)
  read -r rp50 rp99 rp999 rmax < <(pooled "$work"/grow.redis.*.hist)
  printf '| %-5s | %9s | %9s | %9s | %9s | %11s | %11s | %9s | %9s | %10s | %10s |\n' pooled \
    "$up50" "$rp50" "$up99" "$rp99" "$up999" "$rp999" "$umax" "$rmax" "" ""
  print_notes
fi
