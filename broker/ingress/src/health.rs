//! `/health`, `/ready` and the JSON 404.

use super::AppState;
use crate::error::GatewayError;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

/// Liveness: the process answers.
pub async fn health() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Readiness: NATS connected and every stream present.
pub async fn ready(State(st): State<AppState>) -> impl IntoResponse {
    let connected = broker::nats::is_connected(st.client());
    let mut streams = serde_json::Map::new();
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
            streams.insert(name, json!(ok));
        }
    }
    let status = if all {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if all { "ready" } else { "not_ready" },
        "nats": if connected { "connected" } else { "disconnected" },
        "streams": streams,
        "circuits": st.health().circuits(),
    });
    (status, Json(body))
}

/// A 404 in the OpenAI error shape.
pub async fn not_found(uri: Uri) -> GatewayError {
    GatewayError::NotFound(format!(
        "There is no route {}. See the README for the API (POST /v1/chat/completions, POST /v1/embeddings, POST /v1/jobs, GET /v1/models).",
        uri.path()
    ))
}
