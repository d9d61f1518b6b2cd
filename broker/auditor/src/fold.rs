//! Folding a batch of messages into the store: for each job, its record, its timeline, its
//! bodies, its index entries, its rollups and its text, written as one engine batch.

use super::store::{body_key, pack, pack_body, time_key, unpack, BodyKind, Store};
use super::{index, kv, rollup, search, AuditorError};
use broker::audit::protocol::StoredEvent;
use broker::audit::redact::{self, Redactor};
use broker::audit::Record;
use schemas::{Event, JobResult};
use std::collections::{HashMap, HashSet};

/// One decoded message.
#[derive(Debug)]
pub enum Incoming {
    /// A lifecycle event with its stream sequence, and the message raw when this version
    /// cannot read all of it.
    Event(u64, Box<Event>, Option<serde_json::Value>),
    /// A job's result.
    Result(Box<JobResult>),
}

impl Incoming {
    fn job(&self) -> &str {
        match self {
            Self::Event(_, e, _) => &e.job,
            Self::Result(r) => &r.id,
        }
    }
    fn ts(&self) -> u64 {
        match self {
            Self::Event(_, e, _) => e.ts_ms,
            Self::Result(r) => r.finished_ms,
        }
    }
}

/// How bodies are treated.
#[derive(Debug, Clone)]
pub struct BodyPolicy {
    /// Store bodies at all.
    pub store: bool,
    /// How to redact them.
    pub redactor: Redactor,
}

/// Writes one batch: for each job, one write of its record and one of its timeline (its
/// events so far, new ones added by stream sequence), its bodies redacted and compressed,
/// its index entries and rollups moved from the record before to the record after, and its
/// text handed to the full-text index. Returns how many events were new.
pub fn apply_batch(
    store: &Store,
    policy: &BodyPolicy,
    items: Vec<Incoming>,
) -> Result<usize, AuditorError> {
    let t0 = std::time::Instant::now();
    let mut by_job: HashMap<String, Vec<Incoming>> = HashMap::new();
    for it in items {
        by_job.entry(it.job().to_string()).or_default().push(it);
    }
    let jobs = by_job.len();
    let mut work: Vec<(String, Vec<Incoming>)> = by_job
        .into_iter()
        .filter(|(job, _)| {
            let ok = job.len() <= MAX_JOB_ID;
            if !ok {
                tracing::warn!(
                    bytes = job.len(),
                    "an event names a job id longer than {MAX_JOB_ID} bytes; not stored"
                );
            }
            ok
        })
        .collect();
    // Folding is most of a batch's work and each job is independent: two threads fold
    // halves of a large batch (the machines this runs on have two cores or more).
    let fold = |part: Vec<(String, Vec<Incoming>)>| -> Result<(Writes, usize), AuditorError> {
        let mut w = Writes::default();
        let mut added = 0;
        for (job, items) in part {
            added += fold_job(store, policy, &job, items, &mut w)?;
        }
        Ok((w, added))
    };
    let (w, new_events) = if work.len() >= PARALLEL_FOLD {
        let other = work.split_off(work.len() / 2);
        let (a, b) = std::thread::scope(|s| {
            let h = s.spawn(|| fold(other));
            let a = fold(work);
            (a, h.join())
        });
        let (wa, na) = a?;
        let (wb, nb) = b.map_err(|_| AuditorError::Corrupt("a fold thread panicked".into()))??;
        let mut w = wa;
        w.merge(wb);
        (w, na + nb)
    } else {
        fold(work)?
    };
    let t1 = std::time::Instant::now();
    let mut batch = w.batch;
    w.rollups.write(&store.rollups, &mut batch)?;
    let t2 = std::time::Instant::now();
    store.apply(batch)?;
    let t3 = std::time::Instant::now();
    for (job, created, text) in w.texts {
        store.search.add(&job, created, &text)?;
    }
    tracing::debug!(
        jobs,
        fold_ms = (t1 - t0).as_millis() as u64,
        rollups_ms = (t2 - t1).as_millis() as u64,
        write_ms = (t3 - t2).as_millis() as u64,
        search_ms = t3.elapsed().as_millis() as u64,
        "auditor batch folded"
    );
    Ok(new_events)
}

/// The longest job id stored (the gateway's are UUIDs; an event from elsewhere may not be).
const MAX_JOB_ID: usize = 1024;

/// Batches of at least this many jobs are folded on two threads.
const PARALLEL_FOLD: usize = 64;

/// The writes of one batch.
#[derive(Default)]
struct Writes {
    batch: kv::Batch,
    rollups: rollup::Deltas,
    texts: Vec<(String, u64, String)>,
}

impl Writes {
    fn merge(&mut self, o: Writes) {
        self.batch.extend(o.batch);
        self.rollups.merge(o.rollups);
        self.texts.extend(o.texts);
    }
}

fn fold_job(
    store: &Store,
    policy: &BodyPolicy,
    job: &str,
    items: Vec<Incoming>,
    w: &mut Writes,
) -> Result<usize, AuditorError> {
    let prev = store.record(job)?;
    let first_ts = items.iter().map(Incoming::ts).min().unwrap_or(0);
    let mut rec = prev.clone().unwrap_or_else(|| Record::new(job, first_ts));
    let mut events: Vec<StoredEvent> = match store.timelines.get(job.as_bytes())? {
        Some(v) => unpack(&v)?,
        None => Vec::new(),
    };
    let known: HashSet<u64> = events.iter().map(|e| e.seq).collect();
    let mut added = 0;
    let mut texts: Vec<String> = Vec::new();
    for it in items {
        match it {
            Incoming::Event(seq, mut ev, raw) => {
                if let Some(mut body) = ev.detail.body.take() {
                    if policy.store {
                        let more = policy.redactor.value(&mut body);
                        rec.note_redacted(&more);
                        w.batch.insert(
                            &store.bodies,
                            body_key(job, BodyKind::Request),
                            pack_body(&body)?,
                        );
                        rec.has_request = true;
                        if !known.contains(&seq) {
                            texts.push(search::text_of(&body));
                        }
                    } else {
                        ev.detail.body_omitted = Some(schemas::BodyOmitted {
                            reason: schemas::OmitReason::NotStored,
                            bytes: body.to_string().len() as u64,
                            limit: None,
                        });
                    }
                }
                if let Some(e) = ev.detail.error.take() {
                    ev.detail.error = Some(redact::text(&e).into_owned());
                }
                rec.apply(&ev);
                if !events.iter().any(|e| e.seq == seq) {
                    events.push(StoredEvent {
                        seq,
                        raw,
                        event: *ev,
                    });
                    added += 1;
                }
            }
            Incoming::Result(r) => {
                let first = !rec.has_response;
                if policy.store {
                    let body = r
                        .response
                        .as_ref()
                        .and_then(|b| serde_json::from_str::<serde_json::Value>(b.get()).ok())
                        .or_else(|| r.error.as_ref().and_then(|e| serde_json::to_value(e).ok()));
                    if let Some(mut body) = body {
                        policy.redactor.value(&mut body);
                        w.batch.insert(
                            &store.bodies,
                            body_key(job, BodyKind::Response),
                            pack_body(&body)?,
                        );
                        rec.has_response = true;
                        if first {
                            texts.push(search::text_of(&body));
                        }
                    }
                } else if let Some(e) = &r.error {
                    if first {
                        texts.push(redact::text(&e.error.message).into_owned());
                    }
                }
                rec.apply_result(&r);
            }
        }
    }
    if added > 0 {
        events.sort_by_key(|e| e.seq);
        w.batch
            .insert(&store.timelines, job.as_bytes(), pack(&events)?);
    }
    let changed = prev.as_ref() != Some(&rec);
    if changed {
        if let Some(p) = prev.as_ref().filter(|p| p.created_ms != rec.created_ms) {
            w.batch
                .remove(&store.by_time, time_key(p.created_ms, &p.id));
        }
        if prev.as_ref().is_none_or(|p| p.created_ms != rec.created_ms) {
            w.batch
                .insert(&store.by_time, time_key(rec.created_ms, job), Vec::new());
        }
        index::update(&mut w.batch, &store.index, prev.as_ref(), Some(&rec));
        w.rollups.change(prev.as_ref(), Some(&rec));
        w.batch.insert(&store.records, job.as_bytes(), pack(&rec)?);
    }
    for t in texts {
        w.texts.push((job.to_string(), rec.created_ms, t));
    }
    Ok(added)
}
