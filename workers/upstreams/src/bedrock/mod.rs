//! Bedrock Runtime: `POST /model/{modelId}/converse` (JSON) and `/converse-stream` (the
//! binary `application/vnd.amazon.eventstream` framing with real CRC32s, written here
//! independently of the adapter's decoder), AWS error answers (`x-amzn-errortype` +
//! `{"message"}`), and a SigV4 check that recomputes the signature of every request from
//! what arrived on the wire (403 `InvalidSignatureException` if it differs); a Bedrock API
//! key (`Authorization: Bearer <API_KEY>`) is accepted too.
//!
//! Requests are checked as Converse checks them (`check`); answers follow
//! [`crate::reply`], with signed `reasoningContent` first when Claude thinking is on
//! (`additionalModelRequestFields.thinking`).
//!
//! The model id is taken from the URL-encoded path. Real ids (`anthropic.claude-...`,
//! `meta.llama3-...`) answer like `text`. Extra names: `stream-throttled` (an exception
//! message after the first event), `bad-crc` (a frame with a corrupted CRC). `invoke` answers
//! with the Amazon Titan Text Embeddings shape.

mod aws;
mod check;

pub use aws::{frame, verify_sigv4};

use super::{error_status, record, slow, Recorder, Upstream};
use crate::reply::{reply, signature, Ask, Reply, ToolChoice};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// The access key id the mock's SigV4 check expects.
pub const KEY_ID: &str = "AKIDEXAMPLE";
/// The secret it signs with.
pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// The session token it expects.
pub const TOKEN: &str = "session-token-example";
/// The region in the credential scope.
pub const REGION: &str = "us-west-2";
/// A Bedrock API key it accepts as a bearer token.
pub const API_KEY: &str = "bedrock-api-key-test";

/// Starts the mock on a free port.
pub async fn start() -> Upstream {
    super::start_with(handle, "x-amzn-requestid").await
}

fn error(status: u16, kind: &str, message: &str) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({ "message": message })),
    )
        .into_response();
    let hs = r.headers_mut();
    hs.insert(
        "x-amzn-errortype",
        format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/")
            .parse()
            .unwrap(),
    );
    hs.insert(
        "x-amzn-requestid",
        "7c1ba1c8-0000-4000-8000-000000000001".parse().unwrap(),
    );
    if status == 429 {
        hs.insert("retry-after", "1".parse().unwrap());
    }
    r
}

fn error_type(status: u16) -> &'static str {
    match status {
        400 | 413 => "ValidationException",
        401 => "UnrecognizedClientException",
        403 => "AccessDeniedException",
        404 => "ResourceNotFoundException",
        408 => "ModelTimeoutException",
        429 => "ThrottlingException",
        503 => "ServiceUnavailableException",
        _ => "InternalServerException",
    }
}

fn event(kind: &str, mut payload: Value) -> Vec<u8> {
    // Bedrock pads event payloads with a `p` field of random length.
    payload["p"] = json!("abcdefgh");
    frame(
        &[
            (":event-type", kind),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.to_string().as_bytes(),
    )
}

fn usage(model: &str) -> Value {
    if model == "text-cached" {
        json!({"inputTokens": 4, "outputTokens": 4, "totalTokens": 11, "cacheReadInputTokens": 3, "cacheWriteInputTokens": 0})
    } else {
        json!({"inputTokens": 7, "outputTokens": 4, "totalTokens": 11})
    }
}

/// The request, read for [`reply`].
fn ask(req: &Value, model: &str) -> Ask {
    let msgs = req["messages"].as_array().cloned().unwrap_or_default();
    let blocks = |m: &Value| m["content"].as_array().cloned().unwrap_or_default();
    let last = msgs.last().map(blocks).unwrap_or_default();
    let last_user = msgs
        .iter()
        .rev()
        .find(|m| m["role"] == "user" && blocks(m).iter().any(|b| b.get("text").is_some()))
        .map(blocks)
        .unwrap_or_default();
    let tc = &req["toolConfig"]["toolChoice"];
    let out = &req["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["schema"];
    Ask {
        model: model.to_string(),
        last_user: last_user
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect(),
        images: last_user
            .iter()
            .filter(|b| b.get("image").is_some())
            .count(),
        tool_result: last
            .iter()
            .find_map(|b| b.get("toolResult"))
            .map(|r| r["content"][0]["text"].as_str().unwrap_or("").to_string()),
        tools: req["toolConfig"]["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["toolSpec"]["name"].as_str().map(str::to_string))
            .collect(),
        choice: if tc.get("any").is_some() {
            ToolChoice::Required
        } else if let Some(n) = tc["tool"]["name"].as_str() {
            ToolChoice::Named(n.into())
        } else {
            ToolChoice::Auto
        },
        parallel: true,
        stop: req["inferenceConfig"]["stopSequences"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        schema: out.as_str().and_then(|s| serde_json::from_str(s).ok()),
        thinking: req["additionalModelRequestFields"]["thinking"]["type"] == "enabled",
    }
}

/// The content blocks and stop reason of a reply.
fn content(model: &str, r: &Reply) -> (Vec<Value>, &'static str) {
    let mut out = Vec::new();
    if let Some(t) = &r.thinking {
        out.push(
            json!({"reasoningContent": {"reasoningText": {"text": t, "signature": signature(t)}}}),
        );
    }
    if model == "content-filter" {
        out.push(json!({"text": "I can't help with that."}));
        return (out, "content_filtered");
    }
    if !r.text.is_empty() || r.calls.is_empty() {
        out.push(json!({"text": r.text}));
    }
    for c in &r.calls {
        let id = c.id.replace("call_", "tooluse_");
        out.push(json!({"toolUse": {"toolUseId": id, "name": c.name, "input": c.args}}));
    }
    let stop = match (&r.stop_sequence, r.calls.is_empty()) {
        (_, false) => "tool_use",
        (Some(_), true) => "stop_sequence",
        (None, true) => "end_turn",
    };
    (out, stop)
}

fn stream_frames(model: &str, blocks: &[Value], stop: &str) -> Vec<Vec<u8>> {
    let mut f = vec![event("messageStart", json!({"role": "assistant"}))];
    let delta = |i: usize, d: Value| {
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": i, "delta": d}),
        )
    };
    for (i, b) in blocks.iter().enumerate() {
        if let Some(r) = b["reasoningContent"].get("reasoningText") {
            for w in r["text"].as_str().unwrap_or("").split_inclusive(' ') {
                f.push(delta(i, json!({"reasoningContent": {"text": w}})));
            }
            f.push(delta(
                i,
                json!({"reasoningContent": {"signature": r["signature"]}}),
            ));
        } else if let Some(tu) = b.get("toolUse") {
            f.push(event("contentBlockStart", json!({"contentBlockIndex": i, "start": {"toolUse": {"toolUseId": tu["toolUseId"], "name": tu["name"]}}})));
            let args = tu["input"].to_string();
            let (a, rest) = args.split_at(args.len() / 2);
            for piece in [a, rest] {
                f.push(delta(i, json!({"toolUse": {"input": piece}})));
            }
        } else {
            for w in b["text"].as_str().unwrap_or("").split_inclusive(' ') {
                f.push(delta(i, json!({"text": w})));
            }
            if model == "stream-throttled" {
                f.truncate(2);
                let ex = frame(
                    &[
                        (":exception-type", "throttlingException"),
                        (":content-type", "application/json"),
                        (":message-type", "exception"),
                    ],
                    br#"{"message":"Too many tokens, please wait before trying again."}"#,
                );
                f.push(ex);
                return f;
            }
        }
        f.push(event("contentBlockStop", json!({"contentBlockIndex": i})));
    }
    f.push(event("messageStop", json!({"stopReason": stop})));
    f.push(event(
        "metadata",
        json!({"usage": usage(model), "metrics": {"latencyMs": 42}}),
    ));
    if model == "bad-crc" {
        let n = f[1].len();
        f[1][n - 6] ^= 0x20;
    }
    f
}

fn stream(model: &str, frames: Vec<Vec<u8>>) -> Response {
    let bytes: Vec<u8> = if model == "cut" {
        // Whole frames up to the middle, then half of the next one.
        let half = frames.len() / 2;
        let mut b = frames[..half].concat();
        b.extend_from_slice(&frames[half][..frames[half].len() / 2]);
        b
    } else {
        frames.concat()
    };
    // Deliver in 7-byte pieces so frames straddle reads.
    let pieces: Vec<Result<Bytes, std::io::Error>> = bytes
        .chunks(7)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    (
        StatusCode::OK,
        [("content-type", "application/vnd.amazon.eventstream")],
        Body::from_stream(futures::stream::iter(pieces)),
    )
        .into_response()
}

fn decode_model(enc: &str) -> String {
    let mut out = Vec::new();
    let b = enc.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&enc[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

async fn handle(
    State(seen): State<Recorder>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&seen, method.as_str(), &uri, &headers, &body);
    if let Err(why) = verify_sigv4(&uri, &headers, &body) {
        return error(403, "InvalidSignatureException", &format!("The request signature we calculated does not match the signature you provided ({why})."));
    }
    let Some((enc, action)) = uri
        .path()
        .strip_prefix("/model/")
        .and_then(|p| p.rsplit_once('/'))
    else {
        return error(404, "UnknownOperationException", "no such operation");
    };
    assert!(
        !enc.contains(':'),
        "the model id must be URL-encoded in the path: {enc}"
    );
    let model = decode_model(enc);
    let req: Value = serde_json::from_slice(&body).unwrap_or_default();
    if let Some(s) = error_status(&model) {
        return error(s, error_type(s), &format!("mock error {s}"));
    }
    if let Some(d) = slow(&model) {
        tokio::time::sleep(d).await;
    }
    match model.as_str() {
        "overloaded" => {
            return error(
                429,
                "ModelNotReadyException",
                "Model is not ready to serve inference requests. Try again later.",
            )
        }
        "context-length" => {
            return error(
                400,
                "ValidationException",
                "Input is too long for requested model.",
            )
        }
        _ => {}
    }
    match action {
        "invoke" => {
            // Amazon Titan Text Embeddings.
            let input = req["inputText"].as_str().unwrap_or("");
            axum::Json(json!({"embedding": [0.5, input.len() as f64], "inputTextTokenCount": input.split_whitespace().count()}))
                .into_response()
        }
        "converse" | "converse-stream" => {
            if let Err(e) = check::request(&req) {
                return error(400, "ValidationException", &e);
            }
            let r = reply(&ask(&req, &model));
            let (blocks, stop) = content(&model, &r);
            if action == "converse-stream" {
                return stream(&model, stream_frames(&model, &blocks, stop));
            }
            axum::Json(json!({"output": {"message": {"role": "assistant", "content": blocks}}, "stopReason": stop,
                "usage": usage(&model), "metrics": {"latencyMs": 42}}))
            .into_response()
        }
        other => error(
            404,
            "UnknownOperationException",
            &format!("no operation {other}"),
        ),
    }
}
