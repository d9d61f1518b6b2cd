//! `POST /v1/chat/completions` (sync, streaming and queued) and `POST /v1/jobs` (queued).

use crate::endpoint::{Endpoint, Prepared};
use crate::error::GatewayError;
use crate::sse::{self, OpenAiFrames};
use axum::body::Bytes;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use schemas::openai::{ChatRequest, ChatResponse};
use schemas::{Mode, Operation};
use serde_json::value::RawValue;

/// The largest `n` OpenAI accepts.
pub const MAX_N: i64 = 128;

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
    if let Some(n) = req.extra.get("n").filter(|n| !n.is_null()) {
        if !n.as_i64().is_some_and(|n| (1..=MAX_N).contains(&n)) {
            return Err(GatewayError::bad_request(
                format!("n must be a whole number from 1 to {MAX_N}, got {n}."),
                Some("n"),
            ));
        }
    }
    Ok(())
}

/// The JSON answer of a completion.
pub fn json_answer(body: &RawValue) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.get().to_string(),
    )
        .into_response()
}

/// `POST /v1/chat/completions`.
pub struct Chat;

impl Endpoint for Chat {
    type Request = ChatRequest;
    type Response = ChatResponse;
    type Ctx = ();
    type Frames = OpenAiFrames;
    const PATH: &'static str = "/v1/chat/completions";
    const OP: Operation = Operation::Chat;
    const STREAMS: bool = true;
    const SUMMARY: &'static str = "A chat completion: JSON, a stream of server-sent events (`stream: true`), or queued (`X-Switchyard-Mode: queued`, answering 202 with the job id).";

    fn prepare(req: ChatRequest, raw: &Bytes) -> Result<Prepared<()>, GatewayError> {
        validate_chat(&req)?;
        Ok(Prepared {
            stream: req.stream.unwrap_or(false),
            model: req.model,
            body: raw.clone(),
            ctx: (),
        })
    }

    fn frames(_: &()) -> OpenAiFrames {
        OpenAiFrames
    }

    fn answer(_: &(), body: Box<RawValue>, mode: Mode) -> Result<Response, GatewayError> {
        if mode == Mode::Stream {
            return Ok(sse::replay_completion(body.get()));
        }
        Ok(json_answer(&body))
    }
}

/// `POST /v1/jobs`: a chat body, always queued.
pub struct Jobs;

impl Endpoint for Jobs {
    type Request = ChatRequest;
    type Response = crate::jobs::JobView;
    type Ctx = ();
    type Frames = OpenAiFrames;
    const PATH: &'static str = "/v1/jobs";
    const OP: Operation = Operation::Chat;
    const MODE: Option<Mode> = Some(Mode::Queued);
    const SUMMARY: &'static str = "A chat completion run queued: answers 202 with the job id; poll GET /v1/jobs/{id} or subscribe to sy.results.<id> on NATS.";

    fn prepare(req: ChatRequest, raw: &Bytes) -> Result<Prepared<()>, GatewayError> {
        Chat::prepare(req, raw)
    }

    fn frames(_: &()) -> OpenAiFrames {
        OpenAiFrames
    }

    fn answer(_: &(), body: Box<RawValue>, _: Mode) -> Result<Response, GatewayError> {
        Ok(json_answer(&body))
    }
}
