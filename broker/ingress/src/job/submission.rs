//! A validated request as a job about to be published: its mode, deadline, trace context,
//! idempotency key and route.

use crate::error::GatewayError;
use crate::state::{AppState, IDEMPOTENCY_HEADER, MODE_HEADER, TIMEOUT_HEADER};
use axum::body::Bytes;
use axum::http::HeaderMap;
use schemas::{Job, Mode, Operation, Target};
use serde_json::value::RawValue;

/// The mode the client asked for: the `X-Switchyard-Mode: queued` header, else streaming
/// when `stream` is set, else sync.
pub fn mode_of(headers: &HeaderMap, stream: bool) -> Result<Mode, GatewayError> {
    let default = if stream { Mode::Stream } else { Mode::Sync };
    let Some(v) = headers.get(MODE_HEADER) else {
        return Ok(default);
    };
    match v.to_str().map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        Ok("queued") => Ok(Mode::Queued),
        Ok("sync") | Ok("") => Ok(default),
        other => Err(GatewayError::invalid(format!(
            "X-Switchyard-Mode `{}` is unknown; use `queued` or leave it out.",
            other.unwrap_or("<not text>")
        ))),
    }
}

/// A header's trimmed text; `None` when absent or blank, 400 when it is not printable
/// ASCII (a non-ASCII value is refused, never silently ignored).
pub fn header(headers: &HeaderMap, name: &str) -> Result<Option<String>, GatewayError> {
    let Some(v) = headers.get(name) else {
        return Ok(None);
    };
    let text = v.to_str().map_err(|_| {
        GatewayError::invalid(format!(
            "The {name} header must be printable ASCII; send it percent-encoded or as an ASCII id."
        ))
    })?;
    let t = text.trim();
    Ok((!t.is_empty()).then(|| t.to_string()))
}

/// How long a sync or streaming client waits: `X-Switchyard-Timeout-Ms`, at most
/// `server.request_timeout_ms` (its default).
fn timeout_ms(st: &AppState, headers: &HeaderMap) -> Result<u64, GatewayError> {
    let max = st.cfg().server.request_timeout_ms;
    let Some(v) = header(headers, TIMEOUT_HEADER)? else {
        return Ok(max);
    };
    v.parse::<u64>()
        .ok()
        .filter(|t| *t > 0)
        .map(|t| t.min(max))
        .ok_or_else(|| {
            GatewayError::invalid(format!(
                "{TIMEOUT_HEADER} must be a positive number of milliseconds, got `{v}`."
            ))
        })
}

/// A job about to be published.
pub struct Submission {
    /// The envelope.
    pub job: Job,
    /// How long a sync or streaming client waits.
    pub timeout_ms: u64,
    /// The route the request came in on (the idempotency key is bound to it).
    pub route: &'static str,
    /// The request body as the client sent it (the idempotency key is bound to its hash).
    pub raw: Bytes,
}

impl Submission {
    /// A job for a validated request of `op` on `route` asking for `model`: resolves the
    /// route, and the mode unless `mode` is given (from `X-Switchyard-Mode` and `stream`).
    /// `body` is what the job carries (the raw body, or its translation); `raw` what the
    /// client sent.
    #[allow(clippy::too_many_arguments)]
    pub fn for_model(
        st: &AppState,
        id: String,
        op: Operation,
        route: &'static str,
        model: String,
        stream: bool,
        mode: Option<Mode>,
        body: &Bytes,
        raw: Bytes,
        headers: &HeaderMap,
    ) -> Result<Self, GatewayError> {
        let targets = st.models().resolve_with(&model, st.health())?;
        let mode = match mode {
            Some(m) => m,
            None => mode_of(headers, stream)?,
        };
        Self::new(st, id, op, route, mode, model, targets, body, raw, headers)
    }

    /// A job for a validated body with its targets resolved.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        st: &AppState,
        id: String,
        op: Operation,
        route: &'static str,
        mode: Mode,
        model: String,
        targets: Vec<Target>,
        body: &Bytes,
        raw: Bytes,
        headers: &HeaderMap,
    ) -> Result<Self, GatewayError> {
        let body: Box<RawValue> = crate::body::parse(body)?;
        let timeout_ms = timeout_ms(st, headers)?;
        let idempotency_key = header(headers, IDEMPOTENCY_HEADER)?;
        if idempotency_key.as_ref().is_some_and(|k| k.len() > 255) {
            return Err(GatewayError::invalid(
                "Idempotency-Key is longer than 255 characters.",
            ));
        }
        let traceparent = header(headers, "traceparent").ok().flatten();
        let now = schemas::now_ms();
        // This ingress waits for a sync or streaming job: its result comes here only.
        let reply = matches!(mode, Mode::Sync | Mode::Stream)
            .then(|| st.topo().subjects.reply(st.events().node(), &id));
        Ok(Self {
            job: Job {
                v: schemas::WIRE_VERSION,
                id,
                op,
                mode,
                model,
                route: targets,
                body,
                key_id: None,
                created_ms: now,
                deadline_ms: now + timeout_ms,
                traceparent: Some(broker::telemetry::propagation::for_job(
                    traceparent.as_deref(),
                )),
                idempotency_key,
                replay_of: None,
                node: st.events().node().to_string(),
                hop: 0,
                attempts: 0,
                charge: None,
                cache: None,
                batch: None,
                reply,
            },
            timeout_ms,
            route,
            raw,
        })
    }
}
