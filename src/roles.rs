//! Starting and stopping the roles of one process.

use crate::lock::DirLock;
use crate::managed_nats::ManagedNats;
use anyhow::Context;
use broker::config::Config;
use broker::events::EventSink;
use ingress::AppState;
use std::net::SocketAddr;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use workers::worker::Worker;
use workers::Registry;

/// Which roles to run.
#[derive(Debug, Clone, Copy)]
pub struct Roles {
    /// The HTTP ingress.
    pub ingress: bool,
    /// The workers.
    pub worker: bool,
    /// The auditor (request log and its NATS query service).
    pub auditor: bool,
    /// Start a local nats-server when no `nats.url` is set.
    pub managed_nats: bool,
}

impl Roles {
    /// Everything (`switchyard serve`).
    pub const ALL: Roles = Roles {
        ingress: true,
        worker: true,
        auditor: true,
        managed_nats: true,
    };
    /// Only the HTTP ingress (`switchyard ingress`), against a shared NATS.
    pub const INGRESS: Roles = Roles {
        ingress: true,
        worker: false,
        auditor: false,
        managed_nats: false,
    };
    /// Only the workers (`switchyard worker`), against a shared NATS.
    pub const WORKER: Roles = Roles {
        ingress: false,
        worker: true,
        auditor: false,
        managed_nats: false,
    };
    /// Only the auditor (`switchyard auditor`), against a shared NATS.
    pub const AUDITOR: Roles = Roles {
        ingress: false,
        worker: false,
        auditor: true,
        managed_nats: false,
    };
}

impl Roles {
    /// These roles minus the named ones (`ingress`, `worker`, `auditor`; others are ignored).
    pub fn without(mut self, names: &[String]) -> Roles {
        for n in names {
            match n.as_str() {
                "ingress" => self.ingress = false,
                "worker" => self.worker = false,
                "auditor" => self.auditor = false,
                _ => {}
            }
        }
        self
    }
}

/// A running process; [`Running::stop`] shuts it down in order.
pub struct Running {
    /// Where the ingress listens.
    pub http_addr: Option<SocketAddr>,
    /// The NATS URL in use.
    pub nats_url: String,
    shutdown: CancellationToken,
    workers_stop: CancellationToken,
    drain: std::time::Duration,
    ingress: Option<JoinHandle<()>>,
    tasks: Vec<JoinHandle<()>>,
    events: EventSink,
    client: async_nats::Client,
    nats: Option<ManagedNats>,
    _locks: Vec<DirLock>,
}

impl Running {
    /// A token that stops everything when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops accepting, drains workers, then stops the managed nats-server.
    pub async fn stop(self) {
        // The ingress stops accepting first; requests in flight still need the workers.
        self.shutdown.cancel();
        if let Some(ingress) = self.ingress {
            if tokio::time::timeout(self.drain, ingress).await.is_err() {
                tracing::warn!("HTTP requests still open after the drain timeout; closing them");
            }
        }
        self.workers_stop.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
        // The drained jobs' last events are stored before NATS goes away.
        self.events.settle(std::time::Duration::from_secs(2)).await;
        // Close the connection ourselves, so the server going away is not a disconnect.
        let drained = tokio::time::timeout(std::time::Duration::from_secs(2), self.client.drain());
        if let Ok(Err(e)) = drained.await {
            tracing::debug!(error = %e, "the NATS connection did not drain cleanly");
        }
        if let Some(n) = self.nats {
            n.stop().await;
        }
    }

    /// Waits until the shutdown token is cancelled, then stops.
    pub async fn wait(self) {
        self.shutdown.cancelled().await;
        self.stop().await;
    }
}

/// Without a master key the gateway answers anyone who reaches it: only on loopback, unless
/// the config says `auth.allow_open` (warned about at every start).
fn check_open(cfg: &Config) -> anyhow::Result<()> {
    if cfg.auth.master_key.is_some() {
        return Ok(());
    }
    let loopback = cfg
        .server
        .listen
        .parse::<SocketAddr>()
        .is_ok_and(|a| a.ip().is_loopback());
    if loopback {
        tracing::info!("no master key: the gateway is open to anyone on this machine (set auth.master_key or SWITCHYARD_MASTER_KEY to require keys)");
        return Ok(());
    }
    if cfg.auth.allow_open {
        tracing::warn!(listen = %cfg.server.listen, "no master key and auth.allow_open = true: anyone who reaches this address can use the gateway, spend its provider keys and read its request log");
        return Ok(());
    }
    anyhow::bail!(
        "refusing to listen on {} without a master key: anyone who reaches it could spend the provider keys and read every stored prompt. Set SWITCHYARD_MASTER_KEY (or [auth] master_key), listen on 127.0.0.1, or set [auth] allow_open = true to run open anyway",
        cfg.server.listen
    )
}

/// Starts the roles of `cfg`.
pub async fn start(mut cfg: Config, roles: Roles) -> anyhow::Result<Running> {
    // The data dir first: a second `serve` on it is told so before anything starts.
    let mut locks = Vec::new();
    if roles.managed_nats && cfg.nats.url.is_none() {
        locks.push(DirLock::acquire(&cfg.nats.data_dir)?);
    }
    if roles.auditor {
        locks.push(DirLock::acquire(&cfg.auditor_dir())?);
    }
    let (nats, url) = match (&cfg.nats.url, roles.managed_nats) {
        (Some(u), _) => (None, u.clone()),
        (None, true) => {
            let n = ManagedNats::start(&cfg.nats).await?;
            let u = n.url().to_string();
            cfg.nats.user = Some(crate::managed_nats::USER.to_string());
            cfg.nats.password = Some(broker::config::Secret::new(n.password()));
            (Some(n), u)
        }
        (None, false) => anyhow::bail!(
            "no NATS to connect to: set [nats] url in the config or SWITCHYARD_NATS_URL (or use `switchyard serve`, which starts one)"
        ),
    };
    let node = cfg.node_name();
    let client = broker::nats::connect(&url, &cfg.nats, &node)
        .await
        .with_context(|| {
            format!("cannot connect to NATS at {url}; check nats.url and that nats-server runs")
        })?;
    let topo = Box::pin(broker::nats::topology_when_ready(client.clone(), &cfg.nats))
        .await
        .map_err(|e| anyhow::anyhow!("cannot create the JetStream streams: {e}"))?;
    let events = EventSink::start(topo.js.clone(), topo.subjects.clone(), &node).await;
    let shutdown = CancellationToken::new();
    let workers_stop = CancellationToken::new();
    let mut tasks = Vec::new();
    let mut ingress_task = None;
    if roles.worker {
        let registry =
            Registry::from_config(&cfg).map_err(|e| anyhow::anyhow!("invalid config: {e}"))?;
        let worker = Worker::new(client.clone(), topo.clone(), registry, events.clone(), &cfg);
        let running = worker.start(workers_stop.clone()).await.map_err(|e| {
            anyhow::anyhow!("cannot start the worker: {e}; check that NATS JetStream is reachable")
        })?;
        tasks.push(tokio::spawn(running));
    }
    if roles.auditor {
        let shared = roles.ingress || roles.worker;
        match auditor::start(client.clone(), topo.clone(), &cfg, shared, shutdown.clone()).await {
            Ok(started) => tasks.extend(started),
            Err(e) => {
                shutdown.cancel();
                anyhow::bail!("{e}");
            }
        }
    }
    let beat = broker::nats::heartbeat::NodeBeat {
        node: node.clone(),
        roles: [
            ("ingress", roles.ingress),
            ("worker", roles.worker),
            ("auditor", roles.auditor),
        ]
        .iter()
        .filter(|(_, on)| *on)
        .map(|(r, _)| r.to_string())
        .collect(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        started_ms: schemas::now_ms(),
        ts_ms: 0,
    };
    tasks.push(tokio::spawn(broker::nats::heartbeat::run(
        topo.nodes.clone(),
        beat,
        workers_stop.clone(),
    )));
    let mut http_addr = None;
    if roles.ingress {
        check_open(&cfg)?;
        let listener = tokio::net::TcpListener::bind(&cfg.server.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {}; is the port taken? Change server.listen",
                    cfg.server.listen
                )
            })?;
        http_addr = Some(listener.local_addr()?);
        // Files and batch output lines on a connection of their own.
        let bulk = broker::nats::connect(&url, &cfg.nats, &format!("{node}-bulk"))
            .await
            .with_context(|| format!("cannot connect to NATS at {url} (the bulk connection)"))?;
        let bulk = Box::pin(broker::nats::topology_when_ready(bulk, &cfg.nats))
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the JetStream streams: {e}"))?;
        let state = AppState::new(
            client.clone(),
            topo.clone(),
            bulk,
            events.clone(),
            cfg.clone(),
        )
        .await
        .context("cannot subscribe to job results on NATS; check that it is reachable")?;
        // Batches whose driver's process died resume here.
        tasks.push(tokio::spawn(ingress::batches::driver::adopt(
            state.clone(),
            shutdown.clone(),
        )));
        let app = ingress::router(state);
        let stop = shutdown.clone();
        let server = cfg.server.clone();
        ingress_task = Some(tokio::spawn(async move {
            ingress::server::serve(listener, app, &server, stop).await;
        }));
        if let Some(addr) = http_addr {
            tracing::info!(addr = %addr, "ingress listening");
        }
    }
    Ok(Running {
        http_addr,
        nats_url: url,
        shutdown,
        workers_stop,
        drain: std::time::Duration::from_millis(cfg.worker.drain_timeout_ms),
        ingress: ingress_task,
        tasks,
        events,
        client,
        nats,
        _locks: locks,
    })
}
