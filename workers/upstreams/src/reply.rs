//! What every mock answers, whatever its wire format: each provider module reads its own
//! request into an [`Ask`], and writes the [`Reply`] back in its own shape.
//!
//! | the request | the reply |
//! |---|---|
//! | the last message is a tool result | text `upstream says: the tool said: <result>` |
//! | model `tool`, or tools offered to a model not named `text…` (unless the tool choice is none) | a call of the named tool, else the first offered (`get_weather`), with `{"city":"Paris"}` |
//! | model `tool-parallel` | two calls (Paris, London), one when parallel calls are off |
//! | a JSON schema to answer in | a JSON instance of the schema (`$ref`s followed) |
//! | anything else | text `upstream says: <last user text>`, ` [images: N]` when it held images |
//! | stop sequences | the text cut before the first one it holds, which is reported |
//! | thinking asked for | thinking text `Thinking about: <last user text>` first |

use serde_json::{json, Map, Value};

/// How the request lets the model pick tools.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides.
    #[default]
    Auto,
    /// No tool call.
    None,
    /// Some tool call.
    Required,
    /// A call of this tool.
    Named(String),
}

/// A request, read from any provider's wire format.
#[derive(Debug, Clone, Default)]
pub struct Ask {
    /// The model name.
    pub model: String,
    /// The text of the last user message.
    pub last_user: String,
    /// The images in the last user message.
    pub images: usize,
    /// The result text, when the conversation ends with a tool result.
    pub tool_result: Option<String>,
    /// The names of the tools offered.
    pub tools: Vec<String>,
    /// The tool choice.
    pub choice: ToolChoice,
    /// Whether several calls may come in one answer.
    pub parallel: bool,
    /// Stop sequences.
    pub stop: Vec<String>,
    /// The JSON schema the answer must follow.
    pub schema: Option<Value>,
    /// Whether thinking was asked for.
    pub thinking: bool,
}

/// One tool call of a reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The call id.
    pub id: String,
    /// The tool.
    pub name: String,
    /// The arguments.
    pub args: Value,
}

/// What the mock answers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reply {
    /// Thinking text, when thinking was asked for.
    pub thinking: Option<String>,
    /// The answer text (empty with calls).
    pub text: String,
    /// Tool calls.
    pub calls: Vec<Call>,
    /// The stop sequence that cut the text.
    pub stop_sequence: Option<String>,
}

/// The reply to a request (see the module docs).
pub fn reply(a: &Ask) -> Reply {
    let thinking = a
        .thinking
        .then(|| format!("Thinking about: {}", a.last_user));
    if let Some(calls) = calls(a) {
        return Reply {
            thinking,
            calls,
            ..Default::default()
        };
    }
    let mut text = match (&a.tool_result, &a.schema) {
        (Some(r), _) => format!("upstream says: the tool said: {r}"),
        (None, Some(s)) => instance(s, s, 0).to_string(),
        (None, None) if a.images > 0 => {
            format!("upstream says: {} [images: {}]", a.last_user, a.images)
        }
        (None, None) => format!("upstream says: {}", a.last_user),
    };
    let hit = a
        .stop
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()).map(|at| (at, s.clone())))
        .min_by_key(|(at, _)| *at);
    let stop_sequence = hit.map(|(at, s)| {
        text.truncate(at);
        s
    });
    Reply {
        thinking,
        text,
        calls: Vec::new(),
        stop_sequence,
    }
}

fn calls(a: &Ask) -> Option<Vec<Call>> {
    if a.tool_result.is_some() || a.choice == ToolChoice::None {
        return None;
    }
    let offered = !a.tools.is_empty();
    let wanted = a.model == "tool"
        || a.model == "tool-parallel"
        || (offered && !a.model.starts_with("text"))
        || (offered && a.choice != ToolChoice::Auto);
    if !wanted {
        return None;
    }
    let name = match &a.choice {
        ToolChoice::Named(n) => n.clone(),
        _ => a
            .tools
            .first()
            .cloned()
            .unwrap_or_else(|| "get_weather".into()),
    };
    let mut out = vec![Call {
        id: "call_1".into(),
        name: name.clone(),
        args: json!({"city": "Paris"}),
    }];
    if a.model == "tool-parallel" && a.parallel {
        out.push(Call {
            id: "call_2".into(),
            name,
            args: json!({"city": "London"}),
        });
    }
    Some(out)
}

/// A value that follows `schema` (local `$ref`s resolved against `root`).
pub fn instance(schema: &Value, root: &Value, depth: usize) -> Value {
    if depth > 8 {
        return Value::Null;
    }
    let s = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let path: Vec<&str> = r.trim_start_matches("#/").split('/').collect();
            let mut at = root;
            for p in path {
                at = &at[p];
            }
            return instance(at, root, depth + 1);
        }
        None => schema,
    };
    if let Some(v) = s.get("const") {
        return v.clone();
    }
    if let Some(v) = s
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return v.clone();
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = s.get(key).and_then(Value::as_array).and_then(|a| a.first()) {
            return instance(first, root, depth + 1);
        }
    }
    let ty = match &s["type"] {
        Value::Array(t) => t
            .iter()
            .find(|t| *t != "null")
            .cloned()
            .unwrap_or(Value::Null),
        t => t.clone(),
    };
    match ty.as_str().unwrap_or(if s.get("properties").is_some() {
        "object"
    } else {
        "string"
    }) {
        "object" => {
            let mut o = Map::new();
            for (k, v) in s["properties"].as_object().into_iter().flatten() {
                o.insert(k.clone(), instance(v, root, depth + 1));
            }
            Value::Object(o)
        }
        "array" => json!([instance(&s["items"], root, depth + 1)]),
        "integer" => json!(1),
        "number" => json!(1.5),
        "boolean" => json!(true),
        "null" => Value::Null,
        _ => json!("x"),
    }
}

/// A signature over `text` (what the mocks issue for thinking and check when it comes back).
pub fn signature(text: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("sig{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_sequences_cut_and_are_reported() {
        let r = reply(&Ask {
            model: "text".into(),
            last_user: "one two END three".into(),
            stop: vec!["END".into()],
            ..Default::default()
        });
        assert_eq!(r.text, "upstream says: one two ");
        assert_eq!(r.stop_sequence.as_deref(), Some("END"));
    }

    #[test]
    fn nested_schemas_get_nested_instances() {
        let s = json!({"type": "object", "$defs": {"A": {"type": "object", "properties": {"city": {"type": "string"}}}},
            "properties": {"address": {"$ref": "#/$defs/A"}, "n": {"type": "integer"}}});
        assert_eq!(
            instance(&s, &s, 0),
            json!({"address": {"city": "x"}, "n": 1})
        );
    }

    #[test]
    fn tool_choice_picks_the_call() {
        let mut a = Ask {
            model: "m".into(),
            tools: vec!["get_weather".into(), "get_time".into()],
            parallel: true,
            ..Default::default()
        };
        assert_eq!(reply(&a).calls[0].name, "get_weather");
        a.choice = ToolChoice::Named("get_time".into());
        assert_eq!(reply(&a).calls[0].name, "get_time");
        a.choice = ToolChoice::None;
        assert!(reply(&a).calls.is_empty());
        a.choice = ToolChoice::Auto;
        a.model = "tool-parallel".into();
        assert_eq!(reply(&a).calls.len(), 2);
        a.parallel = false;
        assert_eq!(reply(&a).calls.len(), 1);
        a.tool_result = Some("sunny".into());
        assert_eq!(reply(&a).text, "upstream says: the tool said: sunny");
    }
}
