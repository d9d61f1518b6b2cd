//! Tower layers shared by every route: the job id header, the request span (the root of
//! the job's trace, or a child of the client's `traceparent`) and the request metrics.

use crate::endpoint::Shape;
use crate::error::GatewayError;
use crate::state::JOB_ID_HEADER;
use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use broker::telemetry::{metrics, propagation};
use std::cell::RefCell;
use std::time::Instant;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The job id assigned to a request before any handler runs (UUIDv7).
#[derive(Debug, Clone)]
pub struct JobId(pub String);

impl JobId {
    /// A fresh UUIDv7 id.
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

/// Gives every request a job id (in its extensions and in `X-Switchyard-Job-Id` of the
/// response, unless the handler named another) and a tracing span carrying it.
async fn job_id(mut req: Request, next: Next) -> Response {
    let id = JobId::new();
    req.extensions_mut().insert(id.clone());
    let route = route_of(&req);
    let span = tracing::info_span!(
        "request",
        job_id = %id.0,
        method = %req.method(),
        path = %req.uri().path(),
        otel.name = format!("{} {route}", req.method()),
        otel.kind = "server",
        http.request.method = %req.method(),
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
    );
    let client_tp = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok());
    propagation::set_parent(&span, client_tp);
    span.set_attribute("switchyard.job_id", id.0.clone());
    let t0 = Instant::now();
    let mut resp = next.run(req).instrument(span.clone()).await;
    let status = resp.status().as_u16();
    span.record("http.response.status_code", status);
    let took_ms = t0.elapsed().as_millis() as u64;
    span.in_scope(|| {
        if QUIET_ROUTES.contains(&route.as_str()) {
            tracing::debug!(status, took_ms, "request answered");
        } else {
            tracing::debug!(status, took_ms, "request answered");
        }
    });
    if !resp.headers().contains_key(JOB_ID_HEADER) {
        if let Ok(v) = HeaderValue::from_str(&id.0) {
            resp.headers_mut().insert(JOB_ID_HEADER, v);
        }
    }
    resp
}

/// Routes polled by probes and scrapers: their access lines are debug, not info.
const QUIET_ROUTES: &[&str] = &["/health", "/ready", "/metrics"];

/// The matched route template (`/v1/jobs/{id}`), or `unmatched`: never the raw path, so
/// metric labels stay bounded.
fn route_of(req: &Request) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string())
}

/// The model and provider a request resolved to, for its metric labels.
#[derive(Debug, Clone, Default)]
struct Labels {
    model: String,
    provider: String,
}

tokio::task_local! {
    static LABELS: RefCell<Labels>;
}

/// Names the model and provider of the current request in its metrics (a no-op outside a
/// request). Called when the job is submitted.
pub fn label_request(model: &str, provider: &str) {
    let _ = LABELS.try_with(|l| {
        *l.borrow_mut() = Labels {
            model: model.to_string(),
            provider: provider.to_string(),
        }
    });
}

/// Counts every request and its latency (to response headers) by route and status class.
async fn metered(req: Request, next: Next) -> Response {
    let route = route_of(&req);
    let t0 = Instant::now();
    let (resp, labels) = LABELS
        .scope(RefCell::new(Labels::default()), async move {
            let resp = next.run(req).await;
            (resp, LABELS.with(|l| l.borrow().clone()))
        })
        .await;
    metrics::http_request(
        &route,
        resp.status().as_u16(),
        &labels.model,
        &labels.provider,
        t0.elapsed(),
    );
    resp
}

/// Largest error body of an inner layer read to be rewritten (axum's rejections are a line).
const ERROR_TEXT_LIMIT: usize = 16 * 1024;

/// Gives every error answer the API's JSON error shape: the router's 405, the
/// decompression layer's 415, axum's plain-text rejections (a non-UTF-8 path parameter,
/// ...) keep their status and headers (`Allow`, `Accept-Encoding`, ...) and get a JSON body
/// saying what to do, in the OpenAI shape, or Anthropic's under `/v1/messages`.
async fn error_shape(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    if resp.status().as_u16() < 400 || is_json(&resp) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, ERROR_TEXT_LIMIT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = match parts.status {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allow = parts
                .headers
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("another method");
            format!("{method} is not allowed on {path}; use {allow}.")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => format!(
            "The request body's Content-Encoding is not supported. Send it uncompressed, or compressed with gzip, deflate, br or zstd.{}",
            detail(&text)
        ),
        status => format!(
            "The request was refused ({status}).{} Fix the request and send it again.",
            detail(&text)
        ),
    };
    let e = GatewayError::Http {
        status: parts.status,
        message,
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_TYPE);
    let fresh = Shape::of_path(&path).error(e);
    let (fresh_parts, fresh_body) = fresh.into_parts();
    for (k, v) in fresh_parts.headers.iter() {
        parts.headers.insert(k.clone(), v.clone());
    }
    Response::from_parts(parts, fresh_body)
}

fn detail(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(" {}{}", text, if text.ends_with('.') { "" } else { "." })
    }
}

fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"))
}

/// Wraps `router` in the shared per-route layers: request decompression, the job id and
/// span, and the request metrics.
pub fn apply<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(tower_http::decompression::RequestDecompressionLayer::new())
        .layer(middleware::from_fn(job_id))
        .layer(middleware::from_fn(metered))
}

/// Wraps the whole app in the JSON error shapes. Outside the router, not per route: the
/// router adds `Allow` to a 405 after the route's own layers ran.
pub fn shape_errors(app: Router) -> Router {
    Router::new()
        .fallback_service(app)
        .layer(middleware::from_fn(error_shape))
}
