//! Admission: a virtual key's models, requests and tokens per minute, and budget, checked
//! before its job is published, against counters every ingress shares (JetStream KV with
//! compare-and-set, see `broker::access::counter`).
//!
//! - Requests per minute are counted here, one per admitted request.
//! - Tokens per minute are counted by the worker when the job finishes (its usage, into the
//!   window the job was admitted in); a key over its tokens for the minute is refused here.
//! - A budget is reserved here (the prompt's size and `max_tokens` at the model's price)
//!   and settled by the worker from the real cost, so concurrent requests cannot overshoot a
//!   hard budget by more than the difference between their reservation and their cost.

use super::Caller;
use crate::error::GatewayError;
use crate::state::AppState;
use broker::access::counter::{self, Added};
use broker::access::keys::KeyRecord;
use broker::access::period;
use broker::access::pricing::{self, micros};
use schemas::{Charge, Job, Operation};

/// Names the job's key, and admits it against the key's models and limits (setting what the
/// worker settles). Master and open callers have no limits.
pub async fn admit(st: &AppState, caller: &Caller, job: &mut Job) -> Result<(), GatewayError> {
    job.key_id = caller.key_id().map(str::to_string);
    let Some(key) = caller.key() else {
        return Ok(());
    };
    if !key.allows(&job.model) {
        return Err(GatewayError::Forbidden(format!(
            "This key may not use the model `{}`; it may use {}. Ask an admin to add it to the key's `models`.",
            job.model,
            key.models.join(", ")
        )));
    }
    let now = schemas::now_ms();
    let (minute, left_s) = period::minute(now);
    if let Some(rpm) = key.rpm {
        let name = format!("rpm.{}.{minute}", key.id);
        if let Added::Refused(_) = add(st, Bucket::Rates, &name, 1, Some(rpm as i64)).await? {
            return Err(limited(
                format!("Rate limit reached: this key may send {rpm} requests per minute. Try again in {left_s} s."),
                "rate_limit_exceeded",
                left_s,
            ));
        }
    }
    let mut charge = Charge::default();
    if let Some(tpm) = key.tpm {
        let name = format!("tpm.{}.{minute}", key.id);
        let used = counter::get(&st.topo().rates, &name)
            .await
            .map_err(unavailable)?;
        if used >= tpm as i64 {
            return Err(limited(
                format!("Rate limit reached: this key may use {tpm} tokens per minute and used {used}. Try again in {left_s} s."),
                "rate_limit_exceeded",
                left_s,
            ));
        }
        charge.tokens = Some(name);
    }
    if key.budget_usd.is_some() || key.soft_budget_usd.is_some() {
        reserve(st, key, job, now, &mut charge).await?;
    }
    job.charge = (charge != Charge::default()).then_some(charge);
    Ok(())
}

/// Reserves the request's estimated cost in the key's budget period.
async fn reserve(
    st: &AppState,
    key: &KeyRecord,
    job: &Job,
    now_ms: u64,
    charge: &mut Charge,
) -> Result<(), GatewayError> {
    let (start, end) = key.budget_period.bounds((now_ms / 1000) as i64);
    let name = format!("spend.{}.{start}", key.id);
    let estimate = estimate_micros(st, job);
    let cap = key.budget_usd.map(micros);
    match add(st, Bucket::Spend, &name, estimate, cap).await? {
        Added::Refused(spent) => {
            let left_s = (end - (now_ms / 1000) as i64).max(1) as u64;
            Err(limited(
                format!(
                    "Budget exceeded: this key has spent ${:.4} of its ${:.2} {:?} budget (this request would reserve up to ${:.4}; a lower `max_tokens` reserves less). It resets in {}; ask an admin to raise `budget_usd`.",
                    spent as f64 / 1e6,
                    key.budget_usd.unwrap_or(0.0),
                    key.budget_period,
                    estimate as f64 / 1e6,
                    human(left_s)
                ),
                "budget_exceeded",
                left_s,
            ))
        }
        Added::Now(total) => {
            if let Some(soft) = key.soft_budget_usd.map(micros) {
                // Once per period: a settled reservation may dip under and cross again.
                let marker = format!("soft.{}.{start}", key.id);
                if total >= soft && st.topo().spend.create(&marker, "1".into()).await.is_ok() {
                    crate::admin::audit::soft_limit(st, key, total).await;
                }
            }
            charge.spend = Some(name);
            charge.reserved_micro_usd = estimate;
            Ok(())
        }
    }
}

/// What a job may cost at most, in micro-USD: its prompt (a token per four bytes of body)
/// and its `max_tokens` (or `auth.default_max_tokens`) at its first target's price; 0 when
/// the model has no price.
fn estimate_micros(st: &AppState, job: &Job) -> i64 {
    #[derive(serde::Deserialize)]
    struct Caps {
        max_tokens: Option<u64>,
        max_completion_tokens: Option<u64>,
    }
    let Some(t) = job.route.first() else { return 0 };
    let Some(price) = st.prices().price(&t.provider, &t.model) else {
        return 0;
    };
    let prompt = job.body.get().len() as u64 / 4;
    let output = match job.op {
        Operation::Embeddings => 0,
        _ => serde_json::from_str::<Caps>(job.body.get())
            .ok()
            .and_then(|c| c.max_completion_tokens.or(c.max_tokens))
            .unwrap_or(st.cfg().auth.default_max_tokens),
    };
    micros(pricing::cost(
        &price,
        &schemas::openai::Usage::new(prompt, output),
    ))
}

/// Gives back what a job that was never published reserved.
pub async fn release(st: &AppState, job: &Job) {
    let Some(Charge {
        spend: Some(name),
        reserved_micro_usd,
        ..
    }) = &job.charge
    else {
        return;
    };
    if *reserved_micro_usd != 0 {
        if let Err(e) = counter::add(&st.topo().spend, name, -reserved_micro_usd, None).await {
            tracing::warn!(job_id = %job.id, error = %e, "cannot give back a budget reservation");
        }
    }
}

enum Bucket {
    Rates,
    Spend,
}

async fn add(
    st: &AppState,
    bucket: Bucket,
    name: &str,
    delta: i64,
    cap: Option<i64>,
) -> Result<Added, GatewayError> {
    let kv = match bucket {
        Bucket::Rates => &st.topo().rates,
        Bucket::Spend => &st.topo().spend,
    };
    counter::add(kv, name, delta, cap)
        .await
        .map_err(unavailable)
}

fn unavailable(e: counter::CounterError) -> GatewayError {
    GatewayError::Unavailable(format!(
        "The key's limits cannot be checked: {e}. Try again shortly; check that NATS is reachable."
    ))
}

fn limited(message: String, code: &'static str, retry_after_s: u64) -> GatewayError {
    GatewayError::Limited {
        message,
        code,
        retry_after_s,
    }
}

/// `3d 4h`, `5h 12m`, `40 s`.
fn human(s: u64) -> String {
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}
