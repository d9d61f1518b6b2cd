//! `GET /v1/requests/{id}/events?follow=true`: the events so far, then live ones, as
//! server-sent events, ending after the job's final event with `data: [DONE]`.
//!
//! The live subscription opens first; the backlog comes from `SY_EVENTS` (exact and
//! immediate), or from the auditor once the stream has expired the job. Live events that
//! are already in the backlog are skipped.

use crate::error::{unavailable, GatewayError};
use crate::job::wait::job_events;
use crate::requests::query_error;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use broker::audit::protocol::Timeline;
use broker::audit::AuditorClient;
use futures::StreamExt;
use schemas::{Event, EventKind};
use std::collections::HashSet;
use std::time::Duration;
use tokio::sync::mpsc;

/// Events of one job kept from the stream before the live part starts.
const BACKLOG_LIMIT: usize = 1000;
/// How long a follower with no new event waits before a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

type Seen = HashSet<(EventKind, u64, String, Option<u32>)>;

fn seen_key(e: &Event) -> (EventKind, u64, String, Option<u32>) {
    (e.kind, e.ts_ms, e.node.clone(), e.detail.attempt)
}

fn is_final(k: EventKind) -> bool {
    matches!(
        k,
        EventKind::Completed | EventKind::Failed | EventKind::Cancelled | EventKind::DeadLettered
    )
}

fn frame(e: &Event, origin: u64) -> Bytes {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("body");
        o.insert(
            "offset_ms".into(),
            serde_json::json!(e.ts_ms as i64 - origin as i64),
        );
    }
    Bytes::from(format!("event: {}\ndata: {v}\n\n", e.kind.as_str()))
}

/// When a job id (a UUIDv7) was made, in ms since the epoch.
fn id_time_ms(id: &str) -> Option<u64> {
    let u = uuid::Uuid::parse_str(id).ok()?;
    let (secs, nanos) = u.get_timestamp()?.to_unix();
    Some(secs * 1000 + u64::from(nanos) / 1_000_000)
}

/// How long a job made moments ago may take to have its first events stored (they are
/// published without waiting, so a follow can arrive first).
const FRESH_GRACE: Duration = Duration::from_secs(2);

async fn backlog(st: &AppState, id: &str) -> Result<Vec<Event>, GatewayError> {
    let mut evs = job_events(st, id, BACKLOG_LIMIT).await?;
    let fresh = id_time_ms(id).is_some_and(|t| schemas::now_ms().saturating_sub(t) < 10_000);
    if evs.is_empty() && fresh {
        let until = tokio::time::Instant::now() + FRESH_GRACE;
        while evs.is_empty() && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(25)).await;
            evs = job_events(st, id, BACKLOG_LIMIT).await?;
        }
    }
    if evs.is_empty() {
        let client = AuditorClient::for_subjects(st.client().clone(), &st.topo().subjects);
        let tl: Timeline = client
            .call("events", &serde_json::json!({ "id": id }))
            .await
            .map_err(query_error)?;
        evs = tl.events.into_iter().map(|e| e.event.event).collect();
    }
    evs.sort_by_key(|e| e.ts_ms);
    Ok(evs)
}

/// Answers with the SSE stream of job `id`.
pub async fn stream(st: AppState, id: String) -> Result<Response, GatewayError> {
    let mut live = st
        .client()
        .subscribe(st.topo().subjects.events(&id))
        .await
        .map_err(unavailable)?;
    let past = backlog(&st, &id).await?;
    let origin = past
        .iter()
        .find(|e| e.kind == EventKind::Received)
        .or(past.first())
        .map(|e| e.ts_ms)
        .unwrap_or_else(schemas::now_ms);
    let limit = Duration::from_millis(st.cfg().server.request_timeout_ms.saturating_mul(2));
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let mut seen: Seen = HashSet::new();
        let mut done = false;
        for e in &past {
            seen.insert(seen_key(e));
            done |= is_final(e.kind);
            if tx.send(frame(e, origin)).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + limit;
        while !done {
            let next = tokio::select! {
                m = live.next() => m,
                _ = tokio::time::sleep(KEEP_ALIVE) => {
                    if tx.send(Bytes::from_static(b": keep-alive\n\n")).await.is_err() { return; }
                    continue;
                }
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::info!(job_id = %id, "event follow stopped at its time limit");
                    break;
                }
            };
            let Some(msg) = next else { break };
            let Ok(e) = serde_json::from_slice::<Event>(&msg.payload) else {
                continue;
            };
            if !seen.insert(seen_key(&e)) {
                continue;
            }
            done = is_final(e.kind);
            if tx.send(frame(&e, origin)).await.is_err() {
                return;
            }
        }
        let _ = tx.send(Bytes::from_static(b"data: [DONE]\n\n")).await;
    });
    let body = crate::sse::tokio_stream(rx).map(Ok::<_, std::convert::Infallible>);
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_job_id_tells_when_it_was_made() {
        let now = schemas::now_ms();
        let id = uuid::Uuid::now_v7().to_string();
        let t = super::id_time_ms(&id).unwrap_or(0);
        assert!(t.abs_diff(now) < 1000, "{t} vs {now}");
        assert_eq!(super::id_time_ms("not-an-id"), None);
    }
}
