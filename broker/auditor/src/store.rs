//! The sled store: trees, keys, and the batched writes of the consumer.
//!
//! Trees:
//! - `records`: job id -> [`Record`] (JSON)
//! - `events`: job id, `0x00`, stream sequence (u64 big-endian) -> [`StoredEvent`] (JSON).
//!   A redelivered event has the same key, so it is stored once.
//! - `by_time`: created ms (u64 big-endian), job id -> empty; the list and retention order.
//! - `bodies`: job id, `0x00`, `request` | `response` -> redacted JSON, zstd-compressed
//!   (entries of earlier versions are plain JSON, told apart by the zstd frame magic)

use super::AuditorError;
use broker::audit::protocol::StoredEvent;
use broker::audit::Record;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Which body.
#[derive(Debug, Clone, Copy)]
pub enum BodyKind {
    /// The client's request.
    Request,
    /// The response of the result.
    Response,
}

impl BodyKind {
    fn suffix(self) -> &'static [u8] {
        match self {
            Self::Request => b"request",
            Self::Response => b"response",
        }
    }
}

/// The open store.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    /// Job id -> record.
    pub records: sled::Tree,
    /// (job id, seq) -> event.
    pub events: sled::Tree,
    /// (created ms, job id) -> ().
    pub by_time: sled::Tree,
    /// (job id, kind) -> body.
    pub bodies: sled::Tree,
}

/// The prefix of every key of a job in `events` and `bodies`.
pub fn job_prefix(job: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(job.len() + 9);
    k.extend_from_slice(job.as_bytes());
    k.push(0);
    k
}

/// The `events` key.
pub fn event_key(job: &str, seq: u64) -> Vec<u8> {
    let mut k = job_prefix(job);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The `bodies` key.
pub fn body_key(job: &str, kind: BodyKind) -> Vec<u8> {
    let mut k = job_prefix(job);
    k.extend_from_slice(kind.suffix());
    k
}

/// The `by_time` key.
pub fn time_key(created_ms: u64, job: &str) -> Vec<u8> {
    let mut k = created_ms.to_be_bytes().to_vec();
    k.extend_from_slice(job.as_bytes());
    k
}

/// Splits a `by_time` key.
pub fn split_time_key(k: &[u8]) -> Option<(u64, String)> {
    let (ms, id) = k.split_at_checked(8)?;
    let ms = u64::from_be_bytes(ms.try_into().ok()?);
    Some((ms, String::from_utf8(id.to_vec()).ok()?))
}

/// The zstd level of stored bodies: fast, and most of the gain on JSON chat bodies.
const BODY_LEVEL: i32 = 3;

/// The first bytes of a zstd frame (no JSON text starts with them).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

fn decode<T: for<'de> Deserialize<'de>>(v: &[u8]) -> Result<T, AuditorError> {
    serde_json::from_slice(v).map_err(|e| AuditorError::Corrupt(e.to_string()))
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, AuditorError> {
    serde_json::to_vec(v).map_err(|e| AuditorError::Corrupt(e.to_string()))
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, AuditorError> {
        std::fs::create_dir_all(dir).map_err(|e| AuditorError::Open(dir.into(), e.to_string()))?;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(64 * 1024 * 1024)
            .flush_every_ms(Some(500))
            .open()
            .map_err(|e| AuditorError::Open(dir.into(), e.to_string()))?;
        let tree = |n: &str| {
            db.open_tree(n)
                .map_err(|e| AuditorError::Open(dir.into(), e.to_string()))
        };
        Ok(Self {
            records: tree("records")?,
            events: tree("events")?,
            by_time: tree("by_time")?,
            bodies: tree("bodies")?,
            db,
        })
    }

    /// Writes everything to disk.
    pub async fn flush(&self) -> Result<(), AuditorError> {
        self.db.flush_async().await?;
        Ok(())
    }

    /// Flushes to disk, blocking the calling thread (call it from a blocking task).
    pub fn flush_blocking(&self) -> Result<(), AuditorError> {
        self.db.flush()?;
        Ok(())
    }

    /// The record of `job`.
    pub fn record(&self, job: &str) -> Result<Option<Record>, AuditorError> {
        self.records
            .get(job.as_bytes())?
            .map(|v| decode(&v))
            .transpose()
    }

    /// Stores `rec`, moving its `by_time` entry when its creation time changed.
    pub fn put_record(&self, rec: &Record, previous: Option<&Record>) -> Result<(), AuditorError> {
        if let Some(p) = previous.filter(|p| p.created_ms != rec.created_ms) {
            self.by_time.remove(time_key(p.created_ms, &p.id))?;
        }
        self.by_time
            .insert(time_key(rec.created_ms, &rec.id), &[])?;
        self.records.insert(rec.id.as_bytes(), encode(rec)?)?;
        Ok(())
    }

    /// Stores an event under (job, seq); `false` when it was already there.
    pub fn put_event(&self, ev: &StoredEvent) -> Result<bool, AuditorError> {
        let old = self
            .events
            .insert(event_key(&ev.event.job, ev.seq), encode(ev)?)?;
        Ok(old.is_none())
    }

    /// Stores a body, compressed.
    pub fn put_body(
        &self,
        job: &str,
        kind: BodyKind,
        body: &serde_json::Value,
    ) -> Result<(), AuditorError> {
        let packed = zstd::encode_all(encode(body)?.as_slice(), BODY_LEVEL)
            .map_err(|e| AuditorError::Corrupt(format!("cannot compress a body: {e}")))?;
        self.bodies.insert(body_key(job, kind), packed)?;
        Ok(())
    }

    /// A stored body.
    pub fn body(
        &self,
        job: &str,
        kind: BodyKind,
    ) -> Result<Option<serde_json::Value>, AuditorError> {
        let Some(v) = self.bodies.get(body_key(job, kind))? else {
            return Ok(None);
        };
        if v.starts_with(&ZSTD_MAGIC) {
            let plain = zstd::decode_all(&v[..])
                .map_err(|e| AuditorError::Corrupt(format!("cannot decompress a body: {e}")))?;
            return decode(&plain).map(Some);
        }
        decode(&v).map(Some)
    }

    /// Every stored event of `job`, in stream order.
    pub fn events_of(&self, job: &str) -> Result<Vec<StoredEvent>, AuditorError> {
        self.events
            .scan_prefix(job_prefix(job))
            .values()
            .map(|v| decode(&v?))
            .collect()
    }

    /// Deletes a job: its record, events, bodies and time entry. Returns the bytes freed.
    pub fn delete_job(&self, created_ms: u64, job: &str) -> Result<u64, AuditorError> {
        let mut freed = 0u64;
        self.by_time.remove(time_key(created_ms, job))?;
        if let Some(v) = self.records.remove(job.as_bytes())? {
            freed += v.len() as u64;
        }
        for tree in [&self.events, &self.bodies] {
            let mut batch = sled::Batch::default();
            for kv in tree.scan_prefix(job_prefix(job)) {
                let (k, v) = kv?;
                freed += (k.len() + v.len()) as u64;
                batch.remove(k);
            }
            tree.apply_batch(batch)?;
        }
        Ok(freed)
    }

    /// How many records are stored.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the store holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The stored bytes of each job (keys and values of every tree), and their total.
    pub fn sizes(&self) -> Result<(std::collections::HashMap<String, u64>, u64), AuditorError> {
        let mut by_job = std::collections::HashMap::new();
        let mut total = 0u64;
        for kv in self.records.iter() {
            let (k, v) = kv?;
            let n = (k.len() * 2 + v.len() + 8) as u64;
            total += n;
            by_job.insert(String::from_utf8_lossy(&k).into_owned(), n);
        }
        for tree in [&self.events, &self.bodies] {
            for kv in tree.iter() {
                let (k, v) = kv?;
                let n = (k.len() + v.len()) as u64;
                total += n;
                if let Some(job) = k.split(|b| *b == 0).next() {
                    if let Some(slot) = by_job.get_mut(&*String::from_utf8_lossy(job)) {
                        *slot += n;
                    }
                }
            }
        }
        Ok((by_job, total))
    }

    /// The store's size on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}
