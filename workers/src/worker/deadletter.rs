//! Dead letters: a job that exhausted `max_deliver` (its workers kept dying or timing out) is
//! moved to `sy.dead.<provider>` with the reason, answered as failed, and removed from the
//! jobs stream. The JetStream max-deliveries advisory triggers it; one worker (queue group)
//! handles each advisory.

use super::execute::result;
use super::Shared;
use crate::error::{ErrorKind, ProviderError};
use futures::StreamExt;
use schemas::{EventDetail, EventKind, Job, JobState};
use serde::Deserialize;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

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
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", format!("dead-{}", job.id).as_str());
    headers.insert("Switchyard-Dead-Reason", reason.as_str());
    shared
        .topo
        .js
        .publish_with_headers(
            shared.topo.subjects.dead(&provider),
            headers,
            msg.payload.clone(),
        )
        .await?
        .await?;
    let already = shared
        .topo
        .results
        .direct_get_last_for_subject(shared.topo.subjects.results(&job.id))
        .await
        .is_ok();
    if !already {
        let mut r = result(
            shared,
            &job,
            JobState::Failed,
            job.route.get(job.hop as usize),
            job.attempts,
        );
        let mut e =
            ProviderError::new(ErrorKind::Server, "switchyard", reason.clone()).to_job_error();
        e.status = 500;
        e.retryable = false;
        e.error.code = Some("dead_lettered".into());
        r.error = Some(e);
        let mut h = async_nats::HeaderMap::new();
        h.insert("Nats-Msg-Id", format!("result-{}", job.id).as_str());
        shared
            .topo
            .js
            .publish_with_headers(
                shared.topo.subjects.results(&job.id),
                h,
                serde_json::to_vec(&r)?.into(),
            )
            .await?
            .await?;
        shared
            .events
            .emit(
                &job.id,
                EventKind::DeadLettered,
                EventDetail {
                    provider: Some(provider.clone()),
                    delivery: Some(a.deliveries),
                    error: Some(reason.clone()),
                    ..Default::default()
                },
            )
            .await;
        shared
            .events
            .emit(
                &job.id,
                EventKind::Failed,
                EventDetail {
                    provider: Some(provider),
                    status: Some(500),
                    error: Some(reason),
                    error_kind: Some("dead_lettered".into()),
                    ..Default::default()
                },
            )
            .await;
    }
    shared.topo.jobs.delete_message(a.stream_seq).await?;
    Ok(())
}
