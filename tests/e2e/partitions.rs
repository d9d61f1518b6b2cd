//! A request log cut into partitions: three auditors, each keeping the jobs of one, answer
//! lists, stats and records as one full copy does.

use crate::audit::{auditor_toml, AUDITOR_ONLY, GATEWAY_ONLY};
use crate::harness::*;
use broker::audit::protocol::{ListPage, Stats};
use broker::audit::AuditorClient;
use serde_json::{json, Value};
use std::time::Duration;

const PARTITIONED: &str = "[nats]\nlog_partitions = 3\n";

/// Every page of `q` (7 rows a page), the ids in order.
async fn all_ids(c: &AuditorClient, q: Value) -> Vec<String> {
    let mut ids = Vec::new();
    let mut q = q;
    q["limit"] = json!(7);
    for _ in 0..100 {
        let page: ListPage = c.call("list", &q).await.unwrap();
        ids.extend(page.data.iter().map(|r| r.id.clone()));
        match page.next_cursor {
            Some(c) => q["cursor"] = json!(c),
            None => return ids,
        }
    }
    panic!("more than 100 pages");
}

#[tokio::test]
async fn three_partitioned_auditors_answer_as_one_full_copy() {
    let nats = Nats::start().await;
    let dirs: Vec<tempfile::TempDir> = (0..5).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut auditors = Vec::new();
    // One auditor per partition, and a second copy of partition 2 (its replica).
    for (i, dir) in dirs.iter().take(4).enumerate() {
        let k = i.min(2);
        let extra = format!("partition = {k}\nconsumer = \"part{i}\"");
        let cfg = format!("{PARTITIONED}{}", auditor_toml(dir.path(), &extra));
        auditors.push(Gateway::start_roles(&nats, &cfg, AUDITOR_ONLY).await);
    }
    // The full copy: every job, answering the unpartitioned subjects.
    let cfg = format!(
        "{PARTITIONED}{}",
        auditor_toml(dirs[4].path(), "consumer = \"full\"")
    );
    let full_copy = Gateway::start_roles(&nats, &cfg, AUDITOR_ONLY).await;
    // The ingress and worker are not told the partition count: they take the stream's (and
    // do not undo it).
    let gw = Gateway::start_roles(&nats, "", GATEWAY_ONLY).await;
    let since = schemas::now_ms();
    // Twelve models, more than the eight busiest a stats group shows: each partition's
    // busiest differ from the whole's.
    let mut models = vec!["mock/echo", "mock/error-400", "mock/slow-120ms"];
    let slow: Vec<String> = (1..10).map(|i| format!("mock/slow-{i}ms")).collect();
    models.extend(slow.iter().map(String::as_str));
    let mut jobs = Vec::new();
    for i in 0..60 {
        let r = gw
            .post(
                "/v1/chat/completions",
                chat(models[i % models.len()], &format!("job {i}")),
            )
            .await;
        jobs.push(job_id(&r));
    }
    let client = async_nats::connect(nats.url()).await.unwrap();
    let subjects = schemas::Subjects::new("sy").with_partitions(3);
    let parts = AuditorClient::for_subjects(client.clone(), &subjects);
    let whole = AuditorClient::new(client.clone(), "sy");
    // Until both hold every job, finished.
    let finished = json!({"since_ms": since, "limit": 1000});
    let until = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let done = |p: &ListPage| p.data.len() == 60 && p.data.iter().all(|r| r.status.is_final());
        let a: Result<ListPage, _> = parts.call("list", &finished).await;
        let b: Result<ListPage, _> = whole.call("list", &finished).await;
        // And searchable (the full-text index commits every few seconds).
        let mut searched = finished.clone();
        searched["q"] = json!("job");
        let c: Result<ListPage, _> = parts.call("list", &searched).await;
        let d: Result<ListPage, _> = whole.call("list", &searched).await;
        let all = |p: &ListPage| p.data.len() == 60;
        if a.as_ref().is_ok_and(done)
            && b.as_ref().is_ok_and(done)
            && c.as_ref().is_ok_and(all)
            && d.as_ref().is_ok_and(all)
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "the log never held all 60 jobs: {:?} / {:?}",
            a.map(|p| p.data.len()),
            b.map(|p| p.data.len())
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // NATS's subject mapping put each job's events where `Subjects::partition` says.
    let js = async_nats::jetstream::new(client.clone());
    let events = js.get_stream("SY_EVENTS").await.unwrap();
    for id in &jobs {
        let m = events
            .get_last_raw_message_by_subject(&subjects.stored_events(id))
            .await;
        assert!(
            m.is_ok(),
            "no events of {id} under {}",
            subjects.stored_events(id)
        );
    }
    // Each auditor keeps its own third (not every job, not none).
    let expected: Vec<u64> = (0..3)
        .map(|k| jobs.iter().filter(|j| subjects.partition(j) == k).count() as u64)
        .collect();
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut kept;
    loop {
        kept = Vec::new();
        for k in 0..3 {
            let subject = broker::audit::protocol::partition_subject("sy", k, "stats");
            let q = serde_json::to_vec(&json!({"since_ms": since})).unwrap();
            let m = client.request(subject, q.into()).await.unwrap();
            let v: Value = serde_json::from_slice(&m.payload).unwrap();
            kept.push(v["ok"]["total"]["count"].as_u64().unwrap());
        }
        if kept == expected || tokio::time::Instant::now() > until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(kept, expected, "each partition's auditor keeps its jobs");
    assert!(kept.iter().all(|&n| n > 0 && n < 60), "{kept:?}");
    // Paged lists, with and without filters, are the full copy's.
    for q in [
        json!({"since_ms": since}),
        json!({"since_ms": since, "status": "failed"}),
        json!({"since_ms": since, "model": "mock/slow-120ms"}),
        json!({"since_ms": since, "q": "job"}),
    ] {
        // (Two copies of partition 2 answer in turn: the second may still be committing its
        // search index; they converge.)
        let until = tokio::time::Instant::now() + Duration::from_secs(10);
        let (mut a, mut b);
        loop {
            (a, b) = (
                all_ids(&parts, q.clone()).await,
                all_ids(&whole, q.clone()).await,
            );
            if a == b || tokio::time::Instant::now() > until {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(!a.is_empty(), "{q}");
        assert_eq!(a, b, "list {q}");
    }
    // Stats: totals, per model, series and group series, percentiles included.
    let q = json!({"since_ms": since - 60_000, "until_ms": schemas::now_ms(),
                   "step_ms": 60_000, "group": "model"});
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    let (mut a, mut b): (Stats, Stats);
    loop {
        a = parts.call("stats", &q).await.unwrap();
        b = whole.call("stats", &q).await.unwrap();
        let same = serde_json::to_value(&a).unwrap() == serde_json::to_value(&b).unwrap();
        if same || tokio::time::Instant::now() > until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(a.total.count, 60);
    assert!(
        a.total.latency_p95_ms.is_some_and(|p| p >= 120),
        "{:?}",
        a.total
    );
    assert_eq!(
        serde_json::to_value(&a).unwrap(),
        serde_json::to_value(&b).unwrap(),
        "stats"
    );
    // `doctor` (not told the count either) sees every partition covered.
    let cli = dirs[0].path().join("doctor.toml");
    std::fs::write(&cli, format!("[nats]\nurl = \"{}\"\n", nats.url())).unwrap();
    let c = cli.clone();
    let (ok, out) = tokio::task::spawn_blocking(move || crate::doctor::doctor(&c))
        .await
        .unwrap();
    assert!(
        out.contains("ok    request log: all 3 partitions have an auditor"),
        "{out}"
    );
    assert!(ok, "{out}");
    // Records and timelines through the ingress: each from its partition's auditor.
    for id in jobs.iter().take(6) {
        let r = gw.get(&format!("/v1/requests/{id}")).await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["id"], id.as_str());
        assert!(v["events"].as_array().is_some_and(|e| !e.is_empty()), "{v}");
    }
    let r = gw.get("/v1/requests?limit=100").await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"].as_array().map(Vec::len), Some(60), "{v}");
    // One copy of partition 2 gone: the other answers for it.
    let lost = jobs.iter().find(|j| subjects.partition(j) == 2).unwrap();
    auditors.remove(2).stop().await;
    for _ in 0..3 {
        let r = gw.get(&format!("/v1/requests/{lost}")).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    let r = gw.get("/v1/requests?limit=100").await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"].as_array().map(Vec::len), Some(60), "{v}");
    // Both gone: its jobs cannot be read, and lists say why.
    auditors.remove(2).stop().await;
    let r = gw.get(&format!("/v1/requests/{lost}")).await;
    assert_eq!(r.status(), 503, "{}", r.text().await.unwrap());
    let r = gw.get("/v1/requests").await;
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("sy.auditor.p2")),
        "{v}"
    );
    let (ok, out) = tokio::task::spawn_blocking(move || crate::doctor::doctor(&cli))
        .await
        .unwrap();
    assert!(
        !ok && out.contains("partition(s) [2] of 3 have no auditor answering"),
        "{out}"
    );
    for a in auditors {
        a.stop().await;
    }
    full_copy.stop().await;
    gw.stop().await;
}
