//! A local mock upstream speaking the OpenAI wire format (JSON, SSE, error bodies), with
//! behaviour chosen by the model name, recording every request it gets.

#![allow(dead_code)]

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Clone, Default)]
pub struct Upstream {
    pub addr: Option<SocketAddr>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Upstream {
    /// Starts the server on a free port.
    pub async fn start() -> Upstream {
        let mut up = Upstream::default();
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/embeddings", post(embeddings))
            .route("/v1/models", get(models))
            .with_state(up.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        up.addr = Some(listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        up
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr.unwrap())
    }

    /// A provider entry `[providers.up]` pointing here.
    pub fn provider_toml(&self, name: &str) -> String {
        format!(
            "[providers.{name}]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key = \"sk-test-secret\"\nmodels = [\"gpt-test\"]\n",
            self.base_url()
        )
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn last_user(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_string()
}

fn error(status: u16, kind: &str, message: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap();
    let mut r = (
        code,
        Json(json!({"error": {"message": message, "type": kind, "param": null, "code": null}})),
    )
        .into_response();
    if status == 429 {
        r.headers_mut().insert("retry-after", "1".parse().unwrap());
    }
    r
}

async fn chat(State(up): State<Upstream>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    up.seen.lock().unwrap().push(Seen {
        path: "/v1/chat/completions".into(),
        headers,
        body: body.clone(),
    });
    let model = body["model"].as_str().unwrap_or("").to_string();
    if let Some(status) = model
        .strip_prefix("error-")
        .and_then(|s| s.parse::<u16>().ok())
    {
        return error(
            status,
            "server_error",
            &format!("mock upstream error {status}"),
        );
    }
    if let Some(ms) = model
        .strip_prefix("slow-")
        .and_then(|s| s.strip_suffix("ms"))
        .and_then(|s| s.parse().ok())
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let text = format!("upstream says: {}", last_user(&body));
    let tool = body.get("tools").is_some();
    if body["stream"] == json!(true) {
        return stream(&model, &text, tool, model.starts_with("cut-"));
    }
    let message = if tool {
        json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]})
    } else {
        json!({"role": "assistant", "content": text})
    };
    Json(json!({
        "id": "chatcmpl-up1", "object": "chat.completion", "created": 1700000000, "model": model,
        "system_fingerprint": "fp_test",
        "choices": [{"index": 0, "message": message, "finish_reason": if tool {"tool_calls"} else {"stop"}, "logprobs": null}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8, "prompt_tokens_details": {"cached_tokens": 1}}
    }))
    .into_response()
}

fn stream(model: &str, text: &str, tool: bool, cut: bool) -> Response {
    let mk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-up1", "object": "chat.completion.chunk", "created": 1700000000, "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut frames = vec![mk(json!({"role": "assistant", "content": ""}), Value::Null)];
    if tool {
        frames.push(mk(json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"ci"}}]}), Value::Null));
        frames.push(mk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "ty\":\"Paris\"}"}}]}),
            Value::Null,
        ));
        frames.push(mk(json!({}), json!("tool_calls")));
    } else {
        for (i, w) in text.split(' ').enumerate() {
            let piece = if i == 0 {
                w.to_string()
            } else {
                format!(" {w}")
            };
            frames.push(mk(json!({"content": piece}), Value::Null));
        }
        frames.push(mk(json!({}), json!("stop")));
    }
    let mut body = String::new();
    let total = frames.len();
    for (i, f) in frames.into_iter().enumerate() {
        if cut && i == total / 2 {
            break;
        }
        body.push_str(&format!("data: {f}\n\n"));
    }
    if !cut {
        let usage = json!({"id": "chatcmpl-up1", "object": "chat.completion.chunk", "created": 1700000000, "model": model, "choices": [],
                           "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}});
        body.push_str(&format!("data: {usage}\n\ndata: [DONE]\n\n"));
    }
    (
        StatusCode::OK,
        [("content-type", "text/event-stream")],
        Body::from(body),
    )
        .into_response()
}

async fn embeddings(
    State(up): State<Upstream>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    up.seen.lock().unwrap().push(Seen {
        path: "/v1/embeddings".into(),
        headers,
        body: body.clone(),
    });
    let n = match &body["input"] {
        Value::Array(a) => a.len(),
        _ => 1,
    };
    let data: Vec<Value> = (0..n)
        .map(|i| json!({"object": "embedding", "index": i, "embedding": [0.1, 0.2, i as f64]}))
        .collect();
    Json(json!({"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 3, "total_tokens": 3}})).into_response()
}

async fn models(State(up): State<Upstream>, headers: HeaderMap) -> Response {
    up.seen.lock().unwrap().push(Seen {
        path: "/v1/models".into(),
        headers,
        body: Value::Null,
    });
    Json(json!({"object": "list", "data": [
        {"id": "gpt-test", "object": "model", "created": 1686935002, "owned_by": "openai"},
        {"id": "gpt-live-only", "object": "model", "created": 1700000000, "owned_by": "system"},
        {"id": "text-embedding-test", "object": "model", "created": 1700000001, "owned_by": "system"}
    ]}))
    .into_response()
}
