//! `Idempotency-Key`: claimed before anything is recorded, bound to route and body, released
//! when the job could not be published; a streamed resubmit replays the whole answer.

use crate::harness::*;
use crate::upstream::Upstream;
use serde_json::{json, Value};
use std::time::Duration;

async fn send(gw: &Gateway, path: &str, key: &str, body: &Value) -> reqwest::Response {
    gw.http
        .post(gw.url(path))
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_duplicate_submit_records_nothing_of_its_own() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    let body = chat("mock/echo", "once");
    let a = send(&gw, "/v1/chat/completions", "dup-1", &body).await;
    let b = send(&gw, "/v1/chat/completions", "dup-1", &body).await;
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let id = job_id(&a);
    assert_eq!(job_id(&b), id);
    let evs = events_until(&nats, Duration::from_secs(5), |e| {
        count_kind(e, "delivered", None) >= 2
    })
    .await;
    assert_eq!(count_kind(&evs, "delivered", Some(&id)), 2, "both answered");
    assert_eq!(
        count_kind(&evs, "received", None),
        1,
        "the duplicate left no `received` (no record stuck at queued): {evs:?}"
    );
    assert!(evs.iter().all(|e| e["job"] == id.as_str()), "{evs:?}");
    gw.stop().await;
}

#[tokio::test]
async fn a_key_is_bound_to_its_route_and_body() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    let body = chat("mock/echo", "first");
    let first = send(&gw, "/v1/chat/completions", "bound-1", &body).await;
    assert_eq!(first.status(), 200);
    let id = job_id(&first);

    let other_route = send(
        &gw,
        "/v1/embeddings",
        "bound-1",
        &json!({"model": "mock/embed", "input": "x"}),
    )
    .await;
    assert_eq!(other_route.status(), 409);
    let v: Value = other_route.json().await.unwrap();
    assert_eq!(v["error"]["code"], "idempotency_key_reused", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/v1/chat/completions"),
        "{v}"
    );

    let other_body = send(
        &gw,
        "/v1/chat/completions",
        "bound-1",
        &chat("mock/echo", "second"),
    )
    .await;
    assert_eq!(other_body.status(), 409);
    let v: Value = other_body.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("different body"),
        "{v}"
    );

    let anthropic = send(
        &gw,
        "/v1/messages",
        "bound-1",
        &json!({"model": "mock/echo", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(anthropic.status(), 409);
    let v: Value = anthropic.json().await.unwrap();
    assert_eq!(
        v["type"], "error",
        "the Anthropic shape on /v1/messages: {v}"
    );

    let same = send(&gw, "/v1/chat/completions", "bound-1", &body).await;
    assert_eq!(same.status(), 200);
    assert_eq!(job_id(&same), id, "the same request still gets its job");
    gw.stop().await;
}

#[tokio::test]
async fn a_key_that_is_not_ascii_is_refused() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    let r = gw
        .http
        .post(gw.url("/v1/chat/completions"))
        .header(
            "Idempotency-Key",
            reqwest::header::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        )
        .json(&chat("mock/echo", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("idempotency-key"),
        "{v}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_claim_whose_job_was_not_published_is_released() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    js.delete_stream("SY_JOBS").await.unwrap();
    let body = chat("mock/echo", "retry me");
    let r = send(&gw, "/v1/chat/completions", "released-1", &body).await;
    assert_eq!(r.status(), 503, "{:?}", r.text().await);
    gw.stop().await;
    // The operator fixes NATS (a new start recreates the stream); the client retries.
    let gw = Gateway::start(&nats, "").await;
    let r = gw
        .http
        .post(gw.url("/v1/chat/completions"))
        .header("Idempotency-Key", "released-1")
        .header("X-Switchyard-Timeout-Ms", "3000")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "the retry runs instead of waiting for a job that never ran"
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "echo: retry me");
    gw.stop().await;
}

#[tokio::test]
async fn a_streamed_resubmit_of_a_tool_call_keeps_its_tool_calls() {
    let nats = Nats::start().await;
    let up = Upstream::start().await;
    let gw = Gateway::start(&nats, &up.provider_toml("up")).await;
    let body = json!({
        "model": "up/gpt-test", "stream": true,
        "messages": [{"role": "user", "content": "weather?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    });
    let calls = |sse: &str| -> (String, String) {
        let (mut name, mut args) = (String::new(), String::new());
        for d in sse_data(sse).iter().filter(|d| *d != "[DONE]") {
            let c: Value = serde_json::from_str(d).unwrap();
            for tc in c["choices"][0]["delta"]["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
            {
                name.push_str(tc["function"]["name"].as_str().unwrap_or(""));
                args.push_str(tc["function"]["arguments"].as_str().unwrap_or(""));
            }
        }
        (name, args)
    };
    let first = send(&gw, "/v1/chat/completions", "tools-1", &body).await;
    assert_eq!(first.status(), 200);
    let live = calls(&first.text().await.unwrap());
    assert_eq!(live.0, "get_weather");
    let again = send(&gw, "/v1/chat/completions", "tools-1", &body).await;
    assert_eq!(again.status(), 200);
    let replayed = calls(&again.text().await.unwrap());
    assert_eq!(
        replayed, live,
        "the replayed stream carries the same tool call"
    );
    let args: Value = serde_json::from_str(&replayed.1).unwrap();
    assert_eq!(args["city"], "Paris");
    gw.stop().await;
}
