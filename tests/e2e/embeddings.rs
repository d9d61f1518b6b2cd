//! `POST /v1/embeddings` through the full JetStream path: the built-in `mock/embed` and the
//! OpenAI mock upstream, sync and queued, and the validation errors.

use crate::harness::*;
use crate::upstream::Upstream;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn mock_embed_is_deterministic_and_sync() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    let body = json!({"model": "mock/embed", "input": ["the cat sat", "the cat sat", "quantum physics"], "dimensions": 8});
    let resp = gw.post("/v1/embeddings", body.clone()).await;
    assert_eq!(resp.status(), 200);
    assert!(uuid::Uuid::parse_str(&job_id(&resp)).is_ok());
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "list");
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    for (i, d) in data.iter().enumerate() {
        assert_eq!(d["index"], i);
        assert_eq!(d["object"], "embedding");
        assert_eq!(d["embedding"].as_array().unwrap().len(), 8);
    }
    assert_eq!(
        data[0]["embedding"], data[1]["embedding"],
        "same text, same vector"
    );
    assert_ne!(data[0]["embedding"], data[2]["embedding"]);
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    // Deterministic across requests too.
    let again: Value = gw.post("/v1/embeddings", body).await.json().await.unwrap();
    assert_eq!(again["data"][0]["embedding"], data[0]["embedding"]);
    gw.stop().await;
}

#[tokio::test]
async fn queued_embeddings_complete_as_a_job() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    let resp = gw
        .http
        .post(gw.url("/v1/embeddings"))
        .header("X-Switchyard-Mode", "queued")
        .json(&json!({"model": "mock/embed", "input": "hello queued"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let id = job_id(&resp);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["status"], "queued");
    let done = wait_job(&gw, &id, Duration::from_secs(5)).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["result"]["object"], "list");
    assert_eq!(
        done["result"]["data"][0]["embedding"]
            .as_array()
            .map(Vec::len),
        Some(16)
    );
    gw.stop().await;
}

#[tokio::test]
async fn openai_upstream_gets_the_embeddings_body() {
    let nats = Nats::start().await;
    let up = Upstream::start().await;
    let gw = Gateway::start(&nats, &up.provider_toml("up")).await;
    let body = json!({"model": "up/text-embedding-test", "input": ["a", "b"], "encoding_format": "float", "dimensions": 3, "x_vendor": 1});
    let resp = gw.post("/v1/embeddings", body).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["data"][1]["embedding"], json!([0.5, 1.0]));
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/embeddings");
    assert_eq!(
        seen[0].json()["model"],
        "text-embedding-test",
        "provider prefix stripped"
    );
    assert_eq!(seen[0].json()["input"], json!(["a", "b"]));
    assert_eq!(seen[0].json()["dimensions"], 3);
    assert_eq!(seen[0].json()["x_vendor"], 1, "unknown fields pass through");
    assert_eq!(
        seen[0].headers.get("authorization").unwrap(),
        format!("Bearer {}", crate::upstream::openai::KEY).as_str()
    );
    gw.stop().await;
}

#[tokio::test]
async fn bad_embeddings_requests_get_openai_errors() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    for (body, status, param) in [
        (json!({"model": "mock/embed"}), 400, Some("input")),
        (
            json!({"model": "mock/embed", "input": ""}),
            400,
            Some("input"),
        ),
        (
            json!({"model": "mock/embed", "input": []}),
            400,
            Some("input"),
        ),
        (
            json!({"model": "mock/embed", "input": {"x": 1}}),
            400,
            Some("input"),
        ),
        (
            json!({"model": "nope-model", "input": "x"}),
            404,
            Some("model"),
        ),
    ] {
        let resp = gw.post("/v1/embeddings", body.clone()).await;
        assert_eq!(resp.status(), status, "{body}");
        let v: Value = resp.json().await.unwrap();
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{v}"
        );
        assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
        assert_eq!(v["error"]["param"].as_str(), param, "{v}");
    }
    let v: Value = gw
        .post(
            "/v1/embeddings",
            json!({"model": "nope-model", "input": "x"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["error"]["code"], "model_not_found");
    gw.stop().await;
}
