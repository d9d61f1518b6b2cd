//! What `generateContent` refuses with a 400 `INVALID_ARGUMENT`, checked the way it checks:
//! unknown fields anywhere (the API is protobuf JSON: `Unknown name "x" at '...'`), schema
//! keywords outside its OpenAPI subset (`$ref`, `additionalProperties`, ...), a `required`
//! property that is not defined, an object schema without properties (or properties on a
//! non-object), a function-call turn
//! not answered by as many function responses, and — for Gemini 3 and thinking models — a
//! function call of the current turn without the thought signature the API issued.

use crate::reply::signature;
use serde_json::Value;

const TOP: &[&str] = &[
    "contents",
    "systemInstruction",
    "system_instruction",
    "tools",
    "toolConfig",
    "tool_config",
    "generationConfig",
    "generation_config",
    "safetySettings",
    "safety_settings",
    "cachedContent",
    "cached_content",
];
const PART: &[&str] = &[
    "text",
    "thought",
    "thoughtSignature",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
    "videoMetadata",
];
const GENERATION: &[&str] = &[
    "temperature",
    "topP",
    "topK",
    "maxOutputTokens",
    "stopSequences",
    "candidateCount",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "thinkingConfig",
    "responseLogprobs",
    "logprobs",
    "responseModalities",
    "mediaResolution",
];
/// Gemini's `Schema` fields, written out here apart from the adapter's own list on purpose:
/// the mock must not accept what the adapter wrongly thinks Gemini takes.
const SCHEMA: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];

/// The signature the mock issues for a function call (and expects back).
pub fn call_signature(call: &Value) -> String {
    signature(&format!(
        "{}{}",
        call["name"].as_str().unwrap_or(""),
        call["args"]
    ))
}

fn known(v: &Value, allowed: &[&str], at: &str) -> Result<(), String> {
    for k in v.as_object().into_iter().flatten().map(|(k, _)| k) {
        if !allowed.contains(&k.as_str()) {
            return Err(format!(
                "Invalid JSON payload received. Unknown name \"{k}\" at '{at}': Cannot find field."
            ));
        }
    }
    Ok(())
}

/// Checks a `generateContent` request for `model`; `Err` is the message of the 400.
pub fn request(req: &Value, model: &str) -> Result<(), String> {
    known(req, TOP, "")?;
    let contents = req["contents"].as_array().cloned().unwrap_or_default();
    for (i, c) in contents.iter().enumerate() {
        known(c, &["role", "parts"], &format!("contents[{i}]"))?;
        for (j, p) in c["parts"].as_array().into_iter().flatten().enumerate() {
            let at = format!("contents[{i}].parts[{j}]");
            known(p, PART, &at)?;
            known(
                &p["functionCall"],
                &["id", "name", "args"],
                &format!("{at}.function_call"),
            )?;
            known(
                &p["functionResponse"],
                &["id", "name", "response"],
                &format!("{at}.function_response"),
            )?;
        }
    }
    pairing(&contents)?;
    let g = req.get("generationConfig").unwrap_or(&Value::Null);
    known(g, GENERATION, "generation_config")?;
    known(
        &g["thinkingConfig"],
        &["thinkingBudget", "thinkingLevel", "includeThoughts"],
        "generation_config.thinking_config",
    )?;
    if let Some(s) = g.get("responseSchema") {
        schema(s, "generation_config.response_schema")?;
    }
    for (i, t) in req["tools"].as_array().into_iter().flatten().enumerate() {
        known(
            t,
            &[
                "functionDeclarations",
                "googleSearch",
                "codeExecution",
                "urlContext",
            ],
            &format!("tools[{i}]"),
        )?;
        for (j, d) in t["functionDeclarations"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let at = format!("tools[{i}].function_declarations[{j}]");
            known(
                d,
                &[
                    "name",
                    "description",
                    "parameters",
                    "parametersJsonSchema",
                    "response",
                    "behavior",
                ],
                &at,
            )?;
            if let Some(s) = d.get("parameters") {
                schema(s, &format!("{at}.parameters"))?;
            }
        }
    }
    let thinking = model.starts_with("gemini-3") || g.get("thinkingConfig").is_some();
    if thinking {
        signatures(&contents)?;
    }
    Ok(())
}

fn schema(s: &Value, at: &str) -> Result<(), String> {
    known(s, SCHEMA, at)?;
    let props = s["properties"].as_object();
    let is_object = s["type"]
        .as_str()
        .is_some_and(|t| t.eq_ignore_ascii_case("object"));
    if is_object && props.is_none_or(|p| p.is_empty()) {
        return Err(format!(
            "* GenerateContentRequest.{at}.properties: should be non-empty for OBJECT type"
        ));
    }
    if s.get("type").is_some() && !is_object {
        for k in ["properties", "required"] {
            if s.get(k).is_some() {
                return Err(format!(
                    "* GenerateContentRequest.{at}.{k}: only allowed for OBJECT type"
                ));
            }
        }
    }
    for (i, r) in s["required"].as_array().into_iter().flatten().enumerate() {
        let name = r.as_str().unwrap_or("");
        if !props.is_some_and(|p| p.contains_key(name)) {
            return Err(format!(
                "* GenerateContentRequest.{at}.required[{i}]: property is not defined"
            ));
        }
    }
    for (name, p) in props.into_iter().flatten() {
        schema(p, &format!("{at}.properties[{name}]"))?;
    }
    if let Some(items) = s.get("items") {
        schema(items, &format!("{at}.items"))?;
    }
    for (i, a) in s["anyOf"].as_array().into_iter().flatten().enumerate() {
        schema(a, &format!("{at}.any_of[{i}]"))?;
    }
    Ok(())
}

fn count(c: &Value, field: &str) -> usize {
    c["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p.get(field).is_some())
        .count()
}

fn pairing(contents: &[Value]) -> Result<(), String> {
    for (i, c) in contents.iter().enumerate() {
        let calls = count(c, "functionCall");
        if calls == 0 || i + 1 >= contents.len() {
            continue;
        }
        if count(&contents[i + 1], "functionResponse") != calls {
            return Err("Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.".into());
        }
    }
    Ok(())
}

/// In the current turn (after the last user text), each model turn's first function call
/// must carry its signature.
fn signatures(contents: &[Value]) -> Result<(), String> {
    let start = contents
        .iter()
        .rposition(|c| c["role"] == "user" && count(c, "text") > 0)
        .unwrap_or(0);
    for (i, c) in contents.iter().enumerate().skip(start) {
        let Some((j, p)) = c["parts"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .find(|(_, p)| p.get("functionCall").is_some())
        else {
            continue;
        };
        let sig = p["thoughtSignature"].as_str();
        let ok = sig == Some(call_signature(&p["functionCall"]).as_str())
            || sig == Some("skip_thought_signature_validator");
        if !ok {
            let name = p["functionCall"]["name"].as_str().unwrap_or("");
            return Err(format!("Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:{name}` , position {}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details. (contents[{i}].parts[{j}])", i + 1));
        }
    }
    Ok(())
}
