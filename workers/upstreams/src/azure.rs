//! Azure OpenAI: `/openai/deployments/{deployment}/chat/completions` and `/embeddings` with
//! the `api-version` query and the `api-key` header, Azure's error bodies (`content_filter`
//! with `innererror`) and its leading `prompt_filter_results` stream frame.
//!
//! `GET /openai/deployments?api-version=2022-12-01` lists [`LISTED_DEPLOYMENTS`].
//!
//! The behaviour comes from the deployment: `dep-<model>` or `<model>` (the adapter's
//! `deployments` option maps models to deployments).

use super::openai::{chat, check};
use super::{error_status, record, slow, Recorder, Upstream};
use crate::reply::reply;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// The API key the mock accepts.
pub const KEY: &str = "az-test-key";
/// The deployments `GET /openai/deployments` lists: (deployment, base model).
pub const LISTED_DEPLOYMENTS: &[(&str, &str)] = &[
    ("dep-text", "gpt-4o"),
    ("emb-prod", "text-embedding-3-small"),
];

/// The `api-version` it serves.
pub const VERSION: &str = "2024-10-21";

/// Starts the mock on a free port.
pub async fn start() -> Upstream {
    super::start_with(handle, "apim-request-id").await
}

fn error(status: u16, code: Option<&str>, inner: Option<Value>) -> Response {
    let mut err = json!({"message": format!("mock azure error {status}"), "type": null, "param": null, "code": code, "status": status});
    if let Some(inner) = inner {
        err["innererror"] = inner;
    }
    let mut r = (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({ "error": err })),
    )
        .into_response();
    if status == 429 {
        r.headers_mut().insert("retry-after", "1".parse().unwrap());
    }
    r
}

async fn handle(
    State(seen): State<Recorder>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&seen, method.as_str(), &uri, &headers, &body);
    if headers.get("api-key").and_then(|v| v.to_str().ok()) != Some(KEY) {
        return error(401, Some("401"), None);
    }
    if method == Method::GET && uri.path() == "/openai/deployments" {
        if uri.query() != Some("api-version=2022-12-01") {
            return error(404, Some("404"), None);
        }
        let data: Vec<Value> = LISTED_DEPLOYMENTS
            .iter()
            .map(|(id, model)| json!({"id": id, "model": model, "owner": "organization-owner", "object": "deployment",
                "status": "succeeded", "created_at": 1700000000, "updated_at": 1700000000,
                "scale_settings": {"scale_type": "standard"}}))
            .collect();
        return axum::Json(json!({"data": data, "object": "list"})).into_response();
    }
    if uri.query() != Some(&format!("api-version={VERSION}")) {
        return error(404, Some("404"), None);
    }
    let Some(rest) = uri.path().strip_prefix("/openai/deployments/") else {
        return error(404, Some("DeploymentNotFound"), None);
    };
    let Some((deployment, op)) = rest.split_once('/') else {
        return error(404, Some("DeploymentNotFound"), None);
    };
    let model = deployment
        .strip_prefix("dep-")
        .unwrap_or(deployment)
        .to_string();
    let req: Value = serde_json::from_slice(&body).unwrap_or_default();
    if let Some(s) = error_status(&model) {
        return error(s, None, None);
    }
    match model.as_str() {
        "overloaded" => return error(503, Some("server_overloaded"), None),
        "context-length" => return error(400, Some("context_length_exceeded"), None),
        "bad-param" => {
            let body = json!({"error": {"message": "Invalid value for 'temperature': must be between 0 and 2.",
                "type": "invalid_request_error", "param": "temperature", "code": "invalid_value", "status": 400}});
            return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
        }
        "content-filter" => {
            return error(
                400,
                Some("content_filter"),
                Some(
                    json!({"code": "ResponsibleAIPolicyViolation", "content_filter_result": {
                    "hate": {"filtered": true, "severity": "high"},
                    "self_harm": {"filtered": false, "severity": "safe"},
                    "sexual": {"filtered": false, "severity": "safe"},
                    "violence": {"filtered": false, "severity": "safe"}}}),
                ),
            )
        }
        _ => {}
    }
    if let Some(d) = slow(&model) {
        tokio::time::sleep(d).await;
    }
    if op == "embeddings" {
        let n = req["input"].as_array().map(Vec::len).unwrap_or(1);
        let data: Vec<Value> = (0..n)
            .map(|i| json!({"object": "embedding", "index": i, "embedding": [0.25, i as f64]}))
            .collect();
        return axum::Json(json!({"object": "list", "data": data, "model": "text-embedding-3-small", "usage": {"prompt_tokens": 4, "total_tokens": 4}})).into_response();
    }
    if op != "chat/completions" {
        return error(404, Some("404"), None);
    }
    let filters = json!({"hate": {"filtered": false, "severity": "safe"}, "self_harm": {"filtered": false, "severity": "safe"},
                         "sexual": {"filtered": false, "severity": "safe"}, "violence": {"filtered": false, "severity": "safe"}});
    if let Err((message, param)) = check::request(&req) {
        let body = json!({"error": {"message": message, "type": "invalid_request_error", "param": param, "code": null, "status": 400}});
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    let r = reply(&chat::ask(&req, &model));
    let n = req["n"].as_u64().unwrap_or(1).max(1) as usize;
    let cached = if model == "text-cached" { 3 } else { 0 };
    let f = chat::Flavor {
        id: "chatcmpl-az1",
        model: Some("gpt-4o-2024-08-06"),
        fingerprint: "fp_az",
        choice_extra: json!({"content_filter_results": filters}),
        usage: json!({"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14,
            "prompt_tokens_details": {"cached_tokens": cached},
            "completion_tokens_details": {"reasoning_tokens": 0}}),
    };
    if req["stream"] != json!(true) {
        let mut c = chat::completion(&f, &model, &r, n, false);
        c["prompt_filter_results"] =
            json!([{"prompt_index": 0, "content_filter_results": filters}]);
        return axum::Json(c).into_response();
    }
    assert_eq!(req["stream_options"]["include_usage"], true);
    // Azure opens a stream with the prompt's filter results: no id, no choices.
    let mut frames = vec![
        json!({"choices": [], "created": 0, "id": "", "model": "", "object": "", "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": filters}]}),
    ];
    frames.extend(chat::chunks(&f, &model, &r, n, false));
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
        let usage = json!({"id": "chatcmpl-az1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-2024-08-06", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}});
        out.push_str(&format!("data: {usage}\n\ndata: [DONE]\n\n"));
    }
    (
        StatusCode::OK,
        [("content-type", "text/event-stream")],
        Body::from(out),
    )
        .into_response()
}
