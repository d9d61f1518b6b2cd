//! OpenAI-compatible services, each usable as its own provider `kind` (`kind = "groq"`): the
//! `openai` adapter with the service's base URL, and registration from the service's usual
//! env vars.
//!
//! This table is the one place that knows these services: the [catalogue](super::catalog)
//! registers providers from it and the adapter registry builds them from it.

/// How a preset's base-URL env var is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlStyle {
    /// A full base URL (`http://host:8000/v1`).
    BaseUrl,
    /// `[scheme://]host[:port]` of the server (Ollama's `OLLAMA_HOST`): without a scheme it is
    /// `http` and the port defaults to `default_port` (with a scheme, to the scheme's own);
    /// `path` is appended.
    HostPort {
        /// The port when the value names none.
        default_port: u16,
        /// The API path under the server (`/v1`).
        path: &'static str,
    },
}

/// One OpenAI-compatible service.
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    /// The config `kind`, also the provider name when registered from env.
    pub kind: &'static str,
    /// The base URL the adapter appends `/chat/completions`, `/embeddings`, `/models` to.
    pub base_url: &'static str,
    /// Env vars holding the API key (sent as `Authorization: Bearer`), first set wins.
    pub key_vars: &'static [&'static str],
    /// Env vars holding the base URL, first set wins.
    pub url_vars: &'static [&'static str],
    /// How the base-URL env vars are written.
    pub url_style: UrlStyle,
    /// A local server without a required key: registered when a URL or key var is set.
    /// Hosted services are registered only when a key var is set.
    pub local: bool,
}

const fn hosted(
    kind: &'static str,
    base_url: &'static str,
    key_vars: &'static [&'static str],
) -> Preset {
    Preset {
        kind,
        base_url,
        key_vars,
        url_vars: &[],
        url_style: UrlStyle::BaseUrl,
        local: false,
    }
}

/// Every OpenAI-compatible preset.
pub const PRESETS: &[Preset] = &[
    hosted("groq", "https://api.groq.com/openai/v1", &["GROQ_API_KEY"]),
    hosted("mistral", "https://api.mistral.ai/v1", &["MISTRAL_API_KEY"]),
    hosted("xai", "https://api.x.ai/v1", &["XAI_API_KEY"]),
    hosted(
        "deepseek",
        "https://api.deepseek.com",
        &["DEEPSEEK_API_KEY"],
    ),
    hosted(
        "openrouter",
        "https://openrouter.ai/api/v1",
        &["OPENROUTER_API_KEY"],
    ),
    hosted(
        "together",
        "https://api.together.xyz/v1",
        &["TOGETHER_API_KEY"],
    ),
    hosted(
        "fireworks",
        "https://api.fireworks.ai/inference/v1",
        &["FIREWORKS_API_KEY"],
    ),
    hosted(
        "cerebras",
        "https://api.cerebras.ai/v1",
        &["CEREBRAS_API_KEY"],
    ),
    hosted(
        "perplexity",
        "https://api.perplexity.ai",
        &["PERPLEXITY_API_KEY", "PPLX_API_KEY"],
    ),
    Preset {
        kind: "ollama",
        base_url: "http://127.0.0.1:11434/v1",
        key_vars: &[],
        url_vars: &["OLLAMA_HOST"],
        url_style: UrlStyle::HostPort {
            default_port: 11434,
            path: "/v1",
        },
        local: true,
    },
    Preset {
        kind: "vllm",
        base_url: "http://127.0.0.1:8000/v1",
        key_vars: &["VLLM_API_KEY"],
        url_vars: &["VLLM_BASE_URL", "HOSTED_VLLM_API_BASE"],
        url_style: UrlStyle::BaseUrl,
        local: true,
    },
    Preset {
        kind: "lmstudio",
        base_url: "http://127.0.0.1:1234/v1",
        key_vars: &["LM_STUDIO_API_KEY", "LM_API_TOKEN"],
        url_vars: &["LMSTUDIO_BASE_URL", "LM_STUDIO_API_BASE"],
        url_style: UrlStyle::BaseUrl,
        local: true,
    },
];

/// The preset of a kind.
pub fn preset(kind: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.kind == kind)
}

impl Preset {
    /// The `(base_url, api_key)` to register from env, or `None` when the env does not name
    /// this service. `base_url` is `None` when no URL var is set (the preset's default).
    pub fn from_env(
        &self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Option<(Option<String>, Option<String>)> {
        let first = |vars: &[&str]| {
            vars.iter().find_map(|v| {
                lookup(v)
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
            })
        };
        let key = first(self.key_vars);
        let url = first(self.url_vars).map(|u| self.normalize_url(&u));
        let registered = if self.local {
            key.is_some() || url.is_some()
        } else {
            key.is_some()
        };
        registered.then_some((url, key))
    }

    /// A base-URL env value as a base URL.
    pub fn normalize_url(&self, raw: &str) -> String {
        let raw = raw.trim().trim_end_matches('/');
        match self.url_style {
            UrlStyle::BaseUrl => raw.to_string(),
            UrlStyle::HostPort { default_port, path } => {
                let (scheme, rest, port_default) = match raw.split_once("://") {
                    Some((s, r)) => (s, r, None),
                    None => ("http", raw, Some(default_port)),
                };
                let (host, tail) = match rest.split_once('/') {
                    Some((h, t)) => (h, format!("/{t}")),
                    None => (rest, String::new()),
                };
                let has_port = host
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.ends_with(':') && p.parse::<u16>().is_ok());
                let host = if host.is_empty() { "127.0.0.1" } else { host };
                let port = match port_default {
                    Some(p) if !has_port => format!(":{p}"),
                    _ => String::new(),
                };
                format!("{scheme}://{host}{port}{tail}{path}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_unique_and_urls_absolute() {
        for (i, p) in PRESETS.iter().enumerate() {
            assert!(
                PRESETS[i + 1..].iter().all(|q| q.kind != p.kind),
                "{} twice",
                p.kind
            );
            assert!(p.base_url.starts_with("http"), "{}", p.kind);
            assert!(!p.base_url.ends_with('/'), "{}", p.kind);
            assert!(p.local || !p.key_vars.is_empty(), "{}", p.kind);
        }
    }

    #[test]
    fn ollama_host_forms() {
        let Some(p) = preset("ollama") else {
            unreachable!("ollama is a preset")
        };
        for (raw, want) in [
            ("0.0.0.0", "http://0.0.0.0:11434/v1"),
            ("127.0.0.1:5000", "http://127.0.0.1:5000/v1"),
            (
                "https://ollama.example.com",
                "https://ollama.example.com/v1",
            ),
            ("http://gpu-box:11434/", "http://gpu-box:11434/v1"),
        ] {
            assert_eq!(p.normalize_url(raw), want, "{raw}");
        }
    }

    #[test]
    fn hosted_need_a_key_local_need_a_url_or_key() {
        let none = |_: &str| None;
        for p in PRESETS {
            assert!(
                p.from_env(none).is_none(),
                "{} registered from nothing",
                p.kind
            );
        }
        let groq =
            preset("groq").map(|p| p.from_env(|v| (v == "GROQ_API_KEY").then(|| "k".into())));
        assert_eq!(groq, Some(Some((None, Some("k".into())))));
        let pplx =
            preset("perplexity").map(|p| p.from_env(|v| (v == "PPLX_API_KEY").then(|| "k".into())));
        assert_eq!(pplx, Some(Some((None, Some("k".into())))));
        let vllm = preset("vllm")
            .map(|p| p.from_env(|v| (v == "VLLM_BASE_URL").then(|| "http://gpu:8000/v1/".into())));
        assert_eq!(vllm, Some(Some((Some("http://gpu:8000/v1".into()), None))));
    }
}
