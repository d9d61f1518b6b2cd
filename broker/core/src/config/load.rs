//! Loading and validating a config.

use super::env::{apply_overrides, interpolate};
use super::types::Config;
use std::path::{Path, PathBuf};

/// `key.path (line N): what is wrong` of a deserialization error: the line from the
/// error's span in `text` (the file), or the env var that set the key (`overrides`).
fn describe<E: TomlError>(
    e: &serde_path_to_error::Error<E>,
    text: Option<&str>,
    overrides: Option<&[(String, String)]>,
) -> String {
    let path = e.path().to_string();
    let inner = e.inner();
    let line = text
        .zip(inner.span())
        .map(|(t, span)| t[..span.start.min(t.len())].matches('\n').count() + 1);
    let from_env = overrides.and_then(|o| {
        o.iter()
            .find(|(key, _)| path == *key || path.starts_with(&format!("{key}.")))
            .map(|(_, var)| var.clone())
    });
    let message = inner.message();
    match (path.as_str(), line, from_env) {
        (".", Some(l), _) => format!("line {l}: {message}"),
        (".", None, _) => message,
        (p, Some(l), _) => format!("{p} (line {l}): {message}"),
        (p, None, Some(var)) => format!("{p} (set by the env var {var}): {message}"),
        (p, None, None) => format!("{p}: {message}"),
    }
}

/// The parts of a TOML error [`describe`] uses.
trait TomlError {
    fn span(&self) -> Option<std::ops::Range<usize>>;
    fn message(&self) -> String;
}

impl TomlError for toml::de::Error {
    fn span(&self) -> Option<std::ops::Range<usize>> {
        toml::de::Error::span(self)
    }
    fn message(&self) -> String {
        toml::de::Error::message(self).to_string()
    }
}

/// Why a config cannot be used: which file, which key, what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read the config file {path}: {source}. Check the path given to --config.")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Bad syntax, an unknown key or a wrong type.
    #[error("invalid config {path}: {message}")]
    Invalid {
        /// The file (or `<env>`).
        path: String,
        /// The key and what is wrong with it.
        message: String,
    },
}

impl Config {
    /// Loads `path` (if any), applies the process env, and validates.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        let lookup = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let (text, name) = match path {
            Some(p) => (
                std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_path_buf(),
                    source,
                })?,
                p.display().to_string(),
            ),
            None => (String::new(), "<no file>".to_string()),
        };
        Self::from_toml(&text, &name, lookup, vars.clone().into_iter())
    }

    /// Builds a config from TOML text, an env lookup for `${VAR}`, and env vars for overrides.
    ///
    /// The file is checked on its own first, so an error there names the key path and its
    /// line (`worker.concurrency (line 12): invalid type: string "lots", expected usize`);
    /// then the `SWITCHYARD_*` overrides are applied, and an error they cause names the key
    /// and the env var. Values and names are checked here; references between sections
    /// (aliases to providers) once the providers are complete ([`Config::validate`]).
    pub fn from_toml(
        text: &str,
        name: &str,
        lookup: impl Fn(&str) -> Option<String>,
        vars: impl Iterator<Item = (String, String)> + Clone,
    ) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: name.to_string(),
            message,
        };
        let text = interpolate(text, &lookup).map_err(invalid)?;
        let file_only = toml::Deserializer::new(&text);
        if let Err(e) = serde_path_to_error::deserialize::<_, Config>(file_only) {
            return Err(invalid(describe(&e, Some(&text), None)));
        }
        let mut doc: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| invalid(e.message().to_string()))?;
        let applied = apply_overrides(&mut doc, vars.clone());
        let cfg: Config = serde_path_to_error::deserialize(toml::Value::Table(doc))
            .map_err(|e| invalid(describe(&e, None, Some(&applied))))?;
        cfg.check_values().map_err(invalid)?;
        Ok(cfg)
    }

    /// Checks what serde cannot: names, ranges, and that every alias names a configured
    /// provider (call it once the providers are complete).
    pub fn validate(&self) -> Result<(), String> {
        self.check_values()?;
        self.check_aliases()
    }

    /// Checks names and ranges.
    pub fn check_values(&self) -> Result<(), String> {
        if self.server.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(format!(
                "server.listen: `{}` is not an address like 127.0.0.1:8080",
                self.server.listen
            ));
        }
        if let Some(n) = self.nats.log_partitions {
            if n == 0 || n > 64 {
                return Err(
                    "nats.log_partitions: must be 1 to 64 (1: one log, not partitioned)".into(),
                );
            }
        }
        if let Some(p) = self.auditor.partition {
            let n = self.nats.log_partitions.unwrap_or(1);
            if p >= n {
                return Err(format!(
                    "auditor.partition: {p} is not a partition of nats.log_partitions = {n} (0 to {}); set nats.log_partitions beside it",
                    n - 1
                ));
            }
        }
        if self.files.batch_lines_per_s == 0 {
            return Err(
                "files.batch_lines_per_s: must be at least 1 (lines a second per batch)".into(),
            );
        }
        if self.server.max_body_bytes == 0 {
            return Err("server.max_body_bytes: must be greater than 0".into());
        }
        for (key, v) in [
            ("header_read_timeout_ms", self.server.header_read_timeout_ms),
            ("body_read_timeout_ms", self.server.body_read_timeout_ms),
            ("idle_timeout_ms", self.server.idle_timeout_ms),
            ("max_connections", self.server.max_connections as u64),
        ] {
            if v == 0 {
                return Err(format!("server.{key}: must be greater than 0"));
            }
        }
        if self.nats.prefix.is_empty() || self.nats.prefix.contains(['*', '>', ' ']) {
            return Err(format!(
                "nats.prefix: `{}` is not a valid subject token",
                self.nats.prefix
            ));
        }
        if !(0.0..=1.0).contains(&self.telemetry.sample_ratio) {
            return Err(format!(
                "telemetry.sample_ratio: `{}` is not between 0.0 and 1.0 (1.0 samples every trace)",
                self.telemetry.sample_ratio
            ));
        }
        if let Some(k) = &self.auth.master_key {
            let k = k.expose();
            if k.len() < 16 || k.chars().any(char::is_whitespace) {
                return Err("auth.master_key: use at least 16 characters without spaces (e.g. `openssl rand -hex 24`)".into());
            }
        }
        for (model, p) in &self.prices {
            let all = [Some(p.input), Some(p.output), p.cached_input, p.reasoning];
            if all.iter().flatten().any(|v| !v.is_finite() || *v < 0.0) {
                return Err(format!(
                    "prices.\"{model}\": prices are USD per million tokens, 0 or more"
                ));
            }
        }
        if self.cache.backend == super::CacheBackend::Redis
            && !self
                .cache
                .url
                .as_deref()
                .is_some_and(|u| u.starts_with("redis://") || u.starts_with("rediss://"))
        {
            return Err(
                "cache.url: backend = \"redis\" needs a URL like redis://127.0.0.1:6379".into(),
            );
        }
        if !(0.0..=1.0).contains(&self.cache.semantic.threshold) {
            return Err("cache.semantic.threshold: a cosine similarity from 0 to 1".into());
        }
        if self.worker.concurrency == 0 {
            return Err("worker.concurrency: must be at least 1".into());
        }
        for (name, p) in &self.providers {
            if name.is_empty() || name.contains(['.', '*', '>', '/', ' ']) {
                return Err(format!(
                    "providers.{name}: a provider name may not contain `.`, `/`, `*`, `>` or spaces"
                ));
            }
            if p.retry.max_attempts == 0 {
                return Err(format!(
                    "providers.{name}.retry.max_attempts: must be at least 1"
                ));
            }
            if !(0.0..=1.0).contains(&p.circuit.error_rate) {
                return Err(format!(
                    "providers.{name}.circuit.error_rate: must be between 0 and 1"
                ));
            }
        }
        Ok(())
    }

    fn check_aliases(&self) -> Result<(), String> {
        for (alias, m) in &self.models {
            let targets = m
                .target
                .iter()
                .chain(m.targets.iter().map(|t| &t.target))
                .chain(m.fallbacks.iter());
            let mut any = false;
            for t in targets {
                any = true;
                let provider = t.split_once('/').map(|(p, _)| p).unwrap_or("");
                if !self.providers.contains_key(provider) {
                    return Err(format!(
                        "models.{alias}: target `{t}` names no configured provider (write `provider/model`; providers: {})",
                        self.providers.keys().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
            if !any {
                return Err(format!("models.{alias}: set `target = \"provider/model\"`"));
            }
        }
        Ok(())
    }

    /// This process's node name.
    pub fn node_name(&self) -> String {
        self.server.node.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME")
                .ok()
                .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "node".into());
            format!("{host}-{}", std::process::id())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = env
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let v2 = vars.clone();
        Config::from_toml(
            text,
            "test.toml",
            move |k| v2.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
            vars.into_iter(),
        )
    }

    #[test]
    fn errors_name_file_and_key() {
        let e = load("[server]\nlisten = \"nope\"\n", &[])
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("test.toml") && e.contains("server.listen"),
            "{e}"
        );
        let e = load("[server]\nlistne = 1\n", &[])
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("listne"), "{e}");
        let e = load("[models.fast]\ntarget = \"nope/x\"\n", &[])
            .map_err(|e| e.to_string())
            .and_then(|c| c.validate())
            .unwrap_err();
        assert!(e.contains("models.fast"), "{e}");
        let e = load("[files]\nbatch_lines_per_s = 0\n", &[])
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("files.batch_lines_per_s"), "{e}");
        let e = load(
            "[nats]\nlog_partitions = 3\n[auditor]\npartition = 3\n",
            &[],
        )
        .map(|_| ())
        .unwrap_err()
        .to_string();
        assert!(e.contains("auditor.partition"), "{e}");
        let c = load("[files]\nbatch_lines_per_s = 50\n", &[]).unwrap();
        assert_eq!(c.files.batch_lines_per_s, 50);
    }
}
