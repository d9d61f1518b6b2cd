//! The shared mock upstreams (`switchyard_upstreams`), with the helpers the e2e tests use.

#![allow(dead_code)]

pub use upstreams::{anthropic, gemini, openai, Seen};

/// The OpenAI mock.
pub struct Upstream(pub upstreams::Upstream);

impl Upstream {
    /// Starts it on a free port.
    pub async fn start() -> Upstream {
        Upstream(openai::start().await)
    }

    /// Its base URL, `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.0.base)
    }

    /// A provider entry `[providers.<name>]` of kind `openai` pointing here.
    pub fn provider_toml(&self, name: &str) -> String {
        openai::provider_toml(&self.0, name)
    }

    /// Every request it got.
    pub fn requests(&self) -> Vec<Seen> {
        self.0.requests()
    }
}

/// The Anthropic mock.
pub struct AnthropicUpstream(pub upstreams::Upstream);

impl AnthropicUpstream {
    /// Starts it on a free port.
    pub async fn start() -> AnthropicUpstream {
        AnthropicUpstream(anthropic::start().await)
    }

    /// A provider entry `[providers.<name>]` of kind `anthropic` pointing here.
    pub fn provider_toml(&self, name: &str) -> String {
        anthropic::provider_toml(&self.0, name)
    }

    /// Every request it got.
    pub fn requests(&self) -> Vec<Seen> {
        self.0.requests()
    }
}
