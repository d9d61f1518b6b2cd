//! Running one hop of a job: pipeline stages, then the hop's target with retries (backoff
//! with full jitter, `retry-after`, bounded by the deadline), behind its circuit breaker and
//! timeouts. When the target gives up and the route has another, the job is forwarded to it.

use super::backoff;
use super::call::{call, Done, Failed};
use super::circuit::counts_against_target;
use super::{observe, Shared};
use crate::error::{ErrorKind, ProviderError};
use schemas::{EventDetail, EventKind, Job, JobResult, JobState, Target};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// What one delivery of a job came to.
pub enum Next {
    /// The job is finished.
    Done(Box<JobResult>),
    /// The hop's target gave up: run the job on the next target of its route.
    Forward(Box<Job>),
}

/// Runs the job's current hop (never fails: failures are outcomes).
pub async fn run(shared: &Shared, job: &Job, delivery: u64, cancel: &CancellationToken) -> Next {
    if job.hop == 0 {
        for stage in &shared.stages {
            if let Some(o) = stage.before(job).await {
                return Next::Done(Box::new(o));
            }
        }
    }
    let next = run_hop(shared, job, delivery, cancel).await;
    if let Next::Done(outcome) = &next {
        for stage in &shared.stages {
            stage.after(job, outcome).await;
        }
    }
    next
}

/// A result envelope for `job`.
pub fn result(
    shared: &Shared,
    job: &Job,
    status: JobState,
    target: Option<&Target>,
    attempts: u32,
) -> JobResult {
    JobResult {
        v: schemas::WIRE_VERSION,
        id: job.id.clone(),
        status,
        provider: target.map(|t| t.provider.clone()),
        model: target.map(|t| t.model.clone()),
        response: None,
        error: None,
        usage: None,
        attempts,
        chunks: None,
        finished_ms: schemas::now_ms(),
        node: shared.events.node().to_string(),
    }
}

/// The cancelled outcome.
pub fn cancelled(shared: &Shared, job: &Job, target: Option<&Target>, attempts: u32) -> Next {
    let mut r = result(shared, job, JobState::Cancelled, target, attempts);
    r.error = Some(
        ProviderError::new(
            ErrorKind::Cancelled,
            "switchyard",
            "the job was cancelled (POST /v1/jobs/{id}/cancel or the client disconnected)",
        )
        .to_job_error(),
    );
    Next::Done(Box::new(r))
}

fn failed(
    shared: &Shared,
    job: &Job,
    target: Option<&Target>,
    attempts: u32,
    err: &ProviderError,
) -> Next {
    let mut r = result(shared, job, JobState::Failed, target, attempts);
    r.error = Some(err.to_job_error());
    Next::Done(Box::new(r))
}

/// Whether the next target of the route may succeed where this one failed: yes for failures
/// of the target (retryable, auth, missing model or deployment, open circuit), no for faults
/// of the request itself (bad request, context length, content filter).
fn worth_a_fallback(kind: ErrorKind) -> bool {
    kind.retryable()
        || matches!(
            kind,
            ErrorKind::Auth | ErrorKind::Permission | ErrorKind::NotFound
        )
}

async fn run_hop(shared: &Shared, job: &Job, delivery: u64, cancel: &CancellationToken) -> Next {
    let Some(target) = job.route.get(job.hop as usize) else {
        let e = ProviderError::new(
            ErrorKind::NotFound,
            "switchyard",
            "the job has no target left on its route",
        );
        return failed(shared, job, None, job.attempts, &e);
    };
    let mut attempts = job.attempts;
    let deadline = job.deadline_ms;
    let last_err = match shared.registry.get(&target.provider) {
        None => ProviderError::new(
            ErrorKind::NotFound,
            &target.provider,
            format!(
                "provider `{}` is not configured on worker {}",
                target.provider,
                shared.events.node()
            ),
        ),
        Some(adapter) => {
            let policy = shared.policy(&target.provider);
            let mut tries = 0u32;
            // A retry follows the same target; the first try of a later hop is a fallback.
            let mut previous = job
                .hop
                .checked_sub(1)
                .and_then(|h| job.route.get(h as usize));
            loop {
                if cancel.is_cancelled() {
                    return cancelled(shared, job, Some(target), attempts);
                }
                let (allowed, change) = shared.breakers.allow(target);
                shared.publish_circuit(target, change);
                if !allowed {
                    break ProviderError::new(ErrorKind::Overloaded, &target.provider, "the circuit breaker of this target is open after repeated failures; try again later");
                }
                observe::next_target(previous, target);
                previous = Some(target);
                tries += 1;
                attempts += 1;
                shared
                    .events
                    .emit(
                        &job.id,
                        EventKind::AttemptStarted,
                        EventDetail {
                            provider: Some(target.provider.clone()),
                            model: Some(target.model.clone()),
                            attempt: Some(attempts),
                            delivery: Some(delivery),
                            ..Default::default()
                        },
                    )
                    .await;
                let t0 = Instant::now();
                let (attempt_span, upstream) = observe::attempt_spans(job, target, attempts);
                let traced = call(
                    shared,
                    adapter.clone(),
                    job,
                    target,
                    delivery,
                    &policy.timeouts,
                )
                .instrument(upstream.clone())
                .instrument(attempt_span.clone());
                let outcome = tokio::select! {
                    _ = cancel.cancelled() => return cancelled(shared, job, Some(target), attempts),
                    o = traced => o,
                };
                let Failed { err, streamed } = match outcome {
                    Ok(done) => {
                        observe::attempt_ok(
                            &upstream,
                            target,
                            done.usage.as_ref(),
                            &done.response,
                            t0.elapsed(),
                        );
                        let change = shared.breakers.record(target, true);
                        shared.publish_circuit(target, change);
                        return completed(shared, job, target, attempts, done);
                    }
                    Err(f) => f,
                };
                observe::attempt_failed(&attempt_span, &upstream, target, &err, t0.elapsed());
                if counts_against_target(err.kind) {
                    let change = shared.breakers.record(target, false);
                    shared.publish_circuit(target, change);
                }
                let more = tries < policy.retry.max_attempts && err.retryable() && !streamed;
                let wait = more.then(|| backoff::delay(&policy.retry, tries, err.retry_after));
                let wait = wait.filter(|w| schemas::now_ms() + w.as_millis() as u64 <= deadline);
                tracing::warn!(provider = %target.provider, attempt = attempts, error = %err, retry_in_ms = ?wait.map(|w| w.as_millis()), "attempt failed");
                shared
                    .events
                    .emit(
                        &job.id,
                        EventKind::AttemptFailed,
                        EventDetail {
                            provider: Some(target.provider.clone()),
                            model: Some(target.model.clone()),
                            attempt: Some(attempts),
                            status: err.upstream_status,
                            error: Some(err.message.clone()),
                            error_kind: Some(err.kind.as_str().into()),
                            retry_in_ms: wait.map(|w| w.as_millis() as u64),
                            duration_ms: Some(t0.elapsed().as_millis() as u64),
                            ..Default::default()
                        },
                    )
                    .await;
                if streamed {
                    return failed(shared, job, Some(target), attempts, &err);
                }
                if err.kind == ErrorKind::RateLimited {
                    if let Some(ra) = err.retry_after {
                        shared.pause_provider(&target.provider, ra).await;
                    }
                }
                let Some(wait) = wait else { break err };
                tokio::select! {
                    _ = cancel.cancelled() => return cancelled(shared, job, Some(target), attempts),
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    };
    let next_hop = job.hop as usize + 1;
    if next_hop < job.route.len() && worth_a_fallback(last_err.kind) {
        let mut fwd = job.clone();
        fwd.hop = next_hop as u32;
        fwd.attempts = attempts;
        return Next::Forward(Box::new(fwd));
    }
    failed(shared, job, Some(target), attempts, &last_err)
}

fn completed(shared: &Shared, job: &Job, target: &Target, attempts: u32, done: Done) -> Next {
    let mut r = result(shared, job, JobState::Completed, Some(target), attempts);
    r.response = Some(done.response);
    r.usage = done.usage;
    r.chunks = done.chunks;
    Next::Done(Box::new(r))
}

/// How long a paused consumer stays paused at most, whatever `retry-after` says.
pub const MAX_PAUSE: Duration = Duration::from_secs(60);
