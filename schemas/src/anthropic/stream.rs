//! Streaming events of `POST /v1/messages` with `stream: true`.
//!
//! Each server-sent event has an `event:` name equal to the `type` of its JSON data.

use super::{ContentBlock, ErrorDetail, Extra, MessagesResponse, MessagesUsage};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One stream event.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// The message with empty content and the input usage.
    MessageStart {
        /// The message so far.
        message: MessagesResponse,
    },
    /// A block begins at `index`.
    ContentBlockStart {
        /// Its position in the final content.
        index: u32,
        /// The block with empty text or input.
        content_block: ContentBlock,
    },
    /// A piece of the block at `index`.
    ContentBlockDelta {
        /// The block.
        index: u32,
        /// The piece.
        delta: BlockDelta,
    },
    /// The block at `index` is complete.
    ContentBlockStop {
        /// The block.
        index: u32,
    },
    /// The stop reason and the cumulative usage.
    MessageDelta {
        /// `stop_reason`, `stop_sequence`.
        delta: MessageDeltaBody,
        /// Cumulative usage (`output_tokens`, and on newer API versions the input counts).
        #[serde(default)]
        usage: MessagesUsage,
    },
    /// The end of the stream.
    MessageStop,
    /// Keep-alive.
    Ping,
    /// An error mid-stream (`overloaded_error`, ...).
    Error {
        /// The error.
        error: ErrorDetail,
    },
    /// An event type this version does not know (ignored, per Anthropic's versioning policy).
    #[serde(other)]
    Unknown,
}

impl StreamEvent {
    /// The SSE `event:` name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::MessageStart { .. } => "message_start",
            Self::ContentBlockStart { .. } => "content_block_start",
            Self::ContentBlockDelta { .. } => "content_block_delta",
            Self::ContentBlockStop { .. } => "content_block_stop",
            Self::MessageDelta { .. } => "message_delta",
            Self::MessageStop => "message_stop",
            Self::Ping => "ping",
            Self::Error { .. } => "error",
            Self::Unknown => "unknown",
        }
    }
}

/// A block delta: `text_delta` (`text`), `input_json_delta` (`partial_json`),
/// `thinking_delta`, `signature_delta`, ... (kept in `extra`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct BlockDelta {
    /// The delta type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Text of a `text_delta`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A fragment of tool input JSON (`input_json_delta`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_json: Option<String>,
    /// Everything else, passed through.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The top-level changes of a `message_delta`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct MessageDeltaBody {
    /// Why generation stopped.
    #[serde(default)]
    pub stop_reason: Option<String>,
    /// The stop sequence that matched.
    #[serde(default)]
    pub stop_sequence: Option<String>,
    /// Everything else, passed through.
    #[serde(flatten)]
    pub extra: Extra,
}
