//! Queries over the store: one job's full record, a filtered page of records, and stats.

use super::record::Record;
use super::store::{split_time_key, time_key, BodyKind, Store, StoredEvent};
use super::AuditorError;
use schemas::JobState;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Largest page of [`list`].
pub const MAX_LIMIT: usize = 1000;
/// Default page size.
pub const DEFAULT_LIMIT: usize = 50;

/// One event in a job's timeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimelineEvent {
    /// Milliseconds since the job was received.
    pub offset_ms: i64,
    /// The event as stored (with its stream sequence).
    #[serde(flatten)]
    pub event: StoredEvent,
}

/// A job's full record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FullRecord {
    /// The folded record.
    #[serde(flatten)]
    pub record: Record,
    /// The redacted request body, when stored.
    #[serde(default)]
    pub request: Option<serde_json::Value>,
    /// The redacted response (or error) body, when stored.
    #[serde(default)]
    pub response: Option<serde_json::Value>,
    /// Every event, in time order.
    pub events: Vec<TimelineEvent>,
}

/// Filters of [`list`]; every one is optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    /// `queued`, `running`, `completed`, `failed` or `cancelled`.
    pub status: Option<String>,
    /// The model as the client named it, or as the provider knows it, or `provider/model`.
    pub model: Option<String>,
    /// The provider.
    pub provider: Option<String>,
    /// The key id.
    pub key: Option<String>,
    /// Text in the error message (case-insensitive).
    pub q: Option<String>,
    /// Created at or after (ms since the epoch).
    pub since_ms: Option<u64>,
    /// Created before (ms since the epoch).
    pub until_ms: Option<u64>,
    /// Page size (default 50, at most 1000).
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of records, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListPage {
    /// The records.
    pub data: Vec<Record>,
    /// Whether more match.
    pub has_more: bool,
    /// Pass as `cursor` for the next page.
    pub next_cursor: Option<String>,
}

/// The window of [`stats`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StatsQuery {
    /// From (ms since the epoch).
    pub since_ms: Option<u64>,
    /// Until (ms since the epoch).
    pub until_ms: Option<u64>,
}

/// Aggregates of one model, provider or key.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Aggregate {
    /// The model, provider or key.
    pub name: String,
    /// Jobs.
    pub count: u64,
    /// Failed jobs.
    pub failures: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// All tokens.
    pub total_tokens: u64,
    /// Cost in USD, where known.
    pub cost_usd: f64,
    /// Median duration of finished jobs.
    pub latency_p50_ms: Option<u64>,
    /// 95th percentile duration of finished jobs.
    pub latency_p95_ms: Option<u64>,
}

/// Aggregates over a window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    /// The window start.
    pub since_ms: u64,
    /// The window end.
    pub until_ms: u64,
    /// Every job in the window.
    pub total: Aggregate,
    /// Per model (as the client named it).
    pub models: Vec<Aggregate>,
    /// Per provider.
    pub providers: Vec<Aggregate>,
    /// Per key id.
    pub keys: Vec<Aggregate>,
}

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
    }))
}

/// The events of `id` in time order (stream order for ties), with offsets from `origin`.
pub fn timeline(store: &Store, id: &str, origin: u64) -> Result<Vec<TimelineEvent>, AuditorError> {
    let mut evs = store.events_of(id)?;
    evs.sort_by_key(|e| (e.event.ts_ms, e.seq));
    Ok(evs
        .into_iter()
        .map(|event| TimelineEvent {
            offset_ms: event.event.ts_ms as i64 - origin as i64,
            event,
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
        data.push(r);
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
