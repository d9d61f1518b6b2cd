//! `GET /metrics`: the Prometheus registry, with JetStream consumer gauges read on scrape.

use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use broker::telemetry::metrics::{self, ConsumerReading};
use futures::TryStreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long one reading of the consumers is reused (scrapes from several Prometheus
/// servers, or a scrape storm, cost JetStream one listing per interval).
const CONSUMER_CACHE: Duration = Duration::from_secs(1);
/// How long a scrape waits for JetStream before answering with the last reading.
const CONSUMER_TIMEOUT: Duration = Duration::from_secs(2);

/// The last reading of the consumers, per router.
#[derive(Default)]
struct Cache {
    read_at: Option<Instant>,
    reading: ConsumerReading,
}

/// The `GET /metrics` route, with a consumer cache of its own.
pub fn route() -> MethodRouter<AppState> {
    let cache: Arc<Mutex<Cache>> = Arc::default();
    get(move |State(st): State<AppState>| metrics(st, cache.clone()))
}

async fn metrics(st: AppState, cache: Arc<Mutex<Cache>>) -> Response {
    let mut c = cache.lock().await;
    if c.read_at.is_none_or(|t| t.elapsed() >= CONSUMER_CACHE) {
        match tokio::time::timeout(CONSUMER_TIMEOUT, read_consumers(&st)).await {
            Ok(Ok(r)) => c.reading = r,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot read the JetStream consumers for /metrics; check the NATS connection")
            }
            Err(_) => tracing::warn!(
                "JetStream did not list the consumers within 2 s; /metrics shows the last reading"
            ),
        }
        c.read_at = Some(Instant::now());
    }
    let mut body = metrics::render();
    metrics::render_consumers(&c.reading, &mut body);
    drop(c);
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body).into_response()
}

/// Pending and ack-pending of every worker consumer (`<prefix>_worker_<provider>` on the
/// jobs stream) and the pending of every auditor consumer (`<prefix>_auditor*` on the
/// events stream).
async fn read_consumers(st: &AppState) -> Result<ConsumerReading, async_nats::Error> {
    let prefix = st.topo().subjects.prefix().to_string();
    let worker = format!("{prefix}_worker_");
    let auditor = format!("{prefix}_auditor");
    let mut r = ConsumerReading::default();
    let mut jobs = st.topo().jobs.consumers();
    while let Some(info) = jobs.try_next().await? {
        if let Some(provider) = info.name.strip_prefix(&worker) {
            r.workers.push((
                provider.to_string(),
                info.num_pending,
                info.num_ack_pending as u64,
            ));
        }
    }
    let mut events = st.topo().events.consumers();
    while let Some(info) = events.try_next().await? {
        if info.name.starts_with(&auditor) {
            r.auditors.push((info.name.clone(), info.num_pending));
        }
    }
    Ok(r)
}
