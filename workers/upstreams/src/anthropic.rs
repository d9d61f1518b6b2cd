//! The Anthropic Messages API (`/v1/messages` JSON and its SSE event stream,
//! `/v1/messages/count_tokens`) with its error bodies, after Anthropic's API reference.
//! Requests need `x-api-key: <KEY>` and `anthropic-version`.
//!
//! Besides the shared model names: `stream-error` (an `error` event after the first text).

use super::{calls_a_tool, error_status, record, slow, text_of, Recorder, Upstream};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// The API key the mock accepts.
pub const KEY: &str = "sk-ant-test-key";

/// Starts the mock on a free port.
pub async fn start() -> Upstream {
    super::start_with(handle).await
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
    if req["max_tokens"].as_u64().is_none() {
        return error(400, "invalid_request_error", "max_tokens: Field required");
    }
    let text = format!("upstream says: {}", last_user_text(&req));
    let tool = calls_a_tool(&model, req.get("tools").is_some());
    if req["stream"] == json!(true) {
        return stream(&model, &text, tool);
    }
    let (content, stop) = match model.as_str() {
        _ if tool => (
            json!([{"type": "text", "text": "Let me check."},
                   {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}]),
            "tool_use",
        ),
        "content-filter" => (json!([]), "refusal"),
        _ => (json!([{"type": "text", "text": text}]), "end_turn"),
    };
    axum::Json(
        json!({"id": "msg_01", "type": "message", "role": "assistant", "model": model,
        "content": content, "stop_reason": stop, "stop_sequence": null, "usage": usage(&model)}),
    )
    .into_response()
}

/// One SSE event, named after its type.
fn event(data: Value) -> String {
    format!(
        "event: {}\ndata: {data}\n\n",
        data["type"].as_str().unwrap_or("")
    )
}

fn stream(model: &str, text: &str, tool: bool) -> Response {
    let mut evs = vec![
        json!({"type": "message_start", "message": {"id": "msg_01", "type": "message", "role": "assistant",
            "content": [], "model": model, "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 7, "output_tokens": 1}}}),
        json!({"type": "ping"}),
    ];
    let stop = if tool {
        evs.push(json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}}}));
        for part in ["", "{\"city\":", " \"Par", "is\"}"] {
            evs.push(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": part}}));
        }
        evs.push(json!({"type": "content_block_stop", "index": 0}));
        "tool_use"
    } else {
        evs.push(json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}));
        for w in text.split_inclusive(' ') {
            evs.push(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}}));
        }
        if model == "stream-error" {
            evs.push(json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}));
        }
        evs.push(json!({"type": "content_block_stop", "index": 0}));
        "end_turn"
    };
    evs.push(json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 4}}));
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
