//! The Anthropic-compatible front door (`POST /v1/messages`, `/v1/messages/count_tokens`)
//! against the built-in mock, an OpenAI upstream and an Anthropic upstream; and the
//! `anthropic` adapter behind `/v1/chat/completions`.

use crate::harness::*;
use crate::upstream::AnthropicUpstream;
use crate::upstream::Upstream;
use serde_json::{json, Value};

pub(crate) fn msg(model: &str, text: &str) -> Value {
    json!({"model": model, "max_tokens": 256, "system": "be brief",
           "messages": [{"role": "user", "content": text}]})
}

/// `(event name, data)` of each SSE event; asserts each data's `type` is its name.
pub(crate) fn events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let name = e
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or("")
                .to_string();
            let data: Value = serde_json::from_str(
                e.lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .unwrap_or("null"),
            )
            .unwrap();
            assert_eq!(
                data["type"],
                name.as_str(),
                "event name matches its type: {e}"
            );
            (name, data)
        })
        .collect()
}

pub(crate) fn names(evs: &[(String, Value)]) -> Vec<&str> {
    evs.iter().map(|(n, _)| n.as_str()).collect()
}

pub(crate) fn text_of(evs: &[(String, Value)]) -> String {
    evs.iter()
        .filter(|(n, d)| n == "content_block_delta" && d["delta"]["type"] == "text_delta")
        .filter_map(|(_, d)| d["delta"]["text"].as_str())
        .collect()
}

pub(crate) async fn post_stream(
    gw: &Gateway,
    path: &str,
    mut body: Value,
) -> (reqwest::StatusCode, String, String) {
    body["stream"] = json!(true);
    let resp = gw.post(path, body).await;
    let status = resp.status();
    let id = job_id(&resp);
    (status, id, resp.text().await.unwrap())
}

#[tokio::test]
async fn messages_sync_against_mock_echo() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    let resp = gw
        .post("/v1/messages", msg("mock/echo", "hello gateway"))
        .await;
    assert_eq!(resp.status(), 200);
    let id = job_id(&resp);
    assert!(!id.is_empty());
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "mock/echo");
    assert!(v["id"].as_str().unwrap().starts_with("msg_"), "{v}");
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "echo: hello gateway"}])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v["usage"]["input_tokens"].as_u64().unwrap() > 0, "{v}");
    assert!(v["usage"]["output_tokens"].as_u64().unwrap() > 0, "{v}");
    let job = wait_job(&gw, &id, std::time::Duration::from_secs(5)).await;
    assert_eq!(job["status"], "completed", "{job}");
    gw.stop().await;
}

#[tokio::test]
async fn messages_stream_events_in_order_against_mock() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    let (status, id, body) =
        post_stream(&gw, "/v1/messages", msg("mock/echo", "one two three")).await;
    assert_eq!(status, 200, "{body}");
    assert!(!id.is_empty());
    let evs = events(&body);
    let n = names(&evs);
    assert_eq!(n[0], "message_start", "{n:?}");
    assert_eq!(
        n[1], "ping",
        "a ping follows message_start, as on Anthropic's API"
    );
    assert_eq!(n[2], "content_block_start");
    let deltas = n.iter().filter(|x| **x == "content_block_delta").count();
    assert!(deltas >= 3, "word by word: {n:?}");
    assert_eq!(
        &n[n.len() - 3..],
        &["content_block_stop", "message_delta", "message_stop"],
        "{n:?}"
    );
    assert_eq!(evs[0].1["message"]["role"], "assistant");
    assert_eq!(evs[0].1["message"]["content"], json!([]));
    assert_eq!(
        evs[2].1["content_block"],
        json!({"type": "text", "text": ""})
    );
    assert_eq!(text_of(&evs), "echo: one two three");
    let delta = &evs[evs.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert!(
        delta["usage"]["output_tokens"].as_u64().unwrap() > 0,
        "{delta}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn messages_translate_to_and_from_an_openai_upstream() {
    let nats = Nats::start().await;
    let up = Upstream::start().await;
    let gw = Gateway::start(&nats, &up.provider_toml("up")).await;
    let body = json!({
        "model": "up/gpt-test", "max_tokens": 100, "system": [{"type": "text", "text": "be brief"}],
        "stop_sequences": ["END"], "temperature": 0.5,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "look"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "call_0", "name": "get_weather", "input": {"city": "Rome"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_0", "content": "rainy"},
                {"type": "text", "text": "and Paris?"}]}
        ],
        "tools": [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true}
    });
    let resp = gw.post("/v1/messages", body).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        v["content"],
        json!([{"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}])
    );
    assert_eq!(v["stop_reason"], "tool_use");
    assert_eq!(
        v["usage"],
        json!({"input_tokens": 7, "output_tokens": 4, "cache_read_input_tokens": 0}),
        "prompt 7, none cached"
    );
    let sent = up.requests().pop().unwrap().json();
    assert_eq!(
        sent["messages"],
        json!([
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_0", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}]},
            {"role": "tool", "content": "rainy", "tool_call_id": "call_0"},
            {"role": "user", "content": "and Paris?"}
        ])
    );
    assert_eq!(
        sent["tools"][0]["function"]["parameters"]["properties"]["city"]["type"],
        "string"
    );
    assert_eq!(sent["tool_choice"], "required");
    assert_eq!(sent["parallel_tool_calls"], false);
    assert_eq!(sent["stop"], json!(["END"]));
    assert_eq!(sent["max_tokens"], 100);
    gw.stop().await;
}

#[tokio::test]
async fn messages_stream_tool_call_from_an_openai_upstream() {
    let nats = Nats::start().await;
    let up = Upstream::start().await;
    let gw = Gateway::start(&nats, &up.provider_toml("up")).await;
    let mut body = msg("up/gpt-test", "weather?");
    body["tools"] = json!([{"name": "get_weather", "input_schema": {"type": "object"}}]);
    let (status, _, text) = post_stream(&gw, "/v1/messages", body).await;
    assert_eq!(status, 200, "{text}");
    let evs = events(&text);
    let start = evs
        .iter()
        .find(|(n, _)| n == "content_block_start")
        .unwrap();
    assert_eq!(
        start.1["content_block"],
        json!({"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {}})
    );
    let json_parts: String = evs
        .iter()
        .filter(|(_, d)| d["delta"]["type"] == "input_json_delta")
        .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&json_parts).unwrap(),
        json!({"city": "Paris"})
    );
    let delta = evs.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");
    assert_eq!(names(&evs).last(), Some(&"message_stop"));
    assert_eq!(
        up.requests().pop().unwrap().json()["stream_options"]["include_usage"],
        true
    );
    gw.stop().await;
}

fn assert_anthropic_error(v: &Value, kind: &str) {
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], kind, "{v}");
    assert!(
        !v["error"]["message"].as_str().unwrap_or("").is_empty(),
        "{v}"
    );
}

#[tokio::test]
async fn messages_errors_use_the_anthropic_shape() {
    let nats = Nats::start().await;
    let up = Upstream::start().await;
    let gw = Gateway::start(&nats, &up.provider_toml("up")).await;
    let mut no_max = msg("mock/echo", "x");
    no_max.as_object_mut().unwrap().remove("max_tokens");
    let resp = gw.post("/v1/messages", no_max).await;
    assert_eq!(resp.status(), 400);
    assert!(!job_id(&resp).is_empty());
    let v: Value = resp.json().await.unwrap();
    assert_anthropic_error(&v, "invalid_request_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_tokens"),
        "{v}"
    );

    let resp = gw.post("/v1/messages", msg("nobody/none", "x")).await;
    assert_eq!(resp.status(), 404);
    assert_anthropic_error(&resp.json().await.unwrap(), "not_found_error");

    let resp = gw.post("/v1/messages", msg("up/error-429", "x")).await;
    assert_eq!(resp.status(), 429);
    assert!(!job_id(&resp).is_empty());
    assert_anthropic_error(&resp.json().await.unwrap(), "rate_limit_error");

    let (status, _, text) = post_stream(&gw, "/v1/messages", msg("up/error-401", "x")).await;
    assert_eq!(
        status, 401,
        "an error before any output is an HTTP error: {text}"
    );
    assert_anthropic_error(
        &serde_json::from_str(&text).unwrap(),
        "authentication_error",
    );

    let resp = gw.post("/v1/messages", json!({"model": "mock/echo", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]})).await;
    assert_eq!(resp.status(), 400);
    assert_anthropic_error(&resp.json().await.unwrap(), "invalid_request_error");
    gw.stop().await;
}

#[tokio::test]
async fn count_tokens_where_the_provider_can() {
    let nats = Nats::start().await;
    let claude = AnthropicUpstream::start().await;
    let gw = Gateway::start(&nats, &claude.provider_toml("claude")).await;
    let resp = gw
        .post(
            "/v1/messages/count_tokens",
            json!({"model": "claude/claude-test", "system": "be brief",
        "messages": [{"role": "user", "content": "count me"}]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert!(!job_id(&resp).is_empty());
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"input_tokens": 12})
    );
    let seen = claude.requests().pop().unwrap();
    assert_eq!(seen.path, "/v1/messages/count_tokens");
    assert_eq!(seen.json()["system"], "be brief");
    assert!(seen.json().get("max_tokens").is_none());

    let resp = gw
        .post(
            "/v1/messages/count_tokens",
            json!({"model": "mock/echo", "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_anthropic_error(&v, "invalid_request_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot count tokens"),
        "{v}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn anthropic_adapter_behind_chat_completions() {
    let nats = Nats::start().await;
    let claude = AnthropicUpstream::start().await;
    let gw = Gateway::start(&nats, &claude.provider_toml("claude")).await;
    let mut body = chat("claude/text-cached", "hi there");
    body["messages"] =
        json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi there"}]);
    let resp = gw.post("/v1/chat/completions", body.clone()).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "upstream says: hi there"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], 7, "4 uncached + 3 cache reads");
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 3);
    assert_eq!(v["usage"]["total_tokens"], 11);
    let seen = claude.requests().pop().unwrap();
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(seen.headers["x-api-key"], crate::upstream::anthropic::KEY);
    assert_eq!(seen.headers["anthropic-version"], "2023-06-01");
    assert_eq!(seen.json()["system"], "be brief");
    assert_eq!(seen.json()["max_tokens"], 4096);
    assert_eq!(
        seen.json()["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "hi there"}]}])
    );

    body["stream"] = json!(true);
    let text = gw
        .post("/v1/chat/completions", body)
        .await
        .text()
        .await
        .unwrap();
    let frames = sse_data(&text);
    assert_eq!(frames.last().map(String::as_str), Some("[DONE]"), "{text}");
    let content: String = frames[..frames.len() - 1]
        .iter()
        .filter_map(|f| serde_json::from_str::<Value>(f).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(content, "upstream says: hi there");

    let resp = gw
        .post("/v1/chat/completions", chat("claude/overloaded", "x"))
        .await;
    assert_eq!(resp.status(), 503, "Anthropic 529 -> overloaded");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "server_overloaded", "{v}");
    gw.stop().await;
}

#[tokio::test]
async fn messages_round_trip_through_the_anthropic_adapter() {
    let nats = Nats::start().await;
    let claude = AnthropicUpstream::start().await;
    let gw = Gateway::start(&nats, &claude.provider_toml("claude")).await;
    let (status, _, text) =
        post_stream(&gw, "/v1/messages", msg("claude/claude-test", "ping pong")).await;
    assert_eq!(status, 200, "{text}");
    let evs = events(&text);
    assert_eq!(names(&evs).first(), Some(&"message_start"));
    assert_eq!(names(&evs).last(), Some(&"message_stop"));
    assert_eq!(text_of(&evs), "upstream says: ping pong");
    assert_eq!(
        evs[0].1["message"]["id"], "msg_01",
        "the upstream's message id passes through"
    );
    let delta = evs.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(delta.1["usage"]["input_tokens"], 7);
    assert_eq!(delta.1["usage"]["output_tokens"], 4);
    let sent = claude.requests().pop().unwrap().json();
    assert_eq!(sent["system"], "be brief");
    assert_eq!(sent["max_tokens"], 256);
    assert_eq!(sent["stream"], true);
    gw.stop().await;
}

#[tokio::test]
async fn messages_queued_and_idempotent_stream_replay() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    let resp = gw
        .http
        .post(gw.url("/v1/messages"))
        .header("x-switchyard-mode", "queued")
        .json(&msg("mock/echo", "later"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let id = job_id(&resp);
    let job = wait_job(&gw, &id, std::time::Duration::from_secs(5)).await;
    assert_eq!(job["status"], "completed", "{job}");

    let send = |body: Value| {
        gw.http
            .post(gw.url("/v1/messages"))
            .header("idempotency-key", "msg-replay-1")
            .json(&body)
            .send()
    };
    let mut body = msg("mock/echo", "once only");
    body["stream"] = json!(true);
    let first = send(body.clone()).await.unwrap();
    assert_eq!(first.status(), 200);
    let first_id = job_id(&first);
    assert_eq!(
        text_of(&events(&first.text().await.unwrap())),
        "echo: once only"
    );
    let second = send(body).await.unwrap();
    assert_eq!(second.status(), 200);
    assert_eq!(
        job_id(&second),
        first_id,
        "the resubmit answers with the first job"
    );
    let evs = events(&second.text().await.unwrap());
    assert_eq!(
        names(&evs),
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(text_of(&evs), "echo: once only");
    gw.stop().await;
}
