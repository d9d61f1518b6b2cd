//! Every process says it is alive: a record in the `sy_nodes` bucket (30 s TTL) rewritten
//! every 5 s with its roles, so the dashboard lists the nodes and when each was last heard.

use async_nats::jetstream::kv;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often a node rewrites its record.
pub const EVERY: Duration = Duration::from_secs(5);

/// How long a record lives without being rewritten.
pub const TTL: Duration = Duration::from_secs(30);

/// One node's record.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NodeBeat {
    /// The node's name (`server.node`, default host and pid).
    pub node: String,
    /// `ingress`, `worker`, `auditor`.
    pub roles: Vec<String>,
    /// The gateway's version.
    pub version: String,
    /// When the process started (ms since the epoch).
    pub started_ms: u64,
    /// When it last wrote this record.
    pub ts_ms: u64,
}

/// The bucket key of a node's record.
pub fn key(node: &str) -> String {
    let safe: String = node
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("n.{safe}")
}

/// Rewrites `beat` every [`EVERY`] until `stop`, then deletes it.
pub async fn run(bucket: kv::Store, mut beat: NodeBeat, stop: CancellationToken) {
    let k = key(&beat.node);
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        beat.ts_ms = schemas::now_ms();
        if let Ok(bytes) = serde_json::to_vec(&beat) {
            if let Err(e) = bucket.put(&k, bytes.into()).await {
                tracing::debug!(error = %e, "cannot write this node's heartbeat");
            }
        }
    }
    let _ = bucket.delete(&k).await;
}
