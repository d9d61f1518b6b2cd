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

use crate::chat::{json_answer, validate_chat};
use crate::endpoint::{Endpoint, Prepared, Shape};
use crate::error::GatewayError;
use crate::sse;
use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use axum::Json;
use schemas::anthropic::{
    error_type_for_status, CountTokensResponse, ErrorResponse, MessagesRequest, MessagesResponse,
};
use schemas::openai::ChatResponse;
use schemas::{Mode, Operation};
use serde_json::value::RawValue;
use tokio::sync::mpsc;

pub use events::AnthropicFrames;

/// The Anthropic error body of a gateway error.
pub fn error_body(e: &GatewayError) -> ErrorResponse {
    let kind = match e {
        GatewayError::Unavailable(_) | GatewayError::Internal(_) => "api_error",
        _ => error_type_for_status(e.status_code().as_u16()),
    };
    ErrorResponse::new(kind, e.to_string())
}

/// A gateway error as an Anthropic error answer.
pub fn error_response(e: GatewayError) -> Response {
    let mut resp = (e.status_code(), Json(error_body(&e))).into_response();
    e.decorate(&mut resp);
    resp
}

/// Translates an Anthropic request into the OpenAI chat body a job carries.
fn prepare(areq: MessagesRequest, messages: bool) -> Result<Prepared<String>, GatewayError> {
    let model = areq.model.clone();
    let stream = messages && areq.stream == Some(true);
    let chat = request::to_chat(areq, messages)?;
    validate_chat(&chat)?;
    let body = serde_json::to_vec(&chat).map_err(|e| GatewayError::Internal(e.to_string()))?;
    Ok(Prepared {
        model: chat.model,
        stream,
        body: Bytes::from(body),
        ctx: model,
    })
}

/// `POST /v1/messages`.
pub struct Messages;

impl Endpoint for Messages {
    type Request = MessagesRequest;
    type Response = MessagesResponse;
    /// The model name the client asked for.
    type Ctx = String;
    type Frames = AnthropicFrames;
    const PATH: &'static str = "/v1/messages";
    const OP: Operation = Operation::Chat;
    const SHAPE: Shape = Shape::Anthropic;
    const STREAMS: bool = true;
    const SUMMARY: &'static str = "The Anthropic Messages API in front of any provider: JSON, or Anthropic's event stream (`stream: true`).";

    fn prepare(req: MessagesRequest, _: &Bytes) -> Result<Prepared<String>, GatewayError> {
        prepare(req, true)
    }

    fn frames(model: &String) -> AnthropicFrames {
        AnthropicFrames::new(model.clone())
    }

    fn answer(model: &String, body: Box<RawValue>, mode: Mode) -> Result<Response, GatewayError> {
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
}

/// `POST /v1/messages/count_tokens`: a job of its own operation; providers that cannot
/// count answer 400 (`unsupported`).
pub struct CountTokens;

impl Endpoint for CountTokens {
    type Request = MessagesRequest;
    type Response = CountTokensResponse;
    type Ctx = String;
    type Frames = AnthropicFrames;
    const PATH: &'static str = "/v1/messages/count_tokens";
    const OP: Operation = Operation::CountTokens;
    const SHAPE: Shape = Shape::Anthropic;
    const SUMMARY: &'static str =
        "Counts the input tokens of a Messages request (providers that can count: anthropic).";

    fn prepare(req: MessagesRequest, _: &Bytes) -> Result<Prepared<String>, GatewayError> {
        prepare(req, false)
    }

    fn frames(model: &String) -> AnthropicFrames {
        AnthropicFrames::new(model.clone())
    }

    fn answer(_: &String, body: Box<RawValue>, _: Mode) -> Result<Response, GatewayError> {
        Ok(json_answer(&body))
    }
}
