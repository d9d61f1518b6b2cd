//! The worker role: one durable pull consumer per provider, shared by every worker process,
//! so `max_ack_pending` caps a provider's jobs in flight cluster-wide.

mod assemble;
mod execute;
mod handle;
mod observe;
mod pipeline;

pub use assemble::Assembler;
pub use pipeline::{Outcome, Stage};

use crate::providers::Registry;
use async_nats::jetstream::consumer::{pull, AckPolicy, PullConsumer};
use broker::config::WorkerConfig;
use broker::events::EventSink;
use broker::nats::Topology;
use futures::StreamExt;
use std::sync::Arc;
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
        cfg: WorkerConfig,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                client,
                topo,
                registry,
                events,
                cfg,
                stages: Vec::new(),
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
        let mut tasks = Vec::new();
        for provider in self.shared.registry.names() {
            let consumer = ensure_consumer(&self.shared, provider).await?;
            tracing::info!(provider = %provider, "worker consuming");
            tasks.push(tokio::spawn(consume(
                self.shared.clone(),
                consumer,
                provider.clone(),
                shutdown.clone(),
            )));
        }
        for t in tasks {
            let _ = t.await;
        }
        Ok(())
    }
}

async fn ensure_consumer(
    shared: &Shared,
    provider: &str,
) -> Result<PullConsumer, async_nats::Error> {
    let s = &shared.topo.subjects;
    let name = s.worker_consumer(provider);
    let cfg = pull::Config {
        durable_name: Some(name.clone()),
        filter_subject: s.jobs(provider),
        ack_policy: AckPolicy::Explicit,
        ack_wait: Duration::from_millis(shared.cfg.ack_wait_ms),
        max_deliver: shared.cfg.max_deliver,
        max_ack_pending: shared.cfg.max_in_flight,
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
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(shared.cfg.concurrency));
    let batch = shared.cfg.concurrency.clamp(1, 256);
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
                p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break 'outer },
            };
            let next = tokio::select! {
                _ = shutdown.cancelled() => break 'outer,
                n = messages.next() => n,
            };
            match next {
                Some(Ok(msg)) => {
                    let shared = shared.clone();
                    let stop = shutdown.clone();
                    tokio::spawn(async move {
                        handle::handle(shared, msg, stop).await;
                        drop(permit);
                    });
                }
                Some(Err(e)) => {
                    tracing::warn!(provider = %provider, error = %e, "pull stream error; re-subscribing");
                    continue 'outer;
                }
                None => continue 'outer,
            }
        }
    }
    // Drain: wait for in-flight jobs to finish (they nak themselves if they cannot).
    let all = shared.cfg.concurrency as u32;
    let _ = tokio::time::timeout(Duration::from_secs(30), permits.acquire_many(all)).await;
    tracing::info!(provider = %provider, "worker stopped");
}
