#!/usr/bin/env bash
# Where PostgreSQL's time goes in a lifecycle: S3 (6,000 orders, 64 in flight) against one node
# on a throwaway server with pg_stat_statements, then the 14 costliest statements with their
# time per order. With OLD_ORDERLY=path OLD_CONFIG=path it measures that release too, on the same
# server (the README's "Many warehouses: before and after" used it).
# Usage: bench/postgres/statements.sh   (release binaries: cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort | tail -1)
ROOT=$(mktemp -d /tmp/orderly-pgprof.XXXX); PORT=$((20000 + RANDOM % 20000))
chown postgres "$ROOT" 2>/dev/null || true
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
as_pg "$BIN/initdb" -D "$ROOT/data" -U postgres --auth=trust >/dev/null
as_pg "$BIN/pg_ctl" -D "$ROOT/data" -l "$ROOT/pg.log" -w -o "-p $PORT -h 127.0.0.1 -k $ROOT -c fsync=on -c synchronous_commit=on -c shared_buffers=256MB -c max_connections=300 -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all" start >/dev/null
trap 'as_pg "$BIN/pg_ctl" -D "$ROOT/data" -m immediate stop >/dev/null 2>&1 || true; pkill -f orderly-pgprof-node || true' EXIT
PSQL="$BIN/psql -X -q -h 127.0.0.1 -p $PORT -U postgres"
for who in new ${OLD_ORDERLY:+old}; do
  if [ $who = old ]; then ORD=$OLD_ORDERLY; CFG=${OLD_CONFIG:?OLD_CONFIG with OLD_ORDERLY}; else ORD=./target/release/orderly; CFG=config.toml; fi
  $PSQL -c "CREATE DATABASE p$who" >/dev/null
  $PSQL -d p$who -c "CREATE EXTENSION pg_stat_statements" >/dev/null
  sed -e "s/^backend = \"sled\".*/backend = \"postgres\"/" -e "s|^bind = .*|bind = \"127.0.0.1:$((PORT+1))\"|" \
      -e "s|^data_dir = .*|data_dir = \"$ROOT/d-$who\"|" \
      -e "s|^cache_mb = .*|cache_mb = 64\\n[storage.postgres]\\nurl = \"postgres://postgres@127.0.0.1:$PORT/p$who\"\\nnode_id = \"n-$who\"|" \
      -e "s|^level = .*|level = \"warn\"|" "$CFG" > "$ROOT/$who.toml"
  (exec -a orderly-pgprof-node "$ORD" --config "$ROOT/$who.toml" serve >>"$ROOT/$who.log" 2>&1) & P=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$((PORT+1))/readyz" >/dev/null && break; sleep 0.1; done
  $PSQL -d p$who -c "SELECT pg_stat_statements_reset()" >/dev/null
  ./target/release/orderly-bench --config "$ROOT/$who.toml" bench --url "http://127.0.0.1:$((PORT+1))" --scenario lifecycle --orders 6000 --concurrency 64 --json "$ROOT/$who.json" > "$ROOT/$who.out" 2>&1 || true
  echo "== $who: $(python3 -c "import json; print(round(json.load(open('$ROOT/$who.json'))['totals']['orders_per_sec']))") orders/s"
  $PSQL -d p$who -c "SELECT calls, round(total_exec_time::numeric,0) AS ms, round((total_exec_time/6000)::numeric,3) AS ms_per_order, left(regexp_replace(query, '\s+', ' ', 'g'), 90) AS q FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname='p$who') ORDER BY total_exec_time DESC LIMIT 14"
  kill $P; wait $P 2>/dev/null || true
done
