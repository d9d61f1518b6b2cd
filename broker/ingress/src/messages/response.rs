//! OpenAI `ChatResponse` -> Anthropic `message`, and the usage and stop reason mappings.
//!
//! Usage: OpenAI's `prompt_tokens` includes cached tokens, Anthropic's `input_tokens` does
//! not, so `input_tokens = prompt_tokens - cached_tokens - cache_creation_tokens`, with the
//! cache reads and writes in `cache_read_input_tokens` and `cache_creation_input_tokens`
//! (the inverse of the `anthropic` adapter's mapping).

use schemas::anthropic::{ContentBlock, MessagesResponse, MessagesUsage};
use schemas::openai::{ChatResponse, Choice, Message, Usage};
use serde_json::{json, Value};

/// The Anthropic `stop_reason` of an OpenAI `finish_reason`.
pub fn stop_reason(finish: &str) -> &'static str {
    match finish {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    }
}

/// Anthropic usage from normalized usage.
pub fn usage(u: &Usage) -> MessagesUsage {
    let d = u.prompt_tokens_details.as_ref();
    let read = d.and_then(|d| d.cached_tokens);
    let write = d.and_then(|d| d.cache_creation_tokens);
    MessagesUsage {
        input_tokens: u
            .prompt_tokens
            .saturating_sub(read.unwrap_or(0) + write.unwrap_or(0)),
        output_tokens: u.completion_tokens,
        cache_creation_input_tokens: write,
        cache_read_input_tokens: read,
        extra: Default::default(),
    }
}

/// A message id: the upstream's own when it is one (`msg_...`), else derived from it.
pub fn message_id(id: &str) -> String {
    if id.starts_with("msg_") {
        id.to_string()
    } else {
        format!("msg_{id}")
    }
}

/// Parses tool call arguments; text that is not a JSON object is kept under `_raw`.
pub fn tool_input(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ if arguments.trim().is_empty() => json!({}),
        _ => json!({"_raw": arguments}),
    }
}

/// The thinking of a message as Anthropic blocks: its signed `thinking_blocks` as they
/// are, else its `reasoning_content` as a thinking block without a signature (thinking
/// from a provider that does not sign).
pub fn thinking(m: &Message) -> Vec<ContentBlock> {
    let signed: Vec<ContentBlock> = m
        .thinking_blocks()
        .iter()
        .filter_map(|b| serde_json::from_value(b.clone()).ok())
        .collect();
    if !signed.is_empty() {
        return signed;
    }
    match m.reasoning_content() {
        Some(t) => vec![thinking_block(t, "")],
        None => Vec::new(),
    }
}

/// A `thinking` block.
pub fn thinking_block(text: &str, signature: &str) -> ContentBlock {
    let mut b = ContentBlock {
        kind: "thinking".into(),
        ..Default::default()
    };
    b.extra.insert("thinking".into(), text.into());
    b.extra.insert("signature".into(), signature.into());
    b
}

/// The `stop_reason` and `stop_sequence` of a choice: a refusal is `refusal`, a matched
/// stop sequence is `stop_sequence`.
pub fn stop_of(c: &Choice) -> (String, Option<String>) {
    if c.message.refusal().is_some() {
        return ("refusal".into(), None);
    }
    if let Some(seq) = c.stop_sequence() {
        return ("stop_sequence".into(), Some(seq.to_string()));
    }
    let r = stop_reason(c.finish_reason.as_deref().unwrap_or("stop"));
    (r.into(), None)
}

/// The message of a completion (its first choice), answering for `model`.
pub fn to_message(resp: &ChatResponse, model: &str) -> MessagesResponse {
    let mut content = Vec::new();
    let choice = resp.choices.first();
    if let Some(c) = choice {
        content.extend(thinking(&c.message));
        let text = c
            .message
            .refusal()
            .map(str::to_string)
            .unwrap_or_else(|| c.message.text());
        if !text.is_empty() {
            content.push(ContentBlock::text(text));
        }
        for call in c.message.tool_calls.iter().flatten() {
            content.push(ContentBlock::tool_use(
                call.id.clone(),
                call.function.name.clone(),
                tool_input(&call.function.arguments),
            ));
        }
    }
    let stop = choice
        .map(stop_of)
        .unwrap_or_else(|| ("end_turn".into(), None));
    MessagesResponse {
        id: message_id(&resp.id),
        kind: "message".into(),
        role: "assistant".into(),
        content,
        model: model.to_string(),
        stop_reason: Some(stop.0),
        stop_sequence: stop.1,
        usage: resp.usage.as_ref().map(usage).unwrap_or_default(),
        extra: Default::default(),
    }
}
