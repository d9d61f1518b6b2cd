//! Stats rollups: per-minute and per-hour aggregates of the records created in them, per
//! model, provider and key, so stats over a month read a few thousand entries instead of
//! millions of records.
//!
//! Key: resolution (`m` | `h`), bucket start ms (big-endian), dimension (`t` total, `m`
//! model, `p` provider, `k` key), name. Value: [`Agg`] in its binary encoding (`agg.rs`).
//!
//! A record's contribution is derived from the record alone, and every change applies the
//! difference between its contribution before and after: folding a redelivered batch
//! changes nothing, and deleting a record takes its share out. Latencies are kept in a
//! log-linear histogram (exact below 128 ms, within 1.6 % above), so percentiles merge.

mod agg;

pub use agg::{bucket, bucket_floor, Agg};

use super::kv::{Batch, Tree};
use super::AuditorError;
use broker::audit::Record;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

/// A minute, in ms.
pub const MINUTE: u64 = 60_000;
/// An hour, in ms.
pub const HOUR: u64 = 3_600_000;

/// The names a record is counted under: (dimension, name), long names cut as in lists.
fn names(r: &Record) -> [(u8, String); 4] {
    let name = |v: &Option<String>, none: &str| {
        let mut s = v.clone().unwrap_or_else(|| none.into());
        crate::query::cut(&mut s, broker::audit::protocol::LIST_STRING_MAX);
        s
    };
    [
        (b't', String::new()),
        (b'm', name(&r.model, "(unknown)")),
        (b'p', name(&r.provider, "(unknown)")),
        (b'k', name(&r.key_id, "(none)")),
    ]
}

/// A rollup key.
pub fn key(res: u8, start_ms: u64, dim: u8, name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(11 + name.len());
    k.push(res);
    k.extend_from_slice(&start_ms.to_be_bytes());
    k.push(dim);
    k.extend_from_slice(name.as_bytes());
    k
}

/// Splits a rollup key into (dimension, name).
pub fn split(k: &[u8]) -> Option<(u8, String)> {
    let dim = *k.get(9)?;
    Some((dim, String::from_utf8_lossy(k.get(10..)?).into_owned()))
}

/// The changes of one batch, merged per key before they are written.
#[derive(Default)]
pub struct Deltas(HashMap<Vec<u8>, Agg>);

impl Deltas {
    fn add(&mut self, r: &Record, sign: i64) {
        let a = Agg::of(r, sign);
        for (res, size) in [(b'm', MINUTE), (b'h', HOUR)] {
            let start = r.created_ms - r.created_ms % size;
            for (dim, name) in names(r) {
                self.0
                    .entry(key(res, start, dim, &name))
                    .or_default()
                    .add(&a);
            }
        }
    }

    /// Adds `other`'s changes.
    pub fn merge(&mut self, other: Deltas) {
        for (k, a) in other.0 {
            self.0.entry(k).or_default().add(&a);
        }
    }

    /// Records the change of one record from `prev` to `next` (either may be absent).
    pub fn change(&mut self, prev: Option<&Record>, next: Option<&Record>) {
        if let (Some(p), Some(n)) = (prev, next) {
            if p == n {
                return;
            }
        }
        if let Some(p) = prev {
            self.add(p, -1);
        }
        if let Some(n) = next {
            self.add(n, 1);
        }
    }

    /// Adds the changes to `batch`: one read and one write per touched key of `tree`.
    pub fn write(self, tree: &Tree, batch: &mut Batch) -> Result<(), AuditorError> {
        for (k, d) in self.0 {
            if d == Agg::default() {
                continue;
            }
            let mut cur = match tree.get(&k)? {
                Some(v) => Agg::decode(&v)?,
                None => Agg::default(),
            };
            cur.add(&d);
            if cur.is_zero() {
                batch.remove(tree, k);
            } else {
                batch.insert(tree, k, cur.encode());
            }
        }
        Ok(())
    }
}

/// Per dimension byte, the aggregate of each name.
pub type PerDim = HashMap<u8, BTreeMap<String, Agg>>;

/// Sums the rollups of `[since, until)`, rounded out to whole minutes: whole hours from the
/// hourly entries, the edges from the minute entries. Returns the total and, per dimension
/// byte, the aggregate of each name.
pub fn sum(tree: &Tree, since: u64, until: u64) -> Result<(Agg, PerDim), AuditorError> {
    let since = since - since % MINUTE;
    let until = until.saturating_add(MINUTE - 1) / MINUTE * MINUTE;
    let first_hour = since.div_ceil(HOUR) * HOUR;
    let last_hour = until - until % HOUR;
    let mut spans: Vec<(u8, u64, u64)> = Vec::new();
    if first_hour < last_hour {
        spans.push((b'm', since, first_hour));
        spans.push((b'h', first_hour, last_hour));
        spans.push((b'm', last_hour, until));
    } else {
        spans.push((b'm', since, until));
    }
    let mut total = Agg::default();
    let mut per: HashMap<u8, BTreeMap<String, Agg>> = HashMap::new();
    for (res, from, to) in spans {
        if from >= to {
            continue;
        }
        for kv in tree.range(
            Bound::Included(key(res, from, 0, "")),
            Bound::Excluded(key(res, to, 0, "")),
        ) {
            let (k, v) = kv?;
            let Some((dim, name)) = split(&k) else {
                continue;
            };
            let a = Agg::decode(&v)?;
            if dim == b't' {
                total.add(&a);
            } else {
                per.entry(dim).or_default().entry(name).or_default().add(&a);
            }
        }
    }
    Ok((total, per))
}

/// The most steps one series has; a finer step is widened to fit.
pub const MAX_POINTS: u64 = 1440;

/// The totals of each `step` (whole minutes; whole hours read the hourly entries) of
/// `[since, until)`, oldest first, with the step's start. Empty steps are zero.
pub fn series(
    tree: &Tree,
    since: u64,
    until: u64,
    step: u64,
) -> Result<Vec<(u64, Agg)>, AuditorError> {
    let (starts, mut groups) = steps(tree, since, until, step, 1, |dim, _| {
        (dim == b't').then_some(0)
    })?;
    let totals = groups.pop().unwrap_or_default();
    Ok(starts.into_iter().zip(totals).collect())
}

/// Like [`series`], one per name of dimension `dim` (`b'm'` model, `b'p'` provider, `b'k'`
/// key) in `names`: the step starts and, per name in order, its aggregates.
pub fn series_of(
    tree: &Tree,
    since: u64,
    until: u64,
    step: u64,
    dim: u8,
    names: &[String],
) -> Result<(Vec<u64>, Vec<Vec<Agg>>), AuditorError> {
    steps(tree, since, until, step, names.len(), |d, name| {
        (d == dim)
            .then(|| names.iter().position(|n| n.as_bytes() == name))
            .flatten()
    })
}

/// The steps of `[since, until)` and, for each of `groups` groups, the sum of the rows that
/// `pick` (dimension byte, name) puts in it.
fn steps(
    tree: &Tree,
    since: u64,
    until: u64,
    step: u64,
    groups: usize,
    pick: impl Fn(u8, &[u8]) -> Option<usize>,
) -> Result<(Vec<u64>, Vec<Vec<Agg>>), AuditorError> {
    let span = until.saturating_sub(since).max(1);
    let step = step
        .max(MINUTE)
        .max(span.div_ceil(MAX_POINTS))
        .div_ceil(MINUTE)
        * MINUTE;
    let res = if step.is_multiple_of(HOUR) {
        (b'h', HOUR)
    } else {
        (b'm', MINUTE)
    };
    let since = since - since % res.1;
    let n = until.saturating_sub(since).div_ceil(step) as usize;
    let starts: Vec<u64> = (0..n).map(|i| since + i as u64 * step).collect();
    let mut out = vec![vec![Agg::default(); n]; groups];
    for kv in tree.range(
        Bound::Included(key(res.0, since, 0, "")),
        Bound::Excluded(key(res.0, until, 0, "")),
    ) {
        let (k, v) = kv?;
        let (Some(&dim), Some(name)) = (k.get(9), k.get(10..)) else {
            continue;
        };
        let Some(g) = pick(dim, name) else { continue };
        let Some(start) = k
            .get(1..9)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
        else {
            continue;
        };
        let i = ((start - since) / step) as usize;
        if let Some(a) = out.get_mut(g).and_then(|s| s.get_mut(i)) {
            a.add(&Agg::decode(&v)?);
        }
    }
    Ok((starts, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::JobState;

    #[test]
    fn changes_fold_to_the_final_state_and_deletes_take_their_share_out() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::kv::Db::open(crate::kv::Engine::Fjall, dir.path(), 1 << 20).unwrap();
        let tree = db.tree("r").unwrap();
        let apply = |d: Deltas| {
            let mut b = Batch::default();
            d.write(&tree, &mut b).unwrap();
            db.apply(b).unwrap();
        };
        let mut r = Record::new("j", 3 * HOUR + 5 * MINUTE);
        r.model = Some("m1".into());
        let mut done = r.clone();
        done.status = JobState::Failed;
        done.finished_ms = Some(done.created_ms + 250);
        done.duration_ms = Some(250);
        for (p, n) in [
            (None, Some(&r)),
            (Some(&r), Some(&done)),
            (Some(&done), Some(&done)),
        ] {
            let mut d = Deltas::default();
            d.change(p, n);
            apply(d);
        }
        let (t, per) = sum(&tree, 0, 10 * HOUR).unwrap();
        assert_eq!((t.count, t.failures), (1, 1));
        let rep = per[&b'm']["m1"].report("m1".into());
        assert_eq!(rep.latency_p50_ms, Some(bucket_floor(bucket(250))));
        // The minute and the hour windows agree.
        assert_eq!(
            sum(&tree, 3 * HOUR, 3 * HOUR + 6 * MINUTE).unwrap().0.count,
            1
        );
        assert_eq!(
            sum(&tree, 3 * HOUR + 6 * MINUTE, 9 * HOUR).unwrap().0.count,
            0
        );
        let mut d = Deltas::default();
        d.change(Some(&done), None);
        apply(d);
        assert_eq!(
            tree.len().unwrap(),
            0,
            "nothing left once the record is gone"
        );
    }

    #[test]
    fn a_series_puts_each_record_in_its_step_from_minutes_or_hours() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::kv::Db::open(crate::kv::Engine::Fjall, dir.path(), 1 << 20).unwrap();
        let tree = db.tree("r").unwrap();
        let mut d = Deltas::default();
        for (i, at) in [
            2 * HOUR + MINUTE,
            2 * HOUR + 20 * MINUTE,
            2 * HOUR + 21 * MINUTE,
            4 * HOUR,
        ]
        .into_iter()
        .enumerate()
        {
            let mut r = Record::new(&format!("j{i}"), at);
            r.status = if i == 1 {
                JobState::Failed
            } else {
                JobState::Completed
            };
            d.change(None, Some(&r));
        }
        let mut b = Batch::default();
        d.write(&tree, &mut b).unwrap();
        db.apply(b).unwrap();
        let s = series(&tree, 2 * HOUR, 3 * HOUR, 15 * MINUTE).unwrap();
        let counts: Vec<(u64, i64, i64)> =
            s.iter().map(|(t, a)| (*t, a.count, a.failures)).collect();
        assert_eq!(
            counts,
            [
                (2 * HOUR, 1, 0),
                (2 * HOUR + 15 * MINUTE, 2, 1),
                (2 * HOUR + 30 * MINUTE, 0, 0),
                (2 * HOUR + 45 * MINUTE, 0, 0)
            ]
        );
        let hourly = series(&tree, 0, 5 * HOUR, HOUR).unwrap();
        let counts: Vec<i64> = hourly.iter().map(|(_, a)| a.count).collect();
        assert_eq!(counts, [0, 0, 3, 0, 1]);
        let (starts, by) = series_of(
            &tree,
            2 * HOUR,
            3 * HOUR,
            30 * MINUTE,
            b'p',
            &["(unknown)".into(), "x".into()],
        )
        .unwrap();
        assert_eq!(starts, [2 * HOUR, 2 * HOUR + 30 * MINUTE]);
        assert_eq!(
            by[0].iter().map(|a| a.count).collect::<Vec<_>>(),
            [3, 0],
            "records without a provider"
        );
        assert!(by[1].iter().all(|a| a.count == 0));
        // A step too fine for the window is widened to at most MAX_POINTS steps.
        assert!(series(&tree, 0, 30 * 24 * HOUR, MINUTE).unwrap().len() as u64 <= MAX_POINTS);
    }
}
