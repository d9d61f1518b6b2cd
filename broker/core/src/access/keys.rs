//! Virtual keys: what an admin creates for an app or a person. A key's secret is shown once,
//! at creation or rotation; the bucket keeps only its salted SHA-256 (the salt is one per
//! gateway, in the same bucket), so a copy of the bucket lets no one in.
//!
//! A secret is `sy-<id>-<random>`: the id in it finds the record directly, and the hash
//! decides. Records live in the `sy_keys` KV bucket under `k.<id>`; every ingress watches
//! the bucket, so a new, changed or revoked key is seen everywhere at once.

use super::period::BudgetPeriod;
use async_nats::jetstream::kv;
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A key as stored: everything but the secret.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KeyRecord {
    /// The key's id (12 hex digits): in events, results and the request log.
    pub id: String,
    /// A name for people.
    pub name: String,
    /// The salted SHA-256 of the secret, hex.
    pub hash: String,
    /// The first characters of the secret, to recognise it (`sy-1a2b3c4d5e6f-Xy…`).
    pub prefix: String,
    /// Reaches everything the master key reaches (the admin API, every request).
    #[serde(default)]
    pub admin: bool,
    /// Models (or aliases) the key may use; empty allows all. A trailing `*` matches a prefix
    /// (`mock/*`).
    #[serde(default)]
    pub models: Vec<String>,
    /// Requests per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u64>,
    /// Tokens per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    /// The hard budget per period, in USD: past it requests get 429 `budget_exceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
    /// The budget's period (default `month`).
    #[serde(default)]
    pub budget_period: BudgetPeriod,
    /// The soft budget per period, in USD: crossing it is logged, counted and audited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_budget_usd: Option<f64>,
    /// When the key stops working (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Free-form labels.
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// When it was created (seconds since the epoch).
    pub created_at: u64,
    /// Who created it (a key id, or `master`).
    #[serde(default)]
    pub created_by: String,
    /// When its secret was last rotated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<u64>,
    /// When it was revoked; a revoked key is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<u64>,
}

impl KeyRecord {
    /// Whether the key may be used at `now_s`.
    pub fn active(&self, now_s: u64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|t| now_s < t)
    }

    /// Whether the key may use `model` (as the client named it).
    pub fn allows(&self, model: &str) -> bool {
        self.models.is_empty()
            || self.models.iter().any(|m| match m.strip_suffix('*') {
                Some(prefix) => model.starts_with(prefix),
                None => m == model,
            })
    }
}

/// The bucket key of a key's record.
pub fn record_key(id: &str) -> String {
    format!("k.{id}")
}

/// The bucket key of the gateway's salt.
pub const SALT_KEY: &str = "salt";

/// A fresh key id and secret.
pub fn generate() -> (String, String) {
    let mut rng = rand::rng();
    let id: String = (0..12)
        .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
        .collect();
    (id.clone(), secret_for(&id))
}

/// A fresh secret for the key `id`.
pub fn secret_for(id: &str) -> String {
    format!("sy-{id}-{}", random_text(40))
}

/// `len` random letters and digits (about 5.95 bits each).
pub fn random_text(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// The key id a secret names, if it has the shape of one.
pub fn id_of(secret: &str) -> Option<&str> {
    let rest = secret.strip_prefix("sy-")?;
    let (id, tail) = rest.split_once('-')?;
    (id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !tail.is_empty()).then_some(id)
}

/// The salted hash of a secret, hex.
pub fn hash(salt: &str, secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0]);
    h.update(secret.as_bytes());
    hex(&h.finalize())
}

/// Compares two strings in time independent of where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// What shows of a secret in lists: its id part and a few characters.
pub fn prefix_of(secret: &str) -> String {
    let n = secret.len().min(20);
    format!("{}…", &secret[..n])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The gateway's salt: read from the bucket, or made once (the first process to ask wins
/// the race; the others read its salt).
pub async fn salt(bucket: &kv::Store) -> Result<String, async_nats::Error> {
    for _ in 0..3 {
        if let Some(v) = bucket.get(SALT_KEY).await? {
            return Ok(String::from_utf8_lossy(&v).into_owned());
        }
        let mut raw = [0u8; 32];
        rand::rng().fill(&mut raw[..]);
        if bucket
            .create(SALT_KEY, hex(&raw).into_bytes().into())
            .await
            .is_ok()
        {
            return Ok(hex(&raw));
        }
    }
    Err("cannot read or create the key salt in the keys bucket".into())
}

/// Stores a record (create or overwrite).
pub async fn put(bucket: &kv::Store, rec: &KeyRecord) -> Result<(), async_nats::Error> {
    bucket
        .put(record_key(&rec.id), serde_json::to_vec(rec)?.into())
        .await?;
    Ok(())
}

/// A record by id.
pub async fn get(bucket: &kv::Store, id: &str) -> Result<Option<KeyRecord>, async_nats::Error> {
    if id_of(&format!("sy-{id}-x")).is_none() {
        return Ok(None);
    }
    match bucket.get(record_key(id)).await? {
        Some(v) => Ok(serde_json::from_slice(&v).ok()),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_names_its_key_and_hashes_with_the_salt() {
        let (id, secret) = generate();
        assert_eq!(id_of(&secret), Some(id.as_str()));
        assert!(id_of("sk-abc").is_none() && id_of("sy-xyz-1").is_none());
        assert_ne!(hash("a", &secret), hash("b", &secret));
        assert!(same(&hash("a", &secret), &hash("a", &secret)));
        assert!(!same("abc", "abd") && !same("abc", "ab"));
        assert!(!prefix_of(&secret).contains(&secret[25..]));
    }

    #[test]
    fn model_patterns_and_expiry() {
        let k = KeyRecord {
            models: vec!["mock/*".into(), "smart".into()],
            expires_at: Some(100),
            ..Default::default()
        };
        assert!(k.allows("mock/echo") && k.allows("smart") && !k.allows("openai/gpt-4o"));
        assert!(k.active(99) && !k.active(100));
        assert!(KeyRecord::default().allows("anything"));
    }
}
