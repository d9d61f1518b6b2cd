//! `POST /v1/embeddings` request and response.

use super::Extra;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An embeddings request.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(example = serde_json::json!({"model": "mock/embed", "input": ["hello", "world"]}))]
pub struct EmbeddingsRequest {
    /// The model.
    pub model: String,
    /// Text(s) or token arrays.
    pub input: EmbeddingInput,
    /// `float` or `base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
    /// Output dimensions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    /// End-user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Everything else, passed through.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Embedding input.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum EmbeddingInput {
    /// One text.
    Text(String),
    /// Several texts.
    Texts(Vec<String>),
    /// One token array.
    Tokens(Vec<u32>),
    /// Several token arrays.
    TokenLists(Vec<Vec<u32>>),
}

impl EmbeddingInput {
    /// The inputs as texts (token arrays are rendered as space-separated numbers).
    pub fn texts(&self) -> Vec<String> {
        fn toks(t: &[u32]) -> String {
            t.iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        }
        match self {
            Self::Text(t) => vec![t.clone()],
            Self::Texts(v) => v.clone(),
            Self::Tokens(t) => vec![toks(t)],
            Self::TokenLists(v) => v.iter().map(|t| toks(t)).collect(),
        }
    }
}

/// An embeddings response.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EmbeddingsResponse {
    /// `list`.
    pub object: String,
    /// One embedding per input, in order.
    pub data: Vec<Embedding>,
    /// The model.
    pub model: String,
    /// Token usage.
    pub usage: EmbeddingsUsage,
    /// Everything else, passed through.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One embedding.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Embedding {
    /// `embedding`.
    pub object: String,
    /// Position of the input.
    pub index: u32,
    /// The vector (or a base64 string when `encoding_format` is `base64`).
    pub embedding: serde_json::Value,
}

/// Embeddings usage.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct EmbeddingsUsage {
    /// Input tokens.
    pub prompt_tokens: u64,
    /// Same as prompt tokens.
    pub total_tokens: u64,
    /// Everything else; the gateway sets `estimated: true` where the provider reports no
    /// token count and the figure is its estimate (Gemini embeddings).
    #[serde(flatten)]
    pub extra: super::Extra,
}
