//! The keys' side of the document: how a request authenticates, the admin API and usage.

use super::{op, Map, SchemaGenerator, Value};
use serde_json::json;

/// The security schemes: a key as `Authorization: Bearer`, `x-api-key` or `api-key`.
pub fn schemes() -> Value {
    json!({
        "bearer": {"type": "http", "scheme": "bearer", "description": "The master key or a virtual key (`sy-...`)."},
        "x-api-key": {"type": "apiKey", "in": "header", "name": "x-api-key", "description": "The same key, as the Anthropic SDK sends it."},
        "api-key": {"type": "apiKey", "in": "header", "name": "api-key", "description": "The same key, as the Azure SDK sends it."},
    })
}

/// Any of the schemes.
pub fn any_key() -> Value {
    json!([{"bearer": []}, {"x-api-key": []}, {"api-key": []}])
}

/// The routes anyone may call.
pub const OPEN: &[&str] = &["/health", "/ready", "/openapi.json"];

/// Documents the admin API and `/v1/usage` into `add`.
pub fn routes(g: &mut SchemaGenerator, add: &mut impl FnMut(&str, &str, Value)) {
    let key_id = || {
        json!([{"name": "id", "in": "path", "required": true, "description": "The key id.",
                "schema": {"type": "string", "pattern": "^[0-9a-f]{12}$"}}])
    };
    use crate::admin::keys::KeySettings;
    add(
        "/admin/keys",
        "post",
        op(
            g,
            "createKey",
            "Creates a virtual key (master or admin key only); its secret is in this answer only.",
        )
        .body::<KeySettings>()
        .object("201", "The key, its secret in `key`.")
        .done(),
    );
    add(
        "/admin/keys",
        "get",
        op(g, "listKeys", "Every key, newest first; never a secret.")
            .object("200", "`{object: list, data: [key]}`.")
            .done(),
    );
    add(
        "/admin/keys/{id}",
        "get",
        op(
            g,
            "getKey",
            "A key and what it used: spend in its budget period, requests and tokens this minute.",
        )
        .params(key_id())
        .object("200", "The key with `usage`.")
        .done(),
    );
    add(
        "/admin/keys/{id}",
        "patch",
        op(
            g,
            "updateKey",
            "Changes a key's settings; `null` clears a limit.",
        )
        .params(key_id())
        .body::<KeySettings>()
        .object("200", "The key.")
        .done(),
    );
    add(
        "/admin/keys/{id}",
        "delete",
        op(
            g,
            "revokeKey",
            "Revokes a key: refused by every ingress within a second.",
        )
        .params(key_id())
        .object("200", "The key, revoked.")
        .done(),
    );
    add(
        "/admin/keys/{id}/rotate",
        "post",
        op(
            g,
            "rotateKey",
            "Gives a key a new secret (same id and limits); the old one stops working.",
        )
        .params(key_id())
        .object("200", "The key, its new secret in `key`.")
        .done(),
    );
    add(
        "/admin/audit",
        "get",
        op(g, "listAdminActions", "Admin actions (keys created, updated, rotated, revoked; soft budgets crossed), newest first.")
            .query::<crate::admin::audit::AuditParams>()
            .json::<crate::admin::audit::AuditPage>("200", "The actions.")
            .done(),
    );
    add(
        "/v1/usage",
        "get",
        op(g, "usage", "Requests, tokens and cost from the request log, by key, model or provider; a virtual key sees its own row.")
            .query::<crate::usage::UsageParams>()
            .json::<crate::usage::UsagePage>("200", "One row per group.")
            .done(),
    );
}

/// Marks every operation as needing a key, but the open routes.
pub fn secure(paths: &mut Map<String, Value>) {
    for (path, ops) in paths.iter_mut() {
        if OPEN.contains(&path.as_str()) {
            continue;
        }
        if let Some(ops) = ops.as_object_mut() {
            for o in ops.values_mut() {
                o["security"] = any_key();
            }
        }
    }
}
