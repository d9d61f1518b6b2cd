//! Content blocks: `text`, `image`, `tool_use`, `tool_result` (and any other, kept as is).

use super::Extra;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A message's content: a string or a list of blocks.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum MessageContent {
    /// Plain text (one text block).
    Text(String),
    /// Content blocks.
    Blocks(Vec<ContentBlock>),
}

impl MessageContent {
    /// The content as blocks.
    pub fn into_blocks(self) -> Vec<ContentBlock> {
        match self {
            MessageContent::Text(t) => vec![ContentBlock::text(t)],
            MessageContent::Blocks(b) => b,
        }
    }
}

/// One content block. The fields used depend on `type`:
/// `text` (`text`), `image` (`source`), `tool_use` (`id`, `name`, `input`),
/// `tool_result` (`tool_use_id`, `content`, `is_error`). Other types (`thinking`,
/// `document`, ...) keep their fields in `extra`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ContentBlock {
    /// The block type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a `text` block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The image of an `image` block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ImageSource>,
    /// The call id of a `tool_use` block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The tool name of a `tool_use` block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The arguments (a JSON object) of a `tool_use` block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// The call a `tool_result` block answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_id: Option<String>,
    /// The result of a `tool_result` block: a string or blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<MessageContent>,
    /// Whether a `tool_result` reports a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
    /// Everything else (`cache_control`, `citations`, `thinking`, ...), passed through.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ContentBlock {
    /// A `text` block.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            kind: "text".into(),
            text: Some(text.into()),
            ..Default::default()
        }
    }

    /// A `tool_use` block.
    pub fn tool_use(id: impl Into<String>, name: impl Into<String>, input: Value) -> Self {
        Self {
            kind: "tool_use".into(),
            id: Some(id.into()),
            name: Some(name.into()),
            input: Some(input),
            ..Default::default()
        }
    }

    /// The text of a block's `content` (a `tool_result`): the string, or its text blocks joined.
    pub fn content_text(&self) -> String {
        match &self.content {
            None => String::new(),
            Some(MessageContent::Text(t)) => t.clone(),
            Some(MessageContent::Blocks(b)) => b
                .iter()
                .filter_map(|b| b.text.as_deref())
                .collect::<Vec<_>>()
                .join(""),
        }
    }
}

/// An image: `{"type":"base64","media_type","data"}` or `{"type":"url","url"}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ImageSource {
    /// `base64` or `url`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `image/png`, `image/jpeg`, ... (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The base64 bytes (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The image URL (url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Everything else, passed through.
    #[serde(flatten)]
    pub extra: Extra,
}
