//! Mock upstreams for tests and benchmarks: one per provider, each speaking that provider's
//! documented wire format (JSON answers, streams, error bodies, auth), recording every
//! request it gets. The conformance suite, the end-to-end tests and the load test all use
//! these, so a translation bug shows up the same way everywhere.
//!
//! Every mock picks its behaviour from the model name:
//!
//! | model | the mock answers |
//! |---|---|
//! | `text` (or any name not below) | a text answer `upstream says: <last user text>` with usage |
//! | `tool` | a call of `get_weather` with `{"city":"Paris"}` (streamed: arguments split over chunks) |
//! | `tool-parallel` | two calls (Paris, London); one when parallel calls are off |
//! | `error-<status>` | that status with the provider's error body (429 with `retry-after: 1`) |
//! | `cut` | a stream that stops mid-way, without its end event |
//! | `text-cached` | like `text`, with 3 cached prompt tokens in the provider's usage shape |
//! | `overloaded` | the provider's "overloaded" answer (Anthropic 529, others 503 or their own) |
//! | `context-length` | the provider's native "prompt too long" error |
//! | `content-filter` | the provider's native content-filter answer (an error or a filtered finish) |
//! | `slow-<N>ms` | like `text`, after N milliseconds |
//! | `embed` (embeddings) | one embedding per input |
//!
//! Provider modules document the names they add. The answer itself (tool calls and the tool
//! choice, structured output, stop sequences, thinking, images) follows [`reply`], the same
//! for every mock; each mock checks requests the way its real API does and refuses what it
//! refuses (unknown fields, unpaired tool calls and results, missing signatures), so a
//! translation bug fails a test instead of passing silently.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod anthropic;
pub mod azure;
pub mod bedrock;
pub mod gemini;
pub mod openai;
pub mod reply;

use axum::http::{HeaderMap, Uri};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as a mock upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `POST`, `GET`, ...
    pub method: String,
    /// The path.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The headers.
    pub headers: HeaderMap,
    /// The raw body.
    pub body: Vec<u8>,
}

impl Seen {
    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// The requests a mock upstream got; [`Recorder::off`] keeps none (the load test).
#[derive(Clone, Debug)]
pub struct Recorder(Option<Arc<Mutex<Vec<Seen>>>>);

impl Default for Recorder {
    fn default() -> Self {
        Self(Some(Arc::default()))
    }
}

impl Recorder {
    /// A recorder that keeps nothing.
    pub fn off() -> Self {
        Self(None)
    }

    /// Every request so far, oldest first.
    pub fn all(&self) -> Vec<Seen> {
        self.0
            .as_ref()
            .map(|s| s.lock().unwrap().clone())
            .unwrap_or_default()
    }

    /// Records a request.
    pub fn record(&self, method: &str, uri: &Uri, headers: &HeaderMap, body: &[u8]) {
        if let Some(s) = &self.0 {
            s.lock().unwrap().push(Seen {
                method: method.to_string(),
                path: uri.path().to_string(),
                query: uri.query().map(str::to_string),
                headers: headers.clone(),
                body: body.to_vec(),
            });
        }
    }
}

/// A running mock upstream.
#[derive(Clone, Debug)]
pub struct Upstream {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// What it received.
    pub seen: Recorder,
}

impl Upstream {
    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.all()
    }

    /// How many requests it got.
    pub fn count(&self) -> usize {
        self.seen.all().len()
    }
}

/// Records a request (for handlers that take the recorder as state).
pub fn record(rec: &Recorder, method: &str, uri: &Uri, headers: &HeaderMap, body: &[u8]) {
    rec.record(method, uri, headers, body);
}

/// Serves `app` on a free loopback port; returns `http://127.0.0.1:PORT`.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Starts a mock whose handler takes the recorder as its state; every answer carries the
/// provider's request-id header (`id_header`, value `<prefix>-<n>`) as the real API's do.
pub(crate) async fn start_with<H, T>(handler: H, id_header: &'static str) -> Upstream
where
    H: axum::handler::Handler<T, Recorder>,
    T: 'static,
{
    let seen = Recorder::default();
    let app = with_request_ids(
        axum::Router::new()
            .fallback(handler)
            .with_state(seen.clone()),
        id_header,
    );
    Upstream {
        base: serve(app).await,
        seen,
    }
}

/// The status of an `error-<status>` model.
pub fn error_status(model: &str) -> Option<u16> {
    model.strip_prefix("error-").and_then(|s| s.parse().ok())
}

/// The delay of a `slow-<N>ms` model.
pub fn slow(model: &str) -> Option<Duration> {
    model
        .strip_prefix("slow-")
        .and_then(|s| s.strip_suffix("ms"))
        .and_then(|s| s.parse().ok())
        .map(Duration::from_millis)
}

/// The text of a message `content`: a string, or the text parts of a list (`text` fields).
pub fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|p| p.get("type").is_none_or(|t| t == "text"))
            .filter_map(|p| p["text"].as_str())
            .collect(),
        _ => String::new(),
    }
}

/// Adds `id_header: req-<n>` to every answer of `app` (n counts requests).
pub fn with_request_ids(app: axum::Router, id_header: &'static str) -> axum::Router {
    let n = Arc::new(std::sync::atomic::AtomicU64::new(0));
    app.layer(axum::middleware::map_response(
        move |mut r: axum::response::Response| {
            let n = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            async move {
                if let Ok(v) = format!("req-{n}").parse() {
                    r.headers_mut().entry(id_header).or_insert(v);
                }
                r
            }
        },
    ))
}
