//! `switchyard serve` with no `[nats] url`: a managed local nats-server whose store lives under
//! the data dir, stopped on exit.

use crate::harness::*;
use serde_json::Value;
use std::time::Duration;
use switchyard::{start, Roles};

#[tokio::test]
async fn serve_manages_its_own_nats_server() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[nats]\ndata_dir = \"{}\"\n",
        dir.path().display()
    );
    let cfg =
        switchyard::config::from_toml(&text, "serve.toml", |_| None, std::iter::empty()).unwrap();
    let running = start(cfg, Roles::ALL)
        .await
        .expect("serve starts with a managed nats-server");
    let addr = running.http_addr.unwrap();
    let nats_url = running.nats_url.clone();
    let port: u16 = nats_url.rsplit(':').next().unwrap().parse().unwrap();
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/v1/chat/completions"))
        .json(&chat("mock/echo", "managed"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "echo: managed");
    assert!(
        dir.path().join("nats").join("jetstream").is_dir(),
        "the JetStream store lives under the data dir"
    );
    // Only the gateway's own user gets in: a client without the password is refused.
    let anonymous = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(2))
        .connect(&nats_url)
        .await;
    assert!(
        anonymous.is_err(),
        "a NATS client without credentials was let in"
    );
    let wrong =
        async_nats::ConnectOptions::with_user_and_password("switchyard".into(), "guess".into())
            .connect(&nats_url)
            .await;
    assert!(wrong.is_err(), "a wrong password was let in");
    let pw_file = dir.path().join("nats").join("password");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&pw_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the password file is the owner's only");
    }
    let pw = std::fs::read_to_string(&pw_file).unwrap();
    let ok =
        async_nats::ConnectOptions::with_user_and_password("switchyard".into(), pw.trim().into())
            .connect(&nats_url)
            .await;
    assert!(ok.is_ok(), "the generated credentials let a client in");
    running.stop().await;
    let mut closed = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(closed, "the managed nats-server stopped with the gateway");
}

#[test]
fn config_comes_from_file_env_and_provider_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sy.toml");
    std::fs::write(&file, "[server]\nmax_body_bytes = ${BODY_LIMIT:-123}\n[providers.up]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\napi_key = \"${UP_KEY}\"\n").unwrap();
    let out = std::process::Command::new(bin())
        .args(["config", "--config"])
        .arg(&file)
        .env("SWITCHYARD_NATS_URL", "nats://10.1.2.3:4222")
        .env("SWITCHYARD_PROVIDERS__UP__MODELS", "[\"m1\"]")
        .env("UP_KEY", "sk-file-secret")
        .env("OPENAI_API_KEY", "sk-env-secret")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("url = \"nats://10.1.2.3:4222\""), "{text}");
    assert!(text.contains("max_body_bytes = 123"), "{text}");
    assert!(
        text.contains("[providers.openai]"),
        "OPENAI_API_KEY registers openai: {text}"
    );
    assert!(text.contains("models = [\"m1\"]"), "{text}");
    assert!(
        !text.contains("sk-file-secret") && !text.contains("sk-env-secret"),
        "secrets hidden: {text}"
    );
    // An invalid config fails at start with the file, the key and what is wrong.
    std::fs::write(&file, "[worker]\nconcurrency = 0\n").unwrap();
    let out = std::process::Command::new(bin())
        .args(["serve", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("sy.toml") && err.contains("worker.concurrency"),
        "{err}"
    );
}

/// `serve --without auditor`: ingress and workers in one process, the request log elsewhere.
#[tokio::test]
async fn serve_without_the_auditor_runs_the_request_path_only() {
    let nats = Nats::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sy.toml");
    let port = free_port();
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[nats]\nurl = \"{}\"\ndata_dir = \"{}\"\n",
            nats.url(),
            dir.path().display()
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(bin())
        .args(["serve", "--without", "auditor", "--config"])
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..200 {
        if http
            .get(format!("{base}/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "serve --without auditor became ready");
    let r = http
        .post(format!("{base}/v1/chat/completions"))
        .json(&chat("mock/echo", "no auditor"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "echo: no auditor");
    let r = http
        .get(format!("{base}/v1/requests"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503, "no auditor answers the request log");
    assert!(
        !dir.path().join("auditor").exists(),
        "no auditor store was opened"
    );
    child.kill().unwrap();
    let _ = child.wait();
}

#[test]
fn serve_without_every_role_is_refused() {
    let out = std::process::Command::new(bin())
        .args([
            "serve",
            "--without",
            "ingress",
            "--without",
            "worker",
            "--without",
            "auditor",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("left no role to run"), "{err}");
}

fn serve_config(dir: &std::path::Path) -> broker::Config {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[nats]\ndata_dir = \"{}\"\n",
        dir.display()
    );
    switchyard::config::from_toml(&text, "serve.toml", |_| None, std::iter::empty()).unwrap()
}

#[tokio::test]
async fn serve_restarts_its_nats_server_carries_big_bodies_and_owns_its_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(serve_config(dir.path()), Roles::ALL).await.unwrap();
    let addr = running.http_addr.unwrap();
    let http = reqwest::Client::new();
    let ask = |text: String| {
        http.post(format!("http://{addr}/v1/chat/completions"))
            .json(&chat("mock/echo", &text))
            .send()
    };
    // A 2 MiB prompt: over NATS's default max_payload, within the managed server's 8 MiB.
    let big = "b".repeat(2 << 20);
    let r = ask(big.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"].as_str().map(str::len),
        Some(big.len() + "echo: ".len())
    );

    // A second serve on the same data dir says who holds it, before starting anything.
    let second = start(serve_config(dir.path()), Roles::ALL).await;
    let e = second.err().expect("a second serve is refused").to_string();
    assert!(
        e.contains(&format!(
            "another switchyard is running (pid {}) on {}",
            std::process::id(),
            dir.path().display()
        )) && e.contains("--data-dir"),
        "{e}"
    );

    // The managed nats-server dies: serve restarts it and answers again.
    let pid_file = dir.path().join("nats").join("nats-server.pid");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-9", pid.trim()])
        .status()
        .unwrap();
    assert!(killed.success());
    let until = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut back = false;
    while tokio::time::Instant::now() < until {
        if let Ok(r) = ask("again".into()).await {
            if r.status() == 200 {
                back = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(back, "serve answers again after its nats-server was killed");
    let new_pid = std::fs::read_to_string(&pid_file).unwrap();
    assert_ne!(new_pid.trim(), pid.trim(), "a new nats-server runs");
    running.stop().await;
}

#[tokio::test]
async fn a_normal_run_logs_plain_lines_and_stops_without_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = dir.path().join("sy.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[nats]\ndata_dir = \"{}\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    // The log goes to a file: not a terminal.
    let log = dir.path().join("serve.log");
    let mut child = std::process::Command::new(bin())
        .args(["serve", "--config"])
        .arg(&cfg)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
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
    let r = http
        .post(format!("{base}/v1/chat/completions"))
        .json(&chat("mock/echo", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "a normal stop exits 0");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("ingress listening addr=127.0.0.1:"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "no colour codes in a file: {text}"
    );
    assert!(!text.contains("Some("), "no Rust debug formatting: {text}");
    assert!(
        !text
            .lines()
            .any(|l| l.contains(" WARN ") || l.contains(" ERROR ")),
        "a normal run and stop warns of nothing: {text}"
    );
    assert!(text.contains("managed nats-server stopped"), "{text}");
}
