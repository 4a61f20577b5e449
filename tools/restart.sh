#!/usr/bin/env bash
# Restart time and memory per key: loads KEYS string keys (`key:%08d` ->
# `val:%08d`, SET over loopback with `redis-cli --pipe`), takes a snapshot
# with the SNAPSHOT admin command, kills the server, then restarts it on the
# same data directory RUNS times and prints, per restart, the `recovered
# elapsed_ms` of the server log, the snapshot load phases, INFO used_memory
# and RSS per key, and the process's CPU time.
#
#   bash tools/restart.sh                    # defaults: 10000000 keys, 3 runs
#   KEYS=5000000 RUNS=5 bash tools/restart.sh
#   TTL=1 bash tools/restart.sh              # every key with a 1-day PX
#
# Needs python3 and redis-cli (redis-tools). The data directory (about 55
# bytes per key) is created under TMPDIR and removed at the end. Timings on
# a shared machine drift with the other load on it: repeat, and compare
# builds in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."

KEYS=${KEYS:-10000000}
RUNS=${RUNS:-3}
TTL=${TTL:-0}
PORT=${PORT:-7481}

if ! command -v redis-cli >/dev/null; then
  echo "installing redis-tools..." >&2
  apt-get update -qq && apt-get install -y -qq redis-tools >/dev/null
fi
cargo build --release --quiet --bin usher-server
server=target/release/usher-server

work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

start() {
  "$server" --port "$PORT" --dir "$work/data" --fsync no --keys-max $((KEYS * 2)) \
    --snapshot-interval-ms 0 --snapshot-log-bytes-max 0 >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 3000); do
    redis-cli -p "$PORT" PING >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "the server did not start" >&2
  exit 1
}

stop() {
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
}

field() { # INFO field value
  redis-cli -p "$PORT" INFO | tr -d '\r' | sed -n "s/^$1://p"
}

python3 - "$KEYS" "$TTL" >"$work/set.resp" <<'EOF'
import sys
keys, ttl = int(sys.argv[1]), sys.argv[2] == "1"
out = sys.stdout.buffer
batch = []
for i in range(keys):
    key, value = b"key:%08d" % i, b"val:%08d" % i
    words = [b"SET", key, value] + ([b"PX", b"86400000"] if ttl else [])
    batch.append(b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w) for w in words))
    if len(batch) == 100000:
        out.write(b"".join(batch))
        batch = []
out.write(b"".join(batch))
EOF

start
# What an empty server takes, subtracted from every figure per key.
empty_used=$(field used_memory)
empty_rss=$(field used_memory_rss)
per_key() {
  echo "used_memory $(( ($(field used_memory) - empty_used) / KEYS )) B/key," \
    "rss $(( ($(field used_memory_rss) - empty_rss) / KEYS )) B/key"
}
redis-cli -p "$PORT" --pipe <"$work/set.resp" | tail -1
echo "after SET: $(per_key)"
redis-cli -p "$PORT" SNAPSHOT >/dev/null
until grep -q "snapshot written" "$work/server.log"; do sleep 0.5; done
stop
rm -f "$work/set.resp"

for run in $(seq 1 "$RUNS"); do
  start
  phases=$(sed 's/\x1b\[[0-9;]*m//g' "$work/server.log" |
    grep -oE "(decode|insert|elapsed)_ms=[0-9]+" | tr '\n' ' ')
  cpu_ms=$(awk '{ print ($14 + $15) * 10 }' "/proc/$pid/stat")
  echo "restart $run: ${phases}cpu_ms=$cpu_ms $(per_key)"
  stop
done
