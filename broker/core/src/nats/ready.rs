//! Starting against a NATS that is not ready yet: a cluster still electing its JetStream
//! leader answers JetStream requests with errors or not at all for a while. Every role waits
//! for it (a log line at each try, with backoff) instead of exiting, up to
//! `nats.jetstream_wait_s`.

use super::topology::{ensure_topology, Topology};
use crate::config::NatsConfig;
use std::time::Duration;

/// Why a role could not start on JetStream.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    /// The server runs without JetStream.
    #[error("JetStream is not enabled on the NATS server `{0}`: start nats-server with -js (or a jetstream block in its config)")]
    Disabled(String),
    /// JetStream did not answer in time.
    #[error("JetStream did not become ready within {waited_s} s (last: {last}); check that a majority of the cluster's nodes run with JetStream, or raise nats.jetstream_wait_s")]
    Timeout {
        /// Seconds waited.
        waited_s: u64,
        /// The last error.
        last: String,
    },
}

/// One try's time limit: long enough for a busy server, short enough to retry a dead one.
const TRY_TIMEOUT: Duration = Duration::from_secs(15);

/// [`ensure_topology`], retried with backoff until JetStream answers (or
/// `cfg.jetstream_wait_s` passes).
pub async fn topology_when_ready(
    client: async_nats::Client,
    cfg: &NatsConfig,
) -> Result<Topology, NotReady> {
    let start = tokio::time::Instant::now();
    let limit = Duration::from_secs(cfg.jetstream_wait_s);
    let mut delay = Duration::from_millis(250);
    let mut tries = 0u32;
    loop {
        tries += 1;
        // The client connects in the background: the server's INFO (JetStream on, a cluster
        // or not) is known once it is connected.
        let until = tokio::time::Instant::now() + TRY_TIMEOUT;
        while client.connection_state() != async_nats::connection::State::Connected
            && tokio::time::Instant::now() < until
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let connected = client.connection_state() == async_nats::connection::State::Connected;
        let info = client.server_info();
        if connected && !info.jetstream {
            return Err(NotReady::Disabled(info.server_name));
        }
        let attempt =
            tokio::time::timeout(TRY_TIMEOUT, Box::pin(ensure_topology(client.clone(), cfg))).await;
        let last = match attempt {
            Ok(Ok(topo)) => {
                if tries > 1 {
                    tracing::info!(
                        tries,
                        waited_ms = start.elapsed().as_millis() as u64,
                        "JetStream is ready"
                    );
                }
                return Ok(topo);
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} s", TRY_TIMEOUT.as_secs()),
        };
        let waited = start.elapsed();
        if waited + delay > limit {
            return Err(NotReady::Timeout {
                waited_s: waited.as_secs(),
                last,
            });
        }
        tracing::warn!(
            error = %last,
            retry_in_ms = delay.as_millis() as u64,
            waited_s = waited.as_secs(),
            "JetStream is not ready (a cluster still electing its leader, or a node missing); waiting"
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
