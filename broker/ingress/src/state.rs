//! What every handler shares, and the names of the gateway's own headers.

use crate::auth::keyring::Keyring;
use crate::error::GatewayError;
use crate::job::results::ResultRouter;
use crate::routing::Router as ModelRouter;
use crate::targets::Health;
use broker::access::pricing::PriceTable;
use broker::config::Config;
use broker::events::EventSink;
use broker::nats::Topology;
use std::sync::Arc;

/// The response header naming the job of every response.
pub const JOB_ID_HEADER: &str = "x-switchyard-job-id";
/// The request header that asks for queued mode on the chat endpoint.
pub const MODE_HEADER: &str = "x-switchyard-mode";
/// The request header that shortens the sync deadline, in milliseconds.
pub const TIMEOUT_HEADER: &str = "x-switchyard-timeout-ms";
/// The response header with a finished job's cost in USD (when its model has a price).
pub const COST_HEADER: &str = "x-switchyard-cost";
/// The request header that makes a retried submit run once.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    client: async_nats::Client,
    topo: Topology,
    bulk: Topology,
    events: EventSink,
    models: ModelRouter,
    health: Health,
    cfg: Config,
    results: Arc<ResultRouter>,
    body_limit: usize,
    keyring: Arc<Keyring>,
    prices: PriceTable,
    cache: broker::cache::Cache,
}

impl AppState {
    /// State over a connected client and an ensured topology; subscribes to the results.
    /// `bulk` is the topology on a second connection, for files and the batch driver's reads
    /// (`topo` again where there is one connection).
    pub async fn new(
        client: async_nats::Client,
        topo: Topology,
        bulk: Topology,
        events: EventSink,
        cfg: Config,
    ) -> Result<Self, GatewayError> {
        let models = ModelRouter::new(&cfg);
        let health = Health::default();
        health.follow(topo.circuits.clone());
        let results = ResultRouter::start(&client, &topo.subjects, events.node()).await?;
        let body_limit = crate::body::limit(&cfg.server, client.server_info().max_payload);
        let keyring = Keyring::start(topo.keys.clone()).await?;
        let prices = PriceTable::new(&cfg.prices);
        let cache = broker::cache::Cache::from_config(topo.cache.clone(), &cfg.cache);
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                topo,
                bulk,
                events,
                models,
                health,
                cfg,
                results,
                body_limit,
                keyring,
                prices,
                cache,
            }),
        })
    }
    /// The NATS client.
    pub fn client(&self) -> &async_nats::Client {
        &self.inner.client
    }
    /// Streams and buckets.
    pub fn topo(&self) -> &Topology {
        &self.inner.topo
    }
    /// The streams and buckets on the bulk connection: file uploads and downloads, a batch's
    /// input file and its output lines go over it, so megabytes of them never queue on one
    /// socket ahead of an interactive request's job and result.
    pub fn bulk(&self) -> &Topology {
        &self.inner.bulk
    }
    /// Lifecycle events.
    pub fn events(&self) -> &EventSink {
        &self.inner.events
    }
    /// Model resolution.
    pub fn models(&self) -> &ModelRouter {
        &self.inner.models
    }
    /// Circuit states and in-flight counts of targets.
    pub fn health(&self) -> &Health {
        &self.inner.health
    }
    /// The config.
    pub fn cfg(&self) -> &Config {
        &self.inner.cfg
    }
    /// The requests waiting for job results.
    pub fn results(&self) -> &Arc<ResultRouter> {
        &self.inner.results
    }
    /// The virtual keys.
    pub fn keyring(&self) -> &Keyring {
        &self.inner.keyring
    }
    /// The response cache.
    pub fn cache(&self) -> &broker::cache::Cache {
        &self.inner.cache
    }
    /// Token prices.
    pub fn prices(&self) -> &PriceTable {
        &self.inner.prices
    }
    /// The largest request body accepted: `server.max_body_bytes`, or less when the NATS
    /// server's `max_payload` could not carry it in a job.
    pub fn body_limit(&self) -> usize {
        self.inner.body_limit
    }
}
