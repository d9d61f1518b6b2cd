//! One handler for every front door. An [`Endpoint`] is an API's request and answer types,
//! how its request becomes a job (`prepare`), how a finished job is answered (`answer`),
//! how a stream is framed, and which error shape it speaks; [`handle`] does the rest the
//! same way for all of them: read the body, submit the job, wait as its mode asks, answer.
//!
//! The OpenAPI document ([`crate::openapi`]) is generated from the same types.

use crate::auth::{self, Caller};
use crate::body;
use crate::error::GatewayError;
use crate::job::{self, Outcome, Submission};
use crate::layers::JobId;
use crate::sse::{self, Framer, Relay};
use crate::state::{AppState, COST_HEADER, JOB_ID_HEADER};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use schemars::JsonSchema;
use schemas::{Mode, Operation};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use std::time::Duration;

/// Which API's error shape an answer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `{"error":{"message","type","param","code"}}`.
    OpenAi,
    /// `{"type":"error","error":{"type","message"}}`.
    Anthropic,
}

impl Shape {
    /// The shape of the API a path belongs to: Anthropic's under `/v1/messages`.
    pub fn of_path(path: &str) -> Self {
        if path == "/v1/messages" || path.starts_with("/v1/messages/") {
            Self::Anthropic
        } else {
            Self::OpenAi
        }
    }

    /// The error answer in this shape, with the status (and `X-Switchyard-Job-Id` and
    /// `Retry-After` where the error carries them).
    pub fn error(self, e: GatewayError) -> Response {
        match self {
            Self::OpenAi => e.into_response(),
            Self::Anthropic => crate::messages::error_response(e),
        }
    }
}

/// A request as the job machinery needs it.
pub struct Prepared<C> {
    /// The model the client asked for.
    pub model: String,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// The body the job carries (OpenAI-shaped).
    pub body: Bytes,
    /// What the endpoint keeps to shape the answer.
    pub ctx: C,
}

/// One front door.
pub trait Endpoint: Send + Sync + 'static {
    /// The API's request body.
    type Request: DeserializeOwned + JsonSchema;
    /// The API's answer body.
    type Response: JsonSchema;
    /// What [`Endpoint::prepare`] keeps for [`Endpoint::answer`] and the framer.
    type Ctx: Send + Sync + 'static;
    /// How a stream is framed for this API.
    type Frames: Framer;
    /// The route.
    const PATH: &'static str;
    /// The job operation.
    const OP: Operation;
    /// The error shape.
    const SHAPE: Shape = Shape::OpenAi;
    /// A mode the route imposes (`/v1/jobs` is always queued); `None` lets the request
    /// choose (`stream`, `X-Switchyard-Mode`).
    const MODE: Option<Mode> = None;
    /// Whether the API can stream (documents `text/event-stream` answers).
    const STREAMS: bool = false;
    /// A short description for the OpenAPI document.
    const SUMMARY: &'static str;

    /// Parses the body (the default names the field at fault).
    fn parse(bytes: &[u8]) -> Result<Self::Request, GatewayError> {
        body::parse(bytes)
    }

    /// Checks the request and turns it into a job's parts.
    fn prepare(req: Self::Request, raw: &Bytes) -> Result<Prepared<Self::Ctx>, GatewayError>;

    /// The framer of a stream.
    fn frames(ctx: &Self::Ctx) -> Self::Frames;

    /// The answer of a finished job (`mode` is `Stream` for an idempotent resubmit of a
    /// finished stream, which is answered as a whole stream).
    fn answer(ctx: &Self::Ctx, body: Box<RawValue>, mode: Mode) -> Result<Response, GatewayError>;
}

/// The handler of every front door.
pub async fn handle<E: Endpoint>(
    State(st): State<AppState>,
    Extension(JobId(id)): Extension<JobId>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_job = id.clone();
    // Boxed: the whole request's state is large, and lives on the heap.
    let out = Box::pin(run::<E>(&st, id, &caller, &headers, body)).await;
    if let Err(GatewayError::Limited { code, .. }) = &out {
        broker::telemetry::metrics::limited(caller.key_id().unwrap_or(""), code);
    }
    respond(E::SHAPE, &request_job, out)
}

async fn run<E: Endpoint>(
    st: &AppState,
    id: String,
    caller: &Caller,
    headers: &HeaderMap,
    body: Body,
) -> Result<(String, Response), GatewayError> {
    let timeout = Duration::from_millis(st.cfg().server.body_read_timeout_ms);
    let raw = body::read(headers, body, st.body_limit(), timeout).await?;
    let req = E::parse(&raw)?;
    let prep = E::prepare(req, &raw)?;
    let mut sub = Submission::for_model(
        st,
        id,
        E::OP,
        E::PATH,
        prep.model,
        prep.stream,
        E::MODE,
        &prep.body,
        raw,
        headers,
    )?;
    // The cache's decision first: a bad cache header is refused before anything is counted
    // or reserved against the key.
    let cache = crate::cache::decide(st, caller, &sub.job, headers)?;
    auth::limits::admit(st, caller, &mut sub.job).await?;
    let mode = sub.job.mode;
    if let Some(d) = cache.as_ref().filter(|d| d.lookup) {
        if let Some(entry) = crate::cache::lookup(st, d, &sub.job.model).await {
            crate::cache::record_hit(st, &sub.job, &entry).await;
            let mut resp = E::answer(&prep.ctx, entry.response, mode)?;
            resp.headers_mut()
                .insert(crate::cache::CACHE_HEADER, HeaderValue::from_static("hit"));
            return Ok((sub.job.id.clone(), resp));
        }
    }
    sub.job.cache = cache
        .as_ref()
        .filter(|d| d.store)
        .map(|d| schemas::CachePlan {
            key: d.key.clone(),
            ttl_s: d.ttl_s,
            semantic_threshold: d.semantic,
            semantic_lookup: d.lookup,
        });
    let (id, outcome) = job::submit(st, &sub).await?;
    if cache.as_ref().is_some_and(|d| d.lookup) && id == sub.job.id {
        crate::cache::record_miss(st, &sub.job).await;
    }
    let mut resp = match outcome {
        Outcome::Accepted => crate::jobs::accepted(&id, &sub.job.model),
        Outcome::Finished(r) => finished::<E>(st, &prep.ctx, *r, mode).await?,
        Outcome::Streaming(w, guards) => {
            let frames = E::frames(&prep.ctx);
            match sse::relay(st.clone(), id.clone(), w, sub.timeout_ms, guards, frames).await? {
                Relay::Streaming(resp) => resp,
                Relay::Finished(r) => finished::<E>(st, &prep.ctx, *r, mode).await?,
            }
        }
    };
    // A semantic hit named itself already.
    if let Some(d) = cache.filter(|_| !resp.headers().contains_key(crate::cache::CACHE_HEADER)) {
        resp.headers_mut().insert(
            crate::cache::CACHE_HEADER,
            HeaderValue::from_static(d.label()),
        );
    }
    Ok((id, resp))
}

/// The answer of a finished job, with its cost in `X-Switchyard-Cost` when known.
async fn finished<E: Endpoint>(
    st: &AppState,
    ctx: &E::Ctx,
    r: schemas::JobResult,
    mode: Mode,
) -> Result<Response, GatewayError> {
    let (cost, semantic) = (r.cost_usd, r.similarity.filter(|_| r.cache.is_some()));
    let mut resp = E::answer(ctx, job::delivered(st, r).await?, mode)?;
    if let Some(v) = cost.and_then(|c| HeaderValue::from_str(&format!("{c:.8}")).ok()) {
        resp.headers_mut().insert(COST_HEADER, v);
    }
    if let Some(sim) = semantic {
        let h = resp.headers_mut();
        h.insert(
            crate::cache::CACHE_HEADER,
            HeaderValue::from_static("semantic-hit"),
        );
        if let Ok(v) = HeaderValue::from_str(&format!("{sim:.4}")) {
            h.insert(crate::cache::SIMILARITY_HEADER, v);
        }
    }
    Ok(resp)
}

/// Sets the job id header on a handler's outcome (the id may differ from the request's own
/// when an idempotency key matched an earlier job), and answers errors in `shape`.
pub fn respond(
    shape: Shape,
    request_job: &str,
    out: Result<(String, Response), GatewayError>,
) -> Response {
    let (id, mut resp) = match out {
        Ok(ok) => ok,
        Err(e) => (
            e.job_id().unwrap_or(request_job).to_string(),
            shape.error(e),
        ),
    };
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(JOB_ID_HEADER, v);
    }
    resp
}
