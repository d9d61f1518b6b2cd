//! Asking the auditor service over NATS (used by the ingress and any other tool).

use super::protocol::{
    partition_subject, subject, BodyPart, BodyQuery, FullRecord, IdQuery, ListPage, Reply, Stats,
    DEFAULT_LIMIT, MAX_LIMIT,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;

/// Why a query got no answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// No auditor is subscribed, or none answered in time.
    #[error("No auditor answered on {subject} ({why}). Start one with `switchyard auditor` (or `switchyard serve`) against this NATS (for a partitioned log, one with `[auditor] partition` set to the partition the subject names), then try again.")]
    NoAuditor {
        /// The subject asked.
        subject: String,
        /// No responders or timeout.
        why: String,
    },
    /// The auditor answered with an error.
    #[error("{message}")]
    Status {
        /// HTTP status to answer with.
        status: u16,
        /// What is wrong and what to do next.
        message: String,
    },
    /// The request or the reply cannot be encoded.
    #[error("the auditor query failed: {0}")]
    Protocol(String),
}

/// A client of the auditor service.
#[derive(Clone)]
pub struct AuditorClient {
    client: async_nats::Client,
    subjects: schemas::Subjects,
    timeout: Duration,
}

impl AuditorClient {
    /// A client over `client` for subject `prefix`, of a log that is not partitioned.
    pub fn new(client: async_nats::Client, prefix: &str) -> Self {
        Self::for_subjects(client, &schemas::Subjects::new(prefix))
    }

    /// A client of the log `subjects` names: with partitions, a job's query goes to its
    /// partition's auditors, and lists and stats to one auditor of each, merged.
    pub fn for_subjects(client: async_nats::Client, subjects: &schemas::Subjects) -> Self {
        Self {
            client,
            subjects: subjects.clone(),
            timeout: Duration::from_secs(5),
        }
    }

    /// Calls `endpoint` with `req` and decodes the answer, as one full copy of the log
    /// answers it.
    pub async fn call<Q: Serialize, R: DeserializeOwned>(
        &self,
        endpoint: &str,
        req: &Q,
    ) -> Result<R, QueryError> {
        let n = self.subjects.partitions();
        let prefix = self.subjects.prefix();
        let protocol = |e: serde_json::Error| QueryError::Protocol(e.to_string());
        let value = serde_json::to_value(req).map_err(protocol)?;
        let answer: serde_json::Value = if n <= 1 {
            let v = self.ask(subject(prefix, endpoint), &value).await?;
            match endpoint {
                "stats" => serde_json::to_value(super::merge::finish(
                    serde_json::from_value::<Stats>(v).map_err(protocol)?,
                ))
                .map_err(protocol)?,
                _ => v,
            }
        } else if let Some(id) = value.get("id").and_then(|v| v.as_str()) {
            // One job's: its partition's auditors.
            let k = self.subjects.partition(id);
            self.ask(partition_subject(prefix, k, endpoint), &value)
                .await?
        } else {
            match endpoint {
                "list" => {
                    let limit = value
                        .get("limit")
                        .and_then(|l| l.as_u64())
                        .map_or(DEFAULT_LIMIT, |l| l as usize)
                        .clamp(1, MAX_LIMIT);
                    let pages: Vec<ListPage> = self.ask_all(endpoint, &value).await?;
                    serde_json::to_value(super::merge::pages(pages, limit)).map_err(protocol)?
                }
                "stats" => {
                    let mut merged = super::merge::stats(self.ask_all(endpoint, &value).await?);
                    // A part's busiest names are not the whole's: each part is asked again
                    // for the series of the whole's busiest.
                    let group = value.get("group").and_then(|g| g.as_str());
                    let step = value.get("step_ms").is_some_and(|s| !s.is_null());
                    if let (Some(group), true) = (group, step) {
                        let names = super::merge::busiest(&merged, group);
                        let mut again = value.clone();
                        again["names"] = serde_json::json!(names);
                        let parts: Vec<Stats> = self.ask_all(endpoint, &again).await?;
                        merged.groups = super::merge::groups_of(&parts, &names);
                    }
                    serde_json::to_value(merged).map_err(protocol)?
                }
                other => {
                    return Err(QueryError::Protocol(format!(
                        "`{other}` without a job id cannot be asked of a partitioned log"
                    )))
                }
            }
        };
        serde_json::from_value(answer).map_err(protocol)
    }

    /// Asks `endpoint` of one auditor of every partition, at once.
    async fn ask_all<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        req: &serde_json::Value,
    ) -> Result<Vec<T>, QueryError> {
        let prefix = self.subjects.prefix();
        let asks = (0..self.subjects.partitions())
            .map(|k| self.ask(partition_subject(prefix, k, endpoint), req));
        futures::future::try_join_all(asks)
            .await?
            .into_iter()
            .map(|v| serde_json::from_value(v).map_err(|e| QueryError::Protocol(e.to_string())))
            .collect()
    }

    /// Asks `subject` and returns the answer's JSON.
    async fn ask(
        &self,
        subject: String,
        req: &serde_json::Value,
    ) -> Result<serde_json::Value, QueryError> {
        let payload = serde_json::to_vec(req).map_err(|e| QueryError::Protocol(e.to_string()))?;
        let request = async_nats::Request::new()
            .payload(payload.into())
            .timeout(Some(self.timeout));
        let msg = self
            .client
            .send_request(subject.clone(), request)
            .await
            .map_err(|e| {
                let why = match e.kind() {
                    async_nats::RequestErrorKind::NoResponders => "no responders".to_string(),
                    async_nats::RequestErrorKind::TimedOut => "timed out".to_string(),
                    _ => e.to_string(),
                };
                QueryError::NoAuditor {
                    subject: subject.clone(),
                    why,
                }
            })?;
        match serde_json::from_slice::<Reply<serde_json::Value>>(&msg.payload) {
            Ok(Reply::Ok(v)) => Ok(v),
            Ok(Reply::Err { status, message }) => Err(QueryError::Status { status, message }),
            Err(e) => Err(QueryError::Protocol(format!(
                "undecodable reply on {subject}: {e}"
            ))),
        }
    }
}

impl AuditorClient {
    /// The full record of `id`, its bodies fetched in parts when they were too large for
    /// one reply.
    pub async fn full_record(&self, id: &str) -> Result<FullRecord, QueryError> {
        let mut rec: FullRecord = self.call("get", &IdQuery { id: id.into() }).await?;
        let Some(parts) = rec.parts.take() else {
            return Ok(rec);
        };
        for (kind, n) in [("request", parts.request), ("response", parts.response)] {
            if n == 0 {
                continue;
            }
            let mut text = String::new();
            for part in 0..n {
                let q = BodyQuery {
                    id: id.into(),
                    kind: kind.into(),
                    part,
                };
                let p: BodyPart = self.call("body", &q).await?;
                text.push_str(&p.data);
            }
            let body = serde_json::from_str(&text).map_err(|e| {
                QueryError::Protocol(format!("the {kind} body of {id} does not reassemble: {e}"))
            })?;
            match kind {
                "request" => rec.request = Some(body),
                _ => rec.response = Some(body),
            }
        }
        Ok(rec)
    }
}
