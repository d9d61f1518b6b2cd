//! Calling an adapter the way its table says: check the request first ([`admit`]), then
//! do around the call what the gateway emulates — `n` as several calls whose choices are
//! merged, `parallel_tool_calls: false` by keeping the first tool call of an answer.
//!
//! The worker and the conformance tests call adapters only through [`chat`] and
//! [`chat_stream`], so what the matrix says is what runs.

use super::admit::admit;
use crate::error::ProviderError;
use crate::provider::{CallCtx, ChunkStream, Provider};
use futures::stream::{self, StreamExt};
use schemas::openai::{ChatChunk, ChatRequest, ChatResponse, Usage};

/// A chat completion within the target's capabilities.
pub async fn chat(
    p: &dyn Provider,
    mut req: ChatRequest,
    ctx: &CallCtx,
) -> Result<ChatResponse, ProviderError> {
    let plan = admit(p.capabilities(), p.name(), &req, false)?;
    let mut resp = match plan.calls.filter(|n| *n > 1) {
        Some(n) => {
            req.extra.remove("n");
            let calls = (0..n).map(|_| p.chat(req.clone(), ctx));
            merge(futures::future::try_join_all(calls).await?)
        }
        None => p.chat(req, ctx).await?,
    };
    if plan.first_call_only {
        for c in &mut resp.choices {
            if let Some(calls) = c.message.tool_calls.as_mut() {
                calls.truncate(1);
            }
        }
    }
    Ok(resp)
}

/// The choices of several completions as one, re-indexed in call order, with the usage
/// summed (each call was billed).
fn merge(mut all: Vec<ChatResponse>) -> ChatResponse {
    let mut first = all.remove(0);
    for r in all {
        first.choices.extend(r.choices);
        first.usage = add_usage(first.usage.take(), r.usage);
    }
    for (i, c) in first.choices.iter_mut().enumerate() {
        c.index = i as u32;
    }
    first
}

fn add_usage(a: Option<Usage>, b: Option<Usage>) -> Option<Usage> {
    let (mut a, b) = match (a, b) {
        (Some(a), Some(b)) => (a, b),
        (a, b) => return a.or(b),
    };
    a.prompt_tokens += b.prompt_tokens;
    a.completion_tokens += b.completion_tokens;
    a.total_tokens += b.total_tokens;
    let sum = |x: Option<u64>, y: Option<u64>| match (x, y) {
        (None, None) => None,
        (x, y) => Some(x.unwrap_or(0) + y.unwrap_or(0)),
    };
    if let Some(bd) = b.prompt_tokens_details {
        let ad = a.prompt_tokens_details.get_or_insert_with(Default::default);
        ad.cached_tokens = sum(ad.cached_tokens, bd.cached_tokens);
        ad.cache_creation_tokens = sum(ad.cache_creation_tokens, bd.cache_creation_tokens);
    }
    if let Some(bd) = b.completion_tokens_details {
        let ad = a
            .completion_tokens_details
            .get_or_insert_with(Default::default);
        ad.reasoning_tokens = sum(ad.reasoning_tokens, bd.reasoning_tokens);
    }
    Some(a)
}

/// A streamed chat completion within the target's capabilities.
pub async fn chat_stream(
    p: &dyn Provider,
    mut req: ChatRequest,
    ctx: &CallCtx,
) -> Result<ChunkStream, ProviderError> {
    let plan = admit(p.capabilities(), p.name(), &req, true)?;
    let s = match plan.calls.filter(|n| *n > 1) {
        Some(n) => {
            req.extra.remove("n");
            let opens = (0..n).map(|_| p.chat_stream(req.clone(), ctx));
            interleave(futures::future::try_join_all(opens).await?)
        }
        None => p.chat_stream(req, ctx).await?,
    };
    Ok(if plan.first_call_only {
        first_call_only(s)
    } else {
        s
    })
}

/// Several streams as one: stream `i`'s choice becomes choice `i`, every chunk takes the
/// first stream's id, and the usage chunks are held back and summed into one last chunk.
fn interleave(streams: Vec<ChunkStream>) -> ChunkStream {
    let tagged = streams
        .into_iter()
        .enumerate()
        .map(|(i, s)| s.map(move |item| (i as u32, item)).boxed());
    struct St {
        all: stream::SelectAll<futures::stream::BoxStream<'static, (u32, ChunkItem)>>,
        id: Option<String>,
        usage: Option<Usage>,
        last: Option<ChatChunk>,
        done: bool,
    }
    type ChunkItem = Result<ChatChunk, ProviderError>;
    let st = St {
        all: stream::select_all(tagged),
        id: None,
        usage: None,
        last: None,
        done: false,
    };
    stream::unfold(st, |mut st| async move {
        loop {
            if st.done {
                return None;
            }
            let Some((i, item)) = st.all.next().await else {
                st.done = true;
                let mut last = st.last.take()?;
                last.choices.clear();
                last.usage = st.usage.take();
                return last.usage.is_some().then_some((Ok(last), st));
            };
            let mut c = match item {
                Ok(c) => c,
                Err(e) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
            };
            let id = st.id.get_or_insert_with(|| c.id.clone()).clone();
            c.id = id;
            for ch in &mut c.choices {
                ch.index = i;
            }
            if let Some(u) = c.usage.take() {
                st.usage = add_usage(st.usage.take(), Some(u));
                st.last = Some(c.clone());
                if c.choices.is_empty() {
                    continue;
                }
            }
            return Some((Ok(c), st));
        }
    })
    .boxed()
}

/// Drops every tool call fragment after the first call of each choice.
fn first_call_only(s: ChunkStream) -> ChunkStream {
    s.filter_map(|item| async move {
        let Ok(mut c) = item else {
            return Some(item);
        };
        for ch in &mut c.choices {
            if let Some(calls) = ch.delta.tool_calls.as_mut() {
                calls.retain(|t| t.index == 0);
                if calls.is_empty() {
                    ch.delta.tool_calls = None;
                }
            }
        }
        let empty = |ch: &schemas::openai::ChunkChoice| {
            ch.finish_reason.is_none()
                && ch.delta.role.is_none()
                && ch.delta.content.is_none()
                && ch.delta.tool_calls.is_none()
                && ch.delta.extra.is_empty()
        };
        if !c.choices.is_empty() && c.choices.iter().all(empty) && c.usage.is_none() {
            return None;
        }
        Some(Ok(c))
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_of_merged_calls_is_summed() {
        let mut a = Usage::new(3, 4);
        a.prompt_tokens_details = Some(schemas::openai::PromptTokensDetails {
            cached_tokens: Some(2),
            ..Default::default()
        });
        let b = Usage::new(3, 5);
        let u = add_usage(Some(a), Some(b)).unwrap_or_default();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (6, 9, 15)
        );
        assert_eq!(
            u.prompt_tokens_details.and_then(|d| d.cached_tokens),
            Some(2)
        );
    }
}
