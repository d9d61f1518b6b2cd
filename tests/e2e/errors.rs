//! Bad input and a missing NATS give the OpenAI error shape with the right status.

use crate::harness::*;
use serde_json::{json, Value};

async fn assert_error(resp: reqwest::Response, status: u16, param: Option<&str>) -> Value {
    assert_eq!(resp.status(), status);
    assert!(!job_id(&resp).is_empty(), "every response names a job id");
    let v: Value = resp.json().await.unwrap();
    let e = &v["error"];
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert!(e["type"].is_string(), "{v}");
    assert!(e.get("param").is_some() && e.get("code").is_some(), "{v}");
    if let Some(p) = param {
        assert_eq!(e["param"], p, "{v}");
    }
    v
}

#[tokio::test]
async fn bad_inputs() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "[server]\n").await;
    let url = gw.url("/v1/chat/completions");
    let r = gw
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(r, 400, None).await;
    let r = gw
        .post("/v1/chat/completions", json!({"model": "mock/echo"}))
        .await;
    assert_error(r, 400, Some("messages")).await;
    let r = gw
        .post(
            "/v1/chat/completions",
            json!({"model": "mock/echo", "messages": []}),
        )
        .await;
    assert_error(r, 400, Some("messages")).await;
    let r = gw
        .post("/v1/chat/completions", chat("nosuch-model", "x"))
        .await;
    let v = assert_error(r, 404, Some("model")).await;
    assert_eq!(v["error"]["code"], "model_not_found");
    let r = gw.http.post(&url).body("").send().await.unwrap();
    assert_error(r, 400, None).await;
    let r = gw.get("/v1/nothing-here").await;
    assert_error(r, 404, None).await;
    gw.stop().await;
}

#[tokio::test]
async fn oversized_body_is_413() {
    let nats = Nats::start().await;
    let running = switchyard::start(
        {
            let mut c = config(&nats.url(), "");
            c.server.max_body_bytes = 1024;
            c
        },
        switchyard::Roles {
            ingress: true,
            worker: true,
            auditor: false,
            managed_nats: false,
        },
    )
    .await
    .unwrap();
    let addr = running.http_addr.unwrap();
    let big = "x".repeat(4096);
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/v1/chat/completions"))
        .json(&chat("mock/echo", &big))
        .send()
        .await
        .unwrap();
    let v = assert_error(r, 413, None).await;
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("max_body_bytes"));
    running.stop().await;
}

#[tokio::test]
async fn upstream_errors_keep_their_status() {
    let nats = Nats::start().await;
    let up = crate::upstream::Upstream::start().await;
    let gw = Gateway::start(&nats, &up.provider_toml("up")).await;
    for (model, status, kind) in [
        ("up/error-400", 400, "invalid_request_error"),
        ("up/error-404", 404, "invalid_request_error"),
        ("mock/error-401", 401, "authentication_error"),
    ] {
        let r = gw.post("/v1/chat/completions", chat(model, "x")).await;
        let v = assert_error(r, status, None).await;
        assert_eq!(v["error"]["type"], kind, "{model}: {v}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn nats_down_gives_503() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    assert_eq!(
        gw.post("/v1/chat/completions", chat("mock/echo", "up"))
            .await
            .status(),
        200
    );
    let _store = nats.kill();
    // Once the client noticed the lost connection.
    ready_becomes(&gw, 503).await;
    let started = std::time::Instant::now();
    let r = gw
        .post("/v1/chat/completions", chat("mock/echo", "down"))
        .await;
    let v = assert_error(r, 503, None).await;
    assert!(v["error"]["message"].as_str().unwrap().contains("NATS"));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "503 comes fast"
    );
    assert_eq!(gw.get("/ready").await.status(), 503);
    gw.stop().await;
}
