//! What the Chat Completions API refuses with a 400, checked the way it checks: unknown
//! request arguments, unknown message fields, an assistant `tool_calls` message not followed
//! by a `tool` message for each call (and a `tool` message answering no call), a
//! `json_schema` response format without its name or schema, a malformed image.

use serde_json::Value;

const TOP: &[&str] = &[
    "model",
    "messages",
    "stream",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "n",
    "stop",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "user",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "reasoning_effort",
    "metadata",
    "store",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
    "modalities",
    "audio",
    "prediction",
    "web_search_options",
    "verbosity",
    "functions",
    "function_call",
];

/// Message fields OpenAI takes, and `reasoning_content`, which OpenAI-compatible servers
/// (DeepSeek, Moonshot, vLLM) take back.
const MESSAGE: &[&str] = &[
    "role",
    "content",
    "name",
    "tool_calls",
    "tool_call_id",
    "refusal",
    "audio",
    "function_call",
    "reasoning_content",
];

/// A refusal: the message, and the `param` it names.
pub type Refusal = (String, Option<String>);

fn refuse(message: String, param: Option<&str>) -> Refusal {
    (message, param.map(str::to_string))
}

/// Checks a chat request.
pub fn request(req: &Value) -> Result<(), Refusal> {
    for k in req.as_object().into_iter().flatten().map(|(k, _)| k) {
        if !TOP.contains(&k.as_str()) {
            return Err(refuse(
                format!("Unrecognized request argument supplied: {k}"),
                None,
            ));
        }
    }
    let msgs = req["messages"].as_array().cloned().unwrap_or_default();
    if msgs.is_empty() {
        return Err(refuse(
            "[] is too short - 'messages'".into(),
            Some("messages"),
        ));
    }
    for (i, m) in msgs.iter().enumerate() {
        for k in m.as_object().into_iter().flatten().map(|(k, _)| k) {
            if !MESSAGE.contains(&k.as_str()) {
                return Err(refuse(
                    format!("Additional properties are not allowed ('{k}' was unexpected) - 'messages.{i}'"),
                    Some(&format!("messages.[{i}]")),
                ));
            }
        }
        images(m, i)?;
        let calls: Vec<&str> = m["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["id"].as_str())
            .collect();
        if !calls.is_empty() {
            let answered: Vec<&str> = msgs[i + 1..]
                .iter()
                .take_while(|n| n["role"] == "tool")
                .filter_map(|n| n["tool_call_id"].as_str())
                .collect();
            let missing: Vec<&str> = calls
                .iter()
                .copied()
                .filter(|c| !answered.contains(c))
                .collect();
            if !missing.is_empty() && i + 1 < msgs.len() {
                return Err(refuse(
                    format!("An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}", missing.join(", ")),
                    Some(&format!("messages.[{}].role", i + 1)),
                ));
            }
        }
        if m["role"] == "tool" {
            let id = m["tool_call_id"].as_str().unwrap_or("");
            let made = msgs[..i]
                .iter()
                .rev()
                .find(|p| p["role"] != "tool")
                .is_some_and(|p| {
                    p["tool_calls"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|c| c["id"] == id)
                });
            if !made {
                return Err(refuse(
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.".into(),
                    Some(&format!("messages.[{i}].role")),
                ));
            }
        }
    }
    let rf = &req["response_format"];
    if rf["type"] == "json_schema" {
        if rf["json_schema"]["name"].as_str().is_none() {
            return Err(refuse(
                "Missing required parameter: 'response_format.json_schema.name'.".into(),
                Some("response_format.json_schema.name"),
            ));
        }
        if !rf["json_schema"]["schema"].is_object() {
            return Err(refuse(
                "Missing required parameter: 'response_format.json_schema.schema'.".into(),
                Some("response_format.json_schema.schema"),
            ));
        }
    }
    Ok(())
}

fn images(m: &Value, i: usize) -> Result<(), Refusal> {
    for (j, p) in m["content"].as_array().into_iter().flatten().enumerate() {
        if p["type"] != "image_url" {
            continue;
        }
        let url = p["image_url"]["url"].as_str().unwrap_or("");
        let ok = url.starts_with("https://")
            || url.starts_with("http://")
            || (url.starts_with("data:image/") && url.contains(";base64,"));
        if !ok {
            return Err(refuse(
                "Invalid image URL: expected a base64-encoded data URL with an image MIME type or an http(s) URL.".into(),
                Some(&format!("messages.[{i}].content.[{j}].image_url.url")),
            ));
        }
    }
    Ok(())
}
