//! Helpers shared by fixtures and the suite.

#![allow(dead_code)]

use axum::http::HeaderMap;
use futures::StreamExt;
use schemas::openai::*;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use switchyard_workers::worker::Assembler;
use switchyard_workers::{CallCtx, Provider, ProviderError};

/// One request as a mock upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// Requests recorded by a mock upstream.
pub type Recorder = Arc<Mutex<Vec<Seen>>>;

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

/// Records a request.
pub fn record(
    rec: &Recorder,
    method: &str,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) {
    rec.lock().unwrap().push(Seen {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        headers: headers.clone(),
        body: body.to_vec(),
    });
}

/// Serves `app` on a free loopback port; returns `http://127.0.0.1:PORT`.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// The model named in a request: from the JSON body's `model`, else from the URL path
/// (providers that put the model in the path pass it here).
pub fn model_of(body: &Value) -> String {
    body["model"].as_str().unwrap_or("").to_string()
}
