//! What the ingress knows of its targets: circuit states (followed from the `sy_circuits` KV
//! bucket that workers write) and the jobs this process has in flight per provider.
//!
//! An open circuit counts as open only until its record's `open_until_ms`: then the worker
//! that opened it lets a probe through, and if that worker died meanwhile nobody would ever
//! write the circuit closed, so the ingress stops trusting the record rather than routing
//! around the target forever.

use crate::routing::TargetHealth;
use async_nats::jetstream::kv;
use futures::StreamExt;
use schemas::{CircuitRecord, CircuitState};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Shared, cheaply cloned view of target health.
#[derive(Clone, Default)]
pub struct Health {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// By KV key (the target's [`CircuitRecord::key`]).
    circuits: Mutex<HashMap<String, CircuitRecord>>,
    busy: Mutex<HashMap<String, usize>>,
}

/// A circuit as `/ready` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct CircuitView {
    /// `closed`, `open` or `half_open`; an open circuit past its open period shows as
    /// `half_open` (its next call is a probe).
    pub state: CircuitState,
    /// For an open circuit, when its open period ends (ms since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_until_ms: Option<u64>,
}

/// Counts a job in flight on a provider until dropped.
pub struct InFlight {
    health: Health,
    provider: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut b = lock(&self.health.inner.busy);
        if let Some(n) = b.get_mut(&self.provider) {
            *n = n.saturating_sub(1);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Health {
    /// Counts one more job in flight on `provider`.
    pub fn start(&self, provider: &str) -> InFlight {
        *lock(&self.inner.busy)
            .entry(provider.to_string())
            .or_default() += 1;
        InFlight {
            health: self.clone(),
            provider: provider.to_string(),
        }
    }

    /// Circuit states by target `provider/model`, as of `now_ms`.
    pub fn circuits_at(&self, now_ms: u64) -> BTreeMap<String, CircuitView> {
        lock(&self.inner.circuits)
            .values()
            .map(|r| {
                let open = r.is_open_at(now_ms);
                let state = match r.state {
                    CircuitState::Open if !open => CircuitState::HalfOpen,
                    s => s,
                };
                let view = CircuitView {
                    state,
                    open_until_ms: r.open_until_ms.filter(|_| open),
                };
                (r.target.clone(), view)
            })
            .collect()
    }

    /// Circuit states by target now.
    pub fn circuits(&self) -> BTreeMap<String, CircuitView> {
        self.circuits_at(schemas::now_ms())
    }

    /// Whether `provider` can take no request at `now_ms`: it has circuits on record and
    /// every one of them is open.
    pub fn provider_down_at(&self, provider: &str, now_ms: u64) -> bool {
        let circuits = lock(&self.inner.circuits);
        let mut of_provider = circuits
            .values()
            .filter(|r| r.target.split_once('/').map(|(p, _)| p) == Some(provider))
            .peekable();
        of_provider.peek().is_some() && of_provider.all(|r| r.is_open_at(now_ms))
    }

    /// Applies one change of the circuits bucket.
    fn apply(&self, key: &str, op: kv::Operation, value: &[u8]) {
        let mut c = lock(&self.inner.circuits);
        match op {
            kv::Operation::Put => match serde_json::from_slice::<CircuitRecord>(value) {
                Ok(rec) => {
                    c.insert(key.to_string(), rec);
                }
                Err(e) => tracing::warn!(key, error = %e, "undecodable circuit record; ignored"),
            },
            kv::Operation::Delete | kv::Operation::Purge => {
                c.remove(key);
            }
        }
    }

    /// Follows the circuits bucket until the process ends.
    pub fn follow(&self, bucket: kv::Store) {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                match bucket.watch_all().await {
                    Ok(mut w) => {
                        while let Some(Ok(e)) = w.next().await {
                            me.apply(&e.key, e.operation, &e.value);
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "cannot watch circuits; retrying"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
}

impl TargetHealth for Health {
    fn is_open(&self, target: &str) -> bool {
        lock(&self.inner.circuits)
            .get(&CircuitRecord::key(target))
            .is_some_and(|r| r.is_open_at(schemas::now_ms()))
    }
    fn busy(&self, provider: &str) -> usize {
        lock(&self.inner.busy).get(provider).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(h: &Health, target: &str, state: CircuitState, open_until_ms: Option<u64>) {
        let rec = CircuitRecord {
            target: target.into(),
            state,
            node: "w1".into(),
            ts_ms: 1_000,
            open_until_ms,
        };
        let bytes = serde_json::to_vec(&rec).unwrap_or_default();
        h.apply(&CircuitRecord::key(target), kv::Operation::Put, &bytes);
    }

    #[test]
    fn an_open_circuit_is_trusted_only_until_its_open_period_ends() {
        let h = Health::default();
        let now = schemas::now_ms();
        put(&h, "p/a", CircuitState::Open, Some(now + 60_000));
        put(&h, "p/b", CircuitState::Open, Some(now - 1));
        assert!(h.is_open("p/a"));
        assert!(!h.is_open("p/b"), "its worker never closed it: expired");
        assert_eq!(h.circuits()["p/b"].state, CircuitState::HalfOpen);
        assert!(!h.provider_down_at("p", now), "p/b may take a probe");
        put(&h, "p/b", CircuitState::Open, Some(now + 60_000));
        assert!(h.provider_down_at("p", now));
        assert!(!h.provider_down_at("q", now), "no circuit on record: up");
        h.apply(&CircuitRecord::key("p/b"), kv::Operation::Delete, b"");
        assert!(!h.circuits().contains_key("p/b"));
    }
}
