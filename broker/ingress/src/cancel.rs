//! Cancellation: `POST /v1/jobs/{id}/cancel`, and cancelling the job of a client that went away.

use super::chat::respond;
use super::jobs::result_view;
use super::wait::{job_events, stored_result, Waiter};
use super::AppState;
use crate::error::{unavailable, GatewayError};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::time::Duration;

/// Puts the job id in the cancel bucket that every worker watches.
pub async fn request_cancel(st: &AppState, id: &str) -> Result<(), GatewayError> {
    st.topo()
        .cancel
        .put(id, bytes::Bytes::from_static(b"1"))
        .await
        .map_err(unavailable)?;
    Ok(())
}

/// Cancels the job of a waiting request when the request is dropped (the client went away)
/// before it was disarmed.
pub struct CancelOnDrop {
    st: Option<AppState>,
    id: String,
}

impl CancelOnDrop {
    /// Armed for `id`.
    pub fn new(st: &AppState, id: &str) -> Self {
        Self {
            st: Some(st.clone()),
            id: id.to_string(),
        }
    }
    /// The request was answered: nothing to cancel.
    pub fn disarm(mut self) {
        self.st = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(st) = self.st.take() {
            let id = std::mem::take(&mut self.id);
            tracing::info!(job_id = %id, "client disconnected: cancelling its job");
            tokio::spawn(async move {
                if let Err(e) = request_cancel(&st, &id).await {
                    tracing::warn!(job_id = %id, error = %e, "cannot cancel the job of a disconnected client");
                }
            });
        }
    }
}

/// What a waiting request holds: cancels the job if the client goes away, counts it in
/// flight on its provider meanwhile.
pub struct Guards {
    cancel: CancelOnDrop,
    _in_flight: crate::targets::InFlight,
}

impl Guards {
    /// Armed for job `id` on `provider`.
    pub fn new(st: &AppState, id: &str, provider: &str) -> Self {
        Self {
            cancel: CancelOnDrop::new(st, id),
            _in_flight: st.health().start(provider),
        }
    }
    /// The request ended with the client still there.
    pub fn disarm(self) {
        self.cancel.disarm();
    }
}

/// `POST /v1/jobs/{id}/cancel`: cancels a queued or running job and answers with its final
/// state (or `202` when it has not stopped within a few seconds).
pub async fn cancel_job(State(st): State<AppState>, Path(id): Path<String>) -> Response {
    let out = async {
        if uuid::Uuid::parse_str(&id).is_err() {
            return Err(GatewayError::bad_request(
                format!("`{id}` is not a job id."),
                Some("id"),
            ));
        }
        if let Some(r) = stored_result(&st, &id).await? {
            let mut v = result_view(&r);
            v["message"] = json!("The job had already finished; nothing was cancelled.");
            return Ok((StatusCode::CONFLICT, Json(v)).into_response());
        }
        if job_events(&st, &id, 1).await?.is_empty() {
            return Err(GatewayError::NotFound(format!("No job `{id}` is known.")));
        }
        let mut w = Waiter::subscribe(&st, &id, false).await?;
        request_cancel(&st, &id).await?;
        match w.result(&st, Duration::from_secs(5)).await {
            Some(r) => Ok(Json(result_view(&r)).into_response()),
            None => Ok((
                StatusCode::ACCEPTED,
                Json(json!({"id": id, "object": "job", "status": "cancelling"})),
            )
                .into_response()),
        }
    }
    .await;
    respond(&id, out.map(|r| (id.clone(), r)))
}
