//! Publishing lifecycle events off the critical path.
//!
//! Callers hand events to a bounded channel; one task publishes them to JetStream and
//! collects the acks with at most [`MAX_IN_FLIGHT`] outstanding, so a slow server slows
//! event producers down instead of growing memory.

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use schemas::{Event, EventDetail, EventKind, Subjects};
use std::sync::Arc;
use tokio::sync::mpsc;

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
        tokio::spawn(publish_loop(js, rx));
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

async fn publish_loop(js: async_nats::jetstream::Context, mut rx: mpsc::Receiver<Encoded>) {
    let mut acks = FuturesUnordered::new();
    loop {
        tokio::select! {
            biased;
            Some(res) = acks.next(), if !acks.is_empty() => log_ack(res),
            ev = rx.recv(), if acks.len() < MAX_IN_FLIGHT => {
                let Some(Encoded { subject, job, payload }) = ev else { break };
                match js.publish(subject, payload.into()).await {
                    Ok(ack) => acks.push(async move { (job, ack.await) }),
                    Err(e) => tracing::warn!(job_id = %job, error = %e, "cannot publish event"),
                }
            }
        }
    }
    while let Some(res) = acks.next().await {
        log_ack(res);
    }
}

fn log_ack(
    (job, res): (
        String,
        Result<
            async_nats::jetstream::publish::PublishAck,
            async_nats::jetstream::context::PublishError,
        >,
    ),
) {
    if let Err(e) = res {
        tracing::warn!(job_id = %job, error = %e, "event not stored");
    }
}
