//! The store: trees, keys, and the compact encoding of what is stored, over the engine of
//! [`crate::kv`].
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

use super::kv::{self, Db, Engine, Tree};
use super::search::Search;
use super::AuditorError;
use broker::audit::protocol::StoredEvent;
use broker::audit::Record;

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
    /// The engine of a new store (an existing store keeps the engine it was made with).
    pub engine: Engine,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            memory_bytes: 128 * 1024 * 1024,
            engine: Engine::Fjall,
        }
    }
}

/// The open store.
#[derive(Clone)]
pub struct Store {
    /// The engine.
    pub db: Db,
    /// Job id -> record.
    pub records: Tree,
    /// Job id -> its events.
    pub timelines: Tree,
    /// Earlier versions' (job id, seq) -> event; read, no longer written.
    pub events: Tree,
    /// (created ms, job id) -> ().
    pub by_time: Tree,
    /// Secondary indexes.
    pub index: Tree,
    /// Stats rollups.
    pub rollups: Tree,
    /// (job id, kind) -> body.
    pub bodies: Tree,
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

pub use super::codec::{pack, pack_body, unpack};

impl Store {
    /// Opens (or creates) the store in `dir` with the default memory budget.
    pub fn open(dir: &Path) -> Result<Self, AuditorError> {
        Self::open_with(dir, StoreOptions::default())
    }

    /// Opens (or creates) the store in `dir`. A directory holding a store of an earlier
    /// version (sled's `db` file) opens with sled.
    pub fn open_with(dir: &Path, opts: StoreOptions) -> Result<Self, AuditorError> {
        std::fs::create_dir_all(dir).map_err(|e| AuditorError::Open(dir.into(), e.to_string()))?;
        let engine = if dir.join("db").is_file() || dir.join("conf").is_file() {
            Engine::Sled
        } else if dir.join("kv").is_dir() {
            Engine::Fjall
        } else {
            opts.engine
        };
        let path = match engine {
            Engine::Sled => dir.to_path_buf(),
            Engine::Fjall => dir.join("kv"),
        };
        // A third of the budget for the engine's cache; the full-text writer takes its own
        // share and the rest is the process's working memory.
        let db = Db::open(engine, &path, opts.memory_bytes / 3)?;
        let search = Search::open(&dir.join("search"), opts.memory_bytes)?;
        Ok(Self {
            records: db.tree("records")?,
            timelines: db.tree("timelines")?,
            events: db.tree("events")?,
            by_time: db.tree("by_time")?,
            index: db.tree("index")?,
            rollups: db.tree("rollups")?,
            bodies: db.tree("bodies")?,
            search: Arc::new(search),
            db,
        })
    }

    /// Writes `batch`.
    pub fn apply(&self, batch: kv::Batch) -> Result<(), AuditorError> {
        self.db.apply(batch)
    }

    /// Writes everything to disk (the full-text index commits on its own schedule).
    pub async fn flush(&self) -> Result<(), AuditorError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| AuditorError::Corrupt(e.to_string()))?
    }

    /// Flushes to disk, blocking the calling thread (call it from a blocking task).
    pub fn flush_blocking(&self) -> Result<(), AuditorError> {
        self.db.flush()
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
        for kv in self.events.prefix(&job_prefix(job)) {
            out.push(unpack(&kv?.1)?);
        }
        out.sort_by_key(|e| e.seq);
        out.dedup_by_key(|e| e.seq);
        Ok(out)
    }

    /// Deletes a job: its record, events, bodies, index entries, its share of the rollups
    /// and its text. Returns the bytes freed.
    pub fn delete_job(&self, created_ms: u64, job: &str) -> Result<u64, AuditorError> {
        let mut freed = 0u64;
        let mut batch = kv::Batch::default();
        batch.remove(&self.by_time, time_key(created_ms, job));
        if let Some(v) = self.records.get(job.as_bytes())? {
            freed += v.len() as u64;
            let rec: Record = unpack(&v)?;
            super::index::update(&mut batch, &self.index, Some(&rec), None);
            let mut deltas = super::rollup::Deltas::default();
            deltas.change(Some(&rec), None);
            deltas.write(&self.rollups, &mut batch)?;
            batch.remove(&self.records, job.as_bytes());
        }
        if let Some(v) = self.timelines.get(job.as_bytes())? {
            freed += v.len() as u64;
            batch.remove(&self.timelines, job.as_bytes());
        }
        for tree in [&self.events, &self.bodies] {
            for kv in tree.prefix(&job_prefix(job)) {
                let (k, v) = kv?;
                freed += (k.len() + v.len()) as u64;
                batch.remove(tree, k);
            }
        }
        self.apply(batch)?;
        self.search.delete(job);
        Ok(freed)
    }

    /// How many records are stored (counted: use it off the hot path).
    pub fn len(&self) -> usize {
        self.records.len().unwrap_or(0)
    }

    /// Whether the store holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty().unwrap_or(true)
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
        self.db.size_on_disk() + self.search.size_on_disk()
    }
}
