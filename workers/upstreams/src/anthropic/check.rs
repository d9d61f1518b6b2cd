//! What the Messages API refuses with a 400 `invalid_request_error`, checked the way it
//! checks: unknown fields, blocks of unknown types or with unknown fields, a `tool_use`
//! without its `tool_result` in the next turn (and the reverse), a tool-use turn that does
//! not start with its thinking block while thinking is on, a thinking block whose signature
//! is not the one issued, a bad image source, a bad `output_config`.

use crate::reply::signature;
use serde_json::Value;
use std::collections::HashSet;

const TOP: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "system",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "metadata",
    "thinking",
    "output_config",
    "service_tier",
    "context_management",
    "container",
    "mcp_servers",
];

/// The fields each block type may have.
fn block_fields(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "text" => &["type", "text", "cache_control", "citations"],
        "image" => &["type", "source", "cache_control"],
        "document" => &[
            "type",
            "source",
            "cache_control",
            "title",
            "context",
            "citations",
        ],
        "tool_use" => &["type", "id", "name", "input", "cache_control"],
        "tool_result" => &[
            "type",
            "tool_use_id",
            "content",
            "is_error",
            "cache_control",
        ],
        "thinking" => &["type", "thinking", "signature"],
        "redacted_thinking" => &["type", "data"],
        _ => return None,
    })
}

fn extra_keys(v: &Value, allowed: &[&str], at: &str) -> Result<(), String> {
    for k in v.as_object().into_iter().flatten().map(|(k, _)| k) {
        if !allowed.contains(&k.as_str()) {
            return Err(format!("{at}{k}: Extra inputs are not permitted"));
        }
    }
    Ok(())
}

fn blocks(content: &Value) -> Vec<Value> {
    match content {
        Value::Array(b) => b.clone(),
        Value::String(s) => vec![serde_json::json!({"type": "text", "text": s})],
        _ => Vec::new(),
    }
}

fn ids(blocks: &[Value], kind: &str, field: &str) -> Vec<String> {
    blocks
        .iter()
        .filter(|b| b["type"] == kind)
        .filter_map(|b| b[field].as_str().map(str::to_string))
        .collect()
}

/// Checks a Messages request; `Err` is the message of the 400.
pub fn request(req: &Value) -> Result<(), String> {
    extra_keys(req, TOP, "")?;
    let max = req["max_tokens"]
        .as_u64()
        .ok_or("max_tokens: Field required")?;
    extra_keys(&req["metadata"], &["user_id"], "metadata.")?;
    let msgs = req["messages"]
        .as_array()
        .ok_or("messages: Field required")?;
    let turns: Vec<Vec<Value>> = msgs.iter().map(|m| blocks(&m["content"])).collect();
    for (i, (m, bs)) in msgs.iter().zip(&turns).enumerate() {
        extra_keys(m, &["role", "content"], &format!("messages.{i}."))?;
        if m["role"] != "user" && m["role"] != "assistant" {
            return Err(format!(
                "messages.{i}.role: Input should be 'user' or 'assistant'"
            ));
        }
        for (j, b) in bs.iter().enumerate() {
            let at = format!("messages.{i}.content.{j}");
            let kind = b["type"].as_str().unwrap_or("");
            let fields = block_fields(kind).ok_or_else(|| format!("{at}.type: Input tag '{kind}' found using 'type' does not match any of the expected tags"))?;
            extra_keys(b, fields, &format!("{at}."))?;
            match kind {
                "image" => image(&b["source"], &at)?,
                "thinking" => {
                    let text = b["thinking"].as_str().unwrap_or("");
                    if b["signature"].as_str() != Some(signature(text).as_str()) {
                        return Err(format!("{at}: Invalid `signature` in `thinking` block"));
                    }
                }
                _ => {}
            }
        }
        if m["role"] == "user" {
            let results = ids(bs, "tool_result", "tool_use_id");
            let before = i
                .checked_sub(1)
                .map(|p| ids(&turns[p], "tool_use", "id"))
                .unwrap_or_default();
            if let Some(stray) = results.iter().find(|r| !before.contains(r)) {
                return Err(format!("messages.{i}.content.0: unexpected `tool_use_id` found in `tool_result` blocks: {stray}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."));
            }
        }
        if m["role"] == "assistant" && i + 1 < msgs.len() {
            let uses = ids(bs, "tool_use", "id");
            let answered: HashSet<String> = ids(&turns[i + 1], "tool_result", "tool_use_id")
                .into_iter()
                .collect();
            let missing: Vec<&String> = uses.iter().filter(|u| !answered.contains(*u)).collect();
            if !missing.is_empty() {
                let list: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
                return Err(format!("messages.{}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.", i + 1, list.join(", ")));
            }
        }
    }
    thinking(req, max, msgs, &turns)?;
    tools(req)?;
    output_config(&req["output_config"])
}

fn image(src: &Value, at: &str) -> Result<(), String> {
    match src["type"].as_str() {
        Some("base64") => {
            let mt = src["media_type"].as_str().unwrap_or("");
            if !["image/jpeg", "image/png", "image/gif", "image/webp"].contains(&mt) {
                return Err(format!("{at}.source.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"));
            }
            if src["data"].as_str().is_none_or(str::is_empty) {
                return Err(format!("{at}.source.data: Field required"));
            }
            extra_keys(
                src,
                &["type", "media_type", "data"],
                &format!("{at}.source."),
            )
        }
        Some("url") => extra_keys(src, &["type", "url"], &format!("{at}.source.")),
        _ => Err(format!(
            "{at}.source.type: Input should be 'base64' or 'url'"
        )),
    }
}

fn thinking(req: &Value, max: u64, msgs: &[Value], turns: &[Vec<Value>]) -> Result<(), String> {
    let t = &req["thinking"];
    if t.is_null() || t["type"] != "enabled" {
        return Ok(());
    }
    extra_keys(t, &["type", "budget_tokens"], "thinking.")?;
    let budget = t["budget_tokens"]
        .as_u64()
        .ok_or("thinking.enabled.budget_tokens: Field required")?;
    if budget < 1024 {
        return Err(
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024".into(),
        );
    }
    if budget >= max {
        return Err("`max_tokens` must be greater than `thinking.budget_tokens`".into());
    }
    // The turn in progress: the last user message answers tool calls of the assistant turn
    // before it, which must start with its thinking.
    let Some(last) = turns.len().checked_sub(1) else {
        return Ok(());
    };
    let answers_tools =
        msgs[last]["role"] == "user" && !ids(&turns[last], "tool_result", "tool_use_id").is_empty();
    if let (true, Some(a)) = (answers_tools, last.checked_sub(1)) {
        let first = turns[a]
            .first()
            .and_then(|b| b["type"].as_str())
            .unwrap_or("");
        if first != "thinking" && first != "redacted_thinking" {
            return Err(format!("messages.{a}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{first}`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns."));
        }
    }
    Ok(())
}

fn tools(req: &Value) -> Result<(), String> {
    for (i, t) in req["tools"].as_array().into_iter().flatten().enumerate() {
        let at = format!("tools.{i}.");
        extra_keys(
            t,
            &[
                "name",
                "description",
                "input_schema",
                "cache_control",
                "type",
                "strict",
            ],
            &at,
        )?;
        if t["input_schema"]["type"] != "object" {
            return Err(format!("{at}input_schema.type: Input should be 'object'"));
        }
    }
    let tc = &req["tool_choice"];
    if !tc.is_null() {
        extra_keys(
            tc,
            &["type", "name", "disable_parallel_tool_use"],
            "tool_choice.",
        )?;
        match tc["type"].as_str() {
            Some("auto" | "any" | "none") => {}
            Some("tool") if tc["name"].is_string() => {}
            _ => return Err("tool_choice: Input tag does not match any of the expected tags: 'auto', 'any', 'tool', 'none'".into()),
        }
    }
    Ok(())
}

fn output_config(c: &Value) -> Result<(), String> {
    if c.is_null() {
        return Ok(());
    }
    extra_keys(c, &["format", "effort"], "output_config.")?;
    let f = &c["format"];
    if !f.is_null() {
        extra_keys(f, &["type", "schema"], "output_config.format.")?;
        if f["type"] != "json_schema" || !f["schema"].is_object() {
            return Err(
                "output_config.format: must be {\"type\": \"json_schema\", \"schema\": {...}}"
                    .into(),
            );
        }
    }
    Ok(())
}
