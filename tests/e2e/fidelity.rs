//! Translation fidelity through the whole gateway: what the conformance suite checks per
//! adapter, seen from a client — Retry-After on 429s, `n`, refused parameters (and their
//! fallback), and the Anthropic front door keeping thinking, stop sequences and refusals.

use crate::harness::*;
use crate::messages::{events, msg, names, post_stream, text_of};
use crate::upstream::{AnthropicUpstream, Upstream};
use serde_json::{json, Value};

async fn post_json(gw: &Gateway, path: &str, body: Value) -> Value {
    gw.post(path, body).await.json().await.unwrap()
}

#[tokio::test]
async fn a_429_carries_retry_after_on_both_front_doors() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "[providers.mock.retry]\nmax_attempts = 1\n").await;
    let resp = gw
        .post("/v1/chat/completions", chat("mock/error-429", "x"))
        .await;
    assert_eq!(resp.status(), 429);
    assert_eq!(
        resp.headers()["retry-after"],
        "1",
        "the upstream's advice reaches the client"
    );
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limit_exceeded", "{v}");
    let resp = gw.post("/v1/messages", msg("mock/error-429", "x")).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error", "{v}");
    gw.stop().await;
}

#[tokio::test]
async fn n_choices_through_the_gateway() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    let mut body = chat("mock/echo", "twice");
    body["n"] = json!(2);
    let v: Value = post_json(&gw, "/v1/chat/completions", body.clone()).await;
    let choices = v["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 2, "{v}");
    assert_eq!(
        (choices[0]["index"].clone(), choices[1]["index"].clone()),
        (json!(0), json!(1))
    );
    assert_eq!(choices[1]["message"]["content"], "echo: twice");
    body["stream"] = json!(true);
    let text = gw
        .post("/v1/chat/completions", body)
        .await
        .text()
        .await
        .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for d in sse_data(&text).iter().filter(|d| *d != "[DONE]") {
        let c: Value = serde_json::from_str(d).unwrap();
        for ch in c["choices"].as_array().into_iter().flatten() {
            seen.insert(ch["index"].as_u64().unwrap());
        }
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), [0, 1], "{text}");
    gw.stop().await;
}

#[tokio::test]
async fn a_parameter_the_target_cannot_take_is_refused_or_falls_back() {
    let nats = Nats::start().await;
    let claude = AnthropicUpstream::start().await;
    let oai = Upstream::start().await;
    let cfg = format!(
        "{}{}[providers.claude.retry]\nmax_attempts = 1\n[models.seeded]\ntarget = \"claude/claude-test\"\nfallbacks = [\"up/gpt-test\"]\n",
        claude.provider_toml("claude"),
        oai.provider_toml("up")
    );
    let gw = Gateway::start(&nats, &cfg).await;
    let mut body = chat("claude/claude-test", "x");
    body["seed"] = json!(7);
    let resp = gw.post("/v1/chat/completions", body.clone()).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["param"], "seed", "{v}");
    assert_eq!(v["error"]["code"], "unsupported_parameter");
    let m = v["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("anthropic adapter") && m.contains("CAPABILITIES"),
        "{m}"
    );
    assert!(claude.requests().is_empty(), "nothing reached Anthropic");
    body["model"] = json!("seeded");
    let resp = gw.post("/v1/chat/completions", body).await;
    assert_eq!(
        resp.status(),
        200,
        "the fallback takes what the first target cannot"
    );
    assert_eq!(oai.requests()[0].json()["seed"], 7);
    gw.stop().await;
}

#[tokio::test]
async fn front_door_stop_sequences_survive_both_ways() {
    let nats = Nats::start().await;
    let claude = AnthropicUpstream::start().await;
    let gw = Gateway::start(&nats, &claude.provider_toml("claude")).await;
    let mut body = msg("claude/claude-test", "one two END three");
    body["stop_sequences"] = json!(["END"]);
    let v: Value = post_json(&gw, "/v1/messages", body.clone()).await;
    assert_eq!(v["stop_reason"], "stop_sequence", "{v}");
    assert_eq!(v["stop_sequence"], "END");
    assert_eq!(v["content"][0]["text"], "upstream says: one two ");
    let (status, _, text) = post_stream(&gw, "/v1/messages", body).await;
    assert_eq!(status, 200);
    let evs = events(&text);
    let (_, delta) = evs.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "stop_sequence");
    assert_eq!(delta["delta"]["stop_sequence"], "END");
    gw.stop().await;
}

#[tokio::test]
async fn front_door_refusal_from_an_openai_upstream() {
    let nats = Nats::start().await;
    let oai = Upstream::start().await;
    let gw = Gateway::start(&nats, &oai.provider_toml("up")).await;
    let body = msg("up/refusal", "something bad");
    let v: Value = post_json(&gw, "/v1/messages", body.clone()).await;
    assert_eq!(v["stop_reason"], "refusal", "{v}");
    assert_eq!(v["content"][0]["text"], "I can't help with that.");
    let (_, _, text) = post_stream(&gw, "/v1/messages", body).await;
    let evs = events(&text);
    assert_eq!(text_of(&evs), "I can't help with that.");
    let (_, delta) = evs.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "refusal");
    gw.stop().await;
}

/// An Anthropic-SDK client with thinking and tools, over two turns, through the front door
/// to an Anthropic upstream that refuses a tool-use turn without its signed thinking.
#[tokio::test]
async fn front_door_thinking_with_tools_over_two_turns() {
    let nats = Nats::start().await;
    let claude = AnthropicUpstream::start().await;
    let gw = Gateway::start(&nats, &claude.provider_toml("claude")).await;
    let tools = json!([{"name": "get_weather", "description": "Weather of a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]);
    let first = json!({"model": "claude/claude-test", "max_tokens": 2048, "top_k": 5,
        "thinking": {"type": "enabled", "budget_tokens": 1024}, "tools": tools,
        "messages": [{"role": "user", "content": "weather in Paris?"}]});
    for streamed in [false, true] {
        let content: Vec<Value> = if streamed {
            let (status, _, text) = post_stream(&gw, "/v1/messages", first.clone()).await;
            assert_eq!(status, 200, "{text}");
            rebuild(&events(&text))
        } else {
            let v: Value = post_json(&gw, "/v1/messages", first.clone()).await;
            assert_eq!(v["stop_reason"], "tool_use", "{v}");
            v["content"].as_array().unwrap().clone()
        };
        assert_eq!(
            content[0]["type"], "thinking",
            "streamed={streamed}: {content:?}"
        );
        assert!(content[0]["signature"]
            .as_str()
            .is_some_and(|s| !s.is_empty()));
        let call = content.iter().find(|b| b["type"] == "tool_use").unwrap();
        let mut second = first.clone();
        second["messages"] = json!([
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "sunny"}]}
        ]);
        let resp = gw.post("/v1/messages", second).await;
        assert_eq!(resp.status(), 200, "streamed={streamed}");
        let v: Value = resp.json().await.unwrap();
        let text = v["content"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "text")
            .unwrap();
        assert!(
            text["text"]
                .as_str()
                .unwrap()
                .contains("the tool said: sunny"),
            "{v}"
        );
    }
    let sent = claude.requests()[0].json();
    assert_eq!(sent["top_k"], 5, "top_k reaches Anthropic");
    assert_eq!(
        sent["thinking"]["budget_tokens"], 1024,
        "thinking reaches Anthropic"
    );
    gw.stop().await;
}

/// The content blocks an Anthropic SDK would assemble from a stream.
fn rebuild(evs: &[(String, Value)]) -> Vec<Value> {
    let mut blocks: Vec<Value> = Vec::new();
    let mut json_parts: Vec<String> = Vec::new();
    for (name, d) in evs {
        match name.as_str() {
            "content_block_start" => {
                blocks.push(d["content_block"].clone());
                json_parts.push(String::new());
            }
            "content_block_delta" => {
                let (b, delta) = (blocks.last_mut().unwrap(), &d["delta"]);
                match delta["type"].as_str().unwrap() {
                    "thinking_delta" => {
                        let t = b["thinking"].as_str().unwrap_or("").to_string();
                        b["thinking"] = json!(t + delta["thinking"].as_str().unwrap());
                    }
                    "signature_delta" => b["signature"] = delta["signature"].clone(),
                    "text_delta" => {
                        let t = b["text"].as_str().unwrap_or("").to_string();
                        b["text"] = json!(t + delta["text"].as_str().unwrap());
                    }
                    "input_json_delta" => json_parts
                        .last_mut()
                        .unwrap()
                        .push_str(delta["partial_json"].as_str().unwrap()),
                    _ => {}
                }
            }
            "content_block_stop" => {
                let b = blocks.last_mut().unwrap();
                let j = json_parts.last().unwrap();
                if b["type"] == "tool_use" && !j.is_empty() {
                    b["input"] = serde_json::from_str(j).unwrap();
                }
            }
            _ => {}
        }
    }
    assert!(names(evs).contains(&"ping"));
    blocks
}
