//! The Gemini API (generativelanguage `v1beta`): `generateContent`,
//! `streamGenerateContent?alt=sse`, `embedContent`, `batchEmbedContents`, and Google RPC
//! error bodies, after the Gemini API reference. Requests need `x-goog-api-key: <KEY>`.
//!
//! Besides the shared model names: `tool-2` (two calls in two stream events), `blocked` (a
//! prompt blocked by `promptFeedback`), `thinking` (thought parts and `thoughtsTokenCount`),
//! `max-tokens` (`MAX_TOKENS` finish), `broken` (a connection that breaks after two
//! events), `stream-error` (an error event after the first text).

use super::{error_status, record, slow, Recorder, Upstream};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{json, Value};

/// The API key the mock accepts.
pub const KEY: &str = "gm-test-key";

/// Starts the mock on a free port.
pub async fn start() -> Upstream {
    super::start_with(handle).await
}

fn status_name(code: u16) -> &'static str {
    match code {
        400 | 413 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        408 => "DEADLINE_EXCEEDED",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    }
}

fn error(code: u16, message: &str) -> Response {
    let mut err = json!({"code": code, "message": message, "status": status_name(code)});
    if code == 429 {
        // Gemini advises the wait in a google.rpc.RetryInfo detail, not a header.
        err["details"] = json!([
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests"}]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}
        ]);
    }
    (
        StatusCode::from_u16(code).unwrap(),
        axum::Json(json!({ "error": err })),
    )
        .into_response()
}

fn usage(model: &str) -> Value {
    let mut u = json!({"promptTokenCount": 7, "candidatesTokenCount": 4, "totalTokenCount": 11});
    if model == "text-cached" {
        u["cachedContentTokenCount"] = json!(3);
    }
    if model == "thinking" {
        u["thoughtsTokenCount"] = json!(5);
        u["totalTokenCount"] = json!(16);
    }
    u
}

fn candidate(parts: Value, finish: Option<&str>) -> Value {
    let mut c = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
    if let Some(f) = finish {
        c["finishReason"] = json!(f);
    }
    c
}

fn last_user_text(req: &Value) -> String {
    req["contents"]
        .as_array()
        .and_then(|c| c.iter().rev().find(|c| c["role"] == "user"))
        .and_then(|c| c["parts"].as_array())
        .and_then(|p| p.iter().find_map(|p| p["text"].as_str()))
        .unwrap_or("")
        .to_string()
}

/// The events of a streamed answer (each a whole `GenerateContentResponse`).
fn stream_events(model: &str, text: &str) -> Vec<Value> {
    let call =
        |city: &str, name: &str| json!([{"functionCall": {"name": name, "args": {"city": city}}}]);
    let last = |parts: Value, finish: &str| json!({"candidates": [candidate(parts, Some(finish))], "usageMetadata": usage(model), "modelVersion": model, "responseId": "resp-1"});
    match model {
        "tool" => vec![
            json!({"candidates": [candidate(call("Paris", "get_weather"), None)], "modelVersion": model}),
            last(json!([{"text": ""}]), "STOP"),
        ],
        "stream-error" => vec![
            json!({"candidates": [candidate(json!([{"text": "partial "}]), None)]}),
            json!({"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED",
                             "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}]}}),
        ],
        "tool-2" => vec![
            json!({"candidates": [candidate(call("Paris", "get_weather"), None)]}),
            json!({"candidates": [candidate(call("Rome", "get_weather"), None)]}),
            last(json!([{"text": ""}]), "STOP"),
        ],
        _ => {
            let words: Vec<&str> = text.split_inclusive(' ').collect();
            let mut evs: Vec<Value> = words[..words.len() - 1]
                .iter()
                .map(|w| json!({"candidates": [candidate(json!([{"text": w}]), None)], "usageMetadata": {"promptTokenCount": 7}}))
                .collect();
            evs.push(last(json!([{"text": words[words.len() - 1]}]), "STOP"));
            evs
        }
    }
}

fn sse(events: Vec<Value>, model: &str) -> Response {
    let frames: Vec<String> = events
        .iter()
        .map(|e| format!("data: {e}\r\n\r\n"))
        .collect();
    let body = match model {
        "cut" => Body::from(frames[..frames.len() / 2].concat()),
        "broken" => {
            // Two events reach the client, then the connection drops mid-body.
            let first: Vec<Result<Bytes, std::io::Error>> = frames[..2]
                .iter()
                .map(|f| Ok(Bytes::from(f.clone())))
                .collect();
            let reset = futures::stream::once(async {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                Err(std::io::Error::other("connection reset"))
            });
            Body::from_stream(futures::stream::iter(first).chain(reset))
        }
        _ => Body::from(frames.concat()),
    };
    (
        StatusCode::OK,
        [("content-type", "text/event-stream")],
        body,
    )
        .into_response()
}

async fn handle(
    State(seen): State<Recorder>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&seen, method.as_str(), &uri, &headers, &body);
    if headers.get("x-goog-api-key").and_then(|v| v.to_str().ok()) != Some(KEY) {
        return error(401, "API key not valid. Please pass a valid API key.");
    }
    let req: Value = serde_json::from_slice(&body).unwrap_or_default();
    let Some((model, action)) = uri
        .path()
        .strip_prefix("/v1beta/models/")
        .and_then(|p| p.split_once(':'))
    else {
        return error(404, "no such method");
    };
    if let Some(s) = error_status(model) {
        return error(s, &format!("mock error {s}"));
    }
    if let Some(d) = slow(model) {
        tokio::time::sleep(d).await;
    }
    match model {
        "overloaded" => return error(503, "The model is overloaded. Please try again later."),
        "context-length" => {
            return error(400, "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).")
        }
        _ => {}
    }
    match action {
        "embedContent" => {
            assert_eq!(req["model"], format!("models/{model}"));
            let n = req["content"]["parts"][0]["text"].as_str().unwrap().len();
            return axum::Json(json!({"embedding": {"values": [0.25, n as f64]}})).into_response();
        }
        "batchEmbedContents" => {
            let reqs = req["requests"].as_array().unwrap();
            let embs: Vec<Value> = reqs
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    assert_eq!(r["model"], format!("models/{model}"));
                    json!({"values": [0.5, i as f64]})
                })
                .collect();
            return axum::Json(json!({ "embeddings": embs })).into_response();
        }
        "generateContent" | "streamGenerateContent" => {}
        other => return error(404, &format!("method {other} not found")),
    }
    // A request offering tools gets a call, as from model `tool`.
    let model = if super::calls_a_tool(model, req.get("tools").is_some()) && model != "tool-2" {
        "tool"
    } else {
        model
    };
    let text = format!("upstream says: {}", last_user_text(&req));
    if action == "streamGenerateContent" {
        assert_eq!(uri.query(), Some("alt=sse"));
        return sse(stream_events(model, &text), model);
    }
    let answer = match model {
        "tool" => {
            json!({"candidates": [candidate(json!([{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]), Some("STOP"))]})
        }
        "content-filter" => {
            json!({"candidates": [{"finishReason": "SAFETY", "index": 0, "safetyRatings": [
            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": true}]}]})
        }
        "blocked" => json!({"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [
            {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH"}]}}),
        "thinking" => {
            json!({"candidates": [candidate(json!([{"text": "let me think", "thought": true}, {"text": text}]), Some("STOP"))]})
        }
        "max-tokens" => {
            json!({"candidates": [candidate(json!([{"text": "upstream"}]), Some("MAX_TOKENS"))]})
        }
        _ => json!({"candidates": [candidate(json!([{"text": text}]), Some("STOP"))]}),
    };
    let mut answer = answer;
    answer["usageMetadata"] = usage(model);
    answer["modelVersion"] = json!(model);
    answer["responseId"] = json!("resp-1");
    axum::Json(answer).into_response()
}
