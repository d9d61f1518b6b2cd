//! Stats rollups: per-minute and per-hour aggregates of the records created in them, per
//! model, provider and key, so stats over a month read a few thousand entries instead of
//! millions of records.
//!
//! Key: resolution (`m` | `h`), bucket start ms (big-endian), dimension (`t` total, `m`
//! model, `p` provider, `k` key), name. Value: [`Agg`] (compressed JSON).
//!
//! A record's contribution is derived from the record alone, and every change applies the
//! difference between its contribution before and after: folding a redelivered batch
//! changes nothing, and deleting a record takes its share out. Latencies are kept in a
//! log-linear histogram (exact below 128 ms, within 1.6 % above), so percentiles merge.

use super::kv::{Batch, Tree};
use super::store::unpack;
use super::AuditorError;
use broker::audit::protocol::Aggregate;
use broker::audit::Record;
use schemas::JobState;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

/// A minute, in ms.
pub const MINUTE: u64 = 60_000;
/// An hour, in ms.
pub const HOUR: u64 = 3_600_000;

/// Sub-buckets per power of two above the exact range.
const SUB: u64 = 64;

/// The histogram bucket of a latency.
pub fn bucket(ms: u64) -> u32 {
    if ms < 2 * SUB {
        return ms as u32;
    }
    let exp = 63 - u64::from(ms.leading_zeros()); // ms in [2^exp, 2^(exp+1))
    let shift = exp - SUB.trailing_zeros() as u64; // keep SUB sub-buckets
    let sub = (ms >> shift) - SUB; // 0..SUB
    (2 * SUB + (exp - 7) * SUB + sub) as u32
}

/// The lowest latency of a bucket.
pub fn bucket_floor(b: u32) -> u64 {
    let b = u64::from(b);
    if b < 2 * SUB {
        return b;
    }
    let exp = (b - 2 * SUB) / SUB + 7;
    let sub = (b - 2 * SUB) % SUB;
    (SUB + sub) << (exp - SUB.trailing_zeros() as u64)
}

/// One aggregate: sums and a latency histogram.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Agg {
    /// Records.
    #[serde(rename = "n")]
    pub count: i64,
    /// Failed records.
    #[serde(rename = "f")]
    pub failures: i64,
    /// Prompt tokens.
    #[serde(rename = "pt")]
    pub prompt_tokens: i64,
    /// Completion tokens.
    #[serde(rename = "ct")]
    pub completion_tokens: i64,
    /// Total tokens.
    #[serde(rename = "tt")]
    pub total_tokens: i64,
    /// Cost in USD.
    #[serde(rename = "c")]
    pub cost_usd: f64,
    /// Latency bucket -> finished records.
    #[serde(rename = "l", default)]
    pub latency: BTreeMap<u32, i64>,
}

/// The first byte of an aggregate's binary encoding (JSON of a first cut of this version
/// starts with `{` or a zstd frame, and still reads).
const BINARY: u8 = 1;

fn put_var(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_signed(out: &mut Vec<u8>, v: i64) {
    put_var(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn get_var(b: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = b.split_first()?;
        *b = rest;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(v);
        }
    }
    None
}

fn get_signed(b: &mut &[u8]) -> Option<i64> {
    let v = get_var(b)?;
    Some(((v >> 1) as i64) ^ -((v & 1) as i64))
}

impl Agg {
    /// The compact binary encoding: varints, the cost as 8 bytes, then the histogram.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.latency.len() * 3);
        out.push(BINARY);
        for v in [
            self.count,
            self.failures,
            self.prompt_tokens,
            self.completion_tokens,
            self.total_tokens,
        ] {
            put_signed(&mut out, v);
        }
        out.extend_from_slice(&self.cost_usd.to_le_bytes());
        put_var(&mut out, self.latency.len() as u64);
        for (b, n) in &self.latency {
            put_var(&mut out, u64::from(*b));
            put_signed(&mut out, *n);
        }
        out
    }

    /// Reads [`Agg::encode`]'s bytes (or the JSON of a first cut).
    pub fn decode(v: &[u8]) -> Result<Self, AuditorError> {
        let Some((&BINARY, mut b)) = v.split_first() else {
            return unpack(v);
        };
        let bad = || AuditorError::Corrupt("a stats rollup cannot be decoded".into());
        let mut a = Agg {
            count: get_signed(&mut b).ok_or_else(bad)?,
            failures: get_signed(&mut b).ok_or_else(bad)?,
            prompt_tokens: get_signed(&mut b).ok_or_else(bad)?,
            completion_tokens: get_signed(&mut b).ok_or_else(bad)?,
            total_tokens: get_signed(&mut b).ok_or_else(bad)?,
            ..Default::default()
        };
        let (cost, mut rest) = b.split_at_checked(8).ok_or_else(bad)?;
        a.cost_usd = f64::from_le_bytes(cost.try_into().map_err(|_| bad())?);
        let n = get_var(&mut rest).ok_or_else(bad)?;
        for _ in 0..n {
            let k = get_var(&mut rest).ok_or_else(bad)? as u32;
            let c = get_signed(&mut rest).ok_or_else(bad)?;
            a.latency.insert(k, c);
        }
        Ok(a)
    }

    fn of(r: &Record, sign: i64) -> Self {
        let u = r.usage.as_ref();
        let mut latency = BTreeMap::new();
        if let Some(d) = r.duration_ms.filter(|_| r.is_final()) {
            latency.insert(bucket(d), sign);
        }
        Self {
            count: sign,
            failures: if r.status == JobState::Failed {
                sign
            } else {
                0
            },
            prompt_tokens: sign * u.map_or(0, |u| u.prompt_tokens as i64),
            completion_tokens: sign * u.map_or(0, |u| u.completion_tokens as i64),
            total_tokens: sign * u.map_or(0, |u| u.total_tokens as i64),
            cost_usd: sign as f64 * r.cost_usd.unwrap_or(0.0),
            latency,
        }
    }

    /// Adds `o` in.
    pub fn add(&mut self, o: &Agg) {
        self.count += o.count;
        self.failures += o.failures;
        self.prompt_tokens += o.prompt_tokens;
        self.completion_tokens += o.completion_tokens;
        self.total_tokens += o.total_tokens;
        self.cost_usd += o.cost_usd;
        for (b, n) in &o.latency {
            *self.latency.entry(*b).or_insert(0) += n;
        }
        self.latency.retain(|_, n| *n != 0);
    }

    fn is_zero(&self) -> bool {
        self.count == 0 && self.latency.is_empty()
    }

    fn percentile(&self, p: f64) -> Option<u64> {
        let n: i64 = self.latency.values().sum();
        if n <= 0 {
            return None;
        }
        let rank = ((n as f64 * p).ceil() as i64).clamp(1, n);
        let mut seen = 0;
        for (b, c) in &self.latency {
            seen += c;
            if seen >= rank {
                return Some(bucket_floor(*b));
            }
        }
        None
    }

    /// The aggregate as the protocol reports it.
    pub fn report(&self, name: String) -> Aggregate {
        let u = |v: i64| v.max(0) as u64;
        Aggregate {
            name,
            count: u(self.count),
            failures: u(self.failures),
            prompt_tokens: u(self.prompt_tokens),
            completion_tokens: u(self.completion_tokens),
            total_tokens: u(self.total_tokens),
            cost_usd: self.cost_usd,
            latency_p50_ms: self.percentile(0.50),
            latency_p95_ms: self.percentile(0.95),
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_round_trip_in_binary() {
        let mut a = Agg {
            count: 3,
            failures: -1,
            prompt_tokens: 1 << 40,
            completion_tokens: 0,
            total_tokens: 7,
            cost_usd: 0.125,
            latency: BTreeMap::new(),
        };
        a.latency.insert(bucket(250), 2);
        a.latency.insert(bucket(90_000), -1);
        assert_eq!(Agg::decode(&a.encode()).unwrap(), a);
        let json = serde_json::to_vec(&a).unwrap();
        assert_eq!(
            Agg::decode(&json).unwrap(),
            a,
            "a first cut's JSON still reads"
        );
        assert!(Agg::decode(&[BINARY, 0x80]).is_err());
    }

    #[test]
    fn buckets_are_exact_low_and_close_high() {
        for ms in [0, 1, 127, 128, 129, 1000, 12_345, 987_654_321] {
            let f = bucket_floor(bucket(ms));
            assert!(f <= ms, "{ms} -> {f}");
            assert!((ms - f) as f64 <= ms as f64 / 60.0, "{ms} -> {f}");
        }
        assert_eq!(bucket_floor(bucket(100)), 100);
        assert!(bucket(129) >= bucket(128) && bucket(10_000) > bucket(9_000));
    }

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
}
