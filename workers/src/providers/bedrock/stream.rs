//! `ConverseStream` event-stream messages -> OpenAI chunks.
//!
//! `messageStart` opens the message, `contentBlockStart` (with `toolUse`) opens a tool call,
//! `contentBlockDelta` carries text or tool-input JSON fragments, `messageStop` carries the
//! `stopReason`, `metadata` the usage. A body that ends before `messageStop` (or inside a
//! frame) is a retryable error, never a complete answer.

use super::error::from_exception;
use super::eventstream::{Decoder, Message};
use super::response::{finish_reason, new_id, now, reasoning_text, thinking_block, usage};
use super::wire::TokenUsage;
use crate::error::{ErrorKind, ProviderError};
use crate::provider::ChunkStream;
use crate::providers::http::{excerpt, transport_error};
use futures::StreamExt;
use schemas::openai::*;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};

/// Turns messages into chunks.
pub struct Translator {
    provider: String,
    model: String,
    id: String,
    created: u64,
    /// contentBlockIndex -> tool call index.
    tools: HashMap<u64, u32>,
    /// contentBlockIndex -> the `reasoningContent` being written (text, signature, redacted).
    reasoning: HashMap<u64, Value>,
    stopped: bool,
}

impl Translator {
    /// A translator for one stream.
    pub fn new(provider: &str, model: &str) -> Self {
        Self {
            provider: provider.into(),
            model: model.into(),
            id: new_id(),
            created: now(),
            tools: HashMap::new(),
            reasoning: HashMap::new(),
            stopped: false,
        }
    }

    fn chunk(&self, delta: Delta, finish: Option<String>, usage: Option<Usage>) -> ChatChunk {
        let choices = if usage.is_some() {
            Vec::new()
        } else {
            vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish,
                extra: Default::default(),
            }]
        };
        ChatChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.created,
            model: self.model.clone(),
            choices,
            usage,
            extra: Default::default(),
        }
    }

    fn decode_err(&self, what: &str, m: &Message) -> ProviderError {
        ProviderError::new(
            ErrorKind::Decode,
            &self.provider,
            format!("cannot decode the {what} event: {}", excerpt(&m.payload)),
        )
    }

    /// The chunk of one message, if it makes one.
    pub fn on_message(&mut self, m: &Message) -> Result<Option<ChatChunk>, ProviderError> {
        match m.header(":message-type") {
            Some("exception") | Some("error") => {
                let t = m
                    .header(":exception-type")
                    .or(m.header(":error-code"))
                    .unwrap_or("exception");
                return Err(from_exception(&self.provider, t, &m.payload));
            }
            _ => {}
        }
        let event = m.header(":event-type").unwrap_or("").to_string();
        let p: Value =
            serde_json::from_slice(&m.payload).map_err(|_| self.decode_err(&event, m))?;
        let block = p["contentBlockIndex"].as_u64().unwrap_or(0);
        let out = match event.as_str() {
            "messageStart" => Some(self.chunk(
                Delta {
                    role: Some("assistant".into()),
                    ..Default::default()
                },
                None,
                None,
            )),
            "contentBlockStart" => match p["start"].get("toolUse") {
                Some(tu) => {
                    let index = self.tools.len() as u32;
                    self.tools.insert(block, index);
                    let call = ToolCallDelta {
                        index,
                        id: tu["toolUseId"].as_str().map(str::to_string),
                        kind: Some("function".into()),
                        function: Some(FunctionCallDelta {
                            name: tu["name"].as_str().map(str::to_string),
                            arguments: Some(String::new()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    };
                    Some(self.chunk(
                        Delta {
                            tool_calls: Some(vec![call]),
                            ..Default::default()
                        },
                        None,
                        None,
                    ))
                }
                None => None,
            },
            "contentBlockDelta" => {
                let d = &p["delta"];
                let mut delta = Delta::default();
                if let Some(t) = d["text"].as_str() {
                    delta.content = Some(t.to_string());
                } else if let Some(input) = d["toolUse"]["input"].as_str() {
                    let index = *self.tools.get(&block).ok_or_else(|| {
                        self.decode_err("contentBlockDelta (toolUse without contentBlockStart)", m)
                    })?;
                    delta.tool_calls = Some(vec![ToolCallDelta {
                        index,
                        function: Some(FunctionCallDelta {
                            name: None,
                            arguments: Some(input.to_string()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }]);
                } else if let Some(rc) = d.get("reasoningContent") {
                    self.fold_reasoning(block, rc);
                    match d.as_object().and_then(reasoning_text) {
                        Some(t) => delta
                            .extra
                            .insert(REASONING_CONTENT.into(), Value::String(t.to_string())),
                        None => return Ok(None),
                    };
                } else {
                    return Ok(None);
                }
                Some(self.chunk(delta, None, None))
            }
            "contentBlockStop" => {
                let Some(tb) = self
                    .reasoning
                    .remove(&block)
                    .as_ref()
                    .and_then(thinking_block)
                else {
                    return Ok(None);
                };
                let mut delta = Delta::default();
                delta.extra.insert(THINKING_BLOCKS.into(), vec![tb].into());
                Some(self.chunk(delta, None, None))
            }
            "messageStop" => {
                self.stopped = true;
                let reason = finish_reason(p["stopReason"].as_str().unwrap_or("end_turn"));
                Some(self.chunk(Delta::default(), Some(reason), None))
            }
            "metadata" => {
                let u: TokenUsage = serde_json::from_value(p["usage"].clone())
                    .map_err(|_| self.decode_err("metadata", m))?;
                Some(self.chunk(Delta::default(), None, Some(usage(&u))))
            }
            _ => None,
        };
        Ok(out)
    }

    /// Adds a `reasoningContent` delta (text, signature or redacted bytes) to its block.
    fn fold_reasoning(&mut self, block: u64, rc: &Value) {
        let acc = self
            .reasoning
            .entry(block)
            .or_insert_with(|| serde_json::json!({}));
        if let Some(data) = rc.get("redactedContent") {
            acc["redactedContent"] = data.clone();
            return;
        }
        let text = &mut acc["reasoningText"];
        if let Some(t) = rc.get("text").and_then(Value::as_str) {
            let prev = text["text"].as_str().unwrap_or("").to_string();
            text["text"] = Value::String(prev + t);
        }
        if let Some(sig) = rc.get("signature") {
            text["signature"] = sig.clone();
        }
    }

    /// At the end of the body: an error unless `messageStop` came and no frame is cut.
    pub fn on_end(&self, partial: bool) -> Result<(), ProviderError> {
        if partial || !self.stopped {
            return Err(ProviderError::new(
                ErrorKind::Network,
                &self.provider,
                "the Bedrock stream ended before messageStop (connection cut); retry the request",
            ));
        }
        Ok(())
    }
}

struct State {
    body: futures::stream::BoxStream<'static, Result<bytes::Bytes, reqwest::Error>>,
    dec: Decoder,
    tr: Translator,
    pending: VecDeque<ChatChunk>,
    done: bool,
}

impl State {
    /// Reads until a chunk is pending or the body ends.
    async fn fill(&mut self) -> Result<(), ProviderError> {
        loop {
            match self.dec.next_message() {
                Ok(Some(m)) => {
                    if let Some(c) = self.tr.on_message(&m)? {
                        self.pending.push_back(c);
                        return Ok(());
                    }
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(ProviderError::new(
                        ErrorKind::Decode,
                        &self.tr.provider,
                        format!("{e}; retry the request"),
                    ))
                }
            }
            match self.body.next().await {
                Some(Ok(b)) => self.dec.push(&b),
                Some(Err(e)) => return Err(transport_error(&self.tr.provider, &e)),
                None => {
                    self.done = true;
                    return self.tr.on_end(self.dec.has_partial());
                }
            }
        }
    }
}

/// The chunk stream of a `converse-stream` response.
pub fn chunks(provider: &str, model: &str, resp: reqwest::Response) -> ChunkStream {
    let st = State {
        body: resp.bytes_stream().boxed(),
        dec: Decoder::default(),
        tr: Translator::new(provider, model),
        pending: VecDeque::new(),
        done: false,
    };
    futures::stream::unfold(st, |mut st| async move {
        loop {
            if let Some(c) = st.pending.pop_front() {
                return Some((Ok(c), st));
            }
            if st.done {
                return None;
            }
            if let Err(e) = st.fill().await {
                st.done = true;
                return Some((Err(e), st));
            }
        }
    })
    .boxed()
}
