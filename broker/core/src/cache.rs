//! The response cache's shared parts: the key of a request (its normalized body after alias
//! resolution, scoped by the caller's key and a namespace), the entry, and the store: the
//! `sy_cache` JetStream KV bucket with a TTL per entry, so every ingress and worker of a
//! cluster shares it with nothing else to run, or a Redis server (`[cache] backend`). Every operation has a short timeout: a slow
//! or missing cache is skipped, never a failed request.

use async_nats::jetstream::kv;
use schemas::openai::Usage;
use schemas::Target;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// Fields that never change an answer's content and stay out of the key.
const IGNORED: &[&str] = &["stream", "stream_options", "user", "metadata"];

/// A cached answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// The OpenAI-shaped answer (a chat completion or an embeddings list).
    pub response: Box<RawValue>,
    /// Its usage when it was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Its cost when it was made, USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// The provider and model that made it.
    pub provider: String,
    /// The model as that provider knows it.
    pub model: String,
    /// The job that made it.
    pub job: String,
    /// When it was made (ms since the epoch).
    pub created_ms: u64,
    /// When it expires (ms since the epoch).
    pub expires_ms: u64,
}

/// Why the cache was skipped.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// It did not answer in time.
    #[error("the cache did not answer within {0} ms")]
    Timeout(u64),
    /// It answered with an error.
    #[error("the cache failed: {0}")]
    Backend(String),
    /// There is no cache bucket (the NATS server is older than 2.11, or creating it failed).
    #[error("no cache bucket")]
    Missing,
}

fn token(s: &str, max: usize) -> String {
    let t: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(max)
        .collect();
    if t.is_empty() {
        "_".into()
    } else {
        t
    }
}

/// The namespace as a key token (`default` when none).
pub fn namespace(ns: Option<&str>) -> String {
    token(ns.unwrap_or("default"), 64)
}

/// The cache key of a request body on its first target, for `key_id` (the tenant) and
/// `namespace`: `c.<key id>.<namespace>.<model>.<sha256 of the normalized body>`. `None`
/// when the body is not a JSON object.
pub fn key(
    key_id: Option<&str>,
    namespace: &str,
    target: &Target,
    body: &RawValue,
    exclude: &[String],
) -> Option<String> {
    let mut v: serde_json::Value = serde_json::from_str(body.get()).ok()?;
    let o = v.as_object_mut()?;
    for f in IGNORED
        .iter()
        .copied()
        .chain(exclude.iter().map(String::as_str))
    {
        o.remove(f);
    }
    // After alias resolution: an alias and its target share answers.
    o.insert(
        "model".into(),
        serde_json::Value::String(target.qualified()),
    );
    // serde_json's maps are sorted: the text is canonical.
    let text = serde_json::to_string(&v).ok()?;
    let hash: String = Sha256::digest(text.as_bytes())
        .iter()
        .take(20)
        .map(|b| format!("{b:02x}"))
        .collect();
    Some(format!(
        "c.{}.{}.{}.{hash}",
        token(key_id.unwrap_or("anon"), 40),
        namespace,
        token(&target.qualified(), 80)
    ))
}

/// Where entries live.
#[derive(Clone)]
enum Backend {
    /// The `sy_cache` bucket (none: every call is skipped as [`CacheError::Missing`]).
    Kv(Option<Box<kv::Store>>),
    /// A Redis server, connected on first use (and again after it went away).
    Redis(redis::Client, Arc<OnceCell<redis::aio::ConnectionManager>>),
}

/// Keys in Redis carry this prefix, beside whatever else the server holds.
const REDIS_PREFIX: &str = "switchyard:";

/// The store, with the timeout every call keeps to.
#[derive(Clone)]
pub struct Cache {
    backend: Backend,
    timeout: Duration,
}

impl Cache {
    /// A cache over `bucket` (none: every call is skipped as [`CacheError::Missing`]).
    pub fn new(bucket: Option<kv::Store>, timeout_ms: u64) -> Self {
        Self {
            backend: Backend::Kv(bucket.map(Box::new)),
            timeout: Duration::from_millis(timeout_ms.max(1)),
        }
    }

    /// The cache `[cache]` describes: the bucket, or Redis at `cache.url`.
    pub fn from_config(bucket: Option<kv::Store>, cfg: &crate::config::CacheConfig) -> Self {
        let timeout = Duration::from_millis(cfg.timeout_ms.max(1));
        let redis = (cfg.backend == crate::config::CacheBackend::Redis)
            .then(|| cfg.url.as_deref().map(redis::Client::open))
            .flatten();
        match redis {
            Some(Ok(client)) => Self {
                backend: Backend::Redis(client, Arc::new(OnceCell::new())),
                timeout,
            },
            Some(Err(e)) => {
                tracing::warn!(error = %e, "the cache's Redis URL does not parse; the cache is off");
                Self {
                    backend: Backend::Kv(None),
                    timeout,
                }
            }
            None => Self {
                backend: Backend::Kv(bucket.map(Box::new)),
                timeout,
            },
        }
    }

    /// A Redis connection (made on first use; the manager reconnects by itself).
    async fn redis(
        &self,
        client: &redis::Client,
        cell: &OnceCell<redis::aio::ConnectionManager>,
    ) -> Result<redis::aio::ConnectionManager, CacheError> {
        let con = self
            .timed(cell.get_or_try_init(|| client.get_connection_manager()))
            .await?;
        Ok(con.clone())
    }

    async fn timed<T, E: std::fmt::Display>(
        &self,
        f: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, CacheError> {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(CacheError::Backend(e.to_string())),
            Err(_) => Err(CacheError::Timeout(self.timeout.as_millis() as u64)),
        }
    }

    /// The live entry under `key`, if any.
    pub async fn get(&self, key: &str) -> Result<Option<Entry>, CacheError> {
        let bytes: Option<Vec<u8>> = match &self.backend {
            Backend::Kv(bucket) => {
                let bucket = bucket.as_ref().ok_or(CacheError::Missing)?;
                self.timed(bucket.get(key)).await?.map(|b| b.to_vec())
            }
            Backend::Redis(client, cell) => {
                let mut con = self.redis(client, cell).await?;
                let mut get = redis::cmd("GET");
                get.arg(format!("{REDIS_PREFIX}{key}"));
                self.timed(get.query_async::<Option<Vec<u8>>>(&mut con))
                    .await?
            }
        };
        let entry = bytes.and_then(|b| serde_json::from_slice::<Entry>(&b).ok());
        Ok(entry.filter(|e| e.expires_ms > schemas::now_ms()))
    }

    /// Stores `entry` under `key` for `ttl_s` (the first answer stored wins); its size.
    pub async fn put(&self, key: &str, entry: &Entry, ttl_s: u64) -> Result<usize, CacheError> {
        let bytes = serde_json::to_vec(entry).map_err(|e| CacheError::Backend(e.to_string()))?;
        let n = bytes.len();
        let ttl_s = ttl_s.max(1);
        match &self.backend {
            Backend::Kv(bucket) => {
                let bucket = bucket.as_ref().ok_or(CacheError::Missing)?;
                let ttl = Duration::from_secs(ttl_s);
                match self
                    .timed(bucket.create_with_ttl(key, bytes.into(), ttl))
                    .await
                {
                    Ok(_) => Ok(n),
                    // Another worker cached the same request first.
                    Err(CacheError::Backend(e)) if e.contains("exist") => Ok(0),
                    Err(e) => Err(e),
                }
            }
            Backend::Redis(client, cell) => {
                let mut con = self.redis(client, cell).await?;
                let mut set = redis::cmd("SET");
                set.arg(format!("{REDIS_PREFIX}{key}"))
                    .arg(bytes)
                    .arg("NX")
                    .arg("EX")
                    .arg(ttl_s);
                let stored = self
                    .timed(set.query_async::<Option<String>>(&mut con))
                    .await?;
                Ok(if stored.is_some() { n } else { 0 })
            }
        }
    }

    /// Deletes every entry whose key `matches` (by its tokens: key id, namespace, model);
    /// how many.
    pub async fn purge(&self, matches: impl Fn(&[&str]) -> bool) -> Result<usize, CacheError> {
        use futures::StreamExt;
        let bucket = match &self.backend {
            Backend::Kv(bucket) => bucket.as_ref().ok_or(CacheError::Missing)?,
            Backend::Redis(client, cell) => return self.purge_redis(client, cell, matches).await,
        };
        let mut keys = bucket
            .keys()
            .await
            .map_err(|e| CacheError::Backend(e.to_string()))?;
        let mut n = 0;
        while let Some(k) = keys.next().await {
            let Ok(k) = k else { continue };
            let tokens: Vec<&str> = k.split('.').collect();
            if matches(&tokens) && bucket.purge(&k).await.is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }
}

impl Cache {
    async fn purge_redis(
        &self,
        client: &redis::Client,
        cell: &OnceCell<redis::aio::ConnectionManager>,
        matches: impl Fn(&[&str]) -> bool,
    ) -> Result<usize, CacheError> {
        let mut con = self.redis(client, cell).await?;
        let mut cursor: u64 = 0;
        let mut n = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{REDIS_PREFIX}c.*"))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut con)
                .await
                .map_err(|e| CacheError::Backend(e.to_string()))?;
            for k in keys {
                let tokens: Vec<&str> = k.trim_start_matches(REDIS_PREFIX).split('.').collect();
                if matches(&tokens) {
                    let gone: u64 = redis::cmd("DEL")
                        .arg(&k)
                        .query_async(&mut con)
                        .await
                        .map_err(|e| CacheError::Backend(e.to_string()))?;
                    n += gone as usize;
                }
            }
            if next == 0 {
                return Ok(n);
            }
            cursor = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn the_key_ignores_stream_user_order_and_aliases_and_scopes_by_tenant() {
        let t = Target {
            provider: "mock".into(),
            model: "echo".into(),
        };
        let a = key(Some("k1"), "default", &t, &raw(r#"{"model":"fast","stream":true,"user":"u","messages":[{"role":"user","content":"hi"}],"temperature":0}"#), &[]).unwrap();
        let b = key(Some("k1"), "default", &t, &raw(r#"{"temperature":0,"messages":[{"content":"hi","role":"user"}],"model":"mock/echo"}"#), &[]).unwrap();
        assert_eq!(a, b);
        assert!(a.starts_with("c.k1.default.mock_echo."), "{a}");
        let other_key = key(
            Some("k2"),
            "default",
            &t,
            &raw(r#"{"model":"x","messages":[{"role":"user","content":"hi"}],"temperature":0}"#),
            &[],
        )
        .unwrap();
        assert_ne!(a, other_key);
        let hotter = key(
            Some("k1"),
            "default",
            &t,
            &raw(r#"{"model":"x","messages":[{"role":"user","content":"hi"}],"temperature":1}"#),
            &[],
        )
        .unwrap();
        assert_ne!(a, hotter);
        let seeded = key(Some("k1"), "default", &t, &raw(r#"{"model":"x","messages":[{"role":"user","content":"hi"}],"temperature":0,"seed":5}"#), &["seed".into()]).unwrap();
        assert_eq!(a, seeded);
        assert!(key(None, "n", &t, &raw("[1]"), &[]).is_none());
        assert_eq!(namespace(Some("team a/b")), "team_a_b");
    }
}
