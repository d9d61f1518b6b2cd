//! The OpenAI API (`/v1/chat/completions` JSON and SSE, `/v1/embeddings`, `GET /v1/models`)
//! with its error bodies, after OpenAI's API reference. Requests need
//! `Authorization: Bearer <KEY>`.
//!
//! Requests are checked as the API checks them (`check`): unknown arguments and message
//! fields, unanswered tool calls and stray tool results are refused with its 400. Answers
//! follow [`crate::reply`], with `n` choices.
//!
//! Besides the shared model names: `refusal` (a refusal, `message.refusal`), `bad-param`
//! (a 400 naming `temperature` with code `invalid_value`). `GET /v1/models` lists
//! `gpt-test`, `gpt-live-only` and `text-embedding-test`. Answers carry
//! `system_fingerprint` (a field the gateway must pass through untouched).

pub mod chat;
pub mod check;

use super::{error_status, record, slow, Recorder, Upstream};
use crate::reply::reply;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
pub use chat::last_user_text;
use serde_json::{json, Value};

/// The API key the mock accepts.
pub const KEY: &str = "sk-test-key";

/// The models `GET /v1/models` lists.
pub const LISTED: &[&str] = &["gpt-test", "gpt-live-only", "text-embedding-test"];

/// Starts the mock on a free port.
pub async fn start() -> Upstream {
    super::start_with(handle, "x-request-id").await
}

/// The mock's routes, recording into `seen` ([`Recorder::off`] for the load test).
pub fn router(seen: Recorder) -> Router {
    super::with_request_ids(
        Router::new().fallback(handle).with_state(seen),
        "x-request-id",
    )
}

/// A `[providers.<name>]` entry of kind `openai` pointing at `up`, serving `gpt-test`.
pub fn provider_toml(up: &Upstream, name: &str) -> String {
    format!(
        "[providers.{name}]\nkind = \"openai\"\nbase_url = \"{}/v1\"\napi_key = \"{KEY}\"\nmodels = [\"gpt-test\"]\n",
        up.base
    )
}

/// An OpenAI error answer.
pub fn error(status: u16, kind: &str, code: Option<&str>, message: &str) -> Response {
    error_at(status, kind, code, None, message)
}

/// An OpenAI error answer naming the `param` at fault.
pub fn error_at(
    status: u16,
    kind: &str,
    code: Option<&str>,
    param: Option<&str>,
    message: &str,
) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(
            json!({"error": {"message": message, "type": kind, "param": param, "code": code}}),
        ),
    )
        .into_response();
    if status == 429 {
        r.headers_mut().insert("retry-after", "1".parse().unwrap());
    }
    r
}

fn usage(model: &str) -> Value {
    let cached = if model == "text-cached" { 3 } else { 0 };
    json!({"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11,
           "prompt_tokens_details": {"cached_tokens": cached}})
}

async fn handle(
    State(seen): State<Recorder>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&seen, method.as_str(), &uri, &headers, &body);
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {KEY}")) {
        // Like some real APIs, the refusal echoes the key it was sent: the gateway must
        // scrub it before it reaches a client, a log, a result or an event.
        let sent = auth.unwrap_or("").trim_start_matches("Bearer ");
        return error(
            401,
            "invalid_request_error",
            Some("invalid_api_key"),
            &format!("Incorrect API key provided: {sent}."),
        );
    }
    if method == Method::GET && uri.path() == "/v1/models" {
        let data: Vec<Value> = LISTED
            .iter()
            .enumerate()
            .map(|(i, id)| json!({"id": id, "object": "model", "created": 1700000000 + i, "owned_by": "system"}))
            .collect();
        return axum::Json(json!({"object": "list", "data": data})).into_response();
    }
    let req: Value = serde_json::from_slice(&body).unwrap_or_default();
    let model = req["model"].as_str().unwrap_or("").to_string();
    if let Some(s) = error_status(&model) {
        // The type and code OpenAI answers each status with.
        let (kind, code) = match s {
            401 => ("invalid_request_error", Some("invalid_api_key")),
            404 => ("invalid_request_error", Some("model_not_found")),
            429 => ("requests", Some("rate_limit_exceeded")),
            400..=499 => ("invalid_request_error", None),
            _ => ("server_error", None),
        };
        return error(s, kind, code, &format!("mock error {s}"));
    }
    match model.as_str() {
        "overloaded" => {
            return error(
                503,
                "server_error",
                Some("overloaded"),
                "The engine is currently overloaded.",
            )
        }
        "context-length" => {
            return error(
                400,
                "invalid_request_error",
                Some("context_length_exceeded"),
                "This model's maximum context length is 128000 tokens.",
            )
        }
        "content-filter" => {
            return error(
                400,
                "invalid_request_error",
                Some("content_filter"),
                "The response was filtered.",
            )
        }
        "bad-param" => {
            return error_at(
                400,
                "invalid_request_error",
                Some("invalid_value"),
                Some("temperature"),
                "Invalid value for 'temperature': must be between 0 and 2.",
            )
        }
        _ => {}
    }
    if let Some(d) = slow(&model) {
        tokio::time::sleep(d).await;
    }
    match uri.path() {
        "/v1/embeddings" => return embeddings(&req, &model),
        "/v1/chat/completions" => {}
        other => {
            return error(
                404,
                "invalid_request_error",
                None,
                &format!("Unknown request URL: POST {other}"),
            )
        }
    }
    if let Err((message, param)) = check::request(&req) {
        return error_at(
            400,
            "invalid_request_error",
            None,
            param.as_deref(),
            &message,
        );
    }
    let r = reply(&chat::ask(&req, &model));
    let n = req["n"].as_u64().unwrap_or(1).max(1) as usize;
    let refusal = model == "refusal";
    let f = chat::Flavor {
        id: "chatcmpl-1",
        model: None,
        fingerprint: "fp_mock",
        choice_extra: json!({}),
        usage: usage(&model),
    };
    if req["stream"] == json!(true) {
        return stream(&req, &model, chat::chunks(&f, &model, &r, n, refusal));
    }
    axum::Json(chat::completion(&f, &model, &r, n, refusal)).into_response()
}

fn embeddings(req: &Value, model: &str) -> Response {
    let n = req["input"].as_array().map(Vec::len).unwrap_or(1);
    let data: Vec<Value> = (0..n)
        .map(|i| json!({"object": "embedding", "index": i, "embedding": [0.5, i as f64]}))
        .collect();
    axum::Json(json!({"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": 4, "total_tokens": 4}})).into_response()
}

fn stream(req: &Value, model: &str, frames: Vec<Value>) -> Response {
    let mut out = String::new();
    let cut = model == "cut";
    let total = frames.len();
    for (i, f) in frames.into_iter().enumerate() {
        if cut && i == total / 2 {
            break;
        }
        out.push_str(&format!("data: {f}\n\n"));
    }
    if !cut {
        if req["stream_options"]["include_usage"] == json!(true) {
            let usage = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [], "usage": usage(model)});
            out.push_str(&format!("data: {usage}\n\n"));
        }
        out.push_str("data: [DONE]\n\n");
    }
    (
        StatusCode::OK,
        [("content-type", "text/event-stream")],
        Body::from(out),
    )
        .into_response()
}
