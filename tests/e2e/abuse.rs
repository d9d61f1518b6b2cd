//! Bad input and abuse at the HTTP level, over raw TCP where a client library would not
//! misbehave: slow headers (slowloris), a lying Content-Length, slow bodies, idle
//! keep-alives, the connection cap, hyper's own parse errors, and compressed bodies.

use crate::harness::*;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection or `within` passes; the bytes and whether
/// it closed.
async fn read_until_close(s: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let until = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(until, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into(), true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&out).into(), false),
        }
    }
}

/// The JSON body of a raw HTTP/1.1 answer.
fn body_of(answer: &str) -> Value {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(body).unwrap_or(Value::Null)
}

fn status_of(answer: &str) -> u16 {
    answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
}

async fn gateway(nats: &Nats, server: &str) -> Gateway {
    Gateway::start(nats, &format!("[server]\n{server}\n")).await
}

#[tokio::test]
async fn slow_headers_are_cut_off_at_the_header_timeout() {
    let nats = Nats::start().await;
    let gw = gateway(&nats, "header_read_timeout_ms = 600").await;
    // One byte every 100 ms, forever: the connection must be closed after ~600 ms.
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    let t0 = Instant::now();
    let head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut closed_after = None;
    for b in head.iter() {
        if s.write_all(&[*b]).await.is_err() {
            closed_after = Some(t0.elapsed());
            break;
        }
        let mut one = [0u8; 1];
        if let Ok(Ok(0)) | Ok(Err(_)) =
            tokio::time::timeout(Duration::from_millis(100), s.read(&mut one)).await
        {
            closed_after = Some(t0.elapsed());
            break;
        }
    }
    let took = closed_after.expect("the slow client was never cut off");
    assert!(took < Duration::from_millis(2500), "{took:?}");
    // A connection that sends nothing at all is closed too.
    let mut idle = TcpStream::connect(gw.addr).await.unwrap();
    let (_, closed) = read_until_close(&mut idle, Duration::from_secs(3)).await;
    assert!(
        closed,
        "a silent connection is closed at the header timeout"
    );
    // The gateway still serves others.
    let ok = gw
        .post("/v1/chat/completions", chat("mock/echo", "x"))
        .await;
    assert_eq!(ok.status(), 200);
    gw.stop().await;
}

#[tokio::test]
async fn a_lying_content_length_is_413_at_once_and_a_slow_body_is_408() {
    let nats = Nats::start().await;
    let gw = gateway(&nats, "body_read_timeout_ms = 500").await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000000000000\r\n\r\n{\"m").await.unwrap();
    let t0 = Instant::now();
    let (answer, _) = read_until_close(&mut s, Duration::from_secs(3)).await;
    assert_eq!(status_of(&answer), 413, "{answer}");
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "at once, not after a timeout"
    );
    assert_eq!(
        body_of(&answer)["error"]["code"],
        "payload_too_large",
        "{answer}"
    );

    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"m").await.unwrap();
    let (answer, _) = read_until_close(&mut s, Duration::from_secs(3)).await;
    assert_eq!(status_of(&answer), 408, "{answer}");
    assert_eq!(
        body_of(&answer)["error"]["code"],
        "request_timeout",
        "{answer}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let nats = Nats::start().await;
    let gw = gateway(&nats, "idle_timeout_ms = 700").await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let t0 = Instant::now();
    let (_, closed) = read_until_close(&mut s, Duration::from_secs(3)).await;
    assert!(closed, "the idle connection stays open");
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn past_the_connection_cap_clients_wait_for_a_free_slot() {
    let nats = Nats::start().await;
    let gw = gateway(&nats, "max_connections = 2").await;
    let a = TcpStream::connect(gw.addr).await.unwrap();
    let _b = TcpStream::connect(gw.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut c = TcpStream::connect(gw.addr).await.unwrap();
    c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let early = tokio::time::timeout(Duration::from_millis(500), c.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "a third connection is not served while two are open"
    );
    drop(a);
    let (answer, _) = read_until_close(&mut c, Duration::from_secs(3)).await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "served once a slot frees: {answer}"
    );
    gw.stop().await;
}

/// Sends raw bytes and returns the whole answer.
async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    read_until_close(&mut s, Duration::from_secs(3)).await.0
}

#[tokio::test]
async fn every_error_is_json_in_the_api_s_shape() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    // 405 from the router, with Allow kept.
    let r = gw.get("/v1/chat/completions").await;
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "method_not_allowed", "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("use POST"),
        "{v}"
    );
    let r = gw.get("/v1/messages").await;
    assert_eq!(r.status(), 405);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "error", "Anthropic's shape on /v1/messages: {v}");
    assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
    // A path parameter that is not UTF-8.
    let r = gw.get("/v1/jobs/%FF%FE").await;
    assert_eq!(r.status(), 400);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"].is_string(), "{v}");
    // hyper's own answers: a malformed request line, too many headers, a huge header.
    let a = raw(gw.addr, b"GARBAGE\x01 / HTTP/1.1\r\n\r\n").await;
    assert_eq!(status_of(&a), 400, "{a}");
    assert_eq!(body_of(&a)["error"]["code"], "malformed_request", "{a}");
    let mut many = b"GET /health HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..150 {
        many.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let a = raw(gw.addr, &many).await;
    assert_eq!(status_of(&a), 431, "{a}");
    assert_eq!(
        body_of(&a)["error"]["code"],
        "request_header_fields_too_large",
        "{a}"
    );
    let mut huge = b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 600 * 1024));
    huge.extend_from_slice(b"\r\n\r\n");
    let a = raw(gw.addr, &huge).await;
    assert_eq!(status_of(&a), 431, "{a}");
    assert_eq!(body_of(&a)["type"], "error", "Anthropic's shape: {a}");
    gw.stop().await;
}

#[tokio::test]
async fn compressed_bodies_are_decoded_and_unknown_encodings_refused() {
    use std::io::Write;
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(chat("mock/echo", "zipped").to_string().as_bytes())
        .unwrap();
    let r = gw
        .http
        .post(gw.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "echo: zipped");
    let r = gw
        .http
        .post(gw.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .header("content-encoding", "lzma")
        .body("whatever")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "unsupported_media_type", "{v}");
    // A gzip bomb stops at the body limit.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(b"{\"model\":\"mock/echo\",\"messages\":[{\"role\":\"user\",\"content\":\"")
        .unwrap();
    gz.write_all(&vec![b'a'; 8 << 20]).unwrap();
    gz.write_all(b"\"}]}").unwrap();
    let r = gw
        .http
        .post(gw.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    gw.stop().await;
}

#[tokio::test]
async fn invalid_values_are_400_naming_the_field() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    let mut body = chat("mock/echo", "x");
    body["n"] = json!(-1);
    let r = gw.post("/v1/chat/completions", body).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["param"], "n", "{v}");
    for model in [
        "mock/echo\u{0}",
        "mock/../..",
        "mock/./echo",
        "mock//echo",
        "mock/a b",
        "mock/%2e%2e",
    ] {
        let r = gw.post("/v1/chat/completions", chat(model, "x")).await;
        assert_eq!(r.status(), 400, "{model:?}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["param"], "model", "{model:?}: {v}");
    }
    let r = gw
        .post(
            "/v1/embeddings",
            json!({"model": "mock/../embed", "input": "x"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    for limit in ["1000000000", "1001", "0", "-1", "1e9"] {
        let r = gw.get(&format!("/v1/requests?limit={limit}")).await;
        assert_eq!(r.status(), 400, "limit={limit}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["param"], "limit", "{v}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn a_body_over_nats_max_payload_is_413_with_the_real_limit() {
    // The test server keeps NATS's default max_payload of 1 MiB.
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    let big = "a".repeat(2 << 20);
    let r = gw
        .post("/v1/chat/completions", chat("mock/echo", &big))
        .await;
    assert_eq!(r.status(), 413, "never a retryable 503");
    let v: Value = r.json().await.unwrap();
    let limit = (1 << 20) - 16 * 1024;
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&limit.to_string()),
        "the real limit: {v}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn an_answer_over_nats_max_payload_fails_clearly_instead_of_looping() {
    // The test server keeps NATS's default max_payload of 1 MiB; the mock answers 1.1 MiB.
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "").await;
    let t0 = Instant::now();
    let r = gw
        .post("/v1/chat/completions", chat("mock/big-1100kb", "large"))
        .await;
    assert_eq!(r.status(), 502);
    let id = job_id(&r);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "response_too_large", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_payload"),
        "{v}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "at once, not after redeliveries"
    );
    let evs = job_events_until(&nats, &id, has_final).await;
    assert_eq!(
        count_kind(&evs, "dequeued", None),
        1,
        "delivered once: {evs:?}"
    );
    assert_eq!(count_kind(&evs, "failed", None), 1, "{evs:?}");
    // A large answer under the limit is delivered.
    let r = gw
        .post("/v1/chat/completions", chat("mock/big-600kb", "large"))
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .len()
            >= 600 * 1024
    );
    gw.stop().await;
}
