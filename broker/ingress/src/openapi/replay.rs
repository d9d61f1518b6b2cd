//! Bulk replay's routes in the document.

use super::{op, SchemaGenerator, Value};
use serde_json::json;

/// Documents `POST /v1/requests/replay` and `GET /v1/requests/replay/{id}` into `add`.
pub fn routes(g: &mut SchemaGenerator, add: &mut impl FnMut(&str, &str, Value)) {
    use crate::replay_bulk::{BulkProgress, BulkReplay};
    add(
        "/v1/requests/replay",
        "post",
        op(g, "bulkReplay", "Replays every stored request a filter matches (by default the failed ones since a time) as new queued jobs, in the background; audited.")
            .body::<BulkReplay>()
            .json::<BulkProgress>("202", "Started: its progress, polled at the Location.")
            .done(),
    );
    add(
        "/v1/requests/replay/{id}",
        "get",
        op(g, "bulkReplayProgress", "A bulk replay's progress.")
            .params(json!([{"name": "id", "in": "path", "required": true, "description": "The bulk replay's id.",
                            "schema": {"type": "string", "format": "uuid"}}]))
            .json::<BulkProgress>("200", "Its progress.")
            .done(),
    );
}
