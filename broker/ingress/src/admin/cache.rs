//! `DELETE /admin/cache?key=&namespace=&model=` (or `?all=true`): purges cached answers of a
//! key, a namespace, a model (`provider/model` as it ran), or all; audited as `cache.purged`.

use super::audit::{self, From};
use crate::auth::Caller;
use crate::error::GatewayError;
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

/// Which entries `DELETE /admin/cache` purges; at least one filter, or `all`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PurgeParams {
    /// The key id whose entries go (`master`, `anon` for an open gateway).
    key: Option<String>,
    /// The namespace (`X-Switchyard-Cache-Namespace`; `default` when none was given).
    namespace: Option<String>,
    /// The model as it ran, `provider/model`.
    model: Option<String>,
    /// Everything.
    all: Option<bool>,
}

/// `DELETE /admin/cache`.
pub async fn purge(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    from: From,
    params: Result<Query<PurgeParams>, QueryRejection>,
) -> Response {
    let out = async {
        let Query(p) = params
            .map_err(|e| GatewayError::invalid(format!("{e}. Filters: key, namespace, model, all.")))?;
        let tok = |s: &Option<String>, max| {
            s.as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| broker::cache::namespace(Some(v)).chars().take(max).collect::<String>())
        };
        let (key, ns, model) = (tok(&p.key, 40), tok(&p.namespace, 64), tok(&p.model, 80));
        if key.is_none() && ns.is_none() && model.is_none() && p.all != Some(true) {
            return Err(GatewayError::invalid(
                "Name what to purge: key, namespace or model (or all=true for everything).",
            ));
        }
        let matches = |t: &[&str]| {
            t.len() == 5
                && key.as_deref().is_none_or(|k| t[1] == k)
                && ns.as_deref().is_none_or(|n| t[2] == n)
                && model.as_deref().is_none_or(|m| t[3] == m)
        };
        let n = st.cache().purge(matches).await.map_err(|e| {
            broker::telemetry::metrics::cache_error("purge");
            GatewayError::Unavailable(format!("The cache cannot be purged now: {e}. Try again shortly."))
        })?;
        let changes = serde_json::json!({"key": p.key, "namespace": p.namespace, "model": p.model, "all": p.all, "purged": n});
        audit::by(&st, &caller, &from, "cache.purged", None, changes).await;
        Ok::<_, GatewayError>(Json(serde_json::json!({"object": "cache.purge", "purged": n})))
    }
    .await;
    out.into_response()
}
