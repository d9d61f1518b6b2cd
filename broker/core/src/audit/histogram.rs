//! The request log's latency histogram: log-linear buckets, exact below 128 ms and within
//! 1.6 % above. Histograms add up, so the stats of a partitioned log's parts merge into the
//! percentiles one full copy would report.

use std::collections::BTreeMap;

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

/// The `p` percentile (0 to 1) of a histogram of (bucket, count), as its bucket's floor.
pub fn percentile<'a>(
    hist: impl IntoIterator<Item = (&'a u32, &'a u64)> + Clone,
    p: f64,
) -> Option<u64> {
    let n: u64 = hist.clone().into_iter().map(|(_, c)| *c).sum();
    if n == 0 {
        return None;
    }
    let rank = ((n as f64 * p).ceil() as u64).clamp(1, n);
    let mut seen = 0;
    for (b, c) in hist {
        seen += c;
        if seen >= rank {
            return Some(bucket_floor(*b));
        }
    }
    None
}

/// Adds histogram `from` into `into`.
pub fn add(into: &mut BTreeMap<u32, u64>, from: &BTreeMap<u32, u64>) {
    for (b, c) in from {
        *into.entry(*b).or_insert(0) += c;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_exact_low_and_close_high_and_percentiles_of_merged_parts_are_the_whole() {
        assert_eq!(bucket_floor(bucket(100)), 100);
        let f = bucket_floor(bucket(90_000));
        assert!(f <= 90_000 && 90_000 - f < 90_000 / 60, "{f}");
        let whole: BTreeMap<u32, u64> =
            [(bucket(10), 5), (bucket(200), 4), (bucket(5_000), 1)].into();
        let a: BTreeMap<u32, u64> = [(bucket(10), 2), (bucket(5_000), 1)].into();
        let b: BTreeMap<u32, u64> = [(bucket(10), 3), (bucket(200), 4)].into();
        let mut merged = BTreeMap::new();
        add(&mut merged, &a);
        add(&mut merged, &b);
        assert_eq!(merged, whole);
        assert_eq!(percentile(&merged, 0.5), Some(10));
        assert_eq!(percentile(&merged, 0.95), Some(bucket_floor(bucket(5_000))));
        assert_eq!(percentile(&BTreeMap::new(), 0.5), None);
    }
}
