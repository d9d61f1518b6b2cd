"""The official OpenAI Python SDK's `files` calls, unmodified, against a running gateway.

Usage: python3 openai_files.py BASE_URL API_KEY OTHER_KEY
Prints one `ok <check>` line per check and exits non-zero on the first failure.
"""
import json
import sys

import openai

base, key, other_key = sys.argv[1:4]
client = openai.OpenAI(base_url=base, api_key=key, max_retries=0)
other = openai.OpenAI(base_url=base, api_key=other_key, max_retries=0)

lines = [
    {"custom_id": f"req-{i}", "method": "POST", "url": "/v1/chat/completions",
     "body": {"model": "mock/echo", "messages": [{"role": "user", "content": f"line {i}"}]}}
    for i in range(1000)
]
data = ("\n".join(json.dumps(l) for l in lines) + "\n").encode()
f = client.files.create(file=("input.jsonl", data), purpose="batch")
assert f.id.startswith("file-") and f.bytes == len(data) and f.purpose == "batch" and f.filename == "input.jsonl", f
print("ok create")

g = client.files.retrieve(f.id)
assert g.id == f.id and g.bytes == len(data), g
listed = [x.id for x in client.files.list()]
assert f.id in listed, listed
assert f.id in [x.id for x in client.files.list(purpose="batch")]
print("ok retrieve and list")

content = client.files.content(f.id).read()
assert content == data, (len(content), len(data))
print("ok content")

# Another key sees nothing of it.
try:
    other.files.retrieve(f.id)
    raise AssertionError("another key read the file")
except openai.NotFoundError:
    pass
assert f.id not in [x.id for x in other.files.list()]
print("ok scope")

bad = b'{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{}}\n{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{}}\nnot json\n'
try:
    client.files.create(file=("bad.jsonl", bad), purpose="batch")
    raise AssertionError("a malformed batch file was accepted")
except openai.BadRequestError as e:
    msg = str(e)
    assert "line 2: custom_id `a` repeats line 1" in msg and "line 3: not a JSON object" in msg, msg
try:
    client.files.create(file=("latin1.jsonl", b'{"custom_id":"\xe9"}\n'), purpose="batch")
    raise AssertionError("a batch file that is not UTF-8 was accepted")
except openai.BadRequestError as e:
    assert "must be UTF-8" in str(e), str(e)
print("ok malformed lines")

d = client.files.delete(f.id)
assert d.deleted and d.id == f.id, d
try:
    client.files.retrieve(f.id)
    raise AssertionError("a deleted file is still there")
except openai.NotFoundError:
    pass
print("ok delete")
