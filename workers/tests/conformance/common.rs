//! Helpers shared by fixtures and the suite.

#![allow(dead_code)]

use futures::StreamExt;
use schemas::openai::*;
use serde_json::json;
use std::sync::Arc;
use switchyard_workers::capability::{self, Param, Support};
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
    /// Whether the upstream speaks OpenAI's error shape (its `code` and `param` are kept).
    pub openai_errors: bool,
    /// Whether the provider says which stop sequence ended an answer.
    pub reports_stop_sequence: bool,
    /// Whether the provider signs its thinking and refuses a tool-use turn without it.
    pub signs_thinking: bool,
}

impl Fixture {
    /// What the adapter's table says it does with `p`.
    pub fn support(&self, p: Param) -> Support {
        self.provider.capabilities().support(p)
    }

    /// A chat completion the way the worker calls: admitted against the table, with the
    /// emulated parameters done around the call.
    pub async fn chat(&self, req: ChatRequest) -> Result<ChatResponse, ProviderError> {
        capability::chat(self.provider.as_ref(), req, &ctx()).await
    }

    /// The same, streamed and assembled; an unfinished stream is an error.
    pub async fn stream(&self, req: ChatRequest) -> Result<ChatResponse, ProviderError> {
        let c = ctx();
        let mut s = capability::chat_stream(self.provider.as_ref(), req, &c).await?;
        let mut a = Assembler::default();
        while let Some(item) = s.next().await {
            a.push(&item?);
        }
        assert!(a.finished, "the stream finished");
        Ok(a.finish())
    }

    /// `chat` or `stream`.
    pub async fn call(
        &self,
        req: ChatRequest,
        streamed: bool,
    ) -> Result<ChatResponse, ProviderError> {
        if streamed {
            self.stream(req).await
        } else {
            self.chat(req).await
        }
    }

    /// How many requests the upstream got.
    pub fn upstream_calls(&self) -> usize {
        self.seen.all().len()
    }
}

/// A request from JSON.
pub fn req(v: serde_json::Value) -> ChatRequest {
    serde_json::from_value(v).unwrap()
}

/// A message through JSON, as a client sends back what it got.
pub fn as_client_sends(m: &Message) -> Message {
    serde_json::from_value(serde_json::to_value(m).unwrap()).unwrap()
}

/// Two tools, both taking a city.
pub fn two_tools() -> serde_json::Value {
    let params =
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
    json!([
        {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city", "parameters": params}},
        {"type": "function", "function": {"name": "get_time", "description": "Time in a city", "parameters": params}}
    ])
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
