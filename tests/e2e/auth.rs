//! Keys: the master key, virtual keys through the admin API, scopes, revocation seen by a
//! second ingress, rate limits and budgets held across two ingresses, and admin audit.

use crate::harness::{self, chat, Gateway, Nats};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub const MASTER: &str = "sy-master-test-key-0123456789";

/// Prices for the mock's models, so budgets and costs have something to count.
const PRICED: &str = "[auth]\nmaster_key = \"sy-master-test-key-0123456789\"\n\n[prices.\"mock/echo\"]\ninput = 1000.0\noutput = 2000.0\n\n[prices.\"mock/stream-100ms\"]\ninput = 1000.0\noutput = 2000.0\n\n[models.smart]\ntarget = \"mock/echo\"\n";

pub async fn send(
    gw: &Gateway,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut rb = gw.http.request(method, gw.url(path));
    if let Some(k) = key {
        rb = rb.bearer_auth(k);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    rb.send().await.expect("request sent")
}

/// Creates a key with `spec` as the master; its id and secret.
pub async fn create_key(gw: &Gateway, spec: Value) -> (String, String) {
    let r = send(
        gw,
        reqwest::Method::POST,
        "/admin/keys",
        Some(MASTER),
        Some(spec),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    (
        v["id"].as_str().unwrap().into(),
        v["key"].as_str().unwrap().into(),
    )
}

async fn chat_as(gw: &Gateway, key: &str, model: &str) -> reqwest::Response {
    send(
        gw,
        reqwest::Method::POST,
        "/v1/chat/completions",
        Some(key),
        Some(chat(model, "hello there")),
    )
    .await
}

/// Sleeps into a fresh minute when the current one is nearly over, so a per-minute window
/// holds the whole test.
pub async fn fresh_minute() {
    let left = broker::access::period::minute(schemas::now_ms()).1;
    if left < 20 {
        tokio::time::sleep(Duration::from_secs(left + 1)).await;
    }
}

#[tokio::test]
async fn keys_are_created_scoped_rotated_revoked_and_audited() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, PRICED).await;
    use reqwest::Method as M;

    // No key: the OpenAI shape, the Anthropic shape under /v1/messages; probes stay open.
    let r = gw
        .post("/v1/chat/completions", chat("mock/echo", "hi"))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "invalid_api_key", "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Authorization: Bearer"));
    let r = gw.post("/v1/messages", json!({"model": "mock/echo", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(gw.get("/health").await.status(), StatusCode::OK);
    assert_eq!(gw.get("/metrics").await.status(), StatusCode::UNAUTHORIZED);
    let r = chat_as(&gw, "sy-000000000000-nope", "mock/echo").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Bad specs are refused with the field named.
    let r = send(
        &gw,
        M::POST,
        "/admin/keys",
        Some(MASTER),
        Some(json!({"name": "x", "rpm": 0})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = send(
        &gw,
        M::POST,
        "/admin/keys",
        Some(MASTER),
        Some(json!({"name": "x", "colour": "red"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["param"], "colour");

    let (a, a_key) = create_key(
        &gw,
        json!({"name": "app-a", "models": ["mock/*"], "metadata": {"team": "x"}}),
    )
    .await;
    let (b, b_key) = create_key(&gw, json!({"name": "app-b"})).await;
    assert_ne!(a, b);

    // The list and the key show no secret and no hash.
    let list = send(&gw, M::GET, "/admin/keys", Some(MASTER), None)
        .await
        .text()
        .await
        .unwrap();
    assert!(list.contains(&a) && list.contains("app-b"), "{list}");
    assert!(
        !list.contains(&a_key[20..]) && !list.contains("\"hash\""),
        "{list}"
    );

    // Every SDK's header works.
    assert_eq!(
        chat_as(&gw, &a_key, "mock/echo").await.status(),
        StatusCode::OK
    );
    for header in ["x-api-key", "api-key"] {
        let r = gw
            .http
            .post(gw.url("/v1/chat/completions"))
            .header(header, &a_key)
            .json(&chat("mock/echo", "hi"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{header}");
    }
    // Models outside the key's list: not listed, and refused.
    let models: Value = send(&gw, M::GET, "/v1/models", Some(&a_key), None)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"mock/echo") && !ids.contains(&"smart"),
        "{ids:?}"
    );
    let r = chat_as(&gw, &a_key, "smart").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("may not use the model `smart`"));

    // A job is its key's: another key gets 404, the owner and the master see it.
    let r = gw
        .http
        .post(gw.url("/v1/jobs"))
        .bearer_auth(&a_key)
        .json(&chat("mock/slow-300ms", "mine"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let job = harness::job_id(&r);
    let path = format!("/v1/jobs/{job}");
    assert_eq!(
        send(&gw, M::GET, &path, Some(&b_key), None).await.status(),
        StatusCode::NOT_FOUND
    );
    let cancel = format!("/v1/jobs/{job}/cancel");
    assert_eq!(
        send(&gw, M::POST, &cancel, Some(&b_key), None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let until = Instant::now() + Duration::from_secs(10);
    let done = loop {
        let v: Value = send(&gw, M::GET, &path, Some(&a_key), None)
            .await
            .json()
            .await
            .unwrap();
        if v["status"] == "completed" || Instant::now() > until {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        send(&gw, M::GET, &path, Some(&b_key), None).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&gw, M::GET, &path, Some(MASTER), None).await.status(),
        StatusCode::OK
    );

    // The job's events and result name the key; `authenticated` is emitted.
    let evs = harness::job_events_until(&nats, &job, harness::has_final).await;
    assert!(
        evs.iter()
            .any(|e| e["kind"] == "received" && e["key_id"] == a.as_str()),
        "{evs:?}"
    );
    assert!(
        evs.iter()
            .any(|e| e["kind"] == "authenticated" && e["key_id"] == a.as_str()),
        "{evs:?}"
    );
    assert!(
        evs.iter()
            .any(|e| e["kind"] == "completed" && e["key_id"] == a.as_str()),
        "{evs:?}"
    );
    assert!(
        evs.len() >= 6 && evs.iter().all(|e| e["key_id"] == a.as_str()),
        "every event names the key: {evs:?}"
    );

    // The admin API and /metrics are the master's.
    assert_eq!(
        send(&gw, M::GET, "/admin/keys", Some(&a_key), None)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&gw, M::GET, "/metrics", Some(&a_key), None)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&gw, M::GET, "/metrics", Some(MASTER), None)
            .await
            .status(),
        StatusCode::OK
    );

    // An admin key reaches what the master reaches.
    let (_, admin_key) = create_key(&gw, json!({"name": "ops", "admin": true})).await;
    assert_eq!(
        send(&gw, M::GET, &path, Some(&admin_key), None)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        send(&gw, M::GET, "/admin/keys", Some(&admin_key), None)
            .await
            .status(),
        StatusCode::OK
    );

    // PATCH changes a setting; `null` clears it.
    let p = format!("/admin/keys/{b}");
    let v: Value = send(
        &gw,
        M::PATCH,
        &p,
        Some(MASTER),
        Some(json!({"rpm": 100, "name": "app-b2"})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        (v["rpm"].as_u64(), v["name"].as_str()),
        (Some(100), Some("app-b2")),
        "{v}"
    );
    let v: Value = send(&gw, M::PATCH, &p, Some(MASTER), Some(json!({"rpm": null})))
        .await
        .json()
        .await
        .unwrap();
    assert!(v.get("rpm").is_none(), "{v}");

    // Rotate: the old secret stops, the new one works, same id.
    let v: Value = send(
        &gw,
        M::POST,
        &format!("/admin/keys/{b}/rotate"),
        Some(MASTER),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let b_new = v["key"].as_str().unwrap().to_string();
    assert_eq!(v["id"], b.as_str());
    assert_eq!(
        chat_as(&gw, &b_key, "mock/echo").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        chat_as(&gw, &b_new, "mock/echo").await.status(),
        StatusCode::OK
    );

    // Revoke.
    let r = send(
        &gw,
        M::DELETE,
        &format!("/admin/keys/{a}"),
        Some(MASTER),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = chat_as(&gw, &a_key, "mock/echo").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("revoked"));

    // The audit trail: who, from where, what changed; never a secret.
    let text = send(&gw, M::GET, "/admin/audit?limit=50", Some(MASTER), None)
        .await
        .text()
        .await
        .unwrap();
    let page: Value = serde_json::from_str(&text).unwrap();
    let actions: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "key.revoked",
            "key.rotated",
            "key.updated",
            "key.updated",
            "key.created",
            "key.created",
            "key.created"
        ],
        "{text}"
    );
    let first = &page["data"][0];
    assert_eq!(
        (
            first["actor"].as_str(),
            first["from"].as_str(),
            first["target"].as_str()
        ),
        (Some("master"), Some("127.0.0.1"), Some(a.as_str()))
    );
    let updated = &page["data"][3];
    assert_eq!(
        updated["changes"]["rpm"],
        json!({"old": null, "new": 100}),
        "{updated}"
    );
    for secret in [&a_key, &b_key, &b_new] {
        assert!(!text.contains(&secret[20..]), "a secret in the audit trail");
    }
    let only: Value = send(
        &gw,
        M::GET,
        &format!("/admin/audit?action=key.created&target={b}"),
        Some(MASTER),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(only["data"].as_array().unwrap().len(), 1, "{only}");
    gw.stop().await;
}

#[tokio::test]
async fn a_revoked_key_is_refused_by_a_second_ingress_within_a_second() {
    let nats = Nats::start().await;
    let one = Gateway::start(&nats, PRICED).await;
    let two = Gateway::start_roles(&nats, PRICED, switchyard::Roles::INGRESS).await;
    let (id, key) = create_key(&one, json!({"name": "moving"})).await;
    // New keys are seen at once too.
    let t0 = Instant::now();
    loop {
        let s = send(&two, reqwest::Method::GET, "/v1/models", Some(&key), None)
            .await
            .status();
        if s == StatusCode::OK {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "a new key was not accepted by the second ingress within 1 s ({s})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = send(
        &one,
        reqwest::Method::DELETE,
        &format!("/admin/keys/{id}"),
        Some(MASTER),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let t0 = Instant::now();
    loop {
        let s = send(&two, reqwest::Method::GET, "/v1/models", Some(&key), None)
            .await
            .status();
        if s == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "the revoked key still worked on the second ingress after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    harness::report(&format!(
        "revocation seen by the second ingress after {:?}",
        t0.elapsed()
    ));
    two.stop().await;
    one.stop().await;
}

#[tokio::test]
async fn rpm_and_tpm_hold_across_two_ingresses() {
    let nats = Nats::start().await;
    let one = Gateway::start(&nats, PRICED).await;
    let two = Gateway::start_roles(&nats, PRICED, switchyard::Roles::INGRESS).await;
    let (_, key) = create_key(&one, json!({"name": "rpm", "rpm": 10})).await;
    fresh_minute().await;
    let mut ok = 0;
    let mut limited = Vec::new();
    for i in 0..16 {
        let gw = if i % 2 == 0 { &one } else { &two };
        let r = chat_as(gw, &key, "mock/echo").await;
        match r.status() {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                let retry: u64 = r.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((1..=60).contains(&retry));
                limited.push(r.json::<Value>().await.unwrap());
            }
            s => panic!("unexpected {s}"),
        }
    }
    assert_eq!(
        (ok, limited.len()),
        (10, 6),
        "10 requests per minute across both ingresses"
    );
    assert_eq!(
        limited[0]["error"]["code"], "rate_limit_exceeded",
        "{}",
        limited[0]
    );

    // Tokens per minute: counted from usage when jobs finish, refused once over.
    let (_, key) = create_key(&one, json!({"name": "tpm", "tpm": 40})).await;
    fresh_minute().await;
    let mut used = 0;
    let mut refused = None;
    for i in 0..20 {
        let gw = if i % 2 == 0 { &one } else { &two };
        let r = chat_as(gw, &key, "mock/echo").await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(r.json::<Value>().await.unwrap());
            break;
        }
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        used += v["usage"]["total_tokens"].as_u64().unwrap();
        // The worker counts the tokens right after the result: give it a moment.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused = refused.expect("the tokens-per-minute limit refused a request");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("40 tokens per minute"),
        "{refused}"
    );
    assert!((40..40 + 10).contains(&used), "refused after {used} tokens");
    two.stop().await;
    one.stop().await;
}

#[tokio::test]
async fn a_hard_budget_holds_under_20_concurrent_streams_and_costs_match_the_prices() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, PRICED).await;
    // At $1000/M input and $2000/M output, "hello there" costs 2 x $0.001 + 4 x $0.002.
    let (id, key) = create_key(
        &gw,
        json!({"name": "budget", "budget_usd": 0.2, "budget_period": "day"}),
    )
    .await;
    // Without max_tokens a request reserves auth.default_max_tokens (4096 x $0.002): over.
    let r = chat_as(&gw, &key, "mock/echo").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.text().await.unwrap().contains("max_tokens"));
    let mut small = chat("mock/echo", "hello there");
    small["max_tokens"] = json!(8);
    let r = send(
        &gw,
        reqwest::Method::POST,
        "/v1/chat/completions",
        Some(&key),
        Some(small),
    )
    .await;
    let cost: f64 = r.headers()["x-switchyard-cost"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let (p, c) = (
        v["usage"]["prompt_tokens"].as_f64().unwrap(),
        v["usage"]["completion_tokens"].as_f64().unwrap(),
    );
    assert!(
        (cost - (p * 1000.0 + c * 2000.0) / 1e6).abs() < 1e-9,
        "cost {cost} for {v}"
    );
    let one_request = cost;

    let body = json!({"model": "mock/stream-100ms", "stream": true, "max_tokens": 8,
        "messages": [{"role": "user", "content": "hello there"}]});
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let (http, url, key, body) = (
                gw.http.clone(),
                gw.url("/v1/chat/completions"),
                key.clone(),
                body.clone(),
            );
            tokio::spawn(async move {
                let r = http
                    .post(url)
                    .bearer_auth(key)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let text = r.text().await.unwrap();
                (status, text)
            })
        })
        .collect();
    let mut admitted = 0;
    let mut refused = 0;
    for c in calls {
        let (status, text) = c.await.unwrap();
        match status {
            StatusCode::OK => {
                assert!(text.contains("[DONE]"), "{text}");
                admitted += 1;
            }
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(
                    text.contains("budget_exceeded") && text.contains("resets in"),
                    "{text}"
                );
                refused += 1;
            }
            s => panic!("unexpected {s}: {text}"),
        }
    }
    assert!(
        admitted > 0 && refused > 0,
        "admitted {admitted}, refused {refused}"
    );
    // Settled from usage once the workers finish.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let v: Value = send(
        &gw,
        reqwest::Method::GET,
        &format!("/admin/keys/{id}"),
        Some(MASTER),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let spent = v["usage"]["spend_usd"].as_f64().unwrap();
    harness::report(&format!(
        "budget $0.2: {admitted} streams admitted, {refused} refused, spent ${spent:.4}"
    ));
    assert!(
        spent <= 0.2 + one_request,
        "spent {spent} over a $0.2 budget by more than a request"
    );
    // Each stream asked what the sync request asked, so each cost the same: reservations
    // were settled to the real cost.
    let expected = one_request * (admitted + 1) as f64;
    assert!(
        (spent - expected).abs() < 1e-5,
        "spent {spent}, the real costs sum to {expected}"
    );
    let r = chat_as(&gw, &key, "mock/echo").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    gw.stop().await;
}

#[tokio::test]
async fn the_gateway_refuses_to_start_open_beyond_loopback() {
    let nats = Nats::start().await;
    let mut roles = switchyard::Roles::INGRESS;
    roles.managed_nats = false;
    let cfg = harness::config(&nats.url(), "[server]\nlisten = \"0.0.0.0:0\"\n");
    let e = switchyard::start(cfg, roles)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("SWITCHYARD_MASTER_KEY") && e.contains("allow_open"),
        "{e}"
    );
    let cfg = harness::config(
        &nats.url(),
        "[server]\nlisten = \"0.0.0.0:0\"\n[auth]\nallow_open = true\n",
    );
    let running = switchyard::start(cfg, roles)
        .await
        .expect("allow_open starts");
    running.stop().await;
    let cfg = harness::config(
        &nats.url(),
        &format!("[server]\nlisten = \"0.0.0.0:0\"\n[auth]\nmaster_key = \"{MASTER}\"\n"),
    );
    let running = switchyard::start(cfg, roles)
        .await
        .expect("a master key starts");
    running.stop().await;
}

#[tokio::test]
async fn the_log_usage_and_stats_follow_the_keys_and_their_costs() {
    use reqwest::Method as M;
    let nats = Nats::start().await;
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "{PRICED}\n[auditor]\ndata_dir = \"{}\"\n",
        dir.path().display()
    );
    let gw = Gateway::start_roles(&nats, &extra, crate::audit::ALL_WITH_AUDITOR).await;
    let (a, a_key) = create_key(&gw, json!({"name": "a", "soft_budget_usd": 0.01})).await;
    let (b, b_key) = create_key(&gw, json!({"name": "b"})).await;
    let mut costs = std::collections::HashMap::new();
    let mut jobs = std::collections::HashMap::new();
    for (key, id, n) in [(&a_key, &a, 3), (&b_key, &b, 2)] {
        for _ in 0..n {
            let mut body = chat("mock/echo", "count me");
            body["max_tokens"] = json!(4);
            let r = send(&gw, M::POST, "/v1/chat/completions", Some(key), Some(body)).await;
            assert_eq!(r.status(), StatusCode::OK);
            let cost: f64 = r.headers()["x-switchyard-cost"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            *costs.entry(id.clone()).or_insert(0.0) += cost;
            jobs.entry(id.clone())
                .or_insert_with(Vec::new)
                .push(harness::job_id(&r));
        }
    }
    // A's reservations crossed its soft budget: audited and counted.
    let audit: Value = send(
        &gw,
        M::GET,
        "/admin/audit?action=budget.soft_limit",
        Some(MASTER),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(audit["data"][0]["target"], a.as_str(), "{audit}");
    assert_eq!(audit["data"][0]["actor"], "system");
    let metrics = send(&gw, M::GET, "/metrics", Some(MASTER), None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "switchyard_budget_soft_limit_total{{key=\"{a}\"}} 1"
        )),
        "soft limit metric: {}",
        metrics
            .lines()
            .filter(|l| l.contains("soft"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        metrics.contains(&format!("switchyard_key_cost_usd_total{{key=\"{b}\"}}")),
        "per-key cost metric"
    );

    // Wait for the log to hold all five.
    for j in jobs.values().flatten() {
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            let v: Value = send(
                &gw,
                M::GET,
                &format!("/v1/requests/{j}"),
                Some(MASTER),
                None,
            )
            .await
            .json()
            .await
            .unwrap_or_default();
            if crate::audit::settled(&v) {
                break;
            }
            assert!(Instant::now() < until, "record {j}: {v}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // A key lists its own requests only, whatever filter it sends; another's is 404.
    let page: Value = send(
        &gw,
        M::GET,
        &format!("/v1/requests?key={b}"),
        Some(&a_key),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let ids: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "{page}");
    assert!(ids.iter().all(|i| jobs[&a].iter().any(|j| j == i)));
    let other = &jobs[&b][0];
    for path in [
        format!("/v1/requests/{other}"),
        format!("/v1/requests/{other}/events"),
    ] {
        assert_eq!(
            send(&gw, M::GET, &path, Some(&a_key), None).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let r = send(
        &gw,
        M::POST,
        &format!("/v1/requests/{other}/replay"),
        Some(&a_key),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let own = &jobs[&a][0];
    let r = send(
        &gw,
        M::POST,
        &format!("/v1/requests/{own}/replay"),
        Some(&a_key),
        None,
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::ACCEPTED,
        "a key replays its own request"
    );
    assert_eq!(
        send(&gw, M::GET, "/v1/requests/stats", Some(&a_key), None)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    // The master filters by key.
    let page: Value = send(
        &gw,
        M::GET,
        &format!("/v1/requests?key={b}"),
        Some(MASTER),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 2, "{page}");
    let rec: Value = send(
        &gw,
        M::GET,
        &format!("/v1/requests/{other}"),
        Some(MASTER),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(rec["key_id"], b.as_str());
    assert!(
        (rec["cost_usd"].as_f64().unwrap() - costs[&b] / 2.0).abs() < 1e-9,
        "{rec}"
    );

    // Usage from the log: per key, costs matching the answers' headers.
    let usage: Value = send(
        &gw,
        M::GET,
        "/v1/usage?group_by=key&since=1h",
        Some(MASTER),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    for (id, n) in [(&a, 3), (&b, 2)] {
        let row = usage["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == id.as_str())
            .unwrap_or_else(|| panic!("{usage}"));
        assert!(row["requests"].as_u64().unwrap() >= n, "{row}");
        if id == &b {
            assert!(
                (row["cost_usd"].as_f64().unwrap() - costs[id]).abs() < 1e-9,
                "{row} vs {}",
                costs[id]
            );
        }
    }
    let mine: Value = send(
        &gw,
        M::GET,
        "/v1/usage?group_by=key&since=1h",
        Some(&b_key),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(mine["data"].as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(
        send(&gw, M::GET, "/v1/usage?group_by=model", Some(&b_key), None)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let by_model: Value = send(
        &gw,
        M::GET,
        "/v1/usage?group_by=model&since=1h",
        Some(MASTER),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(
        by_model["data"][0]["cost_usd"].as_f64().unwrap() > 0.0,
        "{by_model}"
    );
    // Stats over time: the steps of the window add up to its total.
    let stats: Value = send(
        &gw,
        M::GET,
        "/v1/requests/stats?since=1h&step=5m",
        Some(MASTER),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let series = stats["series"].as_array().unwrap();
    assert!((12..=13).contains(&series.len()), "{stats}");
    let summed: u64 = series.iter().map(|p| p["count"].as_u64().unwrap()).sum();
    assert_eq!(summed, stats["total"]["count"].as_u64().unwrap(), "{stats}");
    assert!(summed >= 5);
    let r = send(
        &gw,
        M::GET,
        "/v1/requests/stats?step=1s",
        Some(MASTER),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = send(&gw, M::GET, "/v1/usage?group_by=colour", Some(MASTER), None).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    gw.stop().await;
}

#[tokio::test]
async fn an_expired_key_is_refused_and_public_metrics_need_no_key() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, PRICED).await;
    let now = schemas::now_ms() / 1000;
    let (_, key) = create_key(&gw, json!({"name": "brief", "expires_at": now + 2})).await;
    assert_eq!(
        chat_as(&gw, &key, "mock/echo").await.status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let r = chat_as(&gw, &key, "mock/echo").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("expired"));
    gw.stop().await;
    let open = Gateway::start(
        &nats,
        &format!("[auth]\nmaster_key = \"{MASTER}\"\npublic_metrics = true\n"),
    )
    .await;
    assert_eq!(open.get("/metrics").await.status(), StatusCode::OK);
    assert_eq!(
        open.get("/v1/models").await.status(),
        StatusCode::UNAUTHORIZED
    );
    open.stop().await;
}
