//! The `message` object (the answer of `POST /v1/messages`) and its usage.

use super::{ContentBlock, Extra};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A message answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct MessagesResponse {
    /// `msg_...`.
    pub id: String,
    /// `message`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `assistant`.
    pub role: String,
    /// The answer's blocks (`text`, `tool_use`, `thinking`, ...).
    pub content: Vec<ContentBlock>,
    /// The model that answered.
    pub model: String,
    /// `end_turn`, `max_tokens`, `stop_sequence`, `tool_use`, `pause_turn`, `refusal`;
    /// null in `message_start`.
    pub stop_reason: Option<String>,
    /// The stop sequence that matched, if any.
    #[serde(default)]
    pub stop_sequence: Option<String>,
    /// Token usage.
    pub usage: MessagesUsage,
    /// Everything else, passed through.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Token usage. `input_tokens` excludes the tokens read from or written to the prompt cache.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MessagesUsage {
    /// Uncached input tokens.
    #[serde(default)]
    pub input_tokens: u64,
    /// Output tokens.
    #[serde(default)]
    pub output_tokens: u64,
    /// Input tokens written to the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    /// Input tokens read from the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    /// Everything else (`server_tool_use`, `service_tier`, ...), passed through.
    #[serde(flatten)]
    pub extra: Extra,
}
