//! Chat completions in OpenAI's shape, shared by the OpenAI and Azure mocks: the request
//! read into an [`Ask`], and the [`Reply`] written as a completion or as SSE frames (`n`
//! choices, tool calls with their arguments split over frames, refusals).

use crate::reply::{Ask, Reply, ToolChoice};
use crate::text_of;
use serde_json::{json, Value};

/// What differs between services speaking this shape.
pub struct Flavor {
    /// The completion id.
    pub id: &'static str,
    /// The model the answer names (`None`: the request's).
    pub model: Option<&'static str>,
    /// `system_fingerprint`.
    pub fingerprint: &'static str,
    /// Fields added to every choice (Azure's `content_filter_results`).
    pub choice_extra: Value,
    /// The usage object.
    pub usage: Value,
}

/// The text of the last user message.
pub fn last_user_text(req: &Value) -> String {
    req["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .map(|m| text_of(&m["content"]))
        .unwrap_or_default()
}

/// The request, read for [`crate::reply::reply`].
pub fn ask(req: &Value, model: &str) -> Ask {
    let msgs = req["messages"].as_array().cloned().unwrap_or_default();
    let last = msgs.last().cloned().unwrap_or_default();
    let last_user = msgs
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .cloned()
        .unwrap_or_default();
    let tc = &req["tool_choice"];
    Ask {
        model: model.to_string(),
        last_user: last_user_text(req),
        images: last_user["content"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["type"] == "image_url")
            .count(),
        tool_result: (last["role"] == "tool").then(|| text_of(&last["content"])),
        tools: req["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["function"]["name"].as_str().map(str::to_string))
            .collect(),
        choice: match tc {
            Value::String(s) if s == "none" => ToolChoice::None,
            Value::String(s) if s == "required" => ToolChoice::Required,
            Value::Object(_) => {
                ToolChoice::Named(tc["function"]["name"].as_str().unwrap_or("").into())
            }
            _ => ToolChoice::Auto,
        },
        parallel: req["parallel_tool_calls"] != json!(false),
        stop: match &req["stop"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        },
        schema: req["response_format"]["json_schema"].get("schema").cloned(),
        thinking: false,
    }
}

/// The message and finish reason of a reply (`refusal`: OpenAI's refusal shape).
fn message(r: &Reply, refusal: bool) -> (Value, &'static str) {
    if refusal {
        return (
            json!({"role": "assistant", "content": null, "refusal": "I can't help with that."}),
            "stop",
        );
    }
    if r.calls.is_empty() {
        return (
            json!({"role": "assistant", "content": r.text, "refusal": null}),
            "stop",
        );
    }
    let calls: Vec<Value> = r
        .calls
        .iter()
        .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.args.to_string()}}))
        .collect();
    (
        json!({"role": "assistant", "content": null, "tool_calls": calls}),
        "tool_calls",
    )
}

/// A whole completion with `n` choices of the reply.
pub fn completion(f: &Flavor, model: &str, r: &Reply, n: usize, refusal: bool) -> Value {
    let choices: Vec<Value> = (0..n)
        .map(|i| {
            let (m, finish) = message(r, refusal);
            let mut c =
                json!({"index": i, "message": m, "finish_reason": finish, "logprobs": null});
            merge(&mut c, &f.choice_extra);
            c
        })
        .collect();
    json!({"id": f.id, "object": "chat.completion", "created": 1, "model": f.model.unwrap_or(model),
        "system_fingerprint": f.fingerprint, "choices": choices, "usage": f.usage})
}

fn merge(into: &mut Value, extra: &Value) {
    for (k, v) in extra.as_object().into_iter().flatten() {
        into[k] = v.clone();
    }
}

/// The chunks of a streamed answer, `n` choices one after the other (no usage chunk).
pub fn chunks(f: &Flavor, model: &str, r: &Reply, n: usize, refusal: bool) -> Vec<Value> {
    let chunk = |i: usize, delta: Value, finish: Value| {
        let mut c = json!({"index": i, "delta": delta, "finish_reason": finish});
        merge(&mut c, &f.choice_extra);
        json!({"id": f.id, "object": "chat.completion.chunk", "created": 1, "model": f.model.unwrap_or(model),
            "system_fingerprint": f.fingerprint, "choices": [c]})
    };
    let mut out = Vec::new();
    for i in 0..n {
        out.push(chunk(
            i,
            json!({"role": "assistant", "content": ""}),
            Value::Null,
        ));
        if refusal {
            for w in "I can't help with that.".split_inclusive(' ') {
                out.push(chunk(i, json!({"refusal": w}), Value::Null));
            }
            out.push(chunk(i, json!({}), json!("stop")));
            continue;
        }
        for (k, c) in r.calls.iter().enumerate() {
            out.push(chunk(i, json!({"tool_calls": [{"index": k, "id": c.id, "type": "function", "function": {"name": c.name, "arguments": ""}}]}), Value::Null));
            let args = c.args.to_string();
            let (a, b) = args.split_at(args.len() / 2);
            for part in [a, b] {
                out.push(chunk(
                    i,
                    json!({"tool_calls": [{"index": k, "function": {"arguments": part}}]}),
                    Value::Null,
                ));
            }
        }
        for w in r.text.split_inclusive(' ') {
            out.push(chunk(i, json!({"content": w}), Value::Null));
        }
        let finish = if r.calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        };
        out.push(chunk(i, json!({}), json!(finish)));
    }
    out
}
