//! OpenAI `ChatResponse` -> Anthropic `message`, and the usage and stop reason mappings.
//!
//! Usage: OpenAI's `prompt_tokens` includes cached tokens, Anthropic's `input_tokens` does
//! not, so `input_tokens = prompt_tokens - cached_tokens - cache_creation_tokens`, with the
//! cache reads and writes in `cache_read_input_tokens` and `cache_creation_input_tokens`
//! (the inverse of the `anthropic` adapter's mapping).

use schemas::anthropic::{ContentBlock, MessagesResponse, MessagesUsage};
use schemas::openai::{ChatResponse, Usage};
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

/// The message of a completion (its first choice), answering for `model`.
pub fn to_message(resp: &ChatResponse, model: &str) -> MessagesResponse {
    let mut content = Vec::new();
    let choice = resp.choices.first();
    if let Some(c) = choice {
        let text = c.message.text();
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
    MessagesResponse {
        id: message_id(&resp.id),
        kind: "message".into(),
        role: "assistant".into(),
        content,
        model: model.to_string(),
        stop_reason: Some(
            stop_reason(
                choice
                    .and_then(|c| c.finish_reason.as_deref())
                    .unwrap_or("stop"),
            )
            .into(),
        ),
        stop_sequence: None,
        usage: resp.usage.as_ref().map(usage).unwrap_or_default(),
        extra: Default::default(),
    }
}
