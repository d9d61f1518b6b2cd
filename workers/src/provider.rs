//! The one trait every provider adapter implements.
//!
//! The core calls adapters only through this trait: the request and response types are the
//! OpenAI wire types of [`schemas::openai`], and each adapter translates to and from its
//! provider's API inside its own module. Methods return boxed futures, so the trait is
//! object-safe (`Arc<dyn Provider>`) without `async_trait`.

use crate::capability::Capabilities;
use crate::error::{ErrorKind, ProviderError};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use schemas::anthropic::CountTokensResponse;
use schemas::openai::{
    ChatChunk, ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse, Model,
};
use std::time::Instant;

/// A stream of chat chunks; an `Err` item ends it.
pub type ChunkStream = BoxStream<'static, Result<ChatChunk, ProviderError>>;

/// What an adapter knows of the job it serves.
#[derive(Debug, Clone)]
pub struct CallCtx {
    /// The job id (for logs).
    pub job_id: String,
    /// When the whole job must be done.
    pub deadline: Option<Instant>,
    /// W3C traceparent to forward.
    pub traceparent: Option<String>,
}

/// A provider adapter. `req.model` is already the provider's own model name.
pub trait Provider: Send + Sync {
    /// The configured provider name.
    fn name(&self) -> &str;

    /// What the adapter does with each request parameter (checked before every chat call,
    /// and the source of `docs/CAPABILITIES.md`).
    fn capabilities(&self) -> &'static Capabilities;

    /// A chat completion.
    fn chat<'a>(
        &'a self,
        req: ChatRequest,
        ctx: &'a CallCtx,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>>;

    /// A streamed chat completion. The adapter should always report usage in a last chunk
    /// (choices empty, usage set); the worker strips it for clients that did not ask.
    fn chat_stream<'a>(
        &'a self,
        req: ChatRequest,
        ctx: &'a CallCtx,
    ) -> BoxFuture<'a, Result<ChunkStream, ProviderError>>;

    /// Embeddings.
    fn embed<'a>(
        &'a self,
        req: EmbeddingsRequest,
        ctx: &'a CallCtx,
    ) -> BoxFuture<'a, Result<EmbeddingsResponse, ProviderError>>;

    /// The provider's live model list (`owned_by` = the provider name), for
    /// `GET /v1/models?refresh=true`. Adapters whose API cannot list models keep the default.
    fn list_models(&self) -> BoxFuture<'_, Result<Vec<Model>, ProviderError>> {
        Box::pin(async move {
            Err(ProviderError::new(
                ErrorKind::Unsupported,
                self.name(),
                "this provider does not list its models; list them under `models` in its config entry",
            ))
        })
    }

    /// Counts the input tokens of a chat request without generating (`POST
    /// /v1/messages/count_tokens`). Adapters whose provider cannot count answer
    /// [`ErrorKind::Unsupported`], which is the default.
    fn count_tokens<'a>(
        &'a self,
        _req: ChatRequest,
        _ctx: &'a CallCtx,
    ) -> BoxFuture<'a, Result<CountTokensResponse, ProviderError>> {
        Box::pin(async move {
            Err(ProviderError::new(
                ErrorKind::Unsupported,
                self.name(),
                "this provider cannot count tokens; send count_tokens for a model of a provider that can (anthropic)",
            ))
        })
    }
}
