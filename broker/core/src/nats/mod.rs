//! The NATS side: connecting, and the JetStream topology every role relies on.

pub mod durable;
pub mod heartbeat;
mod ready;
pub mod replicas;
mod topology;

pub use ready::{topology_when_ready, NotReady};
pub use topology::{ensure_topology, stored_partitions, Topology};

use crate::config::NatsConfig;
use std::time::Duration;

/// Disconnections from NATS this process has seen, for work that must know whether its
/// connection dropped while it ran (see [`disconnects`]).
static DISCONNECTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many times this process's NATS connections dropped so far: compare a reading from
/// before a piece of work with one after to learn whether it ran through a disconnection.
pub fn disconnects() -> u64 {
    DISCONNECTS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Connects to NATS with reconnects forever; `name` shows in the server's connection list.
///
/// The first connection is retried by the client in the background, so a role started
/// before its NATS comes up waits for it instead of failing. `url` may list several servers
/// of one cluster, comma-separated (`nats://a:4222,nats://b:4222`).
pub async fn connect(
    url: &str,
    cfg: &NatsConfig,
    name: &str,
) -> Result<async_nats::Client, async_nats::ConnectError> {
    let mut opts = async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(3))
        .request_timeout(Some(Duration::from_secs(5)))
        .max_reconnects(None)
        .reconnect_delay_callback(|n| Duration::from_millis((100 * n as u64).min(2_000)))
        .event_callback(|ev| async move {
            match ev {
                async_nats::Event::Disconnected => {
                    DISCONNECTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!("NATS disconnected; reconnecting")
                }
                async_nats::Event::Connected => tracing::info!("NATS connected"),
                other => tracing::debug!(event = %other, "NATS event"),
            }
        });
    opts = authenticate(opts, cfg).await?;
    opts.connect(server_list(url)).await
}

/// The connection's credentials and TLS, as `[nats]` sets them.
async fn authenticate(
    mut opts: async_nats::ConnectOptions,
    cfg: &NatsConfig,
) -> Result<async_nats::ConnectOptions, async_nats::ConnectError> {
    let io = |e: std::io::Error| {
        async_nats::ConnectError::with_source(async_nats::ConnectErrorKind::Io, e)
    };
    if let Some(creds) = &cfg.credentials {
        opts = opts.credentials_file(creds).await.map_err(io)?;
    }
    if let (Some(user), Some(pw)) = (&cfg.user, &cfg.password) {
        opts = opts.user_and_password(user.clone(), pw.expose().to_string());
    }
    if let Some(token) = &cfg.token {
        opts = opts.token(token.expose().to_string());
    }
    if let Some(seed) = &cfg.nkey_seed {
        opts = opts.nkey(seed.expose().to_string());
    }
    if let Some(ca) = &cfg.tls_ca {
        opts = opts.add_root_certificates(ca.clone());
    }
    match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(cert), Some(key)) => {
            opts = opts.add_client_certificate(cert.clone(), key.clone());
        }
        (None, None) => {}
        _ => {
            return Err(io(std::io::Error::other(
                "nats.tls_cert and nats.tls_key go together: set both, or neither",
            )))
        }
    }
    if cfg.tls || cfg.tls_ca.is_some() || cfg.tls_cert.is_some() {
        opts = opts.require_tls(true);
    }
    Ok(opts)
}

/// The servers of a comma-separated `nats.url`, blanks dropped.
fn server_list(url: &str) -> Vec<&str> {
    url.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// The headers of a job message: its `Nats-Msg-Id` (one per hop, so a fallback is not taken
/// for a duplicate of the first publish) and its `traceparent`.
pub fn job_headers(job: &schemas::Job) -> async_nats::HeaderMap {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(
        schemas::msgid::HEADER,
        schemas::msgid::job(&job.id, job.hop).as_str(),
    );
    if let Some(tp) = &job.traceparent {
        headers.insert("traceparent", tp.as_str());
    }
    headers
}

/// The payloads of the messages on `subject` (wildcards allowed) in `stream`, oldest first,
/// at most `limit`, read with direct gets (no consumer).
pub async fn subject_payloads(
    stream: &async_nats::jetstream::stream::Stream,
    subject: &str,
    limit: usize,
) -> Result<Vec<bytes::Bytes>, async_nats::jetstream::stream::DirectGetError> {
    let mut out = Vec::new();
    let mut seq = None;
    while out.len() < limit {
        match stream
            .direct_get_next_for_subject(subject.to_string(), seq)
            .await
        {
            Ok(msg) => {
                seq = Some(msg.sequence + 1);
                out.push(msg.payload);
            }
            Err(e) if e.kind() == async_nats::jetstream::stream::DirectGetErrorKind::NotFound => {
                break
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Whether the client is connected right now.
pub fn is_connected(client: &async_nats::Client) -> bool {
    matches!(
        client.connection_state(),
        async_nats::connection::State::Connected
    )
}

#[cfg(test)]
mod tests {
    use super::server_list;

    #[test]
    fn comma_separated_urls_are_split() {
        assert_eq!(
            server_list("nats://a:4222, nats://b:4222,,nats://c:4222"),
            vec!["nats://a:4222", "nats://b:4222", "nats://c:4222"]
        );
        assert_eq!(server_list("nats://a:4222"), vec!["nats://a:4222"]);
    }
}
