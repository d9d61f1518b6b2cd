//! The embedded key-value engine under the store, behind one small interface: ordered trees
//! of byte keys, ranges both ways, and batches written together. Two engines implement it:
//! fjall (an LSM tree: sequential writes, compressed blocks, a bounded cache; the default)
//! and sled (the engine of earlier versions). `[auditor] engine` picks one; bench/README.md
//! has the figures that chose the default.

use super::AuditorError;
use std::ops::Bound;
use std::path::Path;

/// Which engine: the `[auditor] engine` setting itself.
pub use broker::config::StoreEngine as Engine;

/// The longest key either engine takes (fjall's limit is 65,535 bytes).
pub const MAX_KEY: usize = 60_000;

/// A key and its value.
pub type Kv = (Vec<u8>, Vec<u8>);

/// An iterator over a range, either way.
pub type Iter = Box<dyn DoubleEndedIterator<Item = Result<Kv, AuditorError>>>;

fn fj(e: fjall::Error) -> AuditorError {
    AuditorError::Engine(e.to_string())
}

/// An open database.
#[derive(Clone)]
pub enum Db {
    /// fjall.
    Fjall(fjall::Keyspace),
    /// sled.
    Sled(sled::Db),
}

/// One ordered tree of a [`Db`].
#[derive(Clone)]
pub enum Tree {
    /// A fjall partition.
    Fjall(fjall::PartitionHandle),
    /// A sled tree.
    Sled(sled::Tree),
}

impl Db {
    /// Opens (or creates) the database in `dir` with `cache` bytes of block cache (and, for
    /// fjall, a quarter of it again for write buffers).
    pub fn open(engine: Engine, dir: &Path, cache: u64) -> Result<Self, AuditorError> {
        let open = |e: String| AuditorError::Open(dir.into(), e);
        Ok(match engine {
            Engine::Fjall => Self::Fjall(
                fjall::Config::new(dir)
                    .cache_size(cache)
                    .max_write_buffer_size((cache / 2).max(8 * 1024 * 1024))
                    .max_journaling_size(64 * 1024 * 1024)
                    .manual_journal_persist(true)
                    .open()
                    .map_err(|e| open(e.to_string()))?,
            ),
            Engine::Sled => Self::Sled(
                sled::Config::new()
                    .path(dir)
                    .cache_capacity(cache)
                    .flush_every_ms(Some(500))
                    .open()
                    .map_err(|e| open(e.to_string()))?,
            ),
        })
    }

    /// The tree `name`, created when missing.
    pub fn tree(&self, name: &str) -> Result<Tree, AuditorError> {
        Ok(match self {
            Self::Fjall(k) => Tree::Fjall(
                k.open_partition(
                    name,
                    fjall::PartitionCreateOptions::default().max_memtable_size(8 * 1024 * 1024),
                )
                .map_err(fj)?,
            ),
            Self::Sled(d) => Tree::Sled(d.open_tree(name)?),
        })
    }

    /// Writes `batch` (in fjall, atomically across trees).
    pub fn apply(&self, batch: Batch) -> Result<(), AuditorError> {
        let too_long = batch
            .ops
            .iter()
            .flat_map(|(_, ops)| ops.iter())
            .any(|(k, _)| k.len() > MAX_KEY);
        if too_long {
            return Err(AuditorError::Engine(format!(
                "a key is longer than {MAX_KEY} bytes; the batch is not written"
            )));
        }
        match self {
            Self::Fjall(k) => {
                let mut b = k.batch();
                for (tree, ops) in batch.ops {
                    let Tree::Fjall(p) = tree else { continue };
                    for (key, v) in ops {
                        match v {
                            Some(v) => b.insert(&p, key, v),
                            None => b.remove(&p, key),
                        }
                    }
                }
                b.commit().map_err(fj)
            }
            Self::Sled(_) => {
                for (tree, ops) in batch.ops {
                    let Tree::Sled(t) = tree else { continue };
                    let mut b = sled::Batch::default();
                    for (key, v) in ops {
                        match v {
                            Some(v) => b.insert(key, v),
                            None => b.remove(key),
                        }
                    }
                    t.apply_batch(b)?;
                }
                Ok(())
            }
        }
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<(), AuditorError> {
        match self {
            Self::Fjall(k) => k.persist(fjall::PersistMode::SyncData).map_err(fj),
            Self::Sled(d) => d.flush().map(|_| ()).map_err(Into::into),
        }
    }

    /// Bytes on disk.
    pub fn size_on_disk(&self) -> u64 {
        match self {
            Self::Fjall(k) => k.disk_space(),
            Self::Sled(d) => d.size_on_disk().unwrap_or(0),
        }
    }
}

fn owned<K: AsRef<[u8]>, V: AsRef<[u8]>>(kv: (K, V)) -> Kv {
    (kv.0.as_ref().to_vec(), kv.1.as_ref().to_vec())
}

impl Tree {
    /// Whether `other` is the same tree (without allocating: batches ask per write).
    fn same(&self, other: &Tree) -> bool {
        match (self, other) {
            (Self::Fjall(a), Self::Fjall(b)) => a.name == b.name,
            (Self::Sled(a), Self::Sled(b)) => a.name() == b.name(),
            _ => false,
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>, AuditorError> {
        if key.as_ref().len() > MAX_KEY {
            return Ok(None);
        }
        Ok(match self {
            Self::Fjall(p) => p.get(key).map_err(fj)?.map(|v| v.to_vec()),
            Self::Sled(t) => t.get(key)?.map(|v| v.to_vec()),
        })
    }

    /// Whether `key` is there.
    pub fn contains_key(&self, key: impl AsRef<[u8]>) -> Result<bool, AuditorError> {
        if key.as_ref().len() > MAX_KEY {
            return Ok(false);
        }
        Ok(match self {
            Self::Fjall(p) => p.contains_key(key).map_err(fj)?,
            Self::Sled(t) => t.contains_key(key)?,
        })
    }

    /// Writes one key now.
    pub fn insert(&self, key: impl AsRef<[u8]>, v: impl AsRef<[u8]>) -> Result<(), AuditorError> {
        if key.as_ref().len() > MAX_KEY {
            return Err(AuditorError::Engine(format!(
                "a key is longer than {MAX_KEY} bytes"
            )));
        }
        match self {
            Self::Fjall(p) => p.insert(key.as_ref(), v.as_ref()).map_err(fj),
            Self::Sled(t) => t
                .insert(key.as_ref(), v.as_ref())
                .map(|_| ())
                .map_err(Into::into),
        }
    }

    /// The entries between two bounds, in key order (reverse it for newest first).
    pub fn range(&self, lo: Bound<Vec<u8>>, hi: Bound<Vec<u8>>) -> Iter {
        // No key is longer than MAX_KEY: a longer bound is cut, at the same place in the
        // order for a lower bound and just past it for an upper one.
        let cut = |b: Bound<Vec<u8>>, upper: bool| match b {
            Bound::Included(mut k) | Bound::Excluded(mut k) if k.len() > MAX_KEY => {
                k.truncate(MAX_KEY);
                if upper {
                    k.push(0xff);
                    Bound::Excluded(k)
                } else {
                    Bound::Included(k)
                }
            }
            other => other,
        };
        let (lo, hi) = (cut(lo, false), cut(hi, true));
        match self {
            Self::Fjall(p) => Box::new(p.range((lo, hi)).map(|r| r.map(owned).map_err(fj))),
            Self::Sled(t) => Box::new(t.range((lo, hi)).map(|r| r.map(owned).map_err(Into::into))),
        }
    }

    /// The entries whose keys start with `prefix`.
    pub fn prefix(&self, prefix: &[u8]) -> Iter {
        if prefix.len() > MAX_KEY {
            return Box::new(std::iter::empty());
        }
        match self {
            Self::Fjall(p) => Box::new(p.prefix(prefix.to_vec()).map(|r| r.map(owned).map_err(fj))),
            Self::Sled(t) => Box::new(
                t.scan_prefix(prefix)
                    .map(|r| r.map(owned).map_err(Into::into)),
            ),
        }
    }

    /// Every entry.
    pub fn iter(&self) -> Iter {
        self.range(Bound::Unbounded, Bound::Unbounded)
    }

    /// How many entries (fjall counts them: use it off the hot path).
    pub fn len(&self) -> Result<usize, AuditorError> {
        Ok(match self {
            Self::Fjall(p) => p.len().map_err(fj)?,
            Self::Sled(t) => t.len(),
        })
    }

    /// An estimate of [`Tree::len`], without counting.
    pub fn approximate_len(&self) -> usize {
        match self {
            Self::Fjall(p) => p.approximate_len(),
            Self::Sled(t) => t.len(),
        }
    }

    /// Whether the tree is empty.
    pub fn is_empty(&self) -> Result<bool, AuditorError> {
        Ok(match self {
            Self::Fjall(p) => p.is_empty().map_err(fj)?,
            Self::Sled(t) => t.is_empty(),
        })
    }
}

/// A write: a key and its new value, or `None` to delete it.
type Op = (Vec<u8>, Option<Vec<u8>>);

/// Writes gathered for [`Db::apply`], in order per tree (keyed by the tree's name).
#[derive(Default)]
pub struct Batch {
    /// Per tree, its writes in order (a handful of trees: a list is quicker than a map).
    ops: Vec<(Tree, Vec<Op>)>,
}

impl Batch {
    fn ops(&mut self, tree: &Tree) -> &mut Vec<Op> {
        let i = match self.ops.iter().position(|(t, _)| t.same(tree)) {
            Some(i) => i,
            None => {
                self.ops.push((tree.clone(), Vec::new()));
                self.ops.len() - 1
            }
        };
        &mut self.ops[i].1
    }

    /// Sets `key` in `tree`.
    pub fn insert(&mut self, tree: &Tree, key: impl Into<Vec<u8>>, v: impl Into<Vec<u8>>) {
        self.ops(tree).push((key.into(), Some(v.into())));
    }

    /// Appends `other`'s writes after this batch's.
    pub fn extend(&mut self, other: Batch) {
        for (tree, ops) in other.ops {
            self.ops(&tree).extend(ops);
        }
    }

    /// Deletes `key` from `tree`.
    pub fn remove(&mut self, tree: &Tree, key: impl Into<Vec<u8>>) {
        self.ops(tree).push((key.into(), None));
    }
}
