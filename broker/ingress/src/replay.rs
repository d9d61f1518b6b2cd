//! Replay: `POST /v1/requests/{id}/replay` resubmits a stored request as a new queued job,
//! optionally on another model or provider, linked both ways (`replay_of` on the new job,
//! a `replayed` event on the original). [`replay_one`] is also what a bulk replay runs per
//! request (`crate::replay_bulk`).

use crate::auth::Caller;
use crate::body::parse;
use crate::chat::validate_chat;
use crate::error::GatewayError;
use crate::job::{publish, Submission, Submitted};
use crate::jobs::{check_id, JobView};
use crate::layers::JobId;
use crate::requests::{auditor, not_yours, query_error};
use crate::state::{AppState, JOB_ID_HEADER};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use broker::audit::FullRecord;
use schemas::openai::ChatRequest;
use schemas::{BodyOmitted, EventDetail, EventKind, Mode, OmitReason, Operation};
use serde::{Deserialize, Serialize};

/// The optional body of `POST /v1/requests/{id}/replay`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ReplayOverride {
    /// Run on this model instead (any name `/v1/chat/completions` accepts).
    pub model: Option<String>,
    /// Run on this provider, with the model the original ran on.
    pub provider: Option<String>,
    /// Replay even though parts of the stored request were redacted (they go upstream as
    /// `[REDACTED]`).
    pub allow_redacted: bool,
}

/// The model a replay runs on.
pub fn replay_model(rec: &FullRecord, o: &ReplayOverride) -> Result<String, GatewayError> {
    if let Some(m) = o.model.as_deref().filter(|m| !m.is_empty()) {
        return Ok(m.to_string());
    }
    let r = &rec.record;
    if let Some(p) = o.provider.as_deref().filter(|p| !p.is_empty()) {
        let bare = r
            .provider_model
            .clone()
            .or_else(|| {
                r.model
                    .as_deref()
                    .map(|m| m.split_once('/').map_or(m, |(_, b)| b).to_string())
            })
            .ok_or_else(|| {
                GatewayError::invalid(format!(
                    "request {} names no model to run on provider `{p}`; pass {{\"model\": \"{p}/<model>\"}} instead",
                    r.id
                ))
            })?;
        return Ok(format!("{p}/{bare}"));
    }
    r.model
        .clone()
        .or_else(|| r.qualified_model())
        .ok_or_else(|| {
            GatewayError::invalid(format!(
                "request {} has no model on record; pass {{\"model\": ...}} to replay it",
                r.id
            ))
        })
}

/// The request body of the replay: the stored one with `model` set to `model`. Refused when
/// the log has no copy (saying why), and when parts of it were redacted unless the caller
/// allows it, naming them.
pub fn replay_body(
    rec: &FullRecord,
    model: &str,
    o: &ReplayOverride,
) -> Result<serde_json::Value, GatewayError> {
    let r = &rec.record;
    let Some(mut body) = rec.request.clone() else {
        return Err(GatewayError::invalid(match &r.request_omitted {
            Some(BodyOmitted { reason: OmitReason::TooLarge, bytes, limit }) => format!(
                "The request body of {} ({bytes} bytes) was larger than the request log keeps ({} bytes), so it was not stored and cannot be replayed. Resubmit it yourself.",
                r.id,
                limit.unwrap_or(broker::audit::MAX_EVENT_BODY_BYTES as u64)
            ),
            Some(BodyOmitted { reason: OmitReason::NotStored, .. }) => format!(
                "The request body of {} is not in the request log (auditor.store_bodies was false when it ran), so it cannot be replayed. Resubmit it yourself, or enable auditor.store_bodies for future requests.",
                r.id
            ),
            None => format!(
                "The request body of {} is not in the request log, so it cannot be replayed. Resubmit it yourself.",
                r.id
            ),
        }));
    };
    if !r.request_redacted.is_empty() && !o.allow_redacted {
        let shown: Vec<&str> = r
            .request_redacted
            .iter()
            .take(10)
            .map(String::as_str)
            .collect();
        let more = r.request_redacted.len().saturating_sub(shown.len());
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        return Err(GatewayError::bad_request(
            format!(
                "Parts of the stored request of {} were redacted before it was logged: {}{more}. A replay would send `[REDACTED]` there. Replay it anyway with {{\"allow_redacted\": true}} (switchyard replay --allow-redacted), or resubmit the original yourself.",
                r.id,
                shown.join(", ")
            ),
            Some("allow_redacted"),
        ));
    }
    let Some(obj) = body.as_object_mut() else {
        return Err(GatewayError::invalid(format!(
            "the stored request of {} is not a JSON object and cannot be replayed",
            r.id
        )));
    };
    obj.insert("model".into(), serde_json::Value::String(model.to_string()));
    Ok(body)
}

/// A replay queued: the new job and the model it runs on.
pub struct Replayed {
    /// The new job's id.
    pub id: String,
    /// The model it runs on.
    pub model: String,
}

/// Replays the stored request `id` as `caller` (its key is charged and named on the new job).
pub async fn replay_one(
    st: &AppState,
    caller: &Caller,
    id: &str,
    over: &ReplayOverride,
) -> Result<Replayed, GatewayError> {
    check_id(id)?;
    let rec: FullRecord = auditor(st).full_record(id).await.map_err(query_error)?;
    if !caller.sees(rec.record.key_id.as_deref()) {
        return Err(not_yours(id));
    }
    let model = replay_model(&rec, over)?;
    let body = replay_body(&rec, &model, over)?;
    let bytes =
        Bytes::from(serde_json::to_vec(&body).map_err(|e| GatewayError::Internal(e.to_string()))?);
    let req: ChatRequest = parse(&bytes)?;
    validate_chat(&req)?;
    let route = st.models().resolve(&req.model)?;
    let new_id = JobId::new().0;
    let mut sub = Submission::new(
        st,
        new_id.clone(),
        Operation::Chat,
        "/v1/requests/{id}/replay",
        Mode::Queued,
        req.model.clone(),
        route,
        &bytes,
        bytes.clone(),
        &HeaderMap::new(),
    )?;
    sub.job.replay_of = Some(id.to_string());
    crate::auth::limits::admit(st, caller, &mut sub.job).await?;
    if let Submitted::Duplicate(other) = publish(st, &sub).await? {
        return Err(GatewayError::Internal(format!(
            "replay collided with job {other}"
        )));
    }
    let detail = EventDetail {
        related_job: Some(new_id.clone()),
        model: Some(req.model.clone()),
        key_id: rec.record.key_id.clone(),
        ..Default::default()
    };
    st.events().emit(id, EventKind::Replayed, detail).await;
    tracing::info!(job_id = %new_id, replay_of = %id, model = %req.model, "replay queued");
    Ok(Replayed {
        id: new_id,
        model: req.model,
    })
}

/// `POST /v1/requests/{id}/replay`.
pub async fn replay(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let out = async {
        let timeout = std::time::Duration::from_millis(st.cfg().server.body_read_timeout_ms);
        let raw = crate::body::read(&headers, body, st.body_limit(), timeout).await?;
        let over: ReplayOverride = if raw.iter().all(u8::is_ascii_whitespace) {
            ReplayOverride::default()
        } else {
            parse(&raw)?
        };
        let r = replay_one(&st, &caller, &id, &over).await?;
        Ok::<_, GatewayError>((
            StatusCode::ACCEPTED,
            [
                (header::LOCATION, format!("/v1/jobs/{}", r.id)),
                (header::HeaderName::from_static(JOB_ID_HEADER), r.id.clone()),
            ],
            Json(JobView {
                model: Some(r.model),
                replay_of: Some(id.clone()),
                ..JobView::new(&r.id, schemas::JobState::Queued)
            }),
        ))
    }
    .await;
    out.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use broker::audit::Record;

    fn rec() -> FullRecord {
        let mut r = Record::new("j", 1);
        r.model = Some("mock/error-500".into());
        r.provider = Some("mock".into());
        r.provider_model = Some("error-500".into());
        FullRecord {
            record: r,
            request: Some(serde_json::json!({"model": "mock/error-500", "messages": []})),
            response: None,
            events: vec![],
            parts: None,
        }
    }

    #[test]
    fn overrides_pick_the_model() {
        let r = rec();
        assert_eq!(
            replay_model(&r, &ReplayOverride::default()).unwrap(),
            "mock/error-500"
        );
        let m = ReplayOverride {
            model: Some("mock/echo".into()),
            ..Default::default()
        };
        assert_eq!(replay_model(&r, &m).unwrap(), "mock/echo");
        let p = ReplayOverride {
            provider: Some("other".into()),
            ..Default::default()
        };
        assert_eq!(replay_model(&r, &p).unwrap(), "other/error-500");
        let none = ReplayOverride::default();
        assert_eq!(
            replay_body(&r, "mock/echo", &none).unwrap()["model"],
            "mock/echo"
        );
        let mut no_body = rec();
        no_body.request = None;
        assert!(replay_body(&no_body, "x", &none).is_err());
        no_body.record.request_omitted = Some(BodyOmitted {
            reason: OmitReason::TooLarge,
            bytes: 300_000,
            limit: Some(262_144),
        });
        let e = replay_body(&no_body, "x", &none).unwrap_err().to_string();
        assert!(
            e.contains("300000 bytes") && !e.contains("store_bodies"),
            "{e}"
        );
        let mut redacted = rec();
        redacted.record.request_redacted = vec!["messages[0].content".into()];
        let e = replay_body(&redacted, "x", &none).unwrap_err().to_string();
        assert!(
            e.contains("messages[0].content") && e.contains("allow_redacted"),
            "{e}"
        );
        let allow = ReplayOverride {
            allow_redacted: true,
            ..Default::default()
        };
        assert!(replay_body(&redacted, "x", &allow).is_ok());
    }
}
