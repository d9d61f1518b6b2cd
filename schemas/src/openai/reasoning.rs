//! The gateway's reasoning shape, the same from every provider.
//!
//! OpenAI's Chat Completions API has no field for a model's thinking, so the gateway uses
//! the fields most OpenAI-compatible servers and clients already read:
//!
//! - `message.reasoning_content` (and `delta.reasoning_content` in streams): the thinking
//!   text, when the provider shows it (Anthropic, Gemini with thoughts, Bedrock, DeepSeek).
//! - `message.thinking_blocks`: the provider's signed thinking, to be sent back unchanged on
//!   the next turn (Anthropic and Claude on Bedrock refuse a tool-use turn without it):
//!   `{"type":"thinking","thinking","signature"}` or `{"type":"redacted_thinking","data"}`.
//!   In streams, each block arrives whole in one `delta.thinking_blocks` once the provider
//!   has signed it (after its `reasoning_content` deltas).
//! - `tool_calls[].extra_content.google.thought_signature`: Gemini's signature of a function
//!   call (Google's own OpenAI-compatible layer puts it there), to be sent back unchanged.
//! - `choices[].stop_sequence`: which of the request's `stop` sequences ended the answer,
//!   where the provider says (Anthropic).
//!
//! A client that appends the assistant message it got to the next request sends all of
//! them back without doing anything.

use super::{Choice, Message};
use serde_json::Value;

/// `reasoning_content`: the thinking text.
pub const REASONING_CONTENT: &str = "reasoning_content";
/// `thinking_blocks`: signed thinking to send back.
pub const THINKING_BLOCKS: &str = "thinking_blocks";
/// `stop_sequence`: the stop sequence that ended a choice.
pub const STOP_SEQUENCE: &str = "stop_sequence";
/// `refusal`: OpenAI's refusal text.
pub const REFUSAL: &str = "refusal";

impl Message {
    /// The thinking text, if any.
    pub fn reasoning_content(&self) -> Option<&str> {
        self.extra
            .get(REASONING_CONTENT)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The signed thinking blocks, in order.
    pub fn thinking_blocks(&self) -> &[Value] {
        self.extra
            .get(THINKING_BLOCKS)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// OpenAI's refusal text, if the model refused.
    pub fn refusal(&self) -> Option<&str> {
        self.extra
            .get(REFUSAL)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }
}

impl Choice {
    /// The stop sequence that ended the choice, where the provider said.
    pub fn stop_sequence(&self) -> Option<&str> {
        self.extra.get(STOP_SEQUENCE).and_then(Value::as_str)
    }
}
