//! Tower layers shared by every route: the job id header and the request span.

use super::JOB_ID_HEADER;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use tracing::Instrument;

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
    let span = tracing::info_span!("request", job_id = %id.0, method = %req.method(), path = %req.uri().path());
    let mut resp = next.run(req).instrument(span).await;
    if !resp.headers().contains_key(JOB_ID_HEADER) {
        if let Ok(v) = HeaderValue::from_str(&id.0) {
            resp.headers_mut().insert(JOB_ID_HEADER, v);
        }
    }
    resp
}

/// Wraps `router` in the shared layers.
pub fn apply<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router.layer(middleware::from_fn(job_id))
}
