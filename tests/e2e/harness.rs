//! Test fixtures: a nats-server on a free port with a temp store, and the gateway.

#![allow(dead_code)]

use broker::config::Config;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use switchyard::{start, Roles, Running};

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// The nats-server the tests start: `NATS_SERVER_BIN`, else `nats-server` on PATH (which
/// `./scripts/test` extends with its venv, where it installs one when none is on PATH).
fn nats_bin() -> String {
    std::env::var("NATS_SERVER_BIN").unwrap_or_else(|_| "nats-server".into())
}

/// A nats-server with JetStream, killed on drop.
pub struct Nats {
    pub child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Nats {
    /// Starts a server on a free port with a fresh store.
    pub async fn start() -> Nats {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, free_port()).await
    }

    /// Starts a server on `port` with the store in `dir` (used to restart one).
    pub async fn start_in(dir: tempfile::TempDir, port: u16) -> Nats {
        let mut child = Command::new(nats_bin())
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server is not on PATH: run the tests with ./scripts/test, which installs it into its venv, or set NATS_SERVER_BIN");
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Nats {
                    child: Some(child),
                    port,
                    dir,
                };
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("nats-server did not start on port {port}");
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL) and hands back its store for a restart.
    pub fn kill(mut self) -> (tempfile::TempDir, u16) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let port = self.port;
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"));
        (dir, port)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn merge(base: &mut toml::Table, extra: toml::Table) {
    for (k, v) in extra {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(e)) => merge(b, e),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// A config for tests: the given NATS, an ephemeral HTTP port, fast timeouts, merged with
/// `extra` TOML.
pub fn config(nats_url: &str, extra: &str) -> Config {
    let base = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nrequest_timeout_ms = 10000\n\n[nats]\nurl = \"{nats_url}\"\n\n[worker]\nack_wait_ms = 2000\n"
    );
    let mut doc: toml::Table = base.parse().expect("base config");
    merge(&mut doc, extra.parse().expect("extra config is TOML"));
    let text = toml::to_string(&doc).expect("config text");
    switchyard::config::from_toml(&text, "test.toml", |_| None, std::iter::empty())
        .expect("valid test config")
}

/// A running gateway and its NATS.
pub struct Gateway {
    pub running: Option<Running>,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
}

impl Gateway {
    /// Starts every role against `nats` with `extra` config.
    pub async fn start(nats: &Nats, extra: &str) -> Gateway {
        Self::start_roles(
            nats,
            extra,
            Roles {
                ingress: true,
                worker: true,
                auditor: false,
                managed_nats: false,
            },
        )
        .await
    }

    pub async fn start_roles(nats: &Nats, extra: &str, roles: Roles) -> Gateway {
        Self::start_url(&nats.url(), extra, roles).await
    }

    /// Starts `roles` against the NATS at `url` (several, comma-separated, for a cluster).
    pub async fn start_url(url: &str, extra: &str, roles: Roles) -> Gateway {
        let running = start(config(url, extra), roles)
            .await
            .expect("gateway starts");
        let addr = running
            .http_addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        Gateway {
            running: Some(running),
            addr,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }
}

/// A chat body for `model` with one user message.
pub fn chat(model: &str, text: &str) -> serde_json::Value {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// The job id header of a response.
pub fn job_id(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("x-switchyard-job-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Polls `GET /v1/jobs/{id}` until its status is final or `timeout` passes.
pub async fn wait_job(gw: &Gateway, id: &str, timeout: Duration) -> serde_json::Value {
    let until = tokio::time::Instant::now() + timeout;
    loop {
        let v: serde_json::Value = gw
            .get(&format!("/v1/jobs/{id}"))
            .await
            .json()
            .await
            .unwrap_or_default();
        let s = v["status"].as_str().unwrap_or("");
        if matches!(s, "completed" | "failed" | "cancelled") || tokio::time::Instant::now() > until
        {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The path of the built `switchyard` binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_switchyard"))
}

/// Parses an SSE body into its `data:` payloads.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|ev| {
            ev.lines()
                .find_map(|l| l.strip_prefix("data: "))
                .map(str::to_string)
        })
        .collect()
}

/// Every event stored in `SY_EVENTS` so far, in stream order.
pub async fn stored_events(nats: &Nats) -> Vec<serde_json::Value> {
    let client = async_nats::connect(nats.url()).await.expect("nats");
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream("SY_EVENTS").await.expect("SY_EVENTS");
    let n = stream
        .info()
        .await
        .expect("stream info")
        .state
        .last_sequence;
    let mut out = Vec::new();
    for seq in 1..=n {
        if let Ok(m) = stream.get_raw_message(seq).await {
            out.push(serde_json::from_slice(&m.payload).unwrap_or_default());
        }
    }
    out
}

/// Polls [`stored_events`] until `done` holds for them (or `timeout` passes); returns the
/// last reading, for the test's assertions.
pub async fn events_until(
    nats: &Nats,
    timeout: Duration,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let until = tokio::time::Instant::now() + timeout;
    loop {
        let evs = stored_events(nats).await;
        if done(&evs) || tokio::time::Instant::now() > until {
            return evs;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// How many of `evs` are of `kind` (for job `job`, when given).
pub fn count_kind(evs: &[serde_json::Value], kind: &str, job: Option<&str>) -> usize {
    evs.iter()
        .filter(|e| e["kind"] == kind && job.is_none_or(|j| e["job"] == j))
        .count()
}

/// A program of the test venv (`target/test-venv`, or `SWITCHYARD_TEST_VENV`), which
/// `./scripts/test` creates with the Python packages the tests use (openai, schemathesis).
pub fn venv_bin(name: &str) -> PathBuf {
    let venv = std::env::var_os("SWITCHYARD_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-venv"));
    let bin = venv.join("bin").join(name);
    assert!(
        bin.is_file(),
        "{} is missing: run the tests with ./scripts/test, which creates the test venv ({}) with the Python packages the tests use",
        bin.display(),
        venv.display()
    );
    bin
}

/// Prints a summary line that shows in a passing run too (the fault tallies): written to
/// the process's stderr directly, which the test harness does not capture.
pub fn report(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// The stored events of one job, in stream order.
pub async fn job_events(nats: &Nats, id: &str) -> Vec<serde_json::Value> {
    let client = async_nats::connect(nats.url()).await.expect("nats");
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream("SY_EVENTS").await.expect("SY_EVENTS");
    let mut out = Vec::new();
    let mut seq = None;
    while let Ok(m) = stream
        .direct_get_next_for_subject(format!("sy.events.{id}"), seq)
        .await
    {
        seq = Some(m.sequence + 1);
        out.push(serde_json::from_slice(&m.payload).unwrap_or_default());
    }
    out
}

/// Polls [`job_events`] until `done` holds (or 5 s pass); returns the last reading.
pub async fn job_events_until(
    nats: &Nats,
    id: &str,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let evs = job_events(nats, id).await;
        if done(&evs) || tokio::time::Instant::now() > until {
            return evs;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Whether a job's events hold its final event (`completed`, `failed` or `cancelled`).
pub fn has_final(evs: &[serde_json::Value]) -> bool {
    evs.iter().any(|e| {
        matches!(
            e["kind"].as_str(),
            Some("completed" | "failed" | "cancelled")
        )
    })
}

/// Polls `GET /ready` until it answers `status` (or 5 s pass).
pub async fn ready_becomes(gw: &Gateway, status: u16) {
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    while gw.get("/ready").await.status().as_u16() != status {
        assert!(
            tokio::time::Instant::now() < until,
            "/ready never answered {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `GET /v1/jobs/{id}` until its status is `status` (or 5 s pass).
pub async fn job_becomes(gw: &Gateway, id: &str, status: &str) {
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let v: serde_json::Value = gw
            .get(&format!("/v1/jobs/{id}"))
            .await
            .json()
            .await
            .unwrap_or_default();
        if v["status"] == status {
            return;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "job {id} never became {status}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `n` pull requests wait on the mock provider's worker consumer: that many
/// worker processes are up and asking for jobs.
pub async fn workers_up(nats: &Nats, n: usize) {
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let until = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let waiting = match js.get_stream("SY_JOBS").await {
            Ok(s) => match s
                .get_consumer::<async_nats::jetstream::consumer::pull::Config>("sy_worker_mock")
                .await
            {
                Ok(mut c) => c.info().await.map(|i| i.num_waiting).unwrap_or(0),
                Err(_) => 0,
            },
            Err(_) => 0,
        };
        if waiting >= n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "{n} workers did not start"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A nats-server run from a config file (auth, TLS, operator mode), killed on drop.
pub struct ConfNats(Child);

impl Drop for ConfNats {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts nats-server with the config file `conf` (listening on `port`) and `env`, and waits
/// until it accepts connections; its log goes to `<conf>.log`.
pub async fn nats_with_conf(
    conf: &std::path::Path,
    port: u16,
    env: &[(String, String)],
) -> ConfNats {
    let log = conf.with_extension("log");
    let child = Command::new(nats_bin())
        .arg("-c")
        .arg(conf)
        .envs(env.iter().cloned())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("nats-server starts");
    let server = ConfNats(child);
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "nats-server did not start: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}
