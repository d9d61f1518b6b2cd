//! The request log over HTTP, answered by asking the auditor service over NATS:
//! `GET /v1/requests`, `GET /v1/requests/stats`, `GET /v1/requests/export`,
//! `GET /v1/requests/{id}` and `GET /v1/requests/{id}/events[?follow=true]` (replays are
//! in `crate::replay` and `crate::replay_bulk`).

use crate::auth::Caller;
use crate::error::GatewayError;
use crate::follow;
use crate::jobs::check_id;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use broker::audit::protocol::{ListPage, Timeline, MAX_LIMIT};
use broker::audit::window::parse_time;
use broker::audit::{AuditorClient, QueryError};
use broker::audit::{FullRecord, ListQuery};
use schemars::JsonSchema;
use schemas::EventKind;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A record another key submitted answers as if it did not exist.
pub fn not_yours(id: &str) -> GatewayError {
    GatewayError::NotFound(format!("No request `{id}` is in the log."))
}

pub fn auditor(st: &AppState) -> AuditorClient {
    AuditorClient::for_subjects(st.client().clone(), &st.topo().subjects)
}

/// Maps a failed auditor query to the client-facing error.
pub fn query_error(e: QueryError) -> GatewayError {
    match e {
        QueryError::NoAuditor { .. } => GatewayError::Unavailable(e.to_string()),
        QueryError::Status {
            status: 404,
            message,
        } => GatewayError::NotFound(message),
        QueryError::Status {
            status: 400,
            message,
        } => GatewayError::BadRequest {
            message,
            param: None,
        },
        other => GatewayError::Internal(other.to_string()),
    }
}

fn query_rejected(e: QueryRejection) -> GatewayError {
    GatewayError::bad_request(
        format!("The query string is invalid: {e}. Fix it and try again."),
        None,
    )
}

/// Query parameters of `GET /v1/requests`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ListParams {
    /// `queued`, `running`, `completed`, `failed` or `cancelled`.
    status: Option<String>,
    /// The model as the client named it, as its provider knows it, or `provider/model`.
    model: Option<String>,
    /// The provider.
    provider: Option<String>,
    /// The key id.
    key: Option<String>,
    /// `sync`, `stream`, `queued` or `batch`.
    mode: Option<String>,
    /// Words that must all appear (any case, any order) in the request's messages, the
    /// response text or the error message.
    q: Option<String>,
    /// Created at or after: RFC 3339, ms since the epoch, or an age like `1h`.
    since: Option<String>,
    /// Created before: RFC 3339, ms since the epoch, or an age like `1h`.
    until: Option<String>,
    /// Page size, 1 to 1000 (default 50).
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A page of `GET /v1/requests`, newest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RequestsPage {
    /// `list`.
    pub object: String,
    /// The records.
    pub data: Vec<broker::audit::Record>,
    /// Whether more match.
    pub has_more: bool,
    /// Pass as `cursor` for the next page.
    pub next_cursor: Option<String>,
}

fn to_query(p: ListParams) -> Result<ListQuery, GatewayError> {
    let (since_ms, until_ms) = window(p.since, p.until)?;
    let limit = p
        .limit
        .filter(|s| !s.is_empty())
        .map(|l| {
            l.parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    GatewayError::bad_request(
                        format!("limit must be a whole number from 1 to {MAX_LIMIT}, got `{l}`; page on with `cursor`."),
                        Some("limit"),
                    )
                })
        })
        .transpose()?;
    let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
    let mode = nonempty(p.mode);
    if let Some(m) = &mode {
        if serde_json::from_value::<schemas::Mode>(serde_json::Value::String(m.clone())).is_err() {
            return Err(GatewayError::bad_request(
                format!("mode `{m}` is unknown; use sync, stream, queued or batch."),
                Some("mode"),
            ));
        }
    }
    Ok(ListQuery {
        status: nonempty(p.status),
        model: nonempty(p.model),
        provider: nonempty(p.provider),
        key: nonempty(p.key),
        mode,
        q: nonempty(p.q),
        since_ms,
        until_ms,
        limit,
        cursor: nonempty(p.cursor),
    })
}

/// `GET /v1/requests`: a filtered page, newest first.
pub async fn list(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Response {
    let out = async {
        let Query(p) = params.map_err(query_rejected)?;
        let mut q = to_query(p)?;
        // A virtual key lists its own requests only.
        if !caller.admin() {
            q.key = caller.key_id().map(str::to_string);
        }
        let page: ListPage = auditor(&st).call("list", &q).await.map_err(query_error)?;
        Ok::<_, GatewayError>(Json(RequestsPage {
            object: "list".into(),
            data: page.data,
            has_more: page.has_more,
            next_cursor: page.next_cursor,
        }))
    }
    .await;
    out.into_response()
}

/// Query parameters of `GET /v1/requests/stats`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct StatsParams {
    /// From: RFC 3339, ms since the epoch, or an age like `24h` (default: 1 h ago).
    since: Option<String>,
    /// Until: RFC 3339, ms since the epoch, or an age (default: now).
    until: Option<String>,
    /// A step like `5m` or `1h`: also the totals of each step (`series`).
    step: Option<String>,
    /// With a step: also each step of the busiest `model`s, `provider`s or `key`s (`groups`).
    group: Option<String>,
}

/// The `since`/`until` window of a query, parsed.
pub fn window(
    since: Option<String>,
    until: Option<String>,
) -> Result<(Option<u64>, Option<u64>), GatewayError> {
    let now = schemas::now_ms();
    let time = |v: Option<String>, name: &str| {
        v.filter(|s| !s.is_empty())
            .map(|s| parse_time(&s, now).map_err(|m| GatewayError::bad_request(m, Some(name))))
            .transpose()
    };
    Ok((time(since, "since")?, time(until, "until")?))
}

/// `GET /v1/requests/stats`: counts, failures, tokens, cost and latency percentiles per
/// model, provider and key over a window.
pub async fn stats(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    params: Result<Query<StatsParams>, QueryRejection>,
) -> Response {
    let out = async {
        if !caller.admin() {
            return Err(GatewayError::Forbidden(
                "Stats over every key need an admin key; a key sees its own spend in GET /v1/usage?group_by=key.".into(),
            ));
        }
        let Query(p) = params.map_err(query_rejected)?;
        let (since_ms, until_ms) = window(p.since, p.until)?;
        let step_ms = p
            .step
            .filter(|s| !s.is_empty())
            .map(|s| {
                let now = schemas::now_ms();
                parse_time(&s, now)
                    .ok()
                    .map(|t| now - t)
                    .filter(|ms| *ms >= 60_000)
                    .ok_or_else(|| {
                        GatewayError::bad_request(
                            format!("step must be a duration of a minute or more like 5m or 1h, got `{s}`."),
                            Some("step"),
                        )
                    })
            })
            .transpose()?;
        let group = p.group.filter(|g| !g.is_empty());
        if let Some(g) = &group {
            if !["model", "provider", "key"].contains(&g.as_str()) || step_ms.is_none() {
                return Err(GatewayError::bad_request(
                    format!("group `{g}` needs a step and is model, provider or key."),
                    Some("group"),
                ));
            }
        }
        let q = broker::audit::protocol::StatsQuery {
            since_ms,
            until_ms,
            step_ms,
            group,
            names: None,
        };
        let stats: broker::audit::Stats =
            auditor(&st).call("stats", &q).await.map_err(query_error)?;
        Ok::<_, GatewayError>(Json(stats))
    }
    .await;
    out.into_response()
}

/// Query parameters of `GET /v1/requests/export`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ExportParams {
    /// Created at or after: RFC 3339, ms since the epoch, or an age like `30d`.
    since: Option<String>,
    /// Created before.
    until: Option<String>,
    /// `jsonl` (the only format): one record per line.
    format: Option<String>,
}

/// `GET /v1/requests/export`: every record of a window, newest first, one JSON object per
/// line, streamed page by page (no bodies; fetch those per record).
pub async fn export(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    params: Result<Query<ExportParams>, QueryRejection>,
) -> Response {
    let out = async {
        let Query(p) = params.map_err(query_rejected)?;
        if p.format
            .as_deref()
            .is_some_and(|f| !f.is_empty() && f != "jsonl")
        {
            return Err(GatewayError::bad_request(
                "format must be jsonl (one record per line).",
                Some("format"),
            ));
        }
        let (since_ms, until_ms) = window(p.since, p.until)?;
        let first = ListQuery {
            since_ms,
            until_ms,
            limit: Some(MAX_LIMIT),
            key: (!caller.admin())
                .then(|| caller.key_id().map(str::to_string))
                .flatten(),
            ..Default::default()
        };
        let client = auditor(&st);
        // The first page answers errors (no auditor) as a status; later ones end the stream.
        let page: ListPage = client.call("list", &first).await.map_err(query_error)?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        tokio::spawn(async move {
            let mut page = page;
            loop {
                let mut chunk = Vec::new();
                for r in &page.data {
                    if serde_json::to_writer(&mut chunk, r).is_ok() {
                        chunk.push(b'\n');
                    }
                }
                if tx.send(Ok(Bytes::from(chunk))).await.is_err() {
                    return;
                }
                let Some(cursor) = page.next_cursor.take().filter(|_| page.has_more) else {
                    return;
                };
                let q = ListQuery {
                    cursor: Some(cursor),
                    ..first.clone()
                };
                match client.call::<_, ListPage>("list", &q).await {
                    Ok(p) => page = p,
                    Err(e) => {
                        let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                        return;
                    }
                }
            }
        });
        let body = Body::from_stream(crate::sse::tokio_stream(rx));
        Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
    }
    .await;
    out.unwrap_or_else(IntoResponse::into_response)
}

/// `GET /v1/requests/{id}`: the full record.
pub async fn get(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let out = async {
        check_id(&id)?;
        let rec: FullRecord = auditor(&st).full_record(&id).await.map_err(query_error)?;
        if !caller.sees(rec.record.key_id.as_deref()) {
            return Err(not_yours(&id));
        }
        Ok::<_, GatewayError>(Json(rec))
    }
    .await;
    out.into_response()
}

/// Query parameters of `GET /v1/requests/{id}/events`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct EventsParams {
    /// `true` streams the timeline live as server-sent events until the job ends.
    follow: Option<String>,
}

/// `GET /v1/requests/{id}/events`: the timeline, or with `follow=true` a live SSE stream.
pub async fn events(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    params: Result<Query<EventsParams>, QueryRejection>,
) -> Response {
    let out = async {
        check_id(&id)?;
        let Query(p) = params.map_err(query_rejected)?;
        let follow = match p.follow.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                return Err(GatewayError::bad_request(
                    format!("follow must be true or false, got `{other}`."),
                    Some("follow"),
                ))
            }
        };
        if follow {
            if !caller.admin() {
                let evs = crate::job::wait::job_events(&st, &id, 256).await?;
                if !caller.sees(crate::jobs::owner(&evs)) {
                    return Err(not_yours(&id));
                }
            }
            return follow::stream(st, id).await;
        }
        let tl: Timeline = auditor(&st)
            .call("events", &json!({ "id": id }))
            .await
            .map_err(query_error)?;
        let owner = tl
            .events
            .iter()
            .find(|e| e.event.event.kind == EventKind::Received)
            .and_then(|e| e.event.event.detail.key_id.as_deref());
        if !caller.sees(owner) {
            return Err(not_yours(&id));
        }
        Ok(Json(tl).into_response())
    }
    .await;
    out.unwrap_or_else(IntoResponse::into_response)
}
