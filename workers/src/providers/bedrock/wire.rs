//! Typed wire structs of Bedrock Runtime `Converse` / `ConverseStream`.

use schemas::openai::Extra;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A `Converse` request body (the model id is in the path).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseRequest {
    /// The conversation, alternating `user` and `assistant`.
    pub messages: Vec<Message>,
    /// System prompts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<SystemBlock>,
    /// Sampling settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inference_config: Option<InferenceConfig>,
    /// Tools.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    /// Structured output: `{"textFormat": {...}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_config: Option<Value>,
    /// Bedrock fields passed through (`additionalModelRequestFields`, `guardrailConfig`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// A system prompt block.
#[derive(Debug, Clone, Serialize)]
pub struct SystemBlock {
    /// The text.
    pub text: String,
}

/// One message.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Message {
    /// `user` or `assistant`.
    pub role: String,
    /// The content blocks.
    #[serde(default)]
    pub content: Vec<Block>,
}

/// A content block: exactly one field is set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Block {
    /// Text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// An image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    /// A tool call by the assistant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use: Option<ToolUse>,
    /// A tool result from the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_result: Option<ToolResult>,
    /// Everything else (`reasoningContent`, `document`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// An image: format and base64 bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Image {
    /// `png`, `jpeg`, `gif` or `webp`.
    pub format: String,
    /// `{"bytes": base64}`.
    pub source: ImageSource,
}

/// Image bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageSource {
    /// Base64 (the JSON encoding of a blob).
    pub bytes: String,
}

/// A tool call.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUse {
    /// Call id.
    pub tool_use_id: String,
    /// Tool name.
    pub name: String,
    /// Arguments.
    #[serde(default)]
    pub input: Value,
}

/// A tool result.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResult {
    /// The call answered.
    pub tool_use_id: String,
    /// `[{"text": ...}]`.
    pub content: Vec<Value>,
}

/// `inferenceConfig`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceConfig {
    /// Output token limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Stop sequences.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
}

/// `toolConfig`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    /// `[{"toolSpec": {...}}]`.
    pub tools: Vec<Value>,
    /// `{"auto":{}}`, `{"any":{}}` or `{"tool":{"name":...}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
}

/// A `Converse` answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseResponse {
    /// `{"message": ...}`.
    #[serde(default)]
    pub output: Option<Output>,
    /// `end_turn`, `tool_use`, `max_tokens`, `stop_sequence`, `guardrail_intervened`, `content_filtered`.
    #[serde(default)]
    pub stop_reason: Option<String>,
    /// Token counts.
    #[serde(default)]
    pub usage: Option<TokenUsage>,
    /// Everything else (`metrics`, `trace`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// The output.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Output {
    /// The assistant message.
    #[serde(default)]
    pub message: Option<Message>,
}

/// Token counts (input excludes cache reads and writes).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    /// Uncached input tokens.
    #[serde(default)]
    pub input_tokens: u64,
    /// Output tokens.
    #[serde(default)]
    pub output_tokens: u64,
    /// Input tokens read from the prompt cache.
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
    /// Input tokens written to the prompt cache.
    #[serde(default)]
    pub cache_write_input_tokens: Option<u64>,
}
