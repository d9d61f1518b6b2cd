//! Anthropic stream events -> OpenAI chat chunks.
//!
//! `message_start` opens the answer (a role chunk), `content_block_start` of a `tool_use`
//! opens a tool call (index, id, name), `text_delta` and `input_json_delta` become content
//! and argument fragments, `message_delta` carries the finish reason and the cumulative
//! usage, and `message_stop` ends the stream with a usage chunk (empty choices). A stream
//! that ends without `message_stop` ends with a retryable error.
//!
//! Thinking: `thinking_delta` becomes `reasoning_content`; when a thinking block closes, the
//! whole signed block (text and `signature_delta`) comes in one `thinking_blocks` delta, and
//! a `redacted_thinking` block likewise; the stop sequence that ended the answer is the
//! last choice delta's `stop_sequence`.

use super::error;
use super::response::{finish_reason, now_s};
use crate::error::{ErrorKind, ProviderError};
use crate::provider::ChunkStream;
use crate::providers::{http::excerpt, http::transport_error, sse};
use futures::StreamExt;
use schemas::anthropic::{ContentBlock, MessagesUsage, StreamEvent};
use schemas::openai::*;
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};

/// The translation state of one stream.
#[derive(Default)]
pub struct Translator {
    id: String,
    model: String,
    created: u64,
    /// Content block index -> tool call index.
    tools: BTreeMap<u32, u32>,
    /// Content block index -> the thinking block being written.
    thinking: BTreeMap<u32, ContentBlock>,
    usage: MessagesUsage,
    /// Whether `message_stop` arrived.
    pub stopped: bool,
}

impl Translator {
    fn chunk(&self, delta: Delta, finish: Option<String>) -> ChatChunk {
        ChatChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish,
                ..Default::default()
            }],
            usage: None,
            extra: Default::default(),
        }
    }

    fn tool_delta(&self, call: ToolCallDelta) -> ChatChunk {
        self.chunk(
            Delta {
                tool_calls: Some(vec![call]),
                ..Default::default()
            },
            None,
        )
    }

    /// The chunks one event makes (often one, sometimes none).
    pub fn on_event(
        &mut self,
        provider: &str,
        ev: StreamEvent,
    ) -> Result<Vec<ChatChunk>, ProviderError> {
        let out = match ev {
            StreamEvent::MessageStart { message } => {
                self.id = message.id;
                self.model = message.model;
                self.created = now_s();
                self.usage = message.usage;
                vec![self.chunk(
                    Delta {
                        role: Some("assistant".into()),
                        content: Some(String::new()),
                        ..Default::default()
                    },
                    None,
                )]
            }
            StreamEvent::ContentBlockStart {
                index,
                content_block: b,
            } => match b.kind.as_str() {
                "tool_use" => {
                    let n = self.tools.len() as u32;
                    self.tools.insert(index, n);
                    vec![self.tool_delta(ToolCallDelta {
                        index: n,
                        id: b.id,
                        kind: Some("function".into()),
                        function: Some(FunctionCallDelta {
                            name: b.name,
                            arguments: Some(String::new()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    })]
                }
                "text" => match b.text.filter(|t| !t.is_empty()) {
                    Some(t) => vec![self.text(t)],
                    None => Vec::new(),
                },
                "thinking" | "redacted_thinking" => {
                    let first = b
                        .extra
                        .get("thinking")
                        .and_then(Value::as_str)
                        .filter(|t| !t.is_empty())
                        .map(|t| self.reasoning(t.to_string()));
                    self.thinking.insert(index, b);
                    first.into_iter().collect()
                }
                _ => Vec::new(),
            },
            StreamEvent::ContentBlockDelta { index, delta } => match delta.kind.as_str() {
                "text_delta" => vec![self.text(delta.text.unwrap_or_default())],
                "input_json_delta" => {
                    let part = delta.partial_json.unwrap_or_default();
                    match self.tools.get(&index) {
                        Some(n) if !part.is_empty() => vec![self.tool_delta(ToolCallDelta {
                            index: *n,
                            function: Some(FunctionCallDelta {
                                name: None,
                                arguments: Some(part),
                                ..Default::default()
                            }),
                            ..Default::default()
                        })],
                        _ => Vec::new(),
                    }
                }
                "thinking_delta" => {
                    let t = delta
                        .extra
                        .get("thinking")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    if let Some(b) = self.thinking.get_mut(&index) {
                        let acc = b.extra.entry("thinking").or_insert_with(|| "".into());
                        if let Value::String(acc) = acc {
                            acc.push_str(&t);
                        }
                    }
                    vec![self.reasoning(t)]
                }
                "signature_delta" => {
                    if let (Some(b), Some(sig)) =
                        (self.thinking.get_mut(&index), delta.extra.get("signature"))
                    {
                        b.extra.insert("signature".into(), sig.clone());
                    }
                    Vec::new()
                }
                _ => Vec::new(),
            },
            StreamEvent::ContentBlockStop { index } => match self.thinking.remove(&index) {
                Some(b) => {
                    let mut d = Delta::default();
                    let block = serde_json::to_value(&b).unwrap_or_default();
                    d.extra.insert(THINKING_BLOCKS.into(), vec![block].into());
                    vec![self.chunk(d, None)]
                }
                None => Vec::new(),
            },
            StreamEvent::MessageDelta { delta, usage } => {
                self.merge_usage(&usage);
                match delta.stop_reason {
                    Some(r) => {
                        let mut c = self.chunk(Delta::default(), Some(finish_reason(&r)));
                        if let Some(seq) = delta.stop_sequence {
                            c.choices[0].extra.insert(STOP_SEQUENCE.into(), seq.into());
                        }
                        vec![c]
                    }
                    None => Vec::new(),
                }
            }
            StreamEvent::MessageStop => {
                self.stopped = true;
                let mut c = self.chunk(Delta::default(), None);
                c.choices.clear();
                c.usage = Some(super::response::usage(&self.usage));
                vec![c]
            }
            StreamEvent::Error { error } => return Err(error::from_event(provider, &error)),
            StreamEvent::Ping | StreamEvent::Unknown => Vec::new(),
        };
        Ok(out)
    }

    fn reasoning(&self, t: String) -> ChatChunk {
        let mut d = Delta::default();
        d.extra.insert(REASONING_CONTENT.into(), t.into());
        self.chunk(d, None)
    }

    fn text(&self, t: String) -> ChatChunk {
        self.chunk(
            Delta {
                content: Some(t),
                ..Default::default()
            },
            None,
        )
    }

    /// `message_delta` usage is cumulative; input counts appear there on newer versions.
    fn merge_usage(&mut self, u: &MessagesUsage) {
        self.usage.output_tokens = u.output_tokens.max(self.usage.output_tokens);
        if u.input_tokens > 0 {
            self.usage.input_tokens = u.input_tokens;
        }
        if u.cache_read_input_tokens.is_some() {
            self.usage.cache_read_input_tokens = u.cache_read_input_tokens;
        }
        if u.cache_creation_input_tokens.is_some() {
            self.usage.cache_creation_input_tokens = u.cache_creation_input_tokens;
        }
    }
}

struct State {
    events: futures::stream::BoxStream<'static, Result<sse::SseEvent, reqwest::Error>>,
    tr: Translator,
    pending: VecDeque<ChatChunk>,
    done: bool,
}

/// Translates an SSE response body into chunks.
pub fn chunks(provider: String, resp: reqwest::Response) -> ChunkStream {
    let state = State {
        events: sse::decode(resp.bytes_stream().boxed()).boxed(),
        tr: Translator::default(),
        pending: VecDeque::new(),
        done: false,
    };
    futures::stream::unfold(state, move |mut st| {
        let provider = provider.clone();
        async move {
            loop {
                if let Some(c) = st.pending.pop_front() {
                    return Some((Ok(c), st));
                }
                if st.done {
                    return None;
                }
                let fail = |st: State, e: ProviderError| {
                    let st = State { done: true, ..st };
                    Some((Err(e), st))
                };
                let next = st.events.next().await;
                match next {
                    Some(Err(e)) => return fail(st, transport_error(&provider, &e)),
                    None if st.tr.stopped => return None,
                    None => {
                        let e = ProviderError::new(
                            ErrorKind::Network,
                            &provider,
                            "the upstream stream ended before message_stop",
                        );
                        return fail(st, e);
                    }
                    Some(Ok(ev)) if ev.data.trim().is_empty() => continue,
                    Some(Ok(ev)) => {
                        let parsed = serde_json::from_str::<StreamEvent>(&ev.data).map_err(|e| {
                            ProviderError::new(
                                ErrorKind::Decode,
                                &provider,
                                format!(
                                    "cannot decode a stream event: {e}; data: {}",
                                    excerpt(ev.data.as_bytes())
                                ),
                            )
                        });
                        match parsed.and_then(|ev| st.tr.on_event(&provider, ev)) {
                            Ok(cs) => {
                                st.pending.extend(cs);
                                if st.tr.stopped {
                                    st.done = true;
                                }
                            }
                            Err(e) => return fail(st, e),
                        }
                    }
                }
            }
        }
    })
    .boxed()
}
