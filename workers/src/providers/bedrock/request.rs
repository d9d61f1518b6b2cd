//! OpenAI chat request -> Bedrock `Converse` body.

use super::wire::*;
use crate::error::{ErrorKind, ProviderError};
use schemas::openai::{ChatRequest, Content, Message as OaMessage};
use serde_json::{json, Value};

/// Bedrock fields a client may pass through unchanged.
pub const PASS_THROUGH: &[&str] = &[
    "additionalModelRequestFields",
    "additionalModelResponseFieldPaths",
    "guardrailConfig",
    "performanceConfig",
    "promptVariables",
    "requestMetadata",
];

/// Translates a chat request. Errors name the message or field at fault.
pub fn translate(provider: &str, req: &ChatRequest) -> Result<ConverseRequest, ProviderError> {
    let bad = |m: String| ProviderError::new(ErrorKind::BadRequest, provider, m);
    let mut out = ConverseRequest::default();
    for (i, m) in req.messages.iter().enumerate() {
        let at = |e: String| bad(format!("messages[{i}]: {e}"));
        let (role, blocks) = match m.role.as_str() {
            "system" | "developer" => {
                let text = m.text();
                if !text.is_empty() {
                    out.system.push(SystemBlock { text });
                }
                continue;
            }
            "user" => ("user", user_blocks(m).map_err(at)?),
            "assistant" => ("assistant", assistant_blocks(m).map_err(at)?),
            "tool" | "function" => {
                let id = m
                    .tool_call_id
                    .clone()
                    .ok_or_else(|| at("a tool message needs tool_call_id".into()))?;
                let result = ToolResult {
                    tool_use_id: id,
                    content: vec![json!({ "text": m.text() })],
                };
                (
                    "user",
                    vec![Block {
                        tool_result: Some(result),
                        ..Default::default()
                    }],
                )
            }
            other => {
                return Err(at(format!(
                    "role `{other}` is not one of system, developer, user, assistant, tool"
                )))
            }
        };
        if blocks.is_empty() {
            continue;
        }
        // Converse wants roles to alternate: consecutive turns of one role are merged.
        match out.messages.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => out.messages.push(Message {
                role: role.into(),
                content: blocks,
            }),
        }
    }
    let stop = req.stop.as_ref().map(|s| s.to_vec());
    if req.max_output_tokens().is_some()
        || req.temperature.is_some()
        || req.top_p.is_some()
        || stop.is_some()
    {
        out.inference_config = Some(InferenceConfig {
            max_tokens: req.max_output_tokens(),
            temperature: req.temperature,
            top_p: req.top_p,
            stop_sequences: stop,
        });
    }
    out.tool_config = tool_config(req).map_err(bad)?;
    if req.tool_choice.as_ref().is_some_and(|c| c == "none") {
        // Converse has no `none`: the tools are left out, which it allows only while no
        // earlier turn holds a tool call or result.
        let history = out
            .messages
            .iter()
            .flat_map(|m| &m.content)
            .any(|b| b.tool_use.is_some() || b.tool_result.is_some());
        if history {
            return Err(ProviderError::new(
                ErrorKind::Unsupported,
                provider,
                "tool_choice `none` cannot be sent to Bedrock once the conversation holds tool calls (Converse needs the tools declared then, and has no `none`); use `auto`",
            )
            .param("tool_choice"));
        }
        out.tool_config = None;
    }
    out.output_config = output_config(req).map_err(bad)?;
    for key in PASS_THROUGH {
        if let Some(v) = req.extra.get(*key) {
            out.extra.insert((*key).into(), v.clone());
        }
    }
    if let Some(t) = req.extra.get("thinking").filter(|t| !t.is_null()) {
        let fields = out
            .extra
            .entry("additionalModelRequestFields")
            .or_insert_with(|| json!({}));
        match fields.as_object_mut() {
            Some(f) => {
                f.entry("thinking").or_insert_with(|| t.clone());
            }
            None => return Err(bad("additionalModelRequestFields must be an object".into())),
        }
    }
    Ok(out)
}

/// `response_format` with a JSON schema as `outputConfig.textFormat` (the schema as a JSON
/// string, as Converse takes it). `json_object` has no Converse form; the capability table
/// refuses it before this.
fn output_config(req: &ChatRequest) -> Result<Option<Value>, String> {
    let Some(rf) = &req.response_format else {
        return Ok(None);
    };
    match rf["type"].as_str() {
        None | Some("text") => Ok(None),
        Some("json_schema") => {
            let js = &rf["json_schema"];
            let schema = js
                .get("schema")
                .ok_or("response_format.json_schema.schema is required")?;
            let mut def = json!({"schema": schema.to_string(),
                "name": js["name"].as_str().unwrap_or("response")});
            if let Some(d) = js["description"].as_str() {
                def["description"] = Value::String(d.to_string());
            }
            Ok(Some(
                json!({"textFormat": {"type": "json_schema", "structure": {"jsonSchema": def}}}),
            ))
        }
        Some(other) => Err(format!(
            "response_format `{other}` cannot be sent to Bedrock; use json_schema with a schema"
        )),
    }
}

fn text_block(text: String) -> Block {
    Block {
        text: Some(text),
        ..Default::default()
    }
}

fn user_blocks(m: &OaMessage) -> Result<Vec<Block>, String> {
    match &m.content {
        None => Ok(Vec::new()),
        Some(Content::Text(t)) if t.is_empty() => Ok(Vec::new()),
        Some(Content::Text(t)) => Ok(vec![text_block(t.clone())]),
        Some(Content::Parts(parts)) => {
            let mut out = Vec::new();
            for (j, p) in parts.iter().enumerate() {
                match p.kind.as_str() {
                    "text" => {
                        let t = p.text.clone().unwrap_or_default();
                        if !t.is_empty() {
                            out.push(text_block(t));
                        }
                    }
                    "image_url" => {
                        let url = p.image_url.as_ref().map(|u| u.url.as_str()).unwrap_or("");
                        out.push(image_block(url).map_err(|e| format!("content[{j}]: {e}"))?);
                    }
                    other => return Err(format!("content[{j}].type: `{other}` is not supported by the bedrock adapter; send text or image_url parts")),
                }
            }
            Ok(out)
        }
    }
}

/// A base64 `data:` URL as an image block (Converse takes bytes, not URLs).
fn image_block(url: &str) -> Result<Block, String> {
    let rest = url
        .strip_prefix("data:")
        .ok_or("Bedrock takes images as bytes only; send image_url.url as a data: URL (data:image/png;base64,...)")?;
    let (meta, data) = rest
        .split_once(',')
        .ok_or("a data: URL needs a `,` before its data")?;
    let mime = meta
        .strip_suffix(";base64")
        .ok_or("a data: URL must be base64 (`data:image/png;base64,...`)")?;
    let format = match mime {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        other => {
            return Err(format!(
                "image type `{other}` is not png, jpeg, gif or webp"
            ))
        }
    };
    Ok(Block {
        image: Some(Image {
            format: format.into(),
            source: ImageSource {
                bytes: data.to_string(),
            },
        }),
        ..Default::default()
    })
}

fn assistant_blocks(m: &OaMessage) -> Result<Vec<Block>, String> {
    // Signed thinking first, as Claude on Bedrock requires when a tool-use turn goes on.
    let mut out: Vec<Block> = m
        .thinking_blocks()
        .iter()
        .filter_map(super::response::reasoning_content)
        .map(|rc| {
            let mut b = Block::default();
            b.extra.insert("reasoningContent".into(), rc);
            b
        })
        .collect();
    let text = m.text();
    if !text.is_empty() {
        out.push(text_block(text));
    }
    for (j, call) in m.tool_calls.iter().flatten().enumerate() {
        let input: Value = if call.function.arguments.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str(&call.function.arguments)
                .map_err(|e| format!("tool_calls[{j}].function.arguments is not JSON ({e}); send the arguments as a JSON object string"))?
        };
        out.push(Block {
            tool_use: Some(ToolUse {
                tool_use_id: call.id.clone(),
                name: call.function.name.clone(),
                input,
            }),
            ..Default::default()
        });
    }
    Ok(out)
}

/// Tools and tool choice. Converse has no `none`: the tools are still declared (earlier
/// tool blocks need them) and the choice is left to the model.
fn tool_config(req: &ChatRequest) -> Result<Option<ToolConfig>, String> {
    let Some(tools) = req.tools.as_ref().filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let mut specs = Vec::new();
    for (i, t) in tools.iter().enumerate() {
        if t.kind != "function" {
            return Err(format!(
                "tools[{i}].type: `{}` is not supported by Bedrock; use `function`",
                t.kind
            ));
        }
        let schema = t
            .function
            .parameters
            .clone()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        let mut spec = json!({"name": t.function.name, "inputSchema": {"json": schema}});
        if let Some(d) = &t.function.description {
            spec["description"] = Value::String(d.clone());
        }
        specs.push(json!({ "toolSpec": spec }));
    }
    let choice = match &req.tool_choice {
        None => None,
        Some(Value::String(s)) => match s.as_str() {
            "auto" | "none" => Some(json!({"auto": {}})),
            "required" => Some(json!({"any": {}})),
            other => return Err(format!("tool_choice: `{other}` is not auto, none, required or a named function")),
        },
        Some(Value::Object(o)) => match o.get("function").and_then(|f| f.get("name")).and_then(Value::as_str) {
            Some(n) => Some(json!({"tool": {"name": n}})),
            None => return Err("tool_choice: an object must be {\"type\":\"function\",\"function\":{\"name\":...}}".into()),
        },
        Some(_) => return Err("tool_choice: must be a string or a named function object".into()),
    };
    Ok(Some(ToolConfig {
        tools: specs,
        tool_choice: choice,
    }))
}
