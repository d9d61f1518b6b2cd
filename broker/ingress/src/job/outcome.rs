//! From a submission to what its job came to: published, then waited for as its mode asks.

use super::guards::Guards;
use super::publish::{publish, Submitted};
use super::submission::Submission;
use super::wait::{stored_result, Waiter};
use crate::error::GatewayError;
use crate::state::AppState;
use schemas::{EventDetail, EventKind, JobResult, JobState, Mode};
use serde_json::value::RawValue;
use std::time::Duration;

/// What a published job came to, before it becomes an HTTP answer in some API's shape.
pub enum Outcome {
    /// Queued (or batch): answer `202` with the job id.
    Accepted,
    /// The job's result: a sync job, or an idempotent resubmit of a finished one.
    Finished(Box<JobResult>),
    /// A streaming job whose chunks are on their way, with its guards for the relay.
    Streaming(Waiter, Guards),
}

/// Publishes the job and waits for it as its mode asks. Returns the job id (the earlier
/// job's on an idempotent resubmit) and the outcome.
pub async fn submit(st: &AppState, sub: &Submission) -> Result<(String, Outcome), GatewayError> {
    let mode = sub.job.mode;
    let id = sub.job.id.clone();
    let waiter = match mode {
        Mode::Sync | Mode::Stream => match Waiter::subscribe(st, &id, mode == Mode::Stream).await {
            Ok(w) => Some(w),
            Err(e) => {
                // Admitted but never published: what the key reserved comes back.
                crate::auth::limits::release(st, &sub.job).await;
                return Err(e);
            }
        },
        Mode::Queued | Mode::Batch => None,
    };
    if let Submitted::Duplicate(existing) = publish(st, sub).await? {
        tracing::info!(job_id = %existing, "idempotent resubmit: answering with the existing job");
        drop(waiter);
        return duplicate(st, existing, mode, sub.timeout_ms).await;
    }
    let Some(mut w) = waiter else {
        return Ok((id, Outcome::Accepted));
    };
    let provider = sub
        .job
        .route
        .first()
        .map(|t| t.provider.as_str())
        .unwrap_or("");
    let guards = Guards::new(st, &id, provider);
    if mode == Mode::Stream && w.chunks.is_some() {
        return Ok((id, Outcome::Streaming(w, guards)));
    }
    let out = match w.result(st, Duration::from_millis(sub.timeout_ms)).await {
        Some(r) => Ok((id, Outcome::Finished(Box::new(r)))),
        None => Err(GatewayError::Timeout {
            job_id: id,
            timeout_ms: sub.timeout_ms,
        }),
    };
    // Answered (or timed out): the client is still there, nothing to cancel.
    guards.disarm();
    out
}

/// Answers a resubmit whose idempotency key matched the job `id`: with its result (waiting
/// for it when needed) or, when queued, with its id.
async fn duplicate(
    st: &AppState,
    id: String,
    mode: Mode,
    timeout_ms: u64,
) -> Result<(String, Outcome), GatewayError> {
    if matches!(mode, Mode::Queued | Mode::Batch) {
        return Ok((id, Outcome::Accepted));
    }
    let mut w = Waiter::subscribe_stored(st, &id).await?;
    let r = match stored_result(st, &id).await? {
        Some(r) => Some(r),
        None => w.result(st, Duration::from_millis(timeout_ms)).await,
    };
    match r {
        Some(r) => Ok((id, Outcome::Finished(Box::new(r)))),
        None => Err(GatewayError::Timeout {
            job_id: id,
            timeout_ms,
        }),
    }
}

/// Emits `delivered` for a finished job (named with its key).
pub async fn emit_delivered(st: &AppState, r: &JobResult) {
    let detail = EventDetail {
        key_id: r.key_id.clone(),
        ..Default::default()
    };
    st.events().emit(&r.id, EventKind::Delivered, detail).await;
}

/// Emits `delivered` for a finished job and hands back its response body, or its error.
pub async fn delivered(st: &AppState, r: JobResult) -> Result<Box<RawValue>, GatewayError> {
    emit_delivered(st, &r).await;
    if r.status != JobState::Completed {
        return Err(GatewayError::Job(Box::new(
            r.error.clone().unwrap_or_else(|| missing_error(&r)),
        )));
    }
    r.response
        .ok_or_else(|| GatewayError::Internal(format!("job {} completed without a response", r.id)))
}

/// An error for a failed result that carries none.
pub fn missing_error(r: &JobResult) -> schemas::JobError {
    schemas::JobError {
        status: 500,
        error: schemas::openai::ErrorBody::new(
            "api_error",
            format!("job {} ended as {:?} without an error", r.id, r.status),
        ),
        retryable: false,
        kind: Some("internal".into()),
        retry_after_ms: None,
    }
}
