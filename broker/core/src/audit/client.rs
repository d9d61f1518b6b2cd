//! Asking the auditor service over NATS (used by the ingress and any other tool).

use super::protocol::{subject, BodyPart, BodyQuery, FullRecord, IdQuery, Reply};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;

/// Why a query got no answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// No auditor is subscribed, or none answered in time.
    #[error("No auditor answered on {subject} ({why}). Start one with `switchyard auditor` (or `switchyard serve`) against this NATS, then try again.")]
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
    prefix: String,
    timeout: Duration,
}

impl AuditorClient {
    /// A client over `client` for subject `prefix`.
    pub fn new(client: async_nats::Client, prefix: &str) -> Self {
        Self {
            client,
            prefix: prefix.to_string(),
            timeout: Duration::from_secs(5),
        }
    }

    /// Calls `endpoint` with `req` and decodes the answer.
    pub async fn call<Q: Serialize, R: DeserializeOwned>(
        &self,
        endpoint: &str,
        req: &Q,
    ) -> Result<R, QueryError> {
        let subject = subject(&self.prefix, endpoint);
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
        match serde_json::from_slice::<Reply<R>>(&msg.payload) {
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
