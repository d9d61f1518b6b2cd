//! Running a job: pipeline stages, then each target of its route until one answers.

use super::{observe, Assembler, Shared};
use crate::error::{ErrorKind, ProviderError};
use crate::provider::{CallCtx, Provider};
use futures::StreamExt;
use schemas::openai::{ChatRequest, EmbeddingsRequest, Usage};
use schemas::{EventDetail, EventKind, Job, JobResult, JobState, Operation, StreamChunk, Target};
use serde_json::value::RawValue;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// A successful upstream call.
struct Done {
    response: Box<RawValue>,
    usage: Option<Usage>,
    chunks: Option<u64>,
}

/// A failed upstream call; `streamed` when chunks already reached the client.
struct Failed {
    err: ProviderError,
    streamed: bool,
}

impl From<ProviderError> for Failed {
    fn from(err: ProviderError) -> Self {
        Self {
            err,
            streamed: false,
        }
    }
}

/// Runs the job to an outcome (never fails: failures are outcomes).
pub async fn run(shared: &Shared, job: &Job, delivery: u64) -> JobResult {
    for stage in &shared.stages {
        if let Some(o) = stage.before(job).await {
            return o;
        }
    }
    let outcome = attempt_route(shared, job, delivery).await;
    for stage in &shared.stages {
        stage.after(job, &outcome).await;
    }
    outcome
}

fn result(
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

async fn attempt_route(shared: &Shared, job: &Job, delivery: u64) -> JobResult {
    let mut attempts = 0u32;
    let mut last: Option<(ProviderError, &Target)> = None;
    let mut previous: Option<&Target> = None;
    for target in &job.route {
        observe::next_target(previous, target);
        previous = Some(target);
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
            last = Some((e, target));
            continue;
        };
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
        match call(shared, adapter.clone(), job, target, delivery)
            .instrument(upstream.clone())
            .instrument(attempt_span.clone())
            .await
        {
            Ok(done) => {
                let usage = done.usage.as_ref();
                observe::attempt_ok(&upstream, target, usage, &done.response, t0.elapsed());
                let mut r = result(shared, job, JobState::Completed, Some(target), attempts);
                r.response = Some(done.response);
                r.usage = done.usage;
                r.chunks = done.chunks;
                return r;
            }
            Err(Failed { err, streamed }) => {
                observe::attempt_failed(&attempt_span, &upstream, target, &err, t0.elapsed());
                tracing::warn!(provider = %target.provider, error = %err, "attempt failed");
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
                            duration_ms: Some(t0.elapsed().as_millis() as u64),
                            ..Default::default()
                        },
                    )
                    .await;
                let stop = streamed || !err.retryable();
                last = Some((err, target));
                if stop {
                    break;
                }
            }
        }
    }
    let (err, target) = match last {
        Some((e, t)) => (e, Some(t)),
        None => (
            ProviderError::new(ErrorKind::NotFound, "switchyard", "the job has no route"),
            None,
        ),
    };
    let mut r = result(shared, job, JobState::Failed, target, attempts);
    r.error = Some(err.to_job_error());
    r
}

fn bad_body(provider: &str, e: serde_json::Error) -> ProviderError {
    ProviderError::new(
        ErrorKind::BadRequest,
        provider,
        format!("the job body does not decode: {e}"),
    )
}

fn raw<T: serde::Serialize>(provider: &str, v: &T) -> Result<Box<RawValue>, ProviderError> {
    serde_json::value::to_raw_value(v)
        .map_err(|e| ProviderError::new(ErrorKind::Decode, provider, e.to_string()))
}

async fn call(
    shared: &Shared,
    adapter: Arc<dyn Provider>,
    job: &Job,
    target: &Target,
    delivery: u64,
) -> Result<Done, Failed> {
    let ctx = CallCtx {
        job_id: job.id.clone(),
        deadline: None,
        traceparent: broker::telemetry::propagation::current().or_else(|| job.traceparent.clone()),
    };
    let p = &target.provider;
    match job.op {
        Operation::Chat => {
            let mut req: ChatRequest =
                serde_json::from_str(job.body.get()).map_err(|e| bad_body(p, e))?;
            req.model = target.model.clone();
            if job.mode.streams() {
                return stream(shared, adapter, req, &ctx, job, delivery).await;
            }
            let resp = adapter.chat(req, &ctx).await?;
            Ok(Done {
                usage: resp.usage.clone(),
                response: raw(p, &resp)?,
                chunks: None,
            })
        }
        Operation::Embeddings => {
            let mut req: EmbeddingsRequest =
                serde_json::from_str(job.body.get()).map_err(|e| bad_body(p, e))?;
            req.model = target.model.clone();
            let resp = adapter.embed(req, &ctx).await?;
            let usage = Usage::new(resp.usage.prompt_tokens, 0);
            Ok(Done {
                usage: Some(usage),
                response: raw(p, &resp)?,
                chunks: None,
            })
        }
    }
}

async fn stream(
    shared: &Shared,
    adapter: Arc<dyn Provider>,
    req: ChatRequest,
    ctx: &CallCtx,
    job: &Job,
    delivery: u64,
) -> Result<Done, Failed> {
    let include_usage = req.include_usage();
    let provider = adapter.name().to_string();
    let (model, started) = (req.model.clone(), Instant::now());
    let mut s = adapter.chat_stream(req, ctx).await?;
    let subject = shared.topo.subjects.chunks(&job.id);
    let mut asm = Assembler::default();
    let mut seq: u64 = 0;
    while let Some(item) = s.next().await {
        let c = item.map_err(|err| Failed {
            err,
            streamed: seq > 0,
        })?;
        asm.push(&c);
        if c.choices.is_empty() && c.usage.is_some() && !include_usage {
            continue;
        }
        if seq == 0 {
            observe::first_token(&provider, &model, started.elapsed());
            shared
                .events
                .emit(
                    &job.id,
                    EventKind::FirstToken,
                    EventDetail {
                        provider: Some(provider.clone()),
                        ..Default::default()
                    },
                )
                .await;
        }
        let env = StreamChunk {
            v: schemas::WIRE_VERSION,
            id: job.id.clone(),
            seq,
            delivery,
            data: raw(&provider, &c)?,
        };
        let payload = serde_json::to_vec(&env)
            .map_err(|e| ProviderError::new(ErrorKind::Decode, &provider, e.to_string()))?;
        if let Err(e) = shared.client.publish(subject.clone(), payload.into()).await {
            tracing::warn!(error = %e, "cannot publish a chunk");
        }
        seq += 1;
    }
    if !asm.finished {
        let err = ProviderError::new(
            ErrorKind::Network,
            &provider,
            "the upstream stream ended before the answer was complete",
        );
        return Err(Failed {
            err,
            streamed: seq > 0,
        });
    }
    let usage = asm.usage().cloned();
    let resp = asm.finish();
    Ok(Done {
        response: raw(&provider, &resp)?,
        usage,
        chunks: Some(seq),
    })
}
