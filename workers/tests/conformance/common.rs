//! Helpers shared by fixtures and the suite.

#![allow(dead_code)]

use futures::StreamExt;
use schemas::openai::*;
use serde_json::json;
use std::sync::Arc;
use switchyard_workers::worker::Assembler;
use switchyard_workers::{CallCtx, Provider, ProviderError};

pub use upstreams::Recorder;

/// What a fixture hands the suite.
pub struct Fixture {
    pub provider: Arc<dyn Provider>,
    pub seen: Recorder,
    /// Whether the adapter supports embeddings.
    pub embeddings: bool,
    /// Whether the provider reports cached prompt tokens (model `text-cached` must report 3).
    pub cached_tokens: bool,
}

pub fn ctx() -> CallCtx {
    CallCtx {
        job_id: "test-job".into(),
        deadline: None,
        traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
    }
}

/// A request for `model` with a system prompt and one user message.
pub fn request(model: &str, text: &str) -> ChatRequest {
    serde_json::from_value(json!({
        "model": model,
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}],
        "max_tokens": 64
    }))
    .unwrap()
}

/// The same with a `get_weather` tool.
pub fn tool_request(model: &str) -> ChatRequest {
    serde_json::from_value(json!({
        "model": model,
        "messages": [{"role": "user", "content": "weather in Paris?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
        "tool_choice": "auto"
    }))
    .unwrap()
}

/// Runs a stream to its end: the assembled answer, or the first error.
pub async fn collect(
    p: &dyn Provider,
    req: ChatRequest,
) -> Result<(Assembler, usize), ProviderError> {
    let c = ctx();
    let mut s = p.chat_stream(req, &c).await?;
    let mut a = Assembler::default();
    let mut n = 0;
    while let Some(item) = s.next().await {
        a.push(&item?);
        n += 1;
    }
    Ok((a, n))
}
