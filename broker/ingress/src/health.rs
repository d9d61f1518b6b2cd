//! `/health`, `/ready` and the JSON 404.

use crate::error::GatewayError;
use crate::state::AppState;
use crate::targets::CircuitView;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Json;
use schemars::JsonSchema;
use schemas::CircuitState;
use serde::Serialize;
use std::collections::BTreeMap;

/// The answer of `GET /health`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Liveness {
    /// `ok`.
    pub status: String,
}

/// The answer of `GET /ready`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Readiness {
    /// `ready`, `degraded` (a circuit is open) or `not_ready`.
    pub status: String,
    /// `connected` or `disconnected`.
    pub nats: String,
    /// Each stream, and whether it is there.
    pub streams: BTreeMap<String, bool>,
    /// Circuit states by target `provider/model`.
    pub circuits: BTreeMap<String, CircuitView>,
    /// Providers that can take no request (every circuit on record open).
    pub providers_down: Vec<String>,
}

/// Liveness: the process answers.
pub async fn health() -> Json<Liveness> {
    Json(Liveness {
        status: "ok".into(),
    })
}

/// Readiness: `200 ready` with NATS connected and every stream present; `200 degraded`
/// when some target's circuit is open; `503 not_ready` when NATS or a stream is missing, or
/// when no configured provider can take a request (each has circuits on record, all open),
/// naming the providers that are down.
pub async fn ready(State(st): State<AppState>) -> impl IntoResponse {
    let connected = broker::nats::is_connected(st.client());
    let mut streams = BTreeMap::new();
    let mut all = connected;
    if connected {
        let t = st.topo();
        for name in [
            t.subjects.jobs_stream(),
            t.subjects.results_stream(),
            t.subjects.events_stream(),
        ] {
            let ok = t.js.get_stream(&name).await.is_ok();
            all &= ok;
            streams.insert(name, ok);
        }
    }
    let now = schemas::now_ms();
    let circuits = st.health().circuits_at(now);
    let down: Vec<String> = st
        .cfg()
        .providers
        .keys()
        .filter(|p| st.health().provider_down_at(p, now))
        .cloned()
        .collect();
    let none_left = !st.cfg().providers.is_empty() && down.len() == st.cfg().providers.len();
    let some_open = circuits.values().any(|c| c.state == CircuitState::Open);
    let (code, status) = match (all && !none_left, some_open) {
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
        (true, true) => (StatusCode::OK, "degraded"),
        (true, false) => (StatusCode::OK, "ready"),
    };
    let body = Readiness {
        status: status.into(),
        nats: if connected {
            "connected"
        } else {
            "disconnected"
        }
        .into(),
        streams,
        circuits,
        providers_down: down,
    };
    (code, Json(body))
}

/// A 404 in the OpenAI error shape.
pub async fn not_found(uri: Uri) -> GatewayError {
    GatewayError::NotFound(format!(
        "There is no route {}. See the README for the API (POST /v1/chat/completions, POST /v1/embeddings, POST /v1/jobs, GET /v1/models).",
        uri.path()
    ))
}
