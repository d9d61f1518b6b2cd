//! Publishing lifecycle events off the critical path, and storing each one once.
//!
//! The caller encodes an event and publishes it to JetStream with a reply subject under the
//! sink's own inbox (`<inbox>.<seq>`); one task matches the stream's acks as they come back.
//! An event the stream refuses (no responders while a cluster elects a stream leader) or
//! does not confirm within [`RETRY_AFTER`] (its node died with the publish) is sent again,
//! until it is stored or [`PATIENCE`] passes (then it is logged with its job id). An event a
//! job has once (its final event) carries a `Nats-Msg-Id`, so `SY_EVENTS` (a two-minute
//! duplicate window) keeps one copy of it whoever sends it again; the others carry none (the
//! server would keep every id for the window: six per job), so one whose ack was lost in a
//! failover may be stored twice. At most [`MAX_IN_FLIGHT`] events are unconfirmed, so a slow
//! or failing server slows event producers down instead of growing memory. Publishing from
//! the caller (not through a channel to a publisher task) saves a task wake-up per event.
//!
//! This is what `jetstream::Context::publish` does, minus a timer, a oneshot channel and a
//! full JSON decode per event: six events per job made those a tenth of the gateway's CPU in
//! the load test. An ack is only decoded when it is not a plain success.

use bytes::Bytes;
use futures::StreamExt;
use schemas::{Event, EventDetail, EventKind, Subjects};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// How long the stream has to confirm an event before it is sent again.
pub const RETRY_AFTER: Duration = Duration::from_secs(2);

/// How long an event is tried before it is logged as missing (longer than a cluster's
/// failover; within the stream's duplicate window, so an event with an id is kept once).
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Unconfirmed event publishes allowed at once.
pub const MAX_IN_FLIGHT: usize = 4096;

/// How often unconfirmed events are looked at.
const SWEEP: Duration = Duration::from_millis(250);

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

/// An event sent and not yet confirmed.
struct Pending {
    job: String,
    subject: String,
    /// Its `Nats-Msg-Id`, when the caller named one.
    id: Option<String>,
    payload: Bytes,
    /// When it was first sent.
    first: Instant,
    /// When it is sent again unless confirmed first.
    retry_at: Instant,
    tries: u32,
    /// The in-flight permit, held until it is confirmed or given up.
    _permit: OwnedSemaphorePermit,
}

/// Events sent and not yet confirmed, by sequence (so oldest first).
type Unconfirmed = BTreeMap<u64, Pending>;

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
        self.send_as(ev, None).await;
    }

    /// Emits a prepared event under `id`, its `Nats-Msg-Id`: an event with the same id sent
    /// again (by any process, within the stream's two-minute duplicate window) is not stored
    /// twice. For an event that one job has once, which a redelivery may send again (its
    /// final event: `fin-<job>`).
    pub async fn send_once(&self, ev: Event, id: String) {
        self.send_as(ev, Some(id)).await;
    }

    async fn send_as(&self, ev: Event, id: Option<String>) {
        crate::telemetry::metrics::from_event(&ev);
        let payload = match serde_json::to_vec(&ev) {
            Ok(p) => Bytes::from(p),
            Err(e) => {
                tracing::warn!(job_id = %ev.job, error = %e, "cannot encode event");
                return;
            }
        };
        let inner = &self.inner;
        let subject = inner.subjects.events(&ev.job);
        if inner.inbox.is_none() {
            if let Err(e) = inner.client.publish(subject, payload).await {
                tracing::warn!(job_id = %ev.job, error = %e, "cannot publish event");
            }
            return;
        }
        let Ok(permit) = inner.permits.clone().acquire_owned().await else {
            return;
        };
        let seq = inner.seq.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        inner.lock().insert(
            seq,
            Pending {
                job: ev.job.clone(),
                subject: subject.clone(),
                id: id.clone(),
                payload: payload.clone(),
                first: now,
                retry_at: now + RETRY_AFTER,
                tries: 1,
                _permit: permit,
            },
        );
        // A failed publish (the client closed) is tried again by the sweep.
        if let Err(e) = inner.publish(seq, subject, id, payload).await {
            tracing::debug!(job_id = %ev.job, error = %e, "cannot publish event yet");
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

    /// Sends event `seq` (again, under its id if it has one), its ack to `<inbox>.<seq>`.
    async fn publish(
        &self,
        seq: u64,
        subject: String,
        id: Option<String>,
        payload: Bytes,
    ) -> Result<(), async_nats::client::PublishError> {
        let Some(inbox) = &self.inbox else {
            return Ok(());
        };
        let reply = format!("{inbox}.{seq}");
        match id {
            Some(id) => {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert(schemas::msgid::HEADER, id.as_str());
                self.client
                    .publish_with_reply_and_headers(subject, reply, headers, payload)
                    .await
            }
            None => {
                self.client
                    .publish_with_reply(subject, reply, payload)
                    .await
            }
        }
    }
}

/// Matches acks to their events, sends the unconfirmed again and gives up on the oldest,
/// while the sink lives.
async fn ack_loop(sink: Weak<Inner>, mut acks: async_nats::Subscriber) {
    let mut sweep = tokio::time::interval(SWEEP);
    loop {
        tokio::select! {
            ack = acks.next() => {
                let Some(ack) = ack else { break };
                let Some(inner) = sink.upgrade() else { break };
                confirm(&mut inner.lock(), &ack, Instant::now());
            }
            _ = sweep.tick() => {
                let Some(inner) = sink.upgrade() else { break };
                let again = due(&mut inner.lock(), Instant::now());
                for (seq, subject, id, payload) in again {
                    if let Err(e) = inner.publish(seq, subject, id, payload).await {
                        tracing::debug!(error = %e, "cannot publish event yet");
                    }
                }
            }
        }
    }
}

/// Matches an ack to its event: stored (or a duplicate of a stored try), or refused, and
/// then sent again after a pause that grows with its tries.
fn confirm(unconfirmed: &mut Unconfirmed, ack: &async_nats::Message, now: Instant) {
    let Some(seq) = ack
        .subject
        .rsplit('.')
        .next()
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return;
    };
    let Some(p) = unconfirmed.get_mut(&seq) else {
        return;
    };
    match refusal(ack) {
        None => {
            unconfirmed.remove(&seq);
        }
        Some(problem) => {
            tracing::debug!(job_id = %p.job, error = %problem, tries = p.tries, "event not stored yet; sending it again");
            let pause = Duration::from_millis(100 << p.tries.min(4));
            p.retry_at = p.retry_at.min(now + pause);
        }
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

/// The events to send again now (each's next try is [`RETRY_AFTER`] later), after logging and
/// forgetting those tried for [`PATIENCE`].
fn due(unconfirmed: &mut Unconfirmed, now: Instant) -> Vec<(u64, String, Option<String>, Bytes)> {
    unconfirmed.retain(|_, p| {
        let keep = now.duration_since(p.first) < PATIENCE;
        if !keep {
            tracing::warn!(job_id = %p.job, tries = p.tries, "event not stored by the stream in time; it is missing from the request log");
        }
        keep
    });
    let mut again = Vec::new();
    for (seq, p) in unconfirmed.iter_mut().filter(|(_, p)| p.retry_at <= now) {
        p.tries += 1;
        p.retry_at = now + RETRY_AFTER;
        again.push((*seq, p.subject.clone(), p.id.clone(), p.payload.clone()));
    }
    again
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
    fn acks_are_matched_by_sequence_refusals_and_silence_are_tried_again_then_given_up() {
        let t0 = Instant::now();
        let permits = Arc::new(Semaphore::new(3));
        let pending = |job: &str, at: Instant| Pending {
            job: job.into(),
            subject: format!("sy.events.{job}"),
            id: None,
            payload: Bytes::from_static(b"{}"),
            first: at,
            retry_at: at + RETRY_AFTER,
            tries: 1,
            _permit: permits.clone().try_acquire_owned().unwrap(),
        };
        let mut u = Unconfirmed::new();
        u.insert(1, pending("job-a", t0));
        u.insert(2, pending("job-b", t0));
        u.insert(3, pending("job-c", t0 + Duration::from_secs(1)));
        assert_eq!(permits.available_permits(), 0);
        confirm(
            &mut u,
            &ack(2, br#"{"stream":"SY_EVENTS","seq":1}"#, None),
            t0,
        );
        assert_eq!(u.keys().copied().collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(
            permits.available_permits(),
            1,
            "a stored event frees its permit"
        );
        confirm(&mut u, &ack(99, b"{}", None), t0);
        assert_eq!(u.len(), 2, "an unknown ack changes nothing");
        // No responders (a stream electing its leader): sent again soon, not dropped.
        let none = ack(3, b"", Some(async_nats::StatusCode::NO_RESPONDERS));
        confirm(&mut u, &none, t0 + Duration::from_secs(1));
        assert_eq!(u.len(), 2);
        let at = t0 + Duration::from_millis(1300);
        let again: Vec<u64> = due(&mut u, at).into_iter().map(|(s, ..)| s).collect();
        assert_eq!(again, vec![3], "the refused one, after its pause");
        // Unconfirmed for RETRY_AFTER: sent again under the same sequence (and id).
        let again = due(&mut u, t0 + RETRY_AFTER);
        assert_eq!(
            again
                .iter()
                .map(|(s, subject, ..)| (*s, subject.as_str()))
                .collect::<Vec<_>>(),
            vec![(1, "sy.events.job-a")]
        );
        assert!(
            due(&mut u, t0 + RETRY_AFTER).is_empty(),
            "not again at once"
        );
        // Given up after PATIENCE, freeing the permits.
        let _ = due(&mut u, t0 + PATIENCE + Duration::from_secs(1));
        assert!(u.is_empty());
        assert_eq!(permits.available_permits(), 3);
    }
}
