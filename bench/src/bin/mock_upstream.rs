//! `mock-upstream [ADDR]`: a fast mock of an OpenAI-compatible API for load tests.
//!
//! `POST /v1/chat/completions` answers instantly with one fixed completion in the OpenAI
//! wire format (`chat.completion`, with usage), or, when the body asks for `"stream":true`,
//! the same answer as `chat.completion.chunk` SSE events ending in `data: [DONE]`. The body
//! is not parsed beyond that check, so the mock costs as little CPU as possible and the load
//! test measures the gateway, not the upstream. Listens on `127.0.0.1:9100` by default and
//! runs one tokio worker thread per core.

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

const COMPLETION: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1764300000,"model":"gpt-bench","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the mock upstream."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":6,"total_tokens":15}}"#;

const STREAM: &str = concat!(
    "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1764300000,\"model\":\"gpt-bench\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hello from\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1764300000,\"model\":\"gpt-bench\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" the mock upstream.\"},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1764300000,\"model\":\"gpt-bench\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":6,\"total_tokens\":15}}\n\n",
    "data: [DONE]\n\n",
);

async fn chat(body: Bytes) -> Response {
    let streaming = body
        .windows(b"\"stream\":true".len())
        .any(|w| w == b"\"stream\":true");
    if streaming {
        ([(CONTENT_TYPE, "text/event-stream")], STREAM).into_response()
    } else {
        ([(CONTENT_TYPE, "application/json")], COMPLETION).into_response()
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9100".into());
    let app = Router::new().route("/v1/chat/completions", post(chat));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!(
        "mock-upstream listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app).await
}
