//! Stats per model, provider and key over a window, summed from the rollups.

use crate::rollup;
use crate::store::Store;
use crate::AuditorError;
use broker::audit::protocol::{Aggregate, GroupSeries, Point, Stats, StatsQuery, MAX_GROUPS};
use std::collections::BTreeMap;

fn report(m: Option<BTreeMap<String, rollup::Agg>>) -> Vec<Aggregate> {
    m.unwrap_or_default()
        .into_iter()
        .filter(|(_, a)| a.count > 0)
        .map(|(k, a)| a.report(k))
        .collect()
}

fn point(ts_ms: u64, a: &rollup::Agg) -> Point {
    let r = a.report(String::new());
    Point {
        ts_ms,
        count: r.count,
        failures: r.failures,
        total_tokens: r.total_tokens,
        cost_usd: r.cost_usd,
        cache_hits: r.cache_hits,
        latency_p50_ms: r.latency_p50_ms,
        latency_p95_ms: r.latency_p95_ms,
        latency_histogram: r.latency_histogram,
    }
}

/// Aggregates per model, provider and key over the window of `q` (the last hour by
/// default), to the minute: the window is widened to whole minutes.
pub fn stats(store: &Store, q: &StatsQuery, now_ms: u64) -> Result<Stats, AuditorError> {
    let since = q.since_ms.unwrap_or(now_ms.saturating_sub(3600 * 1000));
    let until = q
        .until_ms
        .unwrap_or(u64::MAX)
        .min(now_ms.saturating_add(rollup::MINUTE));
    let (total, mut per) = rollup::sum(&store.rollups, since, until)?;
    let end = until.min(now_ms);
    let series = match q.step_ms {
        Some(step) => rollup::series(&store.rollups, since, end, step)?
            .into_iter()
            .map(|(ts, a)| point(ts, &a))
            .collect(),
        None => Vec::new(),
    };
    let dim = match q.group.as_deref() {
        Some("model") => Some(b'm'),
        Some("provider") => Some(b'p'),
        Some("key") => Some(b'k'),
        _ => None,
    };
    let mut groups = Vec::new();
    if let (Some(step), Some(dim)) = (q.step_ms, dim) {
        let mut busiest: Vec<(&String, i64)> = per
            .get(&dim)
            .map(|m| m.iter().map(|(n, a)| (n, a.count)).collect())
            .unwrap_or_default();
        busiest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let names: Vec<String> = match &q.names {
            Some(asked) => asked.iter().take(MAX_GROUPS).cloned().collect(),
            None => busiest
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .take(MAX_GROUPS)
                .map(|(n, _)| n.clone())
                .collect(),
        };
        let (starts, by) = rollup::series_of(&store.rollups, since, end, step, dim, &names)?;
        groups = names
            .into_iter()
            .zip(by)
            .map(|(name, aggs)| GroupSeries {
                name,
                points: starts
                    .iter()
                    .zip(&aggs)
                    .map(|(ts, a)| point(*ts, a))
                    .collect(),
            })
            .collect();
    }
    Ok(Stats {
        since_ms: since,
        until_ms: until.min(now_ms),
        total: total.report("total".into()),
        models: report(per.remove(&b'm')),
        providers: report(per.remove(&b'p')),
        keys: report(per.remove(&b'k')),
        series,
        groups,
    })
}
