//! Streaming chat as OpenAI-style SSE.

use crate::harness::*;
use crate::upstream::Upstream;
use serde_json::{json, Value};

fn content(frames: &[String]) -> String {
    frames
        .iter()
        .filter(|f| *f != "[DONE]")
        .filter_map(|f| serde_json::from_str::<Value>(f).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

#[tokio::test]
async fn mock_streams_word_by_word_and_ends_with_done() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    let mut body = chat("mock/echo", "one two three");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let resp = gw.post("/v1/chat/completions", body).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert!(!job_id(&resp).is_empty());
    let text = resp.text().await.unwrap();
    let frames = sse_data(&text);
    assert_eq!(frames.last().map(String::as_str), Some("[DONE]"), "{text}");
    assert_eq!(content(&frames), "echo: one two three");
    // Word by word: more than one content chunk, in order.
    assert!(frames.len() >= 6, "{frames:?}");
    let usage: Value = serde_json::from_str(&frames[frames.len() - 2]).unwrap();
    assert!(
        usage["usage"]["total_tokens"].as_u64().unwrap() > 0,
        "usage chunk last: {usage}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn usage_chunk_only_when_asked() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    let mut body = chat("mock/echo", "a b");
    body["stream"] = json!(true);
    let text = gw
        .post("/v1/chat/completions", body)
        .await
        .text()
        .await
        .unwrap();
    let frames = sse_data(&text);
    assert!(
        frames
            .iter()
            .filter(|f| *f != "[DONE]")
            .all(|f| !f.contains("\"usage\"")),
        "{frames:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn openai_stream_with_split_tool_call_is_relayed_and_stored() {
    let nats = Nats::start().await;
    let up = Upstream::start().await;
    let gw = Gateway::start(&nats, &up.provider_toml("up")).await;
    let body = json!({"model": "up/gpt-test", "stream": true, "messages": [{"role": "user", "content": "weather?"}],
                      "tools": [{"type": "function", "function": {"name": "get_weather"}}]});
    let resp = gw.post("/v1/chat/completions", body).await;
    assert_eq!(resp.status(), 200);
    let id = job_id(&resp);
    let frames = sse_data(&resp.text().await.unwrap());
    let args: String = frames
        .iter()
        .filter_map(|f| serde_json::from_str::<Value>(f).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(args, "{\"city\":\"Paris\"}");
    assert_eq!(
        up.requests()[0].json()["stream_options"]["include_usage"],
        true,
        "the gateway always asks for usage"
    );
    let j = wait_job(&gw, &id, std::time::Duration::from_secs(5)).await;
    assert_eq!(
        j["result"]["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"Paris\"}"
    );
    assert_eq!(
        j["usage"]["completion_tokens"], 4,
        "usage recorded even though the client did not ask"
    );
    gw.stop().await;
}

#[tokio::test]
async fn upstream_error_before_first_chunk_is_an_http_error() {
    let nats = Nats::start().await;
    let up = Upstream::start().await;
    let gw = Gateway::start(&nats, &up.provider_toml("up")).await;
    let body = json!({"model": "up/error-401", "stream": true, "messages": [{"role": "user", "content": "x"}]});
    let resp = gw.post("/v1/chat/completions", body).await;
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        v["error"]["type"], "invalid_request_error",
        "the upstream's own type: {v}"
    );
    assert_eq!(v["error"]["code"], "invalid_api_key", "{v}");
    gw.stop().await;
}

#[tokio::test]
async fn stream_cut_midway_ends_with_an_error_event() {
    let nats = Nats::start().await;
    let up = Upstream::start().await;
    let gw = Gateway::start(&nats, &up.provider_toml("up")).await;
    let body = json!({"model": "up/cut", "stream": true, "messages": [{"role": "user", "content": "a b c d e f"}]});
    let resp = gw.post("/v1/chat/completions", body).await;
    assert_eq!(resp.status(), 200);
    let id = job_id(&resp);
    let frames = sse_data(&resp.text().await.unwrap());
    assert_eq!(frames.last().map(String::as_str), Some("[DONE]"));
    let err: Value = serde_json::from_str(&frames[frames.len() - 2]).unwrap();
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ended before"),
        "{err}"
    );
    let j = wait_job(&gw, &id, std::time::Duration::from_secs(5)).await;
    assert_eq!(j["status"], "failed");
    gw.stop().await;
}
