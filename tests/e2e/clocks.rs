//! Timelines across processes whose clocks disagree: two worker processes, one 4 s behind
//! the ingress's clock and one 4 s ahead (`SWITCHYARD_TEST_CLOCK_SKEW_MS`), and every
//! timeline still tells the story in order, with the skew shown where a clock is behind.

use crate::audit::{auditor_toml, kinds, settled, wait_record};
use crate::harness::*;
use futures::future::join_all;
use std::process::{Child, Command, Stdio};
use switchyard::Roles;

const SKEW: i64 = 4000;

fn worker(dir: &std::path::Path, nats: &str, name: &str, skew: i64) -> Child {
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(
        &cfg,
        format!(
            "[server]\nnode = \"{name}\"\n[nats]\nurl = \"{nats}\"\n[worker]\nconcurrency = 2\n"
        ),
    )
    .unwrap();
    Command::new(bin())
        .args(["worker", "--config"])
        .arg(&cfg)
        .env("SWITCHYARD_TEST_CLOCK_SKEW_MS", skew.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn timelines_stay_in_causal_order_across_skewed_worker_clocks() {
    let nats = Nats::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_roles(
        &nats,
        &auditor_toml(dir.path(), ""),
        Roles {
            ingress: true,
            worker: false,
            auditor: true,
            managed_nats: false,
        },
    )
    .await;
    let mut behind = worker(dir.path(), &nats.url(), "w-behind", -SKEW);
    let mut ahead = worker(dir.path(), &nats.url(), "w-ahead", SKEW);
    workers_up(&nats, 2).await;
    // Eight at once, two at a time per worker: both workers run some.
    let resps = join_all((0..8).map(|i| {
        gw.post(
            "/v1/chat/completions",
            chat("mock/slow-200ms", &format!("c {i}")),
        )
    }))
    .await;
    let ids: Vec<String> = resps
        .iter()
        .map(|r| {
            assert_eq!(r.status(), 200);
            job_id(r)
        })
        .collect();
    let story = [
        "received",
        "queued",
        "dequeued",
        "attempt_started",
        "completed",
        "delivered",
    ];
    let (mut on_behind, mut on_ahead) = (0, 0);
    for id in &ids {
        let rec = wait_record(&gw, id, |v| {
            settled(v) && kinds(v).iter().any(|k| k == "delivered")
        })
        .await;
        let kinds = kinds(&rec);
        let told: Vec<&str> = kinds
            .iter()
            .map(String::as_str)
            .filter(|k| story.contains(k))
            .collect();
        assert_eq!(told, story, "{id}: {kinds:?}");
        let events = rec["events"].as_array().unwrap();
        let ev = |k: &str| events.iter().find(|e| e["kind"] == k).unwrap();
        let skew = |k: &str| ev(k)["skew_ms"].as_i64().unwrap_or(0);
        let node = ev("dequeued")["node"].as_str().unwrap().to_string();
        match node.as_str() {
            "w-behind" => {
                on_behind += 1;
                // The worker's first step is 4 s behind the queueing before it.
                assert!(skew("dequeued") >= SKEW - 1000, "{id}: {events:#?}");
                assert_eq!(
                    skew("delivered"),
                    0,
                    "{id}: the ingress's clock is ahead again"
                );
            }
            "w-ahead" => {
                on_ahead += 1;
                // The ingress's delivery is 4 s behind the worker's completion.
                assert_eq!(skew("dequeued"), 0, "{id}");
                assert!(skew("delivered") >= SKEW - 1000, "{id}: {events:#?}");
            }
            other => panic!("{id} ran on {other}"),
        }
    }
    assert!(
        on_behind > 0 && on_ahead > 0,
        "both workers ran jobs: {on_behind} / {on_ahead}"
    );
    for c in [&mut behind, &mut ahead] {
        let _ = c.kill();
        let _ = c.wait();
    }
    gw.stop().await;
}
