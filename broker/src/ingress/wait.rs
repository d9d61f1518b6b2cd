//! Waiting for a job's result: a subscription opened before the job is published, and the
//! stored result for jobs that already finished.

use super::AppState;
use crate::error::{unavailable, GatewayError};
use futures::StreamExt;
use schemas::{Event, JobResult};
use std::time::Duration;

/// Subscriptions to a job's result (and chunks, for streams).
pub struct Waiter {
    /// `sy.results.<id>`.
    pub results: async_nats::Subscriber,
    /// `sy.chunks.<id>`, when streaming.
    pub chunks: Option<async_nats::Subscriber>,
}

impl Waiter {
    /// Subscribes to the job's result (and chunks when `stream`).
    pub async fn subscribe(st: &AppState, id: &str, stream: bool) -> Result<Self, GatewayError> {
        if !crate::nats::is_connected(st.client()) {
            return Err(unavailable("not connected"));
        }
        let s = &st.topo().subjects;
        let results = st
            .client()
            .subscribe(s.results(id))
            .await
            .map_err(unavailable)?;
        let chunks = if stream {
            Some(
                st.client()
                    .subscribe(s.chunks(id))
                    .await
                    .map_err(unavailable)?,
            )
        } else {
            None
        };
        Ok(Self { results, chunks })
    }

    /// The next result message within `timeout`; `None` when it passed.
    pub async fn result(&mut self, timeout: Duration) -> Option<JobResult> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.results.next())
                .await
                .ok()??;
            match serde_json::from_slice::<JobResult>(&msg.payload) {
                Ok(r) => return Some(r),
                Err(e) => tracing::warn!(error = %e, "undecodable result message skipped"),
            }
        }
    }
}

/// The stored result of a job, if it finished.
pub async fn stored_result(st: &AppState, id: &str) -> Result<Option<JobResult>, GatewayError> {
    let subject = st.topo().subjects.results(id);
    match st.topo().results.direct_get_last_for_subject(subject).await {
        Ok(msg) => Ok(serde_json::from_slice(&msg.payload).ok()),
        Err(e) if e.kind() == async_nats::jetstream::stream::DirectGetErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(unavailable(e)),
    }
}

/// Every stored lifecycle event of a job, in stream order (at most `limit`).
pub async fn job_events(st: &AppState, id: &str, limit: usize) -> Result<Vec<Event>, GatewayError> {
    let subject = st.topo().subjects.events(id);
    let mut out = Vec::new();
    let mut seq = None;
    while out.len() < limit {
        match st
            .topo()
            .events
            .direct_get_next_for_subject(subject.clone(), seq)
            .await
        {
            Ok(msg) => {
                seq = Some(msg.sequence + 1);
                if let Ok(ev) = serde_json::from_slice(&msg.payload) {
                    out.push(ev);
                }
            }
            Err(e) if e.kind() == async_nats::jetstream::stream::DirectGetErrorKind::NotFound => {
                break
            }
            Err(e) => return Err(unavailable(e)),
        }
    }
    Ok(out)
}
