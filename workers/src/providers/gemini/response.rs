//! Gemini answer -> OpenAI chat completion; shared pieces for the stream.

use super::wire::{Content as GContent, FunctionCall as GCall, GenerateResponse, UsageMetadata};
use crate::error::{ErrorKind, ProviderError};
use schemas::openai::*;
use serde_json::Value;

/// The OpenAI finish reason of a Gemini one; `had_calls` turns `STOP` into `tool_calls`.
pub fn finish_reason(reason: &str, had_calls: bool) -> String {
    match reason {
        "MAX_TOKENS" => "length",
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY"
        | "LANGUAGE" => "content_filter",
        _ if had_calls => "tool_calls",
        _ => "stop",
    }
    .to_string()
}

/// Normalized usage: thinking tokens count as completion tokens (as OpenAI counts
/// reasoning tokens), cached prompt tokens are reported in the details.
pub fn usage(u: &UsageMetadata) -> Usage {
    let prompt = u.prompt_token_count + u.tool_use_prompt_token_count.unwrap_or(0);
    let thoughts = u.thoughts_token_count.unwrap_or(0);
    let mut usage = Usage::new(prompt, u.candidates_token_count + thoughts);
    if let Some(c) = u.cached_content_token_count {
        usage.prompt_tokens_details = Some(PromptTokensDetails {
            cached_tokens: Some(c),
            ..Default::default()
        });
    }
    if let Some(t) = u.thoughts_token_count {
        usage.completion_tokens_details = Some(CompletionTokensDetails {
            reasoning_tokens: Some(t),
            ..Default::default()
        });
    }
    usage
}

/// A blocked prompt (no candidates, `promptFeedback.blockReason`) as an error.
pub fn blocked(provider: &str, r: &GenerateResponse) -> Option<ProviderError> {
    let reason = r.prompt_feedback.as_ref()?.block_reason.as_ref()?;
    if !r.candidates.is_empty() {
        return None;
    }
    Some(ProviderError::new(
        ErrorKind::ContentFilter,
        provider,
        format!("Gemini blocked the prompt (blockReason {reason}); rephrase the request or adjust safetySettings"),
    ))
}

/// A fresh tool call id (Gemini's calls often have none).
pub fn call_id(given: Option<&str>) -> String {
    match given {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => format!("call_{}", uuid::Uuid::now_v7().simple()),
    }
}

/// A function call's arguments as a JSON string.
pub fn arguments(args: &Value) -> String {
    if args.is_null() {
        "{}".into()
    } else {
        args.to_string()
    }
}

/// The texts (answer and thinking) and calls of a candidate's parts.
#[derive(Default)]
pub struct Split {
    /// Answer text.
    pub text: String,
    /// Thinking text.
    pub thought: String,
    /// Function calls, each with the part's `thoughtSignature` (Gemini 3 signs them and
    /// refuses the next turn without the signature).
    pub calls: Vec<(GCall, Option<String>)>,
}

/// A function call in the OpenAI shape, its signature where Google's OpenAI-compatible API
/// puts it (`extra_content.google.thought_signature`).
pub fn tool_call(fc: &GCall, signature: Option<&str>) -> ToolCall {
    let mut call = ToolCall::function(
        call_id(fc.id.as_deref()),
        fc.name.clone(),
        arguments(&fc.args),
    );
    if let Some(sig) = signature {
        call.set_thought_signature(sig);
    }
    call
}

/// Splits parts into text, thinking and calls.
pub fn split(content: Option<&GContent>) -> Split {
    let mut s = Split::default();
    for p in content.map(|c| c.parts.as_slice()).unwrap_or_default() {
        if let Some(t) = &p.text {
            if p.thought == Some(true) {
                s.thought.push_str(t);
            } else {
                s.text.push_str(t);
            }
        }
        if let Some(fc) = &p.function_call {
            let sig = p.extra.get("thoughtSignature").and_then(Value::as_str);
            s.calls.push((fc.clone(), sig.map(str::to_string)));
        }
    }
    s
}

/// The whole answer.
pub fn to_chat(
    provider: &str,
    model: &str,
    r: GenerateResponse,
) -> Result<ChatResponse, ProviderError> {
    if let Some(id) = &r.response_id {
        crate::providers::http::note_request_id(id);
    }
    if let Some(e) = blocked(provider, &r) {
        return Err(e);
    }
    let mut choices = Vec::new();
    for (i, c) in r.candidates.iter().enumerate() {
        let s = split(c.content.as_ref());
        let calls: Vec<ToolCall> = s
            .calls
            .iter()
            .map(|(fc, sig)| tool_call(fc, sig.as_deref()))
            .collect();
        let mut message = Message {
            role: "assistant".into(),
            content: (!s.text.is_empty() || calls.is_empty()).then_some(Content::Text(s.text)),
            ..Default::default()
        };
        if !s.thought.is_empty() {
            message
                .extra
                .insert("reasoning_content".into(), Value::String(s.thought));
        }
        let finish = c
            .finish_reason
            .as_deref()
            .map(|f| finish_reason(f, !calls.is_empty()));
        if !calls.is_empty() {
            message.tool_calls = Some(calls);
        }
        let mut extra = Extra::new();
        if let Some(r) = c.extra.get("safetyRatings") {
            extra.insert("safety_ratings".into(), r.clone());
        }
        choices.push(Choice {
            index: c.index.unwrap_or(i as u32),
            message,
            finish_reason: finish,
            extra,
        });
    }
    if choices.is_empty() {
        return Err(ProviderError::new(
            ErrorKind::Decode,
            provider,
            "Gemini answered without candidates; retry the request",
        ));
    }
    Ok(ChatResponse {
        id: r
            .response_id
            .map(|id| format!("chatcmpl-{id}"))
            .unwrap_or_else(new_id),
        object: "chat.completion".into(),
        created: now(),
        model: r.model_version.unwrap_or_else(|| model.to_string()),
        choices,
        usage: r.usage_metadata.as_ref().map(usage),
        extra: Default::default(),
    })
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
