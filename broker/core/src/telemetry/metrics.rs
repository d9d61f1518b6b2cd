//! The gateway's Prometheus metrics: one process-wide registry, recorded where the work
//! happens (the ingress layer for HTTP requests, the worker for attempts, upstream calls
//! and tokens), rendered by `GET /metrics`.
//!
//! Labels stay low-cardinality: route templates, status classes, provider and model names
//! (capped per family), never job ids.

use super::registry::{Family, Kind, LATENCY_BUCKETS};
use std::time::Duration;

/// Buckets for time to first token (finer at the low end).
const TTFT_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0,
];

static HTTP_REQUESTS: Family = Family::new(
    "switchyard_http_requests_total",
    "HTTP requests answered by the ingress, by matched route, status class, model and provider.",
    Kind::Counter,
    &["route", "status_class", "model", "provider"],
);
static HTTP_DURATION: Family = Family::new(
    "switchyard_http_request_duration_seconds",
    "Time from request to response headers at the ingress (streams: to the first byte).",
    Kind::Histogram(LATENCY_BUCKETS),
    &["route", "status_class"],
);
static JOB_DURATION: Family = Family::new(
    "switchyard_job_duration_seconds",
    "Total job time, from creation at the ingress to the worker's result.",
    Kind::Histogram(LATENCY_BUCKETS),
    &["provider", "model", "outcome"],
);
static JOBS: Family = Family::new(
    "switchyard_jobs_total",
    "Jobs finished by the workers, by final provider, model and outcome.",
    Kind::Counter,
    &["provider", "model", "outcome"],
);
static QUEUE_WAIT: Family = Family::new(
    "switchyard_queue_wait_seconds",
    "Time a job waited in JetStream, from creation to a worker dequeuing it.",
    Kind::Histogram(LATENCY_BUCKETS),
    &["provider"],
);
static UPSTREAM_DURATION: Family = Family::new(
    "switchyard_upstream_duration_seconds",
    "Duration of one upstream call (one attempt), by provider, model and outcome.",
    Kind::Histogram(LATENCY_BUCKETS),
    &["provider", "model", "outcome"],
);
static TTFT: Family = Family::new(
    "switchyard_time_to_first_token_seconds",
    "Time from the start of a streaming upstream call to its first chunk.",
    Kind::Histogram(TTFT_BUCKETS),
    &["provider", "model"],
);
static ATTEMPTS: Family = Family::new(
    "switchyard_attempts_total",
    "Upstream attempts, by provider, model and outcome (`ok` or the error kind).",
    Kind::Counter,
    &["provider", "model", "outcome"],
);
static TOKENS: Family = Family::new(
    "switchyard_tokens_total",
    "Tokens reported by upstreams, by provider, model and type (`prompt` or `completion`).",
    Kind::Counter,
    &["provider", "model", "type"],
);
static COST: Family = Family::new(
    "switchyard_cost_usd_total",
    "Estimated cost in US dollars, by provider and model.",
    Kind::Counter,
    &["provider", "model"],
);
static CACHE_HITS: Family = Family::new(
    "switchyard_cache_hits_total",
    "Jobs answered from the response cache, by model.",
    Kind::Counter,
    &["model"],
);
static RETRIES: Family = Family::new(
    "switchyard_retries_total",
    "Attempts that retried the same target after a failure.",
    Kind::Counter,
    &["provider", "model"],
);
static FALLBACKS: Family = Family::new(
    "switchyard_fallbacks_total",
    "Moves from one provider to the next target of a route after a failure.",
    Kind::Counter,
    &["from_provider", "to_provider"],
);
static CIRCUIT_STATE: Family = Family::new(
    "switchyard_circuit_state",
    "Circuit breaker state per provider target: 0 closed, 1 half-open, 2 open.",
    Kind::Gauge,
    &["provider", "target"],
);
static CACHE_MISSES: Family = Family::new(
    "switchyard_cache_misses_total",
    "Requests looked up in the response cache and not found, by model.",
    Kind::Counter,
    &["model"],
);
static CACHE_ERRORS: Family = Family::new(
    "switchyard_cache_errors_total",
    "Cache lookups and stores skipped because the cache was slow or failed, by operation.",
    Kind::Counter,
    &["op"],
);
static CACHE_BYTES: Family = Family::new(
    "switchyard_cache_stored_bytes_total",
    "Bytes of answers stored in the response cache.",
    Kind::Counter,
    &[],
);
static KEY_COST: Family = Family::new(
    "switchyard_key_cost_usd_total",
    "Estimated cost in US dollars, by key id (`master` for the master key).",
    Kind::Counter,
    &["key"],
);
static LIMITED: Family = Family::new(
    "switchyard_limited_total",
    "Requests refused by a key's limits, by key id and reason (`rate_limit_exceeded`, `budget_exceeded`).",
    Kind::Counter,
    &["key", "reason"],
);
static SOFT_LIMIT: Family = Family::new(
    "switchyard_budget_soft_limit_total",
    "Times a key's spend crossed its soft budget, by key id.",
    Kind::Counter,
    &["key"],
);
static ALL: &[&Family] = &[
    &HTTP_REQUESTS,
    &HTTP_DURATION,
    &JOB_DURATION,
    &JOBS,
    &QUEUE_WAIT,
    &UPSTREAM_DURATION,
    &TTFT,
    &ATTEMPTS,
    &TOKENS,
    &COST,
    &CACHE_HITS,
    &RETRIES,
    &FALLBACKS,
    &CIRCUIT_STATE,
    &CACHE_MISSES,
    &CACHE_ERRORS,
    &CACHE_BYTES,
    &KEY_COST,
    &LIMITED,
    &SOFT_LIMIT,
];

/// The whole registry in Prometheus text format 0.0.4.
pub fn render() -> String {
    let mut out = String::with_capacity(8 * 1024);
    for f in ALL {
        f.encode(&mut out);
    }
    out
}

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `2xx`, `4xx`, ... for a status code.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// One answered HTTP request.
pub fn http_request(route: &str, status: u16, model: &str, provider: &str, took: Duration) {
    let class = status_class(status);
    HTTP_REQUESTS.inc(&[route, class, model, provider]);
    HTTP_DURATION.observe(&[route, class], took.as_secs_f64());
}

/// A job left the queue after `waited`.
pub fn queue_wait(provider: &str, waited: Duration) {
    QUEUE_WAIT.observe(&[provider], waited.as_secs_f64());
}

/// One finished upstream attempt; `outcome` is `ok` or an error kind.
pub fn attempt(provider: &str, model: &str, outcome: &str, took: Duration) {
    ATTEMPTS.inc(&[provider, model, outcome]);
    UPSTREAM_DURATION.observe(&[provider, model, outcome], took.as_secs_f64());
}

/// The first chunk of a stream arrived `after` the call started.
pub fn time_to_first_token(provider: &str, model: &str, after: Duration) {
    TTFT.observe(&[provider, model], after.as_secs_f64());
}

/// Tokens reported by an upstream.
pub fn tokens(provider: &str, model: &str, prompt: u64, completion: u64) {
    if prompt > 0 {
        TOKENS.add(&[provider, model, "prompt"], prompt as f64);
    }
    if completion > 0 {
        TOKENS.add(&[provider, model, "completion"], completion as f64);
    }
}

/// Estimated cost of a job.
pub fn cost(provider: &str, model: &str, usd: f64) {
    COST.add(&[provider, model], usd);
}

/// A cache lookup that found nothing.
pub fn cache_miss(model: &str) {
    CACHE_MISSES.inc(&[model]);
}

/// A cache operation (`get`, `put`, `purge`) skipped after a timeout or failure.
pub fn cache_error(op: &str) {
    CACHE_ERRORS.inc(&[op]);
}

/// An answer stored in the cache.
pub fn cache_stored(bytes: usize) {
    CACHE_BYTES.add(&[], bytes as f64);
}

/// A request refused by a key's limits.
pub fn limited(key: &str, reason: &str) {
    LIMITED.inc(&[key, reason]);
}

/// A key's spend crossed its soft budget.
pub fn budget_soft_limit(key: &str) {
    SOFT_LIMIT.inc(&[key]);
}

/// A job answered from the cache.
pub fn cache_hit(model: &str) {
    CACHE_HITS.inc(&[model]);
}

/// A retry of the same target.
pub fn retry(provider: &str, model: &str) {
    RETRIES.inc(&[provider, model]);
}

/// A fallback from one provider to another target.
pub fn fallback(from_provider: &str, to_provider: &str) {
    FALLBACKS.inc(&[from_provider, to_provider]);
}

/// A finished job (total time since its creation).
pub fn job_finished(provider: &str, model: &str, outcome: &str, took: Duration) {
    JOBS.inc(&[provider, model, outcome]);
    JOB_DURATION.observe(&[provider, model, outcome], took.as_secs_f64());
}

/// Circuit breaker states for [`circuit_state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Circuit {
    /// Calls pass.
    Closed = 0,
    /// Probing after being open.
    HalfOpen = 1,
    /// Calls are refused.
    Open = 2,
}

/// Sets the circuit breaker state of a provider target (`target` is usually the model).
pub fn circuit_state(provider: &str, target: &str, state: Circuit) {
    CIRCUIT_STATE.set(&[provider, target], state as i32 as f64);
}

/// One reading of the JetStream consumers (replaces the previous reading).
#[derive(Debug, Default, Clone)]
pub struct ConsumerReading {
    /// `(provider, num_pending, num_ack_pending)` of each worker consumer.
    pub workers: Vec<(String, u64, u64)>,
    /// `(consumer name, num_pending)` of each auditor consumer.
    pub auditors: Vec<(String, u64)>,
}

/// Appends the JetStream consumer gauges of one reading (kept by each ingress, not in the
/// process-wide registry: two gateways in one process may watch different NATS servers).
pub fn render_consumers(r: &ConsumerReading, out: &mut String) {
    let pending = Family::new(
        "switchyard_consumer_pending",
        "Jobs waiting in JetStream for a provider's workers (consumer num_pending).",
        Kind::Gauge,
        &["provider"],
    );
    let ack_pending = Family::new(
        "switchyard_consumer_ack_pending",
        "Jobs delivered to a provider's workers and not yet acknowledged.",
        Kind::Gauge,
        &["provider"],
    );
    let auditor_lag = Family::new(
        "switchyard_auditor_lag",
        "Events not yet consumed by an auditor (its consumer's num_pending).",
        Kind::Gauge,
        &["consumer"],
    );
    for (p, n, ack) in &r.workers {
        pending.set(&[p], *n as f64);
        ack_pending.set(&[p], *ack as f64);
    }
    for (c, n) in &r.auditors {
        auditor_lag.set(&[c], *n as f64);
    }
    for f in [&pending, &ack_pending, &auditor_lag] {
        f.encode(out);
    }
}

/// Counts what a lifecycle event carries that no other hook sees: cost (`cost_usd`) and
/// cache hits. Called once by the process that emits the event, so nothing double counts.
pub fn from_event(ev: &schemas::Event) {
    let d = &ev.detail;
    let provider = d.provider.as_deref().unwrap_or("");
    let model = d.model.as_deref().unwrap_or("");
    if let Some(usd) = d.cost_usd {
        cost(provider, model, usd);
        if let Some(key) = &d.key_id {
            KEY_COST.add(&[key], usd);
        }
    }
    if ev.kind == schemas::EventKind::CacheHit {
        cache_hit(model);
    }
}
