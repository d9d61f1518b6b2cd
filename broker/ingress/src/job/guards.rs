//! What a waiting request holds: the job is cancelled if the client goes away before the
//! answer, and counted in flight on its provider meanwhile.

use crate::error::{unavailable, GatewayError};
use crate::state::AppState;

/// Puts the job id in the cancel bucket that every worker watches.
pub async fn request_cancel(st: &AppState, id: &str) -> Result<(), GatewayError> {
    st.topo()
        .cancel
        .put(id, bytes::Bytes::from_static(b"1"))
        .await
        .map_err(unavailable)?;
    Ok(())
}

/// Cancels the job of a waiting request when the request is dropped (the client went away)
/// before it was disarmed.
pub struct CancelOnDrop {
    st: Option<AppState>,
    id: String,
}

impl CancelOnDrop {
    /// Armed for `id`.
    pub fn new(st: &AppState, id: &str) -> Self {
        Self {
            st: Some(st.clone()),
            id: id.to_string(),
        }
    }
    /// The request was answered: nothing to cancel.
    pub fn disarm(mut self) {
        self.st = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(st) = self.st.take() {
            let id = std::mem::take(&mut self.id);
            tracing::info!(job_id = %id, "client disconnected: cancelling its job");
            tokio::spawn(async move {
                if let Err(e) = request_cancel(&st, &id).await {
                    tracing::warn!(job_id = %id, error = %e, "cannot cancel the job of a disconnected client");
                }
            });
        }
    }
}

/// Cancels the job if the client goes away, counts it in flight on its provider meanwhile.
pub struct Guards {
    cancel: CancelOnDrop,
    _in_flight: crate::targets::InFlight,
}

impl Guards {
    /// Armed for job `id` on `provider`.
    pub fn new(st: &AppState, id: &str, provider: &str) -> Self {
        Self {
            cancel: CancelOnDrop::new(st, id),
            _in_flight: st.health().start(provider),
        }
    }
    /// The request ended with the client still there.
    pub fn disarm(self) {
        self.cancel.disarm();
    }
}
