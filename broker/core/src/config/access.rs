//! `[auth]` and `[prices]`: who may use the gateway, and what a token costs.

use super::Secret;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[auth]`: keys. Without a master key the gateway runs open, on a loopback address only.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The master key (or `SWITCHYARD_MASTER_KEY`): reaches everything, creates virtual keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_key: Option<Secret>,
    /// Serve without any key on a non-loopback address (a warning at every start).
    pub allow_open: bool,
    /// `/metrics` without a key (a scraper on the network); otherwise it needs an admin key.
    pub public_metrics: bool,
    /// The output tokens a budget reserves for a request that sets no `max_tokens`.
    pub default_max_tokens: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            master_key: None,
            allow_open: false,
            public_metrics: false,
            default_max_tokens: 4096,
        }
    }
}

/// One model's prices in USD per million tokens (`[prices."gpt-4o"]`, or
/// `[prices."openai/gpt-4o"]` for one provider's model).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Input (prompt) tokens.
    pub input: f64,
    /// Output (completion) tokens.
    pub output: f64,
    /// Input tokens read from the provider's prompt cache (default: `input`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<f64>,
    /// Reasoning tokens (default: `output`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<f64>,
}

/// `[prices]`: prices over the shipped table, by `model` or `provider/model`.
pub type Prices = BTreeMap<String, Price>;
