#!/usr/bin/env bash
# Fuzzes the running service against its own OpenAPI document with schemathesis (`--checks all`):
# any 5xx, any status, header, content type or body the document does not declare, any request
# valid by the document that is refused (or invalid and accepted) fails the run.
#
# Builds the debug binary, starts it on a free port with a throwaway data directory and a config
# without webhooks, seeds a little stock and one order, runs schemathesis with an admin key, a
# fixed seed and a bounded number of examples, and always stops the service.
#
# Env: SCHEMATHESIS_VERSION (pinned below), SCHEMATHESIS (path of an installed one, skips the
# install), ST_MAX_EXAMPLES (default 100), ST_SEED (default 1). Extra arguments go to schemathesis.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"
MAX_EXAMPLES="${ST_MAX_EXAMPLES:-100}"
SEED="${ST_SEED:-1}"
ADMIN_KEY="st-admin-key-0000000001"

work="$(mktemp -d)"
pid=""
cleanup() {
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

if [[ -n "${SCHEMATHESIS:-}" ]]; then
    st="$SCHEMATHESIS" # an installed schemathesis, for local runs
else
    echo "-- installing schemathesis $SCHEMATHESIS_VERSION"
    python3 -m venv "$work/venv"
    "$work/venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
    st="$work/venv/bin/schemathesis"
fi

echo "-- building the service"
cargo build --locked --bin orderly
bin="${CARGO_TARGET_DIR:-target}/debug/orderly"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
cat >"$work/config.toml" <<TOML
[server]
bind = "127.0.0.1:$port"
workers = 2
max_body_bytes = 65536

[storage]
data_dir = "$work/data"

[engine]
effect_wait_ms = 2000
send_timeout_ms = 2000

[auth]
storefront = ["st-storefront-key-00001"]
warehouse = ["st-warehouse-key-000001"]
admin = ["$ADMIN_KEY"]

[auth.carriers]
postnl = ["st-carrier-postnl-00001"]

[[carriers]]
id = "postnl"
name = "PostNL"
tracking_prefix = "3S"
countries = ["NL", "BE"]
services = [{ code = "standard", method = "standard", transit_days = 1, cutoff = "17:00", max_weight_grams = 30000 }]

[notifications]
log = false

[log]
level = "warn"
TOML

echo "-- starting the service on $base"
"$bin" --config "$work/config.toml" serve >"$work/service.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
    curl -fsS "$base/readyz" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/service.log"; echo "the service did not start"; exit 1; }
    sleep 0.1
done
curl -fsS "$base/readyz" >/dev/null

echo "-- seeding"
A="Authorization: Bearer $ADMIN_KEY"
J="content-type: application/json"
curl -fsS -X PUT "$base/v1/inventory/ams/SKU-1" -H "$A" -H "$J" -d '{"on_hand":100}' >/dev/null
curl -fsS -X POST "$base/v1/orders" -H "$A" -H "$J" -H 'Idempotency-Key: seed-1' -d '{
  "customer":{"id":"c1","email":"jan@example.com"}, "currency":"EUR",
  "lines":[{"sku":"SKU-1","quantity":2,"unit_price":1999}],
  "shipping":{"address":{"name":"Jan","line1":"Dam 1","city":"Amsterdam","postal_code":"1012AB","country":"NL"}},
  "payment":{"method":"card","status":"captured"}}' >/dev/null

echo "-- schemathesis (seed $SEED, at most $MAX_EXAMPLES examples per operation)"
status=0
mkdir -p "$work/backups"
ST_BACKUP_ROOT="$work/backups" SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$PWD/.ci" "$st" --config-file .ci/schemathesis.toml run "$base/openapi.json" \
    --checks all \
    --exclude-checks ensure_resource_availability \
    --header "Authorization: Bearer $ADMIN_KEY" \
    --seed "$SEED" \
    --max-examples "$MAX_EXAMPLES" \
    --workers 1 \
    --request-timeout 10 \
    --no-color \
    "$@" || status=$?

if ! kill -0 "$pid" 2>/dev/null; then
    echo "the service died during the run:"; tail -50 "$work/service.log"; status=1
fi
if grep -q "panicked" "$work/service.log"; then
    echo "the service panicked during the run:"; grep -A5 "panicked" "$work/service.log" | head -40; status=1
fi
exit "$status"
