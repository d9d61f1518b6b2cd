//! `POST /v1/embeddings`: sync, or queued with `X-Switchyard-Mode: queued`.

use crate::chat::json_answer;
use crate::endpoint::{Endpoint, Prepared};
use crate::error::GatewayError;
use crate::sse::OpenAiFrames;
use axum::body::Bytes;
use axum::response::Response;
use schemas::openai::{EmbeddingInput, EmbeddingsRequest, EmbeddingsResponse};
use schemas::{Mode, Operation};
use serde_json::value::RawValue;

const INPUT_HELP: &str = "Send `input` as a non-empty string, an array of non-empty strings, or token arrays, e.g. {\"model\":\"mock/embed\",\"input\":\"hello\"}.";

/// Parses and checks an embeddings body.
pub fn parse_embeddings(bytes: &[u8]) -> Result<EmbeddingsRequest, GatewayError> {
    let raw: serde_json::Value = crate::body::parse(bytes)?;
    match raw.get("input") {
        None | Some(serde_json::Value::Null) => {
            return Err(GatewayError::bad_request(
                format!("`input` is missing. {INPUT_HELP}"),
                Some("input"),
            ))
        }
        Some(_) => {}
    }
    let req: EmbeddingsRequest = serde_json::from_value(raw).map_err(|e| {
        let input_bad = e.to_string().contains("EmbeddingInput");
        GatewayError::bad_request(
            if input_bad {
                format!("`input` has the wrong type. {INPUT_HELP}")
            } else {
                format!(
                    "The request body does not match the API: {e}. Fix the body and send it again."
                )
            },
            input_bad.then_some("input"),
        )
    })?;
    validate_embeddings(&req)?;
    Ok(req)
}

/// Checks what serde cannot: no empty input.
pub fn validate_embeddings(req: &EmbeddingsRequest) -> Result<(), GatewayError> {
    let empty = match &req.input {
        EmbeddingInput::Text(t) => t.is_empty(),
        EmbeddingInput::Texts(v) => v.is_empty() || v.iter().any(String::is_empty),
        EmbeddingInput::Tokens(t) => t.is_empty(),
        EmbeddingInput::TokenLists(v) => v.is_empty() || v.iter().any(Vec::is_empty),
    };
    if empty {
        return Err(GatewayError::bad_request(
            format!("`input` is empty or contains an empty item. {INPUT_HELP}"),
            Some("input"),
        ));
    }
    Ok(())
}

/// `POST /v1/embeddings`.
pub struct Embeddings;

impl Endpoint for Embeddings {
    type Request = EmbeddingsRequest;
    type Response = EmbeddingsResponse;
    type Ctx = ();
    type Frames = OpenAiFrames;
    const PATH: &'static str = "/v1/embeddings";
    const OP: Operation = Operation::Embeddings;
    const SUMMARY: &'static str =
        "Embeddings of one input or several: sync, or queued with `X-Switchyard-Mode: queued`.";

    fn parse(bytes: &[u8]) -> Result<EmbeddingsRequest, GatewayError> {
        parse_embeddings(bytes)
    }

    fn prepare(req: EmbeddingsRequest, raw: &Bytes) -> Result<Prepared<()>, GatewayError> {
        Ok(Prepared {
            model: req.model,
            stream: false,
            body: raw.clone(),
            ctx: (),
        })
    }

    fn frames(_: &()) -> OpenAiFrames {
        OpenAiFrames
    }

    fn answer(_: &(), body: Box<RawValue>, _: Mode) -> Result<Response, GatewayError> {
        Ok(json_answer(&body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(body: &str) -> Option<String> {
        match parse_embeddings(body.as_bytes()) {
            Err(GatewayError::BadRequest { param, .. }) => param,
            other => Some(format!("not a 400: {other:?}")),
        }
    }

    #[test]
    fn bad_inputs_name_the_input_field() {
        for body in [
            r#"{"model":"m"}"#,
            r#"{"model":"m","input":null}"#,
            r#"{"model":"m","input":""}"#,
            r#"{"model":"m","input":[]}"#,
            r#"{"model":"m","input":["a",""]}"#,
            r#"{"model":"m","input":[[]]}"#,
            r#"{"model":"m","input":42}"#,
        ] {
            assert_eq!(param(body).as_deref(), Some("input"), "{body}");
        }
        assert!(parse_embeddings(br#"{"model":"m","input":["a","b"],"dimensions":8}"#).is_ok());
        assert!(parse_embeddings(br#"{"model":"m","input":[1,2,3]}"#).is_ok());
    }
}
