//! Assembling a whole chat completion from streamed chunks.
//!
//! Besides text and tool calls, a delta's other fields are folded the way the non-streamed
//! message has them: `reasoning_content` and `refusal` fragments are joined,
//! `thinking_blocks` lists are concatenated, tool call extras (a Gemini thought signature)
//! and choice extras (`stop_sequence`) are kept; any other field keeps its last value.

use schemas::openai::*;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Default)]
struct ChoiceAcc {
    role: Option<String>,
    content: String,
    has_content: bool,
    tool_calls: BTreeMap<u32, ToolCall>,
    finish_reason: Option<String>,
    /// The message's other fields.
    extra: Extra,
    /// The choice's other fields.
    choice_extra: Extra,
}

/// Folds one delta field into the message's fields.
fn fold(into: &mut Extra, key: &str, v: &Value) {
    match (into.get_mut(key), v) {
        (Some(Value::String(acc)), Value::String(s)) => acc.push_str(s),
        (Some(Value::Array(acc)), Value::Array(more)) => acc.extend(more.iter().cloned()),
        (_, Value::Null) => {
            into.entry(key.to_string()).or_insert(Value::Null);
        }
        _ => {
            into.insert(key.to_string(), v.clone());
        }
    }
}

/// Folds chunks into the completion a non-streamed call would have returned.
#[derive(Default)]
pub struct Assembler {
    id: String,
    created: u64,
    model: String,
    choices: BTreeMap<u32, ChoiceAcc>,
    usage: Option<Usage>,
    /// Whether any choice reported a finish reason.
    pub finished: bool,
}

impl Assembler {
    /// Adds one chunk.
    pub fn push(&mut self, c: &ChatChunk) {
        if self.id.is_empty() {
            self.id = c.id.clone();
            self.created = c.created;
            self.model = c.model.clone();
        }
        if c.usage.is_some() {
            self.usage = c.usage.clone();
        }
        for ch in &c.choices {
            let acc = self.choices.entry(ch.index).or_default();
            if let Some(r) = &ch.delta.role {
                acc.role = Some(r.clone());
            }
            if let Some(t) = &ch.delta.content {
                acc.content.push_str(t);
                acc.has_content = true;
            }
            for tc in ch.delta.tool_calls.iter().flatten() {
                let call = acc.tool_calls.entry(tc.index).or_insert_with(|| ToolCall {
                    id: String::new(),
                    kind: "function".into(),
                    function: FunctionCall::default(),
                    extra: Default::default(),
                });
                if let Some(id) = &tc.id {
                    call.id = id.clone();
                }
                call.extra
                    .extend(tc.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
                if let Some(f) = &tc.function {
                    if let Some(n) = &f.name {
                        call.function.name.push_str(n);
                    }
                    if let Some(a) = &f.arguments {
                        call.function.arguments.push_str(a);
                    }
                    call.function
                        .extra
                        .extend(f.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
            for (k, v) in &ch.delta.extra {
                fold(&mut acc.extra, k, v);
            }
            for (k, v) in &ch.extra {
                if !v.is_null() || !acc.choice_extra.contains_key(k) {
                    acc.choice_extra.insert(k.clone(), v.clone());
                }
            }
            if ch.finish_reason.is_some() {
                acc.finish_reason = ch.finish_reason.clone();
                self.finished = true;
            }
        }
    }

    /// The usage seen so far.
    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    /// The completion.
    pub fn finish(self) -> ChatResponse {
        let choices = self
            .choices
            .into_iter()
            .map(|(index, acc)| {
                let tool_calls: Vec<ToolCall> = acc.tool_calls.into_values().collect();
                Choice {
                    index,
                    message: Message {
                        role: acc.role.unwrap_or_else(|| "assistant".into()),
                        content: (acc.has_content || tool_calls.is_empty())
                            .then_some(Content::Text(acc.content)),
                        tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                        extra: acc.extra,
                        ..Default::default()
                    },
                    finish_reason: acc.finish_reason,
                    extra: acc.choice_extra,
                }
            })
            .collect();
        ChatResponse {
            id: self.id,
            object: "chat.completion".into(),
            created: self.created,
            model: self.model,
            choices,
            usage: self.usage,
            extra: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(delta: Delta, finish: Option<&str>) -> ChatChunk {
        ChatChunk {
            id: "c1".into(),
            object: "chat.completion.chunk".into(),
            created: 1,
            model: "m".into(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish.map(Into::into),
                ..Default::default()
            }],
            usage: None,
            extra: Default::default(),
        }
    }

    #[test]
    fn joins_text_and_split_tool_calls() {
        let mut a = Assembler::default();
        a.push(&chunk(
            Delta {
                role: Some("assistant".into()),
                content: Some("Hel".into()),
                ..Default::default()
            },
            None,
        ));
        a.push(&chunk(
            Delta {
                content: Some("lo".into()),
                ..Default::default()
            },
            None,
        ));
        let tc = |id: Option<&str>, name: Option<&str>, args: &str| Delta {
            tool_calls: Some(vec![ToolCallDelta {
                index: 0,
                id: id.map(Into::into),
                kind: id.map(|_| "function".into()),
                function: Some(FunctionCallDelta {
                    name: name.map(Into::into),
                    arguments: Some(args.into()),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        };
        a.push(&chunk(tc(Some("call_1"), Some("get"), "{\"a\""), None));
        a.push(&chunk(tc(None, None, ":1}"), Some("tool_calls")));
        assert!(a.finished);
        let r = a.finish();
        assert_eq!(r.choices[0].message.text(), "Hello");
        let calls = r.choices[0].message.tool_calls.clone().unwrap_or_default();
        assert_eq!(calls[0].id, "call_1");
        assert_eq!(calls[0].function.arguments, "{\"a\":1}");
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("tool_calls"));
    }

    #[test]
    fn folds_reasoning_thinking_blocks_signatures_and_stop_sequence() {
        let d = |v: serde_json::Value| -> Delta { serde_json::from_value(v).unwrap_or_default() };
        let mut a = Assembler::default();
        a.push(&chunk(
            d(serde_json::json!({"role": "assistant", "reasoning_content": "Let me "})),
            None,
        ));
        a.push(&chunk(
            d(serde_json::json!({"reasoning_content": "think."})),
            None,
        ));
        a.push(&chunk(
            d(serde_json::json!({"thinking_blocks": [{"type": "thinking", "thinking": "Let me think.", "signature": "sig"}]})),
            None,
        ));
        a.push(&chunk(
            d(
                serde_json::json!({"tool_calls": [{"index": 0, "id": "c", "type": "function",
                "function": {"name": "f", "arguments": "{}"},
                "extra_content": {"google": {"thought_signature": "g"}}}]}),
            ),
            None,
        ));
        let mut last = chunk(Delta::default(), Some("tool_calls"));
        last.choices[0]
            .extra
            .insert("stop_sequence".into(), serde_json::json!("END"));
        a.push(&last);
        let r = a.finish();
        let m = &r.choices[0].message;
        assert_eq!(m.reasoning_content(), Some("Let me think."));
        assert_eq!(m.thinking_blocks().len(), 1);
        assert_eq!(m.thinking_blocks()[0]["signature"], "sig");
        let calls = m.tool_calls.clone().unwrap_or_default();
        assert_eq!(calls[0].thought_signature(), Some("g"));
        assert_eq!(r.choices[0].stop_sequence(), Some("END"));
    }
}
