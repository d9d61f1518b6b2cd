//! The `anthropic` kind: the Anthropic Messages API.
//!
//! `base_url` defaults to `https://api.anthropic.com`; the adapter adds `/v1/messages`
//! (and `/v1/messages/count_tokens`). Auth is the `x-api-key` header. Options:
//! `anthropic_version` (the `anthropic-version` header, default `2023-06-01`),
//! `max_tokens_default` (sent when the client gives no limit, since Anthropic requires one;
//! default 4096), `beta` (a list joined into `anthropic-beta`), `headers` (a table of extra
//! headers) and `connect_timeout_ms`. Anthropic has no embeddings API.

mod error;
pub mod request;
pub mod response;
pub mod stream;

use super::http::client;
use super::option;
use crate::capability::{cap, Capabilities, Param, Support};
use crate::error::{ErrorKind, ProviderError};
use crate::provider::{CallCtx, ChunkStream, Provider};
use broker::config::ProviderConfig;
use futures::future::BoxFuture;
use schemas::anthropic::{CountTokensResponse, MessagesRequest, MessagesResponse};
use schemas::openai::*;
use std::sync::Arc;
use std::time::Duration;

/// What the Messages API does with each OpenAI parameter.
pub const CAPABILITIES: Capabilities = Capabilities {
    kind: "anthropic",
    lines: &[
        cap(Param::Tools, Support::Translated, "tool_use blocks"),
        cap(
            Param::ToolChoiceNone,
            Support::Translated,
            "tool_choice none",
        ),
        cap(
            Param::ToolChoiceRequired,
            Support::Translated,
            "tool_choice any",
        ),
        cap(
            Param::ToolChoiceNamed,
            Support::Translated,
            "tool_choice tool",
        ),
        cap(
            Param::NoParallelToolCalls,
            Support::Translated,
            "disable_parallel_tool_use",
        ),
        cap(
            Param::JsonObject,
            Support::Refused,
            "structured output needs a schema: use json_schema",
        ),
        cap(
            Param::JsonSchema,
            Support::Translated,
            "output_config.format",
        ),
        cap(Param::N, Support::Emulated, "n calls, choices merged"),
        cap(
            Param::NStream,
            Support::Emulated,
            "n streams, choices interleaved",
        ),
        cap(
            Param::Stop,
            Support::Translated,
            "stop_sequences; the sequence hit is kept as stop_sequence",
        ),
        cap(Param::Seed, Support::Refused, ""),
        cap(Param::Penalties, Support::Refused, ""),
        cap(Param::LogitBias, Support::Refused, ""),
        cap(Param::Logprobs, Support::Refused, ""),
        cap(Param::TopK, Support::Native, ""),
        cap(
            Param::ReasoningEffort,
            Support::Translated,
            "thinking budget: minimal/low 1024, medium 4096, high 16384 tokens",
        ),
        cap(
            Param::Thinking,
            Support::Native,
            "thinking blocks come back as reasoning_content and thinking_blocks",
        ),
        cap(Param::ImageData, Support::Translated, "base64 image block"),
        cap(Param::ImageUrl, Support::Translated, "url image block"),
        cap(Param::AudioOrFile, Support::Refused, ""),
        cap(
            Param::ClientMetadata,
            Support::Dropped,
            "user is sent as metadata.user_id",
        ),
        cap(Param::Unknown, Support::Refused, ""),
    ],
    reads: request::PASSTHROUGH,
};

/// An Anthropic upstream.
pub struct Anthropic {
    name: String,
    base_url: String,
    api_key: Option<String>,
    version: String,
    max_tokens_default: u32,
    headers: Vec<(String, String)>,
    http: reqwest::Client,
}

/// Builds the adapter from its config entry.
pub fn build(name: &str, cfg: &ProviderConfig) -> Result<Arc<dyn Provider>, String> {
    let base_url = super::http::base_url(cfg, "https://api.anthropic.com")?;
    let mut headers: Vec<(String, String)> =
        option::<std::collections::BTreeMap<String, String>>(cfg, "headers")?
            .unwrap_or_default()
            .into_iter()
            .collect();
    if let Some(beta) = option::<Vec<String>>(cfg, "beta")?.filter(|b| !b.is_empty()) {
        headers.push(("anthropic-beta".into(), beta.join(",")));
    }
    let max_tokens_default: u32 = option(cfg, "max_tokens_default")?.unwrap_or(4096);
    if max_tokens_default == 0 {
        return Err("max_tokens_default: must be at least 1".into());
    }
    let connect: u64 = option(cfg, "connect_timeout_ms")?.unwrap_or(cfg.timeouts.connect_ms);
    Ok(Arc::new(Anthropic {
        name: name.to_string(),
        base_url,
        api_key: cfg
            .api_key
            .as_ref()
            .map(|k| k.expose().to_string())
            .filter(|k| !k.is_empty()),
        version: option(cfg, "anthropic_version")?
            .unwrap_or_else(|| schemas::anthropic::API_VERSION.to_string()),
        max_tokens_default,
        headers,
        http: client(Duration::from_millis(connect))?,
    }))
}

impl Anthropic {
    fn translate(&self, req: ChatRequest) -> Result<MessagesRequest, ProviderError> {
        request::to_messages(req, self.max_tokens_default)
            .map_err(|e| ProviderError::new(ErrorKind::BadRequest, &self.name, e))
    }

    async fn post(
        &self,
        path: &str,
        body: &MessagesRequest,
        ctx: &CallCtx,
    ) -> Result<reqwest::Response, ProviderError> {
        let mut rb = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header("anthropic-version", &self.version)
            .json(body);
        if let Some(k) = &self.api_key {
            rb = rb.header("x-api-key", k);
        }
        for (k, v) in &self.headers {
            rb = rb.header(k, v);
        }
        if body.stream == Some(true) {
            rb = rb.header("accept", "text/event-stream");
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
        super::http::send(&self.name, rb, error::from_response).await
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        resp: reqwest::Response,
    ) -> Result<T, ProviderError> {
        super::http::json(&self.name, resp).await
    }
}

impl Provider for Anthropic {
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
            let body = self.translate(req)?;
            let resp = self.post("/v1/messages", &body, ctx).await?;
            let msg: MessagesResponse = self.json(resp).await?;
            Ok(response::to_chat(msg))
        })
    }

    fn chat_stream<'a>(
        &'a self,
        req: ChatRequest,
        ctx: &'a CallCtx,
    ) -> BoxFuture<'a, Result<ChunkStream, ProviderError>> {
        Box::pin(async move {
            let mut body = self.translate(req)?;
            body.stream = Some(true);
            let resp = self.post("/v1/messages", &body, ctx).await?;
            Ok(stream::chunks(self.name.clone(), resp))
        })
    }

    fn embed<'a>(
        &'a self,
        _req: EmbeddingsRequest,
        _ctx: &'a CallCtx,
    ) -> BoxFuture<'a, Result<EmbeddingsResponse, ProviderError>> {
        Box::pin(async move {
            Err(ProviderError::new(
                ErrorKind::Unsupported,
                &self.name,
                "Anthropic has no embeddings API; route embeddings to a provider that has one (openai, gemini, mock/embed)",
            ))
        })
    }

    fn count_tokens<'a>(
        &'a self,
        req: ChatRequest,
        ctx: &'a CallCtx,
    ) -> BoxFuture<'a, Result<CountTokensResponse, ProviderError>> {
        Box::pin(async move {
            let mut body = self.translate(req)?;
            // count_tokens takes the prompt only; generation parameters are rejected.
            body.max_tokens = None;
            body.stop_sequences = None;
            body.temperature = None;
            body.top_p = None;
            body.top_k = None;
            body.metadata = None;
            body.extra.remove("service_tier");
            let resp = self.post("/v1/messages/count_tokens", &body, ctx).await?;
            self.json(resp).await
        })
    }
}
