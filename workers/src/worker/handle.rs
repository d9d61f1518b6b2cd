//! One job message: decode, dedup, execute with in-progress acks, then publish the result
//! (or forward the job to its next target) and ack. On shutdown a job that cannot finish
//! within the drain timeout is handed back (nak) for another worker.

use super::execute::{self, Next};
use super::observe;
use super::Shared;
use async_nats::jetstream::{AckKind, Message};
use schemas::{EventDetail, EventKind, Job, JobResult, JobState};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Handles one delivery of a job message.
pub async fn handle(shared: Arc<Shared>, msg: Message, stop: CancellationToken) {
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
    let since = broker::nats::disconnects();
    async move {
        if delivery > 1 {
            if let Some(r) = stored_result(&shared, &job.id).await {
                tracing::info!("redelivered job already has a result; finishing what its run left, then acking");
                after_stored(&shared, &job, &r).await;
                let _ = msg.ack().await;
                return;
            }
        }
        let running = shared.cancels.start(&job.id);
        shared
            .events
            .emit(&job.id, EventKind::Dequeued, EventDetail {
                delivery: Some(delivery),
                // Attempts made before this delivery: the timeline's causal order.
                attempt: Some(job.attempts),
                provider: job.route.get(job.hop as usize).map(|t| t.provider.clone()),
                key_id: job.key_id.clone(),
                ..Default::default()
            })
            .await;
        observe::dequeued(&job);
        // Only jobs the semantic cache may answer look it up (boxed: the embedding call would
        // otherwise grow every job's future).
        let semantic = shared.semantic.is_some()
            && job.cache.as_ref().is_some_and(|c| c.semantic_threshold.is_some());
        let looked = if semantic {
            Box::pin(super::semantic::lookup(&shared, &job)).await
        } else {
            super::semantic::Looked::Miss(None)
        };
        let vector = match looked {
            super::semantic::Looked::Hit(entry, similarity) => {
                semantic_hit(&shared, &job, &entry, similarity).await;
                let r = super::semantic::answer(&shared, &job, &entry, similarity);
                Box::pin(finish(&shared, &job, &msg, r, None, since)).await;
                return;
            }
            super::semantic::Looked::Miss(v) => v,
        };
        let work = execute::run(&shared, &job, delivery, &running.token);
        tokio::pin!(work);
        let every = Duration::from_millis((shared.cfg.ack_wait_ms / 3).max(100));
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        let drain = tokio::time::sleep(Duration::MAX);
        tokio::pin!(drain);
        let mut draining = false;
        let next = loop {
            tokio::select! {
                o = &mut work => break o,
                _ = tick.tick() => { let _ = msg.ack_with(AckKind::Progress).await; }
                _ = stop.cancelled(), if !draining => {
                    draining = true;
                    drain.as_mut().reset(tokio::time::Instant::now() + Duration::from_millis(shared.cfg.drain_timeout_ms));
                }
                _ = &mut drain, if draining => {
                    tracing::warn!("shutting down: the job did not finish within the drain timeout; handing it back");
                    let _ = msg.ack_with(AckKind::Nak(None)).await;
                    return;
                }
            }
        };
        match next {
            Next::Done(r) => finish(&shared, &job, &msg, *r, vector, since).await,
            Next::Forward(fwd, why) => forward(&shared, &msg, *fwd, why).await,
        }
    }
    .instrument(span)
    .await
}

/// `cache_hit` for an answer served by meaning.
async fn semantic_hit(shared: &Shared, job: &Job, entry: &broker::cache::Entry, similarity: f32) {
    tracing::info!(similarity, cached = %entry.job, "answered from the semantic cache");
    broker::telemetry::metrics::cache_hit(&job.model);
    let detail = EventDetail {
        provider: Some(entry.provider.clone()),
        model: Some(entry.model.clone()),
        saved_tokens: entry.usage.as_ref().map(|u| u.total_tokens),
        saved_cost_usd: entry.cost_usd,
        similarity: Some(similarity),
        related_job: Some(entry.job.clone()),
        key_id: job.key_id.clone(),
        ..Default::default()
    };
    shared
        .events
        .emit(&job.id, EventKind::CacheHit, detail)
        .await;
}

async fn finish(
    shared: &Shared,
    job: &Job,
    msg: &Message,
    r: JobResult,
    vector: Option<Vec<f32>>,
    since: u64,
) {
    let mut r = fit(shared, r);
    r.cost_usd = priced(shared, &r);
    // A job delivered before, or run through a dropped connection, may have been answered
    // by another worker meanwhile: the stream is read before publishing.
    let delivery = msg.info().map(|i| i.delivered).unwrap_or(1);
    let check_first = delivery > 1 || broker::nats::disconnects() != since;
    match publish_result(shared, job, &r, check_first).await {
        Ok(duplicate) => {
            if duplicate {
                tracing::info!("another delivery already published this job's result");
                if let Some(stored) = stored_result(shared, &job.id).await {
                    after_stored(shared, job, &stored).await;
                }
            } else {
                super::observe::finished(job, &r);
                emit_final(shared, job, &r).await;
                super::settle::charge(shared, job, &r).await;
                super::cache::store(shared, job, &r).await;
                super::batch::publish(shared, job, &r).await;
                if let (Some(v), JobState::Completed) = (vector, r.status) {
                    super::semantic::publish(shared, job, v).await;
                }
            }
            // A plain ack, not a double ack: the result is stored under the job's
            // `Nats-Msg-Id`, so if this ack is lost the redelivery finds the result and
            // only acks (`already_done`). Waiting for the server's confirmation would cost
            // a round trip per job for nothing.
            if let Err(e) = msg.ack().await {
                tracing::warn!(error = %e, "ack failed; the job may be redelivered and will be deduplicated");
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot store the result; the job will be redelivered");
            let _ = msg
                .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                .await;
        }
    }
}

/// Publishes the job for its next target, then acks this delivery.
async fn forward(shared: &Shared, msg: &Message, job: Job, why: super::execute::Fallback) {
    let Some(target) = job.route.get(job.hop as usize).cloned() else {
        return;
    };
    let published = async {
        let payload = serde_json::to_vec(&job)?;
        let headers = broker::nats::job_headers(&job);
        shared
            .topo
            .js
            .publish_with_headers(
                shared.topo.subjects.jobs_for(&target.provider, job.mode),
                headers,
                payload.into(),
            )
            .await?
            .await?;
        Ok::<_, async_nats::Error>(())
    }
    .await;
    match published {
        Ok(()) => {
            tracing::info!(provider = %target.provider, "falling back to the next target");
            shared
                .events
                .emit(
                    &job.id,
                    EventKind::Queued,
                    EventDetail {
                        provider: Some(target.provider.clone()),
                        model: Some(target.model.clone()),
                        attempt: Some(job.attempts),
                        // Why the job moved: from which target, after what.
                        error: Some(format!("fallback from {}: {}", why.from, why.message)),
                        error_kind: Some(why.kind),
                        key_id: job.key_id.clone(),
                        ..Default::default()
                    },
                )
                .await;
            let _ = msg.double_ack().await;
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot forward the job to its fallback; it will be redelivered");
            let _ = msg
                .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                .await;
        }
    }
}

/// The job's stored result, when there is one (and it can be read).
async fn stored_result(shared: &Shared, id: &str) -> Option<JobResult> {
    let subject = shared.topo.subjects.results(id);
    let payload = broker::nats::durable::stored_payload(&shared.topo.results, &subject)
        .await
        .ok()??;
    serde_json::from_slice(&payload).ok()
}

/// What a run that stored `r` may have left undone when its process died right after: the
/// final event and a batch line's output line, sent again under their ids (the streams keep
/// one copy). The final event only when the job's last stored event is not one already.
async fn after_stored(shared: &Shared, job: &Job, r: &JobResult) {
    let subject = shared.topo.subjects.stored_events(&job.id);
    let last = broker::nats::durable::stored_payload(&shared.topo.events, &subject).await;
    let ended = match last {
        Ok(Some(p)) => {
            serde_json::from_slice::<schemas::Event>(&p).is_ok_and(|e| e.kind.is_final())
        }
        Ok(None) => false,
        // Not knowing: sent again, a duplicate within the window is dropped.
        Err(_) => false,
    };
    if !ended {
        tracing::info!("the job's final event is missing; sending it from the stored result");
        emit_final(shared, job, r).await;
    }
    super::batch::publish(shared, job, r).await;
}

/// Whether the job's result is stored already.
pub async fn already_done(shared: &Shared, id: &str) -> bool {
    let subject = shared.topo.subjects.results(id);
    matches!(
        broker::nats::durable::stored(&shared.topo.results, &subject).await,
        Ok(true)
    )
}

/// The result as it can be delivered: one the NATS server cannot carry (its answer is larger
/// than `max_payload`) becomes a failed result saying so, instead of a publish that fails on
/// every redelivery until the job is dead-lettered.
fn fit(shared: &Shared, r: JobResult) -> JobResult {
    let max = shared.client.server_info().max_payload;
    let bytes = serde_json::to_vec(&r).map(|p| p.len()).unwrap_or(0);
    if max == 0 || bytes <= max {
        return r;
    }
    tracing::warn!(
        bytes,
        max_payload = max,
        "the answer is larger than the NATS server's max_payload; answering with an error"
    );
    let message = format!(
        "The upstream's answer ({bytes} bytes) is larger than the NATS server's max_payload ({max} bytes), so it cannot be delivered. Raise max_payload in nats-server's config (the managed server uses 8 MB), or ask for a shorter answer (max_tokens)."
    );
    JobResult {
        status: JobState::Failed,
        response: None,
        chunks: None,
        error: Some(schemas::JobError {
            status: 502,
            error: schemas::openai::ErrorBody::new("api_error", message).code("response_too_large"),
            retryable: false,
            kind: Some("too_large".into()),
            retry_after_ms: None,
        }),
        ..r
    }
}

/// What the result's usage cost at its model's price, when both are known.
fn priced(shared: &Shared, r: &JobResult) -> Option<f64> {
    let (provider, model, usage) = (r.provider.as_ref()?, r.model.as_ref()?, r.usage.as_ref()?);
    shared.prices.cost(provider, model, usage)
}

/// Sends the result to the waiting ingress (the job's `reply`, which receives only its own
/// results), then publishes it once (deduplicated by job id; `Ok(true)` when it was a
/// duplicate) to be stored as `sy.results.<job>`, with its batch and `custom_id` in headers
/// for a batch's job.
pub async fn publish_result(
    shared: &Shared,
    job: &Job,
    r: &JobResult,
    check_first: bool,
) -> Result<bool, async_nats::Error> {
    let payload = bytes::Bytes::from(serde_json::to_vec(r)?);
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(
        schemas::msgid::HEADER,
        schemas::msgid::result(&r.id).as_str(),
    );
    if let Some(b) = &job.batch {
        headers.insert(super::batch::BATCH_HEADER, b.id.as_str());
        headers.insert(super::batch::CUSTOM_ID_HEADER, b.custom_id.as_str());
    }
    // The waiting ingress first (as the result's core fan-out reached it before): it answers
    // its client while the stream stores the result. Only ever under `sy.results.`: a job
    // cannot send its result anywhere else.
    let under = format!("{}.results.", shared.topo.subjects.prefix());
    if let Some(reply) = job.reply.as_ref().filter(|s| s.starts_with(&under)) {
        if let Err(e) = shared.client.publish(reply.clone(), payload.clone()).await {
            tracing::warn!(error = %e, "cannot send the result to the waiting ingress; it reads the stored one");
        }
    }
    let stored = shared.topo.subjects.results(&r.id);
    // Through a NATS failover the result is tried again (read first, so a stored one is not
    // sent twice) rather than left for a redelivery that would run the job again.
    let duplicate = broker::nats::durable::publish(
        &shared.topo.js,
        shared.topo.subjects.results_intake(&r.id),
        headers,
        payload,
        RESULT_PATIENCE,
        Some(broker::nats::durable::Unique {
            stream: &shared.topo.results,
            stored_as: &stored,
            check_first,
        }),
    )
    .await?
        == broker::nats::durable::Stored::Duplicate;
    Ok(duplicate)
}

/// How long storing a result is tried again through a NATS failover.
const RESULT_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

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
        error_kind: r
            .error
            .as_ref()
            .and_then(|e| e.kind.clone().or_else(|| e.error.code.clone())),
        duration_ms: Some(r.finished_ms.saturating_sub(job.created_ms)),
        usage: r.usage.clone(),
        upstream_request_id: r.upstream_request_id.clone(),
        cost_usd: r.cost_usd,
        key_id: job.key_id.clone(),
        ..Default::default()
    };
    // Stamped with the result's time, so the record's end and the final event agree.
    let mut ev = schemas::Event::new(&job.id, kind, shared.events.node()).with(detail);
    ev.ts_ms = r.finished_ms;
    shared
        .events
        .send_once(ev, schemas::msgid::final_event(&job.id))
        .await;
}
