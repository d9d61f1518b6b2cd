//! Anthropic `MessagesRequest` -> OpenAI `ChatRequest`, for the Anthropic front door.
//!
//! `system` becomes a leading system message; `tool_result` blocks become `tool` messages
//! (placed before the rest of their user turn), `tool_use` blocks assistant `tool_calls`,
//! `image` blocks `image_url` parts (base64 sources as `data:` URLs); `tool_choice`
//! `auto`/`any`/`tool`/`none` map to `auto`/`required`/named/`none`,
//! `disable_parallel_tool_use` to `parallel_tool_calls: false`, `stop_sequences` to `stop`
//! and `metadata.user_id` to `user`. Streams always ask for usage, which the
//! `message_delta` event needs.
//!
//! Nothing is dropped: `top_k`, `thinking` and every other top-level field the OpenAI shape
//! has no name for go on as fields of the chat request, where the target's adapter sends,
//! translates or refuses them (docs/CAPABILITIES.md). `output_config.format` (and the older
//! `output_format`) become `response_format` with the JSON schema; the thinking blocks of
//! earlier turns become the assistant message's `thinking_blocks`, as they were, so an
//! Anthropic upstream gets them back signed.

use crate::error::GatewayError;
use schemas::anthropic::{ContentBlock, MessagesRequest, ToolChoice};
use schemas::openai::*;
use serde_json::{json, Value};

fn bad(message: String, param: &str) -> GatewayError {
    GatewayError::bad_request(message, Some(param))
}

/// Translates a request; `require_max_tokens` for `/v1/messages` (not for `count_tokens`).
pub fn to_chat(
    mut req: MessagesRequest,
    require_max_tokens: bool,
) -> Result<ChatRequest, GatewayError> {
    if require_max_tokens && req.max_tokens.is_none() {
        return Err(bad(
            "max_tokens: Field required. Set max_tokens, e.g. 1024.".into(),
            "max_tokens",
        ));
    }
    if req.messages.is_empty() {
        return Err(bad(
            "messages: at least one message is required, e.g. [{\"role\":\"user\",\"content\":\"hi\"}].".into(),
            "messages",
        ));
    }
    let mut messages = Vec::new();
    if let Some(system) = req.system.take() {
        let text = join_text(system.into_blocks());
        if !text.is_empty() {
            messages.push(text_message("system", text));
        }
    }
    for (i, m) in std::mem::take(&mut req.messages).into_iter().enumerate() {
        match m.role.as_str() {
            "user" => user_turn(m.content.into_blocks(), i, &mut messages)?,
            "assistant" => messages.push(assistant_turn(m.content.into_blocks())),
            other => {
                return Err(bad(
                    format!("messages.{i}.role: `{other}` is not a role; use user or assistant (the system prompt goes in `system`)."),
                    &format!("messages.{i}.role"),
                ))
            }
        }
    }
    let mut extra = Extra::new();
    let response_format = structured_output(&mut req)?;
    if let Some(k) = req.top_k {
        extra.insert("top_k".into(), k.into());
    }
    for (k, v) in std::mem::take(&mut req.extra) {
        extra.insert(k, v);
    }
    if let Some(tc) = &req.tool_choice {
        if tc.disable_parallel_tool_use == Some(true) {
            extra.insert("parallel_tool_calls".into(), Value::Bool(false));
        }
    }
    let stream = req.stream == Some(true);
    Ok(ChatRequest {
        model: std::mem::take(&mut req.model),
        messages,
        stream: stream.then_some(true),
        stream_options: stream.then(|| StreamOptions {
            include_usage: Some(true),
            ..Default::default()
        }),
        max_tokens: req.max_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        stop: req
            .stop_sequences
            .take()
            .filter(|s| !s.is_empty())
            .map(Stop::Many),
        tools: req.tools.take().map(tools).transpose()?,
        response_format,
        tool_choice: req.tool_choice.as_ref().map(tool_choice).transpose()?,
        user: req
            .metadata
            .as_ref()
            .and_then(|m| m.get("user_id"))
            .and_then(Value::as_str)
            .map(str::to_string),
        extra,
        ..Default::default()
    })
}

fn text_message(role: &str, text: String) -> Message {
    Message {
        role: role.into(),
        content: Some(Content::Text(text)),
        ..Default::default()
    }
}

fn join_text(blocks: Vec<ContentBlock>) -> String {
    blocks
        .iter()
        .filter(|b| b.kind == "text")
        .filter_map(|b| b.text.as_deref())
        .collect::<Vec<_>>()
        .join("\n")
}

fn user_turn(
    blocks: Vec<ContentBlock>,
    i: usize,
    out: &mut Vec<Message>,
) -> Result<(), GatewayError> {
    let mut parts = Vec::new();
    for (j, b) in blocks.into_iter().enumerate() {
        match b.kind.as_str() {
            "tool_result" => {
                let mut text = b.content_text();
                if b.is_error == Some(true) {
                    text = format!("Error: {text}");
                }
                out.push(Message {
                    role: "tool".into(),
                    content: Some(Content::Text(text)),
                    tool_call_id: b.tool_use_id.clone(),
                    ..Default::default()
                });
            }
            "text" => parts.push(ContentPart {
                kind: "text".into(),
                text: b.text,
                ..Default::default()
            }),
            "image" => parts.push(ContentPart {
                kind: "image_url".into(),
                image_url: Some(ImageUrl {
                    url: image_url(&b, i, j)?,
                    detail: None,
                }),
                ..Default::default()
            }),
            other => {
                return Err(bad(
                    format!("messages.{i}.content.{j}: a `{other}` block cannot be translated for the gateway's providers; send text, image or tool_result blocks."),
                    &format!("messages.{i}.content.{j}.type"),
                ))
            }
        }
    }
    match parts.len() {
        0 => {}
        1 if parts[0].kind == "text" => out.push(text_message(
            "user",
            parts[0].text.clone().unwrap_or_default(),
        )),
        _ => out.push(Message {
            role: "user".into(),
            content: Some(Content::Parts(parts)),
            ..Default::default()
        }),
    }
    Ok(())
}

fn image_url(b: &ContentBlock, i: usize, j: usize) -> Result<String, GatewayError> {
    let src = b.source.as_ref();
    match (src.map(|s| s.kind.as_str()), src) {
        (Some("base64"), Some(s)) => Ok(format!(
            "data:{};base64,{}",
            s.media_type.as_deref().unwrap_or("image/png"),
            s.data.as_deref().unwrap_or("")
        )),
        (Some("url"), Some(s)) => Ok(s.url.clone().unwrap_or_default()),
        _ => Err(bad(
            format!("messages.{i}.content.{j}.source: an image source must be {{\"type\":\"base64\",\"media_type\",\"data\"}} or {{\"type\":\"url\",\"url\"}}."),
            &format!("messages.{i}.content.{j}.source"),
        )),
    }
}

fn assistant_turn(blocks: Vec<ContentBlock>) -> Message {
    let mut text = String::new();
    let mut calls = Vec::new();
    let mut thinking = Vec::new();
    for b in blocks {
        match b.kind.as_str() {
            "text" => text.push_str(b.text.as_deref().unwrap_or("")),
            "thinking" | "redacted_thinking" => {
                thinking.push(serde_json::to_value(&b).unwrap_or_default());
            }
            "tool_use" => calls.push(ToolCall {
                id: b.id.unwrap_or_default(),
                kind: "function".into(),
                function: FunctionCall {
                    extra: Default::default(),
                    name: b.name.unwrap_or_default(),
                    arguments: b.input.unwrap_or_else(|| json!({})).to_string(),
                },
                extra: Default::default(),
            }),
            _ => {}
        }
    }
    let mut extra = Extra::new();
    if !thinking.is_empty() {
        extra.insert(THINKING_BLOCKS.into(), thinking.into());
    }
    Message {
        role: "assistant".into(),
        content: (!text.is_empty() || calls.is_empty()).then_some(Content::Text(text)),
        tool_calls: (!calls.is_empty()).then_some(calls),
        extra,
        ..Default::default()
    }
}

/// `output_config.format` (or the older top-level `output_format`) as `response_format`; the
/// rest of `output_config` (`effort`, ...) stays for the adapter.
fn structured_output(req: &mut MessagesRequest) -> Result<Option<Value>, GatewayError> {
    let mut format = req.extra.remove("output_format");
    if let Some(Value::Object(cfg)) = req.extra.get_mut("output_config") {
        if let Some(f) = cfg.remove("format") {
            format = Some(f);
        }
        if cfg.is_empty() {
            req.extra.remove("output_config");
        }
    }
    let Some(f) = format.filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    match (f["type"].as_str(), f.get("schema")) {
        (Some("json_schema"), Some(schema)) => Ok(Some(json!({"type": "json_schema",
            "json_schema": {"name": "output", "schema": schema, "strict": true}}))),
        _ => Err(bad(
            "output_config.format: must be {\"type\":\"json_schema\",\"schema\":{...}}.".into(),
            "output_config.format",
        )),
    }
}

fn tools(defs: Vec<schemas::anthropic::ToolDef>) -> Result<Vec<Tool>, GatewayError> {
    defs.into_iter()
        .enumerate()
        .map(|(i, t)| match t.kind.as_deref() {
            None | Some("custom") => Ok(Tool {
                kind: "function".into(),
                function: FunctionDef {
                    name: t.name,
                    description: t.description,
                    parameters: t.input_schema,
                    extra: Default::default(),
                },
                extra: Default::default(),
            }),
            Some(other) => Err(bad(
                format!("tools.{i}: the server tool `{other}` runs only on Anthropic's API; define a client tool with name, description and input_schema instead."),
                &format!("tools.{i}.type"),
            )),
        })
        .collect()
}

fn tool_choice(tc: &ToolChoice) -> Result<Value, GatewayError> {
    match tc.kind.as_str() {
        "auto" => Ok(json!("auto")),
        "any" => Ok(json!("required")),
        "none" => Ok(json!("none")),
        "tool" => match &tc.name {
            Some(name) => Ok(json!({"type": "function", "function": {"name": name}})),
            None => Err(bad(
                "tool_choice.name: required when tool_choice.type is `tool`.".into(),
                "tool_choice.name",
            )),
        },
        other => Err(bad(
            format!("tool_choice.type: `{other}` is unknown; use auto, any, tool or none."),
            "tool_choice.type",
        )),
    }
}
