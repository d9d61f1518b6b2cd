//! Streaming chat chunks (`chat.completion.chunk`).

use super::{Extra, Usage};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One server-sent event of a streamed chat completion.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ChatChunk {
    /// Completion id (the same on every chunk).
    pub id: String,
    /// `chat.completion.chunk`.
    pub object: String,
    /// Unix seconds.
    pub created: u64,
    /// The model.
    pub model: String,
    /// Deltas; empty on the usage-only last chunk.
    pub choices: Vec<ChunkChoice>,
    /// Usage, on the last chunk when `stream_options.include_usage` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Everything else, passed through.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One choice's delta.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ChunkChoice {
    /// Index.
    pub index: u32,
    /// The delta.
    pub delta: Delta,
    /// Set on the last delta of the choice.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Everything else (`logprobs`), passed through.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A message delta.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Delta {
    /// `assistant` on the first delta.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Tool call fragments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
    /// Everything else (`refusal`, `reasoning_content`, ...), passed through.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A fragment of a tool call; fragments with the same `index` concatenate.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ToolCallDelta {
    /// Which tool call of the message.
    pub index: u32,
    /// Call id (first fragment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `function` (first fragment).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name and argument fragments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionCallDelta>,
}

/// Name and argument fragments of a function call.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct FunctionCallDelta {
    /// Name (first fragment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A piece of the JSON arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}
