//! A batch as the Batch API shows it (and as `sy.batches.<id>` publishes its progress), and
//! the lines of its output and error files, in OpenAI's shapes. Published as JSON Schema
//! files (`batch.v1.json`, `batch_output_line.v1.json`) for NATS clients.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `request_counts`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Counts {
    /// Lines in the input file.
    pub total: usize,
    /// Lines answered.
    pub completed: usize,
    /// Lines that failed (or were cancelled or expired).
    pub failed: usize,
}

/// Who drives a batch, and until when (renewed while it runs).
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Lease {
    /// The node.
    pub node: String,
    /// Until then (ms since the epoch).
    pub until_ms: u64,
}

/// A batch as stored; the API (and the JSON Schema) show it without the fields marked
/// internal.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Batch {
    /// `batch_<uuid>`.
    pub id: String,
    /// `batch`.
    pub object: String,
    /// `/v1/chat/completions` or `/v1/embeddings`.
    pub endpoint: String,
    /// Why it failed validation, if it did.
    pub errors: Option<Value>,
    /// The input file.
    pub input_file_id: String,
    /// `24h`.
    pub completion_window: String,
    /// `validating`, `in_progress`, `finalizing`, `completed`, `failed`, `expired`,
    /// `cancelling` or `cancelled`.
    pub status: String,
    /// The output file (answered lines).
    pub output_file_id: Option<String>,
    /// The error file (failed, cancelled or expired lines).
    pub error_file_id: Option<String>,
    /// Seconds since the epoch.
    pub created_at: u64,
    /// When its lines started.
    pub in_progress_at: Option<u64>,
    /// When its window ends.
    pub expires_at: Option<u64>,
    /// When its files started to be written.
    pub finalizing_at: Option<u64>,
    /// When it completed.
    pub completed_at: Option<u64>,
    /// When it failed.
    pub failed_at: Option<u64>,
    /// When it expired.
    pub expired_at: Option<u64>,
    /// When it was asked to cancel.
    pub cancelling_at: Option<u64>,
    /// When it was cancelled.
    pub cancelled_at: Option<u64>,
    /// Lines: total, answered, failed.
    pub request_counts: Counts,
    /// The caller's labels.
    pub metadata: Option<Map<String, Value>>,
    /// Internal: the key that created it.
    #[schemars(skip)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Internal: lines published as jobs so far.
    #[schemars(skip)]
    #[serde(default)]
    pub published: usize,
    /// Internal: cancellations were sent for the published lines.
    #[schemars(skip)]
    #[serde(default)]
    pub cancel_sent: bool,
    /// Internal: who drives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub lease: Option<Lease>,
}

impl Batch {
    /// Whether it is over.
    pub fn is_final(&self) -> bool {
        matches!(
            self.status.as_str(),
            "completed" | "failed" | "expired" | "cancelled"
        )
    }

    /// The API's view: without the internal fields.
    pub fn view(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            for k in ["key_id", "published", "cancel_sent", "lease"] {
                o.remove(k);
            }
            // Ending at its window: OpenAI shows it in progress until it is expired.
            if self.status == "expiring" {
                o.insert("status".into(), Value::String("in_progress".into()));
            }
        }
        v
    }
}

/// One line of a batch's output or error file (and the payload on
/// `sy.batchresults.<batch>.ok|err`), as OpenAI writes it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OutputLine {
    /// `batch_req_<job id without dashes>`; null for a line that never ran.
    pub id: Option<String>,
    /// The input line's `custom_id`.
    pub custom_id: String,
    /// The answer (an error answer too); null for a line that never ran.
    pub response: Option<LineResponse>,
    /// Why a line never ran (cancelled or expired before it started); null otherwise.
    pub error: Option<LineError>,
}

/// The answer of a line.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LineResponse {
    /// The HTTP status the request would have had.
    pub status_code: u16,
    /// The line's job id (its record in the request log).
    pub request_id: String,
    /// The response body: the chat completion or embeddings object, or `{"error": ...}`.
    pub body: Value,
}

/// Why a line never ran.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LineError {
    /// `batch_cancelled` or `batch_expired`.
    pub code: String,
    /// What happened.
    pub message: String,
}

impl OutputLine {
    /// The line of job `job` answered with `status_code` and `body`.
    pub fn answered(job: &str, custom_id: &str, status_code: u16, body: Value) -> Self {
        OutputLine {
            id: Some(format!("batch_req_{}", job.replace('-', ""))),
            custom_id: custom_id.to_string(),
            response: Some(LineResponse {
                status_code,
                request_id: job.to_string(),
                body,
            }),
            error: None,
        }
    }

    /// A line that never ran, with its reason.
    pub fn never_ran(custom_id: &str, code: &str) -> Self {
        OutputLine {
            id: None,
            custom_id: custom_id.to_string(),
            response: None,
            error: Some(LineError {
                code: code.to_string(),
                message: "The line did not run before the batch ended.".into(),
            }),
        }
    }
}
