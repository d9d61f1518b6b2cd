//! Embeddings: `embedContent` for one input, `batchEmbedContents` for several.

use super::wire::*;
use crate::error::{ErrorKind, ProviderError};
use schemas::openai::{Embedding, EmbeddingsRequest, EmbeddingsResponse, EmbeddingsUsage};

/// The input texts; only `float` output is supported.
pub fn inputs(provider: &str, req: &EmbeddingsRequest) -> Result<Vec<String>, ProviderError> {
    if req.encoding_format.as_deref().is_some_and(|f| f != "float") {
        return Err(ProviderError::new(
            ErrorKind::BadRequest,
            provider,
            "Gemini embeddings are returned as floats only; omit encoding_format or set it to `float`",
        ));
    }
    let texts = req.input.texts();
    if texts.is_empty() {
        return Err(ProviderError::new(
            ErrorKind::BadRequest,
            provider,
            "input is empty; send at least one text to embed",
        ));
    }
    Ok(texts)
}

fn request(model: &str, text: &str, dims: Option<u32>) -> EmbedRequest {
    EmbedRequest {
        model: format!("models/{model}"),
        content: Content {
            role: None,
            parts: vec![Part {
                text: Some(text.to_string()),
                ..Default::default()
            }],
        },
        output_dimensionality: dims,
    }
}

/// An `embedContent` body.
pub fn one(model: &str, text: &str, dims: Option<u32>) -> EmbedRequest {
    request(model, text, dims)
}

/// A `batchEmbedContents` body.
pub fn batch(model: &str, texts: &[String], dims: Option<u32>) -> BatchEmbedRequest {
    BatchEmbedRequest {
        requests: texts.iter().map(|t| request(model, t, dims)).collect(),
    }
}

/// The OpenAI answer. The usage is Gemini's `usageMetadata.promptTokenCount` when the
/// answer has one; the Gemini API does not report counts for embeddings today, and then it
/// is an estimate (one token per four bytes of input) marked `usage.estimated: true`.
pub fn to_openai(
    provider: &str,
    model: &str,
    texts: &[String],
    vectors: Vec<Vec<f64>>,
    reported: Option<u64>,
) -> Result<EmbeddingsResponse, ProviderError> {
    if vectors.len() != texts.len() {
        return Err(ProviderError::new(
            ErrorKind::Decode,
            provider,
            format!(
                "Gemini returned {} embeddings for {} inputs; retry the request",
                vectors.len(),
                texts.len()
            ),
        ));
    }
    let estimate: u64 = texts.iter().map(|t| (t.len() as u64).div_ceil(4)).sum();
    let tokens = reported.unwrap_or(estimate);
    let mut extra = schemas::openai::Extra::new();
    if reported.is_none() {
        extra.insert("estimated".into(), true.into());
    }
    Ok(EmbeddingsResponse {
        object: "list".into(),
        data: vectors
            .into_iter()
            .enumerate()
            .map(|(i, v)| Embedding {
                object: "embedding".into(),
                index: i as u32,
                embedding: serde_json::Value::from(v),
            })
            .collect(),
        model: model.to_string(),
        usage: EmbeddingsUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
            extra,
        },
        extra: Default::default(),
    })
}
