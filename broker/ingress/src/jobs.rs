//! `GET /v1/jobs/{id}` (status and result) and the `202 Accepted` answer of a queued job.

use crate::auth::Caller;
use crate::endpoint::{respond, Shape};
use crate::error::GatewayError;
use crate::job::wait::{job_events, stored_result};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use schemars::JsonSchema;
use schemas::openai::{ErrorBody, Usage};
use schemas::{EventKind, JobResult, JobState};
use serde::Serialize;

/// A job as `GET /v1/jobs/{id}`, `POST /v1/jobs` and the cancel route show it. `model` is
/// the model as the client named it, the same while queued and when finished;
/// `provider`/`provider_model` say which target answered.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct JobView {
    /// The job id.
    pub id: String,
    /// `job`.
    pub object: String,
    /// `queued`, `running`, `completed`, `failed` or `cancelled`.
    pub status: Option<JobState>,
    /// The model as the client named it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Where to poll it.
    pub url: String,
    /// The provider that answered (or last failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The model as that provider knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_model: Option<String>,
    /// Upstream attempts made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// The latest lifecycle event of an unfinished job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_event: Option<EventKind>,
    /// When that event happened (ms since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at_ms: Option<u64>,
    /// When the job finished (ms since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at_ms: Option<u64>,
    /// Token usage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// What the job cost in USD, when its model has a price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// The response (a chat completion or an embeddings list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// The error of a failed or cancelled job, in the OpenAI shape, with the HTTP status a
    /// sync client got.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JobErrorView>,
    /// A note on what a call did (the cancel route).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The job this one replays (the replay route).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
}

/// A job's error: the OpenAI error fields and the HTTP status.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct JobErrorView {
    /// `message`, `type`, `param`, `code`.
    #[serde(flatten)]
    pub error: ErrorBody,
    /// The HTTP status.
    pub status: u16,
}

impl JobView {
    /// A job in `status` with nothing else known.
    pub fn new(id: &str, status: JobState) -> Self {
        Self {
            id: id.to_string(),
            object: "job".into(),
            status: Some(status),
            url: format!("/v1/jobs/{id}"),
            ..Default::default()
        }
    }

    /// A finished job.
    pub fn finished(r: &JobResult) -> Self {
        Self {
            model: r.requested_model.clone().or_else(|| r.model.clone()),
            provider: r.provider.clone(),
            provider_model: r.model.clone(),
            attempts: Some(r.attempts),
            finished_at_ms: Some(r.finished_ms),
            usage: r.usage.clone(),
            cost_usd: r.cost_usd,
            result: r
                .response
                .as_ref()
                .and_then(|b| serde_json::from_str(b.get()).ok()),
            error: r.error.as_ref().map(|e| JobErrorView {
                error: e.error.clone(),
                status: e.status,
            }),
            ..Self::new(&r.id, r.status)
        }
    }
}

/// The `202 Accepted` answer of a queued job.
pub fn accepted(id: &str, model: &str) -> Response {
    let view = JobView {
        model: Some(model.to_string()),
        ..JobView::new(id, JobState::Queued)
    };
    (
        StatusCode::ACCEPTED,
        [(header::LOCATION, view.url.clone())],
        Json(view),
    )
        .into_response()
}

/// Checks that `id` looks like a job id.
pub fn check_id(id: &str) -> Result<(), GatewayError> {
    uuid::Uuid::parse_str(id).map(|_| ()).map_err(|_| {
        GatewayError::bad_request(
            format!("`{id}` is not a job id; ids are UUIDs as returned in X-Switchyard-Job-Id."),
            Some("id"),
        )
    })
}

/// The answer for a job that is unknown, or another key's.
pub fn unknown_job(id: &str) -> GatewayError {
    GatewayError::NotFound(format!(
        "No job `{id}` is known. It may have expired (results are kept for nats.results_max_age_s), or the id is wrong."
    ))
}

/// The key that submitted a job, from its `received` event.
pub fn owner(events: &[schemas::Event]) -> Option<&str> {
    events
        .iter()
        .find(|e| e.kind == EventKind::Received)
        .and_then(|e| e.detail.key_id.as_deref())
}

/// `GET /v1/jobs/{id}`.
pub async fn get_job(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let out = async {
        check_id(&id)?;
        if let Some(r) = stored_result(&st, &id).await? {
            if !caller.sees(r.key_id.as_deref()) {
                return Err(unknown_job(&id));
            }
            return Ok(Json(JobView::finished(&r)).into_response());
        }
        let events = job_events(&st, &id, 256).await?;
        let Some(last) = events.iter().max_by_key(|e| e.ts_ms) else {
            return Err(unknown_job(&id));
        };
        if !caller.sees(owner(&events)) {
            return Err(unknown_job(&id));
        }
        // Events of one job come from several processes and may land out of order: the
        // job is as far along as its most advanced event says.
        let running = events
            .iter()
            .any(|e| e.kind.state() == Some(JobState::Running));
        let status = if running {
            JobState::Running
        } else {
            JobState::Queued
        };
        let model = events
            .iter()
            .find(|e| e.kind == EventKind::Received)
            .and_then(|e| e.detail.model.clone());
        Ok(Json(JobView {
            model,
            last_event: Some(last.kind),
            updated_at_ms: Some(last.ts_ms),
            ..JobView::new(&id, status)
        })
        .into_response())
    }
    .await;
    respond(Shape::OpenAi, &id, out.map(|r| (id.clone(), r)))
}
