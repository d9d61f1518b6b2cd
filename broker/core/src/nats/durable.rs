//! Publishing to a stream through a cluster's failover: a node dying or a stream electing a
//! new leader fails a publish (no responders, a timeout) for a few seconds. The publish is
//! tried again within a patience, under the same `Nats-Msg-Id`, so the stream keeps one copy.

use async_nats::jetstream::{self, stream};
use std::time::Duration;

/// What a stored publish came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Stored now.
    New,
    /// The stream had it before this publish (another process published it first).
    Duplicate,
}

/// Where a message with one copy per subject may already be.
pub struct Unique<'a> {
    /// The stream that keeps it.
    pub stream: &'a stream::Stream,
    /// The subject it is stored under (the stream may store a publish under another).
    pub stored_as: &'a str,
    /// Read it before the first try too: another process may have stored it meanwhile (a
    /// redelivered job, or a connection that dropped while the work ran).
    pub check_first: bool,
}

/// Publishes `payload` on `subject` and waits for the stream's ack, trying again until
/// `patience` passes. When `subject` holds one message per id (`sy.results.<job>`), pass its
/// stream as `unique`: before a retry it is read, and a message already stored is not
/// published again, so core subscribers get it once: this payload (an earlier try whose ack
/// was lost) is [`Stored::New`], another (another process's) [`Stored::Duplicate`].
pub async fn publish(
    js: &jetstream::Context,
    subject: String,
    headers: async_nats::HeaderMap,
    payload: bytes::Bytes,
    patience: Duration,
    unique: Option<Unique<'_>>,
) -> Result<Stored, async_nats::Error> {
    let until = tokio::time::Instant::now() + patience;
    let mut delay = Duration::from_millis(50);
    let mut tries = 0u32;
    loop {
        if let Some(u) = unique.as_ref().filter(|u| tries > 0 || u.check_first) {
            match stored_payload(u.stream, u.stored_as).await {
                // Byte for byte this payload: an earlier try of this publish stored it.
                Ok(Some(p)) if tries > 0 && p == payload => return Ok(Stored::New),
                // Another process's (a redelivered job's run): that one counts.
                Ok(Some(_)) => return Ok(Stored::Duplicate),
                Ok(None) => {}
                // Not knowing is not "not there": ask again rather than publish twice.
                Err(e) if tokio::time::Instant::now() + delay < until => {
                    tracing::debug!(%subject, error = %e, "cannot read the stream yet; asking again");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_millis(1000));
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        let sent = async {
            js.publish_with_headers(subject.clone(), headers.clone(), payload.clone())
                .await?
                .await
                .map_err(async_nats::Error::from)
        };
        match sent.await {
            // A duplicate on a retry is this publish's own earlier try.
            Ok(ack) if ack.duplicate && tries == 0 => return Ok(Stored::Duplicate),
            Ok(_) => return Ok(Stored::New),
            Err(e) if tokio::time::Instant::now() + delay < until => {
                tracing::debug!(%subject, error = %e, tries, "publish failed; trying again");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(1000));
                tries += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether `stream` holds a message on `subject`, asked of its leader (a direct get may be
/// answered by a replica still catching up after a failover, which would say "no" wrongly).
pub async fn stored(stream: &stream::Stream, subject: &str) -> Result<bool, async_nats::Error> {
    Ok(stored_payload(stream, subject).await?.is_some())
}

/// The payload `stream` holds on `subject`, asked of its leader (see [`stored`]).
pub async fn stored_payload(
    stream: &stream::Stream,
    subject: &str,
) -> Result<Option<bytes::Bytes>, async_nats::Error> {
    use async_nats::jetstream::stream::LastRawMessageErrorKind;
    match stream.get_last_raw_message_by_subject(subject).await {
        Ok(m) => Ok(Some(m.payload)),
        Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}
