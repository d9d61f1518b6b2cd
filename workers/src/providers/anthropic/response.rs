//! Anthropic `message` -> OpenAI `ChatResponse`; usage and stop reasons.
//!
//! Thinking comes back in the gateway's reasoning shape (`schemas::openai::reasoning`):
//! the text as `reasoning_content`, the signed blocks as they are in `thinking_blocks`, and
//! the stop sequence that ended the answer as the choice's `stop_sequence`.
//!
//! Usage: Anthropic's `input_tokens` counts only uncached input, while OpenAI's
//! `prompt_tokens` counts all of it. So `prompt_tokens = input_tokens +
//! cache_read_input_tokens + cache_creation_input_tokens`, with the cache reads reported as
//! `prompt_tokens_details.cached_tokens` and the cache writes as
//! `prompt_tokens_details.cache_creation_tokens`; `total_tokens` is prompt + completion.

use schemas::anthropic::{MessagesResponse, MessagesUsage};
use schemas::openai::*;

/// The OpenAI `finish_reason` of an Anthropic `stop_reason`.
pub fn finish_reason(stop: &str) -> String {
    match stop {
        "end_turn" | "stop_sequence" | "pause_turn" => "stop",
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        other => other,
    }
    .to_string()
}

/// Normalized usage (see the module docs).
pub fn usage(u: &MessagesUsage) -> Usage {
    let read = u.cache_read_input_tokens.unwrap_or(0);
    let write = u.cache_creation_input_tokens.unwrap_or(0);
    let mut out = Usage::new(u.input_tokens + read + write, u.output_tokens);
    if u.cache_read_input_tokens.is_some() || u.cache_creation_input_tokens.is_some() {
        out.prompt_tokens_details = Some(PromptTokensDetails {
            cached_tokens: Some(read),
            cache_creation_tokens: Some(write),
            ..Default::default()
        });
    }
    out
}

/// Seconds since the epoch (Anthropic messages carry no timestamp).
pub fn now_s() -> u64 {
    schemas::now_ms() / 1000
}

/// The completion of a message.
pub fn to_chat(m: MessagesResponse) -> ChatResponse {
    let mut text = String::new();
    let mut thinking = String::new();
    let mut signed = Vec::new();
    let mut calls = Vec::new();
    for b in &m.content {
        match b.kind.as_str() {
            "text" => text.push_str(b.text.as_deref().unwrap_or("")),
            "thinking" | "redacted_thinking" => {
                if let Some(t) = b.extra.get("thinking").and_then(|v| v.as_str()) {
                    thinking.push_str(t);
                }
                signed.push(serde_json::to_value(b).unwrap_or_default());
            }
            "tool_use" => calls.push(ToolCall {
                id: b.id.clone().unwrap_or_default(),
                kind: "function".into(),
                function: FunctionCall {
                    name: b.name.clone().unwrap_or_default(),
                    arguments: b
                        .input
                        .as_ref()
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "{}".into()),
                    extra: Default::default(),
                },
                extra: Default::default(),
            }),
            _ => {}
        }
    }
    let mut extra = Extra::new();
    if !thinking.is_empty() {
        extra.insert(REASONING_CONTENT.into(), thinking.into());
    }
    if !signed.is_empty() {
        extra.insert(THINKING_BLOCKS.into(), signed.into());
    }
    let mut choice_extra = Extra::new();
    if let Some(seq) = &m.stop_sequence {
        choice_extra.insert(STOP_SEQUENCE.into(), seq.clone().into());
    }
    let message = Message {
        role: "assistant".into(),
        content: (!text.is_empty() || calls.is_empty()).then_some(Content::Text(text)),
        tool_calls: (!calls.is_empty()).then_some(calls),
        extra,
        ..Default::default()
    };
    ChatResponse {
        id: m.id,
        object: "chat.completion".into(),
        created: now_s(),
        model: m.model,
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: m.stop_reason.as_deref().map(finish_reason),
            extra: choice_extra,
        }],
        usage: Some(usage(&m.usage)),
        extra: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_tokens_include_cache_reads_and_writes() {
        let u = usage(&MessagesUsage {
            input_tokens: 10,
            output_tokens: 5,
            cache_creation_input_tokens: Some(20),
            cache_read_input_tokens: Some(3),
            ..Default::default()
        });
        assert_eq!(u.prompt_tokens, 33);
        assert_eq!(u.total_tokens, 38);
        let d = u.prompt_tokens_details.unwrap_or_default();
        assert_eq!(d.cached_tokens, Some(3));
        assert_eq!(d.cache_creation_tokens, Some(20));
    }
}
