#!/usr/bin/env bash
# Side-by-side throughput of usher and Redis with the same load generator
# (redis-benchmark, 50 clients), in one run, printed as ratios usher/Redis.
#
#   bash benches/compare.sh            # defaults: 200000 requests per test
#   REQUESTS=50000 bash benches/compare.sh
#
# Installs redis-server/redis-tools from the distribution if missing, builds
# usher in release mode, starts both servers on loopback ports, and stops
# them at the end. Absolute numbers drift on shared machines; compare the
# ratios, which come from the same run.
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=${REQUESTS:-200000}
CLIENTS=${CLIENTS:-50}
USHER_PORT=${USHER_PORT:-7471}
REDIS_PORT=${REDIS_PORT:-7472}

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
  echo "installing redis-server and redis-tools..." >&2
  apt-get update -qq && apt-get install -y -qq redis-server redis-tools >/dev/null
fi
cargo build --release --quiet --bin usher-server

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_port() {
  for _ in $(seq 1 100); do
    redis-cli -p "$1" PING >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server on port $1 did not start" >&2
  exit 1
}

# start_pair MODE: none | always | everysec
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
  ./target/release/usher-server --port "$USHER_PORT" "${usher_flags[@]}" >"$work/usher.log" 2>&1 &
  pids+=($!)
  redis-server --port "$REDIS_PORT" --save '' --dir "$work/redis" "${redis_flags[@]}" >"$work/redis.log" 2>&1 &
  pids+=($!)
  wait_port "$USHER_PORT"
  wait_port "$REDIS_PORT"
}

# rps PORT PIPELINE TEST...
rps() {
  local port=$1 pipeline=$2
  shift 2
  redis-benchmark -p "$port" -c "$CLIENTS" -n "$REQUESTS" -P "$pipeline" -r 100000 -q "$@" 2>/dev/null |
    tr '\r' '\n' | grep "requests per second" | tail -1 |
    awk '{for (i = 2; i <= NF; i++) if ($i == "requests") print $(i - 1)}'
}

# pair LABEL PIPELINE USHER-COMMAND... -- REDIS-COMMAND...: different commands
# for the same step (usher's native command against its Redis equivalent).
pair() {
  local label=$1 pipeline=$2
  shift 2
  local usher_cmd=() redis_cmd=()
  while [ "$1" != "--" ]; do usher_cmd+=("$1"); shift; done
  shift
  redis_cmd=("$@")
  local usher redis
  usher=$(rps "$USHER_PORT" "$pipeline" "${usher_cmd[@]}")
  redis=$(rps "$REDIS_PORT" "$pipeline" "${redis_cmd[@]}")
  printf '| %-34s | %3s | %12s | %12s | %5s |\n' "$label" "$pipeline" "$usher" "$redis" \
    "$(python3 -c "print(f'{$usher/$redis:.2f}')")"
}

row() {
  local label=$1 pipeline=$2
  shift 2
  local usher redis
  usher=$(rps "$USHER_PORT" "$pipeline" "$@")
  redis=$(rps "$REDIS_PORT" "$pipeline" "$@")
  printf '| %-34s | %3s | %12s | %12s | %5s |\n' "$label" "$pipeline" "$usher" "$redis" \
    "$(python3 -c "print(f'{$usher/$redis:.2f}')")"
}

echo "usher vs Redis $(redis-server --version | awk '{print $3}'), $CLIENTS clients, $REQUESTS requests per test, $(nproc) cores"
echo
printf '| %-34s | %3s | %12s | %12s | %5s |\n' test P "usher rps" "redis rps" ratio
echo "|------------------------------------|-----|--------------|--------------|-------|"
start_pair none
for pipeline in 1 16; do
  for test in incr set get; do
    row "$test (no persistence)" "$pipeline" -t "$test"
  done
  row "zadd (no persistence)" "$pipeline" ZADD myzset __rand_int__ member:__rand_int__
done
# A waiting-room step: usher's queue against a Redis sorted set used as one
# (ZADD NX with the arrival time as score, ZRANK for the position).
redis-cli -p "$USHER_PORT" QUEUE.CONFIG room >/dev/null
for pipeline in 1 16; do
  pair "QUEUE.JOIN vs ZADD NX" "$pipeline" QUEUE.JOIN room user:__rand_int__ -- \
    ZADD room NX __rand_int__ user:__rand_int__
  pair "QUEUE.POS vs ZRANK" "$pipeline" QUEUE.POS room user:__rand_int__ -- \
    ZRANK room user:__rand_int__
done
for mode in always everysec no; do
  start_pair "$mode"
  for pipeline in 1 16; do
    row "incr (fsync $mode)" "$pipeline" -t incr
  done
done
