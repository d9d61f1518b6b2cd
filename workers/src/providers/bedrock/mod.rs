//! The `bedrock` kind: AWS Bedrock Runtime `Converse` and `ConverseStream`, SigV4-signed.
//!
//! `POST {endpoint}/model/{modelId}/converse` and `/converse-stream`, the model id
//! URL-encoded (ids carry `:`; ARNs carry `/`). The endpoint is
//! `https://bedrock-runtime.{region}.amazonaws.com` unless `base_url` overrides it.
//! Options: `region` (else `AWS_REGION` / `AWS_DEFAULT_REGION`), `access_key_id`,
//! `secret_access_key`, `session_token` (else `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`), `connect_timeout_ms`. Without AWS keys, an `api_key` (a Bedrock API
//! key) is sent as a bearer token; without either, credentials come from the container
//! endpoint or the shared credentials file, refreshed as they expire or change
//! ([`credentials`]). Embeddings go through `InvokeModel` (`/model/{modelId}/invoke`)
//! with the Amazon Titan Text Embeddings body.

pub mod credentials;
mod embed;
mod error;
pub mod eventstream;
mod request;
mod response;
pub mod sigv4;
mod stream;
mod wire;

use super::http::{client, excerpt, transport_error};
use super::option;
use crate::capability::{cap, Capabilities, Param, Support};
use crate::error::{ErrorKind, ProviderError};
use crate::provider::{CallCtx, ChunkStream, Provider};
use broker::config::ProviderConfig;
use credentials::{Chain, Source};
use futures::future::BoxFuture;
use schemas::openai::*;
use sigv4::Credentials;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What `Converse` does with each OpenAI parameter.
pub const CAPABILITIES: Capabilities = Capabilities {
    kind: "bedrock",
    lines: &[
        cap(Param::Tools, Support::Translated, "toolConfig"),
        cap(
            Param::ToolChoiceNone,
            Support::Translated,
            "the tools are left out; refused when earlier turns hold tool calls",
        ),
        cap(
            Param::ToolChoiceRequired,
            Support::Translated,
            "toolChoice any",
        ),
        cap(
            Param::ToolChoiceNamed,
            Support::Translated,
            "toolChoice tool",
        ),
        cap(
            Param::NoParallelToolCalls,
            Support::Emulated,
            "the first call is kept",
        ),
        cap(
            Param::JsonObject,
            Support::Refused,
            "structured output needs a schema: use json_schema",
        ),
        cap(
            Param::JsonSchema,
            Support::Translated,
            "outputConfig.textFormat",
        ),
        cap(Param::N, Support::Emulated, "n calls, choices merged"),
        cap(
            Param::NStream,
            Support::Emulated,
            "n streams, choices interleaved",
        ),
        cap(
            Param::Stop,
            Support::Translated,
            "inferenceConfig.stopSequences",
        ),
        cap(
            Param::Seed,
            Support::Refused,
            "model-specific: use additionalModelRequestFields",
        ),
        cap(
            Param::Penalties,
            Support::Refused,
            "model-specific: use additionalModelRequestFields",
        ),
        cap(Param::LogitBias, Support::Refused, ""),
        cap(Param::Logprobs, Support::Refused, ""),
        cap(
            Param::TopK,
            Support::Refused,
            "model-specific: use additionalModelRequestFields",
        ),
        cap(
            Param::ReasoningEffort,
            Support::Refused,
            "model-specific: use thinking (Claude) or additionalModelRequestFields",
        ),
        cap(
            Param::Thinking,
            Support::Translated,
            "additionalModelRequestFields.thinking (Claude models)",
        ),
        cap(Param::ImageData, Support::Translated, "image bytes"),
        cap(
            Param::ImageUrl,
            Support::Refused,
            "Converse takes bytes: send a data: URL",
        ),
        cap(Param::AudioOrFile, Support::Refused, ""),
        cap(Param::ClientMetadata, Support::Dropped, ""),
        cap(Param::Unknown, Support::Refused, ""),
    ],
    reads: request::PASS_THROUGH,
};

fn sigv4(s: Source) -> Auth {
    Auth::SigV4(Box::new(Chain::new(s)))
}

/// How requests are authenticated.
enum Auth {
    SigV4(Box<credentials::Chain>),
    Bearer(String),
}

/// The Bedrock adapter.
pub struct Bedrock {
    name: String,
    endpoint: String,
    region: String,
    auth: Auth,
    http: reqwest::Client,
}

fn env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

/// Builds the adapter from its config entry.
pub fn build(name: &str, cfg: &ProviderConfig) -> Result<Arc<dyn Provider>, String> {
    let opt = |key: &str, var: &str| -> Result<Option<String>, String> {
        Ok(option::<String>(cfg, key)?
            .filter(|v| !v.is_empty())
            .or_else(|| env(var)))
    };
    let region = opt("region", "AWS_REGION")?
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .ok_or("no AWS region: set `region` in the provider entry or the AWS_REGION env var")?;
    if !region
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(format!(
            "region: `{region}` is not an AWS region like us-east-1"
        ));
    }
    let endpoint = super::http::base_url(
        cfg,
        &format!("https://bedrock-runtime.{region}.amazonaws.com"),
    )?;
    let key_id = opt("access_key_id", "AWS_ACCESS_KEY_ID")?;
    let secret = opt("secret_access_key", "AWS_SECRET_ACCESS_KEY")?;
    let api_key = cfg
        .api_key
        .as_ref()
        .map(|k| k.expose().to_string())
        .filter(|k| !k.is_empty());
    let chosen: Option<String> = option(cfg, "credential_source")?;
    let sources = credentials::Options {
        container_uri: option(cfg, "container_credentials_uri")?,
        container_token: option(cfg, "container_authorization_token")?,
        file: option::<String>(cfg, "credentials_file")?.map(std::path::PathBuf::from),
        profile: option(cfg, "profile")?,
    };
    let fixed = match (key_id, secret) {
        (Some(access_key_id), Some(secret_access_key)) => Some(Source::Static(Credentials {
            access_key_id,
            secret_access_key,
            session_token: opt("session_token", "AWS_SESSION_TOKEN")?,
        })),
        (None, None) => None,
        _ => return Err("access_key_id and secret_access_key go together: set both (or both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or neither".into()),
    };
    const NO_CONTAINER: &str = "credential_source = \"container\" but no endpoint is set: set container_credentials_uri, or run where AWS_CONTAINER_CREDENTIALS_FULL_URI or AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is set";
    const NO_FILE: &str = "credential_source = \"file\" but no credentials file exists: set credentials_file, or AWS_SHARED_CREDENTIALS_FILE, or create ~/.aws/credentials";
    const NONE: &str = "no AWS credentials: set access_key_id and secret_access_key (or the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY env vars), a Bedrock api_key, or run where container credentials or ~/.aws/credentials are available";
    let auth = match chosen.as_deref() {
        Some("static") => sigv4(fixed.ok_or(
            "credential_source = \"static\" but access_key_id and secret_access_key are not set",
        )?),
        Some("container") => sigv4(credentials::container(&sources).ok_or(NO_CONTAINER)?),
        Some("file") => sigv4(credentials::file(&sources).ok_or(NO_FILE)?),
        Some(other) => {
            return Err(format!(
                "credential_source: `{other}` is not static, container or file"
            ))
        }
        None => match (fixed, api_key) {
            (Some(s), _) => sigv4(s),
            (None, Some(k)) => Auth::Bearer(k),
            (None, None) => sigv4(
                credentials::container(&sources)
                    .or_else(|| credentials::file(&sources))
                    .ok_or(NONE)?,
            ),
        },
    };
    let connect: u64 = option(cfg, "connect_timeout_ms")?.unwrap_or(cfg.timeouts.connect_ms);
    Ok(Arc::new(Bedrock {
        name: name.to_string(),
        endpoint,
        region,
        auth,
        http: client(Duration::from_millis(connect))?,
    }))
}

impl Bedrock {
    /// A signed POST of `body` to `/model/{model}/{action}`.
    async fn request(
        &self,
        model: &str,
        action: &str,
        accept: &str,
        body: Vec<u8>,
        ctx: &CallCtx,
    ) -> Result<reqwest::RequestBuilder, ProviderError> {
        if model.is_empty() {
            return Err(ProviderError::new(ErrorKind::BadRequest, &self.name, "the model id is empty; name a Bedrock model id such as anthropic.claude-3-5-sonnet-20240620-v1:0"));
        }
        let path = format!("/model/{}/{action}", sigv4::uri_encode(model, false));
        let url = reqwest::Url::parse(&format!("{}{path}", self.endpoint)).map_err(|e| {
            ProviderError::new(
                ErrorKind::BadRequest,
                &self.name,
                format!("cannot build the Bedrock URL: {e}"),
            )
        })?;
        let mut rb = self
            .http
            .post(url.clone())
            .header("content-type", "application/json")
            .header("accept", accept);
        match &self.auth {
            Auth::Bearer(k) => rb = rb.bearer_auth(k),
            Auth::SigV4(chain) => {
                let creds = &chain.get(&self.name, &self.http).await?;
                let host = match (url.host_str(), url.port()) {
                    (Some(h), Some(p)) => format!("{h}:{p}"),
                    (Some(h), None) => h.to_string(),
                    (None, _) => String::new(),
                };
                let date = sigv4::amz_date(SystemTime::now());
                let payload_hash = sigv4::sha256_hex(&body);
                let mut signed = vec![
                    ("host".to_string(), host),
                    ("x-amz-date".to_string(), date.clone()),
                    ("x-amz-content-sha256".to_string(), payload_hash.clone()),
                    ("content-type".to_string(), "application/json".to_string()),
                ];
                if let Some(t) = &creds.session_token {
                    signed.push(("x-amz-security-token".to_string(), t.clone()));
                }
                let auth = sigv4::authorization(
                    creds,
                    &self.region,
                    "bedrock",
                    &date,
                    &sigv4::Request {
                        method: "POST",
                        path: url.path(),
                        query: url.query().unwrap_or(""),
                        headers: &signed,
                        payload_hash: &payload_hash,
                    },
                );
                for (k, v) in signed
                    .iter()
                    .filter(|(k, _)| k != "host" && k != "content-type")
                {
                    rb = rb.header(k, v);
                }
                rb = rb.header("authorization", auth);
            }
        }
        if let Some(tp) = &ctx.traceparent {
            rb = rb.header("traceparent", tp);
        }
        if let Some(d) = ctx.deadline {
            rb = rb.timeout(
                d.saturating_duration_since(std::time::Instant::now())
                    .max(Duration::from_millis(1)),
            );
        }
        Ok(rb.body(body))
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> Result<reqwest::Response, ProviderError> {
        super::http::send(&self.name, rb, error::from_response).await
    }

    fn body(&self, req: &ChatRequest) -> Result<Vec<u8>, ProviderError> {
        let body = request::translate(&self.name, req)?;
        serde_json::to_vec(&body).map_err(|e| {
            ProviderError::new(
                ErrorKind::BadRequest,
                &self.name,
                format!("cannot encode the request: {e}"),
            )
        })
    }
}

impl Provider for Bedrock {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    fn chat<'a>(
        &'a self,
        req: ChatRequest,
        ctx: &'a CallCtx,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            let rb = self
                .request(
                    &req.model,
                    "converse",
                    "application/json",
                    self.body(&req)?,
                    ctx,
                )
                .await?;
            let resp = self.send(rb).await?;
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| transport_error(&self.name, &e))?;
            let r: wire::ConverseResponse = serde_json::from_slice(&bytes).map_err(|e| {
                ProviderError::new(
                    ErrorKind::Decode,
                    &self.name,
                    format!(
                        "cannot decode the Bedrock answer: {e}; body: {}",
                        excerpt(&bytes)
                    ),
                )
            })?;
            Ok(response::to_chat(&req.model, r))
        })
    }

    fn chat_stream<'a>(
        &'a self,
        req: ChatRequest,
        ctx: &'a CallCtx,
    ) -> BoxFuture<'a, Result<ChunkStream, ProviderError>> {
        Box::pin(async move {
            let rb = self
                .request(
                    &req.model,
                    "converse-stream",
                    "application/vnd.amazon.eventstream",
                    self.body(&req)?,
                    ctx,
                )
                .await?;
            let resp = self.send(rb).await?;
            Ok(stream::chunks(&self.name, &req.model, resp))
        })
    }

    fn embed<'a>(
        &'a self,
        req: EmbeddingsRequest,
        ctx: &'a CallCtx,
    ) -> BoxFuture<'a, Result<EmbeddingsResponse, ProviderError>> {
        Box::pin(async move {
            let texts = embed::inputs(&self.name, &req)?;
            let mut answers = Vec::with_capacity(texts.len());
            for text in &texts {
                let body = embed::TitanRequest {
                    input_text: text,
                    dimensions: req.dimensions,
                };
                let body = serde_json::to_vec(&body).map_err(|e| {
                    ProviderError::new(
                        ErrorKind::BadRequest,
                        &self.name,
                        format!("cannot encode the request: {e}"),
                    )
                })?;
                let rb = self
                    .request(&req.model, "invoke", "application/json", body, ctx)
                    .await?;
                let resp = self.send(rb).await?;
                let bytes = resp
                    .bytes()
                    .await
                    .map_err(|e| transport_error(&self.name, &e))?;
                answers.push(serde_json::from_slice(&bytes).map_err(|e| {
                    ProviderError::new(
                        ErrorKind::Decode,
                        &self.name,
                        format!(
                            "cannot decode the Titan embeddings answer: {e}; body: {}",
                            excerpt(&bytes)
                        ),
                    )
                })?);
            }
            Ok(embed::to_openai(&req.model, answers))
        })
    }
}
