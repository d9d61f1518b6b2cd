//! The Batch API as OpenAI has it: `POST /v1/batches` (`input_file_id`, `endpoint`,
//! `completion_window`, `metadata`), `GET /v1/batches/{id}`, `GET /v1/batches`,
//! `POST /v1/batches/{id}/cancel`. A batch's state lives in the `sy_batches` bucket; its
//! lines run as ordinary jobs (mode `batch`, each in the request log), driven by
//! [`driver`]: publishing, counting, cancelling, expiring and writing the output and error
//! files in OpenAI's line format.

pub mod driver;

pub use schemas::batch::{Batch, Counts, Lease};

use crate::auth::Caller;
use crate::error::{unavailable, GatewayError};
use crate::files::{self, BATCH_URLS};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The bucket key of a batch.
pub fn kv_key(id: &str) -> String {
    format!("b.{id}")
}

fn not_found(id: &str) -> GatewayError {
    GatewayError::NotFound(format!(
        "No batch `{id}`. List your batches with GET /v1/batches."
    ))
}

/// A batch and its revision, if `caller` may see it.
pub async fn load(st: &AppState, caller: &Caller, id: &str) -> Result<(Batch, u64), GatewayError> {
    if !id.starts_with("batch_") || !id[6..].bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found(id));
    }
    let entry = st
        .topo()
        .batches
        .entry(kv_key(id))
        .await
        .map_err(unavailable)?;
    let Some(e) = entry.filter(|e| e.operation == async_nats::jetstream::kv::Operation::Put) else {
        return Err(not_found(id));
    };
    let b: Batch =
        serde_json::from_slice(&e.value).map_err(|e| GatewayError::Internal(e.to_string()))?;
    if !caller.sees(b.key_id.as_deref()) {
        return Err(not_found(id));
    }
    Ok((b, e.revision))
}

/// `POST /v1/batches`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBatch {
    /// A file uploaded with `purpose=batch`.
    input_file_id: String,
    /// `/v1/chat/completions` or `/v1/embeddings`.
    endpoint: String,
    /// `24h`.
    completion_window: String,
    /// Labels.
    #[serde(default)]
    metadata: Option<Map<String, Value>>,
}

/// `POST /v1/batches`: checks the input file and starts the batch.
pub async fn create(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    let out = async {
        let req: CreateBatch = crate::body::parse(&body)?;
        if !BATCH_URLS.contains(&req.endpoint.as_str()) {
            return Err(GatewayError::bad_request(
                format!("endpoint must be {}.", BATCH_URLS.join(" or ")),
                Some("endpoint"),
            ));
        }
        if req.completion_window != "24h" {
            return Err(GatewayError::bad_request(
                "completion_window must be 24h.",
                Some("completion_window"),
            ));
        }
        let file = files::find(&st, &caller, &req.input_file_id)
            .await
            .map_err(|_| {
                GatewayError::bad_request(
                    format!(
                        "No file `{}` of yours; upload it with POST /v1/files (purpose batch).",
                        req.input_file_id
                    ),
                    Some("input_file_id"),
                )
            })?;
        if file.purpose != "batch" {
            return Err(GatewayError::bad_request(
                "The input file's purpose must be batch.",
                Some("input_file_id"),
            ));
        }
        let lines = driver::read_lines(&st, &file.id).await?;
        if let Some((n, url)) = lines
            .iter()
            .enumerate()
            .find_map(|(i, l)| (l.url != req.endpoint).then(|| (i + 1, l.url.clone())))
        {
            return Err(GatewayError::bad_request(
                format!(
                    "Line {n} of the input file calls {url}, not the batch's endpoint {}.",
                    req.endpoint
                ),
                Some("endpoint"),
            ));
        }
        let now = schemas::now_ms() / 1000;
        let batch = Batch {
            id: format!("batch_{}", uuid::Uuid::now_v7().simple()),
            object: "batch".into(),
            endpoint: req.endpoint,
            input_file_id: file.id,
            completion_window: req.completion_window,
            status: "in_progress".into(),
            created_at: now,
            in_progress_at: Some(now),
            expires_at: Some(now + st.cfg().files.batch_window_s.max(1)),
            request_counts: Counts {
                total: lines.len(),
                ..Default::default()
            },
            metadata: req.metadata,
            key_id: caller.key_id().map(str::to_string),
            ..Default::default()
        };
        let bytes =
            serde_json::to_vec(&batch).map_err(|e| GatewayError::Internal(e.to_string()))?;
        st.topo()
            .batches
            .create(kv_key(&batch.id), bytes.into())
            .await
            .map_err(unavailable)?;
        driver::spawn(st.clone(), batch.id.clone(), Some(lines));
        Ok::<_, GatewayError>(Json(batch.view()))
    }
    .await;
    out.into_response()
}

/// `GET /v1/batches/{id}`.
pub async fn get(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    load(&st, &caller, &id)
        .await
        .map(|(b, _)| Json(b.view()))
        .into_response()
}

/// Query parameters of `GET /v1/batches`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
pub struct ListParams {
    /// The last id of the previous page.
    after: Option<String>,
    /// Page size, 1 to 100 (default 20).
    limit: Option<usize>,
}

/// `GET /v1/batches`: the caller's batches, newest first, paged with `after`.
pub async fn list(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(p): Query<ListParams>,
) -> Response {
    let out = async {
        let limit = p.limit.unwrap_or(20).clamp(1, 100);
        let bucket = &st.topo().batches;
        let mut keys = bucket.keys().await.map_err(unavailable)?;
        let mut ids = Vec::new();
        while let Some(Ok(k)) = keys.next().await {
            if let Some(id) = k.strip_prefix("b.") {
                ids.push(id.to_string());
            }
        }
        ids.sort_by(|a, b| b.cmp(a));
        let start = p.after.as_ref().map_or(0, |a| ids.iter().position(|i| i == a).map_or(0, |i| i + 1));
        let mut data = Vec::new();
        let mut has_more = false;
        for id in ids.iter().skip(start) {
            if let Ok((b, _)) = load(&st, &caller, id).await {
                if data.len() == limit {
                    has_more = true;
                    break;
                }
                data.push(b.view());
            }
        }
        let first_id = data.first().and_then(|b| b["id"].as_str().map(str::to_string));
        let last_id = data.last().and_then(|b| b["id"].as_str().map(str::to_string));
        Ok::<_, GatewayError>(Json(serde_json::json!({"object": "list", "data": data, "first_id": first_id, "last_id": last_id, "has_more": has_more})))
    }
    .await;
    out.into_response()
}

/// `POST /v1/batches/{id}/cancel`: the lines not yet done are cancelled; the batch ends
/// `cancelled` with what was answered.
pub async fn cancel(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let out = async {
        for _ in 0..8 {
            let (mut b, rev) = load(&st, &caller, &id).await?;
            if b.is_final() || b.status == "cancelling" {
                return Ok(Json(b.view()));
            }
            b.status = "cancelling".into();
            b.cancelling_at = Some(schemas::now_ms() / 1000);
            let bytes =
                serde_json::to_vec(&b).map_err(|e| GatewayError::Internal(e.to_string()))?;
            if st
                .topo()
                .batches
                .update(kv_key(&id), bytes.into(), rev)
                .await
                .is_ok()
            {
                driver::spawn(st.clone(), id.clone(), None);
                return Ok::<_, GatewayError>(Json(b.view()));
            }
        }
        Err(GatewayError::Conflict(format!(
            "The batch `{id}` is changing; try again."
        )))
    }
    .await;
    out.into_response()
}
