//! Admin actions: what an operator did to the gateway (a key created, revoked, ...), who did
//! it and from where. Published on `sy.admin.<action>` into the `SY_ADMIN` stream and listed
//! by `GET /admin/audit`. Never carries a secret.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One admin action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AdminEvent {
    /// Envelope version ([`crate::WIRE_VERSION`]).
    pub v: u32,
    /// A UUIDv7 of the action.
    pub id: String,
    /// When it happened (ms since the epoch).
    pub ts_ms: u64,
    /// `key.created`, `key.updated`, `key.rotated`, `key.revoked`, `budget.soft_limit`,
    /// `cache.purged`, `replay.bulk_started`.
    pub action: String,
    /// Who did it: a key id, `master`, `open` (no key on a loopback gateway) or `system`.
    pub actor: String,
    /// The client address it came from, when it came over HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// What it acted on (a key id, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// What changed: the fields set, old and new where they differ (never a secret).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub changes: serde_json::Value,
    /// The process that recorded it.
    pub node: String,
}
