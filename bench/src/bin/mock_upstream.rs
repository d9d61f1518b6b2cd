//! `mock-upstream [ADDR]`: the OpenAI mock upstream of the tests (`switchyard_upstreams::openai`)
//! served for load tests, recording nothing.
//!
//! It speaks the OpenAI wire format (`chat.completion` with usage, or `chat.completion.chunk`
//! SSE events ending in `data: [DONE]` when the body asks for `"stream":true`), answering
//! `upstream says: <last user text>` for any model (`gpt-bench` in the load test). The load
//! test calls it directly and through the gateway in the same run, so its own cost is in the
//! reference too. Listens on `127.0.0.1:9100` by default.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9100".into());
    let app = upstreams::openai::router(upstreams::Recorder::off());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!(
        "mock-upstream listening on http://{} (API key {})",
        listener.local_addr()?,
        upstreams::openai::KEY
    );
    axum::serve(listener, app).await
}
