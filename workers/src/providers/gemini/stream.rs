//! `streamGenerateContent?alt=sse` -> OpenAI chunks.
//!
//! Each SSE event is a whole `GenerateContentResponse` holding the next piece of each
//! candidate. Gemini sends a function call whole, so a call becomes one tool-call delta; calls
//! arriving in later events get the next index. There is no end marker: the event with a
//! `finishReason` ends the answer, and a body that ends before one is reported as a
//! retryable error rather than a complete answer.

use super::error::ErrEnvelope;
use super::response::{blocked, finish_reason, new_id, now, split, tool_call, usage};
use super::wire::GenerateResponse;
use crate::error::{ErrorKind, ProviderError};
use crate::provider::ChunkStream;
use crate::providers::http::{excerpt, transport_error};
use crate::providers::sse;
use futures::StreamExt;
use schemas::openai::*;
use std::collections::{BTreeMap, VecDeque};

/// Per-candidate progress.
#[derive(Default)]
struct CandState {
    role_sent: bool,
    calls: u32,
    finished: bool,
}

/// Turns events into chunks.
pub struct Translator {
    provider: String,
    model: String,
    id: String,
    created: u64,
    cands: BTreeMap<u32, CandState>,
    usage: Option<Usage>,
}

impl Translator {
    /// A translator for one stream.
    pub fn new(provider: &str, model: &str) -> Self {
        Self {
            provider: provider.to_string(),
            model: model.to_string(),
            id: new_id(),
            created: now(),
            cands: BTreeMap::new(),
            usage: None,
        }
    }

    fn chunk(&self, choices: Vec<ChunkChoice>, usage: Option<Usage>) -> ChatChunk {
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

    /// The chunks of one event.
    pub fn on_event(&mut self, data: &str) -> Result<Vec<ChatChunk>, ProviderError> {
        if let Ok(e) = serde_json::from_str::<ErrEnvelope>(data) {
            return Err(e.error.into_stream_error(&self.provider));
        }
        let r: GenerateResponse = serde_json::from_str(data).map_err(|e| {
            ProviderError::new(
                ErrorKind::Decode,
                &self.provider,
                format!(
                    "cannot decode a stream event: {e}; data: {}",
                    excerpt(data.as_bytes())
                ),
            )
        })?;
        if let Some(id) = &r.response_id {
            crate::providers::http::note_request_id(id);
        }
        if let Some(e) = blocked(&self.provider, &r) {
            return Err(e);
        }
        if let Some(u) = &r.usage_metadata {
            // Counts are cumulative; the last one wins.
            self.usage = Some(usage(u));
        }
        if let Some(v) = &r.model_version {
            self.model = v.clone();
        }
        let mut choices = Vec::new();
        for (i, c) in r.candidates.iter().enumerate() {
            let index = c.index.unwrap_or(i as u32);
            let st = self.cands.entry(index).or_default();
            let s = split(c.content.as_ref());
            let mut delta = Delta::default();
            if !st.role_sent {
                delta.role = Some("assistant".into());
                st.role_sent = true;
            }
            if !s.text.is_empty() {
                delta.content = Some(s.text);
            }
            if !s.thought.is_empty() {
                delta
                    .extra
                    .insert("reasoning_content".into(), s.thought.into());
            }
            if !s.calls.is_empty() {
                let calls = s
                    .calls
                    .iter()
                    .map(|(fc, sig)| {
                        st.calls += 1;
                        let call = tool_call(fc, sig.as_deref());
                        ToolCallDelta {
                            index: st.calls - 1,
                            id: Some(call.id),
                            kind: Some(call.kind),
                            function: Some(FunctionCallDelta {
                                name: Some(call.function.name),
                                arguments: Some(call.function.arguments),
                                ..Default::default()
                            }),
                            extra: call.extra,
                        }
                    })
                    .collect();
                delta.tool_calls = Some(calls);
            }
            let finish = c.finish_reason.as_deref().map(|f| {
                st.finished = true;
                finish_reason(f, st.calls > 0)
            });
            choices.push(ChunkChoice {
                index,
                delta,
                finish_reason: finish,
                extra: Default::default(),
            });
        }
        Ok(if choices.is_empty() {
            Vec::new()
        } else {
            vec![self.chunk(choices, None)]
        })
    }

    /// At the end of the body: the usage chunk, or an error when no candidate finished.
    pub fn on_end(&mut self) -> Result<Option<ChatChunk>, ProviderError> {
        if self.cands.is_empty() || self.cands.values().any(|c| !c.finished) {
            return Err(ProviderError::new(
                ErrorKind::Network,
                &self.provider,
                "the Gemini stream ended before a finishReason (connection cut); retry the request",
            ));
        }
        Ok(self.usage.take().map(|u| self.chunk(Vec::new(), Some(u))))
    }
}

struct State {
    events: futures::stream::BoxStream<'static, Result<sse::SseEvent, reqwest::Error>>,
    tr: Translator,
    pending: VecDeque<ChatChunk>,
    done: bool,
}

/// The chunk stream of a streaming response.
pub fn chunks(provider: &str, model: &str, resp: reqwest::Response) -> ChunkStream {
    let st = State {
        events: sse::decode(resp.bytes_stream().boxed()).boxed(),
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
            let item = match st.events.next().await {
                Some(Ok(ev)) => st.tr.on_event(&ev.data).map(|cs| st.pending.extend(cs)),
                Some(Err(e)) => Err(transport_error(&st.tr.provider, &e)),
                None => {
                    st.done = true;
                    st.tr.on_end().map(|c| st.pending.extend(c))
                }
            };
            if let Err(e) = item {
                st.done = true;
                st.pending.clear();
                return Some((Err(e), st));
            }
        }
    })
    .boxed()
}
