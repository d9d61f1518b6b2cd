//! The built-in mock provider: no network, behaviour chosen by the model name.
//!
//! | model | behaviour |
//! |---|---|
//! | `echo` (or any other name) | answers `echo: <last user message>` |
//! | `slow-<N>ms` | echoes after N milliseconds (streams: before the first chunk) |
//! | `error-<status>` | fails with that upstream status (`429` advises `retry-after: 1`) |
//! | `stream-<N>ms` | echoes, streaming one word every N milliseconds |
//! | `embed` | deterministic embeddings derived from the input text |
//! | `big-<N>kb` | echoes, padded with `.` to about N KiB (large answers) |
//!
//! Options: `latency_ms` (added to every call), `failure_rate` (0.0–1.0, fails with 500).

use super::option;
use crate::capability::{cap, Capabilities, Param, Support};
use crate::error::{ErrorKind, ProviderError};
use crate::provider::{CallCtx, ChunkStream, Provider};
use broker::config::ProviderConfig;
use futures::future::BoxFuture;
use futures::StreamExt;
use schemas::openai::*;
use std::sync::Arc;
use std::time::Duration;

/// The mock echoes the last user message: parameters cannot change its answer, except `n`,
/// which the gateway emulates so demos show several choices.
pub const CAPABILITIES: Capabilities = Capabilities {
    kind: "mock",
    lines: &[
        cap(Param::Tools, Support::Dropped, "the mock echoes"),
        cap(Param::ToolChoiceNone, Support::Dropped, "the mock echoes"),
        cap(
            Param::ToolChoiceRequired,
            Support::Dropped,
            "the mock echoes",
        ),
        cap(Param::ToolChoiceNamed, Support::Dropped, "the mock echoes"),
        cap(
            Param::NoParallelToolCalls,
            Support::Dropped,
            "the mock echoes",
        ),
        cap(Param::JsonObject, Support::Dropped, "the mock echoes"),
        cap(Param::JsonSchema, Support::Dropped, "the mock echoes"),
        cap(Param::N, Support::Emulated, "n calls, choices merged"),
        cap(
            Param::NStream,
            Support::Emulated,
            "n streams, choices interleaved",
        ),
        cap(Param::Stop, Support::Dropped, "the mock echoes"),
        cap(Param::Seed, Support::Dropped, "the mock echoes"),
        cap(Param::Penalties, Support::Dropped, "the mock echoes"),
        cap(Param::LogitBias, Support::Dropped, "the mock echoes"),
        cap(Param::Logprobs, Support::Dropped, "the mock echoes"),
        cap(Param::TopK, Support::Dropped, "the mock echoes"),
        cap(Param::ReasoningEffort, Support::Dropped, "the mock echoes"),
        cap(Param::Thinking, Support::Dropped, "the mock echoes"),
        cap(Param::ImageData, Support::Dropped, "the mock echoes"),
        cap(Param::ImageUrl, Support::Dropped, "the mock echoes"),
        cap(Param::AudioOrFile, Support::Dropped, "the mock echoes"),
        cap(Param::ClientMetadata, Support::Dropped, ""),
        cap(Param::Unknown, Support::Dropped, "the mock echoes"),
    ],
    reads: &[],
};

/// The mock adapter.
pub struct Mock {
    name: String,
    latency: Duration,
    failure_rate: f64,
    models: Vec<String>,
}

/// What the mock lists as its live models when its entry names none: one of each kind of
/// behaviour (it answers any name).
pub const LISTED: &[&str] = &["echo", "embed", "slow-500ms", "stream-100ms", "error-429"];

/// Builds the mock from its config entry.
pub fn build(name: &str, cfg: &ProviderConfig) -> Result<Arc<dyn Provider>, String> {
    let latency_ms: u64 = option(cfg, "latency_ms")?.unwrap_or(0);
    let failure_rate: f64 = option(cfg, "failure_rate")?.unwrap_or(0.0);
    if !(0.0..=1.0).contains(&failure_rate) {
        return Err(format!(
            "failure_rate: {failure_rate} is not between 0.0 and 1.0"
        ));
    }
    let models = if cfg.models.is_empty() {
        LISTED.iter().map(|m| m.to_string()).collect()
    } else {
        cfg.models.clone()
    };
    Ok(Arc::new(Mock {
        name: name.to_string(),
        latency: Duration::from_millis(latency_ms),
        failure_rate,
        models,
    }))
}

/// What a model name asks the mock to do.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Behaviour {
    Echo,
    Slow(Duration),
    Error(u16),
    StreamEvery(Duration),
    Embed,
    /// Echo padded to this many bytes.
    Big(usize),
}

fn behaviour(model: &str) -> Behaviour {
    let ms = |s: &str| {
        s.strip_suffix("ms")
            .and_then(|n| n.parse::<u64>().ok())
            .map(Duration::from_millis)
    };
    if let Some(d) = model.strip_prefix("slow-").and_then(ms) {
        Behaviour::Slow(d)
    } else if let Some(d) = model.strip_prefix("stream-").and_then(ms) {
        Behaviour::StreamEvery(d)
    } else if let Some(s) = model.strip_prefix("error-").and_then(|s| s.parse().ok()) {
        Behaviour::Error(s)
    } else if model == "embed" {
        Behaviour::Embed
    } else if let Some(kb) = model
        .strip_prefix("big-")
        .and_then(|s| s.strip_suffix("kb"))
        .and_then(|n| n.parse::<usize>().ok())
    {
        Behaviour::Big(kb.min(64 * 1024) * 1024)
    } else {
        Behaviour::Echo
    }
}

fn words(s: &str) -> u64 {
    s.split_whitespace().count().max(1) as u64
}

impl Mock {
    async fn prelude(&self, model: &str) -> Result<Behaviour, ProviderError> {
        let b = behaviour(model);
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        if let Behaviour::Slow(d) = b {
            tokio::time::sleep(d).await;
        }
        if let Behaviour::Error(status) = b {
            let kind = ErrorKind::from_status(status);
            let mut e = ProviderError::new(
                kind,
                &self.name,
                format!("upstream answered {status}: mock error {status}"),
            )
            .status(status);
            if status == 429 {
                e = e.retry_after(Some(Duration::from_secs(1)));
            }
            return Err(e);
        }
        if self.failure_rate > 0.0 && rand::random::<f64>() < self.failure_rate {
            return Err(ProviderError::new(
                ErrorKind::Server,
                &self.name,
                "upstream answered 500: mock random failure",
            )
            .status(500));
        }
        Ok(b)
    }

    fn answer(req: &ChatRequest) -> (String, Usage) {
        let last = req
            .messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map(Message::text)
            .unwrap_or_default();
        let prompt: u64 = req.messages.iter().map(|m| words(&m.text())).sum();
        let mut text = format!("echo: {last}");
        if let Behaviour::Big(bytes) = behaviour(&req.model) {
            if text.len() < bytes {
                text.push(' ');
                text.extend(std::iter::repeat_n('.', bytes - text.len()));
            }
        }
        let usage = Usage::new(prompt, words(&text));
        (text, usage)
    }
}

fn completion_id() -> String {
    format!("chatcmpl-mock-{}", uuid::Uuid::now_v7().simple())
}

fn chunk(id: &str, model: &str, delta: Delta, finish: Option<&str>) -> ChatChunk {
    ChatChunk {
        id: id.to_string(),
        object: "chat.completion.chunk".into(),
        created: schemas::now_ms() / 1000,
        model: model.to_string(),
        choices: vec![ChunkChoice {
            index: 0,
            delta,
            finish_reason: finish.map(str::to_string),
            ..Default::default()
        }],
        usage: None,
        extra: Default::default(),
    }
}

impl Provider for Mock {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    fn list_models(&self) -> BoxFuture<'_, Result<Vec<Model>, ProviderError>> {
        let models = self
            .models
            .iter()
            .map(|id| Model {
                id: id.clone(),
                object: "model".into(),
                created: 0,
                owned_by: self.name.clone(),
            })
            .collect();
        Box::pin(async move { Ok(models) })
    }

    fn chat<'a>(
        &'a self,
        req: ChatRequest,
        _ctx: &'a CallCtx,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            self.prelude(&req.model).await?;
            let (text, usage) = Self::answer(&req);
            Ok(ChatResponse {
                id: completion_id(),
                object: "chat.completion".into(),
                created: schemas::now_ms() / 1000,
                model: req.model.clone(),
                choices: vec![Choice {
                    index: 0,
                    message: Message {
                        role: "assistant".into(),
                        content: Some(Content::Text(text)),
                        ..Default::default()
                    },
                    finish_reason: Some("stop".into()),
                    extra: Default::default(),
                }],
                usage: Some(usage),
                extra: Default::default(),
            })
        })
    }

    fn chat_stream<'a>(
        &'a self,
        req: ChatRequest,
        _ctx: &'a CallCtx,
    ) -> BoxFuture<'a, Result<ChunkStream, ProviderError>> {
        Box::pin(async move {
            let b = self.prelude(&req.model).await?;
            let every = match b {
                Behaviour::StreamEvery(d) => d,
                _ => Duration::ZERO,
            };
            let (text, usage) = Self::answer(&req);
            let id = completion_id();
            let model = req.model.clone();
            let mut chunks = vec![chunk(
                &id,
                &model,
                Delta {
                    role: Some("assistant".into()),
                    content: Some(String::new()),
                    ..Default::default()
                },
                None,
            )];
            for (i, w) in text.split(' ').enumerate() {
                let piece = if i == 0 {
                    w.to_string()
                } else {
                    format!(" {w}")
                };
                chunks.push(chunk(
                    &id,
                    &model,
                    Delta {
                        content: Some(piece),
                        ..Default::default()
                    },
                    None,
                ));
            }
            chunks.push(chunk(&id, &model, Delta::default(), Some("stop")));
            let mut last = chunk(&id, &model, Delta::default(), None);
            last.choices.clear();
            last.usage = Some(usage);
            chunks.push(last);
            let s = futures::stream::iter(chunks).then(move |c| async move {
                if !every.is_zero() {
                    tokio::time::sleep(every).await;
                }
                Ok(c)
            });
            Ok(s.boxed())
        })
    }

    fn embed<'a>(
        &'a self,
        req: EmbeddingsRequest,
        _ctx: &'a CallCtx,
    ) -> BoxFuture<'a, Result<EmbeddingsResponse, ProviderError>> {
        Box::pin(async move {
            self.prelude(&req.model).await?;
            let dims = req.dimensions.unwrap_or(16).clamp(1, 4096) as usize;
            let texts = req.input.texts();
            let tokens: u64 = texts.iter().map(|t| words(t)).sum();
            let data = texts
                .iter()
                .enumerate()
                .map(|(i, t)| Embedding {
                    object: "embedding".into(),
                    index: i as u32,
                    embedding: serde_json::json!(embed_text(t, dims)),
                })
                .collect();
            Ok(EmbeddingsResponse {
                object: "list".into(),
                data,
                model: req.model.clone(),
                usage: EmbeddingsUsage {
                    prompt_tokens: tokens,
                    total_tokens: tokens,
                    extra: Default::default(),
                },
                extra: Default::default(),
            })
        })
    }
}

/// A deterministic unit vector for `text`: each word adds a hashed direction, so texts that
/// share words are close (useful for semantic-cache tests).
pub fn embed_text(text: &str, dims: usize) -> Vec<f32> {
    let mut v = vec![0f32; dims];
    for w in text
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let mut h: u64 = 0xcbf29ce484222325;
        for b in w.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        for (i, x) in v.iter_mut().enumerate() {
            let bits = h.rotate_left((i % 64) as u32) ^ (i as u64).wrapping_mul(0x9e3779b97f4a7c15);
            *x += ((bits % 2001) as f32 / 1000.0) - 1.0;
        }
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_pick_behaviour() {
        assert_eq!(behaviour("echo"), Behaviour::Echo);
        assert_eq!(
            behaviour("slow-500ms"),
            Behaviour::Slow(Duration::from_millis(500))
        );
        assert_eq!(behaviour("error-429"), Behaviour::Error(429));
        assert_eq!(behaviour("embed"), Behaviour::Embed);
    }

    #[test]
    fn embeddings_are_deterministic_and_similar_for_shared_words() {
        let a = embed_text("the cat sat", 32);
        assert_eq!(a, embed_text("the cat sat", 32));
        let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(a, b)| a * b).sum::<f32>();
        assert!(
            dot(&a, &embed_text("the cat sat down", 32))
                > dot(&a, &embed_text("quantum physics lecture", 32))
        );
    }
}
