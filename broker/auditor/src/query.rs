//! Queries over the store: one job's full record, a filtered page of records, and stats.

use super::store::{split_time_key, time_key, BodyKind, Store};
use super::AuditorError;
use broker::audit::protocol::StoredEvent;
use broker::audit::protocol::{
    Aggregate, FullRecord, ListPage, ListQuery, Stats, StatsQuery, TimelineEvent, DEFAULT_LIMIT,
    MAX_LIMIT,
};
use broker::audit::Record;
use schemas::{EventKind, JobState};
use std::collections::BTreeMap;

/// The full record of `id`, or `None`.
pub fn get(store: &Store, id: &str) -> Result<Option<FullRecord>, AuditorError> {
    let Some(record) = store.record(id)? else {
        return Ok(None);
    };
    let events = timeline(store, id, record.created_ms)?;
    Ok(Some(FullRecord {
        request: store.body(id, BodyKind::Request)?,
        response: store.body(id, BodyKind::Response)?,
        record,
        events,
        parts: None,
    }))
}

/// (phase, attempts made before it, place within).
type Step = (u8, u32, u8);

/// An event's step in the job's life: (phase, attempts made before it, place within).
/// `received` comes first; then, for each attempt `a`, the queueing and dequeueing after
/// `a - 1` attempts, `attempt_started`, `first_token` and `attempt_failed` of attempt `a`;
/// then the final state, `dead_lettered`, `delivered` and `replayed`. A fallback's `queued`
/// carries the attempts made so far, so it follows the attempt that failed.
fn step(e: &StoredEvent, attempt_of_first_token: u32) -> Step {
    let d = &e.event.detail;
    let before = d.attempt.unwrap_or(0);
    let during = d.attempt.unwrap_or(1).saturating_sub(1);
    match e.event.kind {
        EventKind::Received => (0, 0, 0),
        EventKind::Authenticated => (0, 0, 1),
        EventKind::CacheHit | EventKind::CacheMiss => (0, 0, 2),
        EventKind::Queued => (1, before, 0),
        EventKind::Dequeued => (1, before, 1),
        EventKind::AttemptStarted => (1, during, 2),
        EventKind::FirstToken => (1, attempt_of_first_token.saturating_sub(1), 3),
        EventKind::AttemptFailed => (1, during, 4),
        EventKind::Completed | EventKind::Failed | EventKind::Cancelled => (2, 0, 0),
        EventKind::DeadLettered => (2, 0, 1),
        EventKind::Delivered => (3, 0, 0),
        EventKind::Replayed => (4, 0, 0),
        // A kind from a newer version: kept, after the story this version can tell.
        EventKind::Unknown => (5, 0, 0),
    }
}

/// The events of `id` in causal order (see [`step`]; the clock, then the stream order, for
/// ties), with offsets from `origin` and the clock skew where a step's clock is behind the
/// step before it.
pub fn timeline(store: &Store, id: &str, origin: u64) -> Result<Vec<TimelineEvent>, AuditorError> {
    let evs = store.events_of(id)?;
    // `first_token` names no attempt: it belongs to the latest attempt its own process had
    // started by then (one process, one clock).
    let attempt_of = |ft: &StoredEvent| {
        evs.iter()
            .filter(|e| e.event.kind == EventKind::AttemptStarted && e.event.node == ft.event.node)
            .filter(|e| e.event.ts_ms <= ft.event.ts_ms)
            .filter_map(|e| e.event.detail.attempt)
            .max()
            .unwrap_or(1)
    };
    let mut keyed: Vec<(Step, u64, u64, StoredEvent)> = evs
        .iter()
        .map(|e| {
            let a = if e.event.kind == EventKind::FirstToken {
                attempt_of(e)
            } else {
                0
            };
            (step(e, a), e.event.ts_ms, e.seq, e.clone())
        })
        .collect();
    keyed.sort_by_key(|(k, ts, seq, _)| (*k, *ts, *seq));
    let mut prev: Option<u64> = None;
    Ok(keyed
        .into_iter()
        .map(|(_, ts, _, event)| {
            let skew_ms = prev.filter(|p| ts < *p).map(|p| (p - ts) as i64);
            prev = Some(ts);
            TimelineEvent {
                offset_ms: ts as i64 - origin as i64,
                skew_ms,
                event,
            }
        })
        .collect())
}

fn status_of(s: &str) -> Result<JobState, AuditorError> {
    serde_json::from_value(serde_json::Value::String(s.to_ascii_lowercase())).map_err(|_| {
        AuditorError::BadQuery(format!(
            "status `{s}` is unknown; use queued, running, completed, failed or cancelled"
        ))
    })
}

fn matches(r: &Record, q: &ListQuery, status: Option<JobState>) -> bool {
    if status.is_some_and(|s| r.status != s) {
        return false;
    }
    if let Some(m) = &q.model {
        let hit = r.model.as_deref() == Some(m)
            || r.provider_model.as_deref() == Some(m)
            || r.qualified_model().as_deref() == Some(m);
        if !hit {
            return false;
        }
    }
    if q.provider
        .as_ref()
        .is_some_and(|p| r.provider.as_ref() != Some(p))
    {
        return false;
    }
    if q.key.as_ref().is_some_and(|k| r.key_id.as_ref() != Some(k)) {
        return false;
    }
    if let Some(text) = &q.q {
        let needle = text.to_lowercase();
        if !r
            .error
            .as_ref()
            .is_some_and(|e| e.to_lowercase().contains(&needle))
        {
            return false;
        }
    }
    true
}

/// `s` cut to `max` bytes (at a character boundary) with `…`, when longer.
pub fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
}

/// A record as a list row: long strings cut (model names, errors, key ids), so one row
/// cannot crowd out a page.
pub fn list_row(mut r: Record) -> Record {
    const MAX: usize = broker::audit::protocol::LIST_STRING_MAX;
    for s in [
        r.model.as_mut(),
        r.provider.as_mut(),
        r.provider_model.as_mut(),
        r.key_id.as_mut(),
        r.error.as_mut(),
        r.replay_of.as_mut(),
    ]
    .into_iter()
    .flatten()
    {
        cut(s, MAX);
    }
    r.request_redacted.truncate(16);
    r.request_redacted.iter_mut().for_each(|p| cut(p, MAX));
    r.nodes = r
        .nodes
        .into_iter()
        .take(8)
        .map(|mut n| {
            cut(&mut n, MAX);
            n
        })
        .collect();
    r.replayed_as = r.replayed_as.into_iter().take(8).collect();
    r
}

/// The cursor that goes on after `r`.
pub fn cursor_after(r: &Record) -> String {
    encode_cursor(r.created_ms, &r.id)
}

fn encode_cursor(created_ms: u64, id: &str) -> String {
    format!("{created_ms}_{id}")
}

fn decode_cursor(c: &str) -> Result<Vec<u8>, AuditorError> {
    c.split_once('_')
        .and_then(|(ms, id)| Some(time_key(ms.parse().ok()?, id)))
        .ok_or_else(|| {
            AuditorError::BadQuery(format!(
                "cursor `{c}` is not one this API returned; pass the `next_cursor` of the previous page"
            ))
        })
}

/// One page of records matching `q`, newest first.
pub fn list(store: &Store, q: &ListQuery) -> Result<ListPage, AuditorError> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let status = q.status.as_deref().map(status_of).transpose()?;
    let upper = match &q.cursor {
        Some(c) => decode_cursor(c)?,
        None => time_key(q.until_ms.unwrap_or(u64::MAX), ""),
    };
    let since = q.since_ms.unwrap_or(0);
    let mut data = Vec::new();
    let mut has_more = false;
    for k in store.by_time.range(..upper).keys().rev() {
        let k = k?;
        let Some((ms, id)) = split_time_key(&k) else {
            continue;
        };
        if ms < since {
            break;
        }
        if q.until_ms.is_some_and(|u| ms >= u) {
            continue;
        }
        let Some(r) = store.record(&id)? else {
            continue;
        };
        if !matches(&r, q, status) {
            continue;
        }
        if data.len() == limit {
            has_more = true;
            break;
        }
        data.push(list_row(r));
    }
    let next_cursor = if has_more {
        data.last().map(|r| encode_cursor(r.created_ms, &r.id))
    } else {
        None
    };
    Ok(ListPage {
        data,
        has_more,
        next_cursor,
    })
}

#[derive(Default)]
struct Acc {
    agg: Aggregate,
    latencies: Vec<u64>,
}

impl Acc {
    fn add(&mut self, r: &Record) {
        let a = &mut self.agg;
        a.count += 1;
        if r.status == JobState::Failed {
            a.failures += 1;
        }
        if let Some(u) = &r.usage {
            a.prompt_tokens += u.prompt_tokens;
            a.completion_tokens += u.completion_tokens;
            a.total_tokens += u.total_tokens;
        }
        a.cost_usd += r.cost_usd.unwrap_or(0.0);
        if let Some(d) = r.duration_ms.filter(|_| r.is_final()) {
            self.latencies.push(d);
        }
    }

    fn finish(mut self, name: String) -> Aggregate {
        self.latencies.sort_unstable();
        let pct = |p: f64| {
            let n = self.latencies.len();
            (n > 0).then(|| self.latencies[((n as f64 * p).ceil() as usize).clamp(1, n) - 1])
        };
        self.agg.latency_p50_ms = pct(0.50);
        self.agg.latency_p95_ms = pct(0.95);
        self.agg.name = name;
        self.agg
    }
}

fn finish_all(m: BTreeMap<String, Acc>) -> Vec<Aggregate> {
    m.into_iter().map(|(k, a)| a.finish(k)).collect()
}

/// Aggregates per model, provider and key over the window of `q`.
pub fn stats(store: &Store, q: &StatsQuery, now_ms: u64) -> Result<Stats, AuditorError> {
    let since = q.since_ms.unwrap_or(now_ms.saturating_sub(3600 * 1000));
    let until = q.until_ms.unwrap_or(u64::MAX);
    let mut total = Acc::default();
    let (mut models, mut providers, mut keys) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    for k in store
        .by_time
        .range(time_key(since, "")..time_key(until, ""))
        .keys()
    {
        let Some((_, id)) = split_time_key(&k?) else {
            continue;
        };
        let Some(r) = store.record(&id)? else {
            continue;
        };
        total.add(&r);
        let unknown = || "(unknown)".to_string();
        models
            .entry(r.model.clone().unwrap_or_else(unknown))
            .or_insert_with(Acc::default)
            .add(&r);
        providers
            .entry(r.provider.clone().unwrap_or_else(unknown))
            .or_insert_with(Acc::default)
            .add(&r);
        keys.entry(r.key_id.clone().unwrap_or_else(|| "(none)".into()))
            .or_insert_with(Acc::default)
            .add(&r);
    }
    Ok(Stats {
        since_ms: since,
        until_ms: until.min(now_ms),
        total: total.finish("total".into()),
        models: finish_all(models),
        providers: finish_all(providers),
        keys: finish_all(keys),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::{Event, EventDetail};

    fn ev(seq: u64, kind: EventKind, ts: u64, node: &str, attempt: Option<u32>) -> StoredEvent {
        let mut e = Event::new("j", kind, node).with(EventDetail {
            attempt,
            ..Default::default()
        });
        e.ts_ms = ts;
        StoredEvent {
            seq,
            raw: None,
            event: e,
        }
    }

    /// Two workers whose clocks run behind the ingress's: the story stays in order, and
    /// the skew shows.
    #[test]
    fn timelines_follow_the_story_not_the_clocks() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let store = Store::open(dir.path()).unwrap_or_else(|e| unreachable!("{e}"));
        let all = [
            ev(1, EventKind::Received, 1000, "ingress", None),
            ev(2, EventKind::Queued, 1001, "ingress", None),
            ev(3, EventKind::Dequeued, 950, "w1", Some(0)),
            ev(4, EventKind::AttemptStarted, 951, "w1", Some(1)),
            ev(5, EventKind::AttemptFailed, 960, "w1", Some(1)),
            ev(6, EventKind::Queued, 961, "w1", Some(1)),
            ev(7, EventKind::Dequeued, 900, "w2", Some(1)),
            ev(8, EventKind::AttemptStarted, 901, "w2", Some(2)),
            ev(9, EventKind::FirstToken, 905, "w2", None),
            ev(10, EventKind::Completed, 910, "w2", Some(2)),
            ev(11, EventKind::Delivered, 1003, "ingress", None),
        ];
        // Stored out of order, as a batch may deliver them.
        for e in all.iter().rev() {
            store.put_event(e).unwrap_or_else(|e| unreachable!("{e}"));
        }
        let tl = timeline(&store, "j", 1000).unwrap_or_default();
        let seqs: Vec<u64> = tl.iter().map(|t| t.event.seq).collect();
        assert_eq!(seqs, (1..=11).collect::<Vec<_>>());
        assert_eq!(
            tl[2].skew_ms,
            Some(51),
            "w1's clock is 51 ms behind the queueing"
        );
        assert_eq!(tl[6].skew_ms, Some(61), "w2's is behind w1's");
        assert_eq!(
            tl[10].skew_ms, None,
            "delivered follows in the ingress's own clock"
        );
        assert_eq!(tl[2].offset_ms, -50);
    }
}
