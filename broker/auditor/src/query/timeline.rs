//! A job's events in causal order, whatever the clocks of the processes that sent them.

use crate::store::Store;
use crate::AuditorError;
use broker::audit::protocol::{StoredEvent, TimelineEvent};
use schemas::EventKind;

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

/// The events of `id` in causal order (see `step`; the clock, then the stream order, for
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
        // Stored out of order, as a batch may deliver them: half in a timeline, half as
        // an earlier version stored them, one key per event.
        let (new, old) = all.split_at(5);
        let packed: Vec<&StoredEvent> = new.iter().rev().collect();
        let packed = crate::store::pack(&packed).unwrap_or_default();
        store
            .timelines
            .insert("j", packed)
            .unwrap_or_else(|e| unreachable!("{e}"));
        for e in old {
            let mut k = crate::store::job_prefix("j");
            k.extend_from_slice(&e.seq.to_be_bytes());
            let v = serde_json::to_vec(e).unwrap_or_default();
            store
                .events
                .insert(k, v)
                .unwrap_or_else(|e| unreachable!("{e}"));
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
