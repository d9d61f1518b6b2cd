//! Anthropic `MessagesRequest` -> OpenAI `ChatRequest`, for the Anthropic front door.
//!
//! `system` becomes a leading system message; `tool_result` blocks become `tool` messages
//! (placed before the rest of their user turn), `tool_use` blocks assistant `tool_calls`,
//! `image` blocks `image_url` parts (base64 sources as `data:` URLs); `tool_choice`
//! `auto`/`any`/`tool`/`none` map to `auto`/`required`/named/`none`,
//! `disable_parallel_tool_use` to `parallel_tool_calls: false`, `stop_sequences` to `stop`
//! and `metadata.user_id` to `user`. Streams always ask for usage, which the
//! `message_delta` event needs. `thinking` blocks of earlier turns are dropped; `top_k`,
//! `thinking` and other Anthropic-only parameters have no OpenAI equivalent and are not
//! forwarded.

use crate::error::GatewayError;
use schemas::anthropic::{ContentBlock, MessagesRequest, ToolChoice};
use schemas::openai::*;
use serde_json::{json, Value};

fn bad(message: String, param: &str) -> GatewayError {
    GatewayError::bad_request(message, Some(param))
}

/// Translates a request; `require_max_tokens` for `/v1/messages` (not for `count_tokens`).
pub fn to_chat(
    req: MessagesRequest,
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
    if let Some(system) = req.system {
        let text = join_text(system.into_blocks());
        if !text.is_empty() {
            messages.push(text_message("system", text));
        }
    }
    for (i, m) in req.messages.into_iter().enumerate() {
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
    if let Some(tc) = &req.tool_choice {
        if tc.disable_parallel_tool_use == Some(true) {
            extra.insert("parallel_tool_calls".into(), Value::Bool(false));
        }
    }
    let stream = req.stream == Some(true);
    Ok(ChatRequest {
        model: req.model,
        messages,
        stream: stream.then_some(true),
        stream_options: stream.then(|| StreamOptions {
            include_usage: Some(true),
            ..Default::default()
        }),
        max_tokens: req.max_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        stop: req.stop_sequences.filter(|s| !s.is_empty()).map(Stop::Many),
        tools: req.tools.map(tools).transpose()?,
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
    for b in blocks {
        match b.kind.as_str() {
            "text" => text.push_str(b.text.as_deref().unwrap_or("")),
            "tool_use" => calls.push(ToolCall {
                id: b.id.unwrap_or_default(),
                kind: "function".into(),
                function: FunctionCall {
                    name: b.name.unwrap_or_default(),
                    arguments: b.input.unwrap_or_else(|| json!({})).to_string(),
                },
            }),
            _ => {}
        }
    }
    Message {
        role: "assistant".into(),
        content: (!text.is_empty() || calls.is_empty()).then_some(Content::Text(text)),
        tool_calls: (!calls.is_empty()).then_some(calls),
        ..Default::default()
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
