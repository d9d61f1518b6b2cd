//! `POST /v1/embeddings`: sync, or queued with `X-Switchyard-Mode: queued`.

use super::chat::{respond, run};
use super::submit::{parse, read_body, Submission};
use super::{AppState, JobId};
use crate::error::GatewayError;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use schemas::openai::{EmbeddingInput, EmbeddingsRequest};
use schemas::Operation;

const INPUT_HELP: &str = "Send `input` as a non-empty string, an array of non-empty strings, or token arrays, e.g. {\"model\":\"mock/embed\",\"input\":\"hello\"}.";

/// Parses and checks an embeddings body.
pub fn parse_embeddings(bytes: &[u8]) -> Result<EmbeddingsRequest, GatewayError> {
    let raw: serde_json::Value = parse(bytes)?;
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

/// The handler.
pub async fn embeddings(
    State(st): State<AppState>,
    Extension(JobId(id)): Extension<JobId>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let job_id = id.clone();
    let out = async {
        let bytes = read_body(body, st.cfg().server.max_body_bytes).await?;
        let req = parse_embeddings(&bytes)?;
        let sub = Submission::for_model(
            &st,
            id,
            Operation::Embeddings,
            req.model,
            false,
            None,
            &bytes,
            &headers,
        )?;
        run(&st, sub).await
    }
    .await;
    respond(&job_id, out)
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
