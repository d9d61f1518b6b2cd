//! `GET /v1/models`: every configured model and alias with its provider; with
//! `?refresh=true`, also each provider's live model list, asked of the workers over NATS
//! (`sy.control.models.<provider>`), since the ingress hosts no adapters.

use crate::auth::Caller;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::{Extension, Json};
use futures::future::join_all;
use schemars::JsonSchema;
use schemas::openai::{ErrorBody, Model};
use schemas::ModelsReply;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Duration;

/// How long the ingress waits for a provider's live list.
pub const REFRESH_TIMEOUT: Duration = Duration::from_secs(10);

/// The query.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ModelsQuery {
    /// `true` also asks every provider for its live models.
    #[serde(default)]
    pub refresh: Option<String>,
}

/// The answer of `GET /v1/models`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ModelsPage {
    /// `list`.
    pub object: String,
    /// Every configured model and alias (with `refresh`, also each provider's live ones).
    pub data: Vec<Model>,
    /// With `refresh`: the providers whose live list could not be read, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ProviderError>>,
}

/// Why a provider's live model list is missing.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProviderError {
    /// The provider.
    pub provider: String,
    /// What went wrong and what to do next.
    pub message: String,
    /// The OpenAI error type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The error class (`unsupported`, `auth`, `timeout`, ...).
    pub code: Option<String>,
}

/// The handler.
pub async fn list(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ModelsQuery>,
) -> Json<ModelsPage> {
    let Json(mut page) = all(st, q).await;
    // A key limited to some models sees those only.
    if let Some(k) = caller.key() {
        page.data.retain(|m| k.allows(&m.id));
    }
    Json(page)
}

/// Every model, and with `refresh` each provider's live list.
async fn all(st: AppState, q: ModelsQuery) -> Json<ModelsPage> {
    let mut data: Vec<Model> = st
        .models()
        .models()
        .into_iter()
        .map(|(id, owned_by)| Model {
            id,
            object: "model".into(),
            created: 0,
            owned_by,
        })
        .collect();
    let refresh = q
        .refresh
        .as_deref()
        .is_some_and(|v| matches!(v, "" | "1" | "true" | "yes"));
    if !refresh {
        return Json(ModelsPage {
            object: "list".into(),
            data,
            errors: None,
        });
    }
    let providers: Vec<String> = st.models().provider_names().cloned().collect();
    let answers = join_all(providers.iter().map(|p| ask(&st, p))).await;
    let mut seen: BTreeSet<String> = data.iter().map(|m| m.id.clone()).collect();
    let mut errors = Vec::new();
    for (provider, answer) in providers.iter().zip(answers) {
        match answer {
            Ok(models) => {
                for m in models {
                    let id = format!("{provider}/{}", m.id);
                    if seen.insert(id.clone()) {
                        data.push(Model {
                            id,
                            object: "model".into(),
                            created: m.created,
                            owned_by: provider.clone(),
                        });
                    }
                }
            }
            Err(e) => errors.push(ProviderError {
                provider: provider.clone(),
                message: e.message,
                kind: e.kind,
                code: e.code,
            }),
        }
    }
    Json(ModelsPage {
        object: "list".into(),
        data,
        errors: Some(errors),
    })
}

/// One provider's live models, or why there are none.
async fn ask(st: &AppState, provider: &str) -> Result<Vec<Model>, ErrorBody> {
    let subject = st.topo().subjects.models(provider);
    let req = st.client().request(subject, bytes::Bytes::new());
    let msg = match tokio::time::timeout(REFRESH_TIMEOUT, req).await {
        Err(_) => {
            return Err(ErrorBody::new(
                "timeout_error",
                format!(
                    "No worker answered for provider `{provider}` within {} s. Check that a worker serving it is running and its upstream reachable.",
                    REFRESH_TIMEOUT.as_secs()
                ),
            )
            .code("timeout"))
        }
        Ok(Err(e)) => {
            let msg = if e.kind() == async_nats::client::RequestErrorKind::NoResponders {
                format!("No worker serves provider `{provider}`. Start a worker (`switchyard serve` or the worker role) with this provider configured.")
            } else {
                format!("Cannot ask the workers of provider `{provider}` over NATS: {e}. Try again shortly.")
            };
            return Err(ErrorBody::new("api_error", msg).code("service_unavailable"));
        }
        Ok(Ok(msg)) => msg,
    };
    let reply: ModelsReply = serde_json::from_slice(&msg.payload).map_err(|e| {
        ErrorBody::new(
            "api_error",
            format!("The worker of provider `{provider}` answered something undecodable: {e}."),
        )
        .code("internal_error")
    })?;
    match reply.error {
        Some(e) => Err(e),
        None => Ok(reply.data),
    }
}
