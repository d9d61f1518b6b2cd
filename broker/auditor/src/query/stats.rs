//! Stats per model, provider and key over a window, summed from the rollups.

use crate::rollup;
use crate::store::Store;
use crate::AuditorError;
use broker::audit::protocol::{Aggregate, Point, Stats, StatsQuery};
use std::collections::BTreeMap;

fn report(m: Option<BTreeMap<String, rollup::Agg>>) -> Vec<Aggregate> {
    m.unwrap_or_default()
        .into_iter()
        .filter(|(_, a)| a.count > 0)
        .map(|(k, a)| a.report(k))
        .collect()
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
    let series = match q.step_ms {
        Some(step) => rollup::series(&store.rollups, since, until.min(now_ms), step)?
            .into_iter()
            .map(|(ts, a)| {
                let r = a.report(String::new());
                Point {
                    ts_ms: ts,
                    count: r.count,
                    failures: r.failures,
                    total_tokens: r.total_tokens,
                    cost_usd: r.cost_usd,
                    latency_p50_ms: r.latency_p50_ms,
                    latency_p95_ms: r.latency_p95_ms,
                }
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(Stats {
        since_ms: since,
        until_ms: until.min(now_ms),
        total: total.report("total".into()),
        models: report(per.remove(&b'm')),
        providers: report(per.remove(&b'p')),
        keys: report(per.remove(&b'k')),
        series,
    })
}
