//! What `Converse` refuses with a 400 `ValidationException`, checked the way it checks:
//! unknown fields, content blocks that are not exactly one known member, tool blocks without
//! a `toolConfig`, a `toolUse` turn not answered by its `toolResult`s (and the reverse), a
//! malformed image or `outputConfig`, and — for Claude with thinking on — a tool-use turn
//! that does not start with its signed `reasoningContent`.

use crate::reply::signature;
use serde_json::Value;

const TOP: &[&str] = &[
    "messages",
    "system",
    "inferenceConfig",
    "toolConfig",
    "guardrailConfig",
    "additionalModelRequestFields",
    "promptVariables",
    "additionalModelResponseFieldPaths",
    "requestMetadata",
    "performanceConfig",
    "outputConfig",
];
const BLOCK: &[&str] = &[
    "text",
    "image",
    "document",
    "video",
    "toolUse",
    "toolResult",
    "reasoningContent",
    "cachePoint",
    "guardContent",
];

fn extraneous(v: &Value, allowed: &[&str]) -> Result<(), String> {
    for k in v.as_object().into_iter().flatten().map(|(k, _)| k) {
        if !allowed.contains(&k.as_str()) {
            return Err(format!("Malformed input request: extraneous key [{k}] is not permitted, please reformat your input and try again."));
        }
    }
    Ok(())
}

fn blocks(m: &Value) -> Vec<Value> {
    m["content"].as_array().cloned().unwrap_or_default()
}

fn ids(m: &Value, member: &str) -> Vec<String> {
    blocks(m)
        .iter()
        .filter_map(|b| b[member]["toolUseId"].as_str().map(str::to_string))
        .collect()
}

/// Checks a `Converse` request; `Err` is the message of the 400.
pub fn request(req: &Value) -> Result<(), String> {
    extraneous(req, TOP)?;
    extraneous(
        &req["inferenceConfig"],
        &["maxTokens", "temperature", "topP", "stopSequences"],
    )?;
    let msgs = req["messages"].as_array().cloned().unwrap_or_default();
    let mut tool_blocks = false;
    for (i, m) in msgs.iter().enumerate() {
        extraneous(m, &["role", "content"])?;
        for (j, b) in blocks(m).iter().enumerate() {
            extraneous(b, BLOCK)?;
            if b.as_object().map(|o| o.len()) != Some(1) {
                return Err(format!(
                    "messages.{i}.content.{j}: a content block must have exactly one member"
                ));
            }
            tool_blocks |= b.get("toolUse").is_some() || b.get("toolResult").is_some();
            if let Some(img) = b.get("image") {
                let f = img["format"].as_str().unwrap_or("");
                if !["png", "jpeg", "gif", "webp"].contains(&f)
                    || !img["source"]["bytes"].is_string()
                {
                    return Err(format!("messages.{i}.content.{j}.image: format must be png, jpeg, gif or webp with source.bytes"));
                }
            }
            if let Some(t) = b["reasoningContent"].get("reasoningText") {
                if t["signature"].as_str()
                    != Some(signature(t["text"].as_str().unwrap_or("")).as_str())
                {
                    return Err(format!(
                        "messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
                    ));
                }
            }
        }
        if m["role"] == "user" && i > 0 {
            let uses = ids(&msgs[i - 1], "toolUse");
            let results = ids(m, "toolResult");
            if results.iter().any(|r| !uses.contains(r)) {
                return Err(format!("The number of toolResult blocks at messages.{i}.content exceeds the number of toolUse blocks of previous turn."));
            }
            let missing: Vec<&str> = uses
                .iter()
                .filter(|u| !results.contains(u))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return Err(format!(
                    "Expected toolResult blocks at messages.{i}.content for the following Ids: {}",
                    missing.join(", ")
                ));
            }
        }
    }
    if tool_blocks && req.get("toolConfig").is_none() {
        return Err("The toolConfig field must be defined when using toolUse and toolResult content blocks.".into());
    }
    thinking(req, &msgs)?;
    output_config(&req["outputConfig"])
}

fn thinking(req: &Value, msgs: &[Value]) -> Result<(), String> {
    if req["additionalModelRequestFields"]["thinking"]["type"] != "enabled" {
        return Ok(());
    }
    let Some(last) = msgs.len().checked_sub(1) else {
        return Ok(());
    };
    if ids(&msgs[last], "toolResult").is_empty() || last == 0 {
        return Ok(());
    }
    let first = blocks(&msgs[last - 1]).first().cloned().unwrap_or_default();
    if first.get("reasoningContent").is_none() {
        let found = first
            .as_object()
            .and_then(|o| o.keys().next().cloned())
            .unwrap_or_default();
        return Err(format!("messages.{}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{found}`. When `thinking` is enabled, a final `assistant` message must start with a thinking block.", last - 1));
    }
    Ok(())
}

fn output_config(c: &Value) -> Result<(), String> {
    if c.is_null() {
        return Ok(());
    }
    extraneous(c, &["textFormat"])?;
    let f = &c["textFormat"];
    extraneous(f, &["type", "structure"])?;
    let js = &f["structure"]["jsonSchema"];
    extraneous(js, &["schema", "name", "description"])?;
    let parsed = js["schema"].as_str().map(serde_json::from_str::<Value>);
    if f["type"] != "json_schema" || !matches!(parsed, Some(Ok(Value::Object(_)))) {
        return Err("outputConfig.textFormat: type must be json_schema with structure.jsonSchema.schema a JSON schema string".into());
    }
    Ok(())
}
