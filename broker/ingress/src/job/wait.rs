//! Waiting for a job's result: registered with the ingress's result router before the job is
//! published, and the stored result for jobs that already finished.

use super::results::ResultSlot;
use crate::error::{unavailable, GatewayError};
use crate::state::AppState;
use schemas::{Event, JobResult};
use std::time::Duration;

/// A request's wait for its job: the result through the ingress's [`ResultRouter`], and the
/// chunks when streaming.
///
/// [`ResultRouter`]: super::results::ResultRouter
pub struct Waiter {
    /// The job's result, routed from the ingress's one results subscription.
    pub results: ResultSlot,
    /// `sy.chunks.<id>`, when streaming.
    pub chunks: Option<async_nats::Subscriber>,
    /// `sy.results.<id>` itself, when waiting for a job another request published (its
    /// result goes to the ingress that published it).
    stored: Option<async_nats::Subscriber>,
}

impl Waiter {
    /// Registers for the job's result (and subscribes to its chunks when `stream`); call it
    /// before publishing the job.
    pub async fn subscribe(st: &AppState, id: &str, stream: bool) -> Result<Self, GatewayError> {
        if !broker::nats::is_connected(st.client()) {
            return Err(unavailable("not connected"));
        }
        let chunks = if stream {
            Some(
                st.client()
                    .subscribe(st.topo().subjects.chunks(id))
                    .await
                    .map_err(unavailable)?,
            )
        } else {
            None
        };
        Ok(Self {
            results: st.results().register(id),
            chunks,
            stored: None,
        })
    }

    /// Waits for the result of a job published by another request (an idempotent resubmit,
    /// maybe through another ingress): on the stored result's subject.
    pub async fn subscribe_stored(st: &AppState, id: &str) -> Result<Self, GatewayError> {
        let mut w = Self::subscribe(st, id, false).await?;
        w.stored = Some(
            st.client()
                .subscribe(st.topo().subjects.results(id))
                .await
                .map_err(unavailable)?,
        );
        Ok(w)
    }

    /// The job's result within `timeout`; `None` when it passed. At the deadline the result
    /// is looked up in `SY_RESULTS` once more, in case it was published while this ingress
    /// was reconnecting to NATS.
    pub async fn result(&mut self, st: &AppState, timeout: Duration) -> Option<JobResult> {
        use futures::StreamExt;
        let deadline = tokio::time::Instant::now() + timeout;
        let stored = self.stored.as_mut();
        let next = async {
            match stored {
                Some(sub) => tokio::select! {
                    r = self.results.recv() => r,
                    m = sub.next() => m.map(|m| m.payload),
                },
                None => self.results.recv().await,
            }
        };
        if let Ok(Some(payload)) = tokio::time::timeout_at(deadline, next).await {
            match serde_json::from_slice::<JobResult>(&payload) {
                Ok(r) => return Some(r),
                Err(e) => {
                    tracing::warn!(job_id = %self.results.id(), error = %e, "undecodable result message; reading the stored result")
                }
            }
        }
        match stored_result(st, self.results.id()).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(job_id = %self.results.id(), error = %e, "cannot look up the stored result");
                None
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
    let subject = st.topo().subjects.stored_events(id);
    let payloads = broker::nats::subject_payloads(&st.topo().events, &subject, limit)
        .await
        .map_err(unavailable)?;
    Ok(payloads
        .iter()
        .filter_map(|p| serde_json::from_slice(p).ok())
        .collect())
}
