//! `POST /v1/jobs/{id}/cancel`: cancels a queued or running job.

use crate::auth::Caller;
use crate::endpoint::{respond, Shape};
use crate::job::guards::request_cancel;
use crate::job::wait::{job_events, stored_result, Waiter};
use crate::jobs::{check_id, owner, unknown_job, JobView};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use schemas::JobState;
use std::time::Duration;

/// Cancels a queued or running job and answers with its final state (or `202` when it has
/// not stopped within a few seconds); `409` with the result when it had already finished.
pub async fn cancel_job(
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
            let v = JobView {
                message: Some("The job had already finished; nothing was cancelled.".into()),
                ..JobView::finished(&r)
            };
            return Ok((StatusCode::CONFLICT, Json(v)).into_response());
        }
        let events = job_events(&st, &id, 256).await?;
        if events.is_empty() || !caller.sees(owner(&events)) {
            return Err(unknown_job(&id));
        }
        let mut w = Waiter::subscribe_stored(&st, &id).await?;
        request_cancel(&st, &id).await?;
        match w.result(&st, Duration::from_secs(5)).await {
            Some(r) => Ok(Json(JobView::finished(&r)).into_response()),
            None => {
                let v = JobView {
                    id: id.clone(),
                    object: "job".into(),
                    status: None,
                    url: format!("/v1/jobs/{id}"),
                    message: Some(format!(
                        "Cancelling: the job has not stopped yet; poll /v1/jobs/{id} (state {:?} until then).",
                        JobState::Running
                    )),
                    ..Default::default()
                };
                Ok((StatusCode::ACCEPTED, Json(v)).into_response())
            }
        }
    }
    .await;
    respond(Shape::OpenAi, &id, out.map(|r| (id.clone(), r)))
}
