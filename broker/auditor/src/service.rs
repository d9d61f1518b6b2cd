//! The NATS service `switchyard-auditor`: `sy.auditor.{get,list,stats,events}` in a queue
//! group, so any running auditor answers. Requests and replies are JSON; a reply is either
//! `{"ok": ...}` or `{"err": {"status", "message"}}` (see [`Reply`]).

use super::query;
use super::store::Store;
use super::AuditorError;
use async_nats::service::ServiceExt;
use broker::audit::protocol::{
    IdQuery, ListQuery, Reply, StatsQuery, Timeline, ENDPOINTS, SERVICE_NAME,
};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

fn not_found(id: &str) -> AuditorError {
    AuditorError::NotFound(format!(
        "No request `{id}` is in the request log. It may be older than auditor.max_age_s, or the id is wrong; list recent ones with GET /v1/requests."
    ))
}

fn answer(
    store: &Store,
    endpoint: &str,
    payload: &[u8],
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
            to_json(serde_json::to_value(rec))
        }
        "events" => {
            let q: IdQuery = serde_json::from_slice(payload).map_err(|_| parse("{\"id\"}"))?;
            let rec = store.record(&q.id)?.ok_or_else(|| not_found(&q.id))?;
            let events = query::timeline(store, &q.id, rec.created_ms)?;
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
            to_json(serde_json::to_value(query::list(store, &q)?))
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
    prefix: String,
    store: Store,
    stop: CancellationToken,
) -> Result<(), AuditorError> {
    let service = client
        .service_builder()
        .description("Switchyard request log: job records, lists, stats and timelines")
        .start(SERVICE_NAME, env!("CARGO_PKG_VERSION"))
        .await
        .map_err(|e| AuditorError::Nats(e.to_string()))?;
    let group = service.group(format!("{prefix}.auditor"));
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
                let out = tokio::task::spawn_blocking(move || answer(&st, name, &payload))
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
