//! Driving a batch: one ingress at a time holds its lease (renewed in the `sy_batches`
//! record), publishes its lines as jobs in chunks (each line's job id derived from the batch
//! and the line, so a line published again after a crash is a duplicate the stream drops),
//! counts the output lines workers publish on `sy.batchresults.<id>.ok|err`, sends the
//! cancellations of a cancelled or expired batch, and writes the output and error files. Every
//! ingress adopts batches whose lease lapsed (their driver's process died), so a batch resumes
//! where it was.

use super::{kv_key, Batch, Lease};
use crate::auth::Caller;
use crate::error::{unavailable, GatewayError};
use crate::job::{publish, Submission};
use crate::state::AppState;
use axum::http::HeaderMap;
use bytes::Bytes;
use futures::StreamExt;
use schemas::batch::OutputLine;
use schemas::{BatchRef, Mode, Operation};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// How long a lease lasts without being renewed.
const LEASE_MS: u64 = 10_000;
/// The period of the publishing steps while lines remain: `[files] batch_lines_per_s` in small
/// even steps (a burst of jobs is what delays the interactive requests beside a batch), kept
/// on a schedule rather than a pause after each, so the time a step takes does not slow the
/// rate.
const STEP_PERIOD: Duration = Duration::from_millis(10);
/// The most steps' worth of lines that one step catches up on after a slow one.
const CATCH_UP: f64 = 4.0;
/// How often progress is published on `sy.batches.<id>` at most.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);
/// How often the answers are counted while lines are still being published.
const COUNT_EVERY: Duration = Duration::from_secs(1);
/// Lines being published at once.
const PARALLEL: usize = 32;

/// One input line.
#[derive(Debug, Clone, Deserialize)]
pub struct Line {
    /// The caller's id of the line.
    pub custom_id: String,
    /// The endpoint.
    pub url: String,
    /// The request body.
    pub body: serde_json::Value,
}

/// The input file's lines.
pub async fn read_lines(st: &AppState, file: &str) -> Result<Vec<Line>, GatewayError> {
    let mut object = st.bulk().files.get(file).await.map_err(unavailable)?;
    let mut text = String::new();
    object.read_to_string(&mut text).await.map_err(|e| {
        GatewayError::Unavailable(format!("The input file cannot be read: {e}. Try again."))
    })?;
    // A large file takes a while to parse: off the runtime's threads, which answer requests.
    tokio::task::spawn_blocking(move || {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).map_err(|e| {
                    GatewayError::invalid(format!("The input file has a bad line: {e}."))
                })
            })
            .collect()
    })
    .await
    .map_err(|e| GatewayError::Internal(e.to_string()))?
}

/// The job id of line `i` of `batch`: the same every time it is derived.
pub fn line_job(batch: &str, i: usize) -> String {
    let digest = Sha256::digest(format!("{batch}/{i}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(b).into_uuid().to_string()
}

fn running() -> &'static Mutex<HashSet<String>> {
    static RUNNING: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    RUNNING.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Drives `id` in this process, unless it already does (`lines`: its input file's lines, when
/// the caller has read them already).
pub fn spawn(st: AppState, id: String, lines: Option<Vec<Line>>) {
    if let Ok(mut r) = running().lock() {
        if !r.insert(id.clone()) {
            return;
        }
    }
    tokio::spawn(async move {
        if let Err(e) = run(&st, &id, lines).await {
            tracing::warn!(batch = %id, error = %e, "a batch's driver stopped; another tick or ingress resumes it");
        }
        if let Ok(mut r) = running().lock() {
            r.remove(&id);
        }
    });
}

/// Adopts, every few seconds, the unfinished batches whose lease lapsed.
pub async fn adopt(st: AppState, stop: tokio_util::sync::CancellationToken) {
    // Finished batches stay finished: read once, then skipped.
    let mut ended: HashSet<String> = HashSet::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(3)) => {}
        }
        let Ok(mut keys) = st.topo().batches.keys().await else {
            continue;
        };
        while let Some(Ok(k)) = keys.next().await {
            let Some(id) = k.strip_prefix("b.") else {
                continue;
            };
            if ended.contains(id) {
                continue;
            }
            let Ok(Some(v)) = st.topo().batches.get(&k).await else {
                continue;
            };
            let Ok(b) = serde_json::from_slice::<Batch>(&v) else {
                continue;
            };
            if b.is_final() {
                ended.insert(id.to_string());
                continue;
            }
            let lapsed = b
                .lease
                .as_ref()
                .is_none_or(|l| l.until_ms < schemas::now_ms());
            if lapsed {
                spawn(st.clone(), id.to_string(), None);
            }
        }
    }
}

async fn run(st: &AppState, id: &str, mut lines: Option<Vec<Line>>) -> Result<(), GatewayError> {
    let node = st.events().node().to_string();
    let mut next_step = tokio::time::Instant::now();
    // Lines due and not yet sent.
    let per_step = f64::from(st.cfg().files.batch_lines_per_s) * STEP_PERIOD.as_secs_f64();
    let mut due = 0.0_f64;
    let mut counted: Option<tokio::time::Instant> = None;
    let mut progressed: Option<tokio::time::Instant> = None;
    loop {
        let Some(e) = st
            .topo()
            .batches
            .entry(kv_key(id))
            .await
            .map_err(unavailable)?
        else {
            return Ok(());
        };
        let mut b: Batch =
            serde_json::from_slice(&e.value).map_err(|e| GatewayError::Internal(e.to_string()))?;
        if b.is_final() {
            return Ok(());
        }
        let now = schemas::now_ms();
        if b.lease
            .as_ref()
            .is_some_and(|l| l.node != node && l.until_ms > now)
        {
            return Ok(()); // Another ingress drives it.
        }
        b.lease = Some(Lease {
            node: node.clone(),
            until_ms: now + LEASE_MS,
        });
        if lines.is_none() {
            lines = Some(read_lines(st, &b.input_file_id).await?);
        }
        let all = lines.as_deref().unwrap_or_default();
        let published_before = b.published;
        // Counting the answers asks the server for a subject summary of the results stream:
        // once a second while lines are being published, every step after.
        let count = b.published >= all.len()
            || b.status != "in_progress"
            || counted.is_none_or(|t| t.elapsed() >= COUNT_EVERY);
        if count {
            counted = Some(tokio::time::Instant::now());
        }
        due = (due + per_step).min((per_step * CATCH_UP).max(1.0));
        let step = due as usize;
        tick(st, &mut b, all, count, step).await?;
        due -= (b.published - published_before) as f64;
        let bytes = serde_json::to_vec(&b).map_err(|e| GatewayError::Internal(e.to_string()))?;
        // A concurrent change (a cancel) wins; the next tick sees it.
        let stored = st
            .topo()
            .batches
            .update(kv_key(id), bytes.into(), e.revision)
            .await;
        // Progress for NATS subscribers, as GET /v1/batches/{id} shows it (a few times a
        // second at most, and the end).
        let tell = b.is_final() || progressed.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY);
        if stored.is_ok() && tell {
            progressed = Some(tokio::time::Instant::now());
            if let Ok(p) = serde_json::to_vec(&b.view()) {
                let subject = st.topo().subjects.batch_progress(id);
                let _ = st.client().publish(subject, p.into()).await;
            }
        }
        if b.is_final() {
            tracing::info!(batch = %id, status = %b.status, completed = b.request_counts.completed, failed = b.request_counts.failed, "batch finished");
            return Ok(());
        }
        // The next step on schedule while there are lines to publish (at once when behind);
        // otherwise (or when a key's limit held the lines due) wait for answers.
        let publishing = b.status == "in_progress"
            && b.published < all.len()
            && (b.published > published_before || step == 0);
        let now = tokio::time::Instant::now();
        next_step = if publishing {
            (next_step + STEP_PERIOD).max(now)
        } else {
            now + Duration::from_millis(300)
        };
        tokio::time::sleep_until(next_step).await;
    }
}

/// One step of a batch.
async fn tick(
    st: &AppState,
    b: &mut Batch,
    lines: &[Line],
    count: bool,
    step: usize,
) -> Result<(), GatewayError> {
    let now_s = schemas::now_ms() / 1000;
    let expired = b.expires_at.is_some_and(|t| now_s >= t) && b.status == "in_progress";
    if expired {
        b.status = "expiring".into();
    }
    if b.status == "in_progress" && b.published < lines.len() {
        let caller = owner(st, b).await;
        let end = (b.published + step).min(lines.len());
        // Admitted in order (a limit stops here, the next steps go on from this line)...
        let mut ready = Vec::new();
        for (i, line) in lines.iter().enumerate().take(end).skip(b.published) {
            match prepare_line(st, &caller, b, i, line).await? {
                Some(r) => ready.push(r),
                None => break,
            }
        }
        // ...then sent many at once (each waits for its stream ack).
        let n = ready.len();
        let sent: Vec<Result<(), GatewayError>> = futures::stream::iter(ready)
            .map(|r| send(st, b, r))
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        for r in sent {
            r?;
        }
        b.published += n;
    }
    if matches!(b.status.as_str(), "cancelling" | "expiring") && !b.cancel_sent {
        for i in 0..b.published {
            let _ = crate::job::guards::request_cancel(st, &line_job(&b.id, i)).await;
        }
        b.cancel_sent = true;
    }
    if !count {
        return Ok(());
    }
    let (ok, err) = counts(st, &b.id).await?;
    b.request_counts.completed = ok;
    b.request_counts.failed = err;
    let target = if b.status == "in_progress" {
        lines.len()
    } else {
        b.published
    };
    if ok + err >= target {
        b.finalizing_at = Some(now_s);
        finalize(st, b, lines).await?;
        let at = Some(schemas::now_ms() / 1000);
        match b.status.as_str() {
            "cancelling" => (b.status, b.cancelled_at) = ("cancelled".into(), at),
            "expiring" => (b.status, b.expired_at) = ("expired".into(), at),
            _ => (b.status, b.completed_at) = ("completed".into(), at),
        }
        // Lines never published count as failed.
        b.request_counts.failed += lines.len() - b.published.min(lines.len());
    }
    Ok(())
}

/// Who a batch's lines run as: its key (limits and budget apply), the master, or no one.
async fn owner(st: &AppState, b: &Batch) -> Caller {
    match b.key_id.as_deref() {
        None => Caller::Open,
        Some("master") => Caller::Master,
        Some(id) => match st.keyring().record(id).await {
            Some(rec) => Caller::Key(rec),
            None => Caller::Open,
        },
    }
}

/// What a line became before it is sent.
enum Ready {
    /// A job, admitted.
    Job(Box<Submission>),
    /// A failed line's output line (it could not become a job).
    Failed(String, Vec<u8>),
}

/// Line `i` as a job admitted against its key's limits like any request (`None`: the key
/// must wait; admit it later), or as a failed line when it cannot become a job.
async fn prepare_line(
    st: &AppState,
    caller: &Caller,
    b: &Batch,
    i: usize,
    line: &Line,
) -> Result<Option<Ready>, GatewayError> {
    let id = line_job(&b.id, i);
    let op = if b.endpoint == "/v1/embeddings" {
        Operation::Embeddings
    } else {
        Operation::Chat
    };
    let model = line.body["model"].as_str().unwrap_or_default().to_string();
    let built = (|| {
        let route = st.models().resolve(&model)?;
        let bytes = Bytes::from(
            serde_json::to_vec(&line.body).map_err(|e| GatewayError::Internal(e.to_string()))?,
        );
        let mut sub = Submission::new(
            st,
            id.clone(),
            op,
            "/v1/batches",
            Mode::Batch,
            model.clone(),
            route,
            &bytes,
            bytes.clone(),
            &HeaderMap::new(),
        )?;
        sub.job.batch = Some(BatchRef {
            id: b.id.clone(),
            custom_id: line.custom_id.clone(),
        });
        // A batch line may wait for the whole window.
        sub.job.deadline_ms = b.expires_at.unwrap_or(0) * 1000;
        Ok::<_, GatewayError>(sub)
    })();
    match built {
        Ok(mut sub) => {
            match crate::auth::limits::admit(st, caller, &mut sub.job).await {
                Ok(()) => {}
                Err(GatewayError::Limited { .. }) => return Ok(None),
                Err(e) => return Err(e),
            }
            // The batch's owner names every line, as the key that created it.
            sub.job.key_id = b.key_id.clone();
            Ok(Some(Ready::Job(Box::new(sub))))
        }
        Err(e) => {
            let out = OutputLine::answered(
                &id,
                &line.custom_id,
                e.status_code().as_u16(),
                serde_json::json!({"error": e.body()}),
            );
            let payload =
                serde_json::to_vec(&out).map_err(|e| GatewayError::Internal(e.to_string()))?;
            Ok(Some(Ready::Failed(id, payload)))
        }
    }
}

/// Sends a prepared line: the job to its lane, or a failed line's output line.
async fn send(st: &AppState, b: &Batch, ready: Ready) -> Result<(), GatewayError> {
    match ready {
        Ready::Job(sub) => {
            publish(st, &sub).await?;
        }
        Ready::Failed(id, payload) => {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(
                schemas::msgid::HEADER,
                schemas::msgid::batch_line(&id).as_str(),
            );
            st.topo()
                .js
                .publish_with_headers(
                    st.topo().subjects.batch_results(&b.id, false),
                    headers,
                    payload.into(),
                )
                .await
                .map_err(unavailable)?
                .await
                .map_err(unavailable)?;
        }
    }
    Ok(())
}

/// Output lines so far: answered, failed.
async fn counts(st: &AppState, id: &str) -> Result<(usize, usize), GatewayError> {
    let filter = format!("{}.batchresults.{id}.*", st.topo().subjects.prefix());
    let mut info = st
        .topo()
        .batch_results
        .info_with_subjects(filter)
        .await
        .map_err(unavailable)?;
    let (mut ok, mut err) = (0, 0);
    while let Some(Ok((subject, n))) = info.next().await {
        if subject.ends_with(".ok") {
            ok = n;
        } else if subject.ends_with(".err") {
            err = n;
        }
    }
    Ok((ok, err))
}

/// The `n` messages on `subject` of the batch results, read with an ordered consumer (a
/// hundred thousand lines in one pass, not one request each).
async fn read_all(
    st: &AppState,
    subject: String,
    n: usize,
) -> Result<Vec<bytes::Bytes>, GatewayError> {
    use async_nats::jetstream::consumer::{pull, DeliverPolicy};
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return Ok(out);
    }
    let consumer = st
        .bulk()
        .batch_results
        .create_consumer(pull::OrderedConfig {
            filter_subject: subject,
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(unavailable)?;
    let mut messages = consumer.messages().await.map_err(unavailable)?;
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(10), messages.next()).await {
            Ok(Some(Ok(m))) => out.push(m.payload.clone()),
            Ok(Some(Err(e))) => return Err(unavailable(e)),
            Ok(None) | Err(_) => break,
        }
    }
    Ok(out)
}

/// Writes the output and error files (lines never published go in the error file, said to
/// be cancelled or expired).
async fn finalize(st: &AppState, b: &mut Batch, lines: &[Line]) -> Result<(), GatewayError> {
    let read = |ok: bool, n: usize| {
        let subject = st.topo().subjects.batch_results(&b.id, ok);
        async move { read_all(st, subject, n).await }
    };
    let join = |payloads: Vec<bytes::Bytes>| {
        let mut out = Vec::new();
        for p in payloads {
            out.extend_from_slice(&p);
            out.push(b'\n');
        }
        out
    };
    let (ok, err) = (b.request_counts.completed, b.request_counts.failed);
    let output = join(read(true, ok).await?);
    let mut errors = join(read(false, err).await?);
    let code = if b.status == "expiring" {
        "batch_expired"
    } else {
        "batch_cancelled"
    };
    for line in lines.iter().skip(b.published) {
        let l = serde_json::to_vec(&OutputLine::never_ran(&line.custom_id, code))
            .map_err(|e| GatewayError::Internal(e.to_string()))?;
        errors.extend_from_slice(&l);
        errors.push(b'\n');
    }
    let now = schemas::now_ms() / 1000;
    let key = b.key_id.clone();
    if !output.is_empty() {
        let id = format!("file-{}", uuid::Uuid::now_v7().simple());
        let f = crate::files::store(
            st,
            &id,
            &format!("{}_output.jsonl", b.id),
            "batch_output",
            key.as_deref(),
            now,
            output,
        )
        .await?;
        b.output_file_id = Some(f.id);
    }
    if !errors.is_empty() {
        let id = format!("file-{}", uuid::Uuid::now_v7().simple());
        let f = crate::files::store(
            st,
            &id,
            &format!("{}_error.jsonl", b.id),
            "batch_output",
            key.as_deref(),
            now,
            errors,
        )
        .await?;
        b.error_file_id = Some(f.id);
    }
    Ok(())
}
