//! The Anthropic Messages API (`/v1/messages` JSON and its SSE event stream,
//! `/v1/messages/count_tokens`) with its error bodies, after Anthropic's API reference.
//! Requests need `x-api-key: <KEY>` and `anthropic-version`.
//!
//! Requests are checked as the API checks them (`check`): unknown fields, unpaired tool
//! calls and results, missing or forged thinking signatures are refused with its 400.
//! Answers follow [`crate::reply`]; thinking (`thinking.type: enabled`) comes first, signed.
//!
//! Besides the shared model names: `stream-error` (an `error` event after the first text).

mod check;

use super::{error_status, record, slow, text_of, Recorder, Upstream};
use crate::reply::{reply, signature, Ask, Reply, ToolChoice};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// The API key the mock accepts.
pub const KEY: &str = "sk-ant-test-key";

/// Starts the mock on a free port.
pub async fn start() -> Upstream {
    super::start_with(handle, "request-id").await
}

/// A `[providers.<name>]` entry of kind `anthropic` pointing at `up`, serving `claude-test`.
pub fn provider_toml(up: &Upstream, name: &str) -> String {
    format!(
        "[providers.{name}]\nkind = \"anthropic\"\nbase_url = \"{}\"\napi_key = \"{KEY}\"\nmodels = [\"claude-test\"]\n",
        up.base
    )
}

/// An Anthropic error answer.
pub fn error(status: u16, kind: &str, message: &str) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({"type": "error", "error": {"type": kind, "message": message}})),
    )
        .into_response();
    if status == 429 {
        r.headers_mut().insert("retry-after", "1".parse().unwrap());
    }
    r
}

/// The text of the last user message.
pub fn last_user_text(req: &Value) -> String {
    req["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .map(|m| text_of(&m["content"]))
        .unwrap_or_default()
}

fn usage(model: &str) -> Value {
    if model == "text-cached" {
        json!({"input_tokens": 4, "output_tokens": 4, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 3})
    } else {
        json!({"input_tokens": 7, "output_tokens": 4})
    }
}

async fn handle(
    State(seen): State<Recorder>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&seen, method.as_str(), &uri, &headers, &body);
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(KEY) {
        return error(401, "authentication_error", "invalid x-api-key");
    }
    if headers.get("anthropic-version").is_none() {
        return error(
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
        );
    }
    let req: Value = serde_json::from_slice(&body).unwrap_or_default();
    let model = req["model"].as_str().unwrap_or("").to_string();
    if let Some(s) = error_status(&model) {
        let kind = match s {
            503 => "api_error",
            other => schemas::anthropic::error_type_for_status(other),
        };
        return error(s, kind, &format!("mock error {s}"));
    }
    match model.as_str() {
        "overloaded" => return error(529, "overloaded_error", "Overloaded"),
        "context-length" => {
            return error(
                400,
                "invalid_request_error",
                "prompt is too long: 250000 tokens > 200000 maximum",
            )
        }
        _ => {}
    }
    match uri.path() {
        "/v1/messages/count_tokens" => {
            assert!(
                req.get("max_tokens").is_none(),
                "count_tokens takes no max_tokens"
            );
            return axum::Json(json!({"input_tokens": 12})).into_response();
        }
        "/v1/messages" => {}
        other => return error(404, "not_found_error", &format!("no route {other}")),
    }
    if let Some(d) = slow(&model) {
        tokio::time::sleep(d).await;
    }
    if let Err(e) = check::request(&req) {
        return error(400, "invalid_request_error", &e);
    }
    let r = reply(&ask(&req, &model));
    let (content, stop) = message(&model, &r);
    if req["stream"] == json!(true) {
        return stream(&model, content, &stop, r.stop_sequence.as_deref());
    }
    axum::Json(
        json!({"id": "msg_01", "type": "message", "role": "assistant", "model": model,
        "content": content, "stop_reason": stop, "stop_sequence": r.stop_sequence, "usage": usage(&model)}),
    )
    .into_response()
}

/// The request, read for [`reply`].
fn ask(req: &Value, model: &str) -> Ask {
    let msgs = req["messages"].as_array().cloned().unwrap_or_default();
    let last = msgs.last().cloned().unwrap_or_default();
    let blocks: Vec<Value> = last["content"].as_array().cloned().unwrap_or_default();
    let tool_result = blocks
        .iter()
        .find(|b| b["type"] == "tool_result")
        .map(|b| text_of(&b["content"]));
    let tc = &req["tool_choice"];
    Ask {
        model: model.to_string(),
        last_user: last_user_text(req),
        images: blocks.iter().filter(|b| b["type"] == "image").count(),
        tool_result,
        tools: req["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str().map(str::to_string))
            .collect(),
        choice: match tc["type"].as_str() {
            Some("none") => ToolChoice::None,
            Some("any") => ToolChoice::Required,
            Some("tool") => ToolChoice::Named(tc["name"].as_str().unwrap_or("").into()),
            _ => ToolChoice::Auto,
        },
        parallel: tc["disable_parallel_tool_use"] != json!(true),
        stop: req["stop_sequences"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        schema: req["output_config"]["format"].get("schema").cloned(),
        thinking: req["thinking"]["type"] == "enabled",
    }
}

/// The content blocks and stop reason of a reply.
fn message(model: &str, r: &Reply) -> (Vec<Value>, String) {
    let mut content = Vec::new();
    if let Some(t) = &r.thinking {
        content.push(json!({"type": "thinking", "thinking": t, "signature": signature(t)}));
    }
    if model == "content-filter" {
        return (content, "refusal".into());
    }
    if !r.text.is_empty() || r.calls.is_empty() {
        content.push(json!({"type": "text", "text": r.text}));
    }
    for c in &r.calls {
        let id = c.id.replace("call_", "toolu_0");
        content.push(json!({"type": "tool_use", "id": id, "name": c.name, "input": c.args}));
    }
    let stop = match (&r.stop_sequence, r.calls.is_empty()) {
        (_, false) => "tool_use",
        (Some(_), true) => "stop_sequence",
        (None, true) => "end_turn",
    };
    (content, stop.into())
}

/// One SSE event, named after its type.
fn event(data: Value) -> String {
    format!(
        "event: {}\ndata: {data}\n\n",
        data["type"].as_str().unwrap_or("")
    )
}

/// The events of a block: its start with empty fields, its deltas, its stop.
fn block_events(index: usize, b: &Value, model: &str, evs: &mut Vec<Value>) {
    let delta = |d: Value| json!({"type": "content_block_delta", "index": index, "delta": d});
    match b["type"].as_str().unwrap_or("") {
        "thinking" => {
            evs.push(json!({"type": "content_block_start", "index": index, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}));
            for w in b["thinking"].as_str().unwrap_or("").split_inclusive(' ') {
                evs.push(delta(json!({"type": "thinking_delta", "thinking": w})));
            }
            evs.push(delta(
                json!({"type": "signature_delta", "signature": b["signature"]}),
            ));
        }
        "tool_use" => {
            evs.push(json!({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": b["id"], "name": b["name"], "input": {}}}));
            let args = b["input"].to_string();
            let (a, rest) = args.split_at(args.len() / 2);
            for part in ["", a, rest] {
                evs.push(delta(
                    json!({"type": "input_json_delta", "partial_json": part}),
                ));
            }
        }
        _ => {
            evs.push(json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}));
            for w in b["text"].as_str().unwrap_or("").split_inclusive(' ') {
                evs.push(delta(json!({"type": "text_delta", "text": w})));
            }
            if model == "stream-error" {
                evs.push(json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}));
            }
        }
    }
    evs.push(json!({"type": "content_block_stop", "index": index}));
}

fn stream(model: &str, content: Vec<Value>, stop: &str, seq: Option<&str>) -> Response {
    let mut evs = vec![
        json!({"type": "message_start", "message": {"id": "msg_01", "type": "message", "role": "assistant",
            "content": [], "model": model, "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 7, "output_tokens": 1}}}),
        json!({"type": "ping"}),
    ];
    for (i, b) in content.iter().enumerate() {
        block_events(i, b, model, &mut evs);
    }
    evs.push(json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": seq}, "usage": {"output_tokens": 4}}));
    evs.push(json!({"type": "message_stop"}));
    let total = evs.len();
    let mut out = String::new();
    for (i, ev) in evs.into_iter().enumerate() {
        if model == "cut" && i == total / 2 {
            break;
        }
        out.push_str(&event(ev));
    }
    (
        StatusCode::OK,
        [("content-type", "text/event-stream")],
        Body::from(out),
    )
        .into_response()
}
