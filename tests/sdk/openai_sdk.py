"""The official OpenAI Python SDK, unmodified, against a running gateway.

Usage: python3 openai_sdk.py BASE_URL [API_KEY]  (e.g. http://127.0.0.1:8080/v1 sy-...)
With API_KEY the gateway has keys: the SDK authenticates with it, and a wrong key is an
AuthenticationError.
Prints one `ok <check>` line per check and exits non-zero on the first failure.
"""
import sys

import openai

base = sys.argv[1]
key = sys.argv[2] if len(sys.argv) > 2 else "sk-unused"
client = openai.OpenAI(base_url=base, api_key=key, max_retries=0)

if len(sys.argv) > 2:
    wrong = openai.OpenAI(base_url=base, api_key="sy-000000000000-wrong", max_retries=0)
    try:
        wrong.chat.completions.create(model="mock/echo", messages=[{"role": "user", "content": "x"}])
        raise AssertionError("a wrong key was accepted")
    except openai.AuthenticationError as e:
        assert e.status_code == 401 and e.code == "invalid_api_key", e
    print("ok auth")

r = client.chat.completions.create(model="mock/echo", messages=[{"role": "user", "content": "sdk hello"}])
assert r.choices[0].message.content == "echo: sdk hello", r
assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
print("ok chat")

raw = client.chat.completions.with_raw_response.create(model="mock/echo", messages=[{"role": "user", "content": "hdr"}])
assert raw.headers.get("x-switchyard-job-id"), raw.headers
print("ok job id header")

parts = []
usage = None
for chunk in client.chat.completions.create(
    model="mock/echo",
    messages=[{"role": "user", "content": "sdk stream words"}],
    stream=True,
    stream_options={"include_usage": True},
):
    if chunk.choices and chunk.choices[0].delta.content:
        parts.append(chunk.choices[0].delta.content)
    if chunk.usage:
        usage = chunk.usage
assert "".join(parts) == "echo: sdk stream words", parts
assert usage is not None and usage.total_tokens > 0
print("ok stream")

try:
    client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    raise SystemExit("expected NotFoundError")
except openai.NotFoundError as e:
    assert e.body["code"] == "model_not_found", e.body
print("ok errors")

models = client.models.list()
assert any(m.id == "fast" for m in models.data), [m.id for m in models.data]
print("ok models")
