//! Checking a request against a table: which parameters it uses, and whether the target
//! sends, translates, emulates or refuses each.

use super::{Capabilities, Param, Support};
use crate::error::{ErrorKind, ProviderError};
use schemas::openai::{ChatRequest, Content};
use serde_json::Value;

/// The fields [`Param::ClientMetadata`] covers.
const CLIENT_METADATA: &[&str] = &[
    "user",
    "metadata",
    "store",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
];

/// Fields every adapter reads (or the gateway handles) whatever the provider.
const COMMON: &[&str] = &[
    "model",
    "messages",
    "stream",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
];

/// What the gateway must do around the call, from the request and the table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Run this many calls and merge their choices (`n` emulated).
    pub calls: Option<u32>,
    /// Keep only the first tool call of an answer (`parallel_tool_calls: false` emulated).
    pub first_call_only: bool,
}

/// The parameters a request uses, each with the field that names it in an error.
pub fn used(req: &ChatRequest, stream: bool) -> Vec<(Param, String)> {
    let mut out = Vec::new();
    let mut add = |p: Param, field: &str| out.push((p, field.to_string()));
    if req.tools.as_ref().is_some_and(|t| !t.is_empty()) {
        add(Param::Tools, "tools");
    }
    match &req.tool_choice {
        Some(Value::String(s)) if s == "none" => add(Param::ToolChoiceNone, "tool_choice"),
        Some(Value::String(s)) if s == "required" => add(Param::ToolChoiceRequired, "tool_choice"),
        Some(Value::Object(_)) => add(Param::ToolChoiceNamed, "tool_choice"),
        _ => {}
    }
    let extra = |k: &str| req.extra.get(k).filter(|v| !v.is_null());
    if extra("parallel_tool_calls") == Some(&Value::Bool(false)) {
        add(Param::NoParallelToolCalls, "parallel_tool_calls");
    }
    match req
        .response_format
        .as_ref()
        .and_then(|r| r["type"].as_str())
    {
        Some("json_object") => add(Param::JsonObject, "response_format"),
        Some("json_schema") => add(Param::JsonSchema, "response_format"),
        _ => {}
    }
    if extra("n").and_then(Value::as_u64).is_some_and(|n| n > 1) {
        add(if stream { Param::NStream } else { Param::N }, "n");
    }
    if req.stop.as_ref().is_some_and(|s| !s.to_vec().is_empty()) {
        add(Param::Stop, "stop");
    }
    for (k, p) in [
        ("seed", Param::Seed),
        ("presence_penalty", Param::Penalties),
        ("frequency_penalty", Param::Penalties),
        ("logit_bias", Param::LogitBias),
        ("logprobs", Param::Logprobs),
        ("top_logprobs", Param::Logprobs),
        ("top_k", Param::TopK),
        ("reasoning_effort", Param::ReasoningEffort),
        ("thinking", Param::Thinking),
    ] {
        if extra(k).is_some_and(|v| v != &Value::Bool(false)) {
            add(p, k);
        }
    }
    for (i, m) in req.messages.iter().enumerate() {
        let Some(Content::Parts(parts)) = &m.content else {
            continue;
        };
        for (j, part) in parts.iter().enumerate() {
            let field = format!("messages[{i}].content[{j}]");
            match part.kind.as_str() {
                "image_url" => {
                    let url = part
                        .image_url
                        .as_ref()
                        .map(|u| u.url.as_str())
                        .unwrap_or("");
                    if url.starts_with("data:") {
                        add(Param::ImageData, &field);
                    } else {
                        add(Param::ImageUrl, &field);
                    }
                }
                "input_audio" | "file" => add(Param::AudioOrFile, &field),
                _ => {}
            }
        }
    }
    if req.user.is_some() || CLIENT_METADATA.iter().any(|k| extra(k).is_some()) {
        add(Param::ClientMetadata, "user");
    }
    out
}

/// The extra fields of a request that no parameter of the matrix covers and the adapter
/// does not read.
fn unknown_fields<'a>(req: &'a ChatRequest, caps: &Capabilities) -> Vec<&'a str> {
    const COVERED: &[&str] = &[
        "parallel_tool_calls",
        "n",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "top_k",
        "reasoning_effort",
        "thinking",
    ];
    req.extra
        .keys()
        .map(String::as_str)
        .filter(|k| !COMMON.contains(k))
        .filter(|k| !COVERED.contains(k) && !CLIENT_METADATA.contains(k))
        .filter(|k| !caps.reads.contains(k))
        .collect()
}

/// Checks a chat request against the target's table: a 400 naming the first refused
/// parameter and the target, or the plan of what the gateway emulates.
pub fn admit(
    caps: &Capabilities,
    provider: &str,
    req: &ChatRequest,
    stream: bool,
) -> Result<Plan, ProviderError> {
    let refuse = |field: &str, what: &str, note: &str| {
        let why = if note.is_empty() {
            String::new()
        } else {
            format!(" ({note})")
        };
        Err(ProviderError::new(
            ErrorKind::Unsupported,
            provider,
            format!(
                "`{field}` ({what}) is not supported by the {} adapter{why}; leave it out, or send the request to a model of a provider that supports it (docs/CAPABILITIES.md)",
                caps.kind
            ),
        )
        .param(field))
    };
    let mut plan = Plan::default();
    for (p, field) in used(req, stream) {
        let note = caps.line(p).map(|c| c.note).unwrap_or("");
        match caps.support(p) {
            Support::Refused => return refuse(&field, p.label(), note),
            Support::Emulated if matches!(p, Param::N | Param::NStream) => {
                plan.calls = req.extra.get("n").and_then(Value::as_u64).map(|n| n as u32);
            }
            Support::Emulated if p == Param::NoParallelToolCalls => plan.first_call_only = true,
            _ => {}
        }
    }
    if caps.support(Param::Unknown) == Support::Refused {
        if let Some(k) = unknown_fields(req, caps).first() {
            return refuse(k, "an unknown parameter", "");
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::{cap, markdown};

    const T: Capabilities = Capabilities {
        kind: "test",
        lines: &[
            cap(Param::Tools, Support::Translated, ""),
            cap(Param::N, Support::Emulated, "n calls"),
            cap(Param::Stop, Support::Translated, ""),
            cap(Param::ClientMetadata, Support::Dropped, ""),
        ],
        reads: &["safety_settings"],
    };

    fn req(v: serde_json::Value) -> ChatRequest {
        serde_json::from_value(v).unwrap_or_default()
    }

    #[test]
    fn refused_parameters_name_the_field_and_the_target() {
        let r = req(serde_json::json!({"model": "m", "messages": [], "seed": 3}));
        let e = admit(&T, "p", &r, false).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(
            e.message.contains("`seed`") && e.message.contains("test adapter"),
            "{}",
            e.message
        );
        assert_eq!(e.to_job_error().error.param.as_deref(), Some("seed"));
        let r = req(serde_json::json!({"model": "m", "messages": [], "n": 2}));
        assert!(
            admit(&T, "p", &r, true).is_err(),
            "n with stream is not emulated here"
        );
        let r = req(serde_json::json!({"model": "m", "messages": [], "x_vendor": 1}));
        let e = admit(&T, "p", &r, false).unwrap_err();
        assert!(e.message.contains("`x_vendor`"), "{}", e.message);
    }

    #[test]
    fn emulated_and_dropped_parameters_pass_with_a_plan() {
        let r = req(
            serde_json::json!({"model": "m", "messages": [], "n": 3, "user": "u",
            "stop": ["x"], "safety_settings": []}),
        );
        let plan = admit(&T, "p", &r, false).unwrap_or_default();
        assert_eq!(plan.calls, Some(3));
        let md = markdown(&[&T]);
        assert!(md.contains("| n > 1 | emulated (n calls) |"), "{md}");
        assert!(md.contains("| seed | refused |"), "{md}");
    }
}
