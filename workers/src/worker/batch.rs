//! A batch line's result, as OpenAI's batch output files have it: the worker that stores a
//! batch job's result also publishes its output line on `sy.batchresults.<batch>.ok|err`
//! (deduplicated by job), which the batch's driver counts and gathers into the output and
//! error files.

use super::Shared;
use schemas::batch::OutputLine;
use schemas::{Job, JobResult, JobState};

/// The output line of a finished batch job.
pub fn output_line(job: &Job, custom_id: &str, r: &JobResult) -> OutputLine {
    let (status, body) = match (&r.response, &r.error) {
        (Some(resp), _) if r.status == JobState::Completed => (
            200,
            serde_json::from_str(resp.get()).unwrap_or(serde_json::Value::Null),
        ),
        (_, Some(e)) => (e.status, serde_json::json!({ "error": e.error })),
        _ => (
            500,
            serde_json::json!({"error": {"message": "the line ended without an answer", "type": "api_error"}}),
        ),
    };
    OutputLine::answered(&job.id, custom_id, status, body)
}

/// Publishes a finished batch job's output line (once: a redelivery is a duplicate).
pub(crate) async fn publish(shared: &Shared, job: &Job, r: &JobResult) {
    let Some(b) = &job.batch else { return };
    let line = output_line(job, &b.custom_id, r);
    let ok = r.status == JobState::Completed;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(
        schemas::msgid::HEADER,
        schemas::msgid::batch_line(&job.id).as_str(),
    );
    headers.insert(BATCH_HEADER, b.id.as_str());
    headers.insert(CUSTOM_ID_HEADER, b.custom_id.as_str());
    let subject = shared.topo.subjects.batch_results(&b.id, ok);
    let sent = async {
        let payload = serde_json::to_vec(&line)?;
        shared
            .topo
            .js
            .publish_with_headers(subject, headers, payload.into())
            .await?
            .await?;
        Ok::<_, async_nats::Error>(())
    };
    if let Err(e) = sent.await {
        tracing::error!(batch = %b.id, error = %e, "cannot publish a batch line's result; the batch waits for it");
    }
}

/// The header naming a result's batch (on `sy.results.<job>` and the batch results).
pub const BATCH_HEADER: &str = "Switchyard-Batch-Id";
/// The header naming a result's batch line.
pub const CUSTOM_ID_HEADER: &str = "Switchyard-Custom-Id";
