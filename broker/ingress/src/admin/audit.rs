//! The admin audit trail: every admin action is an [`AdminEvent`] on `sy.admin.<action>` in
//! the `SY_ADMIN` stream (kept a year), listed by `GET /admin/audit`.

use crate::auth::Caller;
use crate::error::{unavailable, GatewayError};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use broker::access::keys::KeyRecord;
use schemas::AdminEvent;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Where an admin request came from.
pub type From = Option<Extension<ConnectInfo<SocketAddr>>>;

/// Records an admin action; a failure to record it is logged (the action already happened).
pub async fn record(
    st: &AppState,
    actor: String,
    from: Option<String>,
    action: &str,
    target: Option<&str>,
    changes: serde_json::Value,
) {
    let ev = AdminEvent {
        v: schemas::WIRE_VERSION,
        id: uuid::Uuid::now_v7().to_string(),
        ts_ms: schemas::now_ms(),
        action: action.to_string(),
        actor,
        from,
        target: target.map(str::to_string),
        changes,
        node: st.events().node().to_string(),
    };
    tracing::info!(action, actor = %ev.actor, target = ?ev.target, "admin action");
    let published = async {
        let payload = serde_json::to_vec(&ev)?;
        st.topo()
            .js
            .publish(st.topo().subjects.admin(action), payload.into())
            .await?
            .await?;
        Ok::<_, async_nats::Error>(())
    }
    .await;
    if let Err(e) = published {
        tracing::error!(action, error = %e, "cannot record an admin action in the audit stream");
    }
}

/// Records an action a caller took over HTTP.
pub async fn by(
    st: &AppState,
    caller: &Caller,
    from: &From,
    action: &str,
    target: Option<&str>,
    changes: serde_json::Value,
) {
    let from = from
        .as_ref()
        .map(|Extension(ConnectInfo(a))| a.ip().to_string());
    record(st, caller.actor(), from, action, target, changes).await;
}

/// A key's spend crossed its soft budget: a warning, a metric and an audit record.
pub async fn soft_limit(st: &AppState, key: &KeyRecord, spent_micro_usd: i64) {
    let spent = spent_micro_usd as f64 / 1e6;
    tracing::warn!(key_id = %key.id, spent_usd = spent, soft_budget_usd = ?key.soft_budget_usd, "a key crossed its soft budget");
    broker::telemetry::metrics::budget_soft_limit(&key.id);
    let changes = serde_json::json!({
        "spent_usd": spent,
        "soft_budget_usd": key.soft_budget_usd,
        "budget_period": key.budget_period,
    });
    record(
        st,
        "system".into(),
        None,
        "budget.soft_limit",
        Some(&key.id),
        changes,
    )
    .await;
}

/// Query parameters of `GET /admin/audit`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Only this action (`key.created`, ...).
    action: Option<String>,
    /// Only actions by this key id (`master`, `open`, `system`).
    actor: Option<String>,
    /// Only actions on this target.
    target: Option<String>,
    /// At or after: RFC 3339, ms since the epoch, or an age like `24h`.
    since: Option<String>,
    /// Before.
    until: Option<String>,
    /// At most this many, newest first (1 to 1000, default 100).
    limit: Option<usize>,
}

/// A page of `GET /admin/audit`, newest first.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct AuditPage {
    /// `list`.
    pub object: String,
    /// The actions.
    pub data: Vec<AdminEvent>,
}

/// `GET /admin/audit`.
pub async fn list(
    State(st): State<AppState>,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> Response {
    let out = async {
        let Query(p) = params.map_err(|e| {
            GatewayError::invalid(format!(
                "{e}. Filters: action, actor, target, since, until, limit."
            ))
        })?;
        let limit = p.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(GatewayError::bad_request(
                "limit must be from 1 to 1000.",
                Some("limit"),
            ));
        }
        let now = schemas::now_ms();
        let time = |v: &Option<String>, name: &str| {
            v.as_deref()
                .filter(|s| !s.is_empty())
                .map(|s| {
                    broker::audit::window::parse_time(s, now)
                        .map_err(|m| GatewayError::bad_request(m, Some(name)))
                })
                .transpose()
        };
        let (since, until) = (time(&p.since, "since")?, time(&p.until, "until")?);
        let subject = match p.action.as_deref().filter(|a| !a.is_empty()) {
            Some(a)
                if a.starts_with('.')
                    || a.ends_with('.')
                    || a.contains("..")
                    || !a
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) =>
            {
                return Err(GatewayError::bad_request(
                    "action is a name like key.created.",
                    Some("action"),
                ))
            }
            Some(a) => st.topo().subjects.admin(a),
            None => st.topo().subjects.admin(">"),
        };
        // Admin actions are few: read them all, filter, newest first.
        let payloads = broker::nats::subject_payloads(&st.topo().admin, &subject, usize::MAX)
            .await
            .map_err(unavailable)?;
        let mut all: Vec<AdminEvent> = payloads
            .iter()
            .filter_map(|m| serde_json::from_slice::<AdminEvent>(m).ok())
            .filter(|ev| {
                since.is_none_or(|s| ev.ts_ms >= s)
                    && until.is_none_or(|u| ev.ts_ms < u)
                    && p.actor
                        .as_ref()
                        .is_none_or(|a| a.is_empty() || &ev.actor == a)
                    && p.target
                        .as_ref()
                        .is_none_or(|t| t.is_empty() || ev.target.as_ref() == Some(t))
            })
            .collect();
        all.reverse();
        all.truncate(limit);
        Ok(Json(AuditPage {
            object: "list".into(),
            data: all,
        }))
    }
    .await;
    out.into_response()
}
