//! Batches from the CLI, followed on NATS: `switchyard batch submit --wait` writes the output
//! file, every line's result reaches a NATS subscriber of `sy.results.>` with the batch and
//! `custom_id` in its headers, and the batch's progress arrives on `sy.batches.<id>`.

use crate::auth::MASTER;
use crate::harness::*;
use futures::StreamExt;
use std::collections::HashSet;
use std::time::Duration;

/// `n` chat lines of `model`, `custom_id` `<prefix><i>`.
fn batch_lines(n: usize, prefix: &str, model: &str) -> Vec<String> {
    (0..n)
        .map(|i| {
            serde_json::json!({"custom_id": format!("{prefix}{i}"), "method": "POST", "url": "/v1/chat/completions",
                "body": {"model": model, "messages": [{"role": "user", "content": format!("{prefix} {i}")}]}})
            .to_string()
        })
        .collect()
}

/// Uploads `lines` and starts their batch as `key` (none: an open gateway); its id.
async fn start_batch(gw: &Gateway, key: Option<&str>, lines: &[String]) -> String {
    let auth = |rb: reqwest::RequestBuilder| match key {
        Some(k) => rb.bearer_auth(k),
        None => rb,
    };
    let form = reqwest::multipart::Form::new()
        .text("purpose", "batch")
        .part(
            "file",
            reqwest::multipart::Part::bytes((lines.join("\n") + "\n").into_bytes())
                .file_name("in.jsonl"),
        );
    let f: serde_json::Value = auth(gw.http.post(gw.url("/v1/files")))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let body = serde_json::json!({"input_file_id": f["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"});
    let b: serde_json::Value = auth(gw.http.post(gw.url("/v1/batches")))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    b["id"].as_str().unwrap().to_string()
}

/// The text of file `file` (`GET /v1/files/{id}/content`) as `key` reads it.
async fn file_text(gw: &Gateway, key: Option<&str>, file: &serde_json::Value) -> String {
    let mut rb = gw.http.get(gw.url(&format!(
        "/v1/files/{}/content",
        file.as_str().expect("a file id")
    )));
    if let Some(k) = key {
        rb = rb.bearer_auth(k);
    }
    rb.send().await.unwrap().text().await.unwrap()
}

/// The batch `id` as `key` sees it, polled every 100 ms until `done` holds (at most `tries`
/// times); the last state read.
async fn batch_until(
    gw: &Gateway,
    key: Option<&str>,
    id: &str,
    tries: usize,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let mut b = serde_json::Value::Null;
    for i in 0..tries {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut rb = gw.http.get(gw.url(&format!("/v1/batches/{id}")));
        if let Some(k) = key {
            rb = rb.bearer_auth(k);
        }
        b = rb.send().await.unwrap().json().await.unwrap();
        if done(&b) {
            break;
        }
    }
    b
}

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

#[tokio::test]
async fn a_running_batch_leaves_room_for_interactive_requests() {
    let nats = Nats::start().await;
    let gw = Gateway::start(
        &nats,
        &format!("[auth]\nmaster_key = \"{MASTER}\"\n[worker]\nconcurrency = 4\n"),
    )
    .await;
    let id = start_batch(&gw, Some(MASTER), &batch_lines(12, "s", "mock/slow-1500ms")).await;
    // Let the batch take what it may of the 4 slots.
    tokio::time::sleep(Duration::from_millis(600)).await;
    for i in 0..3 {
        let t0 = tokio::time::Instant::now();
        let r = gw
            .http
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(MASTER)
            .json(&chat("mock/echo", "interactive"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let took = t0.elapsed();
        assert!(
            took < Duration::from_millis(700),
            "interactive request {i} waited {took:?} behind the batch"
        );
    }
    // The batch runs two lines at a time at most (half of the slots).
    let running = crate::harness::stored_events(&nats)
        .await
        .iter()
        .filter(|e| e["kind"] == "attempt_started" && e["model"] == "slow-1500ms")
        .count();
    assert!(
        (1..=3).contains(&running),
        "{running} batch lines started in 600 ms on a 4-slot worker"
    );
    let r = gw
        .http
        .post(gw.url(&format!("/v1/batches/{id}/cancel")))
        .bearer_auth(MASTER)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    gw.stop().await;
}

#[tokio::test]
async fn batch_lines_per_s_paces_a_batch() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "[files]\nbatch_lines_per_s = 20\n").await;
    let t0 = tokio::time::Instant::now();
    let id = start_batch(&gw, None, &batch_lines(30, "r", "mock/echo")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Twenty lines a second: about ten sent in half a second, not the thirty at once.
    let sent = crate::harness::stored_events(&nats)
        .await
        .iter()
        .filter(|e| e["kind"] == "received")
        .count();
    assert!((3..=16).contains(&sent), "{sent} lines sent in 500 ms");
    let b = batch_until(&gw, None, &id, 100, |b| b["status"] == "completed").await;
    assert_eq!(b["request_counts"]["completed"], 30, "{b}");
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(1300),
        "30 lines at 20 a second took {took:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_keys_rate_limit_paces_its_batch() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, &format!("[auth]\nmaster_key = \"{MASTER}\"\n")).await;
    let (_, key) =
        crate::auth::create_key(&gw, serde_json::json!({"name": "paced", "rpm": 20})).await;
    crate::auth::fresh_minute().await;
    let id = start_batch(&gw, Some(&key), &batch_lines(25, "p", "mock/echo")).await;
    let last = batch_until(&gw, Some(&key), &id, 40, |b| {
        b["request_counts"]["completed"] == 20
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let now = batch_until(&gw, Some(&key), &id, 1, |_| true).await;
    assert_eq!(
        (
            now["status"].as_str(),
            now["request_counts"]["completed"].as_u64()
        ),
        (Some("in_progress"), Some(20)),
        "{last}\n{now}"
    );
    // Cancelled: the five lines the limit held back are reported as never run.
    gw.http
        .post(gw.url(&format!("/v1/batches/{id}/cancel")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let done = batch_until(&gw, Some(&key), &id, 50, |b| b["status"] == "cancelled").await;
    assert_eq!(done["status"], "cancelled", "{done}");
    assert_eq!(
        (
            done["request_counts"]["completed"].as_u64(),
            done["request_counts"]["failed"].as_u64()
        ),
        (Some(20), Some(5)),
        "{done}"
    );
    let errors = file_text(&gw, Some(&key), &done["error_file_id"]).await;
    assert_eq!(
        errors
            .lines()
            .filter(|l| l.contains("batch_cancelled"))
            .count(),
        5,
        "{errors}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_worker_killed_mid_batch_loses_no_line_and_answers_each_once() {
    let nats = Nats::start().await;
    let gw = Gateway::start_roles(
        &nats,
        &format!("[auth]\nmaster_key = \"{MASTER}\"\n"),
        switchyard::Roles::INGRESS,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("w.toml");
    std::fs::write(
        &cfg,
        format!(
            "[nats]\nurl = \"{}\"\n[worker]\nack_wait_ms = 1000\nconcurrency = 8\n",
            nats.url()
        ),
    )
    .unwrap();
    let spawn = || {
        std::process::Command::new(bin())
            .args(["worker", "--config"])
            .arg(&cfg)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut a = spawn();
    let mut b = spawn();
    let n = 120;
    let id = start_batch(&gw, Some(MASTER), &batch_lines(n, "k", "mock/slow-100ms")).await;
    // Mid-batch, one worker dies without a word.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let _ = a.kill();
    let _ = a.wait();
    let done = batch_until(&gw, Some(MASTER), &id, 300, |b| b["status"] == "completed").await;
    let _ = b.kill();
    let _ = b.wait();
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        (
            done["request_counts"]["completed"].as_u64(),
            done["request_counts"]["failed"].as_u64()
        ),
        (Some(n as u64), Some(0)),
        "{done}"
    );
    let out = file_text(&gw, Some(MASTER), &done["output_file_id"]).await;
    let ids: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["custom_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(
        (ids.len(), unique.len()),
        (n, n),
        "every line once in the output"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_python_nats_client_consumes_a_batchs_results_as_they_finish() {
    use tokio::io::AsyncBufReadExt;
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/nats_batch_results.py");
    let n = 150;
    let mut sub = tokio::process::Command::new(venv_bin("python"))
        .arg(script)
        .args([nats.url(), n.to_string(), "60".into()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = tokio::io::BufReader::new(sub.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(20), out.next_line())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ready.as_deref(), Some("ready"));
    let id = start_batch(&gw, None, &batch_lines(n, "py", "mock/echo")).await;
    let status = tokio::time::timeout(Duration::from_secs(60), sub.wait())
        .await
        .unwrap()
        .unwrap();
    let mut rest = String::new();
    while let Ok(Some(l)) = out.next_line().await {
        rest.push_str(&l);
        rest.push('\n');
    }
    assert!(status.success(), "{rest}");
    assert!(
        rest.contains(&format!("ok results {n} {id}")) && rest.contains("ok progress"),
        "{rest}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_batch_past_its_window_expires_with_what_was_done() {
    let nats = Nats::start().await;
    // A two-second window, one slot for batch lines, lines of a second each.
    let gw = Gateway::start(
        &nats,
        "[files]\nbatch_window_s = 2\n[worker]\nconcurrency = 2\n",
    )
    .await;
    let id = start_batch(&gw, None, &batch_lines(10, "e", "mock/slow-1000ms")).await;
    let b = batch_until(&gw, None, &id, 100, |b| b["status"] == "expired").await;
    assert_eq!(b["status"], "expired", "{b}");
    assert!(b["expired_at"].as_u64().is_some());
    let (done, failed) = (
        b["request_counts"]["completed"].as_u64().unwrap(),
        b["request_counts"]["failed"].as_u64().unwrap(),
    );
    assert_eq!(done + failed, 10, "{b}");
    assert!(
        done >= 1 && failed >= 1,
        "some lines answered in the window, the rest did not: {b}"
    );
    let errors = file_text(&gw, None, &b["error_file_id"]).await;
    assert_eq!(errors.lines().count() as u64, failed, "{errors}");
    gw.stop().await;
}

#[tokio::test]
async fn a_batch_whose_ingress_died_is_adopted_and_its_lines_run_and_log_once() {
    let nats = Nats::start().await;
    // The ingress that takes the batch is a process of its own, SIGKILLed while it drives it.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("a.toml");
    let port = free_port();
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[nats]\nurl = \"{}\"\n",
            nats.url()
        ),
    )
    .unwrap();
    let mut a = std::process::Command::new(bin())
        .args([
            "serve",
            "--without",
            "worker",
            "--without",
            "auditor",
            "--config",
        ])
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The other ingress (with a worker) runs the lines; it adopts the batch once A's lease lapses.
    let b = Gateway::start(&nats, "").await;
    let a_gw = Gateway {
        running: None,
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        http: reqwest::Client::new(),
    };
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(a_gw.addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ready_becomes(&a_gw, 200).await;
    let n = 300;
    let id = start_batch(&a_gw, None, &batch_lines(n, "adopt", "mock/slow-20ms")).await;
    batch_until(&b, None, &id, 200, |b| {
        b["request_counts"]["completed"].as_u64() >= Some(20)
    })
    .await;
    let _ = a.kill();
    let _ = a.wait();
    // The worst case: A died before it stored any progress, so the adopter publishes every
    // line again (what it published is in the stream already).
    let client = async_nats::connect(nats.url()).await.unwrap();
    let kv = async_nats::jetstream::new(client)
        .get_key_value("sy_batches")
        .await
        .unwrap();
    let key = format!("b.{id}");
    let mut rec: serde_json::Value =
        serde_json::from_slice(&kv.get(&key).await.unwrap().unwrap()).unwrap();
    assert!(rec["published"].as_u64() > Some(0), "{rec}");
    rec["published"] = 0.into();
    rec.as_object_mut().unwrap().remove("lease");
    kv.put(&key, serde_json::to_vec(&rec).unwrap().into())
        .await
        .unwrap();
    let done = batch_until(&b, None, &id, 300, |b| b["status"] == "completed").await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        done["request_counts"]["completed"].as_u64(),
        Some(n as u64),
        "{done}"
    );
    let out = file_text(&b, None, &done["output_file_id"]).await;
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let custom: HashSet<&str> = lines
        .iter()
        .map(|l| l["custom_id"].as_str().unwrap())
        .collect();
    assert_eq!((lines.len(), custom.len()), (n, n), "every line once");
    // Each line is one job with one lifecycle in the log: one `received`, one `queued`.
    let evs = events_until(&nats, Duration::from_secs(10), |evs| {
        count_kind(evs, "completed", None) >= n
    })
    .await;
    for l in &lines {
        let job = l["response"]["request_id"].as_str().unwrap();
        assert_eq!(
            (
                count_kind(&evs, "received", Some(job)),
                count_kind(&evs, "queued", Some(job)),
                count_kind(&evs, "completed", Some(job)),
            ),
            (1, 1, 1),
            "job {job} of line {}",
            l["custom_id"]
        );
    }
    b.stop().await;
}
