//! OpenAI chat request -> Gemini `generateContent` body.

use super::schema::{for_gemini, GeminiSchema};
use super::wire::*;
use crate::error::{ErrorKind, ProviderError};
use schemas::openai::{ChatRequest, Content as OaContent, Message};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Gemini's own request fields a client may send, with the name Gemini gives them.
const RENAMED: &[(&str, &str)] = &[
    ("safety_settings", "safetySettings"),
    ("safetySettings", "safetySettings"),
    ("cached_content", "cachedContent"),
    ("cachedContent", "cachedContent"),
];

/// The extra fields the adapter reads.
pub const PASSTHROUGH: &[&str] = &[
    "safety_settings",
    "safetySettings",
    "cached_content",
    "cachedContent",
];

/// Translates a chat request. Errors name the message or field at fault.
pub fn translate(provider: &str, req: &ChatRequest) -> Result<GenerateRequest, ProviderError> {
    let bad = |m: String| ProviderError::new(ErrorKind::BadRequest, provider, m);
    let mut system: Vec<Part> = Vec::new();
    let mut contents: Vec<Content> = Vec::new();
    // tool_call_id -> function name, from earlier assistant messages.
    let mut call_names: HashMap<String, String> = HashMap::new();
    for (i, m) in req.messages.iter().enumerate() {
        match m.role.as_str() {
            "system" | "developer" => system.push(text_part(m.text())),
            "user" => push(&mut contents, "user", user_parts(m).map_err(|e| bad(format!("messages[{i}]: {e}")))?),
            "assistant" => {
                let parts = assistant_parts(m, &mut call_names).map_err(|e| bad(format!("messages[{i}]: {e}")))?;
                if !parts.is_empty() {
                    contents.push(Content { role: Some("model".into()), parts });
                }
            }
            "tool" | "function" => {
                let id = m.tool_call_id.clone().unwrap_or_default();
                let name = call_names.get(&id).cloned().or_else(|| m.name.clone()).ok_or_else(|| {
                    bad(format!(
                        "messages[{i}]: tool_call_id `{id}` answers no earlier assistant tool call; include the assistant message that made the call"
                    ))
                })?;
                let part = Part {
                    function_response: Some(FunctionResponse { name, response: tool_response(&m.text()) }),
                    ..Default::default()
                };
                // All results of one turn's calls go together in one `user` turn.
                match contents.last_mut() {
                    Some(c) if c.role.as_deref() == Some("user") && c.parts.iter().all(|p| p.function_response.is_some()) => c.parts.push(part),
                    _ => contents.push(Content { role: Some("user".into()), parts: vec![part] }),
                }
            }
            other => return Err(bad(format!("messages[{i}].role: `{other}` is not one of system, developer, user, assistant, tool"))),
        }
    }
    let mut out = GenerateRequest {
        contents,
        system_instruction: (!system.is_empty()).then_some(Content {
            role: None,
            parts: system,
        }),
        ..Default::default()
    };
    if let Some(tools) = &req.tools {
        let mut decls = Vec::new();
        for (i, t) in tools.iter().enumerate() {
            if t.kind != "function" {
                return Err(bad(format!(
                    "tools[{i}].type: `{}` is not supported by Gemini; use `function`",
                    t.kind
                )));
            }
            let mut decl = FunctionDecl {
                name: t.function.name.clone(),
                description: t.function.description.clone(),
                ..Default::default()
            };
            match t.function.parameters.as_ref().map(for_gemini) {
                Some(GeminiSchema::OpenApi(s)) => decl.parameters = Some(s).filter(has_properties),
                Some(GeminiSchema::Json(s)) => decl.parameters_json_schema = Some(s),
                None => {}
            }
            decls.push(decl);
        }
        if !decls.is_empty() {
            out.tools = Some(vec![ToolDecl {
                function_declarations: decls,
            }]);
        }
    }
    if let Some(choice) = &req.tool_choice {
        out.tool_config = Some(ToolConfig {
            function_calling_config: tool_choice(choice).map_err(bad)?,
        });
    }
    let config = generation_config(req).map_err(bad)?;
    out.generation_config = (!config.is_empty()).then_some(config);
    for (key, gemini_key) in RENAMED {
        if let Some(v) = req.extra.get(*key) {
            out.extra.insert((*gemini_key).into(), v.clone());
        }
    }
    Ok(out)
}

fn push(contents: &mut Vec<Content>, role: &str, parts: Vec<Part>) {
    if !parts.is_empty() {
        contents.push(Content {
            role: Some(role.into()),
            parts,
        });
    }
}

fn text_part(text: String) -> Part {
    Part {
        text: Some(text),
        ..Default::default()
    }
}

fn has_properties(schema: &Value) -> bool {
    // Gemini rejects an OBJECT schema with no properties; such a function takes no arguments.
    !(schema["type"] == "object"
        && schema["properties"]
            .as_object()
            .is_none_or(|p| p.is_empty()))
}

fn user_parts(m: &Message) -> Result<Vec<Part>, String> {
    match &m.content {
        None => Ok(Vec::new()),
        Some(OaContent::Text(t)) => Ok(vec![text_part(t.clone())]),
        Some(OaContent::Parts(parts)) => parts
            .iter()
            .enumerate()
            .map(|(j, p)| match p.kind.as_str() {
                "text" => Ok(text_part(p.text.clone().unwrap_or_default())),
                "image_url" => {
                    let url = p.image_url.as_ref().map(|u| u.url.as_str()).unwrap_or("");
                    image_part(url).map_err(|e| format!("content[{j}]: {e}"))
                }
                other => Err(format!("content[{j}].type: `{other}` is not supported by the gemini adapter; send text or image_url parts")),
            })
            .collect(),
    }
}

/// A `data:` URL becomes `inlineData`; an `http(s)` URL becomes `fileData`.
fn image_part(url: &str) -> Result<Part, String> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest
            .split_once(',')
            .ok_or("a data: URL needs a `,` before its data")?;
        let mime = meta
            .strip_suffix(";base64")
            .ok_or("a data: URL must be base64 (`data:image/png;base64,...`)")?;
        return Ok(Part {
            inline_data: Some(Blob {
                mime_type: mime.to_string(),
                data: data.to_string(),
            }),
            ..Default::default()
        });
    }
    if url.starts_with("https://") || url.starts_with("http://") || url.starts_with("gs://") {
        let ext = url.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
        let mime = match ext.as_str() {
            "png" => "image/png",
            "webp" => "image/webp",
            "gif" => "image/gif",
            "heic" => "image/heic",
            _ => "image/jpeg",
        };
        return Ok(Part {
            file_data: Some(FileData {
                mime_type: Some(mime.into()),
                file_uri: url.to_string(),
            }),
            ..Default::default()
        });
    }
    Err("image_url.url must be a data: URL or an https:// URL".into())
}

fn assistant_parts(m: &Message, names: &mut HashMap<String, String>) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let text = m.text();
    if !text.is_empty() {
        parts.push(text_part(text));
    }
    for (j, call) in m.tool_calls.iter().flatten().enumerate() {
        let args: Value = if call.function.arguments.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str(&call.function.arguments)
                .map_err(|e| format!("tool_calls[{j}].function.arguments is not JSON ({e}); send the arguments as a JSON object string"))?
        };
        names.insert(call.id.clone(), call.function.name.clone());
        let mut part = Part {
            function_call: Some(FunctionCall {
                id: None,
                name: call.function.name.clone(),
                args,
            }),
            ..Default::default()
        };
        if let Some(sig) = call.thought_signature() {
            part.extra
                .insert("thoughtSignature".into(), Value::String(sig.to_string()));
        }
        parts.push(part);
    }
    Ok(parts)
}

/// A tool result as the `response` object Gemini expects: a JSON object as is, else wrapped.
fn tool_response(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(o)) => Value::Object(o),
        Ok(other) => json!({ "content": other }),
        Err(_) => json!({ "content": text }),
    }
}

fn tool_choice(choice: &Value) -> Result<FunctionCallingConfig, String> {
    let mode = |m: &str| FunctionCallingConfig {
        mode: m.into(),
        allowed_function_names: None,
    };
    match choice {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(mode("AUTO")),
            "none" => Ok(mode("NONE")),
            "required" => Ok(mode("ANY")),
            other => Err(format!(
                "tool_choice: `{other}` is not auto, none, required or a named function"
            )),
        },
        Value::Object(o) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str);
            match name {
                Some(n) => Ok(FunctionCallingConfig { mode: "ANY".into(), allowed_function_names: Some(vec![n.to_string()]) }),
                None => Err("tool_choice: an object must be {\"type\":\"function\",\"function\":{\"name\":...}}".into()),
            }
        }
        _ => Err("tool_choice: must be a string or a named function object".into()),
    }
}

fn generation_config(req: &ChatRequest) -> Result<GenerationConfig, String> {
    let extra = |k: &str| req.extra.get(k).cloned();
    let mut g = GenerationConfig {
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: extra("top_k"),
        max_output_tokens: req.max_output_tokens(),
        stop_sequences: req.stop.as_ref().map(|s| s.to_vec()),
        candidate_count: extra("n"),
        seed: extra("seed"),
        presence_penalty: extra("presence_penalty"),
        frequency_penalty: extra("frequency_penalty"),
        ..Default::default()
    };
    if let Some(rf) = &req.response_format {
        match rf["type"].as_str() {
            Some("text") | None => {}
            Some("json_object") => g.response_mime_type = Some("application/json".into()),
            Some("json_schema") => {
                g.response_mime_type = Some("application/json".into());
                match rf["json_schema"].get("schema").map(for_gemini) {
                    Some(GeminiSchema::OpenApi(s)) => g.response_schema = Some(s),
                    Some(GeminiSchema::Json(s)) => g.response_json_schema = Some(s),
                    None => return Err("response_format.json_schema.schema is required".into()),
                }
            }
            Some(other) => {
                return Err(format!(
                    "response_format.type: `{other}` is not text, json_object or json_schema"
                ))
            }
        }
    }
    g.thinking_config = thinking_config(req)?;
    Ok(g)
}

/// `reasoning_effort` or Anthropic's `thinking` as `thinkingConfig`. Gemini 3 models take a
/// `thinkingLevel` (`low`, `high`); earlier ones a `thinkingBudget` in tokens. Thoughts are
/// included, so they come back as `reasoning_content`.
fn thinking_config(req: &ChatRequest) -> Result<Option<Value>, String> {
    let gemini_3 = req
        .model
        .trim_start_matches("models/")
        .starts_with("gemini-3");
    if let Some(effort) = req.extra.get("reasoning_effort").and_then(Value::as_str) {
        let (level, budget) = match effort {
            "none" => ("low", 0),
            "minimal" | "low" => ("low", 1024),
            "medium" => ("high", 8192),
            "high" | "xhigh" => ("high", 24576),
            other => {
                return Err(format!(
                    "reasoning_effort: `{other}` is not none, minimal, low, medium or high"
                ))
            }
        };
        return Ok(Some(if gemini_3 {
            json!({"thinkingLevel": level, "includeThoughts": budget > 0})
        } else if budget == 0 {
            json!({"thinkingBudget": 0})
        } else {
            json!({"thinkingBudget": budget, "includeThoughts": true})
        }));
    }
    let Some(t) = req.extra.get("thinking").filter(|t| !t.is_null()) else {
        return Ok(None);
    };
    match t["type"].as_str() {
        Some("disabled") => Ok(Some(json!({"thinkingBudget": 0}))),
        Some("enabled") => match t["budget_tokens"].as_u64() {
            Some(b) => Ok(Some(json!({"thinkingBudget": b, "includeThoughts": true}))),
            None => Err("thinking.budget_tokens is required when thinking.type is enabled".into()),
        },
        Some("adaptive") => Ok(Some(json!({"thinkingBudget": -1, "includeThoughts": true}))),
        _ => Err("thinking.type must be enabled, disabled or adaptive".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: serde_json::Value) -> ChatRequest {
        serde_json::from_value(v).unwrap_or_default()
    }

    #[test]
    fn no_generation_settings_means_no_generation_config() {
        let r = req(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}));
        let out = translate("g", &r).map(|o| serde_json::to_value(o).unwrap_or_default());
        let out = out.unwrap_or_default();
        assert!(out.get("generationConfig").is_none(), "{out}");
    }

    #[test]
    fn reasoning_maps_to_thinking_config_by_generation() {
        let think = |model: &str, effort: &str| {
            let r = req(json!({"model": model, "messages": [], "reasoning_effort": effort}));
            thinking_config(&r).unwrap_or_default().unwrap_or_default()
        };
        assert_eq!(
            think("gemini-3-pro-preview", "high"),
            json!({"thinkingLevel": "high", "includeThoughts": true})
        );
        assert_eq!(
            think("gemini-2.5-flash", "low"),
            json!({"thinkingBudget": 1024, "includeThoughts": true})
        );
        assert_eq!(
            think("gemini-2.5-flash", "none"),
            json!({"thinkingBudget": 0})
        );
        let r = req(
            json!({"model": "gemini-2.5-pro", "messages": [], "thinking": {"type": "enabled", "budget_tokens": 2048}}),
        );
        assert_eq!(
            thinking_config(&r).unwrap_or_default(),
            Some(json!({"thinkingBudget": 2048, "includeThoughts": true}))
        );
    }
}
