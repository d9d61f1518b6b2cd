//! Settling a finished job against its key's limits: its tokens into the tokens-per-minute
//! window it was admitted in, and its real cost into the budget in place of what the ingress
//! reserved. Runs once per job, by the worker that stored its result.

use super::Shared;
use broker::access::counter;
use broker::access::pricing::micros;
use schemas::{Job, JobResult};

/// Settles `job`'s charge (nothing when it has none).
pub async fn charge(shared: &Shared, job: &Job, r: &JobResult) {
    let Some(charge) = &job.charge else { return };
    if let Some(name) = &charge.tokens {
        let tokens = r.usage.as_ref().map_or(0, |u| u.total_tokens) as i64;
        if tokens > 0 {
            if let Err(e) = counter::add(&shared.topo.rates, name, tokens, None).await {
                tracing::warn!(error = %e, "cannot count the job's tokens against its key's limit");
            }
        }
    }
    if let Some(name) = &charge.spend {
        let delta = micros(r.cost_usd.unwrap_or(0.0)) - charge.reserved_micro_usd;
        if delta != 0 {
            if let Err(e) = counter::add(&shared.topo.spend, name, delta, None).await {
                tracing::warn!(error = %e, "cannot settle the job's cost against its key's budget");
            }
        }
    }
}
