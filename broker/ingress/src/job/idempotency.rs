//! `Idempotency-Key`: a retried submit runs once. A key is bound to the route and to a hash
//! of the body it was first used with, as payment APIs do: the same key with another route
//! or body answers 409 instead of someone else's answer.
//!
//! The claim is the first thing a submit does (before any event), so a duplicate leaves no
//! record behind; a claim whose job could not be published is released, and a claim left
//! by a process that died before publishing is taken over after [`ABANDONED_AFTER_MS`].

use crate::error::{unavailable, GatewayError};
use crate::state::AppState;
use async_nats::jetstream::kv;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How old a claim whose job never reached the stream must be before a resubmit takes it
/// over (its process died between claiming and publishing).
pub const ABANDONED_AFTER_MS: u64 = 10_000;

/// What a key is bound to, stored in `sy_idempotency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// The job the key ran.
    pub job: String,
    /// The route it came in on.
    pub route: String,
    /// SHA-256 of the body, hex.
    pub body_sha256: String,
    /// When it was claimed.
    pub claimed_ms: u64,
}

impl Binding {
    /// A binding of `job` to `route` and `body`.
    pub fn new(job: &str, route: &str, body: &[u8]) -> Self {
        Self {
            job: job.to_string(),
            route: route.to_string(),
            body_sha256: hex(&Sha256::digest(body)),
            claimed_ms: schemas::now_ms(),
        }
    }

    /// Whether a resubmit of `other` may share this job.
    pub fn same_request(&self, other: &Binding) -> bool {
        self.route == other.route && self.body_sha256 == other.body_sha256
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The bucket key of an `Idempotency-Key` of a caller (`key_id`, anonymous without keys).
pub fn kv_key(key_id: Option<&str>, key: &str) -> String {
    format!("{}.{}", key_id.unwrap_or("anon"), hex(key.as_bytes()))
}

/// What claiming found.
#[derive(Debug)]
pub enum Claim {
    /// The key is this submit's now.
    New,
    /// The key ran this job for the same request.
    Existing(String),
}

/// Claims `key` for `binding`: [`Claim::New`], the earlier job of the same request, or 409
/// when the key was used for another route or body.
pub async fn claim(st: &AppState, key: &str, binding: &Binding) -> Result<Claim, GatewayError> {
    let bucket = &st.topo().idempotency;
    let value = serde_json::to_vec(binding).map_err(|e| GatewayError::Internal(e.to_string()))?;
    match bucket.create(key, value.clone().into()).await {
        Ok(_) => return Ok(Claim::New),
        Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
        Err(e) => return Err(unavailable(e)),
    }
    let Some(entry) = bucket.entry(key).await.map_err(unavailable)? else {
        // Expired or released between the two calls: try once more.
        return match bucket.create(key, value.into()).await {
            Ok(_) => Ok(Claim::New),
            Err(e) => Err(unavailable(e)),
        };
    };
    let earlier = match serde_json::from_slice::<Binding>(&entry.value) {
        Ok(b) => b,
        // A claim of an older version holds the bare job id and no binding.
        Err(_) => {
            return Ok(Claim::Existing(
                String::from_utf8_lossy(&entry.value).into(),
            ))
        }
    };
    if !earlier.same_request(binding) {
        let what = if earlier.route != binding.route {
            format!("on {}", earlier.route)
        } else {
            "with a different body".to_string()
        };
        return Err(GatewayError::Conflict(format!(
            "This Idempotency-Key was used {what} (job {}). Use a new key for a different request, or resend the same request to get that job's answer.",
            earlier.job
        )));
    }
    if abandoned(st, &earlier).await {
        tracing::warn!(job_id = %earlier.job, "an idempotency claim whose job never reached the stream is taken over");
        bucket
            .update(key, value.into(), entry.revision)
            .await
            .map_err(|_| {
                GatewayError::Conflict(
                    "Another request with this Idempotency-Key is being submitted right now; send it again shortly.".into(),
                )
            })?;
        return Ok(Claim::New);
    }
    Ok(Claim::Existing(earlier.job))
}

/// Whether the claimed job never reached the jobs stream and its claim is old enough that
/// its process must have died.
async fn abandoned(st: &AppState, b: &Binding) -> bool {
    if schemas::now_ms().saturating_sub(b.claimed_ms) < ABANDONED_AFTER_MS {
        return false;
    }
    let never_queued = matches!(
        super::wait::job_events(st, &b.job, 16).await,
        Ok(events) if events.iter().all(|e| e.kind == schemas::EventKind::Received)
    );
    never_queued && matches!(super::wait::stored_result(st, &b.job).await, Ok(None))
}

/// Releases a claim whose job could not be published, so the client's retry runs it.
pub async fn release(st: &AppState, key: &str) {
    if let Err(e) = st.topo().idempotency.delete(key).await {
        tracing::warn!(error = %e, "cannot release an idempotency claim; a retry with this key waits for a job that never ran until the claim expires");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binding_is_the_route_and_the_body() {
        let a = Binding::new("j1", "/v1/chat/completions", b"{\"a\":1}");
        assert!(a.same_request(&Binding::new("j2", "/v1/chat/completions", b"{\"a\":1}")));
        assert!(!a.same_request(&Binding::new("j2", "/v1/embeddings", b"{\"a\":1}")));
        assert!(!a.same_request(&Binding::new("j2", "/v1/chat/completions", b"{\"a\":2}")));
        assert_eq!(kv_key(None, "k é"), "anon.6b20c3a9");
    }
}
