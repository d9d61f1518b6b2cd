//! What a job cost: the shipped price table (`prices.toml`, common models of every built-in
//! provider and preset) under the config's `[prices]`, applied to a job's usage.

use crate::config::{Price, Prices};
use schemas::openai::Usage;
use std::collections::BTreeMap;

/// The shipped prices.
const SHIPPED: &str = include_str!("prices.toml");

/// Prices by model, `provider/model` or `provider/*`.
#[derive(Debug, Clone)]
pub struct PriceTable {
    prices: BTreeMap<String, Price>,
}

impl PriceTable {
    /// The shipped table with `overrides` (the config's `[prices]`) over it.
    pub fn new(overrides: &Prices) -> Self {
        let mut prices: BTreeMap<String, Price> = toml::from_str(SHIPPED).unwrap_or_else(|e| {
            tracing::error!(error = %e, "the shipped price table does not parse; costs are unknown");
            BTreeMap::new()
        });
        prices.extend(overrides.iter().map(|(k, v)| (k.clone(), *v)));
        Self { prices }
    }

    /// The price of `model` on `provider`: `provider/model`, the model, its dated or
    /// versioned variants (`gpt-4o-2024-08-06`, `anthropic.claude-sonnet-4-20250514-v1:0`),
    /// the model without a vendor path (`openrouter`'s `anthropic/claude-sonnet-4`), then
    /// `provider/*`.
    pub fn price(&self, provider: &str, model: &str) -> Option<Price> {
        let qualified = format!("{provider}/{model}");
        if let Some(p) = self.prices.get(&qualified) {
            return Some(*p);
        }
        let mut name = model;
        loop {
            if let Some(p) = self.by_model(name) {
                return Some(p);
            }
            // `anthropic/claude-x` → `claude-x`; `us.anthropic.claude-x` → `anthropic.claude-x`.
            if let Some((_, rest)) = name.split_once('/') {
                name = rest;
            } else if let Some((head, rest)) = name.split_once('.') {
                if head.is_empty() || !head.bytes().all(|b| b.is_ascii_lowercase()) {
                    break;
                }
                name = rest;
            } else {
                break;
            }
        }
        self.prices.get(&format!("{provider}/*")).copied()
    }

    /// A model's exact price, or the longest listed model it is a version of.
    fn by_model(&self, model: &str) -> Option<Price> {
        if let Some(p) = self.prices.get(model) {
            return Some(*p);
        }
        self.prices
            .iter()
            .filter(|(k, _)| {
                !k.contains('/') && model.len() > k.len() && model.starts_with(k.as_str())
            })
            .filter(|(k, _)| matches!(model.as_bytes()[k.len()], b'-' | b'@' | b':'))
            .max_by_key(|(k, _)| k.len())
            .map(|(_, p)| *p)
    }

    /// What `usage` cost on `provider`'s `model`, in USD; `None` when the model has no price.
    pub fn cost(&self, provider: &str, model: &str, usage: &Usage) -> Option<f64> {
        self.price(provider, model).map(|p| cost(&p, usage))
    }
}

/// What `usage` costs at `p`, in USD.
pub fn cost(p: &Price, usage: &Usage) -> f64 {
    let cached = usage
        .prompt_tokens_details
        .as_ref()
        .and_then(|d| d.cached_tokens)
        .unwrap_or(0)
        .min(usage.prompt_tokens);
    let reasoning = usage
        .completion_tokens_details
        .as_ref()
        .and_then(|d| d.reasoning_tokens)
        .unwrap_or(0)
        .min(usage.completion_tokens);
    let per_token = |n: u64, usd_per_m: f64| n as f64 * usd_per_m / 1e6;
    per_token(usage.prompt_tokens - cached, p.input)
        + per_token(cached, p.cached_input.unwrap_or(p.input))
        + per_token(usage.completion_tokens - reasoning, p.output)
        + per_token(reasoning, p.reasoning.unwrap_or(p.output))
}

/// USD as whole micro-dollars, the unit of the spend counters.
pub fn micros(usd: f64) -> i64 {
    (usd * 1e6).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::openai::{CompletionTokensDetails, PromptTokensDetails};

    #[test]
    fn the_shipped_table_parses_and_finds_versions_and_vendor_paths() {
        let t = PriceTable::new(&Prices::new());
        assert!(t.prices.len() > 60, "{}", t.prices.len());
        let gpt4o = t.price("openai", "gpt-4o").unwrap();
        assert_eq!(t.price("openai", "gpt-4o-2024-08-06"), Some(gpt4o));
        assert_ne!(t.price("openai", "gpt-4o-mini-2024-07-18"), Some(gpt4o));
        let sonnet = t.price("anthropic", "claude-sonnet-4").unwrap();
        assert_eq!(
            t.price("bedrock", "us.anthropic.claude-sonnet-4-20250514-v1:0"),
            Some(sonnet)
        );
        assert_eq!(
            t.price("openrouter", "anthropic/claude-sonnet-4"),
            Some(sonnet)
        );
        assert_eq!(t.price("ollama", "llama3.2").map(|p| p.input), Some(0.0));
        assert!(t.price("openai", "gemini-2.5-flash").is_some());
        assert!(t.price("mock", "echo").is_none());
    }

    #[test]
    fn the_config_wins_and_cached_and_reasoning_tokens_have_their_prices() {
        let mut o = Prices::new();
        o.insert(
            "mock/echo".into(),
            Price {
                input: 1.0,
                output: 2.0,
                cached_input: Some(0.5),
                reasoning: Some(4.0),
            },
        );
        let t = PriceTable::new(&o);
        let mut u = Usage::new(1_000_000, 1_000_000);
        assert_eq!(t.cost("mock", "echo", &u), Some(3.0));
        u.prompt_tokens_details = Some(PromptTokensDetails {
            cached_tokens: Some(500_000),
            ..Default::default()
        });
        u.completion_tokens_details = Some(CompletionTokensDetails {
            reasoning_tokens: Some(500_000),
            ..Default::default()
        });
        assert_eq!(t.cost("mock", "echo", &u), Some(0.5 + 0.25 + 1.0 + 2.0));
        assert_eq!(micros(0.0000015), 2);
    }
}
