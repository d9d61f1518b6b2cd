//! The provider adapters, one module each, and the [`Registry`] that builds them from config.
//!
//! The registry maps a config `kind` to a constructor; nothing outside an adapter's module
//! knows anything about that provider.

pub mod anthropic;
pub mod azure;
pub mod bedrock;
pub mod catalog;
pub mod gemini;
pub mod http;
pub mod mock;
pub mod openai;
pub mod presets;
pub mod sse;

use crate::provider::Provider;
use broker::config::{Config, ProviderConfig};
use presets::{preset, PRESETS};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Builds an adapter from its config entry.
pub type Factory = fn(name: &str, cfg: &ProviderConfig) -> Result<Arc<dyn Provider>, String>;

/// Every adapter kind, by the `kind` value of a `[providers.<name>]` entry. The presets of
/// [`presets::PRESETS`] are kinds too, built by [`openai::build`].
pub const KINDS: &[(&str, Factory)] = &[
    ("mock", mock::build),
    ("openai", openai::build),
    ("anthropic", anthropic::build),
    ("azure", azure::build),
    ("gemini", gemini::build),
    ("bedrock", bedrock::build),
];

/// The factory of a kind: an adapter of [`KINDS`] or a preset.
pub fn factory(kind: &str) -> Option<Factory> {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, f)| *f)
        .or_else(|| preset(kind).map(|_| openai::build as Factory))
}

/// Every kind name, adapters then presets.
pub fn kind_names() -> Vec<&'static str> {
    KINDS
        .iter()
        .map(|(k, _)| *k)
        .chain(PRESETS.iter().map(|p| p.kind))
        .collect()
}

/// The configured providers, by name.
#[derive(Clone, Default)]
pub struct Registry {
    map: BTreeMap<String, Arc<dyn Provider>>,
}

impl Registry {
    /// Builds every configured provider; an unknown kind or bad option names the entry.
    pub fn from_config(cfg: &Config) -> Result<Self, String> {
        let mut map = BTreeMap::new();
        for (name, p) in &cfg.providers {
            let Some(factory) = factory(&p.kind) else {
                return Err(format!(
                    "providers.{name}.kind: unknown kind `{}` (known: {})",
                    p.kind,
                    kind_names().join(", ")
                ));
            };
            let adapter = factory(name, p).map_err(|e| format!("providers.{name}: {e}"))?;
            map.insert(name.clone(), adapter);
        }
        Ok(Self { map })
    }

    /// Adds or replaces one provider (tests, embedding).
    pub fn insert(&mut self, name: &str, p: Arc<dyn Provider>) {
        self.map.insert(name.to_string(), p);
    }

    /// The adapter of a provider.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.map.get(name)
    }

    /// Provider names.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.map.keys()
    }
}

/// Reads an adapter option from a provider's extra keys.
pub fn option<T: serde::de::DeserializeOwned>(
    cfg: &ProviderConfig,
    key: &str,
) -> Result<Option<T>, String> {
    match cfg.options.get(key) {
        None => Ok(None),
        Some(v) => v
            .clone()
            .try_into()
            .map(Some)
            .map_err(|e: toml::de::Error| format!("{key}: {}", e.message())),
    }
}
