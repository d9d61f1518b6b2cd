//! The answers of a partitioned log's auditors (one per partition) as the one answer a full
//! copy gives: list pages merged newest first and cut to the page size, the cursor of the
//! last row sent (every auditor's cursor is a position in time, so it goes on in each part);
//! stats summed, their percentiles from the summed latency histograms, and group series of
//! the whole's busiest names (each part asked for those names in a second round).

use super::histogram;
use super::protocol::{Aggregate, GroupSeries, ListPage, Point, Stats, MAX_GROUPS};
use super::record::Record;
use std::collections::BTreeMap;

/// The cursor that goes on after `r` (as the auditor writes it).
pub fn cursor_after(r: &Record) -> String {
    format!("{}_{}", r.created_ms, r.id)
}

/// One page of `limit` rows out of each part's page for the same query.
pub fn pages(parts: Vec<ListPage>, limit: usize) -> ListPage {
    let more_in_parts = parts.iter().any(|p| p.has_more);
    let mut rows: Vec<Record> = parts.into_iter().flat_map(|p| p.data).collect();
    // The auditor's order: newest first, by (created, id) descending.
    rows.sort_by(|a, b| (b.created_ms, &b.id).cmp(&(a.created_ms, &a.id)));
    let has_more = more_in_parts || rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if has_more {
        rows.last().map(cursor_after)
    } else {
        None
    };
    ListPage {
        data: rows,
        has_more,
        next_cursor,
    }
}

fn add_aggregate(into: &mut Aggregate, a: &Aggregate) {
    into.count += a.count;
    into.failures += a.failures;
    into.prompt_tokens += a.prompt_tokens;
    into.completion_tokens += a.completion_tokens;
    into.total_tokens += a.total_tokens;
    into.cost_usd += a.cost_usd;
    into.cache_hits += a.cache_hits;
    histogram::add(&mut into.latency_histogram, &a.latency_histogram);
}

fn add_point(into: &mut Point, p: &Point) {
    into.count += p.count;
    into.failures += p.failures;
    into.total_tokens += p.total_tokens;
    into.cost_usd += p.cost_usd;
    into.cache_hits += p.cache_hits;
    histogram::add(&mut into.latency_histogram, &p.latency_histogram);
}

fn finish_aggregate(mut a: Aggregate) -> Aggregate {
    a.latency_p50_ms = histogram::percentile(&a.latency_histogram, 0.50);
    a.latency_p95_ms = histogram::percentile(&a.latency_histogram, 0.95);
    a.latency_histogram.clear();
    a
}

fn finish_point(mut p: Point) -> Point {
    p.latency_p50_ms = histogram::percentile(&p.latency_histogram, 0.50);
    p.latency_p95_ms = histogram::percentile(&p.latency_histogram, 0.95);
    p.latency_histogram.clear();
    p
}

fn named(lists: impl Iterator<Item = Vec<Aggregate>>) -> Vec<Aggregate> {
    let mut by: BTreeMap<String, Aggregate> = BTreeMap::new();
    for a in lists.flatten() {
        let e = by.entry(a.name.clone()).or_insert_with(|| Aggregate {
            name: a.name.clone(),
            ..Default::default()
        });
        add_aggregate(e, &a);
    }
    by.into_values().map(finish_aggregate).collect()
}

fn series(lists: impl Iterator<Item = Vec<Point>>) -> Vec<Point> {
    let mut by: BTreeMap<u64, Point> = BTreeMap::new();
    for p in lists.flatten() {
        let e = by.entry(p.ts_ms).or_insert_with(|| Point {
            ts_ms: p.ts_ms,
            ..Default::default()
        });
        add_point(e, &p);
    }
    by.into_values().map(finish_point).collect()
}

/// The busiest names of `group` (`model`, `provider`, `key`) in merged stats, as one copy
/// picks them: by count, then name, at most [`MAX_GROUPS`].
pub fn busiest(s: &Stats, group: &str) -> Vec<String> {
    let list = match group {
        "model" => &s.models,
        "provider" => &s.providers,
        "key" => &s.keys,
        _ => return Vec::new(),
    };
    let mut named: Vec<&Aggregate> = list.iter().filter(|a| a.count > 0).collect();
    named.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
    named
        .into_iter()
        .take(MAX_GROUPS)
        .map(|a| a.name.clone())
        .collect()
}

/// The group series of `names`, in that order, summed over the parts (each part asked for
/// exactly those names).
pub fn groups_of(parts: &[Stats], names: &[String]) -> Vec<GroupSeries> {
    names
        .iter()
        .map(|name| GroupSeries {
            name: name.clone(),
            points: series(parts.iter().map(|s| {
                s.groups
                    .iter()
                    .find(|g| &g.name == name)
                    .map(|g| g.points.clone())
                    .unwrap_or_default()
            })),
        })
        .collect()
}

/// The parts' stats as one, without group series: a part's busiest names are not the
/// whole's, so those come from asking each part for the whole's [`busiest`] ([`groups_of`]).
pub fn stats(parts: Vec<Stats>) -> Stats {
    let since_ms = parts.iter().map(|s| s.since_ms).min().unwrap_or(0);
    let until_ms = parts.iter().map(|s| s.until_ms).max().unwrap_or(0);
    let mut total = named(parts.iter().map(|s| vec![s.total.clone()]));
    Stats {
        since_ms,
        until_ms,
        total: total.pop().unwrap_or_default(),
        models: named(parts.iter().map(|s| s.models.clone())),
        providers: named(parts.iter().map(|s| s.providers.clone())),
        keys: named(parts.iter().map(|s| s.keys.clone())),
        series: series(parts.iter().map(|s| s.series.clone())),
        groups: Vec::new(),
    }
}

/// One copy's stats as the client reports them (without the histograms).
pub fn finish(mut s: Stats) -> Stats {
    let strip = |a: &mut Aggregate| a.latency_histogram.clear();
    strip(&mut s.total);
    s.models.iter_mut().for_each(strip);
    s.providers.iter_mut().for_each(strip);
    s.keys.iter_mut().for_each(strip);
    s.series
        .iter_mut()
        .for_each(|p| p.latency_histogram.clear());
    for g in &mut s.groups {
        g.points
            .iter_mut()
            .for_each(|p| p.latency_histogram.clear());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, created_ms: u64) -> Record {
        Record::new(id, created_ms)
    }

    fn page(rows: &[(&str, u64)], has_more: bool) -> ListPage {
        ListPage {
            data: rows.iter().map(|(id, ms)| row(id, *ms)).collect(),
            has_more,
            next_cursor: None,
        }
    }

    #[test]
    fn pages_merge_newest_first_and_go_on_from_the_last_row_sent() {
        let a = page(&[("a3", 30), ("a1", 10)], false);
        let b = page(&[("b4", 40), ("b2", 20)], true);
        let p = pages(vec![a.clone(), b.clone()], 3);
        let ids: Vec<&str> = p.data.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["b4", "a3", "b2"]);
        assert!(p.has_more);
        assert_eq!(p.next_cursor.as_deref(), Some("20_b2"));
        // Everything fits and no part has more: the last page.
        let p = pages(
            vec![page(&[("a1", 10)], false), page(&[("b2", 20)], false)],
            5,
        );
        assert_eq!(p.data.len(), 2);
        assert!(!p.has_more && p.next_cursor.is_none());
        // Same time: by id, descending, as the auditor orders its keys.
        let p = pages(vec![page(&[("x", 5)], false), page(&[("y", 5)], false)], 5);
        assert_eq!(p.data[0].id, "y");
    }

    #[test]
    fn stats_sum_and_take_percentiles_from_the_summed_histograms() {
        let part = |n: u64, ms: u64| Stats {
            total: Aggregate {
                name: "total".into(),
                count: n,
                latency_histogram: [(histogram::bucket(ms), n)].into(),
                ..Default::default()
            },
            models: vec![Aggregate {
                name: "m".into(),
                count: n,
                latency_histogram: [(histogram::bucket(ms), n)].into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let s = stats(vec![part(9, 10), part(1, 100)]);
        assert_eq!(s.total.count, 10);
        assert_eq!(s.total.latency_p50_ms, Some(10));
        assert_eq!(s.total.latency_p95_ms, Some(100));
        assert!(s.total.latency_histogram.is_empty(), "not in the answer");
        assert_eq!(s.models.len(), 1);
        assert_eq!(s.models[0].count, 10);
    }
}
