//! The worker role: one durable pull consumer per provider, shared by every worker process,
//! so `max_ack_pending` caps a provider's jobs in flight cluster-wide.

mod assemble;
mod backoff;
pub mod batch;
mod cache;
mod call;
pub mod cancel;
pub mod circuit;
mod deadletter;
mod execute;
mod handle;
mod models;
mod observe;
mod pipeline;
mod semantic;
mod settle;

pub use assemble::Assembler;
pub use pipeline::{Outcome, Stage};

use crate::providers::Registry;
use async_nats::jetstream::consumer::{pull, AckPolicy, PullConsumer};
use broker::config::{Config, ProviderConfig, WorkerConfig};
use broker::events::EventSink;
use broker::nats::Topology;
use cancel::Cancels;
use circuit::Breakers;
use futures::StreamExt;
use schemas::{CircuitRecord, CircuitState};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Everything a job handler needs.
pub(crate) struct Shared {
    pub client: async_nats::Client,
    pub topo: Topology,
    pub registry: Registry,
    pub events: EventSink,
    pub cfg: WorkerConfig,
    pub stages: Vec<Arc<dyn Stage>>,
    pub providers: HashMap<String, ProviderConfig>,
    pub breakers: Breakers,
    pub cancels: Arc<Cancels>,
    pub prices: broker::access::pricing::PriceTable,
    /// Each provider's secrets, scrubbed from upstream error text.
    pub secrets: HashMap<String, Vec<String>>,
    /// The response cache answers are stored in.
    pub cache: broker::cache::Cache,
    /// Answers larger than this are not cached.
    pub cache_max_bytes: usize,
    /// How long a cache call may take.
    pub cache_timeout_ms: u64,
    /// The semantic cache's indexes, when `[cache.semantic]` is on.
    pub semantic: Option<semantic::Semantic>,
    paused_until: Mutex<HashMap<String, std::time::Instant>>,
}

impl Shared {
    /// The config entry of a provider (defaults when unknown).
    pub fn policy(&self, provider: &str) -> ProviderConfig {
        self.providers.get(provider).cloned().unwrap_or_default()
    }

    /// Publishes a circuit state change to the `sy_circuits` bucket (off the hot path) and
    /// the circuit gauge.
    pub fn publish_circuit(&self, target: &schemas::Target, change: Option<CircuitState>) {
        let Some(state) = change else { return };
        use broker::telemetry::metrics::{circuit_state, Circuit};
        let gauge = match state {
            CircuitState::Closed => Circuit::Closed,
            CircuitState::HalfOpen => Circuit::HalfOpen,
            CircuitState::Open => Circuit::Open,
        };
        let name = target.qualified();
        circuit_state(&target.provider, &name, gauge);
        tracing::warn!(target = %name, state = state.as_str(), "circuit breaker changed state");
        let now = schemas::now_ms();
        let open_ms = self.policy(&target.provider).circuit.open_ms;
        let rec = CircuitRecord {
            target: name.clone(),
            state,
            node: self.events.node().to_string(),
            ts_ms: now,
            open_until_ms: (state == CircuitState::Open).then_some(now + open_ms),
        };
        let key = CircuitRecord::key(&name);
        let kv = self.topo.circuits.clone();
        tokio::spawn(async move {
            if let Ok(v) = serde_json::to_vec(&rec) {
                if let Err(e) = kv.put(&key, v.into()).await {
                    tracing::warn!(error = %e, "cannot publish the circuit state");
                }
            }
        });
    }

    /// Pauses the provider's shared consumer (every worker stops pulling its jobs) for `d`,
    /// so queued jobs wait in the stream while the upstream asks us to back off.
    pub async fn pause_provider(&self, provider: &str, d: std::time::Duration) {
        let d = d.min(execute::MAX_PAUSE);
        let until = std::time::Instant::now() + d;
        {
            let mut p = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
            if p.get(provider).is_some_and(|u| *u >= until) {
                return;
            }
            p.insert(provider.to_string(), until);
        }
        let name = self.topo.subjects.worker_consumer(provider);
        let wall = time::OffsetDateTime::now_utc() + d;
        match self.topo.jobs.pause_consumer(&name, wall).await {
            Ok(_) => {
                tracing::warn!(provider = %provider, pause_ms = d.as_millis() as u64, "upstream rate limited: consumer paused")
            }
            Err(e) => tracing::warn!(provider = %provider, error = %e, "cannot pause the consumer"),
        }
    }
}

/// A worker process: runs jobs of every configured provider.
pub struct Worker {
    shared: Arc<Shared>,
}

impl Worker {
    /// A worker over a connected client and an ensured topology.
    pub fn new(
        client: async_nats::Client,
        topo: Topology,
        registry: Registry,
        events: EventSink,
        cfg: &Config,
    ) -> Self {
        let providers: HashMap<String, ProviderConfig> =
            cfg.providers.clone().into_iter().collect();
        let cache = broker::cache::Cache::from_config(topo.cache.clone(), &cfg.cache);
        let secrets = providers
            .iter()
            .map(|(n, p)| (n.clone(), broker::access::secrets::provider_secrets(p)))
            .collect();
        let breakers = Breakers::new(
            providers
                .iter()
                .map(|(n, p)| (n.clone(), p.circuit.clone()))
                .collect(),
        );
        Self {
            shared: Arc::new(Shared {
                client,
                topo,
                registry,
                events,
                cfg: cfg.worker.clone(),
                stages: Vec::new(),
                providers,
                breakers,
                cancels: Arc::new(Cancels::default()),
                prices: broker::access::pricing::PriceTable::new(&cfg.prices),
                secrets,
                cache,
                cache_max_bytes: cfg.cache.max_entry_bytes,
                cache_timeout_ms: cfg.cache.timeout_ms,
                semantic: (cfg.cache.enabled && cfg.cache.semantic.enabled)
                    .then(|| semantic::Semantic::new(cfg.cache.semantic.clone())),
                paused_until: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Adds a pipeline stage that runs around the upstream call (cache, budgets, ...).
    pub fn with_stage(mut self, stage: Arc<dyn Stage>) -> Self {
        if let Some(s) = Arc::get_mut(&mut self.shared) {
            s.stages.push(stage);
        }
        self
    }

    /// Consumes jobs until `shutdown` fires, then drains in-flight jobs.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), async_nats::Error> {
        self.start(shutdown).await?.await;
        Ok(())
    }

    /// Loads the cancelled jobs, creates every consumer, then starts consuming; the returned
    /// future ends when the worker has drained after `shutdown`.
    pub async fn start(
        self,
        shutdown: CancellationToken,
    ) -> Result<impl std::future::Future<Output = ()>, async_nats::Error> {
        let shared = self.shared;
        shared.cancels.load(&shared.topo.cancel).await?;
        let mut consumers = Vec::new();
        for provider in shared.registry.names() {
            consumers.push((
                provider.clone(),
                ensure_consumer(&shared, provider, false).await?,
                false,
            ));
            consumers.push((
                provider.clone(),
                ensure_consumer(&shared, provider, true).await?,
                true,
            ));
        }
        let mut tasks = vec![
            tokio::spawn(
                shared
                    .cancels
                    .clone()
                    .watch(shared.topo.cancel.clone(), shutdown.clone()),
            ),
            tokio::spawn(deadletter::watch(shared.clone(), shutdown.clone())),
            tokio::spawn(semantic::follow(shared.clone(), shutdown.clone())),
        ];
        tasks.extend(models::serve(shared.clone(), shutdown.clone()).await?);
        // One pool of permits per provider, shared by its interactive and batch lanes.
        let mut pools: HashMap<String, Arc<Semaphore>> = HashMap::new();
        for (provider, consumer, batch) in consumers {
            tracing::info!(provider = %provider, batch, "worker consuming");
            let permits = pools
                .entry(provider.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(shared.cfg.concurrency)))
                .clone();
            tasks.push(tokio::spawn(consume(
                shared.clone(),
                consumer,
                provider,
                Lane { permits, batch },
                shutdown.clone(),
            )));
        }
        Ok(async move {
            for t in tasks {
                let _ = t.await;
            }
        })
    }
}

/// One consumer's share of a provider's permits: the batch lane takes a permit only while
/// half of them are free, so batch lines never crowd out interactive jobs.
struct Lane {
    permits: Arc<Semaphore>,
    batch: bool,
}

impl Lane {
    async fn permit(&self, total: usize) -> Option<tokio::sync::OwnedSemaphorePermit> {
        if self.batch {
            // The interactive lane holds one permit while it waits for its next job: that
            // one counts as free here.
            while self.permits.available_permits() < (total / 2).max(1) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        self.permits.clone().acquire_owned().await.ok()
    }
}

async fn ensure_consumer(
    shared: &Shared,
    provider: &str,
    batch: bool,
) -> Result<PullConsumer, async_nats::Error> {
    let s = &shared.topo.subjects;
    let (name, filter, cap) = if batch {
        (
            format!("{}_batch", s.worker_consumer(provider)),
            s.batch_jobs(provider),
            shared.cfg.batch_max_in_flight,
        )
    } else {
        (
            s.worker_consumer(provider),
            s.jobs(provider),
            shared
                .providers
                .get(provider)
                .and_then(|p| p.max_in_flight)
                .unwrap_or(shared.cfg.max_in_flight),
        )
    };
    let cfg = pull::Config {
        durable_name: Some(name.clone()),
        filter_subject: filter,
        ack_policy: AckPolicy::Explicit,
        ack_wait: Duration::from_millis(shared.cfg.ack_wait_ms),
        max_deliver: shared.cfg.max_deliver,
        max_ack_pending: cap,
        ..Default::default()
    };
    match shared.topo.jobs.get_consumer::<pull::Config>(&name).await {
        Ok(c) => {
            let mut c = c;
            let info = c.info().await?;
            if info.config.ack_wait != cfg.ack_wait
                || info.config.max_deliver != cfg.max_deliver
                || info.config.max_ack_pending != cfg.max_ack_pending
            {
                return Ok(shared.topo.jobs.update_consumer(cfg).await?);
            }
            Ok(c)
        }
        Err(_) => Ok(shared.topo.jobs.create_consumer(cfg).await?),
    }
}

async fn consume(
    shared: Arc<Shared>,
    consumer: PullConsumer,
    provider: String,
    lane: Lane,
    shutdown: CancellationToken,
) {
    let permits = lane.permits.clone();
    let batch = if lane.batch {
        (shared.cfg.concurrency / 4).clamp(1, 64)
    } else {
        shared.cfg.concurrency.clamp(1, 256)
    };
    'outer: while !shutdown.is_cancelled() {
        let mut messages = match consumer
            .stream()
            .max_messages_per_batch(batch)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await
        {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(provider = %provider, error = %e, "cannot pull jobs; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        loop {
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break 'outer,
                p = lane.permit(shared.cfg.concurrency) => match p { Some(p) => p, None => break 'outer },
            };
            let next = tokio::select! {
                _ = shutdown.cancelled() => {
                    drop(permit);
                    hand_back_buffered(&mut messages).await;
                    break 'outer;
                }
                n = messages.next() => n,
            };
            match next {
                Some(Ok(msg)) => {
                    let shared = shared.clone();
                    let stop = shutdown.clone();
                    // Boxed: the handler's future is several kilobytes, which
                    // `spawn` would otherwise copy more than once.
                    tokio::spawn(Box::pin(async move {
                        handle::handle(shared, msg, stop).await;
                        drop(permit);
                    }));
                }
                Some(Err(e)) => {
                    tracing::warn!(provider = %provider, error = %e, "pull stream error; re-subscribing");
                    continue 'outer;
                }
                None => continue 'outer,
            }
        }
    }
    // Drain: in-flight jobs finish, or hand themselves back after `drain_timeout_ms`.
    let all = shared.cfg.concurrency as u32;
    let grace = Duration::from_millis(shared.cfg.drain_timeout_ms) + Duration::from_secs(2);
    let _ = tokio::time::timeout(grace, permits.acquire_many(all)).await;
    tracing::info!(provider = %provider, "worker stopped");
}

/// Naks the messages the pull stream already buffered, so another worker takes them now
/// instead of after `ack_wait`.
async fn hand_back_buffered(messages: &mut async_nats::jetstream::consumer::pull::Stream) {
    while let Ok(Some(Ok(m))) =
        tokio::time::timeout(Duration::from_millis(50), messages.next()).await
    {
        let _ = m.ack_with(async_nats::jetstream::AckKind::Nak(None)).await;
    }
}
