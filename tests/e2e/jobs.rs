//! Queued jobs: 202, polling, NATS subscription, idempotency, sync deadline.

use crate::harness::*;
use futures::StreamExt;
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn queued_job_is_fetched_by_polling() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    let resp = gw.post("/v1/jobs", chat("mock/slow-300ms", "later")).await;
    assert_eq!(resp.status(), 202);
    let id = job_id(&resp);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["status"], "queued");
    let early: Value = gw
        .get(&format!("/v1/jobs/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        matches!(early["status"].as_str(), Some("queued" | "running")),
        "{early}"
    );
    let done = wait_job(&gw, &id, Duration::from_secs(5)).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        done["result"]["choices"][0]["message"]["content"],
        "echo: later"
    );
    gw.stop().await;
}

#[tokio::test]
async fn queued_via_header_and_result_on_nats() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let mut results = client.subscribe("sy.results.*").await.unwrap();
    client.flush().await.unwrap();
    let resp = gw
        .http
        .post(gw.url("/v1/chat/completions"))
        .header("X-Switchyard-Mode", "queued")
        .json(&chat("mock/echo", "via nats"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let id = job_id(&resp);
    let msg = tokio::time::timeout(Duration::from_secs(5), results.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(msg.subject.as_str(), format!("sy.results.{id}"));
    let r: schemas::JobResult = serde_json::from_slice(&msg.payload).unwrap();
    assert_eq!(r.status, schemas::JobState::Completed);
    let body: Value = serde_json::from_str(r.response.unwrap().get()).unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "echo: via nats");
    gw.stop().await;
}

#[tokio::test]
async fn idempotent_resubmit_runs_once() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    let send = || {
        gw.http
            .post(gw.url("/v1/chat/completions"))
            .header("Idempotency-Key", "order-42")
            .json(&chat("mock/slow-200ms", "once"))
            .send()
    };
    let (a, b) = tokio::join!(send(), send());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.status(), 200);
    assert_eq!(b.status(), 200);
    let (ida, idb) = (job_id(&a), job_id(&b));
    assert_eq!(ida, idb, "both answers name the same job");
    let (va, vb): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    assert_eq!(va["id"], vb["id"], "the same completion");
    // A third, later resubmit gets the stored result.
    let c = send().await.unwrap();
    assert_eq!(job_id(&c), ida);
    // Only one job ran: one `dequeued` event for it, and no other job was created.
    let evs = events_until(&nats, Duration::from_secs(5), |e| {
        count_kind(e, "delivered", None) >= 3
    })
    .await;
    assert_eq!(count_kind(&evs, "delivered", Some(&ida)), 3, "{evs:?}");
    assert_eq!(count_kind(&evs, "dequeued", None), 1, "{evs:?}");
    assert_eq!(count_kind(&evs, "dequeued", Some(&ida)), 1);
    gw.stop().await;
}

#[tokio::test]
async fn sync_deadline_answers_504_and_job_completes() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    let resp = gw
        .http
        .post(gw.url("/v1/chat/completions"))
        .header("X-Switchyard-Timeout-Ms", "200")
        .json(&chat("mock/slow-800ms", "patience"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 504);
    let id = job_id(&resp);
    let v: Value = resp.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains(&id));
    let done = wait_job(&gw, &id, Duration::from_secs(5)).await;
    assert_eq!(done["status"], "completed");
    gw.stop().await;
}

#[tokio::test]
async fn unknown_job_is_404() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    let r = gw.get(&format!("/v1/jobs/{}", uuid::Uuid::now_v7())).await;
    assert_eq!(r.status(), 404);
    let r = gw.get("/v1/jobs/not-a-uuid").await;
    assert_eq!(r.status(), 400);
    gw.stop().await;
}

#[tokio::test]
async fn a_job_shows_the_model_as_the_client_named_it_while_queued_and_when_finished() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "[models.fast]\ntarget = \"mock/echo\"\n").await;
    let r = gw.post("/v1/jobs", chat("fast", "named")).await;
    assert_eq!(r.status(), 202);
    let queued: Value = r.json().await.unwrap();
    assert_eq!(queued["model"], "fast");
    let id = queued["id"].as_str().unwrap().to_string();
    let done = wait_job(&gw, &id, Duration::from_secs(5)).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        done["model"], "fast",
        "the same name as when queued: {done}"
    );
    assert_eq!(done["provider"], "mock");
    assert_eq!(done["provider_model"], "echo");
    gw.stop().await;
}
