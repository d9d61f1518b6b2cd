//! Integer counters in a JetStream KV bucket, changed with compare-and-set so that every
//! ingress and worker of a cluster adds to the same number: rate-limit windows and budget
//! spend. A value is its decimal text.

use async_nats::jetstream::kv;

/// What [`add`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// Added; the counter's new value.
    Now(i64),
    /// Not added: the new value would pass the cap; the counter's value.
    Refused(i64),
}

/// Why a counter could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    /// The bucket did not answer.
    #[error("the counter bucket did not answer: {0}")]
    Nats(String),
    /// Too many writers raced for the same counter.
    #[error("the counter `{0}` is contended; try again")]
    Contended(String),
}

/// Compare-and-set attempts before giving up.
const ATTEMPTS: usize = 32;

/// The counter's value (0 when absent).
pub async fn get(kv: &kv::Store, key: &str) -> Result<i64, CounterError> {
    Ok(read(kv, key).await?.0)
}

async fn read(kv: &kv::Store, key: &str) -> Result<(i64, Option<u64>), CounterError> {
    let entry = kv
        .entry(key)
        .await
        .map_err(|e| CounterError::Nats(e.to_string()))?;
    Ok(match entry {
        Some(e) if e.operation == kv::Operation::Put => {
            let v = std::str::from_utf8(&e.value)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            (v, Some(e.revision))
        }
        Some(e) => (0, Some(e.revision)),
        None => (0, None),
    })
}

/// Adds `delta` to the counter, unless a positive `delta` would take it past `cap`.
pub async fn add(
    kv: &kv::Store,
    key: &str,
    delta: i64,
    cap: Option<i64>,
) -> Result<Added, CounterError> {
    for _ in 0..ATTEMPTS {
        let (value, revision) = read(kv, key).await?;
        let next = value.saturating_add(delta);
        if delta > 0 && cap.is_some_and(|c| next > c) {
            return Ok(Added::Refused(value));
        }
        let text = next.to_string().into_bytes().into();
        let written = match revision {
            Some(r) => kv.update(key, text, r).await.map(|_| ()).is_ok(),
            None => kv.create(key, text).await.map(|_| ()).is_ok(),
        };
        if written {
            return Ok(Added::Now(next));
        }
        // Another writer won this round: read again.
        tokio::task::yield_now().await;
    }
    Err(CounterError::Contended(key.to_string()))
}
