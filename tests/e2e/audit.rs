//! The auditor end to end: records, timelines, lists, stats, restart, retention,
//! redaction and live follow.

use crate::harness::*;
use broker::audit::AuditorClient;
use broker::audit::Stats;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;
use switchyard::Roles;

pub const ALL_WITH_AUDITOR: Roles = Roles {
    ingress: true,
    worker: true,
    auditor: true,
    managed_nats: false,
};

pub const AUDITOR_ONLY: Roles = Roles::AUDITOR;

pub const GATEWAY_ONLY: Roles = Roles {
    ingress: true,
    worker: true,
    auditor: false,
    managed_nats: false,
};

/// The `[auditor]` TOML for a store in `dir`, plus `extra` keys.
pub fn auditor_toml(dir: &Path, extra: &str) -> String {
    format!("[auditor]\ndata_dir = \"{}\"\n{extra}\n", dir.display())
}

/// A gateway with every role, the auditor storing in `dir`.
pub async fn gateway_with_auditor(nats: &Nats, dir: &Path, extra: &str) -> Gateway {
    Gateway::start_roles(nats, &auditor_toml(dir, extra), ALL_WITH_AUDITOR).await
}

/// Polls `GET /v1/requests/{id}` until `done` holds for the record.
pub async fn wait_record(gw: &Gateway, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let until = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let resp = gw.get(&format!("/v1/requests/{id}")).await;
        let v: Value = resp.json().await.unwrap_or_default();
        if done(&v) {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "record of {id} never got there: {v:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether the record is final and holds its closing events.
pub fn settled(v: &Value) -> bool {
    let kinds = kinds(v);
    matches!(v["status"].as_str(), Some("completed" | "failed"))
        && kinds.iter().any(|k| k == "completed" || k == "failed")
        && v["has_response"] == true
}

pub fn kinds(v: &Value) -> Vec<String> {
    v["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["kind"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Submits a queued chat job and returns its id.
pub async fn queued(gw: &Gateway, model: &str, text: &str) -> String {
    let resp = gw.post("/v1/jobs", chat(model, text)).await;
    assert_eq!(resp.status(), 202);
    let v: Value = resp.json().await.unwrap();
    v["id"].as_str().unwrap().to_string()
}

/// Every record of the log (following the cursor).
pub async fn all_records(gw: &Gateway, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let v: Value = gw
            .get(&format!("/v1/requests?limit=3{query}{cursor}"))
            .await
            .json()
            .await
            .unwrap();
        out.extend(v["data"].as_array().unwrap().iter().cloned());
        match v["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
}

/// Where `needle` is in the store at `dir`, its compressed bodies decompressed: the raw
/// files, and every record, event and body read back.
fn store_contains(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = files_contain(dir, needle.as_bytes());
    // The full-text index keeps its words lowercased.
    hits.extend(files_contain(dir, needle.to_lowercase().as_bytes()));
    let store = auditor::Store::open(dir).unwrap();
    for kv in store.records.iter() {
        let id = String::from_utf8_lossy(&kv.unwrap().0).into_owned();
        if serde_json::to_string(&store.record(&id).unwrap())
            .unwrap()
            .contains(needle)
        {
            hits.push(format!("the record of {id}"));
        }
        if serde_json::to_string(&store.events_of(&id).unwrap())
            .unwrap()
            .contains(needle)
        {
            hits.push(format!("the events of {id}"));
        }
    }
    let keys: Vec<Vec<u8>> = store.bodies.iter().map(|kv| kv.unwrap().0).collect();
    for k in keys {
        let job = String::from_utf8_lossy(k.split(|b| *b == 0).next().unwrap()).into_owned();
        for kind in [
            auditor::store::BodyKind::Request,
            auditor::store::BodyKind::Response,
        ] {
            if let Some(b) = store.body(&job, kind).unwrap() {
                if b.to_string().contains(needle) {
                    hits.push(format!("the {kind:?} body of {job}"));
                }
            }
        }
    }
    hits
}

fn files_contain(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    hits.push(p.display().to_string());
                }
            }
        }
    }
    hits
}

#[tokio::test]
async fn record_shows_every_event_in_order_with_consistent_timings() {
    let nats = Nats::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway_with_auditor(&nats, dir.path(), "").await;
    let body = chat("mock/echo", "trace me");
    let resp = gw.post("/v1/chat/completions", body.clone()).await;
    assert_eq!(resp.status(), 200);
    let id = job_id(&resp);
    let rec = wait_record(&gw, &id, |v| {
        settled(v) && kinds(v).iter().any(|k| k == "delivered")
    })
    .await;

    let kinds = kinds(&rec);
    let pos = |k: &str| {
        kinds
            .iter()
            .position(|x| x == k)
            .unwrap_or_else(|| panic!("no {k} in {kinds:?}"))
    };
    assert_eq!(pos("received"), 0, "{kinds:?}");
    assert!(pos("received") < pos("queued"));
    assert!(pos("dequeued") < pos("attempt_started"));
    assert!(pos("attempt_started") < pos("completed"));
    assert_eq!(kinds.len(), 6, "one of each, no duplicate: {kinds:?}");

    let events = rec["events"].as_array().unwrap();
    let offsets: Vec<i64> = events
        .iter()
        .map(|e| e["offset_ms"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets[0], 0);
    assert!(offsets.windows(2).all(|w| w[0] <= w[1]), "{offsets:?}");
    let seqs: HashSet<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs.len(), events.len());
    let completed = &events[pos("completed")];
    let created = rec["created_ms"].as_u64().unwrap();
    assert_eq!(events[0]["ts_ms"].as_u64().unwrap(), created);
    assert_eq!(
        rec["duration_ms"].as_u64().unwrap(),
        completed["ts_ms"].as_u64().unwrap() - created
    );
    assert_eq!(
        rec["queue_wait_ms"].as_i64().unwrap(),
        events[pos("dequeued")]["offset_ms"].as_i64().unwrap()
    );

    assert_eq!(rec["status"], "completed");
    assert_eq!(rec["status_code"], 200);
    assert_eq!(rec["model"], "mock/echo");
    assert_eq!(rec["provider"], "mock");
    assert_eq!(rec["provider_model"], "echo");
    assert_eq!(rec["attempts"], 1);
    assert!(rec["usage"]["total_tokens"].as_u64().unwrap() > 0);
    assert!(!rec["nodes"].as_array().unwrap().is_empty());
    assert_eq!(rec["request"], body);
    assert_eq!(
        rec["response"]["choices"][0]["message"]["content"],
        "echo: trace me"
    );

    // The timeline endpoint: the same events, in the same order.
    let tl: Value = gw
        .get(&format!("/v1/requests/{id}/events"))
        .await
        .json()
        .await
        .unwrap();
    let tl_kinds: Vec<&str> = tl["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(tl_kinds, kinds);

    // Unknown id: 404 in the OpenAI shape; a malformed id: 400.
    let missing = gw
        .get(&format!("/v1/requests/{}", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(missing.status(), 404);
    let e: Value = missing.json().await.unwrap();
    assert_eq!(e["error"]["code"], "not_found");
    assert_eq!(gw.get("/v1/requests/nope").await.status(), 400);
    gw.stop().await;
}

#[tokio::test]
async fn list_filters_paginate_and_stats_aggregate() {
    let nats = Nats::start().await;
    let dir = tempfile::tempdir().unwrap();
    // One attempt per job, so both failures carry the upstream's own error text.
    let gw = gateway_with_auditor(
        &nats,
        dir.path(),
        "[providers.mock]\nkind = \"mock\"\n[providers.mock.retry]\nmax_attempts = 1\n",
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(queued(&gw, "mock/echo", &format!("ok {i}")).await);
    }
    for i in 0..2 {
        ids.push(queued(&gw, "mock/error-500", &format!("bad {i}")).await);
    }
    for id in &ids {
        wait_record(&gw, id, settled).await;
    }
    let all = all_records(&gw, "&since=1h").await;
    let listed: Vec<&str> = all.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(listed.len(), 7, "pages hold each record once: {listed:?}");
    assert_eq!(listed.iter().collect::<HashSet<_>>().len(), 7);
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first);

    let failed = all_records(&gw, "&status=failed").await;
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().all(|r| r["model"] == "mock/error-500"));
    let err = failed[0]["error"].as_str().unwrap().to_string();
    let word = err.split_whitespace().last().unwrap().to_uppercase();
    // Full text: the error message, a word only in prompts, a word only in responses
    // (the mock answers "echo: <prompt>"), several words, and text with other filters.
    // New text is searchable within the index's commit interval.
    for (q, want) in [
        (word.as_str(), 2),
        ("bad", 2),
        ("echo", 5),
        ("ECHO ok 3", 1),
        ("echo&status=failed", 0),
        ("\"ok 4\"", 1), // quotes are spaces: both words
        ("zebrafish", 0),
    ] {
        let mut got = 0;
        for _ in 0..40 {
            got = all_records(&gw, &format!("&q={q}")).await.len();
            if got == want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(got, want, "q={q}");
    }
    assert_eq!(all_records(&gw, "&mode=queued").await.len(), 7);
    assert_eq!(all_records(&gw, "&mode=sync").await.len(), 0);
    assert_eq!(gw.get("/v1/requests?mode=later").await.status(), 400);
    assert_eq!(
        all_records(&gw, "&model=mock/echo&provider=mock")
            .await
            .len(),
        5
    );
    assert_eq!(all_records(&gw, "&until=1000").await.len(), 0);

    let bad = gw.get("/v1/requests?since=yesterday").await;
    assert_eq!(bad.status(), 400);
    let e: Value = bad.json().await.unwrap();
    assert_eq!(e["error"]["param"], "since");

    let client = async_nats::connect(nats.url()).await.unwrap();
    let stats: Stats = AuditorClient::new(client, "sy")
        .call("stats", &json!({}))
        .await
        .unwrap();
    assert_eq!(stats.total.count, 7);
    assert_eq!(stats.total.failures, 2);
    let bad_model = stats
        .models
        .iter()
        .find(|m| m.name == "mock/error-500")
        .unwrap();
    assert_eq!((bad_model.count, bad_model.failures), (2, 2));
    let good = stats.models.iter().find(|m| m.name == "mock/echo").unwrap();
    assert_eq!((good.count, good.failures), (5, 0));
    assert!(good.total_tokens > 0);
    assert!(good.latency_p50_ms.unwrap() <= good.latency_p95_ms.unwrap());
    assert_eq!(
        stats
            .providers
            .iter()
            .find(|p| p.name == "mock")
            .unwrap()
            .count,
        7
    );
    // The same over HTTP.
    let http: Value = gw
        .get("/v1/requests/stats?since=1h")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(http["total"]["count"], 7, "{http}");
    assert_eq!(http["total"]["failures"], 2);
    let bad = gw.get("/v1/requests/stats?since=yesterday-ish").await;
    assert_eq!(bad.status(), 400);
    // And every record as JSON lines, page after page.
    let resp = gw.get("/v1/requests/export?since=1h&format=jsonl").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    let text = resp.text().await.unwrap();
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 7, "{text}");
    let ids: HashSet<&str> = rows.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids.len(), 7, "each record once");
    assert_eq!(gw.get("/v1/requests/export?format=csv").await.status(), 400);
    gw.stop().await;
}

#[tokio::test]
async fn auditor_restart_resumes_without_loss_or_duplicates() {
    let nats = Nats::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_roles(&nats, "", GATEWAY_ONLY).await;
    let toml = auditor_toml(dir.path(), "");
    let auditor = Gateway::start_roles(&nats, &toml, AUDITOR_ONLY).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = gw
            .post("/v1/chat/completions", chat("mock/echo", &format!("a{i}")))
            .await;
        assert_eq!(r.status(), 200);
        ids.push(job_id(&r));
    }
    for id in &ids {
        wait_record(&gw, id, |v| kinds(v).len() == 6).await;
    }
    auditor.stop().await;

    // No auditor: the request log says so, with what to do.
    let down = gw.get("/v1/requests").await;
    assert_eq!(down.status(), 503);
    let e: Value = down.json().await.unwrap();
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("switchyard auditor"));

    for i in 0..5 {
        let r = gw
            .post("/v1/chat/completions", chat("mock/echo", &format!("b{i}")))
            .await;
        assert_eq!(r.status(), 200);
        ids.push(job_id(&r));
    }
    let auditor = Gateway::start_roles(&nats, &toml, AUDITOR_ONLY).await;
    for id in &ids {
        wait_record(&gw, id, |v| kinds(v).len() == 6).await;
    }
    // Count exactly: every event of the stream (six per job), stored once.
    let evs = events_until(&nats, Duration::from_secs(5), |e| e.len() >= 60).await;
    let in_stream = evs.len() as u64;
    assert_eq!(in_stream, 60);
    let records = all_records(&gw, "").await;
    assert_eq!(records.len(), 10);
    let mut stored = 0;
    for id in &ids {
        let rec: Value = gw
            .get(&format!("/v1/requests/{id}"))
            .await
            .json()
            .await
            .unwrap();
        let seqs: HashSet<u64> = rec["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs.len(), 6, "{id}: {:?}", kinds(&rec));
        stored += seqs.len() as u64;
    }
    assert_eq!(stored, in_stream);
    auditor.stop().await;
    gw.stop().await;
}

#[tokio::test]
async fn retention_removes_old_records() {
    let nats = Nats::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gw =
        gateway_with_auditor(&nats, dir.path(), "max_age_s = 2\nretention_interval_s = 1").await;
    let id = queued(&gw, "mock/echo", "short-lived").await;
    wait_record(&gw, &id, settled).await;
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = gw.get(&format!("/v1/requests/{id}")).await.status();
        if status == 404 {
            break;
        }
        assert!(tokio::time::Instant::now() < until, "record still there");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(all_records(&gw, "").await.is_empty());
    let tl = gw.get(&format!("/v1/requests/{id}/events")).await;
    assert_eq!(tl.status(), 404);
    gw.stop().await;
}

/// Retention by size keeps the store bounded: the oldest records go first, the newest stay.
#[tokio::test]
async fn retention_by_size_keeps_the_newest_under_the_cap() {
    let nats = Nats::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway_with_auditor(
        &nats,
        dir.path(),
        "max_bytes = 60000
retention_interval_s = 1",
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..20 {
        // Text that does not compress: bodies are stored zstd-compressed.
        let text: String = (0..1500)
            .map(|k| {
                format!(
                    "{:x} ",
                    ((i * 7919 + k) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32
                )
            })
            .collect();
        ids.push(queued(&gw, "mock/echo", &text).await);
    }
    for id in &ids {
        wait_job(&gw, id, Duration::from_secs(10)).await;
    }
    let newest = ids.last().unwrap().clone();
    // The auditor reads in stream order: once the newest is settled, every older one was
    // stored, so a 404 for the oldest means retention removed it.
    wait_record(&gw, &newest, settled).await;
    let until = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let first = gw.get(&format!("/v1/requests/{}", ids[0])).await.status();
        let kept = all_records(&gw, "").await.len();
        if first == 404 && kept < ids.len() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "nothing was removed ({kept} kept)"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let last = gw.get(&format!("/v1/requests/{newest}")).await;
    assert_eq!(last.status(), 200, "the newest record stays");
    let kept = all_records(&gw, "").await.len();
    assert!(
        kept >= 2 && kept < ids.len(),
        "bounded, not emptied: {kept}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_secret_in_a_request_never_reaches_the_store() {
    let nats = Nats::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway_with_auditor(&nats, dir.path(), "redact_paths = [\"metadata.user\"]").await;
    let body = json!({
        "model": "mock/echo",
        "messages": [{"role": "user", "content": "visible-marker my key is sk-live-TOPSECRET0123456789 and Bearer tok-HIDDEN-42"}],
        "metadata": {"user": "alice-PRIVATE-user", "api_key": "plain-HIDDEN-value"},
    });
    let resp = gw.post("/v1/chat/completions", body).await;
    assert_eq!(resp.status(), 200);
    let id = job_id(&resp);
    let rec = wait_record(&gw, &id, settled).await;
    let content = rec["request"]["messages"][0]["content"].as_str().unwrap();
    assert_eq!(
        content,
        "visible-marker my key is [REDACTED] and Bearer [REDACTED]"
    );
    assert_eq!(rec["request"]["metadata"]["user"], "[REDACTED]");
    gw.stop().await;

    assert!(
        !store_contains(dir.path(), "visible-marker").is_empty(),
        "bodies are stored (and the scan reads inside compressed ones)"
    );
    for secret in [
        "TOPSECRET0123456789",
        "tok-HIDDEN-42",
        "alice-PRIVATE-user",
        "plain-HIDDEN-value",
    ] {
        let hits = store_contains(dir.path(), secret);
        assert!(hits.is_empty(), "{secret} found in {hits:?}");
    }
    // Nor does the full-text index know the secrets' words; it does know the rest.
    let store = auditor::Store::open(dir.path()).unwrap();
    let found = |w: &str| store.search.find(w, 0, u64::MAX, 10).unwrap().len();
    assert_eq!(
        found("visible marker"),
        2,
        "the request and its echo are indexed"
    );
    for word in ["topsecret0123456789", "hidden", "private", "alice"] {
        assert_eq!(found(word), 0, "{word} is searchable");
    }
}

#[tokio::test]
async fn store_bodies_false_stores_no_body() {
    let nats = Nats::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway_with_auditor(&nats, dir.path(), "store_bodies = false").await;
    let resp = gw
        .post("/v1/chat/completions", chat("mock/echo", "unseen-marker"))
        .await;
    let id = job_id(&resp);
    let rec = wait_record(&gw, &id, |v| {
        v["status"] == "completed" && kinds(v).len() >= 5
    })
    .await;
    assert!(rec["request"].is_null() && rec["response"].is_null());
    gw.stop().await;
    assert!(files_contain(dir.path(), b"unseen-marker").is_empty());
}

#[tokio::test]
async fn follow_streams_live_events_until_the_end() {
    let nats = Nats::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway_with_auditor(&nats, dir.path(), "").await;
    let id = queued(&gw, "mock/slow-1200ms", "follow me").await;
    let t0 = std::time::Instant::now();
    let resp = gw
        .get(&format!("/v1/requests/{id}/events?follow=true"))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut stream = resp.bytes_stream();
    let mut text = String::new();
    let mut first_at = None;
    use futures::StreamExt;
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("the follow stream ends after the final event")
    {
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        first_at.get_or_insert(t0.elapsed());
    }
    let data = sse_data(&text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let evs: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let kinds: Vec<&str> = evs.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for k in [
        "received",
        "queued",
        "dequeued",
        "attempt_started",
        "completed",
    ] {
        assert_eq!(
            kinds.iter().filter(|x| **x == k).count(),
            1,
            "{k} in {kinds:?}"
        );
    }
    assert_eq!(kinds.last(), Some(&"completed"));
    assert!(evs.iter().all(|e| e["job"] == id.as_str()));
    // The stream was open while the job ran: events arrived before the job finished.
    assert!(
        first_at.unwrap() < Duration::from_millis(1000),
        "{first_at:?}"
    );
    assert!(t0.elapsed() >= Duration::from_millis(1000));
    gw.stop().await;
}

#[tokio::test]
async fn auditor_keeps_up_with_a_burst_of_events() {
    use async_nats::jetstream::consumer::PullConsumer;
    let nats = Nats::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway_with_auditor(&nats, dir.path(), "").await;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let (jobs, per_job) = (1000usize, 10usize);
    let ids: Vec<String> = (0..jobs)
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    let t0 = std::time::Instant::now();
    let mut acks = Vec::with_capacity(jobs * per_job);
    for n in 0..per_job {
        for id in &ids {
            let kind = if n == 0 { "received" } else { "attempt_failed" };
            let ev = json!({"v": 1, "job": id, "kind": kind, "ts_ms": 1_700_000_000_000u64 + n as u64,
                "node": "burst", "attempt": n, "model": "mock/echo"});
            acks.push(
                js.publish(format!("sy.events.{id}"), ev.to_string().into())
                    .await
                    .unwrap(),
            );
            if acks.len() == 256 {
                for a in acks.drain(..) {
                    a.await.unwrap();
                }
            }
        }
    }
    for a in acks {
        a.await.unwrap();
    }
    let published = t0.elapsed();
    let mut consumer: PullConsumer = js
        .get_stream("SY_EVENTS")
        .await
        .unwrap()
        .get_consumer("sy_auditor_events")
        .await
        .unwrap();
    loop {
        let info = consumer.info().await.unwrap();
        if info.num_pending == 0 && info.num_ack_pending == 0 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "auditor fell behind: {info:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let total = t0.elapsed();
    let rate = (jobs * per_job) as f64 / total.as_secs_f64();
    report(&format!(
        "auditor: {} events published in {published:?}, all stored after {total:?} ({rate:.0}/s)",
        jobs * per_job
    ));
    for id in [&ids[0], &ids[jobs / 2], &ids[jobs - 1]] {
        let rec: Value = gw
            .get(&format!("/v1/requests/{id}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(rec["events"].as_array().unwrap().len(), per_job, "{rec:#}");
        assert_eq!(rec["attempts"], (per_job - 1) as u64);
    }
    gw.stop().await;
}

#[tokio::test]
async fn two_auditors_each_keep_a_full_copy() {
    let nats = Nats::start().await;
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let gw = Gateway::start_roles(&nats, "", GATEWAY_ONLY).await;
    let a = Gateway::start_roles(
        &nats,
        &auditor_toml(a_dir.path(), "consumer = \"sy_auditor_a\""),
        AUDITOR_ONLY,
    )
    .await;
    let b = Gateway::start_roles(
        &nats,
        &auditor_toml(b_dir.path(), "consumer = \"sy_auditor_b\""),
        AUDITOR_ONLY,
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..4 {
        let r = gw
            .post(
                "/v1/chat/completions",
                chat("mock/echo", &format!("copy {i}")),
            )
            .await;
        assert_eq!(r.status(), 200);
        ids.push(job_id(&r));
    }
    for id in &ids {
        wait_record(&gw, id, |v| kinds(v).len() == 6).await;
    }
    // Either auditor can go away: the other still has every record.
    a.stop().await;
    for id in &ids {
        let rec = wait_record(&gw, id, |v| kinds(v).len() == 6).await;
        assert_eq!(rec["status"], "completed");
    }
    let b_dir_path = b_dir.path().to_path_buf();
    b.stop().await;
    let a = Gateway::start_roles(
        &nats,
        &auditor_toml(a_dir.path(), "consumer = \"sy_auditor_a\""),
        AUDITOR_ONLY,
    )
    .await;
    for id in &ids {
        wait_record(&gw, id, |v| kinds(v).len() == 6).await;
    }
    assert!(b_dir_path.exists());
    a.stop().await;
    gw.stop().await;
}

/// No reply can break the request log: three requests with a 200 KB model name and one with
/// a 900 KB prompt (NATS max_payload is 1 MiB here) — the list still answers, its rows cut,
/// and the large record comes back whole, fetched in parts.
#[tokio::test]
async fn huge_model_names_and_prompts_do_not_break_the_log() {
    let nats = Nats::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_roles(&nats, &auditor_toml(dir.path(), ""), ALL_WITH_AUDITOR).await;
    // The ingress refuses such a model name (400), but any publisher can put one in an
    // event: three jobs whose events carry a 200 KB model name.
    let long_model = format!("mock/{}", "m".repeat(200 * 1024));
    assert_eq!(
        gw.post("/v1/chat/completions", chat(&long_model, "hi"))
            .await
            .status(),
        400
    );
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = uuid::Uuid::now_v7().to_string();
        for kind in ["received", "queued"] {
            let ev = json!({"v": 1, "job": id, "kind": kind, "ts_ms": schemas::now_ms(),
                "node": "elsewhere", "model": long_model});
            js.publish(format!("sy.events.{id}"), ev.to_string().into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
        ids.push(id);
    }
    let prompt = "word ".repeat(900 * 1024 / 5);
    let resp = gw
        .post("/v1/chat/completions", chat("mock/echo", &prompt))
        .await;
    assert_eq!(resp.status(), 200);
    let big = job_id(&resp);
    let mut page = serde_json::Value::Null;
    for _ in 0..200 {
        let r = gw.get("/v1/requests?limit=50").await;
        let status = r.status();
        page = r.json().await.unwrap();
        if status == 200 && page["data"].as_array().is_some_and(|d| d.len() >= 4) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let rows = page["data"].as_array().unwrap_or_else(|| panic!("{page}"));
    assert!(rows.len() >= 4, "{page}");
    for r in rows {
        let m = r["model"].as_str().unwrap_or("");
        assert!(m.len() <= 260, "list strings are cut: {}", m.len());
    }
    let mut rec = serde_json::Value::Null;
    for _ in 0..200 {
        rec = gw
            .get(&format!("/v1/requests/{big}"))
            .await
            .json()
            .await
            .unwrap();
        if rec["has_request"] == true && rec["request"].is_object() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        rec["request"]["messages"][0]["content"]
            .as_str()
            .map(str::len),
        Some(prompt.len()),
        "the 900 KB prompt comes back whole"
    );
    let r = gw.get(&format!("/v1/requests/{}", ids[0])).await;
    assert_eq!(r.status(), 200, "a record with a 200 KB model name answers");
    let tl = gw.get(&format!("/v1/requests/{}/events", ids[0])).await;
    assert_eq!(tl.status(), 200, "and so does its timeline");
    gw.stop().await;
}

/// Each attempt names the upstream's own request id and status, the answering attempt its
/// duration, `first_token` the time to it, and a fallback's `queued` where it came from.
#[tokio::test]
async fn attempts_carry_upstream_ids_and_fallbacks_say_why() {
    let nats = Nats::start().await;
    let dir = tempfile::tempdir().unwrap();
    let up = crate::upstream::Upstream::start().await;
    let extra = format!(
        "{}[providers.up.retry]\nmax_attempts = 1\n[models.fb]\ntarget = \"up/error-500\"\nfallbacks = [\"up/gpt-test\"]\n",
        up.provider_toml("up")
    );
    let gw = gateway_with_auditor(&nats, dir.path(), &extra).await;
    let resp = gw.post("/v1/chat/completions", chat("fb", "hi")).await;
    assert_eq!(resp.status(), 200);
    let id = job_id(&resp);
    let rec = wait_record(&gw, &id, |v| {
        settled(v) && kinds(v).iter().any(|k| k == "delivered")
    })
    .await;
    let evs = rec["events"].as_array().unwrap();
    let find = |kind: &str| {
        evs.iter()
            .filter(|e| e["kind"] == kind)
            .cloned()
            .collect::<Vec<Value>>()
    };
    let failed = &find("attempt_failed")[0];
    assert_eq!(failed["status"], 500, "{failed}");
    assert!(
        failed["upstream_request_id"]
            .as_str()
            .is_some_and(|r| r.starts_with("req-")),
        "{failed}"
    );
    let queued = find("queued");
    assert_eq!(queued.len(), 2, "queued, then the fallback");
    let why = queued[1]["error"].as_str().unwrap();
    assert!(why.contains("fallback from up/error-500"), "{why}");
    let done = &find("completed")[0];
    assert!(
        done["upstream_request_id"]
            .as_str()
            .is_some_and(|r| r.starts_with("req-")),
        "{done}"
    );
    let story: Vec<String> = kinds(&rec);
    let pos = |k: &str| story.iter().position(|x| x == k).unwrap();
    assert!(
        pos("received") < pos("dequeued") && pos("completed") < pos("delivered"),
        "{story:?}"
    );
    // A streamed job's first token says how long it took.
    let mut body = chat("up/gpt-test", "one two three");
    body["stream"] = json!(true);
    let resp = gw.post("/v1/chat/completions", body).await;
    let sid = job_id(&resp);
    let _ = resp.text().await;
    let rec = wait_record(&gw, &sid, |v| {
        settled(v) && kinds(v).iter().any(|k| k == "first_token")
    })
    .await;
    let ft = rec["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "first_token")
        .unwrap()
        .clone();
    assert!(ft["duration_ms"].is_u64(), "{ft}");
    gw.stop().await;
}
