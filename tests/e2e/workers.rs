//! Several workers sharing one consumer; a killed worker's job is redelivered.

use crate::harness::*;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::Duration;
use switchyard::Roles;

const WORKER_ONLY: Roles = Roles::WORKER;
const INGRESS_ONLY: Roles = Roles::INGRESS;

#[tokio::test]
async fn two_workers_share_one_consumer() {
    let nats = Nats::start().await;
    let gw = Gateway::start_roles(&nats, "[server]\nnode = \"ingress-1\"\n", INGRESS_ONLY).await;
    let w1 = Gateway::start_roles(&nats, "[server]\nnode = \"worker-a\"\n", WORKER_ONLY).await;
    let w2 = Gateway::start_roles(&nats, "[server]\nnode = \"worker-b\"\n", WORKER_ONLY).await;
    let mut ids = Vec::new();
    for i in 0..40 {
        let r = gw
            .post("/v1/jobs", chat("mock/slow-50ms", &format!("job {i}")))
            .await;
        assert_eq!(r.status(), 202);
        ids.push(job_id(&r));
    }
    let mut nodes = std::collections::HashMap::new();
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let results = js.get_stream("SY_RESULTS").await.unwrap();
    for id in &ids {
        let j = wait_job(&gw, id, Duration::from_secs(10)).await;
        assert_eq!(j["status"], "completed", "{j}");
        let m = results
            .direct_get_last_for_subject(format!("sy.results.{id}"))
            .await
            .unwrap();
        let r: Value = serde_json::from_slice(&m.payload).unwrap();
        *nodes
            .entry(r["node"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert!(
        nodes.contains_key("worker-a") && nodes.contains_key("worker-b"),
        "both workers ran jobs: {nodes:?}"
    );
    for g in [gw, w1, w2] {
        g.stop().await;
    }
}

#[tokio::test]
async fn killed_worker_job_is_redelivered_and_completed() {
    let nats = Nats::start().await;
    let gw = Gateway::start_roles(&nats, "", INGRESS_ONLY).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("worker.toml");
    std::fs::write(
        &cfg,
        format!(
            "[nats]\nurl = \"{}\"\n[server]\nnode = \"doomed\"\n[worker]\nack_wait_ms = 1500\n",
            nats.url()
        ),
    )
    .unwrap();
    let mut doomed = Command::new(bin())
        .args(["worker", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the doomed worker to create its consumer.
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut found = false;
    for _ in 0..100 {
        if let Ok(s) = js.get_stream("SY_JOBS").await {
            if s.get_consumer::<async_nats::jetstream::consumer::pull::Config>("sy_worker_mock")
                .await
                .is_ok()
            {
                found = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(found, "worker consumer created");
    let r = gw
        .post("/v1/jobs", chat("mock/slow-3000ms", "survive"))
        .await;
    assert_eq!(r.status(), 202);
    let id = job_id(&r);
    // Let the doomed worker take it, then SIGKILL it mid-call.
    let mut running = false;
    for _ in 0..250 {
        let j: Value = gw
            .get(&format!("/v1/jobs/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if j["status"] == "running" {
            running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(running, "the doomed worker picked the job up");
    doomed.kill().unwrap();
    let _ = doomed.wait();
    let rescuer = Gateway::start_roles(
        &nats,
        "[server]\nnode = \"rescuer\"\n[worker]\nack_wait_ms = 1500\n",
        WORKER_ONLY,
    )
    .await;
    let j = wait_job(&gw, &id, Duration::from_secs(15)).await;
    assert_eq!(j["status"], "completed", "{j}");
    assert_eq!(
        j["result"]["choices"][0]["message"]["content"],
        "echo: survive"
    );
    let results = js.get_stream("SY_RESULTS").await.unwrap();
    let m = results
        .direct_get_last_for_subject(format!("sy.results.{id}"))
        .await
        .unwrap();
    let r: Value = serde_json::from_slice(&m.payload).unwrap();
    assert_eq!(r["node"], "rescuer");
    rescuer.stop().await;
    gw.stop().await;
}
