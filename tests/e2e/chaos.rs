//! A fault-injecting upstream speaking the OpenAI wire format over a hand-rolled HTTP/1.1
//! server, so it can also reset connections, hang, and cut streams.
//!
//! The model name picks the fault and its rate in percent: `ok`, `fault-500-30`,
//! `fault-429-30` (with `retry-after: 1`), `fault-reset-30`, `fault-hang-30` (never answers),
//! `fault-badjson-30`, `fault-cut-30` (streams stop mid-way). `first-<fault>-<n>`: the first n
//! requests with the same last user message get the fault, later ones succeed.

#![allow(dead_code)]

use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Default)]
pub struct Chaos {
    pub base_url: String,
    pub requests: Arc<AtomicU64>,
    seen: Arc<Mutex<HashMap<String, u32>>>,
}

impl Chaos {
    pub async fn start() -> Chaos {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = Chaos {
            base_url: format!("http://{}/v1", listener.local_addr().unwrap()),
            ..Default::default()
        };
        let me = c.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let me = me.clone();
                tokio::spawn(async move { me.serve(sock).await });
            }
        });
        c
    }

    /// `[providers.<name>]` pointing here, with `extra` lines (retry, timeouts, circuit).
    pub fn provider_toml(&self, name: &str, extra: &str) -> String {
        format!("[providers.{name}]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key = \"sk-chaos\"\n{extra}\n", self.base_url)
    }

    pub fn count(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    async fn serve(&self, sock: TcpStream) {
        let mut r = BufReader::new(sock);
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).await.unwrap_or(0) == 0 {
                    return;
                }
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; len];
            if r.read_exact(&mut body).await.is_err() {
                return;
            }
            self.requests.fetch_add(1, Ordering::SeqCst);
            let req: Value = serde_json::from_slice(&body).unwrap_or_default();
            if !self.answer(r.get_mut(), &req).await {
                return;
            }
        }
    }

    fn fault(&self, req: &Value) -> Option<String> {
        let model = req["model"].as_str().unwrap_or("");
        let text = req["messages"]
            .as_array()
            .and_then(|m| m.last())
            .and_then(|m| m["content"].as_str())
            .unwrap_or("")
            .to_string();
        if let Some(rest) = model.strip_prefix("first-") {
            let (fault, n) = rest.rsplit_once('-')?;
            let n: u32 = n.parse().ok()?;
            let mut seen = self.seen.lock().unwrap();
            let c = seen.entry(format!("{model}:{text}")).or_default();
            *c += 1;
            return (*c <= n).then(|| fault.to_string());
        }
        let rest = model.strip_prefix("fault-")?;
        let (fault, pct) = rest.rsplit_once('-')?;
        let pct: u32 = pct.parse().ok()?;
        (rand::random_range(0..100) < pct).then(|| fault.to_string())
    }

    /// Writes the answer; false when the connection must close.
    async fn answer(&self, sock: &mut TcpStream, req: &Value) -> bool {
        let model = req["model"].as_str().unwrap_or("").to_string();
        let text = req["messages"]
            .as_array()
            .and_then(|m| m.last())
            .and_then(|m| m["content"].as_str())
            .unwrap_or("")
            .to_string();
        let stream = req["stream"] == json!(true);
        let fault = self.fault(req);
        let write = |status: &str, ctype: &str, extra: &str, body: &str| {
            format!("HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\n{extra}\r\n{body}", body.len())
        };
        let out = match fault.as_deref() {
            Some("reset") => return false,
            Some("hang") => {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                return false;
            }
            Some("500") => write(
                "500 Internal Server Error",
                "application/json",
                "",
                r#"{"error":{"message":"chaos 500","type":"server_error","param":null,"code":null}}"#,
            ),
            Some("429") => write(
                "429 Too Many Requests",
                "application/json",
                "retry-after: 1\r\n",
                r#"{"error":{"message":"chaos 429","type":"rate_limit_error","param":null,"code":null}}"#,
            ),
            Some("badjson") => write(
                "200 OK",
                "application/json",
                "",
                r#"{"id": "chatcmpl-x", "choices": [ {"#,
            ),
            _ if stream => {
                let cut = fault.as_deref() == Some("cut");
                let mk = |delta: Value, fin: Value| json!({"id": "chatcmpl-c", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": fin}]});
                let mut frames = vec![mk(json!({"role": "assistant", "content": ""}), Value::Null)];
                for w in format!("chaos says: {text}").split_inclusive(' ') {
                    frames.push(mk(json!({"content": w}), Value::Null));
                }
                frames.push(mk(json!({}), json!("stop")));
                let mut body = String::new();
                let keep = if cut { frames.len() / 2 } else { frames.len() };
                for f in frames.into_iter().take(keep) {
                    body.push_str(&format!("data: {f}\n\n"));
                }
                if cut {
                    let head = format!("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n", body.len() + 100);
                    let _ = sock.write_all(head.as_bytes()).await;
                    let _ = sock.write_all(body.as_bytes()).await;
                    return false;
                }
                body.push_str("data: [DONE]\n\n");
                write("200 OK", "text/event-stream", "", &body)
            }
            _ => {
                let body = json!({"id": "chatcmpl-c", "object": "chat.completion", "created": 1, "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": format!("chaos says: {text}")}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}});
                write("200 OK", "application/json", "", &body.to_string())
            }
        };
        sock.write_all(out.as_bytes()).await.is_ok()
    }
}
