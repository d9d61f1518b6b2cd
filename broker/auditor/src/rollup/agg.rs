//! One aggregate of the rollups: sums and a log-linear latency histogram, and its compact
//! binary encoding.

use crate::store::unpack;
use crate::AuditorError;
use broker::audit::protocol::Aggregate;
use broker::audit::Record;
use schemas::JobState;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use broker::audit::histogram;
pub use broker::audit::histogram::{bucket, bucket_floor};

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
    /// Records answered from the response cache.
    #[serde(rename = "h", default)]
    pub cache_hits: i64,
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
    /// The compact binary encoding: varints, the cost as 8 bytes, the histogram, then the
    /// cache hits (absent in entries written before them: read as 0).
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
        put_signed(&mut out, self.cache_hits);
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
        if !rest.is_empty() {
            a.cache_hits = get_signed(&mut rest).ok_or_else(bad)?;
        }
        Ok(a)
    }

    pub(super) fn of(r: &Record, sign: i64) -> Self {
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
            cache_hits: if r.cache.as_deref() == Some("hit") {
                sign
            } else {
                0
            },
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
        self.cache_hits += o.cache_hits;
        for (b, n) in &o.latency {
            *self.latency.entry(*b).or_insert(0) += n;
        }
        self.latency.retain(|_, n| *n != 0);
    }

    pub(super) fn is_zero(&self) -> bool {
        self.count == 0 && self.latency.is_empty()
    }

    /// The aggregate as the protocol reports it.
    pub fn report(&self, name: String) -> Aggregate {
        let u = |v: i64| v.max(0) as u64;
        let latency: BTreeMap<u32, u64> = self
            .latency
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(b, n)| (*b, *n as u64))
            .collect();
        Aggregate {
            name,
            count: u(self.count),
            failures: u(self.failures),
            prompt_tokens: u(self.prompt_tokens),
            completion_tokens: u(self.completion_tokens),
            total_tokens: u(self.total_tokens),
            cost_usd: self.cost_usd,
            cache_hits: u(self.cache_hits),
            latency_p50_ms: histogram::percentile(&latency, 0.50),
            latency_p95_ms: histogram::percentile(&latency, 0.95),
            latency_histogram: latency,
        }
    }
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
            cache_hits: 2,
        };
        a.latency.insert(bucket(250), 2);
        a.latency.insert(bucket(90_000), -1);
        assert_eq!(Agg::decode(&a.encode()).unwrap(), a);
        // An entry written before cache hits were counted reads them as 0.
        let mut old = a.encode();
        old.pop();
        assert_eq!(
            Agg::decode(&old).unwrap(),
            Agg {
                cache_hits: 0,
                ..a.clone()
            }
        );
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
}
