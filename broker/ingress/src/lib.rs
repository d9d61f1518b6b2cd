//! The HTTP ingress: the OpenAI- and Anthropic-compatible API in front of the job streams.
//!
//! - [`endpoint`]: one generic handler; each front door ([`chat`], [`embeddings`],
//!   [`messages`]) is an `Endpoint` (request and answer types, how its request becomes a
//!   job, how a finished job is answered, how a stream is framed)
//! - [`job`]: the job machinery every front door uses (submit, idempotency, wait)
//! - [`sse`]: relaying a job's chunks as server-sent events
//! - [`jobs`], [`cancel`], [`requests`], [`models`], [`health`], [`metrics`]: the other routes
//! - [`routing`], [`targets`]: model resolution and target health
//! - [`auth`]: who is calling, and what their key allows; [`admin`]: keys and the audit trail
//! - [`layers`], [`body`], [`error`], [`state`]: what every route shares

pub mod admin;
pub mod auth;
pub mod batches;
pub mod body;
pub mod cache;
pub mod cancel;
pub mod chat;
pub mod embeddings;
pub mod endpoint;
pub mod error;
pub mod files;
mod follow;
pub mod health;
pub mod job;
pub mod jobs;
pub mod layers;
pub mod messages;
mod metrics;
pub mod models;
pub mod openapi;
pub mod replay;
pub mod replay_bulk;
pub mod requests;
pub mod routing;
pub mod server;
pub mod sse;
pub mod state;
pub mod targets;
pub mod ui;
pub mod usage;

use axum::routing::{get, post};
use axum::Router;
use endpoint::handle;

pub use layers::JobId;
pub use state::{AppState, JOB_ID_HEADER, MODE_HEADER, TIMEOUT_HEADER};

/// `GET /openapi.json`: the API as an OpenAPI 3.1 document (built once).
async fn openapi_json() -> axum::Json<serde_json::Value> {
    static DOC: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    axum::Json(DOC.get_or_init(openapi::document).clone())
}

/// The ingress routes with their layers.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/v1/chat/completions", post(handle::<chat::Chat>))
        .route("/v1/messages", post(handle::<messages::Messages>))
        .route(
            "/v1/messages/count_tokens",
            post(handle::<messages::CountTokens>),
        )
        .route("/v1/jobs", post(handle::<chat::Jobs>))
        .route("/v1/jobs/{id}", get(jobs::get_job))
        .route("/v1/jobs/{id}/cancel", post(cancel::cancel_job))
        .route("/v1/embeddings", post(handle::<embeddings::Embeddings>))
        .route("/v1/models", get(models::list))
        .route("/v1/requests", get(requests::list))
        .route("/v1/requests/stats", get(requests::stats))
        .route("/v1/requests/export", get(requests::export))
        .route("/v1/requests/{id}", get(requests::get))
        .route("/v1/requests/{id}/events", get(requests::events))
        .route("/v1/requests/{id}/replay", post(replay::replay))
        .route("/v1/requests/replay", post(replay_bulk::start))
        .route("/v1/requests/replay/{id}", get(replay_bulk::progress))
        .route("/v1/usage", get(usage::usage))
        .route(
            "/v1/files",
            post(files::upload)
                .get(files::list)
                .layer(axum::extract::DefaultBodyLimit::max(
                    state.cfg().files.max_bytes + 64 * 1024,
                )),
        )
        .route("/v1/files/{id}", get(files::get).delete(files::delete))
        .route("/v1/files/{id}/content", get(files::content))
        .route("/v1/batches", post(batches::create).get(batches::list))
        .route("/v1/batches/{id}", get(batches::get))
        .route("/v1/batches/{id}/cancel", post(batches::cancel))
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", metrics::route())
        .route("/openapi.json", get(openapi_json))
        .merge(admin::routes())
        .merge(ui::routes())
        .fallback(health::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    layers::shape_errors(layers::apply(api).with_state(state))
}
