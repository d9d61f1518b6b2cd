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
    /// Where exact entries live: `jetstream` (the `sy_cache` KV bucket, nothing else to run)
    /// or `redis` (at `url`).
    pub backend: CacheBackend,
    /// The Redis URL for `backend = "redis"` (`redis://[:password@]host:6379/0`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Overrides by the model as the client names it (an alias or `provider/model`).
    pub models: BTreeMap<String, CacheOverride>,
    /// Overrides by key id (`master` for the master key).
    pub keys: BTreeMap<String, CacheOverride>,
    /// `[cache.semantic]`: answers for prompts that mean the same.
    pub semantic: SemanticConfig,
}

/// `[cache.semantic]`: a prompt whose embedding is close enough to a cached one's (same
/// model, same key and namespace) gets that answer. Each worker keeps an in-process HNSW index
/// of the cached prompts' embeddings, fed from the `SY_CACHE_VECTORS` stream (so every worker
/// converges, and rebuilt at start); it holds at most `max_entries` vectors: about
/// `max_entries x (4 x dimensions + 200)` bytes (100,000 of 1,536 dimensions: about 640 MB;
/// of 384: about 170 MB).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SemanticConfig {
    /// Look prompts up by meaning too (needs `[cache] enabled`).
    pub enabled: bool,
    /// The embeddings model, `provider/model` (a provider's, a local Ollama one, or
    /// `mock/embed` in tests).
    pub model: String,
    /// The cosine similarity from which a cached answer is served, 0 to 1.
    pub threshold: f32,
    /// The most vectors one worker indexes.
    pub max_entries: usize,
}

impl Default for SemanticConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            model: "mock/embed".into(),
            threshold: 0.95,
            max_entries: 100_000,
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            ttl_s: 3600,
            timeout_ms: 50,
            exclude_fields: Vec::new(),
            max_entry_bytes: 1024 * 1024,
            backend: CacheBackend::Jetstream,
            url: None,
            models: BTreeMap::new(),
            keys: BTreeMap::new(),
            semantic: SemanticConfig::default(),
        }
    }
}

/// `[cache] backend`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheBackend {
    /// The `sy_cache` JetStream KV bucket.
    #[default]
    Jetstream,
    /// A Redis server the team already runs.
    Redis,
}

/// `[cache.models."<model>"]`, `[cache.keys."<id>"]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheOverride {
    /// On or off for this model or key.
    pub enabled: Option<bool>,
    /// Its TTL, seconds.
    pub ttl_s: Option<u64>,
    /// Its semantic similarity threshold (0 to 1; above 1 turns semantic lookups off).
    pub semantic_threshold: Option<f32>,
}

impl CacheConfig {
    /// Whether requests of `model` by `key` use the cache, and for how long they stay: the
    /// key's override wins over the model's, which wins over `[cache]`.
    pub fn policy(&self, model: &str, key: Option<&str>) -> (bool, u64) {
        let p = self.resolve(model, key);
        (p.0, p.1)
    }

    /// The semantic threshold for `model` and `key`, when semantic lookups are on for them.
    pub fn semantic_threshold(&self, model: &str, key: Option<&str>) -> Option<f32> {
        let (on, _, threshold) = self.resolve(model, key);
        (on && self.semantic.enabled && threshold <= 1.0).then_some(threshold)
    }

    fn resolve(&self, model: &str, key: Option<&str>) -> (bool, u64, f32) {
        let mut on = self.enabled;
        let mut ttl = self.ttl_s;
        let mut threshold = self.semantic.threshold;
        let overrides = [self.models.get(model), key.and_then(|k| self.keys.get(k))];
        for o in overrides.into_iter().flatten() {
            on = o.enabled.unwrap_or(on);
            ttl = o.ttl_s.unwrap_or(ttl);
            threshold = o.semantic_threshold.unwrap_or(threshold);
        }
        (on, ttl, threshold)
    }
}
