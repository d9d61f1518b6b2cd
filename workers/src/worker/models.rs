//! Answers `sy.control.models.<provider>` with the provider's live model list, so the ingress
//! (which hosts no adapters) can serve `GET /v1/models?refresh=true`. One subscription per
//! provider in a queue group: one worker answers each request.

use super::Shared;
use futures::StreamExt;
use schemas::ModelsReply;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Subscribes for every provider and answers until `shutdown`.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) -> Result<Vec<tokio::task::JoinHandle<()>>, async_nats::Error> {
    let s = &shared.topo.subjects;
    let mut tasks = Vec::new();
    for provider in shared.registry.names() {
        let sub = shared
            .client
            .queue_subscribe(s.models(provider), s.models_queue())
            .await?;
        tasks.push(tokio::spawn(answer(
            shared.clone(),
            provider.clone(),
            sub,
            shutdown.clone(),
        )));
    }
    Ok(tasks)
}

async fn answer(
    shared: Arc<Shared>,
    provider: String,
    mut sub: async_nats::Subscriber,
    shutdown: CancellationToken,
) {
    loop {
        let msg = tokio::select! {
            _ = shutdown.cancelled() => break,
            m = sub.next() => match m { Some(m) => m, None => break },
        };
        let Some(reply) = msg.reply else { continue };
        let out = match shared.registry.get(&provider) {
            Some(adapter) => match adapter.list_models().await {
                Ok(data) => ModelsReply { data, error: None },
                Err(e) => {
                    tracing::info!(provider = %provider, error = %e, "listing models failed");
                    ModelsReply {
                        data: Vec::new(),
                        error: Some(e.to_job_error().error),
                    }
                }
            },
            None => continue,
        };
        let payload = serde_json::to_vec(&out).unwrap_or_default();
        if let Err(e) = shared.client.publish(reply, payload.into()).await {
            tracing::warn!(provider = %provider, error = %e, "cannot answer a models request");
        }
    }
    let _ = sub.unsubscribe().await;
}
