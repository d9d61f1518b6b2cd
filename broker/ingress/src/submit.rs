//! Turning a validated request into a job on JetStream.

use super::{AppState, MODE_HEADER, TIMEOUT_HEADER};
use crate::error::{unavailable, GatewayError};
use async_nats::jetstream::kv;
use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use schemas::{Event, EventDetail, EventKind, Job, Mode, Operation, Target};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

/// Reads the whole body, failing with 413 past `limit` bytes.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, GatewayError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.to_string().contains("length limit"))
            || e.to_string().contains("length limit");
        if too_large {
            GatewayError::PayloadTooLarge(limit)
        } else {
            GatewayError::bad_request(format!("Cannot read the request body: {e}"), None)
        }
    })
}

/// Parses a JSON body into `T`, with a 400 that names the field at fault.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, GatewayError> {
    if bytes.is_empty() {
        return Err(GatewayError::bad_request(
            "The request body is empty. Send a JSON object such as {\"model\":\"mock/echo\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}.",
            None,
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        let msg = e.to_string();
        let param = msg
            .split_once("field `")
            .and_then(|(_, r)| r.split_once('`'))
            .map(|(f, _)| f.to_string());
        let what = if e.is_syntax() || e.is_eof() {
            "The request body is not valid JSON"
        } else {
            "The request body does not match the API"
        };
        GatewayError::BadRequest {
            message: format!("{what}: {msg}. Fix the body and send it again."),
            param,
        }
    })
}

/// The mode the client asked for: the `X-Switchyard-Mode: queued` header, else streaming
/// when `stream` is set, else sync.
pub fn mode_of(headers: &HeaderMap, stream: bool) -> Result<Mode, GatewayError> {
    match headers
        .get(MODE_HEADER)
        .map(|v| v.to_str().unwrap_or("").to_ascii_lowercase())
    {
        Some(m) if m == "queued" => Ok(Mode::Queued),
        Some(m) if m == "sync" || m.is_empty() => {
            Ok(if stream { Mode::Stream } else { Mode::Sync })
        }
        Some(other) => Err(GatewayError::bad_request(
            format!("X-Switchyard-Mode `{other}` is unknown; use `queued` or leave it out."),
            None,
        )),
        None => Ok(if stream { Mode::Stream } else { Mode::Sync }),
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A job about to be published.
pub struct Submission {
    /// The envelope.
    pub job: Job,
    /// How long a sync or streaming client waits.
    pub timeout_ms: u64,
}

impl Submission {
    /// A job for a validated body.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        st: &AppState,
        id: String,
        op: Operation,
        mode: Mode,
        model: String,
        route: Vec<Target>,
        body: &Bytes,
        headers: &HeaderMap,
    ) -> Result<Self, GatewayError> {
        let body: Box<RawValue> = parse(body)?;
        let max = st.cfg().server.request_timeout_ms;
        let timeout_ms = match header(headers, TIMEOUT_HEADER) {
            Some(v) => v.parse::<u64>().ok().filter(|t| *t > 0).map(|t| t.min(max)).ok_or_else(|| {
                GatewayError::bad_request(
                    format!("{TIMEOUT_HEADER} must be a positive number of milliseconds, got `{v}`."),
                    None,
                )
            })?,
            None => max,
        };
        let now = schemas::now_ms();
        let idempotency_key = header(headers, "idempotency-key");
        if idempotency_key.as_ref().is_some_and(|k| k.len() > 255) {
            return Err(GatewayError::bad_request(
                "Idempotency-Key is longer than 255 characters.",
                None,
            ));
        }
        Ok(Self {
            job: Job {
                v: schemas::WIRE_VERSION,
                id,
                op,
                mode,
                model,
                route,
                body,
                key_id: None,
                created_ms: now,
                deadline_ms: now + timeout_ms,
                traceparent: Some(broker::telemetry::propagation::for_job(
                    header(headers, "traceparent").as_deref(),
                )),
                idempotency_key,
                replay_of: None,
                node: st.events().node().to_string(),
                hop: 0,
                attempts: 0,
            },
            timeout_ms,
        })
    }
}

impl Submission {
    /// A job for a validated body of `op` asking for `model`: resolves the route, and the
    /// mode unless `mode` is given (from `X-Switchyard-Mode` and `stream`).
    #[allow(clippy::too_many_arguments)]
    pub fn for_model(
        st: &AppState,
        id: String,
        op: Operation,
        model: String,
        stream: bool,
        mode: Option<Mode>,
        body: &Bytes,
        headers: &HeaderMap,
    ) -> Result<Self, GatewayError> {
        let route = st.models().resolve_with(&model, st.health())?;
        let mode = match mode {
            Some(m) => m,
            None => mode_of(headers, stream)?,
        };
        Self::new(st, id, op, mode, model, route, body, headers)
    }
}

/// What publishing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// A new job under the submission's id.
    New,
    /// The idempotency key was seen before: the existing job's id.
    Duplicate(String),
}

fn idempotency_kv_key(key_id: Option<&str>, key: &str) -> String {
    let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{}.{hex}", key_id.unwrap_or("anon"))
}

/// The request body for the `received` event, redacted as the auditor config says, or
/// `None` when bodies are not audited.
fn audited_body(st: &AppState, job: &Job) -> Option<serde_json::Value> {
    let cfg = &st.cfg().auditor;
    if !cfg.store_bodies {
        return None;
    }
    if job.body.get().len() > broker::audit::MAX_EVENT_BODY_BYTES {
        tracing::info!(job_id = %job.id, bytes = job.body.get().len(), "request body too large for the request log; not audited");
        return None;
    }
    let mut v: serde_json::Value = serde_json::from_str(job.body.get()).ok()?;
    broker::audit::redact::Redactor::new(&cfg.redact_paths).value(&mut v);
    Some(v)
}

/// Publishes the job (awaiting the JetStream ack) and emits `received` and `queued`.
pub async fn publish(st: &AppState, sub: &Submission) -> Result<Submitted, GatewayError> {
    let job = &sub.job;
    if let Some(first) = job.route.first() {
        super::layers::label_request(&job.model, &first.provider);
    }
    if !broker::nats::is_connected(st.client()) {
        return Err(unavailable("not connected"));
    }
    // `received` is stamped with the job's creation time, so the record's start and the
    // job's `created_ms` (from which deadlines and durations count) are the same instant.
    let mut received =
        Event::new(&job.id, EventKind::Received, st.events().node()).with(EventDetail {
            mode: Some(job.mode),
            model: Some(job.model.clone()),
            key_id: job.key_id.clone(),
            traceparent: job.traceparent.clone(),
            related_job: job.replay_of.clone(),
            body: audited_body(st, job),
            ..Default::default()
        });
    received.ts_ms = job.created_ms;
    st.events().send(received).await;
    if let Some(key) = &job.idempotency_key {
        let kv_key = idempotency_kv_key(job.key_id.as_deref(), key);
        match st
            .topo()
            .idempotency
            .create(&kv_key, job.id.clone().into())
            .await
        {
            Ok(_) => {}
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                let existing = st
                    .topo()
                    .idempotency
                    .get(&kv_key)
                    .await
                    .map_err(unavailable)?;
                if let Some(existing) = existing.and_then(|b| String::from_utf8(b.to_vec()).ok()) {
                    return Ok(Submitted::Duplicate(existing));
                }
            }
            Err(e) => return Err(unavailable(e)),
        }
    }
    let Some(first) = job.route.first() else {
        return Err(GatewayError::Internal("a job without a route".into()));
    };
    let payload = serde_json::to_vec(job).map_err(|e| GatewayError::Internal(e.to_string()))?;
    let headers = broker::nats::job_headers(job);
    let subject = st.topo().subjects.jobs(&first.provider);
    let stored = async {
        let ack = st
            .topo()
            .js
            .publish_with_headers(subject, headers, payload.into())
            .await
            .map_err(unavailable)?;
        ack.await.map_err(unavailable)
    }
    .await;
    if let Err(e) = stored {
        // The job never reached the stream: close its lifecycle so no record stays open.
        let detail = EventDetail {
            status: Some(503),
            error: Some(e.to_string()),
            error_kind: Some(e.kind().into()),
            ..Default::default()
        };
        st.events().emit(&job.id, EventKind::Failed, detail).await;
        return Err(e);
    }
    st.events()
        .emit(
            &job.id,
            EventKind::Queued,
            EventDetail {
                provider: Some(first.provider.clone()),
                model: Some(first.model.clone()),
                ..Default::default()
            },
        )
        .await;
    Ok(Submitted::New)
}
