//! Running one hop of a job: pipeline stages, then the hop's target with retries (backoff
//! with full jitter, `retry-after`, bounded by the deadline), behind its circuit breaker and
//! timeouts. When the target gives up and the route has another, the job is forwarded to it.

use super::backoff;
use super::call::{call, Done, Failed};
use super::circuit::counts_against_target;
use super::{observe, Shared};
use crate::error::{ErrorKind, ProviderError};
use crate::provider::Provider;
use schemas::{EventDetail, EventKind, Job, JobResult, JobState, Target};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// What one delivery of a job came to.
pub enum Next {
    /// The job is finished.
    Done(Box<JobResult>),
    /// The hop's target gave up: run the job on the next target of its route.
    Forward(Box<Job>, Fallback),
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
        requested_model: Some(job.model.clone()),
        response: None,
        error: None,
        usage: None,
        attempts,
        upstream_request_id: None,
        attempt_ms: None,
        chunks: None,
        finished_ms: schemas::now_ms(),
        node: shared.events.node().to_string(),
        key_id: job.key_id.clone(),
        cost_usd: None,
        cache: None,
        similarity: None,
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
/// of the target (retryable, auth, missing model or deployment, open circuit) and for a
/// parameter the target cannot honour (the next may), no for faults of the request itself
/// (bad request, context length, content filter).
fn worth_a_fallback(kind: ErrorKind) -> bool {
    kind.retryable()
        || matches!(
            kind,
            ErrorKind::Auth | ErrorKind::Permission | ErrorKind::NotFound | ErrorKind::Unsupported
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
    let Some(adapter) = shared.registry.get(&target.provider) else {
        let e = ProviderError::new(
            ErrorKind::NotFound,
            &target.provider,
            format!(
                "provider `{}` is not configured on worker {}",
                target.provider,
                shared.events.node()
            ),
        );
        return fallback_or_fail(shared, job, target, job.attempts, e);
    };
    let mut hop = Hop {
        shared,
        job,
        target,
        delivery,
        cancel,
        policy: shared.policy(&target.provider),
        attempts: job.attempts,
        tries: 0,
    };
    match hop.attempt_all(adapter.clone()).await {
        Ok(done) => done,
        Err(last) => fallback_or_fail(shared, job, target, hop.attempts, last),
    }
}

/// Why a job moves to the next target of its route.
#[derive(Debug, Clone)]
pub struct Fallback {
    /// The target that gave up (`provider/model`).
    pub from: String,
    /// Its last error's kind.
    pub kind: String,
    /// Its last error's message.
    pub message: String,
}

/// After the hop's target gave up with `err`: the job moves on to the next target of its
/// route when one is left and the failure is the target's, else it fails.
fn fallback_or_fail(
    shared: &Shared,
    job: &Job,
    target: &Target,
    attempts: u32,
    err: ProviderError,
) -> Next {
    let next_hop = job.hop as usize + 1;
    if next_hop < job.route.len() && worth_a_fallback(err.kind) {
        let mut fwd = job.clone();
        fwd.hop = next_hop as u32;
        fwd.attempts = attempts;
        let why = Fallback {
            from: format!("{}/{}", target.provider, target.model),
            kind: err.kind.as_str().to_string(),
            message: err.message.clone(),
        };
        return Next::Forward(Box::new(fwd), why);
    }
    failed(shared, job, Some(target), attempts, &err)
}

/// The attempts of one hop on its target.
struct Hop<'a> {
    shared: &'a Shared,
    job: &'a Job,
    target: &'a Target,
    delivery: u64,
    cancel: &'a CancellationToken,
    policy: broker::config::ProviderConfig,
    /// Upstream attempts of the job so far, earlier hops included.
    attempts: u32,
    /// Attempts on this hop's target.
    tries: u32,
}

impl Hop<'_> {
    /// Tries the target until it answers, the job is cancelled (both `Ok`), or it gives up
    /// (`Err` with the last failure).
    async fn attempt_all(&mut self, adapter: Arc<dyn Provider>) -> Result<Next, ProviderError> {
        // A retry follows the same target; the first try of a later hop is a fallback.
        let job = self.job;
        let mut previous = job
            .hop
            .checked_sub(1)
            .and_then(|h| job.route.get(h as usize));
        loop {
            if self.cancel.is_cancelled() {
                return Ok(self.cancelled());
            }
            let (allowed, change) = self.shared.breakers.allow(self.target);
            self.shared.publish_circuit(self.target, change);
            if !allowed {
                return Err(ProviderError::new(ErrorKind::Overloaded, &self.target.provider, "the circuit breaker of this target is open after repeated failures; try again later"));
            }
            observe::next_target(previous, self.target);
            previous = Some(self.target);
            let (
                Failed {
                    err,
                    streamed,
                    upstream_request_id,
                },
                took,
            ) = match self.attempt(adapter.clone()).await {
                Attempted::Done(next) => return Ok(next),
                Attempted::Failed(f, took) => (f, took),
            };
            let wait = self
                .after_failure(&err, streamed, took, upstream_request_id)
                .await;
            if streamed {
                return Ok(failed(
                    self.shared,
                    job,
                    Some(self.target),
                    self.attempts,
                    &err,
                ));
            }
            let Some(wait) = wait else { return Err(err) };
            tokio::select! {
                _ = self.cancel.cancelled() => return Ok(self.cancelled()),
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    fn cancelled(&self) -> Next {
        cancelled(self.shared, self.job, Some(self.target), self.attempts)
    }

    /// One attempt: `attempt_started`, the call within its spans, the circuit's record of a
    /// success.
    async fn attempt(&mut self, adapter: Arc<dyn Provider>) -> Attempted {
        let (shared, job, target) = (self.shared, self.job, self.target);
        self.tries += 1;
        self.attempts += 1;
        let detail = EventDetail {
            provider: Some(target.provider.clone()),
            model: Some(target.model.clone()),
            attempt: Some(self.attempts),
            delivery: Some(self.delivery),
            key_id: job.key_id.clone(),
            ..Default::default()
        };
        shared
            .events
            .emit(&job.id, EventKind::AttemptStarted, detail)
            .await;
        let t0 = Instant::now();
        let (attempt_span, upstream) = observe::attempt_spans(job, target, self.attempts);
        let traced = call(
            shared,
            adapter,
            job,
            target,
            self.delivery,
            &self.policy.timeouts,
        )
        .instrument(upstream.clone())
        .instrument(attempt_span.clone());
        let outcome = tokio::select! {
            _ = self.cancel.cancelled() => return Attempted::Done(self.cancelled()),
            o = crate::providers::http::observed(traced) => o,
        };
        let (outcome, seen) = outcome;
        match outcome {
            Ok(done) => {
                let usage = done.usage.as_ref();
                observe::attempt_ok(&upstream, target, usage, &done.response, t0.elapsed());
                let change = shared.breakers.record(target, true);
                shared.publish_circuit(target, change);
                let mut next = completed(shared, job, target, self.attempts, done);
                if let Next::Done(r) = &mut next {
                    r.upstream_request_id = seen.request_id;
                    r.attempt_ms = Some(t0.elapsed().as_millis() as u64);
                }
                Attempted::Done(next)
            }
            Err(mut f) => {
                f.upstream_request_id = seen.request_id;
                // An upstream may echo the key it was sent: not into a log, result or event.
                let secrets = shared
                    .secrets
                    .get(&target.provider)
                    .map_or(&[][..], Vec::as_slice);
                f.err.message = broker::access::secrets::scrub(&f.err.message, secrets);
                observe::attempt_failed(&attempt_span, &upstream, target, &f.err, t0.elapsed());
                Attempted::Failed(f, t0.elapsed())
            }
        }
    }

    /// Records a failed attempt (circuit, `attempt_failed`, a consumer pause after a 429
    /// with `retry-after`) and decides the wait before the next try: `None` when there is
    /// none (not retryable, out of attempts, or past the deadline).
    async fn after_failure(
        &self,
        err: &ProviderError,
        streamed: bool,
        took: Duration,
        upstream_request_id: Option<String>,
    ) -> Option<Duration> {
        let (shared, target) = (self.shared, self.target);
        if counts_against_target(err.kind) {
            let change = shared.breakers.record(target, false);
            shared.publish_circuit(target, change);
        }
        let retry = &self.policy.retry;
        let more = self.tries < retry.max_attempts && err.retryable() && !streamed;
        let wait = more.then(|| backoff::delay(retry, self.tries, err.retry_after));
        let wait =
            wait.filter(|w| schemas::now_ms() + w.as_millis() as u64 <= self.job.deadline_ms);
        tracing::warn!(provider = %target.provider, attempt = self.attempts, error = %err, retry_in_ms = wait.map(|w| w.as_millis() as u64), "attempt failed");
        let detail = EventDetail {
            provider: Some(target.provider.clone()),
            model: Some(target.model.clone()),
            attempt: Some(self.attempts),
            status: err.upstream_status,
            error: Some(err.message.clone()),
            error_kind: Some(err.kind.as_str().into()),
            retry_in_ms: wait.map(|w| w.as_millis() as u64),
            duration_ms: Some(took.as_millis() as u64),
            upstream_request_id,
            key_id: self.job.key_id.clone(),
            ..Default::default()
        };
        shared
            .events
            .emit(&self.job.id, EventKind::AttemptFailed, detail)
            .await;
        if err.kind == ErrorKind::RateLimited && !streamed {
            if let Some(ra) = err.retry_after {
                shared.pause_provider(&target.provider, ra).await;
            }
        }
        wait
    }
}

/// What one attempt came to.
enum Attempted {
    /// The job is finished (answered or cancelled).
    Done(Next),
    /// The call failed after this long.
    Failed(Failed, Duration),
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
