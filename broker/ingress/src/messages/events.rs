//! OpenAI chat chunks -> Anthropic stream events, for `POST /v1/messages` with `stream`.
//!
//! The first chunk opens the message (`message_start`); text deltas go to a `text` block
//! and each tool call to a `tool_use` block (its id and name in `content_block_start`, its
//! argument fragments as `input_json_delta`), a block closing (`content_block_stop`) when
//! the next kind of block begins; the job's end brings `message_delta` (stop reason and
//! usage) and `message_stop`. Errors become an `error` event.

use super::error_body;
use super::response::{message_id, stop_reason, usage};
use crate::error::GatewayError;
use crate::sse::Framer;
use axum::body::Bytes;
use schemas::anthropic::{
    BlockDelta, ContentBlock, MessageDeltaBody, MessagesResponse, MessagesUsage, StreamEvent,
};
use schemas::openai::{ChatChunk, ChatResponse, ToolCallDelta, Usage};
use schemas::{JobResult, JobState};
use serde_json::json;

/// The block being written.
enum Open {
    Text(u32),
    Tool { call: u32, block: u32 },
}

/// The translation state of one stream.
pub struct Events {
    model: String,
    started: bool,
    next_block: u32,
    open: Option<Open>,
    stop: Option<String>,
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
    }

    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(Open::Text(b) | Open::Tool { block: b, .. }) = self.open.take() {
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
            if let Some(text) = ch.delta.content.as_deref().filter(|t| !t.is_empty()) {
                let index = match self.open {
                    Some(Open::Text(i)) => i,
                    _ => {
                        let i = self.open_block(ContentBlock::text(""), &mut out);
                        self.open = Some(Open::Text(i));
                        i
                    }
                };
                out.push(delta(index, "text_delta", text));
            }
            for tc in ch.delta.tool_calls.iter().flatten() {
                self.tool_call(tc, &mut out);
            }
            if let Some(f) = &ch.finish_reason {
                self.stop = Some(stop_reason(f).to_string());
            }
        }
        out
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
        out.push(StreamEvent::MessageDelta {
            delta: MessageDeltaBody {
                stop_reason: Some(self.stop.clone().unwrap_or_else(|| "end_turn".into())),
                stop_sequence: None,
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
}
