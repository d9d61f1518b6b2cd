//! Streaming chat chunks (`chat.completion.chunk`).

use super::{ChatResponse, Extra, Usage};
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
    /// Everything else (`extra_content` with a Gemini thought signature), passed through.
    #[serde(flatten)]
    pub extra: Extra,
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
    /// Everything else, passed through.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ChatChunk {
    /// A whole completion as one chunk: each choice's message (text, tool calls, and its
    /// other fields such as `refusal`) as that choice's delta, with its finish reason, and
    /// the usage. Used to answer a stream whose job had already finished (an idempotent
    /// resubmit), in every front door's framing.
    pub fn from_response(resp: &ChatResponse) -> ChatChunk {
        let choices = resp
            .choices
            .iter()
            .map(|c| {
                let m = &c.message;
                let tool_calls = m.tool_calls.as_ref().map(|calls| {
                    calls
                        .iter()
                        .enumerate()
                        .map(|(i, t)| ToolCallDelta {
                            index: i as u32,
                            id: Some(t.id.clone()),
                            kind: Some(t.kind.clone()),
                            function: Some(FunctionCallDelta {
                                name: Some(t.function.name.clone()),
                                arguments: Some(t.function.arguments.clone()),
                                extra: t.function.extra.clone(),
                            }),
                            extra: t.extra.clone(),
                        })
                        .collect()
                });
                let text = m.text();
                ChunkChoice {
                    index: c.index,
                    delta: Delta {
                        role: Some(m.role.clone()),
                        content: (m.content.is_some() || tool_calls.is_none()).then_some(text),
                        tool_calls,
                        extra: m.extra.clone(),
                    },
                    finish_reason: c.finish_reason.clone(),
                    extra: c.extra.clone(),
                }
            })
            .collect();
        ChatChunk {
            id: resp.id.clone(),
            object: "chat.completion.chunk".into(),
            created: resp.created,
            model: resp.model.clone(),
            choices,
            usage: resp.usage.clone(),
            extra: Extra::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_completion_with_tool_calls_keeps_them_as_a_chunk() {
        let resp: ChatResponse = serde_json::from_value(serde_json::json!({
            "id": "c", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null, "refusal": null,
                "tool_calls": [{"id": "call_1", "type": "function",
                                "function": {"name": "f", "arguments": "{\"x\":1}"}}]}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
        }))
        .unwrap_or_else(|e| unreachable!("{e}"));
        let c = ChatChunk::from_response(&resp);
        let d = &c.choices[0].delta;
        let calls = d.tool_calls.as_ref().map(Vec::len);
        assert_eq!(calls, Some(1));
        assert_eq!(d.content, None, "no text part invented");
        assert!(d.extra.contains_key("refusal"));
        assert_eq!(c.choices[0].finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(c.usage.map(|u| u.total_tokens), Some(3));
    }
}
