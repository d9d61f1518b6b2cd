"""The official OpenAI Python SDK's `batches` calls, unmodified, against a running gateway.

Usage: python3 openai_batches.py BASE_URL API_KEY
A 1,000-line batch polled to completed, its output read (every custom_id once); a slow batch
cancelled mid-way. Prints one `ok <check>` line per check.
"""
import json
import sys
import time

import openai

base, key = sys.argv[1:3]
client = openai.OpenAI(base_url=base, api_key=key, max_retries=0)


def upload(lines):
    data = ("\n".join(json.dumps(l) for l in lines) + "\n").encode()
    return client.files.create(file=("input.jsonl", data), purpose="batch")


def wait(batch_id, done, seconds=90):
    until = time.time() + seconds
    while True:
        b = client.batches.retrieve(batch_id)
        if b.status in done or time.time() > until:
            return b
        time.sleep(0.25)


n = 1000
f = upload([{"custom_id": f"req-{i}", "method": "POST", "url": "/v1/chat/completions",
             "body": {"model": "mock/echo", "messages": [{"role": "user", "content": f"line {i}"}]}} for i in range(n)])
b = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h", metadata={"run": "sdk"})
assert b.id.startswith("batch_") and b.status in ("validating", "in_progress"), b
b = wait(b.id, ("completed", "failed", "expired", "cancelled"))
assert b.status == "completed", b
assert b.request_counts.total == n and b.request_counts.completed == n and b.request_counts.failed == 0, b.request_counts
print("ok completed")

out = client.files.content(b.output_file_id).text
seen = {}
for line in out.splitlines():
    o = json.loads(line)
    seen[o["custom_id"]] = seen.get(o["custom_id"], 0) + 1
    assert o["response"]["status_code"] == 200, o
    i = o["custom_id"].split("-")[1]
    assert o["response"]["body"]["choices"][0]["message"]["content"] == f"echo: line {i}", o
assert len(seen) == n and all(c == 1 for c in seen.values()), (len(seen), [k for k, c in seen.items() if c != 1][:5])
print("ok output")

assert b.id in [x.id for x in client.batches.list()]
print("ok list")

slow = upload([{"custom_id": f"slow-{i}", "method": "POST", "url": "/v1/chat/completions",
                "body": {"model": "mock/slow-3000ms", "messages": [{"role": "user", "content": f"s {i}"}]}} for i in range(30)])
s = client.batches.create(input_file_id=slow.id, endpoint="/v1/chat/completions", completion_window="24h")
time.sleep(0.5)
c = client.batches.cancel(s.id)
assert c.status in ("cancelling", "cancelled"), c
s = wait(s.id, ("cancelled", "completed"))
assert s.status == "cancelled", s
assert s.request_counts.completed + s.request_counts.failed == 30 and s.request_counts.failed > 0, s.request_counts
errs = client.files.content(s.error_file_id).text.splitlines()
assert len(errs) == s.request_counts.failed, (len(errs), s.request_counts)
print("ok cancel")

try:
    client.batches.create(input_file_id=f.id, endpoint="/v1/embeddings", completion_window="24h")
    raise AssertionError("a chat file ran as an embeddings batch")
except openai.BadRequestError as e:
    assert "endpoint" in str(e), e
print("ok checks")
