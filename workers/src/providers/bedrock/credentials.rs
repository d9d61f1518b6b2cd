//! Where the Bedrock adapter's AWS credentials come from, and their refresh.
//!
//! The first source that applies wins:
//!
//! 1. `access_key_id` / `secret_access_key` (/ `session_token`) in the provider entry, or the
//!    `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (/ `AWS_SESSION_TOKEN`) env vars: fixed.
//! 2. A Bedrock `api_key`: a bearer token, no signing (see the adapter).
//! 3. The container credentials endpoint (ECS task roles, EKS Pod Identity):
//!    `AWS_CONTAINER_CREDENTIALS_FULL_URI`, or `http://169.254.170.2` +
//!    `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, with `AWS_CONTAINER_AUTHORIZATION_TOKEN` or
//!    the token in `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (re-read at each fetch, as
//!    Kubernetes rotates it). Fetched again five minutes before they expire.
//! 4. The shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, else
//!    `~/.aws/credentials`), profile `AWS_PROFILE` or `default`: re-read whenever the file
//!    changes, so tools that rotate it (`aws sso`, `saml2aws`, `aws-vault`) need no restart.
//!
//! The `credential_source` option (`static`, `container`, `file`) picks one explicitly;
//! `container_credentials_uri` / `container_authorization_token` and `credentials_file` /
//! `profile` set the container and file sources in the entry instead of the env.
//! Secrets are never logged; a failed refresh is a retryable `auth` error naming the source.

use super::sigv4::Credentials;
use crate::error::{ErrorKind, ProviderError};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};
use tokio::sync::Mutex;

/// Refresh this long before expiry.
const EARLY: Duration = Duration::from_secs(300);

/// Where credentials come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Fixed keys.
    Static(Credentials),
    /// A container credentials endpoint.
    Container {
        /// The full URI.
        url: String,
        /// The `Authorization` token.
        token: Option<String>,
        /// A file holding the token.
        token_file: Option<PathBuf>,
    },
    /// A profile of the shared credentials file.
    File {
        /// The file.
        path: PathBuf,
        /// The profile.
        profile: String,
    },
}

impl Source {
    /// What the source is, for errors (no secrets).
    pub fn describe(&self) -> String {
        match self {
            Self::Static(_) => "static keys".into(),
            Self::Container { url, .. } => format!("the container credentials endpoint {url}"),
            Self::File { path, profile } => {
                format!("profile `{profile}` of {}", path.display())
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Cached {
    creds: Credentials,
    /// When they expire (container credentials).
    expires: Option<SystemTime>,
    /// The file's modification time and length when read (file credentials).
    stamp: Option<(SystemTime, u64)>,
}

/// Credentials from a [`Source`], cached until they expire or change.
#[derive(Debug)]
pub struct Chain {
    source: Source,
    cache: Mutex<Option<Cached>>,
}

fn env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

/// Source settings given in the provider entry (they win over the env).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `container_credentials_uri`.
    pub container_uri: Option<String>,
    /// `container_authorization_token`.
    pub container_token: Option<String>,
    /// `credentials_file`.
    pub file: Option<PathBuf>,
    /// `profile`.
    pub profile: Option<String>,
}

/// The container source, if the entry or the env names one.
pub fn container(o: &Options) -> Option<Source> {
    let url = o
        .container_uri
        .clone()
        .or_else(|| env("AWS_CONTAINER_CREDENTIALS_FULL_URI"))
        .or_else(|| {
            env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
                .map(|p| format!("http://169.254.170.2{p}"))
        })?;
    Some(Source::Container {
        url,
        token: o
            .container_token
            .clone()
            .or_else(|| env("AWS_CONTAINER_AUTHORIZATION_TOKEN")),
        token_file: env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE").map(PathBuf::from),
    })
}

/// The shared-file source, if the file exists.
pub fn file(o: &Options) -> Option<Source> {
    let path = o
        .file
        .clone()
        .or_else(|| env("AWS_SHARED_CREDENTIALS_FILE").map(PathBuf::from))
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".aws/credentials")))?;
    path.is_file().then(|| Source::File {
        path,
        profile: o
            .profile
            .clone()
            .or_else(|| env("AWS_PROFILE"))
            .unwrap_or_else(|| "default".into()),
    })
}

/// The `[profile]` keys of an INI credentials file.
pub fn parse_file(text: &str, profile: &str) -> Option<Credentials> {
    let mut in_profile = false;
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim();
            in_profile = name == profile || name.strip_prefix("profile ") == Some(profile);
            continue;
        }
        if !in_profile {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = Some(v.trim().to_string()).filter(|v| !v.is_empty());
            match k.trim() {
                "aws_access_key_id" => id = v,
                "aws_secret_access_key" => secret = v,
                "aws_session_token" => token = v,
                _ => {}
            }
        }
    }
    Some(Credentials {
        access_key_id: id?,
        secret_access_key: secret?,
        session_token: token,
    })
}

/// The container endpoint's answer.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerCreds {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    expiration: Option<String>,
}

fn expiry(s: &str) -> Option<SystemTime> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    let secs = u64::try_from(t.unix_timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

impl Chain {
    /// Credentials from `source`.
    pub fn new(source: Source) -> Self {
        Self {
            source,
            cache: Mutex::new(None),
        }
    }

    /// The source.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Valid credentials: cached, or fetched again when they near expiry or their file
    /// changed.
    pub async fn get(
        &self,
        provider: &str,
        http: &reqwest::Client,
    ) -> Result<Credentials, ProviderError> {
        let fail = |why: String| {
            ProviderError::new(
                ErrorKind::Auth,
                provider,
                format!("cannot load AWS credentials from {}: {why}; check the source, or set access_key_id and secret_access_key in the provider entry", self.source.describe()),
            )
        };
        let mut cache = self.cache.lock().await;
        match &self.source {
            Source::Static(c) => Ok(c.clone()),
            Source::File { path, profile } => {
                let stamp = std::fs::metadata(path)
                    .and_then(|m| Ok((m.modified()?, m.len())))
                    .ok();
                if let Some(c) = cache
                    .as_ref()
                    .filter(|c| c.stamp == stamp && stamp.is_some())
                {
                    return Ok(c.creds.clone());
                }
                let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
                let creds = parse_file(&text, profile).ok_or_else(|| {
                    fail("the profile has no aws_access_key_id and aws_secret_access_key".into())
                })?;
                *cache = Some(Cached {
                    creds: creds.clone(),
                    expires: None,
                    stamp,
                });
                Ok(creds)
            }
            Source::Container {
                url,
                token,
                token_file,
            } => {
                let fresh = |c: &&Cached| c.expires.is_none_or(|e| SystemTime::now() + EARLY < e);
                if let Some(c) = cache.as_ref().filter(fresh) {
                    return Ok(c.creds.clone());
                }
                let token = match token_file {
                    Some(f) => Some(
                        std::fs::read_to_string(f)
                            .map_err(|e| fail(format!("cannot read the token file: {e}")))?
                            .trim()
                            .to_string(),
                    ),
                    None => token.clone(),
                };
                let mut rb = http.get(url).timeout(Duration::from_secs(5));
                if let Some(t) = token {
                    rb = rb.header("authorization", t);
                }
                let resp = rb.send().await.map_err(|e| fail(e.to_string()))?;
                if !resp.status().is_success() {
                    return Err(fail(format!("the endpoint answered {}", resp.status())));
                }
                let c: ContainerCreds = resp.json().await.map_err(|e| fail(e.to_string()))?;
                let creds = Credentials {
                    access_key_id: c.access_key_id,
                    secret_access_key: c.secret_access_key,
                    session_token: c.token,
                };
                let expires = c.expiration.as_deref().and_then(expiry);
                *cache = Some(Cached {
                    creds: creds.clone(),
                    expires,
                    stamp: None,
                });
                Ok(creds)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_is_read_from_the_file() {
        let text = "[default]\naws_access_key_id = A1\naws_secret_access_key = S1\n\n[profile work]\naws_access_key_id=A2\naws_secret_access_key=S2\naws_session_token = T2\n";
        let d = parse_file(text, "default").unwrap_or_else(|| unreachable!());
        assert_eq!((d.access_key_id.as_str(), d.session_token), ("A1", None));
        let w = parse_file(text, "work").unwrap_or_else(|| unreachable!());
        assert_eq!(w.session_token.as_deref(), Some("T2"));
        assert!(parse_file(text, "missing").is_none());
    }

    #[test]
    fn expirations_parse() {
        let t = expiry("2026-11-29T18:00:00Z").unwrap_or(SystemTime::UNIX_EPOCH);
        let secs = t
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        assert_eq!(secs, 1_795_975_200);
    }
}
