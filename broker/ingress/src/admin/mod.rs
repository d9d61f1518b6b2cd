//! The admin API (master key or admin keys only; see [`crate::auth`]): virtual keys
//! ([`keys`]), the audit trail of admin actions ([`audit`]), providers' and nodes' state
//! ([`providers`]).

pub mod audit;
pub mod cache;
pub mod keys;
pub mod providers;

use crate::state::AppState;
use axum::routing::{get, post};
use axum::Router;

use providers::nodes as nodes_route;

/// The `/admin` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/keys", post(keys::create).get(keys::list))
        .route(
            "/admin/keys/{id}",
            get(keys::get).patch(keys::update).delete(keys::revoke),
        )
        .route("/admin/keys/{id}/rotate", post(keys::rotate))
        .route("/admin/audit", get(audit::list))
        .route("/admin/cache", axum::routing::delete(cache::purge))
        .route("/admin/providers", get(providers::providers))
        .route("/admin/nodes", get(nodes_route))
}
