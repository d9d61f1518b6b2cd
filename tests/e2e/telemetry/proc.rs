//! The `switchyard` binary as a subprocess (`serve` against a test NATS), for tests that
//! need the process-wide tracing subscriber of their own.

use crate::harness::*;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The `switchyard` binary running `serve` against a test NATS, killed on drop.
pub struct Proc {
    child: Child,
    addr: String,
    stderr: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Proc {
    pub async fn serve(nats: &Nats, extra_toml: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let cfg = dir.path().join("switchyard.toml");
        std::fs::write(
            &cfg,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\nrequest_timeout_ms = 10000\n[nats]\nurl = \"{}\"\ndata_dir = \"{}\"\n{extra_toml}",
                nats.url(),
                dir.path().display()
            ),
        )
        .unwrap();
        let stderr = dir.path().join("stderr.log");
        let mut cmd = Command::new(bin());
        cmd.arg("--config")
            .arg(&cfg)
            .args(args)
            .arg("serve")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let p = Proc {
            child,
            addr: format!("127.0.0.1:{port}"),
            stderr,
            _dir: dir,
        };
        let http = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(r) = http.get(p.url("/ready")).send().await {
                if r.status().is_success() {
                    return p;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the gateway did not get ready: {}", p.logs());
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
