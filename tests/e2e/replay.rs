//! Replay end to end: one failed job onto another model, links both ways, and bulk replay
//! of failures through the CLI binary.

use crate::audit::{gateway_with_auditor, queued, settled, wait_record};
use crate::harness::*;
use serde_json::{json, Value};
use tokio::process::Command;

#[tokio::test]
async fn failed_job_replayed_on_another_model_links_both_ways() {
    let nats = Nats::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway_with_auditor(&nats, dir.path(), "").await;
    let original = queued(&gw, "mock/error-500", "try again").await;
    let rec = wait_record(&gw, &original, settled).await;
    assert_eq!(rec["status"], "failed");
    assert_eq!(rec["status_code"], 502, "upstream 500 answers 502");

    let resp = gw
        .post(
            &format!("/v1/requests/{original}/replay"),
            json!({"model": "mock/echo"}),
        )
        .await;
    assert_eq!(resp.status(), 202);
    let v: Value = resp.json().await.unwrap();
    let new = v["id"].as_str().unwrap().to_string();
    assert_ne!(new, original);
    assert_eq!(v["replay_of"], original.as_str());
    assert_eq!(v["model"], "mock/echo");

    let replayed = wait_record(&gw, &new, settled).await;
    assert_eq!(replayed["status"], "completed");
    assert_eq!(replayed["replay_of"], original.as_str());
    assert_eq!(replayed["request"]["model"], "mock/echo");
    assert_eq!(replayed["request"]["messages"], rec["request"]["messages"]);
    assert_eq!(
        replayed["response"]["choices"][0]["message"]["content"],
        "echo: try again"
    );
    assert_eq!(replayed["mode"], "queued");
    let linked = wait_record(&gw, &original, |v| {
        v["replayed_as"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    assert_eq!(linked["replayed_as"], json!([new]));
    let replayed_event = linked["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "replayed")
        .unwrap();
    assert_eq!(replayed_event["related_job"], new.as_str());
    // The job API agrees.
    assert_eq!(
        wait_job(&gw, &new, std::time::Duration::from_secs(5)).await["status"],
        "completed"
    );

    // A replay without an override runs the same model again.
    let again: Value = gw
        .post(&format!("/v1/requests/{original}/replay"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["model"], "mock/error-500");

    // Unknown ids and bad overrides answer in the OpenAI shape.
    let missing = gw
        .post(
            &format!("/v1/requests/{}/replay", uuid::Uuid::now_v7()),
            json!({}),
        )
        .await;
    assert_eq!(missing.status(), 404);
    let bad = gw
        .post(
            &format!("/v1/requests/{original}/replay"),
            json!({"modle": "x"}),
        )
        .await;
    assert_eq!(bad.status(), 400);
    let e: Value = bad.json().await.unwrap();
    assert_eq!(e["error"]["type"], "invalid_request_error");
    let unknown_model = gw
        .post(
            &format!("/v1/requests/{original}/replay"),
            json!({"model": "nowhere/none"}),
        )
        .await;
    assert_eq!(unknown_model.status(), 404);
    gw.stop().await;
}

async fn cli(gw: &Gateway, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin())
        .args(args)
        .args(["--url", &format!("http://{}", gw.addr)])
        .env_remove("SWITCHYARD_CONFIG")
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn bulk_replay_of_failures_through_the_cli() {
    let nats = Nats::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway_with_auditor(&nats, dir.path(), "").await;
    let mut failed = Vec::new();
    for i in 0..3 {
        failed.push(queued(&gw, "mock/error-500", &format!("bulk {i}")).await);
    }
    let ok = queued(&gw, "mock/echo", "fine").await;
    for id in failed.iter().chain([&ok]) {
        wait_record(&gw, id, settled).await;
    }

    let (success, out, err) = cli(&gw, &["requests", "--status", "failed", "--since", "1h"]).await;
    assert!(success, "{err}");
    assert!(out.starts_with("ID"), "{out}");
    for id in &failed {
        assert!(out.contains(id.as_str()), "{out}");
    }
    assert!(!out.contains(ok.as_str()));

    let (success, out, err) = cli(
        &gw,
        &[
            "replay",
            "--failed",
            "--since",
            "1h",
            "--model",
            "mock/echo",
        ],
    )
    .await;
    assert!(success, "{out}\n{err}");
    assert!(
        out.contains("replayed 3 of 3 failed requests (0 errors); bulk replay "),
        "{out}"
    );
    let bulk = out.trim().rsplit(' ').next().unwrap().to_string();
    let progress: Value = gw
        .get(&format!("/v1/requests/replay/{bulk}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            progress["status"].as_str(),
            progress["total"].as_u64(),
            progress["replayed"].as_u64()
        ),
        (Some("completed"), Some(3), Some(3)),
        "{progress}"
    );
    // Starting it was an admin action.
    let audit: Value = gw
        .get("/admin/audit?action=replay.bulk_started")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["data"][0]["target"], bulk.as_str(), "{audit}");
    assert_eq!(audit["data"][0]["changes"]["total"], 3, "{audit}");
    for id in &failed {
        let rec = wait_record(&gw, id, |v| {
            v["replayed_as"].as_array().is_some_and(|a| a.len() == 1)
        })
        .await;
        let new = rec["replayed_as"][0].as_str().unwrap().to_string();
        let r = wait_record(&gw, &new, settled).await;
        assert_eq!(r["status"], "completed");
        assert_eq!(r["replay_of"], id.as_str());
    }

    let (success, out, err) = cli(&gw, &["trace", &failed[0]]).await;
    assert!(success, "{err}");
    for needle in [
        "OFFSET",
        "received",
        "attempt_failed",
        "failed",
        "replayed",
        "+0ms",
    ] {
        assert!(out.contains(needle), "{needle} not in\n{out}");
    }
    let (success, out, _) = cli(&gw, &["trace", &failed[0], "--json"]).await;
    assert!(success);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["id"], failed[0].as_str());

    let (success, _, err) = cli(&gw, &["trace", &uuid::Uuid::now_v7().to_string()]).await;
    assert!(!success);
    assert!(err.contains("404"), "{err}");
    let (success, _, err) = cli(&gw, &["replay", "--failed"]).await;
    assert!(!success);
    assert!(err.contains("--since"), "{err}");
    gw.stop().await;
}

#[tokio::test]
async fn replay_says_what_the_stored_request_lacks_and_needs_consent_for_redactions() {
    let nats = Nats::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway_with_auditor(&nats, dir.path(), "").await;
    // A key in the prompt is redacted before the request is logged.
    let secret = queued(&gw, "mock/echo", "my key is sk-proj-ABCDEFGH12345678").await;
    let rec = wait_record(&gw, &secret, settled).await;
    assert_eq!(
        rec["request_redacted"],
        json!(["messages[0].content"]),
        "{rec}"
    );
    let refused = gw
        .post(&format!("/v1/requests/{secret}/replay"), json!({}))
        .await;
    assert_eq!(refused.status(), 400, "[REDACTED] would go upstream");
    let v: Value = refused.json().await.unwrap();
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("messages[0].content") && msg.contains("allow_redacted"),
        "{v}"
    );
    assert_eq!(v["error"]["param"], "allow_redacted");
    let allowed = gw
        .post(
            &format!("/v1/requests/{secret}/replay"),
            json!({"allow_redacted": true}),
        )
        .await;
    assert_eq!(allowed.status(), 202);

    // A large body (any the gateway accepts) is logged whole, and replays.
    let big = queued(&gw, "mock/echo", &"x".repeat(300 * 1024)).await;
    let rec = wait_record(&gw, &big, settled).await;
    assert_eq!(rec["has_request"], true, "{}", rec["request_omitted"]);
    assert_eq!(
        rec["request"]["messages"][0]["content"]
            .as_str()
            .map(str::len),
        Some(300 * 1024)
    );
    let replayed = gw
        .post(&format!("/v1/requests/{big}/replay"), json!({}))
        .await;
    assert_eq!(replayed.status(), 202);
    gw.stop().await;
}
