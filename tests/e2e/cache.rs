//! The response cache end to end: shared by two gateways (each an ingress and a worker), a
//! sync answer served to a stream and back, tool calls and embeddings, TTLs, the request
//! headers, tenants kept apart, purge, the log and a cache that is down.

use crate::auth::{create_key, send, MASTER};
use crate::harness::*;
use crate::upstream::Upstream;
use reqwest::{Method as M, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

fn cfg(up: &Upstream, extra: &str) -> String {
    format!(
        "{}\n[auth]\nmaster_key = \"{MASTER}\"\n[cache]\nenabled = true\n[models.fast]\ntarget = \"up/gpt-test\"\n{extra}",
        up.provider_toml("up")
    )
}

async fn ask(
    gw: &Gateway,
    key: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let mut rb = gw
        .http
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(body);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = rb.send().await.unwrap();
    let label = r
        .headers()
        .get("x-switchyard-cache")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let status = r.status();
    (status, label, r.text().await.unwrap())
}

fn chat_calls(up: &Upstream) -> usize {
    up.requests()
        .iter()
        .filter(|s| s.path.ends_with("/chat/completions"))
        .count()
}

/// The text a stream spelled out, from its SSE data lines.
fn streamed_text(sse: &str) -> String {
    sse_data(sse)
        .iter()
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

#[tokio::test]
async fn two_gateways_share_answers_for_sync_streams_tools_and_embeddings() {
    let nats = Nats::start().await;
    let up = Upstream::start().await;
    let one = Gateway::start(&nats, &cfg(&up, "")).await;
    let two = Gateway::start(&nats, &cfg(&up, "")).await;
    let body = json!({"model": "up/gpt-test", "messages": [{"role": "user", "content": "cache me"}], "temperature": 0});
    let (s, label, first) = ask(&one, MASTER, &body, &[]).await;
    assert_eq!((s, label.as_str()), (StatusCode::OK, "miss"), "{first}");
    let calls = chat_calls(&up);
    // The worker stores the answer after it publishes the result: give it a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (s, label, second) = ask(&two, MASTER, &body, &[]).await;
    assert_eq!((s, label.as_str()), (StatusCode::OK, "hit"));
    assert_eq!(chat_calls(&up), calls, "a hit calls no provider");
    let a: Value = serde_json::from_str(&first).unwrap();
    let b: Value = serde_json::from_str(&second).unwrap();
    assert_eq!(a["choices"], b["choices"]);
    // The alias resolves to the same target: the same entry.
    let mut aliased = body.clone();
    aliased["model"] = json!("fast");
    assert_eq!(ask(&one, MASTER, &aliased, &[]).await.1, "hit");
    // A stream of the same request is served from the sync answer, as a proper SSE stream.
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let (s, label, sse) = ask(&two, MASTER, &streamed, &[]).await;
    assert_eq!((s, label.as_str()), (StatusCode::OK, "hit"));
    assert!(sse.trim_end().ends_with("data: [DONE]"), "{sse}");
    assert_eq!(
        streamed_text(&sse),
        a["choices"][0]["message"]["content"].as_str().unwrap()
    );
    // A streamed answer cached first serves a sync request, reassembled.
    let fresh = json!({"model": "up/gpt-test", "messages": [{"role": "user", "content": "stream first"}], "stream": true});
    let (_, label, sse) = ask(&one, MASTER, &fresh, &[]).await;
    assert_eq!(label, "miss");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut sync = fresh.clone();
    sync["stream"] = json!(false);
    let (_, label, text) = ask(&two, MASTER, &sync, &[]).await;
    assert_eq!(label, "hit");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"].as_str().unwrap(),
        streamed_text(&sse)
    );
    // Tool calls come back identical.
    let tools = json!({"model": "up/gpt-test", "messages": [{"role": "user", "content": "weather?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "tool_choice": "required"});
    let (_, _, original) = ask(&one, MASTER, &tools, &[]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, label, cached) = ask(&two, MASTER, &tools, &[]).await;
    assert_eq!(label, "hit");
    let (o, c): (Value, Value) = (
        serde_json::from_str(&original).unwrap(),
        serde_json::from_str(&cached).unwrap(),
    );
    assert!(o["choices"][0]["message"]["tool_calls"].is_array(), "{o}");
    assert_eq!(
        o["choices"][0]["message"]["tool_calls"],
        c["choices"][0]["message"]["tool_calls"]
    );
    assert_eq!(c["choices"][0]["finish_reason"], "tool_calls");
    // Embeddings too.
    let emb = json!({"model": "mock/embed", "input": "vector me"});
    let r = send(
        &one,
        M::POST,
        "/v1/embeddings",
        Some(MASTER),
        Some(emb.clone()),
    )
    .await;
    assert_eq!(r.headers()["x-switchyard-cache"], "miss");
    let first: Value = r.json().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = send(&two, M::POST, "/v1/embeddings", Some(MASTER), Some(emb)).await;
    assert_eq!(r.headers()["x-switchyard-cache"], "hit");
    assert_eq!(r.json::<Value>().await.unwrap()["data"], first["data"]);
    two.stop().await;
    one.stop().await;
}

#[tokio::test]
async fn ttl_headers_tenants_purge_and_the_log() {
    let nats = Nats::start().await;
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("[auditor]\ndata_dir = \"{}\"\n", dir.path().display());
    let gw = Gateway::start_roles(&nats, &cfg(&up, &extra), crate::audit::ALL_WITH_AUDITOR).await;
    let body = |text: &str| json!({"model": "up/gpt-test", "messages": [{"role": "user", "content": text}]});
    let settle = || tokio::time::sleep(Duration::from_millis(200));

    // TTL: one second, then a miss again.
    assert_eq!(
        ask(
            &gw,
            MASTER,
            &body("brief"),
            &[("x-switchyard-cache-ttl", "1")]
        )
        .await
        .1,
        "miss"
    );
    settle().await;
    assert_eq!(ask(&gw, MASTER, &body("brief"), &[]).await.1, "hit");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(ask(&gw, MASTER, &body("brief"), &[]).await.1, "miss");
    let (s, _, e) = ask(
        &gw,
        MASTER,
        &body("x"),
        &[("x-switchyard-cache-ttl", "soon")],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");

    // Cache-Control: no-cache looks nothing up but stores; no-store does neither.
    let calls = chat_calls(&up);
    assert_eq!(
        ask(
            &gw,
            MASTER,
            &body("fresh"),
            &[("cache-control", "no-cache")]
        )
        .await
        .1,
        "bypass"
    );
    settle().await;
    assert_eq!(
        ask(
            &gw,
            MASTER,
            &body("fresh"),
            &[("cache-control", "no-cache")]
        )
        .await
        .1,
        "bypass"
    );
    assert_eq!(chat_calls(&up), calls + 2);
    assert_eq!(ask(&gw, MASTER, &body("fresh"), &[]).await.1, "hit");
    assert_eq!(
        ask(
            &gw,
            MASTER,
            &body("secret"),
            &[("cache-control", "no-store")]
        )
        .await
        .1,
        "bypass"
    );
    settle().await;
    assert_eq!(ask(&gw, MASTER, &body("secret"), &[]).await.1, "miss");

    // Tenants never read each other's answers; a namespace is a scope inside a key.
    let (a, a_key) = create_key(&gw, json!({"name": "a"})).await;
    let (_, b_key) = create_key(&gw, json!({"name": "b"})).await;
    assert_eq!(
        ask(&gw, &a_key, &body("shared question"), &[]).await.1,
        "miss"
    );
    settle().await;
    assert_eq!(
        ask(&gw, &a_key, &body("shared question"), &[]).await.1,
        "hit"
    );
    assert_eq!(
        ask(&gw, &b_key, &body("shared question"), &[]).await.1,
        "miss"
    );
    assert_eq!(
        ask(
            &gw,
            &a_key,
            &body("shared question"),
            &[("x-switchyard-cache-namespace", "eval-7")]
        )
        .await
        .1,
        "miss"
    );

    // The log shows the hit, what it saved, and no spend.
    let r = gw
        .http
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(&a_key)
        .json(&body("shared question"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-switchyard-cache"], "hit");
    let job = job_id(&r);
    let mut rec = Value::Null;
    for _ in 0..100 {
        rec = send(
            &gw,
            M::GET,
            &format!("/v1/requests/{job}"),
            Some(MASTER),
            None,
        )
        .await
        .json()
        .await
        .unwrap_or_default();
        if rec["status"] == "completed" && rec["cache"] == "hit" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        (rec["status"].as_str(), rec["cache"].as_str()),
        (Some("completed"), Some("hit")),
        "{rec}"
    );
    let hit = rec["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "cache_hit")
        .unwrap()
        .clone();
    assert!(hit["saved_tokens"].as_u64().unwrap() > 0, "{hit}");
    assert_eq!(rec["key_id"], a.as_str());
    let stats: Value = send(
        &gw,
        M::GET,
        "/v1/requests/stats?since=1h",
        Some(MASTER),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(
        stats["total"]["cache_hits"].as_u64().unwrap() >= 1,
        "{stats}"
    );
    let by_key = stats["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == a.as_str())
        .unwrap()
        .clone();
    assert!(by_key["cache_hits"].as_u64().unwrap() >= 1, "{by_key}");
    let metrics = send(&gw, M::GET, "/metrics", Some(MASTER), None)
        .await
        .text()
        .await
        .unwrap();
    for m in [
        "switchyard_cache_hits_total",
        "switchyard_cache_misses_total",
        "switchyard_cache_stored_bytes_total",
    ] {
        assert!(metrics.contains(m), "{m}");
    }

    // Purge by key: that key's entries go, the master's stay; audited.
    let r = send(
        &gw,
        M::DELETE,
        &format!("/admin/cache?key={a}"),
        Some(MASTER),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.json::<Value>().await.unwrap()["purged"].as_u64().unwrap() >= 1);
    assert_eq!(
        ask(&gw, &a_key, &body("shared question"), &[]).await.1,
        "miss"
    );
    assert_eq!(ask(&gw, MASTER, &body("fresh"), &[]).await.1, "hit");
    assert_eq!(
        send(&gw, M::DELETE, "/admin/cache", Some(MASTER), None)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(&gw, M::DELETE, "/admin/cache?all=true", Some(&a_key), None)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let audit: Value = send(
        &gw,
        M::GET,
        "/admin/audit?action=cache.purged",
        Some(MASTER),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(audit["data"][0]["changes"]["key"], a.as_str(), "{audit}");
    gw.stop().await;
}

#[tokio::test]
async fn a_cache_that_is_down_never_fails_a_request() {
    let nats = Nats::start().await;
    let up = Upstream::start().await;
    let gw = Gateway::start(&nats, &cfg(&up, "")).await;
    let body =
        json!({"model": "up/gpt-test", "messages": [{"role": "user", "content": "still here"}]});
    assert_eq!(ask(&gw, MASTER, &body, &[]).await.1, "miss");
    // The bucket goes away under the running gateway.
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    js.delete_stream("KV_sy_cache").await.unwrap();
    for _ in 0..3 {
        let (s, label, text) = ask(&gw, MASTER, &body, &[]).await;
        assert_eq!((s, label.as_str()), (StatusCode::OK, "miss"), "{text}");
    }
    let metrics = send(&gw, M::GET, "/metrics", Some(MASTER), None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("switchyard_cache_errors_total{op=\"get\"}"),
        "the skipped lookups are counted"
    );
    gw.stop().await;
}

/// The cosine similarity of two prompts as the gateway embeds them (`mock/embed`).
fn similarity(a: &str, b: &str) -> f32 {
    let (x, y) = (
        workers::providers::mock::embed_text(&format!("user: {a}"), 16),
        workers::providers::mock::embed_text(&format!("user: {b}"), 16),
    );
    let dot: f32 = x.iter().zip(&y).map(|(p, q)| p * q).sum();
    let norm = |v: &[f32]| v.iter().map(|p| p * p).sum::<f32>().sqrt();
    dot / (norm(&x) * norm(&y))
}

#[tokio::test]
async fn semantic_hits_above_the_threshold_and_misses_below_it() {
    let nats = Nats::start().await;
    let up = Upstream::start().await;
    let (base, near, far) = (
        "what is the capital city of france",
        "what is the capital city of spain",
        "write a short poem about autumn leaves",
    );
    let (s_near, s_far) = (similarity(base, near), similarity(base, far));
    assert!(
        s_near > s_far + 0.1,
        "the test's prompts: near {s_near}, far {s_far}"
    );
    // A threshold just under the near prompt's similarity, and a key that asks for more.
    let threshold = s_near - 0.01;
    let extra = format!(
        "[cache.semantic]\nenabled = true\nmodel = \"mock/embed\"\nthreshold = {threshold}\n"
    );
    let gw = Gateway::start(&nats, &cfg(&up, &extra)).await;
    let body = |text: &str| json!({"model": "up/gpt-test", "messages": [{"role": "user", "content": text}]});
    assert_eq!(ask(&gw, MASTER, &body(base), &[]).await.1, "miss");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let calls = chat_calls(&up);
    let r = send(
        &gw,
        M::POST,
        "/v1/chat/completions",
        Some(MASTER),
        Some(body(near)),
    )
    .await;
    assert_eq!(r.headers()["x-switchyard-cache"], "semantic-hit");
    let sim: f32 = r.headers()["x-switchyard-cache-similarity"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (sim - s_near).abs() < 0.01 && sim >= threshold,
        "similarity {sim}, expected {s_near}"
    );
    let v: Value = r.json().await.unwrap();
    assert!(
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("france"),
        "the cached answer: {v}"
    );
    assert_eq!(chat_calls(&up), calls, "a semantic hit calls no provider");
    // Below the threshold: a miss, answered upstream.
    assert_eq!(ask(&gw, MASTER, &body(far), &[]).await.1, "miss");
    assert_eq!(chat_calls(&up), calls + 1);
    // Streamed too: a whole stream from the cached answer.
    let mut streamed = body(near);
    streamed["stream"] = json!(true);
    let (_, label, sse) = ask(&gw, MASTER, &streamed, &[]).await;
    assert!(label == "semantic-hit" || label == "hit", "{label}");
    assert!(
        sse.contains("france") && sse.trim_end().ends_with("data: [DONE]"),
        "{sse}"
    );
    // Another tenant never gets it, however close.
    let (_, key) = create_key(&gw, json!({"name": "other"})).await;
    assert_eq!(ask(&gw, &key, &body(near), &[]).await.1, "miss");
    gw.stop().await;
}

/// A real redis-server on a free port, no persistence; killed on drop.
struct Redis(std::process::Child, u16);

impl Redis {
    async fn start() -> Redis {
        let port = free_port();
        let bin = std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".into());
        let args = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
        let server = Redis(
            std::process::Command::new(bin)
                .args(["--port", &port.to_string()])
                .args(args)
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("redis-server is not on PATH: ./scripts/test installs Debian's redis-server, or set REDIS_SERVER_BIN"),
            port,
        );
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("redis-server did not start");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_redis_backend_shares_answers_purges_and_survives_redis_going_away() {
    let nats = Nats::start().await;
    let up = Upstream::start().await;
    let redis = Redis::start().await;
    let extra = format!(
        "backend = \"redis\"\nurl = \"redis://127.0.0.1:{}\"\n",
        redis.1
    );
    // The backend keys belong to [cache]: put them right after its header.
    let config = cfg(&up, "").replace(
        "[cache]\nenabled = true\n",
        &format!("[cache]\nenabled = true\n{extra}"),
    );
    let one = Gateway::start(&nats, &config).await;
    let two = Gateway::start(&nats, &config).await;
    let body =
        json!({"model": "up/gpt-test", "messages": [{"role": "user", "content": "in redis"}]});
    assert_eq!(ask(&one, MASTER, &body, &[]).await.1, "miss");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let calls = chat_calls(&up);
    let (s, label, _) = ask(&two, MASTER, &body, &[]).await;
    assert_eq!((s, label.as_str()), (StatusCode::OK, "hit"));
    assert_eq!(chat_calls(&up), calls);
    // Really in Redis, under the gateway's prefix, with a TTL; and not in the JetStream bucket.
    let client = redis::Client::open(format!("redis://127.0.0.1:{}", redis.1)).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("switchyard:c.*")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let ttl: i64 = redis::cmd("TTL")
        .arg(&keys[0])
        .query_async(&mut con)
        .await
        .unwrap();
    assert!((3500..=3600).contains(&ttl), "{ttl}");
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let kv = js.get_key_value("sy_cache").await.unwrap();
    assert_eq!(
        kv.status().await.unwrap().values(),
        0,
        "nothing went to the JetStream bucket"
    );
    // Purge.
    let r = send(
        &one,
        M::DELETE,
        "/admin/cache?key=master",
        Some(MASTER),
        None,
    )
    .await;
    assert_eq!(r.json::<Value>().await.unwrap()["purged"], 1);
    assert_eq!(ask(&two, MASTER, &body, &[]).await.1, "miss");
    // Redis goes away: every request is still answered.
    drop(redis);
    for _ in 0..3 {
        let (s, label, text) = ask(&one, MASTER, &body, &[]).await;
        assert_eq!((s, label.as_str()), (StatusCode::OK, "miss"), "{text}");
    }
    two.stop().await;
    one.stop().await;
}
