//! The `gemini` kind: the Google AI Gemini API (generativelanguage).
//!
//! `POST {base_url}/{api_version}/models/{model}:generateContent`, `:streamGenerateContent?alt=sse`,
//! `:embedContent` (one input) and `:batchEmbedContents` (several), authenticated with the
//! `x-goog-api-key` header. Options: `api_version` (default `v1beta`), `connect_timeout_ms`.

mod embed;
mod error;
mod request;
mod response;
mod schema;
mod stream;
mod wire;

use super::http::{client, excerpt, transport_error};
use super::option;
use crate::capability::{cap, Capabilities, Param, Support};
use crate::error::{ErrorKind, ProviderError};
use crate::provider::{CallCtx, ChunkStream, Provider};
use broker::config::ProviderConfig;
use futures::future::BoxFuture;
use schemas::openai::*;
use std::sync::Arc;
use std::time::Duration;

/// What `generateContent` does with each OpenAI parameter.
pub const CAPABILITIES: Capabilities = Capabilities {
    kind: "gemini",
    lines: &[
        cap(
            Param::Tools,
            Support::Translated,
            "functionDeclarations, $ref inlined; parametersJsonSchema when recursive",
        ),
        cap(Param::ToolChoiceNone, Support::Translated, "mode NONE"),
        cap(Param::ToolChoiceRequired, Support::Translated, "mode ANY"),
        cap(
            Param::ToolChoiceNamed,
            Support::Translated,
            "mode ANY with allowedFunctionNames",
        ),
        cap(
            Param::NoParallelToolCalls,
            Support::Emulated,
            "the first call is kept",
        ),
        cap(
            Param::JsonObject,
            Support::Translated,
            "responseMimeType application/json",
        ),
        cap(
            Param::JsonSchema,
            Support::Translated,
            "responseSchema, $ref inlined; responseJsonSchema when recursive",
        ),
        cap(Param::N, Support::Translated, "candidateCount"),
        cap(Param::NStream, Support::Translated, "candidateCount"),
        cap(Param::Stop, Support::Translated, "stopSequences"),
        cap(Param::Seed, Support::Translated, "seed"),
        cap(
            Param::Penalties,
            Support::Translated,
            "presencePenalty, frequencyPenalty",
        ),
        cap(Param::LogitBias, Support::Refused, ""),
        cap(Param::Logprobs, Support::Refused, ""),
        cap(Param::TopK, Support::Translated, "topK"),
        cap(
            Param::ReasoningEffort,
            Support::Translated,
            "thinkingConfig: thinkingLevel on Gemini 3, else thinkingBudget",
        ),
        cap(
            Param::Thinking,
            Support::Translated,
            "thinkingConfig.thinkingBudget; function calls signed, see extra_content",
        ),
        cap(Param::ImageData, Support::Translated, "inlineData"),
        cap(Param::ImageUrl, Support::Translated, "fileData"),
        cap(Param::AudioOrFile, Support::Refused, ""),
        cap(Param::ClientMetadata, Support::Dropped, ""),
        cap(Param::Unknown, Support::Refused, ""),
    ],
    reads: request::PASSTHROUGH,
};

/// The Gemini adapter.
pub struct Gemini {
    name: String,
    base_url: String,
    api_version: String,
    api_key: Option<String>,
    http: reqwest::Client,
}

/// Builds the adapter from its config entry.
pub fn build(name: &str, cfg: &ProviderConfig) -> Result<Arc<dyn Provider>, String> {
    let base_url = super::http::base_url(cfg, "https://generativelanguage.googleapis.com")?;
    let api_version: String = option(cfg, "api_version")?.unwrap_or_else(|| "v1beta".into());
    let connect: u64 = option(cfg, "connect_timeout_ms")?.unwrap_or(cfg.timeouts.connect_ms);
    Ok(Arc::new(Gemini {
        name: name.to_string(),
        base_url,
        api_version,
        api_key: cfg
            .api_key
            .as_ref()
            .map(|k| k.expose().to_string())
            .filter(|k| !k.is_empty()),
        http: client(Duration::from_millis(connect))?,
    }))
}

/// The model id in the path: `models/` prefixes are dropped, the rest must be path-safe.
fn model_path(provider: &str, model: &str) -> Result<String, ProviderError> {
    let m = model.strip_prefix("models/").unwrap_or(model);
    if m.is_empty()
        || !m
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(ProviderError::new(
            ErrorKind::BadRequest,
            provider,
            format!("`{model}` is not a Gemini model name (letters, digits, `-`, `_`, `.`)"),
        ));
    }
    Ok(m.to_string())
}

impl Gemini {
    fn request(&self, model: &str, method: &str, ctx: &CallCtx) -> reqwest::RequestBuilder {
        let url = format!(
            "{}/{}/models/{model}:{method}",
            self.base_url, self.api_version
        );
        let mut rb = self.http.post(url);
        if let Some(k) = &self.api_key {
            rb = rb.header("x-goog-api-key", k);
        }
        if let Some(tp) = &ctx.traceparent {
            rb = rb.header("traceparent", tp);
        }
        if let Some(d) = ctx.deadline {
            rb = rb.timeout(
                d.saturating_duration_since(std::time::Instant::now())
                    .max(Duration::from_millis(1)),
            );
        }
        rb
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> Result<reqwest::Response, ProviderError> {
        super::http::send(&self.name, rb, error::from_response).await
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        resp: reqwest::Response,
    ) -> Result<T, ProviderError> {
        let body = resp
            .bytes()
            .await
            .map_err(|e| transport_error(&self.name, &e))?;
        serde_json::from_slice(&body).map_err(|e| {
            ProviderError::new(
                ErrorKind::Decode,
                &self.name,
                format!(
                    "cannot decode the Gemini answer: {e}; body: {}",
                    excerpt(&body)
                ),
            )
        })
    }
}

impl Provider for Gemini {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    fn chat<'a>(
        &'a self,
        req: ChatRequest,
        ctx: &'a CallCtx,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            let model = model_path(&self.name, &req.model)?;
            let body = request::translate(&self.name, &req)?;
            let resp = self
                .send(self.request(&model, "generateContent", ctx).json(&body))
                .await?;
            let r: wire::GenerateResponse = self.json(resp).await?;
            response::to_chat(&self.name, &req.model, r)
        })
    }

    fn chat_stream<'a>(
        &'a self,
        req: ChatRequest,
        ctx: &'a CallCtx,
    ) -> BoxFuture<'a, Result<ChunkStream, ProviderError>> {
        Box::pin(async move {
            let model = model_path(&self.name, &req.model)?;
            let body = request::translate(&self.name, &req)?;
            let rb = self
                .request(&model, "streamGenerateContent", ctx)
                .query(&[("alt", "sse")])
                .header("accept", "text/event-stream")
                .json(&body);
            let resp = self.send(rb).await?;
            Ok(stream::chunks(&self.name, &req.model, resp))
        })
    }

    fn embed<'a>(
        &'a self,
        req: EmbeddingsRequest,
        ctx: &'a CallCtx,
    ) -> BoxFuture<'a, Result<EmbeddingsResponse, ProviderError>> {
        Box::pin(async move {
            let model = model_path(&self.name, &req.model)?;
            let texts = embed::inputs(&self.name, &req)?;
            let vectors = if texts.len() == 1 {
                let body = embed::one(&model, &texts[0], req.dimensions);
                let resp = self
                    .send(self.request(&model, "embedContent", ctx).json(&body))
                    .await?;
                let r: wire::EmbedResponse = self.json(resp).await?;
                (vec![r.embedding.values], r.usage_metadata)
            } else {
                let body = embed::batch(&model, &texts, req.dimensions);
                let resp = self
                    .send(self.request(&model, "batchEmbedContents", ctx).json(&body))
                    .await?;
                let r: wire::BatchEmbedResponse = self.json(resp).await?;
                (
                    r.embeddings.into_iter().map(|e| e.values).collect(),
                    r.usage_metadata,
                )
            };
            let (vectors, usage) = vectors;
            let reported = usage.map(|u| u.prompt_token_count).filter(|n| *n > 0);
            embed::to_openai(&self.name, &req.model, &texts, vectors, reported)
        })
    }
}
