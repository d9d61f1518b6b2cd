//! The HTTP ingress: the OpenAI-compatible API in front of the job streams.
//!
//! Cross-cutting concerns are tower layers around the routes ([`layers`]); each route is a
//! module of its own.

mod cancel;
mod chat;
mod embeddings;
pub mod error;
mod follow;
mod health;
mod jobs;
pub mod layers;
mod messages;
mod metrics;
mod models;
mod replay;
mod requests;
mod results;
pub mod routing;
mod sse;
mod submit;
pub mod targets;
mod wait;

use crate::routing::Router as ModelRouter;
use crate::targets::Health;
use axum::routing::{get, post};
use axum::Router;
use broker::config::Config;
use broker::events::EventSink;
use broker::nats::Topology;
use results::ResultRouter;
use std::sync::Arc;

pub use layers::JobId;
pub use submit::{Submission, Submitted};

/// The response header naming the job of every response.
pub const JOB_ID_HEADER: &str = "x-switchyard-job-id";
/// The request header that asks for queued mode on the chat endpoint.
pub const MODE_HEADER: &str = "x-switchyard-mode";
/// The request header that shortens the sync deadline, in milliseconds.
pub const TIMEOUT_HEADER: &str = "x-switchyard-timeout-ms";

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    client: async_nats::Client,
    topo: Topology,
    events: EventSink,
    models: ModelRouter,
    health: Health,
    cfg: Config,
    results: Arc<ResultRouter>,
}

impl AppState {
    /// State over a connected client and an ensured topology; subscribes to the results.
    pub async fn new(
        client: async_nats::Client,
        topo: Topology,
        events: EventSink,
        cfg: Config,
    ) -> Result<Self, crate::error::GatewayError> {
        let models = ModelRouter::new(&cfg);
        let health = Health::default();
        health.follow(topo.circuits.clone());
        let results = ResultRouter::start(&client, &topo.subjects).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                topo,
                events,
                models,
                health,
                cfg,
                results,
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
}

/// The ingress routes with their layers.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/v1/messages", post(messages::messages))
        .route("/v1/messages/count_tokens", post(messages::count_tokens))
        .route("/v1/jobs", post(jobs::submit_job))
        .route("/v1/jobs/{id}", get(jobs::get_job))
        .route("/v1/jobs/{id}/cancel", post(cancel::cancel_job))
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route("/v1/models", get(models::list))
        .route("/v1/requests", get(requests::list))
        .route("/v1/requests/{id}", get(requests::get))
        .route("/v1/requests/{id}/events", get(requests::events))
        .route("/v1/requests/{id}/replay", post(requests::replay))
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", metrics::route())
        .fallback(health::not_found);
    layers::apply(api).with_state(state)
}
