//! Cancellation: job ids put in the `sy_cancel` KV bucket (by `POST /v1/jobs/{id}/cancel` or a
//! client that disconnected) are watched by every worker; a queued job is then answered as
//! cancelled when dequeued, a running one has its upstream call dropped.

use async_nats::jetstream::kv;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const KEEP: Duration = Duration::from_secs(24 * 3600);

/// Cancelled ids and the tokens of running jobs.
#[derive(Default)]
pub struct Cancels {
    cancelled: Mutex<HashMap<String, Instant>>,
    running: Mutex<HashMap<String, CancellationToken>>,
}

/// Removes a running job's token when the job ends.
pub struct Running {
    cancels: Arc<Cancels>,
    id: String,
    /// Fires when the job is cancelled.
    pub token: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.cancels
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

impl Cancels {
    /// Whether the job was cancelled.
    pub fn is_cancelled(&self, id: &str) -> bool {
        self.cancelled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(id)
    }

    /// Registers a running job; its token fires on cancellation.
    pub fn start(self: &Arc<Self>, id: &str) -> Running {
        let token = CancellationToken::new();
        if self.is_cancelled(id) {
            token.cancel();
        }
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), token.clone());
        Running {
            cancels: self.clone(),
            id: id.to_string(),
            token,
        }
    }

    /// Marks a job cancelled and fires its token if it runs here.
    pub fn cancel(&self, id: &str) {
        let now = Instant::now();
        {
            let mut c = self.cancelled.lock().unwrap_or_else(|p| p.into_inner());
            if c.len() > 100_000 {
                c.retain(|_, t| now.duration_since(*t) < KEEP);
            }
            c.insert(id.to_string(), now);
        }
        if let Some(t) = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
        {
            t.cancel();
        }
    }

    /// Loads the ids already in the cancel bucket.
    pub async fn load(&self, bucket: &kv::Store) -> Result<(), async_nats::Error> {
        let mut keys = bucket.keys().await?;
        while let Some(k) = keys.next().await {
            self.cancel(&k?);
        }
        Ok(())
    }

    /// Follows the cancel bucket (current keys first, then changes) until `stop`.
    pub async fn watch(self: Arc<Self>, bucket: kv::Store, stop: CancellationToken) {
        while !stop.is_cancelled() {
            let mut entries = match bucket.watch_all().await {
                Ok(w) => w,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch the cancel bucket; retrying");
                    tokio::select! { _ = stop.cancelled() => return, _ = tokio::time::sleep(Duration::from_secs(1)) => continue }
                }
            };
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    e = entries.next() => match e {
                        Some(Ok(entry)) if entry.operation == kv::Operation::Put => self.cancel(&entry.key),
                        Some(Ok(_)) => {}
                        Some(Err(e)) => { tracing::warn!(error = %e, "cancel watch error"); break; }
                        None => break,
                    }
                }
            }
        }
    }
}
