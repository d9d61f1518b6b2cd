"""The official OpenAI Python SDK, unmodified, through the gateway to other providers:
structured output with a nested pydantic model (`parse()`), and a tool-calling round trip
with reasoning where the client sends back the message object the SDK gave it.

Usage: python3 openai_fidelity.py BASE_URL MODEL...
Prints `ok parse <model>` and `ok tools <model>` per model; exits non-zero on a failure.
"""
import sys

import openai
from pydantic import BaseModel

base, models = sys.argv[1], sys.argv[2:]
client = openai.OpenAI(base_url=base, api_key="sk-unused", max_retries=0)


class Address(BaseModel):
    city: str
    zip: str


class Person(BaseModel):
    name: str
    address: Address


tools = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]

for model in models:
    r = client.chat.completions.parse(
        model=model, messages=[{"role": "user", "content": "who lives where?"}], response_format=Person)
    p = r.choices[0].message.parsed
    assert isinstance(p, Person) and isinstance(p.address, Address), r
    print(f"ok parse {model}")

    messages = [{"role": "user", "content": "weather in Paris?"}]
    kw = dict(model=model, tools=tools, reasoning_effort="low", max_completion_tokens=4096)
    r = client.chat.completions.create(messages=messages, **kw)
    msg = r.choices[0].message
    assert msg.tool_calls, r
    messages.append(msg)  # the SDK's own object, as clients do
    messages.append({"role": "tool", "tool_call_id": msg.tool_calls[0].id, "content": "sunny"})
    r2 = client.chat.completions.create(messages=messages, **kw)
    assert "the tool said: sunny" in (r2.choices[0].message.content or ""), r2
    print(f"ok tools {model}")
