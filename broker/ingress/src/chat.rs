//! `POST /v1/chat/completions`: sync, streaming and queued chat.

use super::cancel::Guards;
use super::submit::{parse, publish, read_body, Submission, Submitted};
use super::wait::{stored_result, Waiter};
use super::{jobs, sse, AppState, JobId, JOB_ID_HEADER};
use crate::error::GatewayError;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use schemas::openai::ChatRequest;
use schemas::{EventDetail, EventKind, JobResult, JobState, Mode, Operation};
use serde_json::value::RawValue;
use std::time::Duration;

/// Checks what serde cannot.
pub fn validate_chat(req: &ChatRequest) -> Result<(), GatewayError> {
    if req.messages.is_empty() {
        return Err(GatewayError::bad_request(
            "`messages` is empty. Send at least one message, e.g. [{\"role\":\"user\",\"content\":\"hi\"}].",
            Some("messages"),
        ));
    }
    if let Some((i, _)) = req
        .messages
        .iter()
        .enumerate()
        .find(|(_, m)| m.role.is_empty())
    {
        return Err(GatewayError::bad_request(
            format!("messages[{i}].role is empty; use system, user, assistant or tool."),
            Some(&format!("messages[{i}].role")),
        ));
    }
    Ok(())
}

/// The handler of `POST /v1/chat/completions`.
pub async fn chat_completions(
    State(st): State<AppState>,
    Extension(JobId(id)): Extension<JobId>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    submit_chat(&st, id, &headers, body, None).await
}

/// Validates a chat body and runs it as a job: in `mode` when given, else in the mode the
/// request asks for (`stream`, `X-Switchyard-Mode`).
pub async fn submit_chat(
    st: &AppState,
    id: String,
    headers: &HeaderMap,
    body: Body,
    mode: Option<Mode>,
) -> Response {
    let job_id = id.clone();
    let out = async {
        let bytes = read_body(body, st.cfg().server.max_body_bytes).await?;
        let req: ChatRequest = parse(&bytes)?;
        validate_chat(&req)?;
        let stream = req.stream.unwrap_or(false);
        let sub = Submission::for_model(
            st,
            id,
            Operation::Chat,
            req.model,
            stream,
            mode,
            &bytes,
            headers,
        )?;
        run(st, sub).await
    }
    .await;
    respond(&job_id, out)
}

/// Sets the job id header on the handler's outcome (the id may differ from the request's
/// own when an idempotency key matched an earlier job).
pub fn respond(request_job: &str, out: Result<(String, Response), GatewayError>) -> Response {
    let (id, mut resp) = match out {
        Ok((id, resp)) => (id, resp),
        Err(e) => (
            e.job_id().unwrap_or(request_job).to_string(),
            e.into_response(),
        ),
    };
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(JOB_ID_HEADER, v);
    }
    resp
}

/// What a published job came to, before it becomes an HTTP answer in some API's shape.
pub enum Outcome {
    /// Queued (or batch): the `202` answer with the job id.
    Accepted(Response),
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
        Mode::Sync | Mode::Stream => Some(Waiter::subscribe(st, &id, mode == Mode::Stream).await?),
        Mode::Queued | Mode::Batch => None,
    };
    if let Submitted::Duplicate(existing) = publish(st, sub).await? {
        tracing::info!(job_id = %existing, "idempotent resubmit: answering with the existing job");
        drop(waiter);
        return duplicate(st, existing, mode, sub.timeout_ms, &sub.job.model).await;
    }
    let Some(mut w) = waiter else {
        return Ok((
            id.clone(),
            Outcome::Accepted(jobs::accepted(&id, &sub.job.model)),
        ));
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

/// Publishes the job and answers in its mode. Returns the job id and the response.
pub async fn run(st: &AppState, sub: Submission) -> Result<(String, Response), GatewayError> {
    let mode = sub.job.mode;
    let (id, outcome) = submit(st, &sub).await?;
    let resp = match outcome {
        Outcome::Accepted(resp) => resp,
        Outcome::Finished(r) => finish(st, *r, mode).await?,
        Outcome::Streaming(w, guards) => {
            match sse::relay(
                st.clone(),
                id.clone(),
                w,
                sub.timeout_ms,
                guards,
                sse::OpenAiFrames,
            )
            .await?
            {
                sse::Relay::Streaming(resp) => resp,
                sse::Relay::Finished(r) => finish(st, *r, mode).await?,
            }
        }
    };
    Ok((id, resp))
}

/// Answers a resubmit whose idempotency key matched the job `id`: with its result (waiting
/// for it when needed) or, when queued, with its id.
async fn duplicate(
    st: &AppState,
    id: String,
    mode: Mode,
    timeout_ms: u64,
    model: &str,
) -> Result<(String, Outcome), GatewayError> {
    if matches!(mode, Mode::Queued | Mode::Batch) {
        return Ok((id.clone(), Outcome::Accepted(jobs::accepted(&id, model))));
    }
    let mut w = Waiter::subscribe(st, &id, false).await?;
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

/// Emits `delivered` for a finished job and hands back its response body, or its error.
pub async fn delivered(st: &AppState, r: JobResult) -> Result<Box<RawValue>, GatewayError> {
    st.events()
        .emit(&r.id, EventKind::Delivered, EventDetail::default())
        .await;
    if r.status != JobState::Completed {
        return Err(GatewayError::Job(
            r.error.clone().unwrap_or_else(|| jobs::missing_error(&r)),
        ));
    }
    r.response
        .ok_or_else(|| GatewayError::Internal(format!("job {} completed without a response", r.id)))
}

/// The HTTP answer for a finished job, emitting `delivered`.
pub async fn finish(st: &AppState, r: JobResult, mode: Mode) -> Result<Response, GatewayError> {
    let body = delivered(st, r).await?;
    if mode == Mode::Stream {
        return Ok(sse::replay_completion(body.get()));
    }
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.get().to_string(),
    )
        .into_response())
}
