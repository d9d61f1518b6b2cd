//! A local mock upstream speaking the Anthropic Messages API (JSON, SSE events, error
//! bodies), recording every request it gets.

#![allow(dead_code)]

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Clone, Default)]
pub struct AnthropicUpstream {
    pub addr: Option<SocketAddr>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl AnthropicUpstream {
    pub async fn start() -> Self {
        let mut up = Self::default();
        let app = Router::new().fallback(handle).with_state(up.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        up.addr = Some(listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        up
    }

    /// A provider entry `[providers.<name>]` of kind `anthropic` pointing here.
    pub fn provider_toml(&self, name: &str) -> String {
        format!(
            "[providers.{name}]\nkind = \"anthropic\"\nbase_url = \"http://{}\"\napi_key = \"sk-ant-secret\"\nmodels = [\"claude-test\"]\n",
            self.addr.unwrap()
        )
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn last_user_text(body: &Value) -> String {
    let m = body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"));
    match m.map(|m| &m["content"]) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(b)) => b.iter().filter_map(|b| b["text"].as_str()).collect(),
        _ => String::new(),
    }
}

async fn handle(
    State(up): State<AnthropicUpstream>,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    up.seen.lock().unwrap().push(Seen {
        path: uri.path().to_string(),
        headers: headers.clone(),
        body: body.clone(),
    });
    let model = body["model"].as_str().unwrap_or("").to_string();
    if model == "overloaded" {
        return (
            StatusCode::from_u16(529).unwrap(),
            Json(json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})),
        )
            .into_response();
    }
    if uri.path() == "/v1/messages/count_tokens" {
        return Json(json!({"input_tokens": 21})).into_response();
    }
    let text = format!("claude says: {}", last_user_text(&body));
    let usage = json!({"input_tokens": 9, "output_tokens": 3, "cache_read_input_tokens": 2, "cache_creation_input_tokens": 0});
    if body["stream"] != json!(true) {
        return Json(json!({"id": "msg_e2e", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": null, "usage": usage}))
        .into_response();
    }
    let mut evs = vec![
        json!({"type": "message_start", "message": {"id": "msg_e2e", "type": "message", "role": "assistant", "content": [],
            "model": model, "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 9, "output_tokens": 1, "cache_read_input_tokens": 2}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "ping"}),
    ];
    for w in text.split_inclusive(' ') {
        evs.push(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}}));
    }
    evs.push(json!({"type": "content_block_stop", "index": 0}));
    evs.push(json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 3}}));
    evs.push(json!({"type": "message_stop"}));
    let out: String = evs
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect();
    (
        StatusCode::OK,
        [("content-type", "text/event-stream")],
        Body::from(out),
    )
        .into_response()
}
