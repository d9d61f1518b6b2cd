//! Bedrock `Converse` answer -> OpenAI chat completion; shared pieces for the stream.

use super::wire::{ConverseResponse, TokenUsage};
use schemas::openai::*;
use serde_json::{json, Value};

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

/// A `reasoningContent` block in the gateway's `thinking_blocks` shape:
/// `reasoningText {text, signature}` as a `thinking` block, `redactedContent` as a
/// `redacted_thinking` one.
pub fn thinking_block(rc: &Value) -> Option<Value> {
    if let Some(data) = rc.get("redactedContent").and_then(Value::as_str) {
        return Some(json!({"type": "redacted_thinking", "data": data}));
    }
    let t = rc.get("reasoningText")?;
    let sig = t.get("signature").and_then(Value::as_str)?;
    Some(
        json!({"type": "thinking", "thinking": t["text"].as_str().unwrap_or(""), "signature": sig}),
    )
}

/// The inverse of [`thinking_block`], for an earlier turn sent back.
pub fn reasoning_content(block: &Value) -> Option<Value> {
    match block["type"].as_str()? {
        "thinking" => Some(json!({"reasoningText": {
            "text": block["thinking"].as_str().unwrap_or(""),
            "signature": block["signature"].as_str().filter(|s| !s.is_empty())?,
        }})),
        "redacted_thinking" => Some(json!({"redactedContent": block["data"].as_str()?})),
        _ => None,
    }
}

/// The whole answer.
pub fn to_chat(model: &str, r: ConverseResponse) -> ChatResponse {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut signed = Vec::new();
    let mut calls = Vec::new();
    let blocks = r.output.and_then(|o| o.message).map(|m| m.content);
    for b in blocks.unwrap_or_default() {
        if let Some(t) = &b.text {
            text.push_str(t);
        }
        if let Some(t) = reasoning_text(&b.extra) {
            reasoning.push_str(t);
        }
        if let Some(tb) = b.extra.get("reasoningContent").and_then(thinking_block) {
            signed.push(tb);
        }
        if let Some(tu) = b.tool_use {
            let args = if tu.input.is_null() {
                "{}".into()
            } else {
                tu.input.to_string()
            };
            calls.push(ToolCall::function(tu.tool_use_id, tu.name, args));
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
            .insert(REASONING_CONTENT.into(), Value::String(reasoning));
    }
    if !signed.is_empty() {
        message.extra.insert(THINKING_BLOCKS.into(), signed.into());
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
