//! The response cache at the ingress: a request the cache may answer is looked up before its
//! job is published; a hit is answered at once (JSON, or a whole SSE stream for a streaming
//! request) with no provider call and still goes to the request log (`received`,
//! `cache_hit` with the tokens and cost it saved, `completed`, `delivered`); a miss carries
//! a [`schemas::CachePlan`] so the worker that answers stores the answer
//! (`workers::worker::cache`). Only sync and streaming requests are looked up (a queued job
//! is answered by its result, which a hit does not make); every mode stores.
//!
//! Per request: `Cache-Control: no-cache` skips the lookup and stores, `no-store` does
//! neither; `X-Switchyard-Cache-TTL` (seconds) and `X-Switchyard-Cache-Namespace` (a scope
//! inside the caller's key). Answers carry `X-Switchyard-Cache: hit|semantic-hit|miss|bypass`
//! (a semantic hit is a worker's, and with `X-Switchyard-Cache-Similarity`).

use crate::auth::Caller;
use crate::error::GatewayError;
use crate::job::submission::header;
use crate::state::AppState;
use axum::http::HeaderMap;
use broker::cache::Entry;
use broker::telemetry::metrics;
use schemas::{EventDetail, EventKind, Job, Mode, Operation};

/// The answer header saying what the cache did.
pub const CACHE_HEADER: &str = "x-switchyard-cache";
/// The answer header with a semantic hit's cosine similarity.
pub const SIMILARITY_HEADER: &str = "x-switchyard-cache-similarity";
/// The request header asking for another TTL, seconds.
pub const CACHE_TTL_HEADER: &str = "x-switchyard-cache-ttl";
/// The request header naming a namespace inside the caller's key.
pub const CACHE_NAMESPACE_HEADER: &str = "x-switchyard-cache-namespace";

/// The longest TTL a request may ask for.
const MAX_TTL_S: u64 = 7 * 24 * 3600;

/// What the cache does for one request.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The entry's key.
    pub key: String,
    /// Look it up.
    pub lookup: bool,
    /// Store the answer.
    pub store: bool,
    /// How long it stays.
    pub ttl_s: u64,
    /// The semantic threshold, when prompts are also cached by meaning.
    pub semantic: Option<f32>,
}

impl Decision {
    /// The `X-Switchyard-Cache` of an answer that did not come from the cache.
    pub fn label(&self) -> &'static str {
        if self.lookup {
            "miss"
        } else {
            "bypass"
        }
    }
}

/// What the cache does for `job`: nothing when it is off for the model and key, or the
/// operation is not an answer (token counts).
pub fn decide(
    st: &AppState,
    caller: &Caller,
    job: &Job,
    headers: &HeaderMap,
) -> Result<Option<Decision>, GatewayError> {
    if job.op == Operation::CountTokens {
        return Ok(None);
    }
    let cfg = &st.cfg().cache;
    let (on, mut ttl_s) = cfg.policy(&job.model, caller.key_id());
    if !on {
        return Ok(None);
    }
    let control = header(headers, "cache-control")?
        .unwrap_or_default()
        .to_ascii_lowercase();
    let directives: Vec<&str> = control.split(',').map(str::trim).collect();
    let no_store = directives.contains(&"no-store");
    let no_cache = directives.contains(&"no-cache");
    if let Some(t) = header(headers, CACHE_TTL_HEADER)? {
        ttl_s = t
            .parse::<u64>()
            .ok()
            .filter(|t| (1..=MAX_TTL_S).contains(t))
            .ok_or_else(|| {
                GatewayError::invalid(format!(
                    "{CACHE_TTL_HEADER} must be a number of seconds from 1 to {MAX_TTL_S}, got `{t}`."
                ))
            })?;
    }
    let ns = header(headers, CACHE_NAMESPACE_HEADER)?;
    let Some(target) = job.route.first() else {
        return Ok(None);
    };
    let namespace = broker::cache::namespace(ns.as_deref());
    let Some(key) = broker::cache::key(
        caller.key_id(),
        &namespace,
        target,
        &job.body,
        &cfg.exclude_fields,
    ) else {
        return Ok(None);
    };
    let semantic = (job.op == Operation::Chat)
        .then(|| cfg.semantic_threshold(&job.model, caller.key_id()))
        .flatten();
    Ok(Some(Decision {
        key,
        lookup: !no_store && !no_cache && matches!(job.mode, Mode::Sync | Mode::Stream),
        store: !no_store,
        ttl_s,
        semantic,
    }))
}

/// The cached answer of `d`, if there is one; a slow or failing cache is skipped.
pub async fn lookup(st: &AppState, d: &Decision, model: &str) -> Option<Entry> {
    match st.cache().get(&d.key).await {
        Ok(Some(e)) => Some(e),
        Ok(None) => {
            metrics::cache_miss(model);
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "cache lookup skipped");
            metrics::cache_error("get");
            None
        }
    }
}

/// Logs a hit as a whole lifecycle (so the request log has it), and gives back what the
/// job reserved of its key's budget (a hit costs nothing).
pub async fn record_hit(st: &AppState, job: &Job, entry: &Entry) {
    crate::layers::label_request(&job.model, &entry.provider);
    crate::job::publish::emit_received(st, job).await;
    let base = EventDetail {
        provider: Some(entry.provider.clone()),
        model: Some(entry.model.clone()),
        key_id: job.key_id.clone(),
        ..Default::default()
    };
    let hit = EventDetail {
        saved_tokens: entry.usage.as_ref().map(|u| u.total_tokens),
        saved_cost_usd: entry.cost_usd,
        related_job: Some(entry.job.clone()),
        ..base.clone()
    };
    let completed = EventDetail {
        status: Some(200),
        duration_ms: Some(schemas::now_ms().saturating_sub(job.created_ms)),
        ..base.clone()
    };
    let events = st.events();
    events.emit(&job.id, EventKind::CacheHit, hit).await;
    events.emit(&job.id, EventKind::Completed, completed).await;
    events.emit(&job.id, EventKind::Delivered, base).await;
    crate::auth::limits::release(st, job).await;
}

/// Logs a miss once the job is published.
pub async fn record_miss(st: &AppState, job: &Job) {
    let detail = EventDetail {
        key_id: job.key_id.clone(),
        ..Default::default()
    };
    st.events()
        .emit(&job.id, EventKind::CacheMiss, detail)
        .await;
}
