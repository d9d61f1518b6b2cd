//! `/admin/keys`: create, list, read, change, revoke and rotate virtual keys. A secret is in
//! the answer of create and rotate only; every change is audited.

use super::audit::{self, From};
use crate::auth::Caller;
use crate::error::{unavailable, GatewayError};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use broker::access::keys::{self, KeyRecord};
use broker::access::{counter, period};
use futures::StreamExt;
use serde_json::{json, Map, Value};

/// What an admin may set on a key (`POST /admin/keys`, `PATCH /admin/keys/{id}`); the rest
/// (id, hash, dates) the gateway keeps. In a `PATCH`, `null` clears a limit.
#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Read through serde as a check of the body, and for the API's schema.
pub struct KeySettings {
    /// Who or what the key is for (required on create).
    name: Option<String>,
    /// Reaches everything the master key reaches.
    admin: Option<bool>,
    /// Models or aliases it may use (`mock/*` matches a prefix); empty: all.
    models: Option<Vec<String>>,
    /// Requests per minute.
    rpm: Option<u64>,
    /// Tokens per minute.
    tpm: Option<u64>,
    /// Hard budget per period, USD: past it, 429 `budget_exceeded`.
    budget_usd: Option<f64>,
    /// `day`, `week` or `month` (default), on UTC boundaries.
    budget_period: Option<broker::access::period::BudgetPeriod>,
    /// Soft budget per period, USD: crossing it is logged, counted and audited.
    soft_budget_usd: Option<f64>,
    /// When it stops working, seconds since the epoch.
    expires_at: Option<u64>,
    /// Free-form labels.
    metadata: Option<Map<String, Value>>,
}

/// A key as the API shows it: its record without the hash.
fn view(rec: &KeyRecord) -> Value {
    let mut v = serde_json::to_value(rec).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("hash");
        o.insert("object".into(), json!("key"));
    }
    v
}

/// The settable fields of a request body, checked: an object with known fields only.
fn settable(body: &Bytes) -> Result<Map<String, Value>, GatewayError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| GatewayError::invalid(format!("The body is not JSON: {e}.")))?;
    let Value::Object(o) = v else {
        return Err(GatewayError::invalid("The body must be a JSON object."));
    };
    crate::body::parse::<KeySettings>(&body[..])?;
    Ok(o)
}

/// `rec` with `fields` applied, checked.
fn apply(rec: &KeyRecord, fields: &Map<String, Value>) -> Result<KeyRecord, GatewayError> {
    let mut v = serde_json::to_value(rec).map_err(|e| GatewayError::Internal(e.to_string()))?;
    if let Some(o) = v.as_object_mut() {
        for (k, val) in fields {
            o.insert(k.clone(), val.clone());
        }
    }
    let next: KeyRecord = serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        GatewayError::bad_request(format!("{path}: {}", e.inner()), Some(&path))
    })?;
    if next.name.trim().is_empty() || next.name.len() > 200 {
        return Err(GatewayError::bad_request(
            "name must be 1 to 200 characters.",
            Some("name"),
        ));
    }
    for (name, v) in [
        ("budget_usd", next.budget_usd),
        ("soft_budget_usd", next.soft_budget_usd),
    ] {
        if v.is_some_and(|b| !b.is_finite() || b < 0.0) {
            return Err(GatewayError::bad_request(
                format!("{name} must be a number of dollars, 0 or more."),
                Some(name),
            ));
        }
    }
    for (name, v) in [("rpm", next.rpm), ("tpm", next.tpm)] {
        if v == Some(0) {
            return Err(GatewayError::bad_request(
                format!("{name} must be at least 1 (leave it out for no limit)."),
                Some(name),
            ));
        }
    }
    Ok(next)
}

/// What `fields` changed from `old` to `new`, field by field.
fn diff(old: &KeyRecord, new: &KeyRecord, fields: &Map<String, Value>) -> Value {
    let (o, n) = (view(old), view(new));
    let changed: Map<String, Value> = fields
        .keys()
        .filter(|k| o.get(k.as_str()) != n.get(k.as_str()))
        .map(|k| {
            (
                k.clone(),
                json!({"old": o.get(k.as_str()), "new": n.get(k.as_str())}),
            )
        })
        .collect();
    Value::Object(changed)
}

fn not_found(id: &str) -> GatewayError {
    GatewayError::NotFound(format!(
        "No key `{id}`. List the keys with GET /admin/keys."
    ))
}

/// `POST /admin/keys`: a new key; its secret is in this answer only.
pub async fn create(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    from: From,
    body: Bytes,
) -> Response {
    let out = async {
        let fields = settable(&body)?;
        if !fields.contains_key("name") {
            return Err(GatewayError::bad_request(
                "name is required (who or what the key is for).",
                Some("name"),
            ));
        }
        let (id, secret) = keys::generate();
        let base = KeyRecord {
            id: id.clone(),
            hash: keys::hash(st.keyring().salt(), &secret),
            prefix: keys::prefix_of(&secret),
            created_at: schemas::now_ms() / 1000,
            created_by: caller.actor(),
            ..Default::default()
        };
        let rec = apply(&base, &fields)?;
        keys::put(st.keyring().bucket(), &rec)
            .await
            .map_err(unavailable)?;
        audit::by(&st, &caller, &from, "key.created", Some(&id), view(&rec)).await;
        let mut v = view(&rec);
        v["key"] = json!(secret);
        Ok((StatusCode::CREATED, Json(v)))
    }
    .await;
    out.into_response()
}

/// `GET /admin/keys`: every key, newest first, never a secret.
pub async fn list(State(st): State<AppState>) -> Response {
    let out = async {
        let bucket = st.keyring().bucket();
        let mut names = bucket.keys().await.map_err(unavailable)?;
        let mut data = Vec::new();
        while let Some(name) = names.next().await {
            let Ok(name) = name else { continue };
            let Some(id) = name.strip_prefix("k.") else {
                continue;
            };
            if let Some(rec) = keys::get(bucket, id).await.map_err(unavailable)? {
                data.push(rec);
            }
        }
        data.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        let data: Vec<Value> = data.iter().map(view).collect();
        Ok::<_, GatewayError>(Json(json!({"object": "list", "data": data})))
    }
    .await;
    out.into_response()
}

/// `GET /admin/keys/{id}`: the key and what it used: spend in its budget period, requests
/// and tokens this minute.
pub async fn get(State(st): State<AppState>, Path(id): Path<String>) -> Response {
    let out = async {
        let rec = keys::get(st.keyring().bucket(), &id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| not_found(&id))?;
        let now = schemas::now_ms();
        let (start, end) = rec.budget_period.bounds((now / 1000) as i64);
        let (minute, _) = period::minute(now);
        let read =
            |bucket, name: String| async move { counter::get(bucket, &name).await.unwrap_or(0) };
        let spent = read(&st.topo().spend, format!("spend.{id}.{start}")).await;
        let rpm = read(&st.topo().rates, format!("rpm.{id}.{minute}")).await;
        let tpm = read(&st.topo().rates, format!("tpm.{id}.{minute}")).await;
        let mut v = view(&rec);
        v["usage"] = json!({
            "spend_usd": spent as f64 / 1e6,
            "period_start": start,
            "period_end": end,
            "requests_this_minute": rpm,
            "tokens_this_minute": tpm,
        });
        Ok::<_, GatewayError>(Json(v))
    }
    .await;
    out.into_response()
}

/// Changes a stored record with compare-and-set (two admins at once do not lose a change).
async fn change(
    st: &AppState,
    id: &str,
    f: impl Fn(&KeyRecord) -> Result<KeyRecord, GatewayError>,
) -> Result<(KeyRecord, KeyRecord), GatewayError> {
    if keys::id_of(&format!("sy-{id}-x")).is_none() {
        return Err(not_found(id));
    }
    let bucket = st.keyring().bucket();
    for _ in 0..8 {
        let entry = bucket
            .entry(keys::record_key(id))
            .await
            .map_err(unavailable)?;
        let Some(entry) =
            entry.filter(|e| e.operation == async_nats::jetstream::kv::Operation::Put)
        else {
            return Err(not_found(id));
        };
        let old: KeyRecord = serde_json::from_slice(&entry.value)
            .map_err(|e| GatewayError::Internal(e.to_string()))?;
        let new = f(&old)?;
        let bytes = serde_json::to_vec(&new).map_err(|e| GatewayError::Internal(e.to_string()))?;
        if bucket
            .update(keys::record_key(id), bytes.into(), entry.revision)
            .await
            .is_ok()
        {
            return Ok((old, new));
        }
    }
    Err(GatewayError::Conflict(format!(
        "The key `{id}` is being changed by someone else; try again."
    )))
}

/// `PATCH /admin/keys/{id}`: changes settings (`null` clears a limit).
pub async fn update(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    from: From,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let out = async {
        let fields = settable(&body)?;
        let (old, new) = change(&st, &id, |r| apply(r, &fields)).await?;
        audit::by(
            &st,
            &caller,
            &from,
            "key.updated",
            Some(&id),
            diff(&old, &new, &fields),
        )
        .await;
        Ok::<_, GatewayError>(Json(view(&new)))
    }
    .await;
    out.into_response()
}

/// `DELETE /admin/keys/{id}`: revokes the key (its record stays, for the log).
pub async fn revoke(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    from: From,
    Path(id): Path<String>,
) -> Response {
    let out = async {
        let now = schemas::now_ms() / 1000;
        let (old, new) = change(&st, &id, |r| {
            Ok(KeyRecord {
                revoked_at: r.revoked_at.or(Some(now)),
                ..r.clone()
            })
        })
        .await?;
        if old.revoked_at.is_none() {
            audit::by(
                &st,
                &caller,
                &from,
                "key.revoked",
                Some(&id),
                json!({"name": new.name}),
            )
            .await;
        }
        Ok::<_, GatewayError>(Json(view(&new)))
    }
    .await;
    out.into_response()
}

/// `POST /admin/keys/{id}/rotate`: a new secret for the key (same id, limits and log); the
/// old secret stops working at once.
pub async fn rotate(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    from: From,
    Path(id): Path<String>,
) -> Response {
    let out = async {
        let secret = keys::secret_for(&id);
        let hash = keys::hash(st.keyring().salt(), &secret);
        let now = schemas::now_ms() / 1000;
        let (_, new) = change(&st, &id, |r| {
            if r.revoked_at.is_some() {
                return Err(GatewayError::Conflict(format!(
                    "The key `{id}` is revoked; create a new one instead."
                )));
            }
            Ok(KeyRecord {
                hash: hash.clone(),
                prefix: keys::prefix_of(&secret),
                rotated_at: Some(now),
                ..r.clone()
            })
        })
        .await?;
        audit::by(
            &st,
            &caller,
            &from,
            "key.rotated",
            Some(&id),
            json!({"prefix": new.prefix}),
        )
        .await;
        let mut v = view(&new);
        v["key"] = json!(secret);
        Ok::<_, GatewayError>(Json(v))
    }
    .await;
    out.into_response()
}
