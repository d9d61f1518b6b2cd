//! No secret leaves the gateway: an upstream that echoes the provider key in its 401, a
//! master key, virtual keys made and rotated with the CLI; then the client's answers, the
//! job's result, the request log, the process's log, the JetStream files, the auditor's
//! store and `switchyard config` are searched for every one of them.

use crate::harness::{bin, chat, free_port, Nats};
use crate::upstream::Upstream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const MASTER: &str = "master-secret-0123456789abcdef";
const PROVIDER_KEY: &str = "provider-key-that-upstream-refuses-42";
const HEADER_SECRET: &str = "header-secret-value-0987654321";

fn cli(cfg: &Path, args: &[&str]) -> String {
    let out = Command::new(bin())
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    hits.push(p.display().to_string());
                }
            }
        }
    }
    hits
}

#[tokio::test]
async fn no_key_of_any_kind_reaches_an_answer_a_log_a_record_or_a_file() {
    let nats = Nats::start().await;
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = dir.path().join("sy.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[nats]\nurl = \"{}\"\n[auditor]\ndata_dir = \"{}\"\n[auth]\nmaster_key = \"{MASTER}\"\n\n[providers.up]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key = \"{PROVIDER_KEY}\"\nmodels = [\"gpt-test\"]\nheaders = {{ \"x-extra\" = \"{HEADER_SECRET}\" }}\n",
            nats.url(),
            dir.path().join("auditor").display(),
            up.base_url()
        ),
    )
    .unwrap();
    let log = dir.path().join("serve.log");
    let mut child = Command::new(bin())
        .args(["serve", "--config"])
        .arg(&cfg)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let until = tokio::time::Instant::now() + Duration::from_secs(20);
    while !http
        .get(format!("{base}/ready"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(tokio::time::Instant::now() < until, "serve became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Keys through the CLI, with the master key from the config.
    let created = cli(&cfg, &["keys", "create", "--name", "leaky", "--rpm", "100"]);
    let secret = created.lines().nth(1).unwrap().trim().to_string();
    assert!(secret.starts_with("sy-"), "{created}");
    let id = secret[3..15].to_string();
    let listed = cli(&cfg, &["keys", "list"]);
    assert!(
        listed.contains(&id) && listed.contains("leaky") && listed.contains("rpm 100"),
        "{listed}"
    );
    assert!(!listed.contains(&secret[20..]), "{listed}");
    let rotated = cli(&cfg, &["keys", "rotate", &id]);
    let new_secret = rotated.lines().nth(1).unwrap().trim().to_string();
    assert_ne!(new_secret, secret);

    // The upstream refuses the provider key and echoes it; nothing passes it on.
    let r = http
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(&new_secret)
        .json(&chat("up/gpt-test", "hi"))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let answer = r.text().await.unwrap();
    assert!(
        status.is_client_error() || status.is_server_error(),
        "{status} {answer}"
    );
    assert!(
        answer.contains("Incorrect API key provided: ***"),
        "{answer}"
    );
    let r = http
        .post(format!("{base}/v1/jobs"))
        .bearer_auth(&new_secret)
        .json(&chat("up/gpt-test", "queued"))
        .send()
        .await
        .unwrap();
    let job = r.headers()["x-switchyard-job-id"]
        .to_str()
        .unwrap()
        .to_string();
    let mut job_view = String::new();
    for _ in 0..100 {
        job_view = http
            .get(format!("{base}/v1/jobs/{job}"))
            .bearer_auth(&new_secret)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if job_view.contains("\"status\":\"failed\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        job_view.contains("\"status\":\"failed\"") && job_view.contains("***"),
        "{job_view}"
    );
    // The request log has the record, scrubbed.
    let mut record = String::new();
    for _ in 0..100 {
        let r = http
            .get(format!("{base}/v1/requests/{job}"))
            .bearer_auth(MASTER)
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            record = r.text().await.unwrap();
            if record.contains("\"status\":\"failed\"") && record.contains("Incorrect API key") {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        record.contains("Incorrect API key provided: ***"),
        "{record}"
    );
    let audit = http
        .get(format!("{base}/admin/audit"))
        .bearer_auth(MASTER)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    cli(&cfg, &["keys", "revoke", &id]);
    let config = cli(&cfg, &["config"]);

    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("attempt failed"),
        "the failure was logged: {text}"
    );

    for (what, s) in [
        ("provider key", PROVIDER_KEY),
        ("header secret", HEADER_SECRET),
        ("master key", MASTER),
        ("first key secret", &secret[3..]),
        ("rotated key secret", &new_secret[3..]),
    ] {
        for (place, haystack) in [
            ("answer", &answer),
            ("job", &job_view),
            ("record", &record),
            ("audit", &audit),
            ("config", &config),
            ("log", &text),
        ] {
            assert!(!haystack.contains(s), "the {what} is in the {place}");
        }
        let hits = files_containing(nats.dir.path(), s);
        assert!(
            hits.is_empty(),
            "the {what} is in JetStream's files: {hits:?}"
        );
        let hits = files_containing(&dir.path().join("auditor"), s);
        assert!(
            hits.is_empty(),
            "the {what} is in the auditor's store: {hits:?}"
        );
    }
}
