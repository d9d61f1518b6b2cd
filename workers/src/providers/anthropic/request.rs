//! OpenAI `ChatRequest` -> Anthropic `MessagesRequest`.
//!
//! - `system`/`developer` messages are lifted into the top-level `system` (joined by a blank
//!   line, in order);
//! - `tool` messages become `tool_result` blocks of a `user` turn, assistant `tool_calls`
//!   become `tool_use` blocks, `image_url` parts become `image` blocks (`data:` URLs as a
//!   base64 source, `http(s):` URLs as a url source);
//! - consecutive turns of the same role are merged, as Anthropic requires alternation;
//! - `tool_choice` `auto`/`none`/`required`/named map to `auto`/`none`/`any`/`tool`, and
//!   `parallel_tool_calls: false` to `disable_parallel_tool_use`;
//! - `max_tokens` falls back to the adapter's `max_tokens_default`, since Anthropic requires it;
//! - `top_k`, `thinking` and `metadata` in the request's extra fields pass through; other
//!   OpenAI-only fields (`n`, `seed`, `response_format`, ...) are not sent.

use schemas::anthropic::{
    ContentBlock, ImageSource, InputMessage, MessageContent, MessagesRequest, ToolChoice, ToolDef,
};
use schemas::openai::{ChatRequest, Content, ContentPart, Message};
use serde_json::{json, Value};

/// Extra request fields that Anthropic understands and that pass through.
const PASSTHROUGH: &[&str] = &["top_k", "thinking", "metadata", "service_tier"];

/// Translates a chat request; `Err` says what cannot be expressed for Anthropic.
pub fn to_messages(req: ChatRequest, max_tokens_default: u32) -> Result<MessagesRequest, String> {
    let mut system: Vec<String> = Vec::new();
    let mut turns: Vec<InputMessage> = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        let (role, blocks) = match m.role.as_str() {
            "system" | "developer" => {
                system.push(m.text());
                continue;
            }
            "user" => ("user", user_blocks(m, i)?),
            "assistant" => ("assistant", assistant_blocks(m, i)?),
            "tool" => ("user", vec![tool_result(m, i)?]),
            other => {
                return Err(format!(
                    "messages[{i}].role `{other}` is not supported; use system, user, assistant or tool"
                ))
            }
        };
        if blocks.is_empty() {
            continue;
        }
        push_merged(&mut turns, role, blocks);
    }
    let mut extra = serde_json::Map::new();
    for key in PASSTHROUGH {
        if let Some(v) = req.extra.get(*key) {
            extra.insert((*key).to_string(), v.clone());
        }
    }
    let no_parallel = req.extra.get("parallel_tool_calls") == Some(&Value::Bool(false));
    let mut tool_choice = req.tool_choice.as_ref().map(tool_choice).transpose()?;
    if no_parallel {
        let tc = tool_choice.get_or_insert_with(|| ToolChoice {
            kind: "auto".into(),
            ..Default::default()
        });
        tc.disable_parallel_tool_use = Some(true);
    }
    let mut metadata = extra.remove("metadata");
    if let (None, Some(user)) = (&metadata, &req.user) {
        metadata = Some(json!({"user_id": user}));
    }
    Ok(MessagesRequest {
        model: req.model.clone(),
        messages: turns,
        system: (!system.is_empty()).then(|| MessageContent::Text(system.join("\n\n"))),
        max_tokens: Some(req.max_output_tokens().unwrap_or(max_tokens_default)),
        stop_sequences: req.stop.as_ref().map(|s| s.to_vec()),
        stream: None,
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: extra
            .remove("top_k")
            .and_then(|v| v.as_u64())
            .map(|k| k as u32),
        tools: req.tools.as_ref().map(|tools| {
            tools
                .iter()
                .map(|t| ToolDef {
                    kind: None,
                    name: t.function.name.clone(),
                    description: t.function.description.clone(),
                    input_schema: Some(
                        t.function
                            .parameters
                            .clone()
                            .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                    ),
                    extra: Default::default(),
                })
                .collect()
        }),
        tool_choice,
        metadata,
        extra,
    })
}

fn push_merged(turns: &mut Vec<InputMessage>, role: &str, blocks: Vec<ContentBlock>) {
    if let Some(last) = turns.last_mut().filter(|t| t.role == role) {
        let prev = std::mem::replace(&mut last.content, MessageContent::Blocks(Vec::new()));
        let mut merged = prev.into_blocks();
        merged.extend(blocks);
        last.content = MessageContent::Blocks(merged);
        return;
    }
    turns.push(InputMessage::blocks(role, blocks));
}

fn user_blocks(m: &Message, i: usize) -> Result<Vec<ContentBlock>, String> {
    match &m.content {
        None => Ok(Vec::new()),
        Some(Content::Text(t)) => Ok(vec![ContentBlock::text(t.clone())]),
        Some(Content::Parts(parts)) => parts
            .iter()
            .enumerate()
            .map(|(j, p)| part_block(p, i, j))
            .collect(),
    }
}

fn part_block(p: &ContentPart, i: usize, j: usize) -> Result<ContentBlock, String> {
    match p.kind.as_str() {
        "text" => Ok(ContentBlock::text(p.text.clone().unwrap_or_default())),
        "image_url" => {
            let url = p.image_url.as_ref().map(|u| u.url.as_str()).unwrap_or("");
            Ok(ContentBlock {
                kind: "image".into(),
                source: Some(image_source(url).map_err(|e| {
                    format!("messages[{i}].content[{j}].image_url: {e}")
                })?),
                ..Default::default()
            })
        }
        other => Err(format!(
            "messages[{i}].content[{j}]: a `{other}` part cannot be sent to Anthropic; send text or image_url parts"
        )),
    }
}

/// `data:<media>;base64,<data>` -> base64 source; `http(s)://` -> url source.
pub fn image_source(url: &str) -> Result<ImageSource, String> {
    if let Some(rest) = url.strip_prefix("data:") {
        let Some((meta, data)) = rest.split_once(',') else {
            return Err("a data: URL must look like data:image/png;base64,<data>".into());
        };
        let Some(media) = meta.strip_suffix(";base64") else {
            return Err("only base64 data: URLs are supported (data:image/png;base64,...)".into());
        };
        return Ok(ImageSource {
            kind: "base64".into(),
            media_type: Some(media.to_string()),
            data: Some(data.to_string()),
            ..Default::default()
        });
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(ImageSource {
            kind: "url".into(),
            url: Some(url.to_string()),
            ..Default::default()
        });
    }
    Err("the URL must be an https:// URL or a base64 data: URL".into())
}

fn assistant_blocks(m: &Message, i: usize) -> Result<Vec<ContentBlock>, String> {
    let mut blocks = Vec::new();
    let text = m.text();
    if !text.is_empty() {
        blocks.push(ContentBlock::text(text));
    }
    for (j, call) in m.tool_calls.iter().flatten().enumerate() {
        let args = call.function.arguments.trim();
        let input: Value = if args.is_empty() {
            json!({})
        } else {
            serde_json::from_str(args).map_err(|e| {
                format!("messages[{i}].tool_calls[{j}].function.arguments is not JSON: {e}")
            })?
        };
        blocks.push(ContentBlock::tool_use(
            call.id.clone(),
            call.function.name.clone(),
            input,
        ));
    }
    Ok(blocks)
}

fn tool_result(m: &Message, i: usize) -> Result<ContentBlock, String> {
    let Some(id) = m.tool_call_id.clone() else {
        return Err(format!(
            "messages[{i}] is a tool message without tool_call_id; set it to the id of the call it answers"
        ));
    };
    Ok(ContentBlock {
        kind: "tool_result".into(),
        tool_use_id: Some(id),
        content: Some(MessageContent::Text(m.text())),
        ..Default::default()
    })
}

fn tool_choice(v: &Value) -> Result<ToolChoice, String> {
    let kind = |k: &str| ToolChoice {
        kind: k.into(),
        ..Default::default()
    };
    match v {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(kind("auto")),
            "none" => Ok(kind("none")),
            "required" => Ok(kind("any")),
            other => Err(format!(
                "tool_choice `{other}` is unknown; use auto, none, required or a named function"
            )),
        },
        Value::Object(o) => match o
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
        {
            Some(name) => Ok(ToolChoice {
                name: Some(name.to_string()),
                ..kind("tool")
            }),
            None => Err("tool_choice must name a function: {\"type\":\"function\",\"function\":{\"name\":\"...\"}}".into()),
        },
        _ => Err("tool_choice must be a string or an object".into()),
    }
}
