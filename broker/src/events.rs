//! Publishing lifecycle events off the critical path.
//!
//! Callers encode an event and hand it to a bounded channel; one task publishes it to
//! JetStream with a reply subject under an inbox of its own and matches the stream's acks
//! as they come back, with at most [`MAX_IN_FLIGHT`] unconfirmed, so a slow server slows
//! event producers down instead of growing memory. An event the stream refuses, or does not
//! confirm within [`ACK_TIMEOUT`], is logged with its job id.
//!
//! This is what `jetstream::Context::publish` does, minus a timer, a oneshot channel and a
//! full JSON decode per event: six events per job made those a tenth of the gateway's CPU in
//! the load test. An ack is only decoded when it is not a plain success.

use futures::StreamExt;
use schemas::{Event, EventDetail, EventKind, Subjects};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long the stream has to confirm an event before it is logged as unconfirmed.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Unacknowledged event publishes allowed at once.
pub const MAX_IN_FLIGHT: usize = 1000;

/// A cheap handle to emit lifecycle events.
#[derive(Clone)]
pub struct EventSink {
    tx: mpsc::Sender<Encoded>,
    node: Arc<str>,
    subjects: Subjects,
}

/// An event ready to publish: its subject, its job (for logs) and its JSON. Events are
/// encoded by the caller so the channel moves three pointers, not the whole `Event`.
struct Encoded {
    subject: String,
    job: String,
    payload: Vec<u8>,
}

impl EventSink {
    /// Starts the publishing task.
    pub fn start(js: async_nats::jetstream::Context, subjects: Subjects, node: &str) -> Self {
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(publish_loop(js.client(), rx));
        Self {
            tx,
            node: node.into(),
            subjects,
        }
    }

    /// This process's node name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Emits `kind` for `job` with `detail`, stamped now with this node.
    pub async fn emit(&self, job: &str, kind: EventKind, detail: EventDetail) {
        self.send(Event::new(job, kind, &self.node).with(detail))
            .await;
    }

    /// Emits a prepared event.
    pub async fn send(&self, ev: Event) {
        crate::telemetry::metrics::from_event(&ev);
        let payload = match serde_json::to_vec(&ev) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(job_id = %ev.job, error = %e, "cannot encode event");
                return;
            }
        };
        let encoded = Encoded {
            subject: self.subjects.events(&ev.job),
            job: ev.job,
            payload,
        };
        if self.tx.send(encoded).await.is_err() {
            tracing::warn!("event publisher stopped; event dropped");
        }
    }
}

/// Events sent and not yet confirmed, by sequence (so oldest first): when sent, and the job.
type Unconfirmed = BTreeMap<u64, (Instant, String)>;

async fn publish_loop(client: async_nats::Client, mut rx: mpsc::Receiver<Encoded>) {
    let inbox = client.new_inbox();
    let mut acks = match client.subscribe(format!("{inbox}.*")).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot subscribe to event acks; events are published unconfirmed");
            while let Some(ev) = rx.recv().await {
                if let Err(e) = client.publish(ev.subject, ev.payload.into()).await {
                    tracing::warn!(job_id = %ev.job, error = %e, "cannot publish event");
                }
            }
            return;
        }
    };
    let mut unconfirmed = Unconfirmed::new();
    let mut seq = 0u64;
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            biased;
            Some(ack) = acks.next() => confirm(&mut unconfirmed, &ack),
            _ = sweep.tick() => expire(&mut unconfirmed, Instant::now()),
            ev = rx.recv(), if unconfirmed.len() < MAX_IN_FLIGHT => {
                let Some(Encoded { subject, job, payload }) = ev else { break };
                seq += 1;
                let reply = format!("{inbox}.{seq}");
                match client.publish_with_reply(subject, reply, payload.into()).await {
                    Ok(()) => { unconfirmed.insert(seq, (Instant::now(), job)); }
                    Err(e) => tracing::warn!(job_id = %job, error = %e, "cannot publish event"),
                }
            }
        }
    }
    // Every sender is gone: wait a little for the last acks.
    let _ = client.flush().await;
    let deadline = tokio::time::sleep(ACK_TIMEOUT);
    tokio::pin!(deadline);
    while !unconfirmed.is_empty() {
        tokio::select! {
            Some(ack) = acks.next() => confirm(&mut unconfirmed, &ack),
            _ = &mut deadline => break,
        }
    }
    expire(&mut unconfirmed, Instant::now() + ACK_TIMEOUT);
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
    let Some((_, job)) = unconfirmed.remove(&seq) else {
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
        let (_, job) = entry.remove();
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
        let mut u = Unconfirmed::new();
        u.insert(1, (t0, "job-a".into()));
        u.insert(2, (t0, "job-b".into()));
        u.insert(3, (t0 + Duration::from_secs(3), "job-c".into()));
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
