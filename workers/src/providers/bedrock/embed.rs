//! Embeddings through `InvokeModel` with the Amazon Titan Text Embeddings body
//! (`{"inputText","dimensions"}` -> `{"embedding","inputTextTokenCount"}`), one call per input.

use crate::error::{ErrorKind, ProviderError};
use schemas::openai::{Embedding, EmbeddingsRequest, EmbeddingsResponse, EmbeddingsUsage};
use serde::{Deserialize, Serialize};

/// A Titan embeddings request.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TitanRequest<'a> {
    /// The text.
    pub input_text: &'a str,
    /// Output dimensions (256, 512 or 1024 for Titan v2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
}

/// A Titan embeddings answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TitanResponse {
    /// The vector.
    pub embedding: Vec<f64>,
    /// Input tokens.
    #[serde(default)]
    pub input_text_token_count: u64,
}

/// The input texts, or why the request cannot be served.
pub fn inputs(provider: &str, req: &EmbeddingsRequest) -> Result<Vec<String>, ProviderError> {
    let bad = |kind, m: &str| Err(ProviderError::new(kind, provider, m.to_string()));
    if !req.model.starts_with("amazon.titan-embed") && req.model.contains('.') {
        return bad(
            ErrorKind::Unsupported,
            "the bedrock adapter embeds with Amazon Titan Text Embeddings only; use an amazon.titan-embed-* model id",
        );
    }
    if req.encoding_format.as_deref().is_some_and(|f| f != "float") {
        return bad(
            ErrorKind::BadRequest,
            "Bedrock embeddings are returned as floats only; omit encoding_format or set it to `float`",
        );
    }
    let texts = req.input.texts();
    if texts.is_empty() {
        return bad(
            ErrorKind::BadRequest,
            "input is empty; send at least one text to embed",
        );
    }
    Ok(texts)
}

/// The OpenAI answer from one Titan answer per input.
pub fn to_openai(model: &str, answers: Vec<TitanResponse>) -> EmbeddingsResponse {
    let tokens: u64 = answers.iter().map(|a| a.input_text_token_count).sum();
    EmbeddingsResponse {
        object: "list".into(),
        data: answers
            .into_iter()
            .enumerate()
            .map(|(i, a)| Embedding {
                object: "embedding".into(),
                index: i as u32,
                embedding: serde_json::Value::from(a.embedding),
            })
            .collect(),
        model: model.to_string(),
        usage: EmbeddingsUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
            extra: Default::default(),
        },
        extra: Default::default(),
    }
}
