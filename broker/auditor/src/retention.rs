//! Retention: records older than `max_age_s` go, then the oldest go while the stored data is
//! larger than `max_bytes`. Each sweep ends with a flush; the engine reclaims the space of
//! what was deleted as it compacts.

use super::store::{split_time_key, time_key, Store};
use super::AuditorError;
use broker::config::AuditorConfig;
use std::ops::Bound;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What one sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Records removed for their age.
    pub by_age: usize,
    /// Records removed for the size limit.
    pub by_size: usize,
    /// Bytes of keys and values removed.
    pub bytes_freed: u64,
}

/// Once the size limit is passed, deletes down to this share of it, so that every new
/// record does not trigger a sweep of its own.
const LOW_WATER: f64 = 0.9;

/// One sweep at `now_ms`.
pub fn sweep(
    store: &Store,
    max_age_s: u64,
    max_bytes: u64,
    now_ms: u64,
) -> Result<Swept, AuditorError> {
    let mut out = Swept::default();
    if max_age_s > 0 {
        let cutoff = now_ms.saturating_sub(max_age_s.saturating_mul(1000));
        let old: Vec<(u64, String)> = store
            .by_time
            .range(Bound::Unbounded, Bound::Excluded(time_key(cutoff, "")))
            .filter_map(|kv| kv.ok().and_then(|(k, _)| split_time_key(&k)))
            .collect();
        for (ms, id) in old {
            out.bytes_freed += store.delete_job(ms, &id)?;
            out.by_age += 1;
        }
    }
    if max_bytes > 0 {
        let (sizes, mut total) = store.sizes()?;
        if total > max_bytes {
            let target = (max_bytes as f64 * LOW_WATER) as u64;
            let oldest: Vec<(u64, String)> = store
                .by_time
                .iter()
                .filter_map(|kv| kv.ok().and_then(|(k, _)| split_time_key(&k)))
                .collect();
            for (ms, id) in oldest {
                if total <= target {
                    break;
                }
                let freed = store.delete_job(ms, &id)?;
                total = total.saturating_sub(sizes.get(&id).copied().unwrap_or(freed));
                out.bytes_freed += freed;
                out.by_size += 1;
            }
        }
    }
    Ok(out)
}

/// Sweeps every `retention_interval_s` until `stop`.
pub async fn run(store: Store, cfg: AuditorConfig, stop: CancellationToken) {
    if cfg.max_age_s == 0 && cfg.max_bytes == 0 {
        return;
    }
    let every = Duration::from_secs(cfg.retention_interval_s.max(1));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let st = store.clone();
        let (age, bytes) = (cfg.max_age_s, cfg.max_bytes);
        let out = tokio::task::spawn_blocking(move || sweep(&st, age, bytes, schemas::now_ms()))
            .await
            .unwrap_or_else(|e| Err(AuditorError::Corrupt(e.to_string())));
        match out {
            Ok(s) if s.by_age + s.by_size > 0 => {
                if let Err(e) = store.flush().await {
                    tracing::warn!(error = %e, "auditor flush after retention failed");
                }
                tracing::info!(
                    by_age = s.by_age,
                    by_size = s.by_size,
                    bytes_freed = s.bytes_freed,
                    disk_bytes = store.size_on_disk(),
                    "auditor retention removed old records"
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "auditor retention sweep failed; retrying next interval")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::consume::{apply_batch, BodyPolicy, Incoming};
    use super::*;
    use broker::audit::redact::Redactor;
    use schemas::{Event, EventDetail, EventKind};

    fn received(id: &str, ts: u64) -> Incoming {
        let mut e = Event::new(id, EventKind::Received, "n").with(EventDetail {
            model: Some("mock/echo".into()),
            body: Some(serde_json::json!({"model": "mock/echo", "pad": "x".repeat(200)})),
            ..Default::default()
        });
        e.ts_ms = ts;
        Incoming::Event(ts, Box::new(e), None)
    }

    fn store_with(n: u64) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let policy = BodyPolicy {
            store: true,
            redactor: Redactor::default(),
        };
        let items = (0..n)
            .map(|i| received(&format!("job-{i:03}"), 1_000 + i * 1000))
            .collect();
        apply_batch(&store, &policy, items).unwrap();
        (dir, store)
    }

    #[test]
    fn age_removes_old_records_and_their_events() {
        let (_d, store) = store_with(10);
        // now = 11 s, max age 5 s: records created before 6 s go (jobs 0..=4).
        let s = sweep(&store, 5, 0, 11_000).unwrap();
        assert_eq!(s.by_age, 5);
        assert_eq!(store.len(), 5);
        assert!(store.record("job-004").unwrap().is_none());
        assert!(store.events_of("job-004").unwrap().is_empty());
        assert!(store.record("job-005").unwrap().is_some());
        assert_eq!(store.by_time.len().unwrap(), 5);
        assert_eq!(store.bodies.len().unwrap(), 5);
    }

    #[test]
    fn size_removes_oldest_first() {
        let (_d, store) = store_with(10);
        let (_, total) = store.sizes().unwrap();
        let s = sweep(&store, 0, total / 2, 0).unwrap();
        assert!(s.by_size >= 5, "{s:?}");
        assert!(store.sizes().unwrap().1 <= total / 2);
        assert!(store.record("job-000").unwrap().is_none());
        assert!(store.record("job-009").unwrap().is_some());
    }
}
