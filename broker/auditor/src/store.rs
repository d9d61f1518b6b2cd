//! The sled store: trees, keys, and the compact encoding of what is stored.
//!
//! Trees (every value is zstd-compressed JSON; values of earlier versions are plain JSON,
//! told apart by the zstd frame magic, and still read):
//! - `records`: job id -> [`Record`]
//! - `timelines`: job id -> every [`StoredEvent`] of the job, in one value (one write per
//!   job per batch, not one per event). Events of earlier versions, one per key, are in
//!   `events` (job id, `0x00`, stream sequence) and still read.
//! - `by_time`: created ms (u64 big-endian), job id -> empty; the list and retention order.
//! - `index`: per-dimension entries (see [`crate::index`]) for filtered lists.
//! - `rollups`: per-minute and per-hour aggregates (see [`crate::rollup`]) for stats.
//! - `bodies`: job id, `0x00`, `request` | `response` -> the redacted body.
//!
//! Full-text search lives beside the trees, in a tantivy index (see [`crate::search`]).

use super::search::Search;
use super::AuditorError;
use broker::audit::protocol::StoredEvent;
use broker::audit::Record;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// Which body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// How much memory the store may use.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// The auditor's memory budget in bytes: shared between sled's page cache and the
    /// full-text index's writer.
    pub memory_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            memory_bytes: 128 * 1024 * 1024,
        }
    }
}

/// The open store.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    /// Job id -> record.
    pub records: sled::Tree,
    /// Job id -> its events.
    pub timelines: sled::Tree,
    /// Earlier versions' (job id, seq) -> event; read, no longer written.
    pub events: sled::Tree,
    /// (created ms, job id) -> ().
    pub by_time: sled::Tree,
    /// Secondary indexes.
    pub index: sled::Tree,
    /// Stats rollups.
    pub rollups: sled::Tree,
    /// (job id, kind) -> body.
    pub bodies: sled::Tree,
    /// The full-text index.
    pub search: Arc<Search>,
}

/// The prefix of every key of a job in `events` and `bodies`.
pub fn job_prefix(job: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(job.len() + 9);
    k.extend_from_slice(job.as_bytes());
    k.push(0);
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

/// The zstd level of stored values: fast, and most of the gain on JSON.
const LEVEL: i32 = 3;

/// The first bytes of a zstd frame (no JSON text starts with them).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// `v` as compressed JSON.
pub fn pack<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, AuditorError> {
    let json = serde_json::to_vec(v).map_err(|e| AuditorError::Corrupt(e.to_string()))?;
    zstd::bulk::compress(&json, LEVEL)
        .map_err(|e| AuditorError::Corrupt(format!("cannot compress: {e}")))
}

/// A value written by [`pack`] (or plain JSON of an earlier version).
pub fn unpack<T: for<'de> Deserialize<'de>>(v: &[u8]) -> Result<T, AuditorError> {
    let bad = |e: String| AuditorError::Corrupt(e);
    if v.starts_with(&ZSTD_MAGIC) {
        let plain = zstd::decode_all(v).map_err(|e| bad(format!("cannot decompress: {e}")))?;
        return serde_json::from_slice(&plain).map_err(|e| bad(e.to_string()));
    }
    serde_json::from_slice(v).map_err(|e| bad(e.to_string()))
}

impl Store {
    /// Opens (or creates) the store in `dir` with the default memory budget.
    pub fn open(dir: &Path) -> Result<Self, AuditorError> {
        Self::open_with(dir, StoreOptions::default())
    }

    /// Opens (or creates) the store in `dir`.
    pub fn open_with(dir: &Path, opts: StoreOptions) -> Result<Self, AuditorError> {
        std::fs::create_dir_all(dir).map_err(|e| AuditorError::Open(dir.into(), e.to_string()))?;
        // A third of the budget for sled's cache; the full-text writer takes its own share
        // and the rest is the process's working memory.
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(opts.memory_bytes / 3)
            .flush_every_ms(Some(500))
            .open()
            .map_err(|e| AuditorError::Open(dir.into(), e.to_string()))?;
        let tree = |n: &str| {
            db.open_tree(n)
                .map_err(|e| AuditorError::Open(dir.into(), e.to_string()))
        };
        let search = Search::open(&dir.join("search"), opts.memory_bytes)?;
        Ok(Self {
            records: tree("records")?,
            timelines: tree("timelines")?,
            events: tree("events")?,
            by_time: tree("by_time")?,
            index: tree("index")?,
            rollups: tree("rollups")?,
            bodies: tree("bodies")?,
            search: Arc::new(search),
            db,
        })
    }

    /// Writes everything to disk (the full-text index commits on its own schedule).
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
            .map(|v| unpack(&v))
            .transpose()
    }

    /// A stored body.
    pub fn body(
        &self,
        job: &str,
        kind: BodyKind,
    ) -> Result<Option<serde_json::Value>, AuditorError> {
        self.bodies
            .get(body_key(job, kind))?
            .map(|v| unpack(&v))
            .transpose()
    }

    /// Every stored event of `job`, in stream order.
    pub fn events_of(&self, job: &str) -> Result<Vec<StoredEvent>, AuditorError> {
        let mut out: Vec<StoredEvent> = match self.timelines.get(job.as_bytes())? {
            Some(v) => unpack(&v)?,
            None => Vec::new(),
        };
        for v in self.events.scan_prefix(job_prefix(job)).values() {
            out.push(unpack(&v?)?);
        }
        out.sort_by_key(|e| e.seq);
        out.dedup_by_key(|e| e.seq);
        Ok(out)
    }

    /// Deletes a job: its record, events, bodies, index entries, its share of the rollups
    /// and its text. Returns the bytes freed.
    pub fn delete_job(&self, created_ms: u64, job: &str) -> Result<u64, AuditorError> {
        let mut freed = 0u64;
        self.by_time.remove(time_key(created_ms, job))?;
        if let Some(v) = self.records.remove(job.as_bytes())? {
            freed += v.len() as u64;
            let rec: Record = unpack(&v)?;
            let mut idx = sled::Batch::default();
            super::index::update(&mut idx, Some(&rec), None);
            self.index.apply_batch(idx)?;
            let mut deltas = super::rollup::Deltas::default();
            deltas.change(Some(&rec), None);
            deltas.apply(&self.rollups)?;
        }
        if let Some(v) = self.timelines.remove(job.as_bytes())? {
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
        self.search.delete(job);
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

    /// The stored bytes of each job (keys and values of its record, events and bodies, and
    /// an estimate of its index entries), and their total.
    pub fn sizes(&self) -> Result<(std::collections::HashMap<String, u64>, u64), AuditorError> {
        let mut by_job = std::collections::HashMap::new();
        let mut total = 0u64;
        for tree in [&self.records, &self.timelines] {
            for kv in tree.iter() {
                let (k, v) = kv?;
                // The job's by_time and index entries are about its id's size again, eight
                // times over.
                let n = (k.len() * 8 + v.len() + 64) as u64;
                total += n;
                *by_job
                    .entry(String::from_utf8_lossy(&k).into_owned())
                    .or_insert(0) += n;
            }
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

    /// The store's size on disk (the trees and the full-text index).
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0) + self.search.size_on_disk()
    }
}
