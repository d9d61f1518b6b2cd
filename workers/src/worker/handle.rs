//! One job message: decode, dedup, execute with in-progress acks, publish, ack.

use super::execute;
use super::observe;
use super::Shared;
use async_nats::jetstream::{AckKind, Message};
use schemas::{EventDetail, EventKind, Job, JobResult, JobState};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Handles one delivery of a job message.
pub async fn handle(shared: Arc<Shared>, msg: Message, _stop: CancellationToken) {
    let delivery = msg.info().map(|i| i.delivered as u64).unwrap_or(1);
    let job: Job = match serde_json::from_slice(&msg.payload) {
        Ok(j) => j,
        Err(e) => {
            tracing::error!(subject = %msg.subject, error = %e, "undecodable job message; terminating it");
            let _ = msg.ack_with(AckKind::Term).await;
            return;
        }
    };
    let span = observe::job_span(&job, delivery);
    async move {
        if delivery > 1 && already_done(&shared, &job.id).await {
            tracing::info!("redelivered job already has a result; acking");
            let _ = msg.ack().await;
            return;
        }
        shared
            .events
            .emit(&job.id, EventKind::Dequeued, EventDetail {
                delivery: Some(delivery),
                provider: job.route.first().map(|t| t.provider.clone()),
                ..Default::default()
            })
            .await;
        observe::dequeued(&job);
        let work = execute::run(&shared, &job, delivery);
        tokio::pin!(work);
        let every = Duration::from_millis((shared.cfg.ack_wait_ms / 3).max(100));
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        let outcome = loop {
            tokio::select! {
                o = &mut work => break o,
                _ = tick.tick() => { let _ = msg.ack_with(AckKind::Progress).await; }
            }
        };
        match publish_result(&shared, &outcome).await {
            Ok(()) => {
                observe::finished(&job, &outcome);
                emit_final(&shared, &job, &outcome).await;
                if let Err(e) = msg.double_ack().await {
                    tracing::warn!(error = %e, "ack failed; the job may be redelivered and will be deduplicated");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot store the result; the job will be redelivered");
                let _ = msg.ack_with(AckKind::Nak(Some(Duration::from_secs(1)))).await;
            }
        }
    }
    .instrument(span)
    .await
}

async fn already_done(shared: &Shared, id: &str) -> bool {
    let subject = shared.topo.subjects.results(id);
    shared
        .topo
        .results
        .direct_get_last_for_subject(subject)
        .await
        .is_ok()
}

async fn publish_result(shared: &Shared, r: &JobResult) -> Result<(), async_nats::Error> {
    let payload = serde_json::to_vec(r)?;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", format!("result-{}", r.id).as_str());
    let ack = shared
        .topo
        .js
        .publish_with_headers(shared.topo.subjects.results(&r.id), headers, payload.into())
        .await?;
    ack.await?;
    Ok(())
}

async fn emit_final(shared: &Shared, job: &Job, r: &JobResult) {
    let kind = match r.status {
        JobState::Completed => EventKind::Completed,
        JobState::Cancelled => EventKind::Cancelled,
        _ => EventKind::Failed,
    };
    let detail = EventDetail {
        provider: r.provider.clone(),
        model: r.model.clone(),
        attempt: Some(r.attempts),
        status: Some(r.error.as_ref().map(|e| e.status).unwrap_or(200)),
        error: r.error.as_ref().map(|e| e.error.message.clone()),
        error_kind: r.error.as_ref().and_then(|e| e.error.code.clone()),
        duration_ms: Some(r.finished_ms.saturating_sub(job.created_ms)),
        usage: r.usage.clone(),
        ..Default::default()
    };
    shared.events.emit(&job.id, kind, detail).await;
}
