//! Loading and validating a config.

use super::env::{apply_overrides, interpolate, KNOWN_ENDPOINT_PROVIDER_ENV, KNOWN_PROVIDER_ENV};
use super::presets::PRESETS;
use super::types::{Config, ProviderConfig, Secret};
use std::path::{Path, PathBuf};

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
        let mut doc: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| invalid(e.to_string().trim().replace('\n', " ")))?;
        apply_overrides(&mut doc, vars.clone());
        let mut cfg: Config = toml::Value::Table(doc)
            .try_into()
            .map_err(|e: toml::de::Error| invalid(e.message().to_string()))?;
        for (var, pname, kind, base) in KNOWN_PROVIDER_ENV {
            if cfg.providers.contains_key(*pname) {
                continue;
            }
            if let Some(key) = lookup(var).filter(|k| !k.is_empty()) {
                cfg.providers.insert(
                    pname.to_string(),
                    ProviderConfig {
                        kind: kind.to_string(),
                        base_url: base.map(str::to_string),
                        api_key: Some(Secret::new(key)),
                        ..Default::default()
                    },
                );
            }
        }
        for (key_var, endpoint_var, pname, kind) in KNOWN_ENDPOINT_PROVIDER_ENV {
            if cfg.providers.contains_key(*pname) {
                continue;
            }
            let set = |v: &str| lookup(v).filter(|s| !s.trim().is_empty());
            if let (Some(key), Some(endpoint)) = (set(key_var), set(endpoint_var)) {
                cfg.providers.insert(
                    pname.to_string(),
                    ProviderConfig {
                        kind: kind.to_string(),
                        base_url: Some(endpoint.trim().to_string()),
                        api_key: Some(Secret::new(key)),
                        ..Default::default()
                    },
                );
            }
        }
        for preset in PRESETS {
            if cfg.providers.contains_key(preset.kind) {
                continue;
            }
            if let Some((base_url, key)) = preset.from_env(&lookup) {
                cfg.providers.insert(
                    preset.kind.to_string(),
                    ProviderConfig {
                        kind: preset.kind.to_string(),
                        base_url,
                        api_key: key.map(Secret::new),
                        ..Default::default()
                    },
                );
            }
        }
        if cfg.server.builtin_mock && !cfg.providers.contains_key("mock") {
            cfg.providers.insert(
                "mock".into(),
                ProviderConfig {
                    kind: "mock".into(),
                    // Listed in GET /v1/models; the mock answers any model name.
                    models: vec!["echo".into(), "embed".into()],
                    ..Default::default()
                },
            );
        }
        cfg.validate().map_err(invalid)?;
        Ok(cfg)
    }

    /// Checks what serde cannot: names, references, ranges.
    pub fn validate(&self) -> Result<(), String> {
        if self.server.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(format!(
                "server.listen: `{}` is not an address like 127.0.0.1:8080",
                self.server.listen
            ));
        }
        if self.server.max_body_bytes == 0 {
            return Err("server.max_body_bytes: must be greater than 0".into());
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
            if p.kind.is_empty() {
                return Err(format!(
                    "providers.{name}.kind: missing (for example kind = \"openai\")"
                ));
            }
        }
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
    fn empty_config_has_the_mock() {
        let c = load("", &[]).map_err(|e| e.to_string());
        assert!(
            c.as_ref().is_ok_and(|c| c.providers["mock"].kind == "mock"),
            "{c:?}"
        );
    }

    #[test]
    fn env_key_registers_openai_and_is_hidden() {
        let c = load("", &[("OPENAI_API_KEY", "sk-secret")]).map_err(|e| e.to_string());
        let c = c.as_ref().map_err(|e| e.clone());
        assert!(c.is_ok());
        if let Ok(c) = c {
            assert_eq!(c.providers["openai"].kind, "openai");
            assert!(!format!("{c:?}").contains("sk-secret"));
        }
    }

    #[test]
    fn preset_env_vars_register_their_providers() {
        let c = load(
            "",
            &[
                ("GROQ_API_KEY", "gsk-secret"),
                ("PPLX_API_KEY", "pplx-secret"),
                ("OLLAMA_HOST", "0.0.0.0:11500"),
                ("VLLM_BASE_URL", "http://gpu:8000/v1"),
                ("VLLM_API_KEY", "vllm-key"),
            ],
        )
        .map_err(|e| e.to_string());
        let Ok(c) = c else {
            unreachable!("config loads: {c:?}")
        };
        assert_eq!(c.providers["groq"].kind, "groq");
        assert_eq!(c.providers["groq"].base_url, None, "the preset's own URL");
        assert_eq!(
            c.providers["groq"].api_key.as_ref().map(|k| k.expose()),
            Some("gsk-secret")
        );
        assert_eq!(c.providers["perplexity"].kind, "perplexity");
        assert_eq!(
            c.providers["ollama"].base_url.as_deref(),
            Some("http://0.0.0.0:11500/v1")
        );
        assert!(c.providers["ollama"].api_key.is_none());
        assert_eq!(
            c.providers["vllm"].base_url.as_deref(),
            Some("http://gpu:8000/v1")
        );
        assert_eq!(
            c.providers["vllm"].api_key.as_ref().map(|k| k.expose()),
            Some("vllm-key")
        );
        for absent in ["mistral", "xai", "lmstudio", "azure"] {
            assert!(
                !c.providers.contains_key(absent),
                "{absent} without its env var"
            );
        }
        assert!(!format!("{c:?}").contains("gsk-secret"));
    }

    #[test]
    fn every_preset_registers_from_its_first_env_var() {
        for p in crate::config::presets::PRESETS {
            let var = p
                .key_vars
                .first()
                .or(p.url_vars.first())
                .copied()
                .unwrap_or("");
            let value = if p.key_vars.is_empty() {
                "127.0.0.1:1"
            } else {
                "key"
            };
            let c = load("", &[(var, value)]).map_err(|e| e.to_string());
            let kind = c
                .as_ref()
                .ok()
                .and_then(|c| c.providers.get(p.kind))
                .map(|x| x.kind.clone());
            assert_eq!(kind.as_deref(), Some(p.kind), "{var}");
        }
    }

    #[test]
    fn azure_needs_key_and_endpoint_and_config_wins() {
        let c = load("", &[("AZURE_OPENAI_API_KEY", "az-secret")]).map_err(|e| e.to_string());
        assert!(
            c.as_ref().is_ok_and(|c| !c.providers.contains_key("azure")),
            "{c:?}"
        );
        let c = load(
            "",
            &[
                ("AZURE_OPENAI_API_KEY", "az-secret"),
                ("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com/"),
            ],
        )
        .map_err(|e| e.to_string());
        let p = c.as_ref().ok().map(|c| c.providers["azure"].clone());
        assert_eq!(p.as_ref().map(|p| p.kind.as_str()), Some("azure"));
        assert_eq!(
            p.as_ref().and_then(|p| p.base_url.as_deref()),
            Some("https://res.openai.azure.com/")
        );
        let c = load(
            "[providers.groq]\nkind = \"groq\"\napi_key = \"from-file\"\n",
            &[("GROQ_API_KEY", "from-env")],
        )
        .map_err(|e| e.to_string());
        let key = c
            .as_ref()
            .ok()
            .and_then(|c| c.providers["groq"].api_key.clone());
        assert_eq!(key.as_ref().map(|k| k.expose()), Some("from-file"));
    }

    #[test]
    fn env_key_registers_anthropic() {
        let c = load("", &[("ANTHROPIC_API_KEY", "sk-ant-secret")]).map_err(|e| e.to_string());
        assert_eq!(
            c.as_ref().map(|c| c.providers["anthropic"].kind.as_str()),
            Ok("anthropic")
        );
        assert_eq!(
            c.as_ref()
                .map(|c| c.providers["anthropic"].base_url.clone()),
            Ok(Some("https://api.anthropic.com".to_string()))
        );
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
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("models.fast"), "{e}");
    }
}
