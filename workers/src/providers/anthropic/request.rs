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
//! - `top_k` and Anthropic's own fields ([`PASSTHROUGH`]) pass through; `user` becomes
//!   `metadata.user_id`. What Anthropic cannot take is refused before translation (see the
//!   adapter's capability table), so nothing reaches here that would be dropped.

use schemas::anthropic::{
    ContentBlock, ImageSource, InputMessage, MessageContent, MessagesRequest, ToolChoice, ToolDef,
};
use schemas::openai::{ChatRequest, Content, ContentPart, Message};
use serde_json::{json, Value};

/// Anthropic's own request fields that a client may send (through `extra_body`, or the
/// Anthropic front door) and that pass through as they are.
pub const PASSTHROUGH: &[&str] = &[
    "thinking",
    "output_config",
    "context_management",
    "container",
    "mcp_servers",
];

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
    if let Some(format) = output_format(req.response_format.as_ref())? {
        let config = extra.entry("output_config").or_insert_with(|| json!({}));
        match config.as_object_mut() {
            Some(c) => {
                c.insert("format".into(), format);
            }
            None => return Err("output_config must be an object".into()),
        }
    }
    let mut max_tokens = req.max_output_tokens();
    if let Some(effort) = req.extra.get("reasoning_effort").and_then(Value::as_str) {
        if let Some(thinking) = thinking_for_effort(effort, &mut max_tokens, max_tokens_default)? {
            extra.entry("thinking").or_insert(thinking);
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
    let metadata = req.user.as_ref().map(|u| json!({ "user_id": u }));
    Ok(MessagesRequest {
        model: req.model.clone(),
        messages: turns,
        system: (!system.is_empty()).then(|| MessageContent::Text(system.join("\n\n"))),
        max_tokens: Some(max_tokens.unwrap_or(max_tokens_default)),
        stop_sequences: req.stop.as_ref().map(|s| s.to_vec()),
        stream: None,
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req
            .extra
            .get("top_k")
            .and_then(Value::as_u64)
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
    let mut blocks = thinking_blocks(m, i)?;
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

/// The signed thinking an earlier answer carried (`thinking_blocks`), restored at the head
/// of its turn as Anthropic requires. Blocks without a signature (thinking shown by another
/// provider) cannot be verified by Anthropic and are left out.
fn thinking_blocks(m: &Message, i: usize) -> Result<Vec<ContentBlock>, String> {
    let mut out = Vec::new();
    for (j, b) in m.thinking_blocks().iter().enumerate() {
        let block: ContentBlock = serde_json::from_value(b.clone()).map_err(|e| {
            format!("messages[{i}].thinking_blocks[{j}] is not a thinking block ({e}); send back the blocks as the gateway gave them")
        })?;
        let signed = match block.kind.as_str() {
            "thinking" => block
                .extra
                .get("signature")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty()),
            "redacted_thinking" => block.extra.get("data").is_some_and(|d| d.is_string()),
            other => {
                return Err(format!(
                    "messages[{i}].thinking_blocks[{j}].type `{other}` is not thinking or redacted_thinking"
                ))
            }
        };
        if signed {
            out.push(block);
        }
    }
    Ok(out)
}

/// `response_format` as Anthropic's `output_config.format`: a JSON schema is sent as is;
/// `json_object` has no Anthropic form (the capability table refuses it first).
fn output_format(rf: Option<&Value>) -> Result<Option<Value>, String> {
    let Some(rf) = rf else { return Ok(None) };
    match rf["type"].as_str() {
        None | Some("text") => Ok(None),
        Some("json_schema") => match rf["json_schema"].get("schema") {
            Some(schema) => Ok(Some(json!({"type": "json_schema", "schema": schema}))),
            None => Err("response_format.json_schema.schema is required".into()),
        },
        Some(other) => Err(format!(
            "response_format `{other}` cannot be sent to Anthropic; use json_schema with a schema"
        )),
    }
}

/// The thinking budget of a `reasoning_effort` (see the adapter's capability table).
pub fn effort_budget(effort: &str) -> Result<Option<u32>, String> {
    match effort {
        "none" => Ok(None),
        "minimal" | "low" => Ok(Some(1024)),
        "medium" => Ok(Some(4096)),
        "high" | "xhigh" => Ok(Some(16384)),
        other => Err(format!(
            "reasoning_effort `{other}` is not none, minimal, low, medium or high"
        )),
    }
}

/// `reasoning_effort` as `thinking`: the budget fits under the client's token limit (which
/// counts reasoning, as OpenAI's does); without a limit, the answer keeps the default on top.
fn thinking_for_effort(
    effort: &str,
    max_tokens: &mut Option<u32>,
    default: u32,
) -> Result<Option<Value>, String> {
    let Some(budget) = effort_budget(effort)? else {
        return Ok(None);
    };
    let budget = match *max_tokens {
        None => {
            *max_tokens = Some(budget + default);
            budget
        }
        Some(m) if m > 1024 => budget.min(m - 1).max(1024),
        Some(m) => {
            return Err(format!(
                "max_completion_tokens {m} leaves no room for reasoning_effort `{effort}`: Anthropic thinks with at least 1024 tokens; raise the limit above 1024"
            ))
        }
    };
    Ok(Some(json!({"type": "enabled", "budget_tokens": budget})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_effort_budgets_fit_under_the_token_limit() {
        let mut max = None;
        let t = thinking_for_effort("medium", &mut max, 4096).unwrap_or_default();
        assert_eq!(t, Some(json!({"type": "enabled", "budget_tokens": 4096})));
        assert_eq!(
            max,
            Some(8192),
            "no client limit: the default stays for the answer"
        );
        let mut max = Some(3000);
        let t = thinking_for_effort("high", &mut max, 4096).unwrap_or_default();
        assert_eq!(
            t,
            Some(json!({"type": "enabled", "budget_tokens": 2999})),
            "under the client's limit"
        );
        let mut max = Some(800);
        let e = thinking_for_effort("low", &mut max, 4096)
            .err()
            .unwrap_or_default();
        assert!(
            e.contains("1024") && e.contains("max_completion_tokens"),
            "{e}"
        );
        assert_eq!(thinking_for_effort("none", &mut None, 4096), Ok(None));
        assert!(thinking_for_effort("extreme", &mut None, 4096).is_err());
    }

    #[test]
    fn a_json_schema_becomes_output_config_format() {
        let rf = json!({"type": "json_schema", "json_schema": {"name": "p", "schema": {"type": "object"}}});
        assert_eq!(
            output_format(Some(&rf)),
            Ok(Some(
                json!({"type": "json_schema", "schema": {"type": "object"}})
            ))
        );
        assert_eq!(output_format(Some(&json!({"type": "text"}))), Ok(None));
        assert!(output_format(Some(&json!({"type": "json_object"}))).is_err());
    }
}
