//! `GET /v1/usage?group_by=key|model|provider&since=&until=`: requests, tokens and cost from
//! the request log's rollups. A virtual key sees its own row (`group_by=key`) only.

use crate::auth::Caller;
use crate::error::GatewayError;
use crate::requests::{query_error, window};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use broker::audit::protocol::{Aggregate, StatsQuery};
use broker::audit::{AuditorClient, Stats};
use serde::{Deserialize, Serialize};

/// Query parameters of `GET /v1/usage`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageParams {
    /// `key` (default), `model` or `provider`.
    group_by: Option<String>,
    /// From: RFC 3339, ms since the epoch, or an age like `30d` (default: 1 h ago).
    since: Option<String>,
    /// Until (default: now).
    until: Option<String>,
}

/// One group's usage.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct UsageRow {
    /// The key id, model or provider.
    pub name: String,
    /// Requests.
    pub requests: u64,
    /// Failed requests.
    pub failures: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// All tokens.
    pub total_tokens: u64,
    /// Cost in USD (of models with a price).
    pub cost_usd: f64,
}

/// The answer of `GET /v1/usage`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct UsagePage {
    /// `list`.
    pub object: String,
    /// `key`, `model` or `provider`.
    pub group_by: String,
    /// The window start (ms since the epoch).
    pub since_ms: u64,
    /// The window end.
    pub until_ms: u64,
    /// One row per group, costliest first.
    pub data: Vec<UsageRow>,
}

impl From<Aggregate> for UsageRow {
    fn from(a: Aggregate) -> Self {
        Self {
            name: a.name,
            requests: a.count,
            failures: a.failures,
            prompt_tokens: a.prompt_tokens,
            completion_tokens: a.completion_tokens,
            total_tokens: a.total_tokens,
            cost_usd: a.cost_usd,
        }
    }
}

/// `GET /v1/usage`.
pub async fn usage(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    params: Result<Query<UsageParams>, QueryRejection>,
) -> Response {
    let out = async {
        let Query(p) = params.map_err(|e| {
            GatewayError::invalid(format!("{e}. Parameters: group_by, since, until."))
        })?;
        let group_by = p
            .group_by
            .filter(|g| !g.is_empty())
            .unwrap_or_else(|| "key".into());
        if !caller.admin() && group_by != "key" {
            return Err(GatewayError::Forbidden(
                "A key sees its own usage only: use group_by=key (an admin key sees every group)."
                    .into(),
            ));
        }
        let (since_ms, until_ms) = window(p.since, p.until)?;
        let client = AuditorClient::for_subjects(st.client().clone(), &st.topo().subjects);
        let stats: Stats = client
            .call(
                "stats",
                &StatsQuery {
                    since_ms,
                    until_ms,
                    step_ms: None,
                    group: None,
                    names: None,
                },
            )
            .await
            .map_err(query_error)?;
        let groups = match group_by.as_str() {
            "key" => stats.keys,
            "model" => stats.models,
            "provider" => stats.providers,
            other => {
                return Err(GatewayError::bad_request(
                    format!("group_by `{other}` is unknown; use key, model or provider."),
                    Some("group_by"),
                ))
            }
        };
        let mut data: Vec<UsageRow> = groups
            .into_iter()
            .filter(|a| caller.admin() || Some(a.name.as_str()) == caller.key_id())
            .map(UsageRow::from)
            .collect();
        data.sort_by(|a, b| {
            b.cost_usd
                .total_cmp(&a.cost_usd)
                .then(b.requests.cmp(&a.requests))
        });
        Ok::<_, GatewayError>(Json(UsagePage {
            object: "list".into(),
            group_by,
            since_ms: stats.since_ms,
            until_ms: stats.until_ms,
            data,
        }))
    }
    .await;
    out.into_response()
}
