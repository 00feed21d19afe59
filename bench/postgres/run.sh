#!/usr/bin/env bash
# Orderly on PostgreSQL next to pgbench on the same server, and next to the sled default: the
# figures in the README's "Several nodes over PostgreSQL" section. Starts its own PostgreSQL
# (fsync=on, synchronous_commit=on: as durable as production) in a temporary directory, runs
#   1. pgbench: TPC-B-like, a three-insert transaction (event + snapshot + outbox row), and a
#      single autocommit insert, each with 32 clients;
#   2. orderly-bench against one Orderly node on PostgreSQL, and against three nodes (one bench
#      client per node, figures summed);
#   3. orderly-bench against the sled default.
# Usage: bench/postgres/run.sh [seconds-per-pgbench-run]   (release binaries: cargo build --release)
# Env: SKIP_PGBENCH=1, SKIP_SLED=1 (leave those parts out); NODES="1" (node counts, "1 3" by
# default); ORDERLY=path and CONFIG=path (another
# release's binary and the config.toml it came with, to measure it beside this tree).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-20}
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort | tail -1)
ROOT=$(mktemp -d /tmp/orderly-pgbench.XXXX)
PORT=$((20000 + RANDOM % 20000))
chown postgres "$ROOT" 2>/dev/null || true
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
as_pg "$BIN/initdb" -D "$ROOT/data" -U postgres --auth=trust >/dev/null
as_pg "$BIN/pg_ctl" -D "$ROOT/data" -l "$ROOT/pg.log" -w \
  -o "-p $PORT -h 127.0.0.1 -k $ROOT -c fsync=on -c synchronous_commit=on -c shared_buffers=256MB -c max_connections=300" start >/dev/null
trap 'as_pg "$BIN/pg_ctl" -D "$ROOT/data" -m immediate stop >/dev/null 2>&1 || true; pkill -f "orderly-pgbench-node" || true' EXIT
PSQL="$BIN/psql -X -q -h 127.0.0.1 -p $PORT -U postgres"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); PostgreSQL $($BIN/postgres --version | awk '{print $3}'), fsync=on"

echo "== pgbench (32 clients, ${SECS}s each)"
if [ -z "${SKIP_PGBENCH:-}" ]; then
$PSQL -c "CREATE DATABASE pgb" >/dev/null
"$BIN/pgbench" -h 127.0.0.1 -p "$PORT" -U postgres -i -s 10 -q pgb >/dev/null 2>&1
$PSQL -d pgb -f bench/postgres/tables.sql >/dev/null
tps() { grep -Eo 'tps = [0-9.]+' | head -1 | awk '{print $3}'; }
echo "TPC-B-like:        $("$BIN/pgbench" -h 127.0.0.1 -p "$PORT" -U postgres -c 32 -j 2 -T "$SECS" pgb 2>/dev/null | tps) tps"
echo "three inserts/txn: $("$BIN/pgbench" -h 127.0.0.1 -p "$PORT" -U postgres -c 32 -j 2 -T "$SECS" -n -f bench/postgres/three_inserts.sql pgb 2>/dev/null | tps) tps"
echo "one insert:        $("$BIN/pgbench" -h 127.0.0.1 -p "$PORT" -U postgres -c 32 -j 2 -T "$SECS" -n -f bench/postgres/one_insert.sql pgb 2>/dev/null | tps) tps"
fi

ORDERLY=${ORDERLY:-./target/release/orderly}
CONFIG=${CONFIG:-config.toml}
BENCH=./target/release/orderly-bench
node_config() { # name port db
  sed -e "s/^backend = \"sled\".*/backend = \"postgres\"/" \
      -e "s|^bind = .*|bind = \"127.0.0.1:$2\"|" \
      -e "s|^data_dir = .*|data_dir = \"$ROOT/data-$1\"|" \
      -e "s|^cache_mb = .*|cache_mb = 64\\n[storage.postgres]\\nurl = \"postgres://postgres@127.0.0.1:$PORT/$3\"\\nnode_id = \"$1\"|" \
      -e "s|^level = .*|level = \"warn\"|" "$CONFIG" > "$ROOT/$1.toml"
}
start_nodes() { # db count
  local pids=()
  for i in $(seq 1 "$2"); do
    node_config "n$i" $((PORT + i)) "$1"
    (exec -a orderly-pgbench-node "$ORDERLY" --config "$ROOT/n$i.toml" serve >>"$ROOT/n$i.log" 2>&1) &
    pids+=($!)
  done
  for i in $(seq 1 "$2"); do
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$((PORT + i))/readyz" >/dev/null && break; sleep 0.1; done
  done
  echo "${pids[@]}"
}
run_bench() { # label count scenario orders
  local label=$1 n=$2 scenario=$3 orders=$4 pids=()
  for i in $(seq 1 "$n"); do
    "$BENCH" --config "$ROOT/n$i.toml" bench --url "http://127.0.0.1:$((PORT + i))" --scenario "$scenario" \
      --orders $((orders / n)) --concurrency $((64 / n)) --json "$ROOT/$label-$i.json" >"$ROOT/$label-$i.out" 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}"
  python3 - "$ROOT" "$label" "$n" <<'PY'
import json, sys, glob
root, label, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
# With several clients (one per node), the work of all of them over the longest measured
# phase: a client that finished early does not make the others look faster.
done, longest, rates = 0.0, 0.0, 0.0
for i in range(1, n + 1):
    t = json.load(open(f"{root}/{label}-{i}.json"))["totals"]
    done += t["transitions"] if "transitions" in label else t["orders_delivered"]
    longest = max(longest, t["elapsed_secs"])
    rates += t["transitions_per_sec"] if "transitions" in label else t["orders_per_sec"]
extra = f" (sum of the {n} clients' own rates: {rates:,.0f}/s)" if n > 1 else ""
print(f"{label}: {done / longest:,.0f}/s{extra}")
PY
}

for nodes in ${NODES:-1 3}; do
  echo "== Orderly, $nodes node(s) on PostgreSQL"
  $PSQL -c "CREATE DATABASE o$nodes" >/dev/null
  pids=$(start_nodes "o$nodes" "$nodes")
  run_bench "pg-$nodes-transitions" "$nodes" transitions 30000
  run_bench "pg-$nodes-lifecycle" "$nodes" lifecycle 6000
  kill $pids 2>/dev/null || true
  wait $pids 2>/dev/null || true
done

if [ -n "${SKIP_SLED:-}" ]; then echo "(outputs in $ROOT)"; exit 0; fi
echo "== Orderly on sled (the default)"
"$BENCH" bench --scenario transitions --orders 30000 --concurrency 64 --json "$ROOT/sled-transitions.json" >"$ROOT/sled-t.out" 2>&1
"$BENCH" bench --scenario lifecycle --orders 6000 --concurrency 64 --json "$ROOT/sled-lifecycle.json" >"$ROOT/sled-l.out" 2>&1
python3 - "$ROOT" <<'PY'
import json, sys
root = sys.argv[1]
for label in ("sled-transitions", "sled-lifecycle"):
    r = json.load(open(f"{root}/{label}.json"))
    key = "transitions_per_sec" if "transitions" in label else "orders_per_sec"
    print(f"{label}: {r['totals'].get(key, 0):,.0f}/s")
PY
echo "(outputs in $ROOT)"
