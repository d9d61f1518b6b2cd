//! `POST /v1/jobs` (queued chat) and `GET /v1/jobs/{id}` (status and result).

use super::chat::{respond, submit_chat};
use super::wait::{job_events, stored_result};
use super::{AppState, JobId};
use crate::error::GatewayError;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use schemas::openai::ErrorBody;
use schemas::{JobResult, JobState, Mode};
use serde_json::json;

/// `POST /v1/jobs`: a chat body, run queued.
pub async fn submit_job(
    State(st): State<AppState>,
    Extension(JobId(id)): Extension<JobId>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    submit_chat(&st, id, &headers, body, Some(Mode::Queued)).await
}

/// The `202 Accepted` answer of a queued job.
pub fn accepted(id: &str, model: &str) -> Response {
    let body = json!({
        "id": id,
        "object": "job",
        "status": "queued",
        "model": model,
        "url": format!("/v1/jobs/{id}"),
    });
    (
        StatusCode::ACCEPTED,
        [(header::LOCATION, format!("/v1/jobs/{id}"))],
        Json(body),
    )
        .into_response()
}

/// An error for a failed result that carries none.
pub fn missing_error(r: &JobResult) -> schemas::JobError {
    schemas::JobError {
        status: 500,
        error: ErrorBody::new(
            "api_error",
            format!("job {} ended as {:?} without an error", r.id, r.status),
        ),
        retryable: false,
    }
}

/// `GET /v1/jobs/{id}`.
pub async fn get_job(State(st): State<AppState>, Path(id): Path<String>) -> Response {
    let out = async {
        if uuid::Uuid::parse_str(&id).is_err() {
            return Err(GatewayError::bad_request(
                format!("`{id}` is not a job id; job ids are UUIDs as returned in X-Switchyard-Job-Id."),
                Some("id"),
            ));
        }
        if let Some(r) = stored_result(&st, &id).await? {
            return Ok(Json(result_view(&r)).into_response());
        }
        let events = job_events(&st, &id, 256).await?;
        let Some(last) = events.iter().max_by_key(|e| e.ts_ms) else {
            return Err(GatewayError::NotFound(format!(
                "No job `{id}` is known. It may have expired (results are kept for nats.results_max_age_s), or the id is wrong."
            )));
        };
        // Events of one job come from several processes and may land out of order: the
        // job is as far along as its most advanced event says.
        let running = events.iter().any(|e| e.kind.state() == Some(JobState::Running));
        let status = if running { JobState::Running } else { JobState::Queued };
        Ok(Json(json!({
            "id": id,
            "object": "job",
            "status": status,
            "last_event": last.kind,
            "updated_at_ms": last.ts_ms,
        }))
        .into_response())
    }
    .await;
    respond(&id, out.map(|r| (id.clone(), r)))
}

/// The JSON view of a finished job.
pub fn result_view(r: &JobResult) -> serde_json::Value {
    let response: Option<serde_json::Value> = r
        .response
        .as_ref()
        .and_then(|b| serde_json::from_str(b.get()).ok());
    json!({
        "id": r.id,
        "object": "job",
        "status": r.status,
        "provider": r.provider,
        "model": r.model,
        "attempts": r.attempts,
        "finished_at_ms": r.finished_ms,
        "usage": r.usage,
        "result": response,
        "error": r.error.as_ref().map(|e| json!({"status": e.status, "error": e.error})),
    })
}
