//! A filtered page of records, newest first.

use crate::index::{self, Dim};
use crate::store::{split_time_key, time_key, Store};
use crate::AuditorError;
use broker::audit::protocol::{ListPage, ListQuery, DEFAULT_LIMIT, MAX_LIMIT};
use broker::audit::Record;
use schemas::JobState;

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
    if q.mode.as_ref().is_some_and(|m| {
        r.mode
            .and_then(|x| serde_json::to_value(x).ok())
            .and_then(|v| v.as_str().map(|s| s != m))
            .unwrap_or(true)
    }) {
        return false;
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

/// Where the rows of a page come from.
enum Source<'a> {
    /// Every record, by time.
    Time(crate::kv::Iter),
    /// The join of index ranges.
    Index(index::Walk<'a>),
    /// Full-text hits, newest first, already joined and bounded.
    Hits(std::vec::IntoIter<Vec<u8>>),
}

impl Source<'_> {
    fn next_key(&mut self) -> Result<Option<Vec<u8>>, AuditorError> {
        match self {
            Self::Time(it) => Ok(it.next_back().transpose()?.map(|(k, _)| k)),
            Self::Index(w) => w.next_key(),
            Self::Hits(it) => Ok(it.next()),
        }
    }
}

/// The index prefixes of `q`'s filters.
fn prefixes(q: &ListQuery, status: Option<JobState>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if let Some(s) = status {
        let name = serde_json::to_value(s)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        out.push(index::prefix(Dim::Status, &name));
    }
    for (dim, v) in [
        (Dim::Model, &q.model),
        (Dim::Provider, &q.provider),
        (Dim::Key, &q.key),
        (Dim::Mode, &q.mode),
    ] {
        if let Some(v) = v {
            out.push(index::prefix(dim, v));
        }
    }
    out
}

/// The time keys of the jobs whose text matches `text`, below `upper` and at or after
/// `since`, newest first: enough of them for `want` rows once the other filters are applied
/// (the search widens until it has them or runs out).
fn hits(
    store: &Store,
    text: &str,
    upper: &[u8],
    since: u64,
    want: usize,
    check: impl Fn(&Record) -> bool,
) -> Result<Vec<Vec<u8>>, AuditorError> {
    let until = split_time_key(upper).map_or(u64::MAX, |(ms, _)| ms);
    let newest = until.min(schemas::now_ms().saturating_add(CLOCK_SLACK_MS));
    // Newest first, in widening windows: a common word fills the page from the last hour
    // without ranking a month of hits; a rare one reaches back to `since`.
    for span in WINDOWS {
        let lo = newest.saturating_sub(*span).max(since);
        let last = lo == since;
        let mut n = want.saturating_mul(4).max(64);
        loop {
            let docs = store.search.find(text, lo, until, n)?;
            let exhausted = docs.len() < n;
            let mut seen = std::collections::HashSet::new();
            let mut keys = Vec::new();
            for (_, id) in docs {
                if !seen.insert(id.clone()) {
                    continue;
                }
                let Some(r) = store.record(&id)? else {
                    continue;
                };
                let k = time_key(r.created_ms, &r.id);
                if k.as_slice() < upper && r.created_ms >= lo && check(&r) {
                    keys.push(k);
                }
            }
            keys.sort_unstable_by(|a, b| b.cmp(a));
            if keys.len() >= want || (exhausted && last) {
                return Ok(keys);
            }
            if exhausted {
                break;
            }
            n = n.saturating_mul(8);
        }
    }
    Ok(Vec::new())
}

/// The windows of a full-text search, widest last (everything back to `since`).
const WINDOWS: &[u64] = &[3_600_000, 86_400_000, 7 * 86_400_000, u64::MAX];

/// Room past now, for jobs stamped by clocks slightly ahead.
const CLOCK_SLACK_MS: u64 = 60_000;

/// One page of records matching `q`, newest first: from the full-text index when `q.q` is
/// set, else from the join of the filters' index ranges, else in time order; every row is
/// checked against its record.
pub fn list(store: &Store, q: &ListQuery) -> Result<ListPage, AuditorError> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let status = q.status.as_deref().map(status_of).transpose()?;
    let mut upper = time_key(q.until_ms.unwrap_or(u64::MAX), "");
    if let Some(c) = &q.cursor {
        upper = upper.min(decode_cursor(c)?);
    }
    let since = q.since_ms.unwrap_or(0);
    let text = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let mut source = match text {
        Some(t) => Source::Hits(
            hits(store, t, &upper, since, limit + 1, |r| {
                matches(r, q, status)
            })?
            .into_iter(),
        ),
        None => {
            let pre = prefixes(q, status);
            if pre.is_empty() {
                Source::Time(store.by_time.range(
                    std::ops::Bound::Included(time_key(since, "")),
                    std::ops::Bound::Excluded(upper.clone()),
                ))
            } else {
                Source::Index(index::Walk::new(&store.index, pre, upper.clone(), since))
            }
        }
    };
    let mut data = Vec::new();
    let mut has_more = false;
    while let Some(k) = source.next_key()? {
        let Some((ms, id)) = split_time_key(&k) else {
            continue;
        };
        if ms < since {
            break;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consume::{apply_batch, BodyPolicy, Incoming};
    use schemas::{Event, EventDetail, EventKind};

    fn received(id: &str, ts: u64, text: &str) -> Incoming {
        let mut e = Event::new(id, EventKind::Received, "n").with(EventDetail {
            model: Some("m".into()),
            body: Some(serde_json::json!({"messages": [{"role": "user", "content": text}]})),
            ..Default::default()
        });
        e.ts_ms = ts;
        Incoming::Event(ts, Box::new(e), None)
    }

    /// Hits in the last hour, last week and last month all come back, newest first, page
    /// after page, whichever window of the search finds them.
    #[test]
    fn full_text_pages_reach_back_through_every_window() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let store = Store::open(dir.path()).unwrap_or_else(|e| unreachable!("{e}"));
        let now = schemas::now_ms();
        let ago = [60_000, 2 * 3_600_000, 3 * 86_400_000, 20 * 86_400_000];
        let mut items = Vec::new();
        for (i, a) in ago.iter().enumerate() {
            items.push(received(&format!("hit-{i}"), now - a, "the walrus report"));
            items.push(received(&format!("miss-{i}"), now - a - 1, "other text"));
        }
        let policy = BodyPolicy {
            store: true,
            redactor: Default::default(),
        };
        apply_batch(&store, &policy, items).unwrap_or_else(|e| unreachable!("{e}"));
        store
            .search
            .commit(true)
            .unwrap_or_else(|e| unreachable!("{e}"));
        let mut q = ListQuery {
            q: Some("Walrus".into()),
            limit: Some(1),
            ..Default::default()
        };
        let mut got = Vec::new();
        loop {
            let page = list(&store, &q).unwrap_or_else(|e| unreachable!("{e}"));
            got.extend(page.data.iter().map(|r| r.id.clone()));
            match page.next_cursor {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(got, ["hit-0", "hit-1", "hit-2", "hit-3"]);
        q.cursor = None;
        q.limit = None;
        q.since_ms = Some(now - 86_400_000);
        assert_eq!(list(&store, &q).map(|p| p.data.len()).unwrap_or(0), 2);
    }
}
