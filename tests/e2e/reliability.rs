//! Retries, fallbacks, circuit breakers, timeouts, cancellation, dead letters, drain.

use crate::chaos::Chaos;
use crate::harness::*;
use serde_json::{json, Value};
use std::time::Duration;
use switchyard::Roles;

const FAST_RETRY: &str = "[providers.chaos.retry]\nmax_attempts = 3\nbase_ms = 20\nmax_ms = 50\n";

/// The job's events once its final event is stored.
async fn kinds(nats: &Nats, id: &str) -> Vec<Value> {
    job_events_until(nats, id, has_final).await
}

#[tokio::test]
async fn retryable_errors_are_retried_with_backoff() {
    let nats = Nats::start().await;
    let chaos = Chaos::start().await;
    let gw = Gateway::start(&nats, &chaos.provider_toml("chaos", FAST_RETRY)).await;
    let r = gw
        .post(
            "/v1/chat/completions",
            chat("chaos/first-500-2", "retry me"),
        )
        .await;
    assert_eq!(r.status(), 200);
    let id = job_id(&r);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "chaos says: retry me"
    );
    assert_eq!(chaos.count(), 3, "two failures, then success");
    let j = wait_job(&gw, &id, Duration::from_secs(5)).await;
    assert_eq!(j["attempts"], 3);
    let evs = kinds(&nats, &id).await;
    let failed: Vec<&Value> = evs
        .iter()
        .filter(|e| e["kind"] == "attempt_failed")
        .collect();
    assert_eq!(failed.len(), 2);
    assert!(failed
        .iter()
        .all(|e| e["retry_in_ms"].as_u64().is_some_and(|ms| ms <= 50) && e["status"] == 500));
    // Non-retryable errors fail at once.
    let before = chaos.count();
    let r = gw
        .post("/v1/chat/completions", chat("mock/error-400", "bad"))
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(chaos.count(), before);
    gw.stop().await;
}

#[tokio::test]
async fn rate_limits_honour_retry_after_and_pause_the_consumer() {
    let nats = Nats::start().await;
    let chaos = Chaos::start().await;
    let gw = Gateway::start(&nats, &chaos.provider_toml("chaos", FAST_RETRY)).await;
    let started = std::time::Instant::now();
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let req = gw.post(
        "/v1/chat/completions",
        chat("chaos/first-429-1", "slow down"),
    );
    let watch = async {
        let stream = js.get_stream("SY_JOBS").await.unwrap();
        for _ in 0..100 {
            if let Ok(mut c) = stream
                .get_consumer::<async_nats::jetstream::consumer::pull::Config>("sy_worker_chaos")
                .await
            {
                if c.info().await.is_ok_and(|i| i.paused) {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    };
    let (r, paused) = tokio::join!(req, watch);
    assert_eq!(r.status(), 200);
    assert!(paused, "the provider's consumer was paused on 429");
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "retry-after: 1 was honoured"
    );
    gw.stop().await;
}

#[tokio::test]
async fn fallback_and_weighted_routes() {
    let nats = Nats::start().await;
    let chaos = Chaos::start().await;
    let extra = format!(
        "{}{FAST_RETRY}\n[models.safe]\ntarget = \"chaos/fault-500-100\"\nfallbacks = [\"mock/echo\"]\n\n[models.split]\ntargets = [{{ target = \"chaos/ok\", weight = 1 }}, {{ target = \"mock/echo\", weight = 1 }}]\n",
        chaos.provider_toml("chaos", "")
    );
    let gw = Gateway::start(&nats, &extra).await;
    let r = gw
        .post("/v1/chat/completions", chat("safe", "fall back"))
        .await;
    assert_eq!(r.status(), 200);
    let id = job_id(&r);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "echo: fall back");
    let j = wait_job(&gw, &id, Duration::from_secs(5)).await;
    assert_eq!(j["provider"], "mock");
    assert_eq!(j["attempts"], 4, "three attempts on chaos, one on mock");
    let evs = kinds(&nats, &id).await;
    let providers: Vec<&str> = evs
        .iter()
        .filter(|e| e["kind"] == "attempt_started")
        .filter_map(|e| e["provider"].as_str())
        .collect();
    assert_eq!(providers, ["chaos", "chaos", "chaos", "mock"]);
    let mut by = std::collections::HashMap::new();
    for i in 0..30 {
        let v: Value = gw
            .post("/v1/chat/completions", chat("split", &format!("n{i}")))
            .await
            .json()
            .await
            .unwrap();
        let text = v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_string();
        *by.entry(text.split(':').next().unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert!(
        by.get("echo").is_some_and(|n| *n > 3) && by.get("chaos says").is_some_and(|n| *n > 3),
        "both weighted targets get traffic: {by:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn circuit_opens_and_fails_fast() {
    let nats = Nats::start().await;
    let chaos = Chaos::start().await;
    let circuit = "[providers.chaos.retry]\nmax_attempts = 1\n[providers.chaos.circuit]\nconsecutive_failures = 2\nopen_ms = 60000\n";
    let gw = Gateway::start(&nats, &chaos.provider_toml("chaos", circuit)).await;
    for _ in 0..2 {
        assert_eq!(
            gw.post("/v1/chat/completions", chat("chaos/fault-500-100", "x"))
                .await
                .status(),
            502
        );
    }
    let before = chaos.count();
    let r = gw
        .post("/v1/chat/completions", chat("chaos/fault-500-100", "x"))
        .await;
    assert_eq!(r.status(), 503, "open circuit fails fast");
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains("circuit"),
        "{v}"
    );
    assert_eq!(chaos.count(), before, "no upstream call while open");
    // The circuit is per target: another model of the same provider still flows.
    let ok = gw.post("/v1/chat/completions", chat("chaos/ok", "x")).await;
    assert_eq!(ok.status(), 200);
    let mut ready = Value::Null;
    for _ in 0..50 {
        let r = gw.get("/ready").await;
        assert_eq!(r.status(), 200, "other providers still serve");
        ready = r.json().await.unwrap();
        if ready["circuits"]["chaos/fault-500-100"]["state"] == "open" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        ready["circuits"]["chaos/fault-500-100"]["state"], "open",
        "/ready shows the open circuit: {ready}"
    );
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert!(ready["circuits"]["chaos/fault-500-100"]["open_until_ms"].as_u64() > Some(0));
    gw.stop().await;
}

#[tokio::test]
async fn timeouts_bound_each_attempt() {
    let nats = Nats::start().await;
    let chaos = Chaos::start().await;
    let t = "[providers.chaos.retry]\nmax_attempts = 2\nbase_ms = 10\nmax_ms = 10\n[providers.chaos.timeouts]\ntotal_ms = 300\n";
    let gw = Gateway::start(&nats, &chaos.provider_toml("chaos", t)).await;
    let started = std::time::Instant::now();
    let r = gw
        .post("/v1/chat/completions", chat("chaos/fault-hang-100", "x"))
        .await;
    assert_eq!(r.status(), 504);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "timeout", "{v}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(chaos.count(), 2);
    gw.stop().await;
}

#[tokio::test]
async fn cancel_running_queued_and_disconnected_jobs() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    // A running job.
    let r = gw
        .post("/v1/jobs", chat("mock/slow-5000ms", "stop me"))
        .await;
    let id = job_id(&r);
    job_becomes(&gw, &id, "running").await;
    let started = std::time::Instant::now();
    let c = gw.post(&format!("/v1/jobs/{id}/cancel"), json!({})).await;
    assert_eq!(c.status(), 200);
    let v: Value = c.json().await.unwrap();
    assert_eq!(v["status"], "cancelled", "{v}");
    assert_eq!(v["error"]["code"], "cancelled", "a flat OpenAI error: {v}");
    assert_eq!(v["error"]["status"], 499, "{v}");
    assert!(v["error"].get("error").is_none(), "not nested twice: {v}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // Cancelling a finished job is a conflict.
    assert_eq!(
        gw.post(&format!("/v1/jobs/{id}/cancel"), json!({}))
            .await
            .status(),
        409
    );
    // A client that disconnects cancels its sync job.
    let short = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = short
        .post(gw.url("/v1/chat/completions"))
        .json(&chat("mock/slow-5000ms", "bye"))
        .send()
        .await;
    assert!(err.is_err());
    let mut cancelled = false;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let results = js.get_stream("SY_RESULTS").await.unwrap();
    for _ in 0..100 {
        let mut info = results.clone();
        let n = info.info().await.unwrap().state.messages;
        if n >= 2 {
            for seq in 1..=info.info().await.unwrap().state.last_sequence {
                if let Ok(m) = results.get_raw_message(seq).await {
                    let r: Value = serde_json::from_slice(&m.payload).unwrap();
                    if r["status"] == "cancelled" && r["id"] != id.as_str() {
                        cancelled = true;
                    }
                }
            }
        }
        if cancelled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(cancelled, "the disconnected client's job was cancelled");
    gw.stop().await;
}

#[tokio::test]
async fn cancelled_queued_job_never_reaches_upstream() {
    let nats = Nats::start().await;
    let ingress = Gateway::start_roles(&nats, "", Roles::INGRESS).await;
    let r = ingress.post("/v1/jobs", chat("mock/echo", "never")).await;
    let id = job_id(&r);
    let c = ingress
        .post(&format!("/v1/jobs/{id}/cancel"), json!({}))
        .await;
    assert_eq!(c.status(), 202, "no worker yet: cancelling");
    let worker = Gateway::start_roles(&nats, "", Roles::WORKER).await;
    let j = wait_job(&ingress, &id, Duration::from_secs(5)).await;
    assert_eq!(j["status"], "cancelled", "{j}");
    assert_eq!(j["attempts"], 0);
    worker.stop().await;
    ingress.stop().await;
}

#[tokio::test]
async fn exhausted_deliveries_go_to_the_dead_letter_subject() {
    let nats = Nats::start().await;
    // `ghost` jobs are pulled by a "crashing worker" (this test) that never acks; the real
    // worker serves only the mock and handles the dead letters.
    let gw = Gateway::start_roles(
        &nats,
        "[providers.ghost]\nkind = \"mock\"\n",
        Roles::INGRESS,
    )
    .await;
    let worker = Gateway::start_roles(&nats, "", Roles::WORKER).await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let jobs = js.get_stream("SY_JOBS").await.unwrap();
    // Replace the ghost consumer with one that gives up after 2 short deliveries.
    let _ = jobs.delete_consumer("sy_worker_ghost").await;
    let consumer = jobs
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            durable_name: Some("sy_worker_ghost".into()),
            filter_subject: "sy.jobs.ghost".into(),
            ack_wait: Duration::from_millis(300),
            max_deliver: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    let r = gw.post("/v1/jobs", chat("ghost/echo", "doomed")).await;
    let id = job_id(&r);
    for _ in 0..2 {
        let mut batch = consumer
            .fetch()
            .max_messages(1)
            .expires(Duration::from_secs(2))
            .messages()
            .await
            .unwrap();
        use futures::StreamExt;
        let m = batch.next().await.unwrap().unwrap();
        drop(m); // never acked: the "worker" crashed
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    // The restarted "worker" pulls again: the server finds the job out of deliveries.
    {
        use futures::StreamExt;
        let mut batch = consumer
            .fetch()
            .max_messages(1)
            .expires(Duration::from_millis(500))
            .messages()
            .await
            .unwrap();
        assert!(batch.next().await.is_none(), "no third delivery");
    }
    let j = wait_job(&gw, &id, Duration::from_secs(5)).await;
    assert_eq!(j["status"], "failed", "{j}");
    assert_eq!(j["error"]["code"], "dead_lettered", "{j}");
    assert_eq!(j["error"]["status"], 500, "{j}");
    let dead = js.get_stream("SY_DEAD").await.unwrap();
    let m = dead
        .direct_get_last_for_subject("sy.dead.ghost")
        .await
        .unwrap();
    let job: Value = serde_json::from_slice(&m.payload).unwrap();
    assert_eq!(job["id"], id.as_str());
    assert!(m.headers.get("Switchyard-Dead-Reason").is_some());
    let mut jobs = jobs;
    assert_eq!(
        jobs.info().await.unwrap().state.messages,
        0,
        "removed from the jobs stream"
    );
    worker.stop().await;
    gw.stop().await;
}

#[tokio::test]
async fn shutdown_hands_back_jobs_that_cannot_finish() {
    let nats = Nats::start().await;
    let ingress = Gateway::start_roles(&nats, "", Roles::INGRESS).await;
    let w1 = Gateway::start_roles(
        &nats,
        "[server]\nnode = \"leaving\"\n[worker]\ndrain_timeout_ms = 300\n",
        Roles::WORKER,
    )
    .await;
    let slow = job_id(
        &ingress
            .post("/v1/jobs", chat("mock/slow-3000ms", "handed back"))
            .await,
    );
    let quick = job_id(
        &ingress
            .post("/v1/jobs", chat("mock/slow-100ms", "finished in the drain"))
            .await,
    );
    job_becomes(&ingress, &slow, "running").await;
    w1.stop().await;
    let q = wait_job(&ingress, &quick, Duration::from_secs(2)).await;
    assert_eq!(
        q["status"], "completed",
        "a short job finishes during the drain"
    );
    let w2 = Gateway::start_roles(&nats, "[server]\nnode = \"staying\"\n", Roles::WORKER).await;
    let s = wait_job(&ingress, &slow, Duration::from_secs(8)).await;
    assert_eq!(s["status"], "completed", "{s}");
    w2.stop().await;
    ingress.stop().await;
}

#[tokio::test]
async fn queued_jobs_survive_a_nats_restart_and_the_ingress_recovers() {
    let nats = Nats::start().await;
    let ingress = Gateway::start_roles(&nats, "", Roles::INGRESS).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(job_id(
            &ingress
                .post("/v1/jobs", chat("mock/echo", &format!("persist {i}")))
                .await,
        ));
    }
    let (dir, port) = nats.kill();
    ready_becomes(&ingress, 503).await;
    assert_eq!(
        ingress
            .post("/v1/jobs", chat("mock/echo", "down"))
            .await
            .status(),
        503
    );
    let nats = Nats::start_in(dir, port).await;
    let mut recovered = false;
    for _ in 0..100 {
        if ingress.get("/ready").await.status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the ingress reconnected by itself");
    let worker = Gateway::start_roles(&nats, "", Roles::WORKER).await;
    for id in &ids {
        let j = wait_job(&ingress, id, Duration::from_secs(10)).await;
        assert_eq!(j["status"], "completed", "{j}");
    }
    worker.stop().await;
    ingress.stop().await;
}

#[tokio::test]
async fn sigterm_drain_answers_requests_in_flight() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    let url = gw.url("/v1/chat/completions");
    let http = gw.http.clone();
    let req = tokio::spawn(async move {
        http.post(url)
            .json(&chat("mock/slow-500ms", "finish me"))
            .send()
            .await
    });
    // The request is in flight once its job is running.
    events_until(&nats, Duration::from_secs(5), |e| {
        count_kind(e, "attempt_started", None) >= 1
    })
    .await;
    gw.stop().await;
    let r = req
        .await
        .unwrap()
        .expect("the in-flight request is answered during the drain");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "echo: finish me");
}

/// Polls `/ready` until `check` holds; returns the last status and body.
async fn ready_until(gw: &Gateway, check: impl Fn(u16, &Value) -> bool) -> (u16, Value) {
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let r = gw.get("/ready").await;
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        if check(status, &v) || tokio::time::Instant::now() > until {
            return (status, v);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_open_circuit_whose_worker_died_is_trusted_only_until_its_open_period_ends() {
    use schemas::{CircuitRecord, CircuitState};
    let nats = Nats::start().await;
    let up = crate::upstream::Upstream::start().await;
    let extra = format!(
        "[server]\nbuiltin_mock = false\n{}\n[models.pair]\ntargets = [{{ target = \"up/a\" }}, {{ target = \"up/b\" }}]\n",
        up.provider_toml("up")
    );
    let gw = Gateway::start(&nats, &extra).await;
    let kv = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap())
        .get_key_value("sy_circuits")
        .await
        .unwrap();
    // A worker opened both circuits, then died: nobody will write them closed.
    let put = |target: &str, open_until_ms: u64| {
        let rec = CircuitRecord {
            target: target.into(),
            state: CircuitState::Open,
            node: "a-worker-that-died".into(),
            ts_ms: schemas::now_ms(),
            open_until_ms: Some(open_until_ms),
        };
        (
            CircuitRecord::key(target),
            serde_json::to_vec(&rec).unwrap(),
        )
    };
    let later = schemas::now_ms() + 60_000;
    for t in ["up/a", "up/b"] {
        let (k, v) = put(t, later);
        kv.put(&k, v.into()).await.unwrap();
    }
    let (status, v) = ready_until(&gw, |s, _| s == 503).await;
    assert_eq!(status, 503, "no provider can serve: {v}");
    assert_eq!(v["status"], "not_ready");
    assert_eq!(v["providers_down"], json!(["up"]));
    // b's open period is over (its worker would probe it now); a stays open for a minute.
    let (k, v) = put("up/b", schemas::now_ms() - 1);
    kv.put(&k, v.into()).await.unwrap();
    let (status, v) = ready_until(&gw, |s, _| s == 200).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "degraded", "a is still open: {v}");
    assert_eq!(v["circuits"]["up/b"]["state"], "half_open", "{v}");
    let before = up.requests().len();
    for _ in 0..6 {
        let r = gw.post("/v1/chat/completions", chat("pair", "x")).await;
        assert_eq!(r.status(), 200);
    }
    let models: Vec<String> = up.requests()[before..]
        .iter()
        .map(|s| s.json()["model"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        models.iter().all(|m| m == "b"),
        "traffic goes around the open circuit of a, to b: {models:?}"
    );
    // a's record expires as well: it takes traffic again.
    let (k, v) = put("up/a", schemas::now_ms() - 1);
    kv.put(&k, v.into()).await.unwrap();
    let (_, v) = ready_until(&gw, |_, v| v["status"] == "ready").await;
    assert_eq!(v["status"], "ready", "{v}");
    let before = up.requests().len();
    for _ in 0..24 {
        gw.post("/v1/chat/completions", chat("pair", "x")).await;
    }
    let to_a = up.requests()[before..]
        .iter()
        .filter(|s| s.json()["model"] == "a")
        .count();
    assert!(
        to_a > 0,
        "a stale open circuit is not routed around forever"
    );
    gw.stop().await;
}

#[tokio::test]
async fn events_the_stream_cannot_take_yet_are_sent_again_and_stored_once() {
    let nats = Nats::start().await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let cfg = broker::config::NatsConfig::default();
    let topo = broker::nats::ensure_topology(client.clone(), &cfg)
        .await
        .unwrap();
    let js = topo.js.clone();
    // SY_EVENTS gone (as while a cluster elects its leader, nothing answers the publishes).
    js.delete_stream("SY_EVENTS").await.unwrap();
    let sink = broker::events::EventSink::start(js.clone(), topo.subjects.clone(), "n1").await;
    let jobs: Vec<String> = (0..5).map(|i| format!("job-{i}")).collect();
    for j in &jobs {
        sink.emit(j, schemas::EventKind::Received, Default::default())
            .await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    broker::nats::ensure_topology(client.clone(), &cfg)
        .await
        .unwrap();
    let evs = events_until(&nats, Duration::from_secs(10), |evs| evs.len() >= 5).await;
    // One more sweep or two: a try whose ack is late is not stored twice.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let evs_after = stored_events(&nats).await;
    let mut got: Vec<String> = evs_after
        .iter()
        .map(|e| e["job"].as_str().unwrap_or_default().to_string())
        .collect();
    got.sort();
    assert_eq!(got, jobs, "every event stored, once: {evs:?}");
}

#[tokio::test]
async fn a_job_whose_worker_died_after_storing_its_result_gets_its_final_event_once() {
    let nats = Nats::start().await;
    let ghost = "[providers.ghost]\nkind = \"mock\"\n";
    let gw = Gateway::start_roles(&nats, ghost, Roles::INGRESS).await;
    let r = gw
        .post("/v1/jobs", chat("ghost/echo", "stored, then died"))
        .await;
    let id = job_id(&r);
    // The worker that ran it stored its result and died before its final event and its ack.
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stored = json!({
        "v": 1, "id": id, "status": "completed", "provider": "ghost", "model": "echo",
        "response": {"id": "chatcmpl-dead", "object": "chat.completion", "created": 1, "model": "echo",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "from the run that died"}, "finish_reason": "stop"}]},
        "attempts": 1, "upstream_request_id": "req-of-the-dead-run",
        "finished_ms": schemas::now_ms(), "node": "dead-worker",
    });
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", format!("result-{id}").as_str());
    js.publish_with_headers(
        format!("sy.resultsin.{id}"),
        headers,
        serde_json::to_vec(&stored).unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    // The job is delivered (again) to a live worker: it finds the result stored.
    let worker = Gateway::start_roles(&nats, ghost, Roles::WORKER).await;
    let finals = |evs: &[Value]| -> Vec<Value> {
        evs.iter()
            .filter(|e| e["job"] == id.as_str())
            .filter(|e| {
                matches!(
                    e["kind"].as_str(),
                    Some("completed" | "failed" | "cancelled")
                )
            })
            .cloned()
            .collect()
    };
    events_until(&nats, Duration::from_secs(10), |evs| {
        !finals(evs).is_empty()
    })
    .await;
    // Long enough for a second one, were it sent.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got = finals(&stored_events(&nats).await);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0]["kind"], "completed");
    assert_eq!(
        got[0]["upstream_request_id"], "req-of-the-dead-run",
        "the final event tells the stored result: {got:#?}"
    );
    let j = wait_job(&gw, &id, Duration::from_secs(5)).await;
    assert_eq!(
        j["result"]["choices"][0]["message"]["content"], "from the run that died",
        "{j}"
    );
    worker.stop().await;
    gw.stop().await;
}
