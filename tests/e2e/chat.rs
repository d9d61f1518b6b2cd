//! Sync chat through the full JetStream path.

use crate::harness::*;
use crate::upstream::Upstream;
use serde_json::{json, Value};

#[tokio::test]
async fn mock_echo_answers_sync() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    let resp = gw
        .post("/v1/chat/completions", chat("mock/echo", "hello there"))
        .await;
    assert_eq!(resp.status(), 200);
    let id = job_id(&resp);
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "job id header: {id:?}");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["content"], "echo: hello there");
    assert_eq!(
        v["usage"]["total_tokens"],
        v["usage"]["prompt_tokens"].as_u64().unwrap()
            + v["usage"]["completion_tokens"].as_u64().unwrap()
    );
    // The finished job can be fetched by the id from the header.
    let j: Value = gw
        .get(&format!("/v1/jobs/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(j["status"], "completed");
    assert_eq!(
        j["result"]["choices"][0]["message"]["content"],
        "echo: hello there"
    );
    gw.stop().await;
}

#[tokio::test]
async fn openai_upstream_gets_the_body_untouched() {
    let nats = Nats::start().await;
    let up = Upstream::start().await;
    let gw = Gateway::start(&nats, &up.provider_toml("up")).await;
    let body = json!({
        "model": "up/gpt-test",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}}]}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true}}],
        "tool_choice": "auto",
        "response_format": {"type": "json_object"},
        "temperature": 0.2,
        "seed": 7,
        "metadata": {"keep": "me"},
        "prompt_cache_key": "k-1"
    });
    let resp = gw.post("/v1/chat/completions", body.clone()).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        v["system_fingerprint"], "fp_mock",
        "unknown response fields pass through"
    );
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    let sent = &seen[0].json();
    assert_eq!(sent["model"], "gpt-test", "the provider prefix is stripped");
    for key in [
        "messages",
        "tools",
        "tool_choice",
        "response_format",
        "temperature",
        "seed",
        "metadata",
        "prompt_cache_key",
    ] {
        assert_eq!(sent[key], body[key], "{key} passes through untouched");
    }
    assert_eq!(
        seen[0].headers.get("authorization").unwrap(),
        format!("Bearer {}", crate::upstream::openai::KEY).as_str()
    );
    gw.stop().await;
}

/// A field the OpenAI API does not know goes through (the openai adapter passes fields
/// through) and the upstream's own 400 comes back, naming it: loud, not dropped.
#[tokio::test]
async fn an_unknown_field_reaches_the_openai_upstream_which_refuses_it() {
    let nats = Nats::start().await;
    let up = Upstream::start().await;
    let gw = Gateway::start(&nats, &up.provider_toml("up")).await;
    let body = json!({"model": "up/gpt-test", "messages": [{"role": "user", "content": "hi"}],
        "x_vendor_field": {"keep": ["me"]}});
    let resp = gw.post("/v1/chat/completions", body).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    let msg = v["error"]["message"].as_str().unwrap_or("");
    assert!(
        msg.contains("Unrecognized request argument supplied: x_vendor_field"),
        "{v}"
    );
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert_eq!(
        up.requests()[0].json()["x_vendor_field"],
        json!({"keep": ["me"]})
    );
    gw.stop().await;
}

#[tokio::test]
async fn bare_model_and_alias_resolve() {
    let nats = Nats::start().await;
    let up = Upstream::start().await;
    let extra = format!(
        "{}\n[models.smart]\ntarget = \"up/gpt-test\"\n",
        up.provider_toml("up")
    );
    let gw = Gateway::start(&nats, &extra).await;
    for model in ["gpt-test", "smart"] {
        let resp = gw.post("/v1/chat/completions", chat(model, "hi")).await;
        assert_eq!(resp.status(), 200, "model {model}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "upstream says: hi");
    }
    let models: Value = gw.get("/v1/models").await.json().await.unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"smart") && ids.contains(&"up/gpt-test"),
        "{ids:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn health_and_ready() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    assert_eq!(gw.get("/health").await.status(), 200);
    let r = gw.get("/ready").await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["nats"], "connected");
    assert_eq!(v["streams"]["SY_JOBS"], true);
    gw.stop().await;
}

#[tokio::test]
async fn lifecycle_events_are_published() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let resp = gw
        .post("/v1/chat/completions", chat("mock/echo", "events please"))
        .await;
    assert_eq!(resp.status(), 200);
    let id = job_id(&resp);
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream("SY_EVENTS").await.unwrap();
    let mut kinds = Vec::new();
    for _ in 0..50 {
        kinds.clear();
        let mut seq = 1;
        while let Ok(m) = stream.get_raw_message(seq).await {
            let ev: Value = serde_json::from_slice(&m.payload).unwrap();
            if ev["job"] == id.as_str() {
                assert!(
                    ev["ts_ms"].as_u64().unwrap() > 0 && !ev["node"].as_str().unwrap().is_empty()
                );
                kinds.push(ev["kind"].as_str().unwrap().to_string());
            }
            seq += 1;
        }
        if kinds.iter().any(|k| k == "delivered") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for k in [
        "received",
        "queued",
        "dequeued",
        "attempt_started",
        "completed",
        "delivered",
    ] {
        assert!(kinds.iter().any(|x| x == k), "missing {k} in {kinds:?}");
    }
    gw.stop().await;
}
