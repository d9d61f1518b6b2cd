//! OpenAI chat chunks -> Anthropic stream events, for `POST /v1/messages` with `stream`.
//!
//! The first chunk opens the message (`message_start`); text deltas go to a `text` block
//! and each tool call to a `tool_use` block (its id and name in `content_block_start`, its
//! argument fragments as `input_json_delta`), a block closing (`content_block_stop`) when
//! the next kind of block begins; the job's end brings `message_delta` (stop reason and
//! usage) and `message_stop`. Errors become an `error` event. A `ping` follows
//! `message_start`, as on Anthropic's API.
//!
//! Thinking: `reasoning_content` deltas open a `thinking` block (`thinking_delta`); the
//! signed block that follows in `thinking_blocks` closes it with its `signature_delta`
//! (a `redacted_thinking` block is sent whole). A `refusal` is written as text and ends
//! with `stop_reason: "refusal"`; a matched stop sequence ends with `stop_sequence`.

use super::error_body;
use super::response::{message_id, stop_reason, thinking_block, usage};
use crate::error::GatewayError;
use crate::sse::Framer;
use axum::body::Bytes;
use schemas::anthropic::{
    BlockDelta, ContentBlock, MessageDeltaBody, MessagesResponse, MessagesUsage, StreamEvent,
};
use schemas::openai::{
    ChatChunk, ChatResponse, ToolCallDelta, Usage, REASONING_CONTENT, REFUSAL, STOP_SEQUENCE,
    THINKING_BLOCKS,
};
use schemas::{JobResult, JobState};
use serde_json::{json, Value};

/// The block being written.
enum Open {
    Text(u32),
    Thinking(u32),
    Tool { call: u32, block: u32 },
}

/// The translation state of one stream.
pub struct Events {
    model: String,
    started: bool,
    next_block: u32,
    open: Option<Open>,
    stop: Option<String>,
    stop_sequence: Option<String>,
    refused: bool,
    usage: Option<Usage>,
}

impl Events {
    /// A translator answering for `model` (the name the client asked for).
    pub fn new(model: String) -> Self {
        Self {
            model,
            started: false,
            next_block: 0,
            open: None,
            stop: None,
            stop_sequence: None,
            refused: false,
            usage: None,
        }
    }

    fn start(&mut self, id: &str, out: &mut Vec<StreamEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        out.push(StreamEvent::MessageStart {
            message: MessagesResponse {
                id: message_id(id),
                kind: "message".into(),
                role: "assistant".into(),
                content: Vec::new(),
                model: self.model.clone(),
                stop_reason: None,
                stop_sequence: None,
                usage: MessagesUsage::default(),
                extra: Default::default(),
            },
        });
        out.push(StreamEvent::Ping);
    }

    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(Open::Text(b) | Open::Thinking(b) | Open::Tool { block: b, .. }) =
            self.open.take()
        {
            out.push(StreamEvent::ContentBlockStop { index: b });
        }
    }

    fn open_block(&mut self, block: ContentBlock, out: &mut Vec<StreamEvent>) -> u32 {
        self.close(out);
        let index = self.next_block;
        self.next_block += 1;
        out.push(StreamEvent::ContentBlockStart {
            index,
            content_block: block,
        });
        index
    }

    /// The events of one chunk.
    pub fn push(&mut self, c: &ChatChunk) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        self.start(&c.id, &mut out);
        if c.usage.is_some() {
            self.usage = c.usage.clone();
        }
        for ch in c.choices.iter().filter(|ch| ch.index == 0) {
            let x = &ch.delta.extra;
            if let Some(t) = x.get(REASONING_CONTENT).and_then(Value::as_str) {
                self.thinking_text(t, &mut out);
            }
            for b in x
                .get(THINKING_BLOCKS)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                self.signed_block(b, &mut out);
            }
            if let Some(text) = x.get(REFUSAL).and_then(Value::as_str) {
                self.refused = true;
                self.text(text, &mut out);
            }
            if let Some(text) = ch.delta.content.as_deref() {
                self.text(text, &mut out);
            }
            for tc in ch.delta.tool_calls.iter().flatten() {
                self.tool_call(tc, &mut out);
            }
            if let Some(seq) = ch.extra.get(STOP_SEQUENCE).and_then(Value::as_str) {
                self.stop_sequence = Some(seq.to_string());
            }
            if let Some(f) = &ch.finish_reason {
                self.stop = Some(stop_reason(f).to_string());
            }
        }
        out
    }

    fn text(&mut self, text: &str, out: &mut Vec<StreamEvent>) {
        if text.is_empty() {
            return;
        }
        let index = match self.open {
            Some(Open::Text(i)) => i,
            _ => {
                let i = self.open_block(ContentBlock::text(""), out);
                self.open = Some(Open::Text(i));
                i
            }
        };
        out.push(delta(index, "text_delta", text));
    }

    fn thinking_text(&mut self, text: &str, out: &mut Vec<StreamEvent>) {
        if text.is_empty() {
            return;
        }
        let index = match self.open {
            Some(Open::Thinking(i)) => i,
            _ => {
                let i = self.open_block(thinking_block("", ""), out);
                self.open = Some(Open::Thinking(i));
                i
            }
        };
        out.push(block_delta(index, "thinking_delta", "thinking", text));
    }

    /// A whole signed block: the signature of the thinking block being written, or a block
    /// of its own (a redacted one, or one whose text did not stream).
    fn signed_block(&mut self, b: &Value, out: &mut Vec<StreamEvent>) {
        let Ok(block) = serde_json::from_value::<ContentBlock>(b.clone()) else {
            return;
        };
        if block.kind != "thinking" {
            self.open_block(block, out);
            self.close(out);
            return;
        }
        let text = block
            .extra
            .get("thinking")
            .and_then(Value::as_str)
            .unwrap_or("");
        let index = match self.open {
            Some(Open::Thinking(i)) => i,
            _ => {
                let i = self.open_block(thinking_block("", ""), out);
                self.open = Some(Open::Thinking(i));
                if !text.is_empty() {
                    out.push(block_delta(i, "thinking_delta", "thinking", text));
                }
                i
            }
        };
        if let Some(sig) = block.extra.get("signature").and_then(Value::as_str) {
            out.push(block_delta(index, "signature_delta", "signature", sig));
        }
        self.close(out);
    }

    fn tool_call(&mut self, tc: &ToolCallDelta, out: &mut Vec<StreamEvent>) {
        let f = tc.function.as_ref();
        let continued = match &self.open {
            Some(Open::Tool { call, block }) if *call == tc.index && tc.id.is_none() => {
                Some(*block)
            }
            _ => None,
        };
        let block = match continued {
            Some(b) => b,
            None => {
                let b = ContentBlock::tool_use(
                    tc.id.clone().unwrap_or_default(),
                    f.and_then(|f| f.name.clone()).unwrap_or_default(),
                    json!({}),
                );
                let block = self.open_block(b, out);
                self.open = Some(Open::Tool {
                    call: tc.index,
                    block,
                });
                block
            }
        };
        if let Some(args) = f
            .and_then(|f| f.arguments.as_deref())
            .filter(|a| !a.is_empty())
        {
            out.push(StreamEvent::ContentBlockDelta {
                index: block,
                delta: BlockDelta {
                    kind: "input_json_delta".into(),
                    partial_json: Some(args.to_string()),
                    ..Default::default()
                },
            });
        }
    }

    /// The closing events: `message_delta` with the stop reason and usage, `message_stop`.
    pub fn finish(&mut self, id: &str, usage_fallback: Option<&Usage>) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        self.start(id, &mut out);
        self.close(&mut out);
        let u = self.usage.as_ref().or(usage_fallback);
        let (stop, seq) = if self.refused {
            ("refusal".to_string(), None)
        } else if let Some(seq) = self.stop_sequence.clone() {
            ("stop_sequence".to_string(), Some(seq))
        } else {
            (self.stop.clone().unwrap_or_else(|| "end_turn".into()), None)
        };
        out.push(StreamEvent::MessageDelta {
            delta: MessageDeltaBody {
                stop_reason: Some(stop),
                stop_sequence: seq,
                extra: Default::default(),
            },
            usage: u.map(usage).unwrap_or_default(),
        });
        out.push(StreamEvent::MessageStop);
        out
    }
}

fn delta(index: u32, kind: &str, text: &str) -> StreamEvent {
    StreamEvent::ContentBlockDelta {
        index,
        delta: BlockDelta {
            kind: kind.into(),
            text: Some(text.to_string()),
            ..Default::default()
        },
    }
}

fn block_delta(index: u32, kind: &str, field: &str, value: &str) -> StreamEvent {
    let mut d = BlockDelta {
        kind: kind.into(),
        ..Default::default()
    };
    d.extra.insert(field.into(), value.into());
    StreamEvent::ContentBlockDelta { index, delta: d }
}

/// One SSE event: `event: <type>` and its JSON.
pub fn frame(ev: &StreamEvent) -> Bytes {
    let data = serde_json::to_string(ev).unwrap_or_default();
    Bytes::from(format!("event: {}\ndata: {data}\n\n", ev.name()))
}

/// The `error` event of a gateway error.
pub fn error_frame(e: &GatewayError) -> Bytes {
    let body = error_body(e);
    let data = serde_json::to_string(&body).unwrap_or_default();
    Bytes::from(format!("event: error\ndata: {data}\n\n"))
}

/// Anthropic framing for the relay.
pub struct AnthropicFrames {
    events: Events,
    id: String,
}

impl AnthropicFrames {
    /// Frames for a stream answering for `model`.
    pub fn new(model: String) -> Self {
        Self {
            events: Events::new(model),
            id: String::new(),
        }
    }
}

impl Framer for AnthropicFrames {
    fn chunk(&mut self, data: &str) -> Vec<Bytes> {
        match serde_json::from_str::<ChatChunk>(data) {
            Ok(c) => {
                if self.id.is_empty() {
                    self.id = c.id.clone();
                }
                self.events.push(&c).iter().map(frame).collect()
            }
            Err(e) => {
                tracing::warn!(error = %e, "an undecodable chunk was skipped");
                Vec::new()
            }
        }
    }

    fn error(&mut self, e: &GatewayError) -> Vec<Bytes> {
        vec![error_frame(e)]
    }

    fn end(&mut self, r: &JobResult) -> Vec<Bytes> {
        if r.status != JobState::Completed {
            return Vec::new();
        }
        let id = if self.id.is_empty() {
            r.id.clone()
        } else {
            self.id.clone()
        };
        self.events
            .finish(&id, r.usage.as_ref())
            .iter()
            .map(frame)
            .collect()
    }
}

/// A finished completion as the whole event sequence (for a stream whose job was already
/// done, e.g. an idempotent resubmit).
pub fn replay(resp: &ChatResponse, model: &str) -> Vec<Bytes> {
    let mut ev = Events::new(model.to_string());
    let mut frames: Vec<Bytes> = ev
        .push(&ChatChunk::from_response(resp))
        .iter()
        .map(frame)
        .collect();
    frames.extend(ev.finish(&resp.id, resp.usage.as_ref()).iter().map(frame));
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(delta: serde_json::Value, finish: Option<&str>) -> ChatChunk {
        serde_json::from_value(
            json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}),
        )
        .unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn text_then_two_tool_calls_make_three_blocks() {
        let mut ev = Events::new("m".into());
        let mut all = Vec::new();
        all.extend(ev.push(&chunk(json!({"role": "assistant", "content": "Hi"}), None)));
        all.extend(ev.push(&chunk(json!({"tool_calls": [{"index": 0, "id": "a", "type": "function", "function": {"name": "f", "arguments": "{\"x\""}}]}), None)));
        all.extend(ev.push(&chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}),
            None,
        )));
        all.extend(ev.push(&chunk(json!({"tool_calls": [{"index": 1, "id": "b", "type": "function", "function": {"name": "g", "arguments": "{}"}}]}), Some("tool_calls"))));
        all.extend(ev.finish("c1", None));
        let seq: Vec<String> = all
            .iter()
            .map(|e| match e {
                StreamEvent::ContentBlockStart {
                    index,
                    content_block,
                } => format!("start{index}:{}", content_block.kind),
                StreamEvent::ContentBlockDelta { index, delta } => {
                    format!("delta{index}:{}", delta.kind)
                }
                StreamEvent::ContentBlockStop { index } => format!("stop{index}"),
                StreamEvent::MessageDelta { delta, .. } => {
                    format!("md:{}", delta.stop_reason.clone().unwrap_or_default())
                }
                other => other.name().to_string(),
            })
            .collect();
        assert_eq!(
            seq,
            [
                "message_start",
                "ping",
                "start0:text",
                "delta0:text_delta",
                "stop0",
                "start1:tool_use",
                "delta1:input_json_delta",
                "delta1:input_json_delta",
                "stop1",
                "start2:tool_use",
                "delta2:input_json_delta",
                "stop2",
                "md:tool_use",
                "message_stop"
            ]
        );
    }

    #[test]
    fn thinking_streams_as_a_signed_block_and_stop_sequences_are_kept() {
        let mut ev = Events::new("m".into());
        let mut all = Vec::new();
        all.extend(ev.push(&chunk(
            json!({"role": "assistant", "reasoning_content": "Hmm, "}),
            None,
        )));
        all.extend(ev.push(&chunk(json!({"reasoning_content": "yes."}), None)));
        all.extend(ev.push(&chunk(
            json!({"thinking_blocks": [{"type": "thinking", "thinking": "Hmm, yes.", "signature": "s1"}]}),
            None,
        )));
        all.extend(ev.push(&chunk(json!({"content": "One two"}), None)));
        let mut last = chunk(json!({}), Some("stop"));
        last.choices[0]
            .extra
            .insert("stop_sequence".into(), json!("END"));
        all.extend(ev.push(&last));
        all.extend(ev.finish("c1", None));
        let names: Vec<String> = all
            .iter()
            .map(|e| match e {
                StreamEvent::ContentBlockStart { content_block, .. } => {
                    format!("start:{}", content_block.kind)
                }
                StreamEvent::ContentBlockDelta { delta, .. } => delta.kind.clone(),
                StreamEvent::MessageDelta { delta, .. } => format!(
                    "md:{}:{}",
                    delta.stop_reason.clone().unwrap_or_default(),
                    delta.stop_sequence.clone().unwrap_or_default()
                ),
                other => other.name().to_string(),
            })
            .collect();
        assert_eq!(
            names,
            [
                "message_start",
                "ping",
                "start:thinking",
                "thinking_delta",
                "thinking_delta",
                "signature_delta",
                "content_block_stop",
                "start:text",
                "text_delta",
                "content_block_stop",
                "md:stop_sequence:END",
                "message_stop"
            ]
        );
    }

    #[test]
    fn a_refusal_is_text_with_stop_reason_refusal() {
        let mut ev = Events::new("m".into());
        let mut all = ev.push(&chunk(
            json!({"role": "assistant", "content": null, "refusal": "I can't help with that."}),
            None,
        ));
        all.extend(ev.push(&chunk(json!({}), Some("stop"))));
        all.extend(ev.finish("c1", None));
        assert!(all
            .iter()
            .any(|e| matches!(e, StreamEvent::ContentBlockDelta { delta, .. }
            if delta.text.as_deref() == Some("I can't help with that."))));
        assert!(all
            .iter()
            .any(|e| matches!(e, StreamEvent::MessageDelta { delta, .. }
            if delta.stop_reason.as_deref() == Some("refusal"))));
    }
}
