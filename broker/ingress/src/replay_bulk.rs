//! Bulk replay: `POST /v1/requests/replay` replays every stored request matching a filter
//! (by default the failed ones of a window) as new queued jobs, in the background, and
//! answers `202` at once; `GET /v1/requests/replay/{id}` shows its progress. The progress
//! lives in the `sy_bulk` bucket, so any ingress answers it. Starting one is an admin
//! action in the audit trail. A virtual key replays its own requests only.
//!
//! The replays run in the ingress that took the request: if it stops, its bulk stops where
//! it was (the progress says how far, and `updated_ms` stops moving).

use crate::admin::audit::{self, From};
use crate::auth::Caller;
use crate::error::{unavailable, GatewayError};
use crate::replay::{replay_one, ReplayOverride};
use crate::requests::{auditor, query_error};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use broker::audit::protocol::{ListPage, MAX_LIMIT};
use broker::audit::window::parse_time;
use broker::audit::ListQuery;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// The most requests one bulk replay takes: narrow the window for more.
pub const MAX_BULK: usize = 10_000;

/// Which stored requests a bulk replay takes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkFilter {
    /// `failed` (default), `cancelled` or `completed`.
    pub status: Option<String>,
    /// Created at or after: RFC 3339, ms since the epoch, or an age like `1h` (required, so
    /// that a bulk replay never takes the whole log by accident).
    pub since: String,
    /// Created before.
    pub until: Option<String>,
    /// Only requests for this model.
    pub model: Option<String>,
    /// Only requests that ran on this provider.
    pub provider: Option<String>,
    /// Only requests of this key id (a virtual key: always its own).
    pub key: Option<String>,
    /// Only requests with these words in their messages, response or error.
    pub q: Option<String>,
}

/// The body of `POST /v1/requests/replay`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkReplay {
    /// Which requests.
    pub filter: BulkFilter,
    /// Run on this model instead.
    #[serde(default)]
    pub model: Option<String>,
    /// Run on this provider, with each request's own model.
    #[serde(default)]
    pub provider: Option<String>,
    /// Replay requests whose stored body had parts redacted.
    #[serde(default)]
    pub allow_redacted: bool,
}

/// A bulk replay's progress.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BulkProgress {
    /// The bulk replay's id.
    pub id: String,
    /// `replay.bulk`.
    pub object: String,
    /// `running` or `completed`.
    pub status: String,
    /// Requests matched.
    pub total: usize,
    /// Replays queued.
    pub replayed: usize,
    /// Requests that could not be replayed.
    pub errors: usize,
    /// The first errors, `<request id>: <why>`.
    pub error_samples: Vec<String>,
    /// Who started it (a key id, `master` or `open`).
    pub by: String,
    /// The filter.
    pub filter: BulkFilter,
    /// When it started (ms since the epoch).
    pub started_ms: u64,
    /// When its progress was last written.
    pub updated_ms: u64,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<u64>,
}

fn kv_key(id: &str) -> String {
    format!("b.{id}")
}

async fn save(st: &AppState, p: &BulkProgress) {
    let write = async {
        let bytes = serde_json::to_vec(p)?;
        st.topo().bulk.put(kv_key(&p.id), bytes.into()).await?;
        Ok::<_, async_nats::Error>(())
    };
    if let Err(e) = write.await {
        tracing::warn!(bulk = %p.id, error = %e, "cannot record a bulk replay's progress");
    }
}

/// Every request id the filter matches, newest first (400 past [`MAX_BULK`]).
async fn matching(st: &AppState, f: &BulkFilter) -> Result<Vec<String>, GatewayError> {
    let now = schemas::now_ms();
    let since = parse_time(&f.since, now)
        .map_err(|m| GatewayError::bad_request(m, Some("filter.since")))?;
    let until = f
        .until
        .as_deref()
        .map(|u| parse_time(u, now).map_err(|m| GatewayError::bad_request(m, Some("filter.until"))))
        .transpose()?;
    let status = f.status.clone().unwrap_or_else(|| "failed".into());
    if !["failed", "cancelled", "completed"].contains(&status.as_str()) {
        return Err(GatewayError::bad_request(
            format!("filter.status `{status}` cannot be replayed in bulk; use failed, cancelled or completed."),
            Some("filter.status"),
        ));
    }
    let mut q = ListQuery {
        status: Some(status),
        model: f.model.clone(),
        provider: f.provider.clone(),
        key: f.key.clone(),
        q: f.q.clone(),
        since_ms: Some(since),
        until_ms: until,
        limit: Some(MAX_LIMIT),
        ..Default::default()
    };
    let client = auditor(st);
    let mut ids = Vec::new();
    loop {
        let page: ListPage = client.call("list", &q).await.map_err(query_error)?;
        ids.extend(page.data.into_iter().map(|r| r.id));
        if ids.len() > MAX_BULK {
            return Err(GatewayError::bad_request(
                format!("More than {MAX_BULK} requests match; narrow the window (filter.since / filter.until) and replay it in parts."),
                Some("filter"),
            ));
        }
        match page.next_cursor.filter(|_| page.has_more) {
            Some(c) => q.cursor = Some(c),
            None => return Ok(ids),
        }
    }
}

/// `POST /v1/requests/replay`.
pub async fn start(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    from: From,
    body: Bytes,
) -> Response {
    let out = async {
        let mut req: BulkReplay = crate::body::parse(&body)?;
        if !caller.admin() {
            req.filter.key = caller.key_id().map(str::to_string);
        }
        let ids = matching(&st, &req.filter).await?;
        let now = schemas::now_ms();
        let progress = BulkProgress {
            id: uuid::Uuid::now_v7().to_string(),
            object: "replay.bulk".into(),
            status: "running".into(),
            total: ids.len(),
            by: caller.actor(),
            filter: req.filter.clone(),
            started_ms: now,
            updated_ms: now,
            ..Default::default()
        };
        save(&st, &progress).await;
        let changes = serde_json::json!({"filter": req.filter, "total": ids.len(), "model": req.model, "provider": req.provider});
        audit::by(&st, &caller, &from, "replay.bulk_started", Some(&progress.id), changes).await;
        let over = ReplayOverride {
            model: req.model,
            provider: req.provider,
            allow_redacted: req.allow_redacted,
        };
        tokio::spawn(run(st.clone(), caller, ids, over, progress.clone()));
        let location = format!("/v1/requests/replay/{}", progress.id);
        Ok::<_, GatewayError>((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(progress)))
    }
    .await;
    out.into_response()
}

/// Replays `ids` one by one, writing the progress at most every 250 ms and at the end.
async fn run(
    st: AppState,
    caller: Caller,
    ids: Vec<String>,
    over: ReplayOverride,
    mut p: BulkProgress,
) {
    let mut written = Instant::now();
    for id in ids {
        match replay_one(&st, &caller, &id, &over).await {
            Ok(_) => p.replayed += 1,
            Err(e) => {
                p.errors += 1;
                if p.error_samples.len() < 20 {
                    p.error_samples.push(format!("{id}: {e}"));
                }
            }
        }
        if written.elapsed() > Duration::from_millis(250) {
            p.updated_ms = schemas::now_ms();
            save(&st, &p).await;
            written = Instant::now();
        }
    }
    p.status = "completed".into();
    p.updated_ms = schemas::now_ms();
    p.finished_ms = Some(p.updated_ms);
    tracing::info!(bulk = %p.id, replayed = p.replayed, errors = p.errors, "bulk replay finished");
    save(&st, &p).await;
}

/// `GET /v1/requests/replay/{id}`.
pub async fn progress(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let out = async {
        let missing =
            || GatewayError::NotFound(format!("No bulk replay `{id}` (they are kept 7 days)."));
        if uuid::Uuid::parse_str(&id).is_err() {
            return Err(missing());
        }
        let v = st
            .topo()
            .bulk
            .get(kv_key(&id))
            .await
            .map_err(unavailable)?
            .ok_or_else(missing)?;
        let p: BulkProgress =
            serde_json::from_slice(&v).map_err(|e| GatewayError::Internal(e.to_string()))?;
        if !caller.admin() && Some(p.by.as_str()) != caller.key_id() {
            return Err(missing());
        }
        Ok(Json(p))
    }
    .await;
    out.into_response()
}
