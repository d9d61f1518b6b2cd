//! Batches from the CLI, followed on NATS: `switchyard batch submit --wait` writes the output
//! file, every line's result reaches a NATS subscriber of `sy.results.>` with the batch and
//! `custom_id` in its headers, and the batch's progress arrives on `sy.batches.<id>`.

use crate::auth::MASTER;
use crate::harness::*;
use futures::StreamExt;
use std::collections::HashSet;
use std::time::Duration;

#[tokio::test]
async fn the_cli_runs_a_batch_and_nats_subscribers_see_every_line() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, &format!("[auth]\nmaster_key = \"{MASTER}\"\n")).await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let mut results = client.subscribe("sy.results.>").await.unwrap();
    let mut progress = client.subscribe("sy.batches.>").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let n = 200;
    let lines: Vec<String> = (0..n)
        .map(|i| serde_json::json!({"custom_id": format!("c{i}"), "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "mock/echo", "messages": [{"role": "user", "content": format!("cli {i}")}]}}).to_string())
        .collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let out = tokio::process::Command::new(bin())
        .args(["batch", "submit"])
        .arg(&input)
        .args(["--endpoint", "chat", "--wait", "--url", &gw.url("")])
        .env("SWITCHYARD_API_KEY", MASTER)
        .env_remove("SWITCHYARD_CONFIG")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("completed: {n} answered, 0 failed")),
        "{stdout}"
    );
    let batch = stdout
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches(':')
        .to_string();
    assert!(batch.starts_with("batch_"), "{stdout}");
    let written = std::fs::read_to_string(dir.path().join("in.out.jsonl")).unwrap();
    let ids: HashSet<String> = written
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["custom_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!((written.lines().count(), ids.len()), (n, n));

    // Every line's result went by on NATS, named by batch and custom_id.
    let mut seen = HashSet::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    while seen.len() < n && tokio::time::Instant::now() < until {
        let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(1), results.next()).await else {
            break;
        };
        let h = m.headers.unwrap_or_default();
        if h.get("Switchyard-Batch-Id").map(|v| v.as_str()) == Some(batch.as_str()) {
            seen.insert(h.get("Switchyard-Custom-Id").unwrap().as_str().to_string());
        }
    }
    assert_eq!(
        seen.len(),
        n,
        "results with the batch's headers on sy.results.>"
    );
    // And its progress, ending completed.
    let mut last = serde_json::Value::Null;
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(500), progress.next()).await
    {
        if m.subject.as_str() == format!("sy.batches.{batch}") {
            last = serde_json::from_slice(&m.payload).unwrap();
        }
    }
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(last["request_counts"]["completed"], n);
    gw.stop().await;
}
