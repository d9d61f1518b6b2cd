//! Replay: the body of a new job from a stored request, optionally on another model or
//! provider. The ingress publishes it (see `ingress::requests`).

use crate::error::GatewayError;
use broker::audit::FullRecord;
use serde::{Deserialize, Serialize};

/// The optional body of `POST /v1/requests/{id}/replay`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ReplayOverride {
    /// Run on this model instead (any name `/v1/chat/completions` accepts).
    pub model: Option<String>,
    /// Run on this provider, with the model the original ran on.
    pub provider: Option<String>,
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

/// The request body of the replay: the stored one with `model` set to `model`.
pub fn replay_body(rec: &FullRecord, model: &str) -> Result<serde_json::Value, GatewayError> {
    let mut body = rec.request.clone().ok_or_else(|| {
        GatewayError::invalid(format!(
            "The request body of {} is not in the request log (auditor.store_bodies was false when it ran), so it cannot be replayed. Resubmit it yourself, or enable auditor.store_bodies for future requests.",
            rec.record.id
        ))
    })?;
    let Some(obj) = body.as_object_mut() else {
        return Err(GatewayError::invalid(format!(
            "the stored request of {} is not a JSON object and cannot be replayed",
            rec.record.id
        )));
    };
    obj.insert("model".into(), serde_json::Value::String(model.to_string()));
    Ok(body)
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
            provider: None,
        };
        assert_eq!(replay_model(&r, &m).unwrap(), "mock/echo");
        let p = ReplayOverride {
            model: None,
            provider: Some("other".into()),
        };
        assert_eq!(replay_model(&r, &p).unwrap(), "other/error-500");
        assert_eq!(replay_body(&r, "mock/echo").unwrap()["model"], "mock/echo");
        let mut no_body = rec();
        no_body.request = None;
        assert!(replay_body(&no_body, "x").is_err());
    }
}
