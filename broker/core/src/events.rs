//! Publishing lifecycle events off the critical path.
//!
//! The caller encodes an event and publishes it to JetStream with a reply subject under the
//! sink's own inbox (`<inbox>.<seq>`); one task matches the stream's acks as they come back.
//! At most [`MAX_IN_FLIGHT`] events are unconfirmed, so a slow server slows event producers
//! down instead of growing memory. An event the stream refuses, or does not confirm within
//! [`ACK_TIMEOUT`], is logged with its job id. Publishing from the caller (not through a
//! channel to a publisher task) saves a task wake-up per event.
//!
//! This is what `jetstream::Context::publish` does, minus a timer, a oneshot channel and a
//! full JSON decode per event: six events per job made those a tenth of the gateway's CPU in
//! the load test. An ack is only decoded when it is not a plain success.

use futures::StreamExt;
use schemas::{Event, EventDetail, EventKind, Subjects};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// How long the stream has to confirm an event before it is logged as unconfirmed.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Unacknowledged event publishes allowed at once.
pub const MAX_IN_FLIGHT: usize = 1000;

/// A cheap handle to emit lifecycle events.
#[derive(Clone)]
pub struct EventSink {
    inner: Arc<Inner>,
}

struct Inner {
    client: async_nats::Client,
    /// Acks come back on `<inbox>.<seq>`; `None` when that subscription failed.
    inbox: Option<String>,
    subjects: Subjects,
    node: Arc<str>,
    seq: AtomicU64,
    permits: Arc<Semaphore>,
    unconfirmed: Mutex<Unconfirmed>,
}

/// Events sent and not yet confirmed, by sequence (so oldest first): when sent, the job, and
/// the in-flight permit the entry holds until it is confirmed or expires.
type Unconfirmed = BTreeMap<u64, (Instant, String, OwnedSemaphorePermit)>;

impl EventSink {
    /// Subscribes to the acks and starts the task that matches them.
    pub async fn start(js: async_nats::jetstream::Context, subjects: Subjects, node: &str) -> Self {
        let client = js.client();
        let inbox = client.new_inbox();
        let acks = match client.subscribe(format!("{inbox}.*")).await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "cannot subscribe to event acks; events are published unconfirmed");
                None
            }
        };
        let inner = Arc::new(Inner {
            client,
            inbox: acks.as_ref().map(|_| inbox),
            subjects,
            node: node.into(),
            seq: AtomicU64::new(0),
            permits: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            unconfirmed: Mutex::new(Unconfirmed::new()),
        });
        if let Some(acks) = acks {
            tokio::spawn(ack_loop(Arc::downgrade(&inner), acks));
        }
        Self { inner }
    }

    /// This process's node name.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// Emits `kind` for `job` with `detail`, stamped now with this node.
    pub async fn emit(&self, job: &str, kind: EventKind, detail: EventDetail) {
        self.send(Event::new(job, kind, &self.inner.node).with(detail))
            .await;
    }

    /// Emits a prepared event: waits only while [`MAX_IN_FLIGHT`] events are unconfirmed.
    pub async fn send(&self, ev: Event) {
        crate::telemetry::metrics::from_event(&ev);
        let payload = match serde_json::to_vec(&ev) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(job_id = %ev.job, error = %e, "cannot encode event");
                return;
            }
        };
        let inner = &self.inner;
        let subject = inner.subjects.events(&ev.job);
        let Some(inbox) = &inner.inbox else {
            if let Err(e) = inner.client.publish(subject, payload.into()).await {
                tracing::warn!(job_id = %ev.job, error = %e, "cannot publish event");
            }
            return;
        };
        let Ok(permit) = inner.permits.clone().acquire_owned().await else {
            return;
        };
        let seq = inner.seq.fetch_add(1, Ordering::Relaxed);
        inner
            .lock()
            .insert(seq, (Instant::now(), ev.job.clone(), permit));
        let reply = format!("{inbox}.{seq}");
        if let Err(e) = inner
            .client
            .publish_with_reply(subject, reply, payload.into())
            .await
        {
            inner.lock().remove(&seq);
            tracing::warn!(job_id = %ev.job, error = %e, "cannot publish event");
        }
    }

    /// Flushes and waits (at most `timeout`) until every event sent so far is confirmed; for
    /// shutdown, so the last jobs' events are stored before the process exits.
    pub async fn settle(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, async {
            let _ = self.inner.client.flush().await;
            while !self.inner.lock().is_empty() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        let left = self.inner.lock().len();
        if left > 0 {
            tracing::warn!(events = left, "events still unconfirmed at shutdown");
        }
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Unconfirmed> {
        self.unconfirmed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Matches acks to their events and expires the ones never confirmed, while the sink lives.
async fn ack_loop(sink: Weak<Inner>, mut acks: async_nats::Subscriber) {
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            ack = acks.next() => {
                let Some(ack) = ack else { break };
                let Some(inner) = sink.upgrade() else { break };
                confirm(&mut inner.lock(), &ack);
            }
            _ = sweep.tick() => {
                let Some(inner) = sink.upgrade() else { break };
                expire(&mut inner.lock(), Instant::now());
            }
        }
    }
}

/// Matches an ack to its event; logs a refusal.
fn confirm(unconfirmed: &mut Unconfirmed, ack: &async_nats::Message) {
    let Some(seq) = ack
        .subject
        .rsplit('.')
        .next()
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return;
    };
    let Some((_, job, _permit)) = unconfirmed.remove(&seq) else {
        return;
    };
    if let Some(problem) = refusal(ack) {
        tracing::warn!(job_id = %job, error = %problem, "event not stored");
    }
}

/// Why the stream did not store an event, or `None` for a plain success.
fn refusal(ack: &async_nats::Message) -> Option<String> {
    if let Some(status) = ack.status {
        if status == async_nats::StatusCode::NO_RESPONDERS {
            return Some("no stream answered (is SY_EVENTS there?)".into());
        }
        if !status.is_success() {
            return Some(format!("status {status}"));
        }
    }
    let body = &ack.payload[..];
    if !body.windows(7).any(|w| w == b"\"error\"") {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct ErrorAck {
        error: ErrorBody,
    }
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        #[serde(default)]
        description: String,
    }
    Some(match serde_json::from_slice::<ErrorAck>(body) {
        Ok(e) => e.error.description,
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    })
}

/// Logs and forgets events sent before `now - ACK_TIMEOUT`.
fn expire(unconfirmed: &mut Unconfirmed, now: Instant) {
    while let Some(entry) = unconfirmed.first_entry() {
        if now.duration_since(entry.get().0) < ACK_TIMEOUT {
            break;
        }
        let (_, job, _permit) = entry.remove();
        tracing::warn!(job_id = %job, "event not confirmed by the stream in time; it may be missing from the request log");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(
        seq: u64,
        payload: &'static [u8],
        status: Option<async_nats::StatusCode>,
    ) -> async_nats::Message {
        async_nats::Message {
            subject: format!("_INBOX.abc.{seq}").into(),
            reply: None,
            payload: payload.into(),
            headers: None,
            status,
            description: None,
            length: payload.len(),
        }
    }

    #[test]
    fn a_stored_event_is_confirmed_and_a_refusal_is_explained() {
        assert_eq!(
            refusal(&ack(1, br#"{"stream":"SY_EVENTS","seq":7}"#, None)),
            None
        );
        let refused =
            br#"{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}"#;
        assert_eq!(
            refusal(&ack(2, refused, None)).as_deref(),
            Some("maximum messages exceeded")
        );
        let none = refusal(&ack(3, b"", Some(async_nats::StatusCode::NO_RESPONDERS)));
        assert!(none.is_some_and(|m| m.contains("no stream answered")));
    }

    #[test]
    fn acks_are_matched_by_sequence_and_old_events_expire() {
        let t0 = Instant::now();
        let permits = Arc::new(Semaphore::new(3));
        let permit = || permits.clone().try_acquire_owned().unwrap();
        let mut u = Unconfirmed::new();
        u.insert(1, (t0, "job-a".into(), permit()));
        u.insert(2, (t0, "job-b".into(), permit()));
        u.insert(3, (t0 + Duration::from_secs(3), "job-c".into(), permit()));
        assert_eq!(permits.available_permits(), 0);
        confirm(&mut u, &ack(2, br#"{"stream":"SY_EVENTS","seq":1}"#, None));
        assert_eq!(u.keys().copied().collect::<Vec<_>>(), vec![1, 3]);
        confirm(&mut u, &ack(99, b"{}", None));
        assert_eq!(u.len(), 2, "an unknown ack changes nothing");
        expire(&mut u, t0 + ACK_TIMEOUT);
        assert_eq!(
            u.keys().copied().collect::<Vec<_>>(),
            vec![3],
            "only the old one expired"
        );
    }
}
