//! The job record: everything known about one job, folded from its events and its result.
//!
//! Folding is idempotent: applying the same event or result twice leaves the record as it
//! was, so a batch replayed after a crash cannot double-count anything.

use schemars::JsonSchema;
use schemas::openai::Usage;
use schemas::{Event, EventKind, JobResult, JobState, Mode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One job as the auditor knows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Record {
    /// The job id.
    pub id: String,
    /// Where the job is.
    pub status: JobState,
    /// The model as the client named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The provider of the last attempt or of the result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The model as that provider knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_model: Option<String>,
    /// Delivery mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// The id of the key that submitted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// When it was received (or first seen), ms since the epoch.
    pub created_ms: u64,
    /// When it was queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_ms: Option<u64>,
    /// When a worker first took it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<u64>,
    /// When the first streamed token arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_token_ms: Option<u64>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<u64>,
    /// `finished_ms - created_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// `started_ms - created_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_wait_ms: Option<u64>,
    /// Upstream attempts made.
    pub attempts: u32,
    /// Highest JetStream delivery count seen.
    pub deliveries: u64,
    /// The client-facing HTTP status of the outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// The error message (redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The low-cardinality error kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    /// Token usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Cost in USD, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// `hit` or `miss`, when a cache was consulted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
    /// Every node (process) that saw the job.
    pub nodes: BTreeSet<String>,
    /// The job this one replays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
    /// The jobs that replayed this one.
    pub replayed_as: BTreeSet<String>,
    /// Whether it went to the dead-letter stream.
    pub dead_lettered: bool,
    /// Whether the request body is stored.
    pub has_request: bool,
    /// The paths of the stored request body that were redacted (a replay would send
    /// `[REDACTED]` there).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_redacted: Vec<String>,
    /// Why the request body is not stored, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_omitted: Option<schemas::BodyOmitted>,
    /// Whether the response body is stored.
    pub has_response: bool,
    /// The most recent event's kind and time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event: Option<EventKind>,
    /// When the most recent event happened.
    pub updated_ms: u64,
}

fn rank(s: JobState) -> u8 {
    match s {
        JobState::Queued => 0,
        JobState::Running => 1,
        _ => 2,
    }
}

fn min_some(a: &mut Option<u64>, b: u64) {
    *a = Some(a.map_or(b, |x| x.min(b)));
}

impl Record {
    /// Adds paths of the request body that were redacted (kept sorted, each once).
    pub fn note_redacted(&mut self, paths: &[String]) {
        if paths.is_empty() {
            return;
        }
        self.request_redacted.extend(paths.iter().cloned());
        self.request_redacted.sort();
        self.request_redacted.dedup();
    }

    /// An empty record for `id`, first seen at `ts_ms`.
    pub fn new(id: &str, ts_ms: u64) -> Self {
        Self {
            id: id.to_string(),
            status: JobState::Queued,
            model: None,
            provider: None,
            provider_model: None,
            mode: None,
            key_id: None,
            created_ms: ts_ms,
            queued_ms: None,
            started_ms: None,
            first_token_ms: None,
            finished_ms: None,
            duration_ms: None,
            queue_wait_ms: None,
            attempts: 0,
            deliveries: 0,
            status_code: None,
            error: None,
            error_kind: None,
            usage: None,
            cost_usd: None,
            cache: None,
            nodes: BTreeSet::new(),
            replay_of: None,
            replayed_as: BTreeSet::new(),
            dead_lettered: false,
            has_request: false,
            request_redacted: Vec::new(),
            request_omitted: None,
            has_response: false,
            last_event: None,
            updated_ms: ts_ms,
        }
    }

    /// Whether the job has finished.
    pub fn is_final(&self) -> bool {
        self.status.is_final()
    }

    fn set_state(&mut self, s: JobState, ts: u64) {
        if s.is_final() {
            // The latest final word wins (a cancel after a failure, say).
            if !self.is_final() || self.finished_ms.is_none_or(|f| ts >= f) {
                self.status = s;
                self.finished_ms = Some(ts);
            }
        } else if rank(s) > rank(self.status) {
            self.status = s;
        }
    }

    /// Folds one event in.
    pub fn apply(&mut self, ev: &Event) {
        let d = &ev.detail;
        self.nodes.insert(ev.node.clone());
        if ev.ts_ms >= self.updated_ms || self.last_event.is_none() {
            self.updated_ms = ev.ts_ms;
            self.last_event = Some(ev.kind);
        }
        self.created_ms = self.created_ms.min(ev.ts_ms);
        if let Some(a) = d.attempt {
            self.attempts = self.attempts.max(a);
        }
        if let Some(n) = d.delivery {
            self.deliveries = self.deliveries.max(n);
        }
        if let Some(c) = d.cost_usd {
            self.cost_usd = Some(c);
        }
        match ev.kind {
            EventKind::Received => {
                self.created_ms = ev.ts_ms;
                self.model = d.model.clone().or(self.model.take());
                self.mode = d.mode.or(self.mode);
                self.key_id = d.key_id.clone().or(self.key_id.take());
                if d.related_job.is_some() {
                    self.replay_of = d.related_job.clone();
                }
                self.note_redacted(&d.redacted);
                if d.body_omitted.is_some() {
                    self.request_omitted = d.body_omitted.clone();
                }
            }
            EventKind::Authenticated => {
                self.key_id = d.key_id.clone().or(self.key_id.take());
            }
            EventKind::CacheHit => self.cache = Some("hit".into()),
            EventKind::CacheMiss if self.cache.is_none() => self.cache = Some("miss".into()),
            EventKind::Queued => min_some(&mut self.queued_ms, ev.ts_ms),
            EventKind::Dequeued => min_some(&mut self.started_ms, ev.ts_ms),
            EventKind::FirstToken => min_some(&mut self.first_token_ms, ev.ts_ms),
            EventKind::Replayed => {
                if let Some(j) = &d.related_job {
                    self.replayed_as.insert(j.clone());
                }
            }
            EventKind::DeadLettered => self.dead_lettered = true,
            _ => {}
        }
        if matches!(
            ev.kind,
            EventKind::Queued | EventKind::AttemptStarted | EventKind::AttemptFailed
        ) || ev.kind.state().is_some_and(JobState::is_final)
        {
            if d.provider.is_some() {
                self.provider = d.provider.clone();
            }
            if d.model.is_some() {
                self.provider_model = d.model.clone();
            }
        }
        if ev.kind.state().is_some_and(JobState::is_final) {
            self.status_code = d.status.or(self.status_code);
            if d.error.is_some() {
                self.error = d
                    .error
                    .as_deref()
                    .map(|e| super::redact::text(e).into_owned());
                self.error_kind = d.error_kind.clone();
            }
            if d.usage.is_some() {
                self.usage = d.usage.clone();
            }
        }
        if let Some(s) = ev.kind.state() {
            self.set_state(s, ev.ts_ms);
        }
        self.derive();
    }

    /// Folds the job's result in (authoritative for status, usage and the error).
    pub fn apply_result(&mut self, r: &JobResult) {
        self.nodes.insert(r.node.clone());
        self.set_state(r.status, r.finished_ms);
        if self.status == r.status {
            self.finished_ms = Some(r.finished_ms);
        }
        if r.provider.is_some() {
            self.provider = r.provider.clone();
        }
        if r.model.is_some() {
            self.provider_model = r.model.clone();
        }
        if r.usage.is_some() {
            self.usage = r.usage.clone();
        }
        self.attempts = self.attempts.max(r.attempts);
        match &r.error {
            Some(e) => {
                self.status_code = Some(e.status);
                self.error = Some(super::redact::text(&e.error.message).into_owned());
                self.error_kind = e
                    .kind
                    .clone()
                    .or_else(|| e.error.code.clone())
                    .or(self.error_kind.take());
            }
            None if r.status == JobState::Completed => self.status_code = Some(200),
            None => {}
        }
        self.derive();
    }

    fn derive(&mut self) {
        self.duration_ms = self.finished_ms.map(|f| f.saturating_sub(self.created_ms));
        self.queue_wait_ms = self.started_ms.map(|s| s.saturating_sub(self.created_ms));
    }

    /// `provider/provider_model`, when both are known.
    pub fn qualified_model(&self) -> Option<String> {
        Some(format!(
            "{}/{}",
            self.provider.as_deref()?,
            self.provider_model.as_deref()?
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::EventDetail;

    fn ev(kind: EventKind, ts: u64, detail: EventDetail) -> Event {
        let mut e = Event::new("j", kind, "n1").with(detail);
        e.ts_ms = ts;
        e
    }

    #[test]
    fn folding_twice_changes_nothing() {
        let evs = [
            ev(
                EventKind::Received,
                100,
                EventDetail {
                    model: Some("mock/echo".into()),
                    ..Default::default()
                },
            ),
            ev(EventKind::Queued, 101, EventDetail::default()),
            ev(EventKind::Dequeued, 105, EventDetail::default()),
            ev(
                EventKind::Failed,
                120,
                EventDetail {
                    attempt: Some(2),
                    status: Some(500),
                    error: Some("boom sk-abcdefghijkl".into()),
                    provider: Some("mock".into()),
                    model: Some("error-500".into()),
                    ..Default::default()
                },
            ),
        ];
        let mut once = Record::new("j", 100);
        evs.iter().for_each(|e| once.apply(e));
        let mut twice = once.clone();
        evs.iter().rev().for_each(|e| twice.apply(e));
        assert_eq!(once, twice);
        assert_eq!(once.status, JobState::Failed);
        assert_eq!(once.duration_ms, Some(20));
        assert_eq!(once.queue_wait_ms, Some(5));
        assert_eq!(once.attempts, 2);
        assert_eq!(once.error.as_deref(), Some("boom [REDACTED]"));
        assert_eq!(once.qualified_model().as_deref(), Some("mock/error-500"));
    }
}
