//! The shared core of every OpenAI-wire adapter: requests, responses, streams and errors.
//! Only an [`Endpoint`] differs between them: the URL of an operation and the auth header.
//!
//! Requests pass through as the client sent them (with the provider's model name); streams
//! always ask for usage so that tokens are recorded even when the client did not ask.

use super::{error, stream};
use crate::error::{ErrorKind, ProviderError};
use crate::provider::{CallCtx, ChunkStream, Provider};
use crate::providers::http::client;
use crate::providers::option;
use broker::config::ProviderConfig;
use futures::future::BoxFuture;
use schemas::openai::*;
use serde::Deserialize;
use std::time::Duration;

/// The operations of an OpenAI-wire API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `POST .../chat/completions`.
    Chat,
    /// `POST .../embeddings`.
    Embeddings,
    /// `GET .../models`.
    Models,
}

/// Where an OpenAI-wire API lives and how it authenticates.
pub trait Endpoint: Send + Sync + 'static {
    /// The URL of `op` for the provider's `model`; `None` when the API does not offer it.
    fn url(&self, op: Op, model: &str) -> Option<String>;
    /// Adds the credentials to a request.
    fn auth(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder;
    /// What the API does with each parameter.
    fn capabilities(&self) -> &'static crate::capability::Capabilities;
    /// The model name clients use for an id the model list gives (the same by default).
    fn listed_model(&self, id: &str) -> String {
        id.to_string()
    }
}

/// An adapter speaking the OpenAI wire format to `E`.
pub struct Compat<E> {
    name: String,
    endpoint: E,
    headers: Vec<(String, String)>,
    http: reqwest::Client,
}

/// Checks that a base URL is absolute and trims its trailing `/`.
pub fn base_url(raw: &str) -> Result<String, String> {
    crate::providers::http::check_base_url(raw)
}

impl<E: Endpoint> Compat<E> {
    /// The adapter over `endpoint`. Options shared by every OpenAI-wire kind: `headers` (a
    /// table of extra headers), `connect_timeout_ms`.
    pub fn new(name: &str, cfg: &ProviderConfig, endpoint: E) -> Result<Self, String> {
        let headers: Option<std::collections::BTreeMap<String, String>> = option(cfg, "headers")?;
        let connect: u64 = option(cfg, "connect_timeout_ms")?.unwrap_or(cfg.timeouts.connect_ms);
        Ok(Self {
            name: name.to_string(),
            endpoint,
            headers: headers.unwrap_or_default().into_iter().collect(),
            http: client(Duration::from_millis(connect))?,
        })
    }

    fn url(&self, op: Op, model: &str) -> Result<String, ProviderError> {
        self.endpoint.url(op, model).ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Unsupported,
                &self.name,
                format!(
                    "this provider does not offer {op:?}; route the request to another provider"
                ),
            )
        })
    }

    fn request(
        &self,
        method: reqwest::Method,
        url: String,
        ctx: Option<&CallCtx>,
    ) -> reqwest::RequestBuilder {
        let mut rb = self.endpoint.auth(self.http.request(method, url));
        for (k, v) in &self.headers {
            rb = rb.header(k, v);
        }
        if let Some(tp) = ctx.and_then(|c| c.traceparent.as_ref()) {
            rb = rb.header("traceparent", tp);
        }
        if let Some(d) = ctx.and_then(|c| c.deadline) {
            rb = rb.timeout(
                d.saturating_duration_since(std::time::Instant::now())
                    .max(Duration::from_millis(1)),
            );
        }
        rb
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> Result<reqwest::Response, ProviderError> {
        crate::providers::http::send(&self.name, rb, error::from_body).await
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        rb: reqwest::RequestBuilder,
    ) -> Result<T, ProviderError> {
        let resp = self.send(rb).await?;
        crate::providers::http::json(&self.name, resp).await
    }
}

/// `GET /models`: `{"data": [{"id": ...}, ...]}` (other fields vary by server).
#[derive(Deserialize)]
struct ModelsPage {
    data: Vec<ModelEntry>,
}

#[derive(Deserialize)]
struct ModelEntry {
    id: String,
    #[serde(default)]
    created: Option<u64>,
}

/// Removes what only the gateway defines: the `thinking_blocks` of earlier answers (signed
/// thinking of another provider, which an OpenAI-compatible API cannot take back).
/// `reasoning_content` stays: some compatible APIs (DeepSeek, Moonshot) want it back.
fn outgoing(req: &mut ChatRequest) {
    for m in &mut req.messages {
        m.extra.remove(schemas::openai::THINKING_BLOCKS);
    }
}

impl<E: Endpoint> Provider for Compat<E> {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> &'static crate::capability::Capabilities {
        self.endpoint.capabilities()
    }

    fn chat<'a>(
        &'a self,
        mut req: ChatRequest,
        ctx: &'a CallCtx,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            outgoing(&mut req);
            req.stream = None;
            req.stream_options = None;
            let url = self.url(Op::Chat, &req.model)?;
            self.json(
                self.request(reqwest::Method::POST, url, Some(ctx))
                    .json(&req),
            )
            .await
        })
    }

    fn chat_stream<'a>(
        &'a self,
        mut req: ChatRequest,
        ctx: &'a CallCtx,
    ) -> BoxFuture<'a, Result<ChunkStream, ProviderError>> {
        Box::pin(async move {
            outgoing(&mut req);
            req.stream = Some(true);
            let mut opts = req.stream_options.take().unwrap_or_default();
            opts.include_usage = Some(true);
            req.stream_options = Some(opts);
            let url = self.url(Op::Chat, &req.model)?;
            let resp = self
                .send(
                    self.request(reqwest::Method::POST, url, Some(ctx))
                        .header("accept", "text/event-stream")
                        .json(&req),
                )
                .await?;
            Ok(stream::chunks(&self.name, resp))
        })
    }

    fn embed<'a>(
        &'a self,
        req: EmbeddingsRequest,
        ctx: &'a CallCtx,
    ) -> BoxFuture<'a, Result<EmbeddingsResponse, ProviderError>> {
        Box::pin(async move {
            let url = self.url(Op::Embeddings, &req.model)?;
            self.json(
                self.request(reqwest::Method::POST, url, Some(ctx))
                    .json(&req),
            )
            .await
        })
    }

    fn list_models(&self) -> BoxFuture<'_, Result<Vec<Model>, ProviderError>> {
        Box::pin(async move {
            let url = self.url(Op::Models, "")?;
            let page: ModelsPage = self
                .json(
                    self.request(reqwest::Method::GET, url, None)
                        .timeout(Duration::from_secs(30)),
                )
                .await?;
            Ok(page
                .data
                .into_iter()
                .map(|m| Model {
                    id: self.endpoint.listed_model(&m.id),
                    object: "model".into(),
                    created: m.created.unwrap_or(0),
                    owned_by: self.name.clone(),
                })
                .collect())
        })
    }
}
