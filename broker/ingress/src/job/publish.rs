//! Publishing a job: the idempotency claim first, then `received`, the job itself (awaiting
//! the JetStream ack, the only awaited publish on the request path), and `queued`.

use super::idempotency::{self, Binding, Claim};
use super::submission::Submission;
use crate::error::{unavailable, GatewayError};
use crate::state::AppState;
use schemas::{BodyOmitted, Event, EventDetail, EventKind, Job, Mode, OmitReason};

/// What publishing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// A new job under the submission's id.
    New,
    /// The idempotency key ran this job for the same request before.
    Duplicate(String),
}

/// The request body for the `received` event, redacted as the auditor config says, with the
/// paths it redacted; or why it is left out (bodies not audited, or over the log's cap).
fn audited_body(st: &AppState, job: &Job) -> Result<(serde_json::Value, Vec<String>), BodyOmitted> {
    let cfg = &st.cfg().auditor;
    let bytes = job.body.get().len() as u64;
    if !cfg.store_bodies {
        return Err(BodyOmitted {
            reason: OmitReason::NotStored,
            bytes,
            limit: None,
        });
    }
    // Every body the gateway accepts fits in one event (its envelope is smaller than the
    // job's); the auditor fetches large ones back in parts.
    let limit = st.body_limit() as u64;
    let too_large = BodyOmitted {
        reason: OmitReason::TooLarge,
        bytes,
        limit: Some(limit),
    };
    if bytes > limit {
        tracing::info!(job_id = %job.id, bytes, "request body too large for the request log; not audited");
        return Err(too_large);
    }
    let mut v: serde_json::Value = serde_json::from_str(job.body.get()).map_err(|_| too_large)?;
    let redacted = broker::audit::redact::Redactor::new(&cfg.redact_paths).value(&mut v);
    Ok((v, redacted))
}

/// Publishes the job and emits `received` and `queued`; an idempotent resubmit of the same
/// request (or a batch line the stream already has) is [`Submitted::Duplicate`] and emits
/// nothing.
pub async fn publish(st: &AppState, sub: &Submission) -> Result<Submitted, GatewayError> {
    let job = &sub.job;
    let Some(first) = job.route.first() else {
        return Err(GatewayError::Internal("a job without a route".into()));
    };
    crate::layers::label_request(&job.model, &first.provider);
    if !broker::nats::is_connected(st.client()) {
        return Err(unavailable("not connected"));
    }
    let claimed = match &job.idempotency_key {
        Some(key) => {
            let kv_key = idempotency::kv_key(job.key_id.as_deref(), key);
            let binding = Binding::new(&job.id, sub.route, &sub.raw);
            match idempotency::claim(st, &kv_key, &binding).await? {
                Claim::Existing(id) => {
                    crate::auth::limits::release(st, job).await;
                    return Ok(Submitted::Duplicate(id));
                }
                Claim::New => Some(kv_key),
            }
        }
        None => None,
    };
    if job.mode == Mode::Batch {
        // A batch line is stored first: published again after its driver died, it is a
        // duplicate the stream drops, and its record must not get a second `received`.
        let stored = store(st, job, &first.provider).await;
        if !matches!(stored, Ok(false)) {
            crate::auth::limits::release(st, job).await;
            return stored.map(|_| Submitted::Duplicate(job.id.clone()));
        }
        emit_received(st, job).await;
    } else {
        emit_received(st, job).await;
        if let Err(e) = store(st, job, &first.provider).await {
            // The job never reached the stream: close its lifecycle so no record stays
            // open, and free the key for the client's retry.
            let detail = EventDetail {
                status: Some(e.status_code().as_u16()),
                error: Some(e.to_string()),
                error_kind: Some(e.kind().into()),
                key_id: job.key_id.clone(),
                ..Default::default()
            };
            st.events().emit(&job.id, EventKind::Failed, detail).await;
            if let Some(k) = claimed {
                idempotency::release(st, &k).await;
            }
            crate::auth::limits::release(st, job).await;
            return Err(e);
        }
    }
    let detail = EventDetail {
        provider: Some(first.provider.clone()),
        model: Some(first.model.clone()),
        key_id: job.key_id.clone(),
        ..Default::default()
    };
    st.events().emit(&job.id, EventKind::Queued, detail).await;
    Ok(Submitted::New)
}

/// `received` (and `authenticated` for a keyed job), stamped with the job's creation time, so the record's start and the job's
/// `created_ms` (from which deadlines and durations count) are the same instant.
pub async fn emit_received(st: &AppState, job: &Job) {
    let (body, redacted, body_omitted) = match audited_body(st, job) {
        Ok((body, redacted)) => (Some(body), redacted, None),
        Err(omitted) => (None, Vec::new(), Some(omitted)),
    };
    let mut received =
        Event::new(&job.id, EventKind::Received, st.events().node()).with(EventDetail {
            mode: Some(job.mode),
            model: Some(job.model.clone()),
            key_id: job.key_id.clone(),
            traceparent: job.traceparent.clone(),
            related_job: job.replay_of.clone(),
            body,
            redacted,
            body_omitted,
            ..Default::default()
        });
    received.ts_ms = job.created_ms;
    st.events().send(received).await;
    if let Some(key) = &job.key_id {
        let mut authenticated = Event::new(&job.id, EventKind::Authenticated, st.events().node())
            .with(EventDetail {
                key_id: Some(key.clone()),
                ..Default::default()
            });
        authenticated.ts_ms = job.created_ms;
        st.events().send(authenticated).await;
    }
}

/// Publishes the job on its first target's subject and awaits the stream's ack (`true`: the
/// stream had it already, a duplicate it dropped). A job larger than the server's
/// `max_payload` is a 413 with the real limit, not a 503.
async fn store(st: &AppState, job: &Job, provider: &str) -> Result<bool, GatewayError> {
    let payload = serde_json::to_vec(job).map_err(|e| GatewayError::Internal(e.to_string()))?;
    let max = st.client().server_info().max_payload;
    if max > 0 && payload.len() > max {
        return Err(GatewayError::PayloadTooLarge(
            max.saturating_sub(crate::body::ENVELOPE_OVERHEAD),
        ));
    }
    let subject = st.topo().subjects.jobs_for(provider, job.mode);
    let headers = broker::nats::job_headers(job);
    // Through a NATS node's failover the publish is tried again for a few seconds (the job's
    // `Nats-Msg-Id` keeps one copy) before the client gets a 503.
    let stored = broker::nats::durable::publish(
        &st.topo().js,
        subject,
        headers,
        payload.into(),
        PUBLISH_PATIENCE,
        None,
    )
    .await
    .map_err(unavailable)?;
    Ok(stored == broker::nats::durable::Stored::Duplicate)
}

/// How long publishing a job is tried again through a NATS failover.
const PUBLISH_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);
