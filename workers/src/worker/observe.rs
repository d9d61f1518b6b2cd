//! Spans and metrics of a job on the worker: the `job` span continuing the ingress trace,
//! the queue wait, one `attempt` span per target with its upstream call span, and the
//! Prometheus counters. Attributes follow the OpenTelemetry GenAI semantic conventions.

use crate::error::ProviderError;
use broker::telemetry::{metrics, otel, propagation};
use opentelemetry::KeyValue;
use schemas::openai::Usage;
use schemas::{Job, JobResult, JobState, Operation, Target};
use serde_json::value::RawValue;
use std::time::Duration;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// `gen_ai.operation.name` of a job.
fn operation(job: &Job) -> &'static str {
    match job.op {
        Operation::Chat => "chat",
        Operation::Embeddings => "embeddings",
        Operation::CountTokens => "count_tokens",
    }
}

/// The `job` span of one delivery, a child of the job's `traceparent`.
pub fn job_span(job: &Job, delivery: u64) -> Span {
    let provider = job.route.first().map(|t| t.provider.as_str()).unwrap_or("");
    let span = tracing::info_span!(
        "job",
        job_id = %job.id,
        delivery,
        otel.name = format!("process {provider}"),
        otel.kind = "consumer",
        messaging.system = "nats",
        messaging.operation.type = "process",
        gen_ai.operation.name = operation(job),
        gen_ai.request.model = %job.model,
    );
    propagation::set_parent(&span, job.traceparent.as_deref());
    span.set_attribute("switchyard.job_id", job.id.clone());
    span
}

/// The job left the queue now: records the `queue wait` span (from its creation at the
/// ingress to now) and the queue wait histogram.
pub fn dequeued(job: &Job) {
    let now = schemas::now_ms();
    let provider = job.route.first().map(|t| t.provider.as_str()).unwrap_or("");
    metrics::queue_wait(
        provider,
        Duration::from_millis(now.saturating_sub(job.created_ms)),
    );
    otel::record_interval(
        &propagation::extract(job.traceparent.as_deref()),
        "queue wait",
        job.created_ms,
        now,
        vec![
            KeyValue::new("switchyard.job_id", job.id.clone()),
            KeyValue::new("messaging.system", "nats"),
            KeyValue::new("switchyard.provider", provider.to_string()),
        ],
    );
}

/// Counts a retry or a fallback when `target` follows `previous` in the same job.
pub fn next_target(previous: Option<&Target>, target: &Target) {
    match previous {
        Some(p) if p == target => metrics::retry(&target.provider, &target.model),
        Some(p) => metrics::fallback(&p.provider, &target.provider),
        None => {}
    }
}

/// The `attempt` span of one try of `target` and, inside it, the span of the upstream call
/// (named `{operation} {model}` as the GenAI conventions ask, kind client).
pub fn attempt_spans(job: &Job, target: &Target, attempt: u32) -> (Span, Span) {
    let op = operation(job);
    let attempt_span = tracing::info_span!(
        "attempt",
        attempt,
        provider = %target.provider,
        model = %target.model,
    );
    let upstream = tracing::info_span!(
        parent: &attempt_span,
        "upstream",
        otel.name = format!("{op} {}", target.model),
        otel.kind = "client",
        gen_ai.operation.name = op,
        gen_ai.system = %target.provider,
        gen_ai.provider.name = %target.provider,
        gen_ai.request.model = %target.model,
    );
    for s in [&attempt_span, &upstream] {
        s.set_attribute("switchyard.job_id", job.id.clone());
    }
    (attempt_span, upstream)
}

#[derive(serde::Deserialize)]
struct ModelOnly {
    #[serde(default)]
    model: Option<String>,
}

/// An attempt answered: GenAI response attributes, token and latency metrics.
pub fn attempt_ok(
    upstream: &Span,
    target: &Target,
    usage: Option<&Usage>,
    response: &RawValue,
    took: Duration,
) {
    metrics::attempt(&target.provider, &target.model, "ok", took);
    if let Some(m) = serde_json::from_str::<ModelOnly>(response.get())
        .ok()
        .and_then(|m| m.model)
    {
        upstream.set_attribute("gen_ai.response.model", m);
    }
    if let Some(u) = usage {
        metrics::tokens(
            &target.provider,
            &target.model,
            u.prompt_tokens,
            u.completion_tokens,
        );
        upstream.set_attribute("gen_ai.usage.input_tokens", u.prompt_tokens as i64);
        upstream.set_attribute("gen_ai.usage.output_tokens", u.completion_tokens as i64);
    }
}

/// An attempt failed: error attributes and metrics.
pub fn attempt_failed(
    attempt: &Span,
    upstream: &Span,
    target: &Target,
    err: &ProviderError,
    took: Duration,
) {
    let kind = err.kind.as_str();
    metrics::attempt(&target.provider, &target.model, kind, took);
    for s in [attempt, upstream] {
        s.set_attribute("error.type", kind.to_string());
        s.set_status(opentelemetry::trace::Status::error(err.message.clone()));
    }
    if let Some(status) = err.upstream_status {
        upstream.set_attribute("http.response.status_code", i64::from(status));
    }
}

/// The first chunk of a stream, `after` the upstream call started.
pub fn first_token(provider: &str, model: &str, after: Duration) {
    metrics::time_to_first_token(provider, model, after);
    tracing::debug!(ttft_ms = after.as_millis() as u64, "first token");
}

/// The job's outcome: the job counter and total duration since its creation.
pub fn finished(job: &Job, r: &JobResult) {
    let outcome = match r.status {
        JobState::Completed => "completed",
        JobState::Cancelled => "cancelled",
        _ => "failed",
    };
    let took = Duration::from_millis(r.finished_ms.saturating_sub(job.created_ms));
    metrics::job_finished(
        r.provider.as_deref().unwrap_or(""),
        r.model.as_deref().unwrap_or(""),
        outcome,
        took,
    );
    tracing::debug!(
        outcome,
        attempts = r.attempts,
        took_ms = took.as_millis() as u64,
        "job finished"
    );
    if r.status != JobState::Completed {
        Span::current().set_status(opentelemetry::trace::Status::error(outcome));
    }
}
