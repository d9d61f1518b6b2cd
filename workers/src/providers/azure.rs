//! The `azure` kind: Azure OpenAI, the OpenAI wire format under per-deployment URLs.
//!
//! `POST {base_url}/openai/deployments/{deployment}/chat/completions?api-version={api_version}`
//! (and `/embeddings`), authenticated with the `api-key` header. `base_url` is the resource
//! endpoint (`https://<resource>.openai.azure.com`). Options: `api_version` (default
//! [`DEFAULT_API_VERSION`]), `deployments` (a table model name -> deployment name; a model
//! not in it is its own deployment name), and the options of [`Compat::new`].
//!
//! Requests, streams and errors are the shared OpenAI core's: Azure's content-filter answers
//! (400 `content_filter` with `innererror`, or `finish_reason: content_filter`) map there.
//! The live model list (`GET /v1/models?refresh=true`) is the resource's deployments
//! (`GET /openai/deployments?api-version=2022-12-01`, the data-plane version that lists
//! them), each named as clients call it: the model the `deployments` table maps to it, else
//! the deployment name. A resource that no longer answers that call lists nothing live;
//! list its models under `models` in the config entry.

use super::openai::{base_url, Compat, Endpoint, Op};
use super::option;
use crate::provider::Provider;
use broker::config::ProviderConfig;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The Azure OpenAI data-plane GA API version used when `api_version` is not set.
pub const DEFAULT_API_VERSION: &str = "2024-10-21";

/// The data-plane API version that lists a resource's deployments.
pub const DEPLOYMENTS_API_VERSION: &str = "2022-12-01";

/// An Azure OpenAI resource.
#[derive(Debug, Clone)]
pub struct Azure {
    base_url: String,
    api_key: Option<String>,
    api_version: String,
    deployments: BTreeMap<String, String>,
}

impl Azure {
    /// The deployment serving `model`.
    pub fn deployment<'a>(&'a self, model: &'a str) -> &'a str {
        self.deployments
            .get(model)
            .map(String::as_str)
            .unwrap_or(model)
    }
}

/// Percent-encodes a path segment (a deployment name is usually already safe).
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Azure OpenAI: the OpenAI API on a deployment.
pub const CAPABILITIES: crate::capability::Capabilities = crate::capability::Capabilities {
    kind: "azure",
    ..super::openai::CAPABILITIES
};

impl Endpoint for Azure {
    fn capabilities(&self) -> &'static crate::capability::Capabilities {
        &CAPABILITIES
    }

    fn listed_model(&self, deployment: &str) -> String {
        self.deployments
            .iter()
            .find(|(_, d)| d.as_str() == deployment)
            .map(|(m, _)| m.clone())
            .unwrap_or_else(|| deployment.to_string())
    }

    fn url(&self, op: Op, model: &str) -> Option<String> {
        let path = match op {
            Op::Chat => "chat/completions",
            Op::Embeddings => "embeddings",
            Op::Models => {
                return Some(format!(
                    "{}/openai/deployments?api-version={DEPLOYMENTS_API_VERSION}",
                    self.base_url
                ))
            }
        };
        Some(format!(
            "{}/openai/deployments/{}/{path}?api-version={}",
            self.base_url,
            segment(self.deployment(model)),
            segment(&self.api_version)
        ))
    }

    fn auth(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.api_key {
            Some(k) => rb.header("api-key", k),
            None => rb,
        }
    }
}

/// Builds the adapter.
pub fn build(name: &str, cfg: &ProviderConfig) -> Result<Arc<dyn Provider>, String> {
    let Some(raw) = cfg.base_url.as_deref() else {
        return Err(
            "base_url: missing; set it to the resource endpoint, e.g. https://<resource>.openai.azure.com (or set AZURE_OPENAI_ENDPOINT)"
                .into(),
        );
    };
    let base = base_url(raw)?;
    let base = base
        .strip_suffix("/openai")
        .map(str::to_string)
        .unwrap_or(base);
    let api_version: String =
        option(cfg, "api_version")?.unwrap_or_else(|| DEFAULT_API_VERSION.to_string());
    if api_version.trim().is_empty() {
        return Err(format!(
            "api_version: empty; set a version such as \"{DEFAULT_API_VERSION}\" or leave it out"
        ));
    }
    let endpoint = Azure {
        base_url: base,
        api_key: cfg
            .api_key
            .as_ref()
            .map(|k| k.expose().to_string())
            .filter(|k| !k.is_empty()),
        api_version,
        deployments: option(cfg, "deployments")?.unwrap_or_default(),
    };
    Ok(Arc::new(Compat::new(name, cfg, endpoint)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn azure(extra: &str) -> Azure {
        Azure {
            base_url: "https://res.openai.azure.com".into(),
            api_key: Some("k".into()),
            api_version: "2024-10-21".into(),
            deployments: toml::from_str(extra).unwrap_or_default(),
        }
    }

    #[test]
    fn urls_name_the_deployment_and_version() {
        let a = azure("gpt-4o = \"prod-4o\"");
        assert_eq!(
            a.url(Op::Chat, "gpt-4o").as_deref(),
            Some("https://res.openai.azure.com/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21")
        );
        assert_eq!(
            a.url(Op::Embeddings, "text-embedding-3-small").as_deref(),
            Some("https://res.openai.azure.com/openai/deployments/text-embedding-3-small/embeddings?api-version=2024-10-21")
        );
        assert_eq!(
            a.url(Op::Models, "").as_deref(),
            Some("https://res.openai.azure.com/openai/deployments?api-version=2022-12-01")
        );
        assert_eq!(
            a.listed_model("prod-4o"),
            "gpt-4o",
            "named as clients call it"
        );
        assert_eq!(a.listed_model("other"), "other");
        assert_eq!(
            a.url(Op::Chat, "a/b c").as_deref(),
            Some("https://res.openai.azure.com/openai/deployments/a%2Fb%20c/chat/completions?api-version=2024-10-21")
        );
    }

    #[test]
    fn build_needs_an_endpoint_and_checks_options() {
        let cfg: ProviderConfig = toml::from_str("kind = \"azure\"\n").unwrap_or_default();
        let e = build("az", &cfg).err().unwrap_or_default();
        assert!(
            e.contains("base_url") && e.contains("openai.azure.com"),
            "{e}"
        );
        let cfg: ProviderConfig = toml::from_str(
            "kind = \"azure\"\nbase_url = \"https://r.openai.azure.com\"\ndeployments = 3\n",
        )
        .unwrap_or_default();
        let e = build("az", &cfg).err().unwrap_or_default();
        assert!(e.contains("deployments"), "{e}");
    }
}
