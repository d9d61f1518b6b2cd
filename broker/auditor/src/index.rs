//! Secondary indexes: for each filterable field of a record, one entry per value,
//! `dimension, value, 0x00, created ms (big-endian), job id`, so the records of one value
//! lie together in time order. A filtered list walks one range per filter backwards from
//! its upper bound and joins them ([`Walk`]), touching only matching entries.
//!
//! Values longer than [`VALUE_MAX`] bytes, or holding a NUL byte, are indexed as a prefix
//! and a hash: the entries are then a superset, and the list checks every row against its
//! record, so results stay exact.

use super::kv::{Batch, Tree};
use super::store::time_key;
use super::AuditorError;
use broker::audit::Record;
use std::collections::BTreeSet;
use std::ops::Bound;

/// A filterable field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Dim {
    /// `status`.
    Status = b's',
    /// `model`: the client's name, the provider's, and `provider/model`.
    Model = b'm',
    /// `provider`.
    Provider = b'p',
    /// `key` (the key id).
    Key = b'k',
    /// `mode`.
    Mode = b'o',
}

/// The longest value indexed as it is.
pub const VALUE_MAX: usize = 96;

fn fnv(s: &[u8]) -> u64 {
    s.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The prefix of `dim`'s entries for `value` (ends with the `0x00` separator).
pub fn prefix(dim: Dim, value: &str) -> Vec<u8> {
    let b = value.as_bytes();
    let mut k = Vec::with_capacity(VALUE_MAX + 2);
    k.push(dim as u8);
    if b.len() > VALUE_MAX || b.contains(&0) {
        let mut end = 64.min(b.len());
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        k.extend(b[..end].iter().map(|c| if *c == 0 { 1 } else { *c }));
        k.extend_from_slice(format!("#{:016x}", fnv(b)).as_bytes());
    } else {
        k.extend_from_slice(b);
    }
    k.push(0);
    k
}

fn text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The (dimension, value) pairs of `r`.
pub fn values(r: &Record) -> BTreeSet<(Dim, String)> {
    let mut out = BTreeSet::new();
    out.insert((Dim::Status, text(&r.status)));
    for m in [
        r.model.clone(),
        r.provider_model.clone(),
        r.qualified_model(),
    ]
    .into_iter()
    .flatten()
    {
        out.insert((Dim::Model, m));
    }
    if let Some(p) = &r.provider {
        out.insert((Dim::Provider, p.clone()));
    }
    if let Some(k) = &r.key_id {
        out.insert((Dim::Key, k.clone()));
    }
    if let Some(m) = &r.mode {
        out.insert((Dim::Mode, text(m)));
    }
    out
}

fn entry(dim: Dim, value: &str, created_ms: u64, id: &str) -> Vec<u8> {
    let mut k = prefix(dim, value);
    k.extend_from_slice(&time_key(created_ms, id));
    k
}

/// Adds to `batch` what moves `prev`'s entries to `next`'s (either may be absent).
pub fn update(batch: &mut Batch, tree: &Tree, prev: Option<&Record>, next: Option<&Record>) {
    let old = prev.map(values).unwrap_or_default();
    let new = next.map(values).unwrap_or_default();
    let moved = match (prev, next) {
        (Some(p), Some(n)) => p.created_ms != n.created_ms,
        _ => true,
    };
    if let Some(p) = prev {
        for (d, v) in &old {
            if moved || !new.contains(&(*d, v.clone())) {
                batch.remove(tree, entry(*d, v, p.created_ms, &p.id));
            }
        }
    }
    if let Some(n) = next {
        for (d, v) in &new {
            if moved || !old.contains(&(*d, v.clone())) {
                batch.insert(tree, entry(*d, v, n.created_ms, &n.id), Vec::new());
            }
        }
    }
}

/// A join of index ranges, newest first: yields the (created ms, job id) time keys present
/// in every range, below `upper` and at or after `since`.
pub struct Walk<'a> {
    tree: &'a Tree,
    prefixes: Vec<Vec<u8>>,
    /// The exclusive upper time key of the next step.
    upper: Vec<u8>,
    since: u64,
    done: bool,
}

impl<'a> Walk<'a> {
    /// A walk over the entries of every prefix in `prefixes` (at least one).
    pub fn new(tree: &'a Tree, prefixes: Vec<Vec<u8>>, upper: Vec<u8>, since: u64) -> Self {
        Self {
            tree,
            done: prefixes.is_empty(),
            prefixes,
            upper,
            since,
        }
    }

    /// The newest time key of `prefix`'s entries below `upper`.
    fn seek(&self, prefix: &[u8], upper: &[u8]) -> Result<Option<Vec<u8>>, AuditorError> {
        let mut hi = prefix.to_vec();
        hi.extend_from_slice(upper);
        let Some(kv) = self
            .tree
            .range(Bound::Included(prefix.to_vec()), Bound::Excluded(hi))
            .next_back()
        else {
            return Ok(None);
        };
        let (k, _) = kv?;
        Ok(Some(k[prefix.len()..].to_vec()))
    }

    /// The next time key in every range, or `None` at the end.
    pub fn next_key(&mut self) -> Result<Option<Vec<u8>>, AuditorError> {
        if self.done {
            return Ok(None);
        }
        // Zig-zag: the candidate is the newest key of the first range; each other range
        // either has it or names a lower candidate, until all agree.
        let mut bound = self.upper.clone();
        'outer: loop {
            let Some(cand) = self.seek(&self.prefixes[0], &bound)? else {
                break;
            };
            let mut limit = cand.clone();
            limit.push(0);
            for p in &self.prefixes[1..] {
                match self.seek(p, &limit)? {
                    Some(k) if k == cand => {}
                    Some(k) => {
                        // Go on below the other range's newest key (inclusive).
                        bound = k;
                        bound.push(0);
                        continue 'outer;
                    }
                    None => break 'outer,
                }
            }
            let ms = cand
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            if ms < self.since {
                break;
            }
            self.upper = cand.clone();
            return Ok(Some(cand));
        }
        self.done = true;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, ms: u64, model: &str, key: &str, failed: bool) -> Record {
        let mut r = Record::new(id, ms);
        r.model = Some(model.into());
        r.key_id = Some(key.into());
        if failed {
            r.status = schemas::JobState::Failed;
        }
        r
    }

    #[test]
    fn a_walk_joins_ranges_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::kv::Db::open(crate::kv::Engine::Fjall, dir.path(), 1 << 20).unwrap();
        let tree = db.tree("index").unwrap();
        let mut batch = Batch::default();
        for i in 0..200u64 {
            let r = rec(
                &format!("j{i:03}"),
                1000 + i,
                if i % 2 == 0 { "a" } else { "b" },
                if i % 3 == 0 { "k1" } else { "k2" },
                i % 5 == 0,
            );
            update(&mut batch, &tree, None, Some(&r));
        }
        db.apply(batch).unwrap();
        let upper = time_key(u64::MAX, "");
        let mut w = Walk::new(
            &tree,
            vec![
                prefix(Dim::Model, "a"),
                prefix(Dim::Key, "k1"),
                prefix(Dim::Status, "failed"),
            ],
            upper,
            1050,
        );
        let mut got = Vec::new();
        while let Some(k) = w.next_key().unwrap() {
            got.push(super::super::store::split_time_key(&k).unwrap().1);
        }
        let want: Vec<String> = (50..200u64)
            .rev()
            .filter(|i| i % 2 == 0 && i % 3 == 0 && i % 5 == 0)
            .map(|i| format!("j{i:03}"))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn an_update_moves_changed_values_only() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::kv::Db::open(crate::kv::Engine::Sled, dir.path(), 1 << 20).unwrap();
        let tree = db.tree("index").unwrap();
        let before = rec("j", 5, "a", "k", false);
        let mut after = before.clone();
        after.status = schemas::JobState::Completed;
        for (p, n) in [(None, Some(&before)), (Some(&before), Some(&after))] {
            let mut b = Batch::default();
            update(&mut b, &tree, p, n);
            db.apply(b).unwrap();
        }
        assert_eq!(tree.prefix(&prefix(Dim::Status, "queued")).count(), 0);
        assert_eq!(tree.prefix(&prefix(Dim::Status, "completed")).count(), 1);
        assert_eq!(tree.prefix(&prefix(Dim::Model, "a")).count(), 1);
        let long = "x".repeat(300);
        assert!(prefix(Dim::Model, &long).len() < VALUE_MAX);
        assert_ne!(
            prefix(Dim::Model, &long),
            prefix(Dim::Model, &"x".repeat(301))
        );
    }
}
