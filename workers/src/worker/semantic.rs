//! The semantic cache: a prompt whose embedding is close enough to a cached prompt's (same
//! scope: key, namespace and model) gets that prompt's cached answer, with no provider call.
//! Each worker keeps an in-process HNSW index (`hnsw_rs`, cosine distance) per scope, fed
//! from the `SY_CACHE_VECTORS` stream from its start, so every worker converges on the same
//! entries and a restarted one rebuilds its index. At most `cache.semantic.max_entries`
//! vectors per worker; past that, new ones are not indexed (logged once).

use super::Shared;
use broker::cache::Entry;
use broker::config::SemanticConfig;
use futures::StreamExt;
use hnsw_rs::prelude::{DistCosine, Hnsw};
use schemas::openai::{ChatRequest, EmbeddingInput, EmbeddingsRequest};
use schemas::{Job, JobResult, JobState, Operation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::RwLock;
use tokio_util::sync::CancellationToken;

/// One cached prompt's embedding, as published on `sy.cachevec.<scope>`.
#[derive(Debug, Serialize, Deserialize)]
struct Vector {
    /// `<key id>.<namespace>.<model>`.
    scope: String,
    /// The answer's exact-cache key.
    key: String,
    /// The prompt's embedding.
    vector: Vec<f32>,
    /// When the answer expires (ms since the epoch).
    expires_ms: u64,
}

struct Scope {
    hnsw: Hnsw<'static, f32, DistCosine>,
    entries: Vec<(String, u64)>,
}

/// The per-scope indexes of one worker.
pub struct Semantic {
    cfg: SemanticConfig,
    scopes: RwLock<HashMap<String, Scope>>,
    count: AtomicUsize,
    full_logged: AtomicBool,
}

/// What a semantic lookup found.
pub enum Looked {
    /// A cached answer and its similarity.
    Hit(Box<Entry>, f32),
    /// None; the prompt's embedding, to index with the answer.
    Miss(Option<Vec<f32>>),
}

/// The scope of an exact-cache key `c.<key>.<ns>.<model>.<hash>`.
fn scope_of(key: &str) -> Option<String> {
    let t: Vec<&str> = key.split('.').collect();
    (t.len() == 5).then(|| format!("{}.{}.{}", t[1], t[2], t[3]))
}

impl Semantic {
    /// Empty indexes.
    pub fn new(cfg: SemanticConfig) -> Self {
        Self {
            cfg,
            scopes: RwLock::new(HashMap::new()),
            count: AtomicUsize::new(0),
            full_logged: AtomicBool::new(false),
        }
    }

    fn insert(&self, v: Vector) {
        if v.expires_ms <= schemas::now_ms() {
            return;
        }
        if self.count.load(Ordering::Relaxed) >= self.cfg.max_entries {
            if !self.full_logged.swap(true, Ordering::Relaxed) {
                tracing::warn!(max_entries = self.cfg.max_entries, "the semantic cache index is full; new prompts are not indexed (raise cache.semantic.max_entries)");
            }
            return;
        }
        let Ok(mut scopes) = self.scopes.write() else {
            return;
        };
        let scope = scopes.entry(v.scope).or_insert_with(|| Scope {
            hnsw: Hnsw::new(16, 1024, 16, 200, DistCosine {}),
            entries: Vec::new(),
        });
        let id = scope.entries.len();
        scope.hnsw.insert((&v.vector, id));
        scope.entries.push((v.key, v.expires_ms));
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The nearest live cached prompt of `scope`, with its similarity.
    fn nearest(&self, scope: &str, vector: &[f32]) -> Option<(String, f32)> {
        let scopes = self.scopes.read().ok()?;
        let s = scopes.get(scope)?;
        let now = schemas::now_ms();
        s.hnsw
            .search(vector, 4, 32)
            .into_iter()
            .filter_map(|n| {
                let (key, expires) = s.entries.get(n.d_id)?;
                (*expires > now).then(|| (key.clone(), 1.0 - n.distance))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// The text a chat prompt means: its messages, role by role.
fn prompt(job: &Job) -> Option<String> {
    let req: ChatRequest = serde_json::from_str(job.body.get()).ok()?;
    let text: Vec<String> = req
        .messages
        .iter()
        .map(|m| format!("{}: {}", m.role, m.text()))
        .collect();
    Some(text.join("\n"))
}

/// The embedding of `text` by the configured embeddings model.
async fn embed(shared: &Shared, sem: &Semantic, job: &Job, text: String) -> Option<Vec<f32>> {
    let (provider, model) = sem.cfg.model.split_once('/')?;
    let adapter = shared.registry.get(provider)?;
    let req = EmbeddingsRequest {
        model: model.to_string(),
        input: EmbeddingInput::Text(text),
        encoding_format: None,
        dimensions: None,
        user: None,
        extra: Default::default(),
    };
    let ctx = crate::provider::CallCtx {
        job_id: job.id.clone(),
        deadline: None,
        traceparent: None,
    };
    let call = adapter.embed(req, &ctx);
    let timeout = std::time::Duration::from_millis(shared.cache_timeout_ms.max(1000));
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(resp)) => {
            let v = resp.data.first()?.embedding.clone();
            serde_json::from_value(v).ok()
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot embed the prompt; no semantic lookup");
            broker::telemetry::metrics::cache_error("embed");
            None
        }
        Err(_) => {
            broker::telemetry::metrics::cache_error("embed");
            None
        }
    }
}

/// Looks the job's prompt up by meaning, when its cache plan asks for it.
pub async fn lookup(shared: &Shared, job: &Job) -> Looked {
    let (Some(sem), Some(plan)) = (&shared.semantic, &job.cache) else {
        return Looked::Miss(None);
    };
    let Some(threshold) = plan
        .semantic_threshold
        .filter(|_| job.op == Operation::Chat)
    else {
        return Looked::Miss(None);
    };
    let (Some(scope), Some(text)) = (scope_of(&plan.key), prompt(job)) else {
        return Looked::Miss(None);
    };
    let Some(vector) = embed(shared, sem, job, text).await else {
        return Looked::Miss(None);
    };
    if plan.semantic_lookup {
        if let Some((key, sim)) = sem
            .nearest(&scope, &vector)
            .filter(|(_, s)| *s >= threshold)
        {
            match shared.cache.get(&key).await {
                Ok(Some(e)) => return Looked::Hit(Box::new(e), sim),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "semantic cache lookup skipped");
                    broker::telemetry::metrics::cache_error("get");
                }
            }
        }
    }
    Looked::Miss(Some(vector))
}

/// The result of a semantic hit.
pub fn answer(shared: &Shared, job: &Job, entry: &Entry, similarity: f32) -> JobResult {
    let mut r = super::execute::result(shared, job, JobState::Completed, None, 0);
    r.provider = Some(entry.provider.clone());
    r.model = Some(entry.model.clone());
    r.response = Some(entry.response.clone());
    r.cache = Some("semantic-hit".into());
    r.similarity = Some(similarity);
    r
}

/// Publishes the embedding of a prompt whose answer was cached, for every worker's index.
pub async fn publish(shared: &Shared, job: &Job, vector: Vec<f32>) {
    let Some(plan) = &job.cache else { return };
    let Some(scope) = scope_of(&plan.key) else {
        return;
    };
    let v = Vector {
        scope,
        key: plan.key.clone(),
        vector,
        expires_ms: schemas::now_ms() + plan.ttl_s * 1000,
    };
    let subject = shared.topo.subjects.cache_vectors(&job.id);
    let sent = async {
        let payload = serde_json::to_vec(&v)?;
        shared
            .topo
            .js
            .publish(subject, payload.into())
            .await?
            .await?;
        Ok::<_, async_nats::Error>(())
    };
    if let Err(e) = sent.await {
        tracing::warn!(error = %e, "cannot publish the prompt's embedding to the semantic cache");
        broker::telemetry::metrics::cache_error("put");
    }
}

/// Feeds this worker's indexes from the vectors stream, from its start, until `stop`.
pub async fn follow(shared: std::sync::Arc<Shared>, stop: CancellationToken) {
    use async_nats::jetstream::consumer::{push, DeliverPolicy};
    let Some(sem) = shared.semantic.as_ref() else {
        return;
    };
    let Some(stream) = shared.topo.cache_vectors.clone() else {
        return;
    };
    let consumer = stream
        .create_consumer(push::OrderedConfig {
            deliver_subject: shared.client.new_inbox(),
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await;
    let mut messages = match consumer {
        Ok(c) => match c.messages().await {
            Ok(m) => m,
            Err(e) => {
                return tracing::warn!(error = %e, "cannot follow the semantic cache's vectors")
            }
        },
        Err(e) => return tracing::warn!(error = %e, "cannot follow the semantic cache's vectors"),
    };
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return,
            m = messages.next() => m,
        };
        match next {
            Some(Ok(m)) => {
                if let Ok(v) = serde_json::from_slice::<Vector>(&m.payload) {
                    sem.insert(v);
                }
            }
            Some(Err(e)) => {
                tracing::debug!(error = %e, "semantic cache vectors: a message was lost")
            }
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_live_prompt_of_its_scope() {
        let s = Semantic::new(SemanticConfig::default());
        let v = |t: &str| crate::providers::mock::embed_text(t, 16);
        let future = schemas::now_ms() + 60_000;
        s.insert(Vector {
            scope: "a".into(),
            key: "k1".into(),
            vector: v("the capital of france"),
            expires_ms: future,
        });
        s.insert(Vector {
            scope: "a".into(),
            key: "k2".into(),
            vector: v("a poem about leaves"),
            expires_ms: future,
        });
        s.insert(Vector {
            scope: "b".into(),
            key: "k3".into(),
            vector: v("the capital of france"),
            expires_ms: future,
        });
        let (key, sim) = s.nearest("a", &v("the capital of france")).unwrap();
        assert_eq!(key, "k1");
        assert!(sim > 0.99, "{sim}");
        assert!(s.nearest("c", &v("x")).is_none());
        assert_eq!(scope_of("c.k.ns.m.h").as_deref(), Some("k.ns.m"));
    }
}
