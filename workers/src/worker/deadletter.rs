//! Dead letters: a job that exhausted `max_deliver` (its workers kept dying or timing out) is
//! moved to `sy.dead.<provider>` with the reason, answered as failed, and removed from the
//! jobs stream. The JetStream max-deliveries advisory triggers it; one worker (queue group)
//! handles each advisory.

use super::execute::result;
use super::handle::{already_done, publish_result};
use super::Shared;
use crate::error::{ErrorKind, ProviderError};
use futures::StreamExt;
use schemas::{EventDetail, EventKind, Job, JobState};
use serde::Deserialize;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The header of a dead letter that says why it is one.
pub const DEAD_REASON_HEADER: &str = "Switchyard-Dead-Reason";

#[derive(Deserialize)]
struct Advisory {
    stream_seq: u64,
    deliveries: u64,
    #[serde(default)]
    consumer: String,
}

/// Handles max-deliveries advisories until `stop`.
pub async fn watch(shared: Arc<Shared>, stop: CancellationToken) {
    let subject = shared.topo.subjects.max_deliveries_advisory();
    let group = format!("{}_deadletter", shared.topo.subjects.prefix());
    let mut sub = match shared.client.queue_subscribe(subject, group).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot watch for dead letters");
            return;
        }
    };
    loop {
        let msg = tokio::select! {
            _ = stop.cancelled() => return,
            m = sub.next() => match m { Some(m) => m, None => return },
        };
        match serde_json::from_slice::<Advisory>(&msg.payload) {
            Ok(a) => {
                if let Err(e) = dead_letter(&shared, &a).await {
                    tracing::error!(stream_seq = a.stream_seq, error = %e, "cannot dead-letter a job; it stays in the jobs stream");
                }
            }
            Err(e) => tracing::warn!(error = %e, "undecodable max-deliveries advisory"),
        }
    }
}

/// Moves the advised job to the dead-letter stream, answers it as failed (unless a result
/// exists), and deletes it from the jobs stream.
async fn dead_letter(shared: &Shared, a: &Advisory) -> Result<(), async_nats::Error> {
    let msg = shared.topo.jobs.get_raw_message(a.stream_seq).await?;
    let job: Job = serde_json::from_slice(&msg.payload)?;
    let provider = job
        .route
        .get(job.hop as usize)
        .map(|t| t.provider.clone())
        .unwrap_or_default();
    let reason = format!(
        "the job was delivered {} times (consumer {}) without finishing: its workers crashed or stalled. It is kept on {} for inspection; replay it once the cause is fixed.",
        a.deliveries,
        a.consumer,
        shared.topo.subjects.dead(&provider)
    );
    tracing::error!(job_id = %job.id, "{reason}");
    keep(shared, &job, &provider, &reason, msg.payload.clone()).await?;
    if !already_done(shared, &job.id).await {
        let r = answer_failed(shared, &job, &reason).await?;
        announce(shared, &job, &provider, a.deliveries, &reason).await;
        // What the ingress reserved comes back: the job cost nothing it could price.
        super::settle::charge(shared, &job, &r).await;
    }
    shared.topo.jobs.delete_message(a.stream_seq).await?;
    Ok(())
}

/// Copies the job to `sy.dead.<provider>` with the reason in a header.
async fn keep(
    shared: &Shared,
    job: &Job,
    provider: &str,
    reason: &str,
    payload: bytes::Bytes,
) -> Result<(), async_nats::Error> {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(
        schemas::msgid::HEADER,
        schemas::msgid::dead(&job.id).as_str(),
    );
    headers.insert(DEAD_REASON_HEADER, reason);
    shared
        .topo
        .js
        .publish_with_headers(shared.topo.subjects.dead(provider), headers, payload)
        .await?
        .await?;
    Ok(())
}

/// Publishes the job's failed result (`code: dead_lettered`), so waiting clients get it.
async fn answer_failed(
    shared: &Shared,
    job: &Job,
    reason: &str,
) -> Result<schemas::JobResult, async_nats::Error> {
    let mut r = result(
        shared,
        job,
        JobState::Failed,
        job.route.get(job.hop as usize),
        job.attempts,
    );
    let mut e = ProviderError::new(ErrorKind::Server, "switchyard", reason).to_job_error();
    e.status = 500;
    e.retryable = false;
    e.error.code = Some("dead_lettered".into());
    e.kind = Some("dead_lettered".into());
    r.error = Some(e);
    publish_result(shared, job, &r, true).await?;
    Ok(r)
}

/// Emits `dead_lettered` and `failed` for the request log.
async fn announce(shared: &Shared, job: &Job, provider: &str, deliveries: u64, reason: &str) {
    let detail = EventDetail {
        provider: Some(provider.to_string()),
        delivery: Some(deliveries),
        error: Some(reason.to_string()),
        key_id: job.key_id.clone(),
        ..Default::default()
    };
    shared
        .events
        .emit(&job.id, EventKind::DeadLettered, detail)
        .await;
    let detail = EventDetail {
        provider: Some(provider.to_string()),
        status: Some(500),
        error: Some(reason.to_string()),
        error_kind: Some("dead_lettered".into()),
        key_id: job.key_id.clone(),
        ..Default::default()
    };
    let ev = schemas::Event::new(&job.id, EventKind::Failed, shared.events.node()).with(detail);
    shared
        .events
        .send_once(ev, schemas::msgid::final_event(&job.id))
        .await;
}
