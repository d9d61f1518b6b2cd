//! The NATS service `switchyard-auditor`: `sy.auditor.{get,list,stats,events,body}` (of a
//! partitioned log's auditor, `sy.auditor.p<partition>.*`) in a queue group, so any running
//! auditor (of that partition) answers. Requests and replies are JSON; a reply is either
//! `{"ok": ...}` or `{"err": {"status", "message"}}` (see [`Reply`]).

use super::query;
use super::store::{BodyKind, Store};
use super::AuditorError;
use async_nats::service::ServiceExt;
use broker::audit::protocol::{
    BodyPart, BodyParts, BodyQuery, FullRecord, IdQuery, ListPage, ListQuery, Reply, StatsQuery,
    Timeline, ENDPOINTS, SERVICE_NAME,
};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

fn not_found(id: &str) -> AuditorError {
    AuditorError::NotFound(format!(
        "No request `{id}` is in the request log. It may be older than auditor.max_age_s, or the id is wrong; list recent ones with GET /v1/requests."
    ))
}

/// Room kept under `max_payload` for the reply envelope and headers.
const MARGIN: usize = 16 * 1024;

/// The JSON text of a body, cut into parts of `size` bytes (at character boundaries).
fn body_parts(text: &str, size: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = size.min(rest.len());
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (a, b) = rest.split_at(end);
        out.push(a);
        rest = b;
    }
    out
}

fn len_of<T: serde::Serialize>(v: &T) -> usize {
    serde_json::to_vec(v).map(|b| b.len()).unwrap_or(usize::MAX)
}

/// A full record that fits in `limit` bytes: bodies that do not fit are left for `body`.
fn fit_record(mut rec: FullRecord, limit: usize) -> FullRecord {
    if len_of(&rec) <= limit {
        return rec;
    }
    let part = (limit / 2).max(1);
    let count = |b: &Option<serde_json::Value>| {
        b.as_ref()
            .map(|v| body_parts(&v.to_string(), part).len() as u32)
            .unwrap_or(0)
    };
    let parts = BodyParts {
        request: count(&rec.request),
        response: count(&rec.response),
    };
    rec.request = None;
    rec.response = None;
    rec.parts = Some(parts);
    if len_of(&rec) > limit {
        trim_events(&mut rec.events, limit);
    }
    rec
}

/// Cuts the long strings of events until they fit: a 200 KB model name repeated on every
/// event must not make a timeline unanswerable.
fn trim_events(events: &mut [broker::audit::protocol::TimelineEvent], limit: usize) {
    let per = (limit / events.len().max(1) / 4).max(256);
    for e in events.iter_mut() {
        let d = &mut e.event.event.detail;
        for s in [
            d.model.as_mut(),
            d.error.as_mut(),
            d.provider.as_mut(),
            d.key_id.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            query::cut(s, per);
        }
    }
}

/// A list page that fits in `limit` bytes: rows are dropped from its end, and its cursor
/// goes on from the last row kept.
fn fit_page(mut page: ListPage, limit: usize) -> ListPage {
    while page.data.len() > 1 && len_of(&page) > limit {
        let keep = page.data.len() / 2;
        page.data.truncate(keep);
        page.has_more = true;
        page.next_cursor = page.data.last().map(query::cursor_after);
    }
    page
}

fn answer(
    store: &Store,
    endpoint: &str,
    payload: &[u8],
    limit: usize,
) -> Result<serde_json::Value, AuditorError> {
    let parse = |what: &str| {
        AuditorError::BadQuery(format!(
            "the {endpoint} request is not valid JSON for {what}"
        ))
    };
    let to_json = |v: Result<serde_json::Value, serde_json::Error>| {
        v.map_err(|e| AuditorError::Corrupt(e.to_string()))
    };
    match endpoint {
        "get" => {
            let q: IdQuery = serde_json::from_slice(payload).map_err(|_| parse("{\"id\"}"))?;
            let rec = query::get(store, &q.id)?.ok_or_else(|| not_found(&q.id))?;
            to_json(serde_json::to_value(fit_record(rec, limit)))
        }
        "events" => {
            let q: IdQuery = serde_json::from_slice(payload).map_err(|_| parse("{\"id\"}"))?;
            let rec = store.record(&q.id)?.ok_or_else(|| not_found(&q.id))?;
            let mut events = query::timeline(store, &q.id, rec.created_ms)?;
            if len_of(&events) > limit {
                trim_events(&mut events, limit);
            }
            to_json(serde_json::to_value(Timeline {
                id: rec.id,
                status: rec.status,
                created_ms: rec.created_ms,
                events,
            }))
        }
        "list" => {
            let q: ListQuery = if payload.is_empty() {
                ListQuery::default()
            } else {
                serde_json::from_slice(payload).map_err(|_| parse("a list query"))?
            };
            to_json(serde_json::to_value(fit_page(
                query::list(store, &q)?,
                limit,
            )))
        }
        "stats" => {
            let q: StatsQuery = if payload.is_empty() {
                StatsQuery::default()
            } else {
                serde_json::from_slice(payload).map_err(|_| parse("a stats query"))?
            };
            to_json(serde_json::to_value(query::stats(
                store,
                &q,
                schemas::now_ms(),
            )?))
        }
        "body" => {
            let q: BodyQuery = serde_json::from_slice(payload)
                .map_err(|_| parse("{\"id\", \"kind\", \"part\"}"))?;
            let kind = match q.kind.as_str() {
                "request" => BodyKind::Request,
                "response" => BodyKind::Response,
                other => {
                    return Err(AuditorError::BadQuery(format!(
                        "body kind `{other}` is not request or response"
                    )))
                }
            };
            let body = store.body(&q.id, kind)?.ok_or_else(|| not_found(&q.id))?;
            let text = body.to_string();
            let parts = body_parts(&text, (limit / 2).max(1));
            let data = parts.get(q.part as usize).ok_or_else(|| {
                AuditorError::BadQuery(format!(
                    "part {} is past the last ({})",
                    q.part,
                    parts.len()
                ))
            })?;
            to_json(serde_json::to_value(BodyPart {
                data: data.to_string(),
                parts: parts.len() as u32,
            }))
        }
        other => Err(AuditorError::BadQuery(format!(
            "unknown endpoint `{other}`"
        ))),
    }
}

fn reply_bytes(out: Result<serde_json::Value, AuditorError>) -> bytes::Bytes {
    let reply = match out {
        Ok(v) => Reply::Ok(v),
        Err(e) => Reply::Err {
            status: e.status_code().as_u16(),
            message: e.to_string(),
        },
    };
    serde_json::to_vec(&reply).unwrap_or_default().into()
}

/// Runs the service until `stop`.
pub async fn run(
    client: async_nats::Client,
    group: String,
    store: Store,
    stop: CancellationToken,
) -> Result<(), AuditorError> {
    let service = client
        .service_builder()
        .description("Switchyard request log: job records, lists, stats and timelines")
        .start(SERVICE_NAME, env!("CARGO_PKG_VERSION"))
        .await
        .map_err(|e| AuditorError::Nats(e.to_string()))?;
    let group = service.group(group);
    let limit = client
        .server_info()
        .max_payload
        .saturating_sub(MARGIN)
        .max(64 * 1024);
    let mut tasks = Vec::new();
    for name in ENDPOINTS {
        let mut ep = group
            .endpoint(name)
            .await
            .map_err(|e| AuditorError::Nats(e.to_string()))?;
        let (store, stop) = (store.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let req = tokio::select! {
                    _ = stop.cancelled() => break,
                    r = ep.next() => r,
                };
                let Some(req) = req else { break };
                let st = store.clone();
                let payload = req.message.payload.clone();
                let out = tokio::task::spawn_blocking(move || answer(&st, name, &payload, limit))
                    .await
                    .unwrap_or_else(|e| Err(AuditorError::Corrupt(e.to_string())));
                if let Err(e) = req.respond(Ok(reply_bytes(out))).await {
                    tracing::warn!(endpoint = name, error = %e, "auditor reply not sent");
                }
            }
            let _ = ep.stop().await;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let _ = service.stop().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_split_at_character_boundaries_and_join_back() {
        let text = "é".repeat(1000);
        let parts = body_parts(&text, 333);
        assert!(parts.len() > 1);
        assert_eq!(parts.concat(), text);
        assert!(parts.iter().all(|p| p.len() <= 333));
    }
}
