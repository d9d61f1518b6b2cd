//! `GET /admin/providers`: each provider's queue, jobs in flight against its cap, a pause
//! after a 429, its targets' circuits and its recent error rate; `GET /admin/nodes`: every
//! process and when it was last heard from. What the dashboard's Providers page shows.

use crate::state::AppState;
use crate::targets::CircuitView;
use axum::extract::State;
use axum::Json;
use broker::audit::protocol::StatsQuery;
use broker::audit::{AuditorClient, Stats};
use broker::nats::heartbeat::NodeBeat;
use futures::StreamExt;
use serde::Serialize;
use std::collections::BTreeMap;

/// How far back "recent" errors go.
const RECENT_MS: u64 = 15 * 60 * 1000;

/// One provider as the dashboard shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ProviderView {
    /// The provider's name.
    pub name: String,
    /// Its adapter.
    pub kind: String,
    /// Jobs waiting in its queue.
    pub queue_depth: Option<u64>,
    /// Jobs being run now.
    pub in_flight: Option<u64>,
    /// The cluster-wide cap of jobs in flight.
    pub max_in_flight: i64,
    /// Paused after an upstream 429: for how many more ms.
    pub paused_for_ms: Option<u64>,
    /// Circuit states by target (`provider/model`).
    pub circuits: BTreeMap<String, CircuitView>,
    /// Jobs of the last 15 minutes, from the request log (absent without an auditor).
    pub recent_jobs: Option<u64>,
    /// Their share that failed, 0 to 1.
    pub recent_error_rate: Option<f64>,
}

/// `GET /admin/providers`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ProvidersPage {
    /// `list`.
    pub object: String,
    /// The providers.
    pub data: Vec<ProviderView>,
}

/// `GET /admin/providers`.
pub async fn providers(State(st): State<AppState>) -> Json<ProvidersPage> {
    let now = schemas::now_ms();
    let circuits = st.health().circuits_at(now);
    let client = AuditorClient::for_subjects(st.client().clone(), &st.topo().subjects);
    let q = StatsQuery {
        since_ms: Some(now.saturating_sub(RECENT_MS)),
        until_ms: Some(now),
        step_ms: None,
        group: None,
        names: None,
    };
    let recent: Option<Stats> = client.call("stats", &q).await.ok();
    let mut data = Vec::new();
    for (name, p) in &st.cfg().providers {
        let consumer = st.topo().subjects.worker_consumer(name);
        let info = st.topo().jobs.consumer_info(&consumer).await.ok();
        let agg = recent
            .as_ref()
            .and_then(|s| s.providers.iter().find(|a| &a.name == name));
        data.push(ProviderView {
            name: name.clone(),
            kind: p.kind.clone(),
            queue_depth: info.as_ref().map(|i| i.num_pending),
            in_flight: info.as_ref().map(|i| i.num_ack_pending as u64),
            max_in_flight: p.max_in_flight.unwrap_or(st.cfg().worker.max_in_flight),
            paused_for_ms: info
                .as_ref()
                .filter(|i| i.paused)
                .and_then(|i| i.pause_remaining)
                .map(|d| d.as_millis() as u64),
            circuits: circuits
                .iter()
                .filter(|(t, _)| t.split_once('/').map(|(p, _)| p) == Some(name.as_str()))
                .map(|(t, c)| (t.clone(), c.clone()))
                .collect(),
            recent_jobs: recent.as_ref().map(|_| agg.map_or(0, |a| a.count)),
            recent_error_rate: agg
                .filter(|a| a.count > 0)
                .map(|a| a.failures as f64 / a.count as f64),
        });
    }
    Json(ProvidersPage {
        object: "list".into(),
        data,
    })
}

/// `GET /admin/nodes`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct NodesPage {
    /// `list`.
    pub object: String,
    /// Every process heard from in the last 30 s.
    pub data: Vec<NodeBeat>,
}

/// `GET /admin/nodes`.
pub async fn nodes(State(st): State<AppState>) -> Json<NodesPage> {
    let bucket = &st.topo().nodes;
    let mut data = Vec::new();
    if let Ok(mut names) = bucket.keys().await {
        while let Some(Ok(k)) = names.next().await {
            if let Ok(Some(v)) = bucket.get(&k).await {
                if let Ok(b) = serde_json::from_slice::<NodeBeat>(&v) {
                    data.push(b);
                }
            }
        }
    }
    data.sort_by(|a, b| a.node.cmp(&b.node));
    Json(NodesPage {
        object: "list".into(),
        data,
    })
}
