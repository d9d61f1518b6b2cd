//! The durable pull consumers on `SY_EVENTS` and `SY_RESULTS`: batches are received and
//! decoded here and folded into the store by [`crate::fold`], one engine write and one
//! flush per batch, then one ack (`AckPolicy::All`) for the whole batch. A crash before the
//! ack redelivers the batch, and the idempotent folding stores it once.

pub use super::fold::{apply_batch, BodyPolicy, Incoming};
use super::store::Store;
use super::AuditorError;
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::{stream, Message};
use broker::config::AuditorConfig;
use broker::nats::Topology;
use futures::StreamExt;
use schemas::{Event, JobResult, Subjects};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// An event as this version reads it, with the message raw beside it when it cannot read
/// all of it: a newer envelope version, an unknown kind, or fields it cannot decode (as
/// long as the message names its job). Nothing a newer publisher sends is dropped.
pub fn read_event(payload: &[u8]) -> Result<(Event, Option<serde_json::Value>), String> {
    // The common case in one pass: an event of this version, of a kind it knows.
    if let Ok(e) = serde_json::from_slice::<Event>(payload) {
        if e.v <= schemas::WIRE_VERSION && e.kind != schemas::EventKind::Unknown {
            return Ok((e, None));
        }
    }
    let v: serde_json::Value = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    let newer = v["v"]
        .as_u64()
        .is_some_and(|n| n > u64::from(schemas::WIRE_VERSION));
    match serde_json::from_value::<Event>(v.clone()) {
        Ok(e) if !newer && e.kind != schemas::EventKind::Unknown => Ok((e, None)),
        Ok(e) => Ok((e, Some(v))),
        Err(err) => {
            let job = v["job"]
                .as_str()
                .ok_or_else(|| format!("{err}, and no job id"))?;
            let mut e = Event::new(
                job,
                schemas::EventKind::Unknown,
                v["node"].as_str().unwrap_or("?"),
            );
            if let Some(ts) = v["ts_ms"].as_u64() {
                e.ts_ms = ts;
            }
            Ok((e, Some(v)))
        }
    }
}

/// Results are pulled in batches this many times smaller than events.
const RESULT_SHARE: usize = 7;

/// How long the consumer gathers messages for one write and flush.
const GROUP_COMMIT: Duration = Duration::from_millis(50);

/// The durable consumer names of an auditor (of its partition, when it keeps one).
pub fn consumer_names(cfg: &AuditorConfig, subjects: &Subjects) -> (String, String) {
    let mut stem = cfg.consumer.replace(['.', '*', '>', ' '], "_");
    if let Some(k) = owned(cfg, subjects) {
        stem = format!("{stem}_p{k}");
    }
    (format!("{stem}_events"), format!("{stem}_results"))
}

/// The partition an auditor keeps, when the log is partitioned and it keeps one.
pub fn owned(cfg: &AuditorConfig, subjects: &Subjects) -> Option<u32> {
    cfg.partition.filter(|_| subjects.partitions() > 1)
}

async fn ensure_consumer(
    stream: &stream::Stream,
    name: &str,
    filter: String,
) -> Result<PullConsumer, AuditorError> {
    let cfg = pull::Config {
        durable_name: Some(name.to_string()),
        filter_subject: filter,
        ack_policy: AckPolicy::All,
        deliver_policy: DeliverPolicy::All,
        ack_wait: Duration::from_secs(30),
        max_ack_pending: 100_000,
        ..Default::default()
    };
    stream
        .get_or_create_consumer::<pull::Config>(name, cfg)
        .await
        .map_err(|e| AuditorError::Nats(e.to_string()))
}

enum Src {
    Events(Result<Message, async_nats::jetstream::consumer::pull::MessagesError>),
    Results(Result<Message, async_nats::jetstream::consumer::pull::MessagesError>),
}

fn decode(
    src: Src,
    items: &mut Vec<Incoming>,
    last: &mut [Option<Message>; 2],
    keep: &impl Fn(&str) -> bool,
) {
    let (msg, slot) = match src {
        Src::Events(Ok(m)) => (m, 0),
        Src::Results(Ok(m)) => (m, 1),
        Src::Events(Err(e)) | Src::Results(Err(e)) => {
            tracing::warn!(error = %e, "auditor consumer error; continuing");
            return;
        }
    };
    let item = if slot == 0 {
        let seq = msg.info().map(|i| i.stream_sequence).unwrap_or(0);
        read_event(&msg.payload).map(|(e, raw)| Incoming::Event(seq, Box::new(e), raw))
    } else {
        serde_json::from_slice::<JobResult>(&msg.payload)
            .map(|r| Incoming::Result(Box::new(r)))
            .map_err(|e| e.to_string())
    };
    match item {
        // Results come for every job: a partition's auditor keeps its own jobs'. (Events
        // come for its partition, but stored under another partition count before a change.)
        Ok(Incoming::Result(r)) if !keep(&r.id) => {}
        Ok(Incoming::Event(_, e, _)) if !keep(&e.job) => {}
        Ok(i) => items.push(i),
        Err(e) => {
            tracing::warn!(subject = %msg.subject, error = %e, "undecodable message skipped by the auditor")
        }
    }
    last[slot] = Some(msg);
}

/// Consumes until `stop`, reconnecting the consumers after errors.
pub async fn run(
    store: Store,
    topo: Topology,
    cfg: AuditorConfig,
    policy: BodyPolicy,
    share: f64,
    stop: CancellationToken,
) {
    while !stop.is_cancelled() {
        match consume(&store, &topo, &cfg, &policy, share, &stop).await {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(error = %e, "auditor consumer stopped; restarting in 1 s");
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
    if let Err(e) = store.flush().await {
        tracing::warn!(error = %e, "auditor store flush on shutdown failed");
    }
    // The last batch's text too: the periodic commit may have run before it was written.
    let st = store.clone();
    let committed = tokio::task::spawn_blocking(move || st.search.commit(true))
        .await
        .unwrap_or_else(|e| Err(AuditorError::Corrupt(e.to_string())));
    if let Err(e) = committed {
        tracing::warn!(error = %e, "auditor full-text commit on shutdown failed");
    }
}

async fn consume(
    store: &Store,
    topo: &Topology,
    cfg: &AuditorConfig,
    policy: &BodyPolicy,
    share: f64,
    stop: &CancellationToken,
) -> Result<(), AuditorError> {
    let batch = cfg.batch.max(1);
    let (ev_name, res_name) = consumer_names(cfg, &topo.subjects);
    let p = topo.subjects.prefix();
    let part = owned(cfg, &topo.subjects);
    let ev_filter = match part {
        Some(k) => topo.subjects.partition_events(k),
        None => format!("{p}.events.>"),
    };
    let events = ensure_consumer(&topo.events, &ev_name, ev_filter).await?;
    let subjects = topo.subjects.clone();
    let keep = move |job: &str| part.is_none_or(|k| subjects.partition(job) == k);
    let results = ensure_consumer(&topo.results, &res_name, format!("{p}.results.>")).await?;
    let open = |c: PullConsumer, n: usize| async move {
        c.stream()
            .max_messages_per_batch(n.max(1))
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await
            .map_err(|e| AuditorError::Nats(e.to_string()))
    };
    // A job has one result and about seven events: results are pulled in smaller batches so
    // both consumers move through the same jobs at about the same pace (a result that runs
    // ahead of its job's events makes the record be written twice).
    let merged = futures::stream::select(
        open(events, batch).await?.map(Src::Events),
        open(results, batch / RESULT_SHARE).await?.map(Src::Results),
    );
    let mut chunks = merged.ready_chunks(batch);
    // A pipeline of two: while one batch is written and flushed, the next is received and
    // decoded. The channel holds one batch, so memory stays bounded.
    let (tx, rx) = tokio::sync::mpsc::channel::<Gathered>(1);
    let mut writer = tokio::spawn(write_loop(store.clone(), policy.clone(), share, rx));
    loop {
        let chunk = tokio::select! {
            _ = stop.cancelled() => break,
            out = &mut writer => return out.unwrap_or_else(|e| Err(AuditorError::Corrupt(e.to_string()))),
            c = chunks.next() => c,
        };
        let Some(chunk) = chunk else {
            drop(tx);
            let _ = writer.await;
            return Err(AuditorError::Nats("the message stream ended".into()));
        };
        let mut items = Vec::with_capacity(chunk.len());
        let mut last: [Option<Message>; 2] = [None, None];
        for src in chunk {
            decode(src, &mut items, &mut last, &keep);
        }
        // Group commit: gather what arrives within GROUP_COMMIT (up to `batch` messages) so
        // one disk flush covers many events under load.
        let until = tokio::time::Instant::now() + GROUP_COMMIT;
        while items.len() < batch {
            match tokio::time::timeout_at(until, chunks.next()).await {
                Ok(Some(more)) => {
                    for src in more {
                        decode(src, &mut items, &mut last, &keep);
                    }
                }
                _ => break,
            }
        }
        if tx.send((items, last)).await.is_err() {
            return writer
                .await
                .unwrap_or_else(|e| Err(AuditorError::Corrupt(e.to_string())));
        }
    }
    // Stopping: the batch in hand is written and acked before the consumer goes.
    drop(tx);
    writer
        .await
        .unwrap_or_else(|e| Err(AuditorError::Corrupt(e.to_string())))
}

/// A decoded batch and the last message of each consumer (acked when it is stored).
type Gathered = (Vec<Incoming>, [Option<Message>; 2]);

/// Writes, flushes, then acks each batch, in order.
async fn write_loop(
    store: Store,
    policy: BodyPolicy,
    share: f64,
    mut rx: tokio::sync::mpsc::Receiver<Gathered>,
) -> Result<(), AuditorError> {
    while let Some((items, last)) = rx.recv().await {
        let n = items.len();
        let busy = std::time::Instant::now();
        let (st, pol) = (store.clone(), policy.clone());
        // Writing and flushing block on disk: keep them off the async workers that serve
        // requests.
        tokio::task::spawn_blocking(move || {
            apply_batch(&st, &pol, items)?;
            let t = std::time::Instant::now();
            st.flush_blocking()?;
            tracing::debug!(
                flush_ms = t.elapsed().as_millis() as u64,
                "auditor batch durable"
            );
            Ok::<_, AuditorError>(())
        })
        .await
        .map_err(|e| AuditorError::Corrupt(e.to_string()))??;
        for m in last.into_iter().flatten() {
            m.ack()
                .await
                .map_err(|e| AuditorError::Nats(e.to_string()))?;
        }
        tracing::debug!(messages = n, "auditor batch stored");
        // Within its share of the CPU: after a batch that took t, rest t * (1/share - 1)
        // (the pipeline waits, so receiving and decoding rest too). A backlog waits in
        // JetStream and drains once the load drops.
        if share < 1.0 {
            let rest = busy.elapsed().mul_f64(1.0 / share.max(0.05) - 1.0);
            tokio::time::sleep(rest.min(Duration::from_secs(2))).await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::BodyKind;
    use broker::audit::redact::{self, Redactor};
    use schemas::{EventDetail, EventKind};

    fn batch() -> Vec<Incoming> {
        let ev = |seq, kind, ts| {
            let mut e = Event::new("job-1", kind, "n").with(EventDetail {
                body: (kind == EventKind::Received)
                    .then(|| serde_json::json!({"api_key": "sk-abcdefghijklmnop"})),
                attempt: Some(1),
                ..Default::default()
            });
            e.ts_ms = ts;
            Incoming::Event(seq, Box::new(e), None)
        };
        vec![
            ev(1, EventKind::Received, 10),
            ev(2, EventKind::Queued, 11),
            ev(5, EventKind::Completed, 20),
        ]
    }

    #[test]
    fn newer_and_unknown_events_are_kept_raw() {
        let (e, raw) =
            read_event(br#"{"v":1,"job":"j","kind":"queued","ts_ms":5,"node":"n"}"#).unwrap();
        assert_eq!((e.kind, raw), (EventKind::Queued, None));
        let (e, raw) =
            read_event(br#"{"v":1,"job":"j","kind":"teleported","ts_ms":5,"node":"n"}"#).unwrap();
        assert_eq!(e.kind, EventKind::Unknown);
        assert_eq!(raw.unwrap()["kind"], "teleported");
        let (e, raw) =
            read_event(br#"{"v":2,"job":"j","kind":"queued","ts_ms":"later","node":"n"}"#).unwrap();
        assert_eq!((e.job.as_str(), e.kind), ("j", EventKind::Unknown));
        assert_eq!(raw.unwrap()["v"], 2);
        assert!(
            read_event(br#"{"kind":"queued"}"#).is_err(),
            "no job: nothing to keep it under"
        );
    }

    #[test]
    fn a_redelivered_batch_is_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let policy = BodyPolicy {
            store: true,
            redactor: Redactor::default(),
        };
        assert_eq!(apply_batch(&store, &policy, batch()).unwrap(), 3);
        let first = store.record("job-1").unwrap().unwrap();
        assert_eq!(apply_batch(&store, &policy, batch()).unwrap(), 0);
        assert_eq!(store.record("job-1").unwrap().unwrap(), first);
        assert_eq!(store.events_of("job-1").unwrap().len(), 3);
        assert_eq!(store.by_time.len().unwrap(), 1);
        let body = store.body("job-1", BodyKind::Request).unwrap().unwrap();
        assert_eq!(body["api_key"], redact::REDACTED);
        let raw = store.bodies.iter().next().unwrap().unwrap().1;
        assert!(
            raw.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]),
            "stored as a zstd frame"
        );
        // An entry of an earlier version (plain JSON) still reads.
        store
            .bodies
            .insert(
                super::super::store::body_key("job-2", BodyKind::Request),
                br#"{"old":1}"#,
            )
            .unwrap();
        assert_eq!(
            store.body("job-2", BodyKind::Request).unwrap().unwrap()["old"],
            1
        );
        assert_eq!(first.duration_ms, Some(10));
    }
}
