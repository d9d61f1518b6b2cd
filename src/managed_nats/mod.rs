//! A local `nats-server` with JetStream, started and supervised by `switchyard serve` when no
//! `[nats] url` is configured. Its store, config, pid file and log live under
//! `<data_dir>/nats/`; it listens on loopback only, and only for the user `switchyard` with a
//! password made at its first start (`<data_dir>/nats/password`, readable by its owner only),
//! so another local user or process without the password can neither read the job streams
//! nor inject jobs. Another switchyard process on the machine joins with
//! `SWITCHYARD_NATS_USER=switchyard SWITCHYARD_NATS_PASSWORD=$(cat <data_dir>/nats/password)`.
//!
//! Supervision: when the server exits while the gateway runs, it is restarted on the same
//! port and store after a backoff (1 s doubling to 30 s, reset after a minute up), with the
//! last lines of its log in the error line; clients reconnect by themselves.

mod install;

use anyhow::{bail, Context};
use broker::config::NatsConfig;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use install::{find, find_or_install};

/// The largest message the managed server takes: a job carries the client's whole body.
pub const MAX_PAYLOAD: &str = "8MB";

/// The user clients of the managed server connect as.
pub const USER: &str = "switchyard";

/// The running server; stopped (SIGTERM, then SIGKILL) by [`ManagedNats::stop`].
pub struct ManagedNats {
    url: String,
    password: String,
    stop: CancellationToken,
    supervisor: JoinHandle<()>,
}

/// How to start the server again.
#[derive(Clone)]
struct Launch {
    bin: PathBuf,
    conf: PathBuf,
    pid_file: PathBuf,
    log: PathBuf,
    port: u16,
}

fn free_port(preferred: u16) -> anyhow::Result<u16> {
    if TcpListener::bind(("127.0.0.1", preferred)).is_ok() {
        return Ok(preferred);
    }
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// The server's config file: loopback, JetStream on `store`, an 8 MiB `max_payload`, one
/// user with `password`.
fn config_text(store: &Path, password: &str) -> String {
    format!(
        "# Written by `switchyard serve` at each start; edits are overwritten.\nlisten: 127.0.0.1:4222\nmax_payload: {MAX_PAYLOAD}\njetstream {{\n  store_dir: {:?}\n}}\nauthorization {{\n  user: {USER}\n  password: {password:?}\n}}\n",
        store.display().to_string()
    )
}

/// Writes `text` to `path` readable and writable by the owner only.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    o.mode(0o600);
    let mut f = o
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// The server's password: kept in `<dir>/password` from its first start.
fn password(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join("password");
    if let Ok(p) = std::fs::read_to_string(&path) {
        let p = p.trim().to_string();
        if p.len() >= 16 {
            return Ok(p);
        }
    }
    let p = broker::access::keys::random_text(32);
    write_private(&path, &p)?;
    Ok(p)
}

/// The last lines of the server's log (why it stopped).
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(3)..].join(" | ")
}

impl Launch {
    fn spawn(&self) -> anyhow::Result<Child> {
        Command::new(&self.bin)
            .arg("-c")
            .arg(&self.conf)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .arg("-P")
            .arg(&self.pid_file)
            .arg("-l")
            .arg(&self.log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", self.bin.display()))
    }

    /// Waits until the server accepts connections (10 s), or says why it exited.
    async fn ready(&self, child: &mut Child) -> anyhow::Result<()> {
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "nats-server exited at start ({status}): {}. See {}",
                    log_tail(&self.log),
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "nats-server did not accept connections on port {} within 10 s; see {}",
            self.port,
            self.log.display()
        )
    }
}

impl ManagedNats {
    /// Starts nats-server with JetStream on 4222 (or a free port when taken), waits until it
    /// accepts connections, and supervises it.
    pub async fn start(cfg: &NatsConfig) -> anyhow::Result<Self> {
        let data_dir = cfg.data_dir.clone();
        let bin = tokio::task::spawn_blocking({
            let (b, d) = (cfg.server_bin.clone(), data_dir.clone());
            move || find_or_install(&b, &d)
        })
        .await??;
        // JetStream keeps its files under `<store>/jetstream/`; the config, pid file and log
        // sit beside them.
        let dir = data_dir.join("nats");
        let store = dir.clone();
        std::fs::create_dir_all(&store).with_context(|| {
            format!(
                "cannot create the NATS store {}; check nats.data_dir (or --data-dir)",
                store.display()
            )
        })?;
        let conf = dir.join("nats-server.conf");
        let password = password(&dir)?;
        write_private(&conf, &config_text(&store, &password))?;
        let launch = Launch {
            bin,
            conf,
            pid_file: dir.join("nats-server.pid"),
            log: dir.join("nats-server.log"),
            port: free_port(4222)?,
        };
        let mut child = launch.spawn()?;
        launch.ready(&mut child).await?;
        let url = format!("nats://127.0.0.1:{}", launch.port);
        tracing::info!(url = %url, store = %store.display(), log = %launch.log.display(), "managed nats-server started");
        let stop = CancellationToken::new();
        let supervisor = tokio::spawn(supervise(launch, child, stop.clone()));
        Ok(Self {
            url,
            password,
            stop,
            supervisor,
        })
    }

    /// The client URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The password of [`USER`].
    pub fn password(&self) -> &str {
        &self.password
    }

    /// Stops the server gracefully (SIGTERM, up to 5 s, then SIGKILL).
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.supervisor.await;
    }
}

/// Keeps the server running until `stop`, restarting it with backoff when it exits.
async fn supervise(launch: Launch, mut child: Child, stop: CancellationToken) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let started = tokio::time::Instant::now();
        let status = tokio::select! {
            _ = stop.cancelled() => {
                terminate(child).await;
                return;
            }
            s = child.wait() => s,
        };
        let why = match status {
            Ok(s) => s.to_string(),
            Err(e) => e.to_string(),
        };
        if started.elapsed() > Duration::from_secs(60) {
            backoff = Duration::from_secs(1);
        }
        tracing::error!(exit = %why, log = %log_tail(&launch.log), restart_in_s = backoff.as_secs(), "the managed nats-server stopped; restarting it (accepted jobs are in its file store; clients reconnect by themselves)");
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
            match launch.spawn() {
                Ok(mut c) => match launch.ready(&mut c).await {
                    Ok(()) => {
                        tracing::info!(port = launch.port, "managed nats-server restarted");
                        child = c;
                        break;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, restart_in_s = backoff.as_secs(), "the managed nats-server did not come back; trying again")
                    }
                },
                Err(e) => {
                    tracing::error!(error = %e, restart_in_s = backoff.as_secs(), "cannot restart the managed nats-server; trying again")
                }
            }
        }
    }
}

/// SIGTERM, up to 5 s for a clean exit, then SIGKILL.
async fn terminate(mut child: Child) {
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
