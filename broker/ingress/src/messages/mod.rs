//! The Anthropic-compatible front door: `POST /v1/messages` (sync and `stream: true`) and
//! `POST /v1/messages/count_tokens`, so tools built on the Anthropic SDK can use any
//! provider behind the gateway.
//!
//! A request is translated into an OpenAI chat request and runs as an ordinary chat job
//! (the job body is OpenAI-shaped, so workers and adapters need nothing new); the result is
//! translated back into a `message`, and a stream's chunks into Anthropic events. Errors use
//! the Anthropic shape `{"type":"error","error":{"type","message"}}` with the gateway's
//! status. `X-Switchyard-Mode: queued` answers `202` with the job id, as on the chat route.

mod events;
mod request;
mod response;

use super::chat::{delivered, submit, validate_chat, Outcome};
use super::sse::{self, Relay};
use super::submit::{parse, read_body, Submission};
use super::{AppState, JobId, JOB_ID_HEADER};
use crate::error::GatewayError;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use schemas::anthropic::{error_type_for_status, ErrorResponse, MessagesRequest};
use schemas::openai::{ChatRequest, ChatResponse};
use schemas::{JobResult, Mode, Operation};
use tokio::sync::mpsc;

/// The Anthropic error body of a gateway error.
pub fn error_body(e: &GatewayError) -> ErrorResponse {
    let kind = match e {
        GatewayError::Unavailable(_) | GatewayError::Internal(_) => "api_error",
        _ => error_type_for_status(e.status_code().as_u16()),
    };
    ErrorResponse::new(kind, e.to_string())
}

/// Sets the job id header, and answers errors in the Anthropic shape.
fn respond(request_job: &str, out: Result<(String, Response), GatewayError>) -> Response {
    let (id, mut resp) = match out {
        Ok(ok) => ok,
        Err(e) => {
            let id = e.job_id().unwrap_or(request_job).to_string();
            (id, (e.status_code(), Json(error_body(&e))).into_response())
        }
    };
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(JOB_ID_HEADER, v);
    }
    resp
}

/// Parses and translates a body, and builds its job.
fn submission(
    st: &AppState,
    id: String,
    op: Operation,
    bytes: &Bytes,
    headers: &HeaderMap,
) -> Result<(Submission, String), GatewayError> {
    let areq: MessagesRequest = parse(bytes)?;
    let model = areq.model.clone();
    let stream = op == Operation::Chat && areq.stream == Some(true);
    let chat: ChatRequest = request::to_chat(areq, op == Operation::Chat)?;
    validate_chat(&chat)?;
    let body = serde_json::to_vec(&chat).map_err(|e| GatewayError::Internal(e.to_string()))?;
    let sub = Submission::for_model(
        st,
        id,
        op,
        chat.model,
        stream,
        None,
        &Bytes::from(body),
        headers,
    )?;
    Ok((sub, model))
}

/// `POST /v1/messages`.
pub async fn messages(
    State(st): State<AppState>,
    Extension(JobId(id)): Extension<JobId>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let job_id = id.clone();
    let out = async {
        let bytes = read_body(body, st.cfg().server.max_body_bytes).await?;
        let (sub, model) = submission(&st, id, Operation::Chat, &bytes, &headers)?;
        let mode = sub.job.mode;
        let (id, outcome) = submit(&st, &sub).await?;
        let resp = match outcome {
            Outcome::Accepted(resp) => resp,
            Outcome::Finished(r) => answer(&st, *r, mode, &model).await?,
            Outcome::Streaming(w, guards) => {
                let frames = events::AnthropicFrames::new(model.clone());
                match sse::relay(st.clone(), id.clone(), w, sub.timeout_ms, guards, frames).await? {
                    Relay::Streaming(resp) => resp,
                    Relay::Finished(r) => answer(&st, *r, mode, &model).await?,
                }
            }
        };
        Ok::<_, GatewayError>((id, resp))
    }
    .await;
    respond(&job_id, out)
}

/// A finished chat job as a `message`, or as the whole event stream.
async fn answer(
    st: &AppState,
    r: JobResult,
    mode: Mode,
    model: &str,
) -> Result<Response, GatewayError> {
    let body = delivered(st, r).await?;
    let resp: ChatResponse = serde_json::from_str(body.get()).map_err(|e| {
        GatewayError::Internal(format!("the job's response is not a chat completion: {e}"))
    })?;
    if mode == Mode::Stream {
        let frames = events::replay(&resp, model);
        let (tx, rx) = mpsc::channel::<Bytes>(frames.len().max(1));
        for f in frames {
            let _ = tx.try_send(f);
        }
        return Ok(sse::sse_response(rx));
    }
    Ok(Json(response::to_message(&resp, model)).into_response())
}

/// `POST /v1/messages/count_tokens`: a job of its own operation; providers that cannot
/// count answer 400 (`unsupported`).
pub async fn count_tokens(
    State(st): State<AppState>,
    Extension(JobId(id)): Extension<JobId>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let job_id = id.clone();
    let out = async {
        let bytes = read_body(body, st.cfg().server.max_body_bytes).await?;
        let (sub, _) = submission(&st, id, Operation::CountTokens, &bytes, &headers)?;
        let (id, outcome) = submit(&st, &sub).await?;
        let resp = match outcome {
            Outcome::Accepted(resp) => resp,
            Outcome::Finished(r) => {
                let body = delivered(&st, *r).await?;
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    body.get().to_string(),
                )
                    .into_response()
            }
            Outcome::Streaming(..) => {
                return Err(GatewayError::Internal(
                    "count_tokens does not stream".into(),
                ))
            }
        };
        Ok::<_, GatewayError>((id, resp))
    }
    .await;
    respond(&job_id, out)
}
