//! `[cache]`: the response cache (off by default).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[cache]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Answer repeated requests from the cache.
    pub enabled: bool,
    /// How long an answer stays cached, seconds (`X-Switchyard-Cache-TTL` asks for less or
    /// more per request).
    pub ttl_s: u64,
    /// How long a lookup or a store may take before the cache is skipped (and counted).
    pub timeout_ms: u64,
    /// Request fields left out of the cache key besides `stream`, `stream_options`, `user`
    /// and `metadata` (e.g. `seed`).
    pub exclude_fields: Vec<String>,
    /// Answers larger than this are not cached.
    pub max_entry_bytes: usize,
    /// Overrides by the model as the client names it (an alias or `provider/model`).
    pub models: BTreeMap<String, CacheOverride>,
    /// Overrides by key id (`master` for the master key).
    pub keys: BTreeMap<String, CacheOverride>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            ttl_s: 3600,
            timeout_ms: 50,
            exclude_fields: Vec::new(),
            max_entry_bytes: 1024 * 1024,
            models: BTreeMap::new(),
            keys: BTreeMap::new(),
        }
    }
}

/// `[cache.models."<model>"]`, `[cache.keys."<id>"]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheOverride {
    /// On or off for this model or key.
    pub enabled: Option<bool>,
    /// Its TTL, seconds.
    pub ttl_s: Option<u64>,
}

impl CacheConfig {
    /// Whether requests of `model` by `key` use the cache, and for how long they stay: the
    /// key's override wins over the model's, which wins over `[cache]`.
    pub fn policy(&self, model: &str, key: Option<&str>) -> (bool, u64) {
        let mut on = self.enabled;
        let mut ttl = self.ttl_s;
        let overrides = [self.models.get(model), key.and_then(|k| self.keys.get(k))];
        for o in overrides.into_iter().flatten() {
            on = o.enabled.unwrap_or(on);
            ttl = o.ttl_s.unwrap_or(ttl);
        }
        (on, ttl)
    }
}
