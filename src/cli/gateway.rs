//! The HTTP client of the CLI verbs.

use anyhow::{anyhow, Context};
use broker::config::Config;
use serde_json::Value;

/// A gateway's base URL and an HTTP client.
pub struct Gateway {
    base: String,
    http: reqwest::Client,
    key: Option<String>,
}

/// The gateway URL: `--url`, else `http://<server.listen>` (a wildcard address becomes
/// loopback).
pub fn default_url(cfg: &Config) -> String {
    let listen = cfg
        .server
        .listen
        .replace("0.0.0.0", "127.0.0.1")
        .replace("[::]", "[::1]");
    format!("http://{listen}")
}

impl Gateway {
    /// A client of the gateway at `base`, sending `key` (if any) as a bearer token.
    pub fn new(base: &str, key: Option<String>) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            key,
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let rb = self.http.request(method, format!("{}{path}", self.base));
        match &self.key {
            Some(k) => rb.bearer_auth(k),
            None => rb,
        }
    }

    async fn decode(&self, what: &str, resp: reqwest::Response) -> anyhow::Result<Value> {
        let status = resp.status();
        let body: Value = resp
            .json()
            .await
            .with_context(|| format!("{what}: the gateway answered {status} without JSON"))?;
        if !status.is_success() {
            let msg = body["error"]["message"].as_str().unwrap_or("no message");
            let hint = if status == reqwest::StatusCode::UNAUTHORIZED && self.key.is_none() {
                " (set SWITCHYARD_API_KEY, or SWITCHYARD_MASTER_KEY for admin verbs, or pass --api-key)"
            } else {
                ""
            };
            return Err(anyhow!("{what}: {status}: {msg}{hint}"));
        }
        Ok(body)
    }

    fn unreachable(&self, e: reqwest::Error) -> anyhow::Error {
        anyhow!(
            "cannot reach the gateway at {}: {e}. Start it with `switchyard serve`, or pass --url",
            self.base
        )
    }

    /// `GET path` with `query`, as JSON.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        let resp = self
            .request(reqwest::Method::GET, path)
            .query(query)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        self.decode(&format!("GET {path}"), resp).await
    }

    /// `POST path` with a JSON body, as JSON.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let resp = self
            .request(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        self.decode(&format!("POST {path}"), resp).await
    }

    /// `DELETE path`, as JSON.
    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        let resp = self
            .request(reqwest::Method::DELETE, path)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        self.decode(&format!("DELETE {path}"), resp).await
    }

    /// `POST path` of a multipart form with `fields` and one file, as JSON.
    pub async fn post_file(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        file_name: &str,
        bytes: Vec<u8>,
    ) -> anyhow::Result<Value> {
        let mut form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_string()),
        );
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        let resp = self
            .request(reqwest::Method::POST, path)
            .multipart(form)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        self.decode(&format!("POST {path}"), resp).await
    }

    /// `GET path`, the body as bytes.
    pub async fn get_bytes(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let resp = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        if !resp.status().is_success() {
            let status = resp.status();
            let v: Value = resp.json().await.unwrap_or_default();
            let msg = v["error"]["message"].as_str().unwrap_or("no message");
            return Err(anyhow!("GET {path}: {status}: {msg}"));
        }
        Ok(resp
            .bytes()
            .await
            .map_err(|e| self.unreachable(e))?
            .to_vec())
    }
}
