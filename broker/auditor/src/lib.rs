//! The auditor: a durable consumer of every lifecycle event and result, persisted to an
//! embedded store (fjall or sled, a tantivy index beside it), answering queries as the NATS
//! service `switchyard-auditor`.
//!
//! - [`consume`]: the pull consumers, the receive/write pipeline and acks
//! - [`fold`]: a batch folded into the store (records, timelines, bodies, indexes, rollups)
//! - [`kv`]: the embedded engine (fjall or sled) behind one interface
//! - [`store`]: trees, keys and the compact encoding
//! - [`index`]: per-field indexes and the join of their ranges
//! - [`rollup`]: per-minute and per-hour stats aggregates
//! - [`search`]: the full-text index (tantivy)
//! - [`query`]: get, list, stats, timeline
//! - [`service`]: the NATS service (its protocol and client are in `broker::audit`)
//! - [`retention`]: deletion by age and size
//!
//! Several auditors may run: each with its own `auditor.consumer` keeps a full copy; the
//! service's queue group lets any of them answer.

pub mod codec;
pub mod consume;
pub mod fold;
pub mod index;
pub mod kv;
pub mod migrate;
pub mod query;
pub mod retention;
pub mod rollup;
pub mod search;
pub mod service;
pub mod store;

use broker::config::Config;
use broker::nats::Topology;
use http::StatusCode;
use std::path::PathBuf;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use store::Store;

/// What can go wrong in the auditor.
#[derive(Debug, thiserror::Error)]
pub enum AuditorError {
    /// The store cannot be opened.
    #[error("cannot open the auditor store at {0}: {1}. Check auditor.data_dir, its permissions, and that no other auditor process uses the same directory.")]
    Open(PathBuf, String),
    /// A sled read or write failed.
    #[error("auditor store error: {0}. Check free disk space and the auditor.data_dir volume.")]
    Store(#[from] sled::Error),
    /// A read or write of the storage engine failed.
    #[error("auditor store error: {0}. Check free disk space and the auditor.data_dir volume.")]
    Engine(String),
    /// Stored data or a message cannot be decoded.
    #[error("auditor data cannot be decoded: {0}")]
    Corrupt(String),
    /// NATS refused a consumer or a subscription.
    #[error(
        "auditor NATS error: {0}. The auditor retries; check that nats-server runs with JetStream."
    )]
    Nats(String),
    /// No such record.
    #[error("{0}")]
    NotFound(String),
    /// The query is malformed.
    #[error("{0}")]
    BadQuery(String),
}

impl AuditorError {
    /// The HTTP status an ingress answers with.
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadQuery(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The auditor's CPU share when `[auditor] cpu_share` is not set: all of it alone, a quarter
/// when it shares the process with the request path (`serve`).
pub const SHARED_CPU_SHARE: f64 = 0.25;

/// Opens the store and starts the consumer, the service and retention; they stop on `stop`.
/// `shared`: the process also runs the ingress or workers (see [`SHARED_CPU_SHARE`]).
pub async fn start(
    client: async_nats::Client,
    topo: Topology,
    cfg: &Config,
    shared: bool,
    stop: CancellationToken,
) -> Result<Vec<JoinHandle<()>>, AuditorError> {
    let share = cfg
        .auditor
        .cpu_share
        .unwrap_or(if shared { SHARED_CPU_SHARE } else { 1.0 })
        .clamp(0.05, 1.0);
    let dir = cfg.auditor_dir();
    let store = Store::open_with(
        &dir,
        store::StoreOptions {
            memory_bytes: cfg.auditor.memory_mb.saturating_mul(1024 * 1024),
            engine: cfg.auditor.engine,
        },
    )?;
    let st = store.clone();
    tokio::task::spawn_blocking(move || migrate::backfill(&st))
        .await
        .map_err(|e| AuditorError::Corrupt(e.to_string()))??;
    tracing::info!(dir = %dir.display(), records = store.records.approximate_len(), consumer = %cfg.auditor.consumer, "auditor store open");
    let policy = consume::BodyPolicy {
        store: cfg.auditor.store_bodies,
        redactor: broker::audit::redact::Redactor::new(&cfg.auditor.redact_paths),
    };
    let part = consume::owned(&cfg.auditor, &topo.subjects);
    let group = broker::audit::protocol::group(topo.subjects.prefix(), part);
    if let Some(k) = part {
        tracing::info!(
            partition = k,
            of = topo.subjects.partitions(),
            "auditor keeps one partition of the request log"
        );
    }
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(consume::run(
        store.clone(),
        topo,
        cfg.auditor.clone(),
        policy,
        share,
        stop.clone(),
    )));
    tasks.push(tokio::spawn(retention::run(
        store.clone(),
        cfg.auditor.clone(),
        stop.clone(),
    )));
    tasks.push(tokio::spawn(commit_search(store.clone(), stop.clone())));
    tasks.push(tokio::spawn(async move {
        if let Err(e) = service::run(client, group, store, stop).await {
            tracing::error!(error = %e, "auditor service stopped");
        }
    }));
    Ok(tasks)
}

/// Makes new text searchable every [`search::COMMIT_EVERY`], and commits at the end.
async fn commit_search(store: Store, stop: CancellationToken) {
    let mut tick = tokio::time::interval(search::COMMIT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let last = tokio::select! {
            _ = stop.cancelled() => true,
            _ = tick.tick() => false,
        };
        let st = store.clone();
        let out = tokio::task::spawn_blocking(move || st.search.commit(last))
            .await
            .unwrap_or_else(|e| Err(AuditorError::Corrupt(e.to_string())));
        if let Err(e) = out {
            tracing::warn!(error = %e, "auditor full-text commit failed; retrying");
        }
        if last {
            return;
        }
    }
}
