//! What the ingress knows of its targets: circuit states (followed from the `sy_circuits` KV
//! bucket that workers write) and the jobs this process has in flight per provider.

use crate::routing::TargetHealth;
use async_nats::jetstream::kv;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Shared, cheaply cloned view of target health.
#[derive(Clone, Default)]
pub struct Health {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    circuits: Mutex<HashMap<String, String>>,
    busy: Mutex<HashMap<String, usize>>,
}

/// Counts a job in flight on a provider until dropped.
pub struct InFlight {
    health: Health,
    provider: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut b = self
            .health
            .inner
            .busy
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = b.get_mut(&self.provider) {
            *n = n.saturating_sub(1);
        }
    }
}

impl Health {
    /// Counts one more job in flight on `provider`.
    pub fn start(&self, provider: &str) -> InFlight {
        *self
            .inner
            .busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(provider.to_string())
            .or_default() += 1;
        InFlight {
            health: self.clone(),
            provider: provider.to_string(),
        }
    }

    /// Circuit states by target `provider/model` (`closed`, `open`, `half_open`).
    pub fn circuits(&self) -> HashMap<String, String> {
        self.inner
            .circuits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Follows the circuits bucket until the process ends.
    pub fn follow(&self, bucket: kv::Store) {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                match bucket.watch_all().await {
                    Ok(mut w) => {
                        while let Some(Ok(e)) = w.next().await {
                            let rec = serde_json::from_slice::<serde_json::Value>(&e.value).ok();
                            let state = rec
                                .as_ref()
                                .and_then(|v| v["state"].as_str().map(str::to_string));
                            let target = rec
                                .as_ref()
                                .and_then(|v| v["target"].as_str().map(str::to_string));
                            let mut c = me.inner.circuits.lock().unwrap_or_else(|p| p.into_inner());
                            match (e.operation, target, state) {
                                (kv::Operation::Put, Some(t), Some(s)) => {
                                    c.insert(t, s);
                                }
                                _ => {
                                    c.retain(|t, _| {
                                        t.replace(
                                            |ch: char| {
                                                !ch.is_ascii_alphanumeric() && !"-/_=.".contains(ch)
                                            },
                                            "_",
                                        ) != e.key
                                    });
                                }
                            }
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
        self.inner
            .circuits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(target)
            .is_some_and(|s| s == "open")
    }
    fn busy(&self, provider: &str) -> usize {
        self.inner
            .busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(provider)
            .copied()
            .unwrap_or(0)
    }
}
