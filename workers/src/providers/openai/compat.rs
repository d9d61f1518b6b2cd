//! The `openai` kind: any OpenAI-compatible API (`base_url`, `api_key`, `models`).
//!
//! Requests pass through as the client sent them (with the provider's model name); streams
//! always ask for usage so that tokens are recorded even when the client did not ask.

use super::http::{client, excerpt, status_error, transport_error};
use super::{option, sse};
use crate::error::{ErrorKind, ProviderError};
use crate::provider::{CallCtx, ChunkStream, Provider};
use broker::config::ProviderConfig;
use futures::future::BoxFuture;
use futures::StreamExt;
use schemas::openai::*;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// An OpenAI-compatible upstream.
pub struct OpenAi {
    name: String,
    base_url: String,
    api_key: Option<String>,
    headers: Vec<(String, String)>,
    http: reqwest::Client,
}

/// Builds the adapter. Options: `headers` (a table of extra headers), `connect_timeout_ms`.
pub fn build(name: &str, cfg: &ProviderConfig) -> Result<Arc<dyn Provider>, String> {
    let base_url = cfg
        .base_url
        .clone()
        .unwrap_or_else(|| "https://api.openai.com/v1".into())
        .trim_end_matches('/')
        .to_string();
    if !base_url.starts_with("http://") && !base_url.starts_with("https://") {
        return Err(format!(
            "base_url: `{base_url}` must start with http:// or https://"
        ));
    }
    let headers: Option<std::collections::BTreeMap<String, String>> = option(cfg, "headers")?;
    let connect: u64 = option(cfg, "connect_timeout_ms")?.unwrap_or(10_000);
    Ok(Arc::new(OpenAi {
        name: name.to_string(),
        base_url,
        api_key: cfg
            .api_key
            .as_ref()
            .map(|k| k.expose().to_string())
            .filter(|k| !k.is_empty()),
        headers: headers.unwrap_or_default().into_iter().collect(),
        http: client(Duration::from_millis(connect))?,
    }))
}

#[derive(Deserialize)]
struct ErrEnvelope {
    error: ErrInner,
}

#[derive(Deserialize)]
struct ErrInner {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

impl OpenAi {
    fn request(&self, path: &str, ctx: &CallCtx) -> reqwest::RequestBuilder {
        let mut rb = self.http.post(format!("{}{path}", self.base_url));
        if let Some(k) = &self.api_key {
            rb = rb.bearer_auth(k);
        }
        for (k, v) in &self.headers {
            rb = rb.header(k, v);
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
        let resp = rb
            .send()
            .await
            .map_err(|e| transport_error(&self.name, &e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.unwrap_or_default();
        Err(self.error_from_body(status, &headers, &body))
    }

    fn error_from_body(
        &self,
        status: u16,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
    ) -> ProviderError {
        let parsed = serde_json::from_slice::<ErrEnvelope>(body).ok();
        let (message, hint) = match parsed {
            Some(e) => {
                let code = e.error.code.as_ref().map(|c| {
                    c.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| c.to_string())
                });
                let hint = match code.as_deref().or(e.error.kind.as_deref()) {
                    Some("context_length_exceeded") => Some(ErrorKind::ContextLength),
                    Some("content_filter") | Some("content_policy_violation") => {
                        Some(ErrorKind::ContentFilter)
                    }
                    Some("overloaded") | Some("overloaded_error") | Some("server_overloaded") => {
                        Some(ErrorKind::Overloaded)
                    }
                    _ => None,
                };
                (e.error.message, hint)
            }
            None => (excerpt(body), None),
        };
        status_error(&self.name, status, headers, message, hint)
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, body: &[u8]) -> Result<T, ProviderError> {
        serde_json::from_slice(body).map_err(|e| {
            ProviderError::new(
                ErrorKind::Decode,
                &self.name,
                format!(
                    "cannot decode the upstream answer: {e}; body: {}",
                    excerpt(body)
                ),
            )
        })
    }
}

impl Provider for OpenAi {
    fn name(&self) -> &str {
        &self.name
    }

    fn chat<'a>(
        &'a self,
        mut req: ChatRequest,
        ctx: &'a CallCtx,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            req.stream = None;
            req.stream_options = None;
            let resp = self
                .send(self.request("/chat/completions", ctx).json(&req))
                .await?;
            let body = resp
                .bytes()
                .await
                .map_err(|e| transport_error(&self.name, &e))?;
            self.decode(&body)
        })
    }

    fn chat_stream<'a>(
        &'a self,
        mut req: ChatRequest,
        ctx: &'a CallCtx,
    ) -> BoxFuture<'a, Result<ChunkStream, ProviderError>> {
        Box::pin(async move {
            req.stream = Some(true);
            let mut opts = req.stream_options.take().unwrap_or_default();
            opts.include_usage = Some(true);
            req.stream_options = Some(opts);
            let resp = self
                .send(
                    self.request("/chat/completions", ctx)
                        .header("accept", "text/event-stream")
                        .json(&req),
                )
                .await?;
            let name = self.name.clone();
            let events = sse::decode(resp.bytes_stream().boxed());
            let stream = events
                .map(move |ev| -> Option<Result<ChatChunk, ProviderError>> {
                    let ev = match ev {
                        Ok(ev) => ev,
                        Err(e) => return Some(Err(transport_error(&name, &e))),
                    };
                    if ev.data.trim() == "[DONE]" {
                        return None;
                    }
                    if let Ok(e) = serde_json::from_str::<ErrEnvelope>(&ev.data) {
                        return Some(Err(ProviderError::new(
                            ErrorKind::Server,
                            &name,
                            format!("upstream stream error: {}", e.error.message),
                        )));
                    }
                    Some(serde_json::from_str::<ChatChunk>(&ev.data).map_err(|e| {
                        ProviderError::new(
                            ErrorKind::Decode,
                            &name,
                            format!(
                                "cannot decode a stream chunk: {e}; data: {}",
                                excerpt(ev.data.as_bytes())
                            ),
                        )
                    }))
                })
                .take_while(|c| futures::future::ready(c.is_some()))
                .filter_map(futures::future::ready);
            Ok(stream.boxed())
        })
    }

    fn embed<'a>(
        &'a self,
        req: EmbeddingsRequest,
        ctx: &'a CallCtx,
    ) -> BoxFuture<'a, Result<EmbeddingsResponse, ProviderError>> {
        Box::pin(async move {
            let resp = self
                .send(self.request("/embeddings", ctx).json(&req))
                .await?;
            let body = resp
                .bytes()
                .await
                .map_err(|e| transport_error(&self.name, &e))?;
            self.decode(&body)
        })
    }
}
