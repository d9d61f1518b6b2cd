//! Bedrock `Converse` answer -> OpenAI chat completion; shared pieces for the stream.

use super::wire::{ConverseResponse, TokenUsage};
use schemas::openai::*;
use serde_json::Value;

/// The OpenAI finish reason of a Converse `stopReason`.
pub fn finish_reason(reason: &str) -> String {
    match reason {
        "tool_use" => "tool_calls",
        "max_tokens" | "model_context_window_exceeded" => "length",
        "guardrail_intervened" | "content_filtered" => "content_filter",
        _ => "stop",
    }
    .to_string()
}

/// Normalized usage: Converse's `inputTokens` leaves out cache reads and writes, OpenAI's
/// `prompt_tokens` includes them.
pub fn usage(u: &TokenUsage) -> Usage {
    let read = u.cache_read_input_tokens.unwrap_or(0);
    let write = u.cache_write_input_tokens.unwrap_or(0);
    let mut usage = Usage::new(u.input_tokens + read + write, u.output_tokens);
    if u.cache_read_input_tokens.is_some() || u.cache_write_input_tokens.is_some() {
        usage.prompt_tokens_details = Some(PromptTokensDetails {
            cached_tokens: Some(read),
            cache_creation_tokens: u.cache_write_input_tokens,
            ..Default::default()
        });
    }
    usage
}

/// A completion id.
pub fn new_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::now_v7().simple())
}

/// Unix seconds now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The reasoning text of a `reasoningContent` block, if it is one.
pub fn reasoning_text(extra: &Extra) -> Option<&str> {
    let r = extra.get("reasoningContent")?;
    r.get("reasoningText")
        .and_then(|t| t.get("text"))
        .or_else(|| r.get("text"))
        .and_then(Value::as_str)
}

/// The whole answer.
pub fn to_chat(model: &str, r: ConverseResponse) -> ChatResponse {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    let blocks = r.output.and_then(|o| o.message).map(|m| m.content);
    for b in blocks.unwrap_or_default() {
        if let Some(t) = &b.text {
            text.push_str(t);
        }
        if let Some(t) = reasoning_text(&b.extra) {
            reasoning.push_str(t);
        }
        if let Some(tu) = b.tool_use {
            calls.push(ToolCall {
                id: tu.tool_use_id,
                kind: "function".into(),
                function: FunctionCall {
                    name: tu.name,
                    arguments: if tu.input.is_null() {
                        "{}".into()
                    } else {
                        tu.input.to_string()
                    },
                },
            });
        }
    }
    let mut message = Message {
        role: "assistant".into(),
        content: (!text.is_empty() || calls.is_empty()).then_some(Content::Text(text)),
        tool_calls: (!calls.is_empty()).then_some(calls),
        ..Default::default()
    };
    if !reasoning.is_empty() {
        message
            .extra
            .insert("reasoning_content".into(), Value::String(reasoning));
    }
    let mut extra = Extra::new();
    if let Some(m) = r.extra.get("metrics") {
        extra.insert("bedrock_metrics".into(), m.clone());
    }
    ChatResponse {
        id: new_id(),
        object: "chat.completion".into(),
        created: now(),
        model: model.to_string(),
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: Some(finish_reason(
                r.stop_reason.as_deref().unwrap_or("end_turn"),
            )),
            extra: Default::default(),
        }],
        usage: r.usage.as_ref().map(usage),
        extra,
    }
}
