//! Storing a finished job's answer in the response cache, when the ingress planned it
//! (`Job::cache`: the key and TTL). Only completed answers under `cache.max_entry_bytes` are
//! stored; a slow or failing cache is skipped and counted, never a failed job.

use super::Shared;
use broker::cache::Entry;
use broker::telemetry::metrics;
use schemas::{Job, JobResult, JobState};

/// Stores `r`'s answer under `job`'s cache plan.
pub async fn store(shared: &Shared, job: &Job, r: &JobResult) {
    let Some(plan) = &job.cache else { return };
    let (Some(response), JobState::Completed) = (&r.response, r.status) else {
        return;
    };
    if response.get().len() > shared.cache_max_bytes {
        return;
    }
    let now = schemas::now_ms();
    let entry = Entry {
        response: response.clone(),
        usage: r.usage.clone(),
        cost_usd: r.cost_usd,
        provider: r.provider.clone().unwrap_or_default(),
        model: r.model.clone().unwrap_or_default(),
        job: job.id.clone(),
        created_ms: now,
        expires_ms: now + plan.ttl_s * 1000,
    };
    match shared.cache.put(&plan.key, &entry, plan.ttl_s).await {
        Ok(0) => {}
        Ok(n) => metrics::cache_stored(n),
        Err(e) => {
            tracing::warn!(error = %e, "the answer was not cached");
            metrics::cache_error("put");
        }
    }
}
