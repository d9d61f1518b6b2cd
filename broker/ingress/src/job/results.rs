//! One subscription per ingress for every job result, handed to the request waiting for it.
//!
//! A sync request used to open (and close) a NATS subscription on `sy.results.<id>` of its
//! own; at thousands of requests a second the SUB/UNSUB churn cost the server and the client
//! more than the results themselves. The ingress now subscribes once to
//! `sy.results.<ingress>.*`, where workers send the results of the jobs it published for a
//! waiting client (the job's `reply`), and a waiting request registers its job id here before
//! the job is published, so the result cannot slip past. Other ingresses' results and queued
//! jobs' never reach it.
//!
//! A result published while this ingress is disconnected from NATS is not seen here; the
//! waiter then looks the result up in `SY_RESULTS` when its deadline passes
//! ([`super::wait::Waiter::result`]).

use crate::error::{unavailable, GatewayError};
use axum::body::Bytes;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Requests waiting for one job: usually one, more when an idempotent resubmit waits for
/// the same job as the original request.
type Waiting = Vec<(u64, oneshot::Sender<Bytes>)>;

/// The ingress's result subscription and the requests waiting on it.
#[derive(Default)]
pub struct ResultRouter {
    pending: Mutex<HashMap<String, Waiting>>,
    next: AtomicU64,
}

impl ResultRouter {
    /// Subscribes to every result under `subjects` and starts routing them. The subscription
    /// is queued on `client` before this returns, so a job published afterwards on the same
    /// client cannot have its result arrive before it.
    pub async fn start(
        client: &async_nats::Client,
        subjects: &schemas::Subjects,
        node: &str,
    ) -> Result<Arc<Self>, GatewayError> {
        let all = subjects.replies(node);
        let prefix_len = all.len() - 1;
        let mut sub = client.subscribe(all).await.map_err(unavailable)?;
        let router = Arc::new(Self::default());
        let weak = Arc::downgrade(&router);
        tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                let Some(router) = weak.upgrade() else { break };
                if let Some(id) = msg.subject.as_str().get(prefix_len..) {
                    router.deliver(id, msg.payload);
                }
            }
        });
        Ok(router)
    }

    /// Registers a wait for `id`'s result; the registration ends when the slot is dropped.
    pub fn register(self: &Arc<Self>, id: &str) -> ResultSlot {
        let (tx, rx) = oneshot::channel();
        let token = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock()
            .entry(id.to_string())
            .or_default()
            .push((token, tx));
        ResultSlot {
            router: self.clone(),
            id: id.to_string(),
            token,
            rx: Some(rx),
        }
    }

    /// Requests waiting now.
    pub fn waiting(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    fn deliver(&self, id: &str, payload: Bytes) {
        let waiting = self.lock().remove(id);
        for (_, tx) in waiting.into_iter().flatten() {
            let _ = tx.send(payload.clone());
        }
    }

    fn unregister(&self, id: &str, token: u64) {
        let mut pending = self.lock();
        if let Some(waiting) = pending.get_mut(id) {
            waiting.retain(|(t, _)| *t != token);
            if waiting.is_empty() {
                pending.remove(id);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiting>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One request's wait for its job's result.
pub struct ResultSlot {
    router: Arc<ResultRouter>,
    id: String,
    token: u64,
    rx: Option<oneshot::Receiver<Bytes>>,
}

impl ResultSlot {
    /// The job waited for.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The raw result message when it arrives; `None` once it was taken (or the router
    /// stopped). Cancel-safe.
    pub async fn recv(&mut self) -> Option<Bytes> {
        let rx = self.rx.as_mut()?;
        let got = rx.await.ok();
        self.rx = None;
        got
    }
}

impl Drop for ResultSlot {
    fn drop(&mut self) {
        if self.rx.is_some() {
            self.router.unregister(&self.id, self.token);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_registered_wait_gets_its_payload_once_and_others_are_dropped() {
        let router = Arc::new(ResultRouter::default());
        let mut a = router.register("a");
        let b = router.register("b");
        assert_eq!(router.waiting(), 2);
        router.deliver("zzz", Bytes::from_static(b"ignored"));
        router.deliver("a", Bytes::from_static(b"result-a"));
        assert_eq!(a.recv().await.as_deref(), Some(&b"result-a"[..]));
        assert_eq!(a.recv().await, None, "a slot yields its result once");
        drop(b);
        assert_eq!(router.waiting(), 0, "a dropped slot unregisters");
    }

    #[tokio::test]
    async fn two_waits_for_one_job_both_get_the_result() {
        let router = Arc::new(ResultRouter::default());
        let mut first = router.register("job");
        let mut resubmit = router.register("job");
        let gone = router.register("job");
        drop(gone);
        assert_eq!(router.waiting(), 2, "dropping one wait leaves the others");
        router.deliver("job", Bytes::from_static(b"r"));
        assert_eq!(first.recv().await.as_deref(), Some(&b"r"[..]));
        assert_eq!(resubmit.recv().await.as_deref(), Some(&b"r"[..]));
        assert_eq!(router.waiting(), 0);
    }

    #[tokio::test]
    async fn recv_is_cancel_safe() {
        let router = Arc::new(ResultRouter::default());
        let mut a = router.register("a");
        let early = tokio::time::timeout(std::time::Duration::from_millis(10), a.recv()).await;
        assert!(early.is_err(), "nothing delivered yet");
        router.deliver("a", Bytes::from_static(b"late"));
        assert_eq!(a.recv().await.as_deref(), Some(&b"late"[..]));
    }
}
