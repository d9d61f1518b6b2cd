//! The `openai` kind: any OpenAI-compatible API (`base_url`, `api_key`, `models`), and the
//! presets of [`super::presets`] (`kind = "groq"`, ...), which are the same adapter
//! with the service's base URL.
//!
//! [`Compat`] is the shared core of every adapter speaking the OpenAI wire format; an
//! [`Endpoint`] supplies the URLs and the auth (the `azure` kind is another endpoint).

mod compat;
mod error;
mod stream;

pub use compat::{base_url, Compat, Endpoint, Op};

use super::presets::preset;
use crate::capability::{cap, Capabilities, Param, Support};
use crate::provider::Provider;
use broker::config::ProviderConfig;
use std::sync::Arc;

/// The OpenAI API (and every OpenAI-compatible preset): the parameters are its own, and
/// fields it does not know go through for the API to accept or refuse.
pub const CAPABILITIES: Capabilities = Capabilities {
    kind: "openai",
    lines: &[
        cap(Param::Tools, Support::Native, ""),
        cap(Param::ToolChoiceNone, Support::Native, ""),
        cap(Param::ToolChoiceRequired, Support::Native, ""),
        cap(Param::ToolChoiceNamed, Support::Native, ""),
        cap(Param::NoParallelToolCalls, Support::Native, ""),
        cap(Param::JsonObject, Support::Native, ""),
        cap(Param::JsonSchema, Support::Native, ""),
        cap(Param::N, Support::Native, ""),
        cap(Param::NStream, Support::Native, ""),
        cap(Param::Stop, Support::Native, ""),
        cap(Param::Seed, Support::Native, ""),
        cap(Param::Penalties, Support::Native, ""),
        cap(Param::LogitBias, Support::Native, ""),
        cap(Param::Logprobs, Support::Native, ""),
        cap(
            Param::TopK,
            Support::PassedThrough,
            "for compatible servers that take it",
        ),
        cap(Param::ReasoningEffort, Support::Native, ""),
        cap(
            Param::Thinking,
            Support::PassedThrough,
            "for compatible servers that take it",
        ),
        cap(Param::ImageData, Support::Native, ""),
        cap(Param::ImageUrl, Support::Native, ""),
        cap(Param::AudioOrFile, Support::Native, ""),
        cap(Param::ClientMetadata, Support::Native, ""),
        cap(Param::Unknown, Support::PassedThrough, ""),
    ],
    reads: &[],
};

/// The OpenAI default base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// `{base_url}/chat/completions` etc. with `Authorization: Bearer <api_key>` when a key is set.
#[derive(Debug, Clone)]
pub struct Bearer {
    base_url: String,
    api_key: Option<String>,
}

impl Endpoint for Bearer {
    fn url(&self, op: Op, _model: &str) -> Option<String> {
        let path = match op {
            Op::Chat => "/chat/completions",
            Op::Embeddings => "/embeddings",
            Op::Models => "/models",
        };
        Some(format!("{}{path}", self.base_url))
    }

    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    fn auth(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.api_key {
            Some(k) => rb.bearer_auth(k),
            None => rb,
        }
    }
}

/// Builds the adapter for the `openai` kind or a preset kind. `base_url` defaults to the
/// kind's own (OpenAI's, or the preset's). Options: see [`Compat::new`].
pub fn build(name: &str, cfg: &ProviderConfig) -> Result<Arc<dyn Provider>, String> {
    Ok(Arc::new(Compat::new(name, cfg, endpoint(cfg)?)?))
}

/// The endpoint of an `openai` or preset config entry.
pub fn endpoint(cfg: &ProviderConfig) -> Result<Bearer, String> {
    let default = preset(&cfg.kind)
        .map(|p| p.base_url)
        .unwrap_or(DEFAULT_BASE_URL);
    Ok(Bearer {
        base_url: base_url(cfg.base_url.as_deref().unwrap_or(default))?,
        api_key: cfg
            .api_key
            .as_ref()
            .map(|k| k.expose().to_string())
            .filter(|k| !k.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> ProviderConfig {
        toml::from_str(text).unwrap_or_default()
    }

    /// The URL and `Authorization` header of a chat request through the endpoint.
    fn outbound(e: &Bearer) -> (String, Option<String>) {
        let url = e.url(Op::Chat, "m").unwrap_or_default();
        let req = e.auth(reqwest::Client::new().post(&url)).build();
        let auth = req.ok().and_then(|r| {
            r.headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        });
        (url, auth)
    }

    #[test]
    fn every_preset_builds_with_its_base_url_and_bearer_key() {
        let table = [
            ("groq", "https://api.groq.com/openai/v1/chat/completions"),
            ("mistral", "https://api.mistral.ai/v1/chat/completions"),
            ("xai", "https://api.x.ai/v1/chat/completions"),
            ("deepseek", "https://api.deepseek.com/chat/completions"),
            (
                "openrouter",
                "https://openrouter.ai/api/v1/chat/completions",
            ),
            ("together", "https://api.together.xyz/v1/chat/completions"),
            (
                "fireworks",
                "https://api.fireworks.ai/inference/v1/chat/completions",
            ),
            ("cerebras", "https://api.cerebras.ai/v1/chat/completions"),
            ("perplexity", "https://api.perplexity.ai/chat/completions"),
            ("ollama", "http://127.0.0.1:11434/v1/chat/completions"),
            ("vllm", "http://127.0.0.1:8000/v1/chat/completions"),
            ("lmstudio", "http://127.0.0.1:1234/v1/chat/completions"),
        ];
        assert_eq!(
            table.len(),
            crate::providers::presets::PRESETS.len(),
            "every preset is in the table"
        );
        for (kind, url) in table {
            let c = cfg(&format!("kind = \"{kind}\"\napi_key = \"sk-{kind}\"\n"));
            assert!(
                crate::providers::factory(kind).is_some(),
                "{kind} is a kind"
            );
            assert!(build(kind, &c).is_ok(), "{kind} builds");
            let e = endpoint(&c).map_err(|e| format!("{kind}: {e}"));
            let (got, auth) = e.as_ref().map(outbound).unwrap_or_default();
            assert_eq!(got, url, "{kind}");
            assert_eq!(auth, Some(format!("Bearer sk-{kind}")), "{kind}");
            let e = endpoint(&cfg(&format!("kind = \"{kind}\"\n")));
            assert_eq!(
                e.as_ref().map(outbound).ok().and_then(|o| o.1),
                None,
                "{kind}: no key, no header"
            );
        }
    }

    #[test]
    fn base_url_overrides_the_preset_and_openai_defaults() {
        let e = endpoint(&cfg(
            "kind = \"ollama\"\nbase_url = \"http://gpu:11434/v1/\"\n",
        ));
        assert_eq!(
            e.as_ref().map(outbound).map(|o| o.0).ok().as_deref(),
            Some("http://gpu:11434/v1/chat/completions")
        );
        let e = endpoint(&cfg("kind = \"openai\"\n"));
        assert_eq!(
            e.as_ref()
                .map(|e| e.url(Op::Models, ""))
                .ok()
                .flatten()
                .as_deref(),
            Some("https://api.openai.com/v1/models")
        );
        assert!(endpoint(&cfg("kind = \"groq\"\nbase_url = \"api.groq.com\"\n")).is_err());
    }
}
