//! The Gemini API (generativelanguage `v1beta`): `generateContent`,
//! `streamGenerateContent?alt=sse`, `embedContent`, `batchEmbedContents`, and Google RPC
//! error bodies, after the Gemini API reference. Requests need `x-goog-api-key: <KEY>`.
//!
//! Requests are checked as the API checks them (`check`): unknown fields and schema
//! keywords, unpaired function calls and responses, and the thought signatures Gemini 3 (and
//! any thinking request) requires on the function calls of the current turn. Answers follow
//! [`crate::reply`]: thought parts when thoughts are included, function calls signed
//! (`thoughtSignature`) for Gemini 3 and thinking requests, `candidateCount` candidates.
//!
//! Besides the shared model names: `tool-2` (two calls in two stream events), `blocked` (a
//! prompt blocked by `promptFeedback`), `thinking` (thought parts and `thoughtsTokenCount`),
//! `max-tokens` (`MAX_TOKENS` finish), `broken` (a connection that breaks after two
//! events), `stream-error` (an error event after the first text), `gemini-3…` (signs its
//! calls and requires the signatures back).

mod check;

use super::{error_status, record, slow, Recorder, Upstream};
use crate::reply::{reply, Ask, Reply, ToolChoice};
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
    super::start_with(handle, "x-goog-request-id").await
}

/// A `[providers.<name>]` entry of kind `gemini` pointing at `up`, serving
/// `gemini-3-pro-preview` (which signs its function calls and wants the signatures back).
pub fn provider_toml(up: &Upstream, name: &str) -> String {
    format!(
        "[providers.{name}]\nkind = \"gemini\"\nbase_url = \"{}\"\napi_key = \"{KEY}\"\nmodels = [\"gemini-3-pro-preview\"]\n",
        up.base
    )
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

/// The request, read for [`reply`].
fn ask(req: &Value, model: &str) -> Ask {
    let contents = req["contents"].as_array().cloned().unwrap_or_default();
    let parts = |c: &Value| c["parts"].as_array().cloned().unwrap_or_default();
    let last = contents.last().map(parts).unwrap_or_default();
    let last_user = contents
        .iter()
        .rev()
        .find(|c| c["role"] == "user" && parts(c).iter().any(|p| p.get("text").is_some()))
        .map(parts)
        .unwrap_or_default();
    let g = &req["generationConfig"];
    let fc = &req["toolConfig"]["functionCallingConfig"];
    Ask {
        model: model.to_string(),
        last_user: last_user
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect(),
        images: last_user
            .iter()
            .filter(|p| p.get("inlineData").is_some() || p.get("fileData").is_some())
            .count(),
        tool_result: last
            .iter()
            .find_map(|p| p.get("functionResponse"))
            .map(|r| {
                r["response"]["content"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| r["response"].to_string())
            }),
        tools: req["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|t| {
                t["functionDeclarations"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|d| d["name"].as_str().map(str::to_string))
            .collect(),
        choice: match (fc["mode"].as_str(), fc["allowedFunctionNames"].as_array()) {
            (Some("NONE"), _) => ToolChoice::None,
            (Some("ANY"), Some(n)) if n.len() == 1 => {
                ToolChoice::Named(n[0].as_str().unwrap_or("").into())
            }
            (Some("ANY"), _) => ToolChoice::Required,
            _ => ToolChoice::Auto,
        },
        parallel: true,
        stop: g["stopSequences"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        schema: g
            .get("responseSchema")
            .or(g.get("responseJsonSchema"))
            .cloned(),
        thinking: g["thinkingConfig"]["includeThoughts"] == json!(true) || model == "thinking",
    }
}

/// Whether the model signs its function calls (Gemini 3, or thinking asked for).
fn signs(req: &Value, model: &str) -> bool {
    model.starts_with("gemini-3") || req["generationConfig"].get("thinkingConfig").is_some()
}

/// The parts of a reply: thoughts first, then the text, then the calls (the first signed).
fn parts(r: &Reply, sign: bool) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(t) = &r.thinking {
        out.push(json!({"text": t, "thought": true}));
    }
    if !r.text.is_empty() || r.calls.is_empty() {
        out.push(json!({"text": r.text}));
    }
    for (i, c) in r.calls.iter().enumerate() {
        let call = json!({"name": c.name, "args": c.args});
        let mut p = json!({"functionCall": call});
        if sign && i == 0 {
            p["thoughtSignature"] = json!(check::call_signature(&call));
        }
        out.push(p);
    }
    out
}

/// The events of a streamed answer (each a whole `GenerateContentResponse`): one per
/// thought, word and call of each candidate, the last with its finish reason and usage.
fn stream_events(model: &str, answer: &[Vec<Value>]) -> Vec<Value> {
    let mut evs = Vec::new();
    if model == "stream-error" {
        return vec![
            json!({"candidates": [candidate(json!([{"text": "partial "}]), None)]}),
            json!({"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED",
                             "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}]}}),
        ];
    }
    for (i, parts) in answer.iter().enumerate() {
        let mut pieces: Vec<Value> = Vec::new();
        for p in parts {
            match p["text"].as_str() {
                Some(t) if !t.is_empty() => {
                    for w in t.split_inclusive(' ') {
                        let mut q = p.clone();
                        q["text"] = json!(w);
                        pieces.push(q);
                    }
                }
                _ => pieces.push(p.clone()),
            }
        }
        let n = pieces.len();
        for (k, p) in pieces.into_iter().enumerate() {
            let finish = (k + 1 == n).then_some("STOP");
            let mut c = candidate(json!([p]), finish);
            c["index"] = json!(i);
            let mut ev = json!({"candidates": [c], "modelVersion": model});
            if finish.is_some() && i + 1 == answer.len() {
                ev["usageMetadata"] = usage(model);
                ev["responseId"] = json!("resp-1");
            } else {
                ev["usageMetadata"] = json!({"promptTokenCount": 7});
            }
            evs.push(ev);
        }
    }
    evs
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
    if let Err(e) = check::request(&req, model) {
        return error(400, &e);
    }
    let r = reply(&ask(&req, model));
    let n = req["generationConfig"]["candidateCount"]
        .as_u64()
        .unwrap_or(1)
        .max(1) as usize;
    let sign = signs(&req, model);
    let mut answer: Vec<Vec<Value>> = (0..n).map(|_| parts(&r, sign)).collect();
    if model == "tool-2" {
        answer = vec![vec![
            json!({"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}),
            json!({"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}),
        ]];
    }
    if action == "streamGenerateContent" {
        assert_eq!(uri.query(), Some("alt=sse"));
        return sse(stream_events(model, &answer), model);
    }
    let finish = if model == "max-tokens" {
        "MAX_TOKENS"
    } else {
        "STOP"
    };
    let candidates: Vec<Value> = answer
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let mut c = candidate(Value::Array(p), Some(finish));
            c["index"] = json!(i);
            c
        })
        .collect();
    let mut answer = match model {
        "content-filter" => {
            json!({"candidates": [{"finishReason": "SAFETY", "index": 0, "safetyRatings": [
            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": true}]}]})
        }
        "blocked" => json!({"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [
            {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH"}]}}),
        _ => json!({ "candidates": candidates }),
    };
    answer["usageMetadata"] = usage(model);
    answer["modelVersion"] = json!(model);
    answer["responseId"] = json!("resp-1");
    axum::Json(answer).into_response()
}
