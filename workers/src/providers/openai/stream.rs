//! An OpenAI-style SSE body (`data: {chunk}` ... `data: [DONE]`) as a chunk stream.

use super::error::from_stream_event;
use crate::error::{ErrorKind, ProviderError};
use crate::provider::ChunkStream;
use crate::providers::http::{excerpt, transport_error};
use crate::providers::sse;
use futures::StreamExt;
use schemas::openai::ChatChunk;

/// Decodes the streamed body of a successful response. The stream ends at `[DONE]`, at an
/// error event (as an `Err`), or when the body ends.
pub(crate) fn chunks(provider: &str, resp: reqwest::Response) -> ChunkStream {
    let name = provider.to_string();
    sse::decode(resp.bytes_stream().boxed())
        .map(
            move |ev| -> Option<Result<Option<ChatChunk>, ProviderError>> {
                let ev = match ev {
                    Ok(ev) => ev,
                    Err(e) => return Some(Err(transport_error(&name, &e))),
                };
                let data = ev.data.trim();
                if data == "[DONE]" {
                    return None;
                }
                if data.is_empty() {
                    return Some(Ok(None));
                }
                if let Some(e) = from_stream_event(&name, data) {
                    return Some(Err(e));
                }
                match serde_json::from_str::<ChatChunk>(data) {
                    // A metadata-only frame (Azure's leading `prompt_filter_results`): no id, no
                    // choices, no usage. Nothing for the client.
                    Ok(c) if c.id.is_empty() && c.choices.is_empty() && c.usage.is_none() => {
                        Some(Ok(None))
                    }
                    Ok(c) => Some(Ok(Some(c))),
                    Err(e) => Some(Err(ProviderError::new(
                        ErrorKind::Decode,
                        &name,
                        format!(
                            "cannot decode a stream chunk: {e}; data: {}",
                            excerpt(data.as_bytes())
                        ),
                    ))),
                }
            },
        )
        .take_while(|c| futures::future::ready(c.is_some()))
        .filter_map(|c| futures::future::ready(c.and_then(Result::transpose)))
        .boxed()
}
