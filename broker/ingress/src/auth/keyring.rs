//! The keys every request is checked against: the `sy_keys` bucket, watched, so a key
//! created, changed or revoked through any ingress is seen by this one at once (and looked up
//! directly when the watch has not delivered it yet).

use async_nats::jetstream::kv;
use broker::access::keys::{self, KeyRecord};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The key records this ingress knows, by id.
pub struct Keyring {
    bucket: kv::Store,
    salt: String,
    keys: RwLock<HashMap<String, Arc<KeyRecord>>>,
}

impl Keyring {
    /// Reads the salt (making it once per gateway) and starts watching the bucket.
    pub async fn start(bucket: kv::Store) -> Result<Arc<Self>, async_nats::Error> {
        let salt = keys::salt(&bucket).await?;
        let ring = Arc::new(Self {
            bucket,
            salt,
            keys: RwLock::new(HashMap::new()),
        });
        tokio::spawn(watch(Arc::downgrade(&ring)));
        Ok(ring)
    }

    /// The gateway's salt.
    pub fn salt(&self) -> &str {
        &self.salt
    }

    /// The bucket.
    pub fn bucket(&self) -> &kv::Store {
        &self.bucket
    }

    /// The record a secret names, when the secret is its own (revoked and expired keys
    /// included: the caller says why they are refused).
    pub async fn verify(&self, secret: &str) -> Option<Arc<KeyRecord>> {
        let id = keys::id_of(secret)?;
        let rec = match self.cached(id) {
            Some(r) => r,
            None => {
                let r = Arc::new(keys::get(&self.bucket, id).await.ok().flatten()?);
                self.store(r.clone());
                r
            }
        };
        keys::same(&rec.hash, &keys::hash(&self.salt, secret)).then_some(rec)
    }

    /// The record of key `id` (from the watch, else the bucket).
    pub async fn record(&self, id: &str) -> Option<Arc<KeyRecord>> {
        if let Some(r) = self.cached(id) {
            return Some(r);
        }
        let r = Arc::new(keys::get(&self.bucket, id).await.ok().flatten()?);
        self.store(r.clone());
        Some(r)
    }

    fn cached(&self, id: &str) -> Option<Arc<KeyRecord>> {
        self.keys.read().ok()?.get(id).cloned()
    }

    fn store(&self, rec: Arc<KeyRecord>) {
        if let Ok(mut m) = self.keys.write() {
            m.insert(rec.id.clone(), rec);
        }
    }

    fn forget(&self, id: &str) {
        if let Ok(mut m) = self.keys.write() {
            m.remove(id);
        }
    }
}

/// Follows the bucket's records until the keyring is dropped; restarts the watch when it
/// ends (NATS went away).
async fn watch(ring: std::sync::Weak<Keyring>) {
    loop {
        let Some(bucket) = ring.upgrade().map(|r| r.bucket.clone()) else {
            return;
        };
        match bucket.watch_with_history("k.>").await {
            Ok(mut entries) => {
                while let Some(entry) = entries.next().await {
                    let Some(ring) = ring.upgrade() else { return };
                    let Ok(entry) = entry else { break };
                    let id = entry.key.trim_start_matches("k.").to_string();
                    match entry.operation {
                        kv::Operation::Put => {
                            match serde_json::from_slice::<KeyRecord>(&entry.value) {
                                Ok(rec) => ring.store(Arc::new(rec)),
                                Err(e) => {
                                    tracing::warn!(key_id = %id, error = %e, "unreadable key record; the key is refused")
                                }
                            }
                        }
                        _ => ring.forget(&id),
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot watch the keys bucket; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
