//! What the environment and the config's section names say about providers: each native
//! adapter's usual env vars, the OpenAI-compatible [presets](super::presets), the built-in
//! mock, and the `kind` of a section named after one.
//!
//! The config crate knows nothing of providers; the binary completes a loaded config here
//! (and builds every adapter once to check its options) before anything starts.

use super::presets::PRESETS;
use super::{factory, kind_names, Registry};
use broker::config::{Config, ProviderConfig, Secret};

/// A native adapter registered from its usual env vars when no provider of its name is
/// configured.
#[derive(Debug, Clone, Copy)]
pub struct EnvProvider {
    /// The provider name it is registered under (also its kind).
    pub name: &'static str,
    /// Env vars holding the API key; the first one set wins.
    pub key_vars: &'static [&'static str],
    /// An env var that must also be set and holds the base URL (Azure's endpoint).
    pub endpoint_var: Option<&'static str>,
}

/// The native adapters that register from env. Bedrock does not: its AWS credentials are
/// read from the usual `AWS_*` variables once a `[providers.<name>] kind = "bedrock"`
/// entry names a region.
pub const ENV_PROVIDERS: &[EnvProvider] = &[
    EnvProvider {
        name: "openai",
        key_vars: &["OPENAI_API_KEY"],
        endpoint_var: None,
    },
    EnvProvider {
        name: "gemini",
        key_vars: &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
        endpoint_var: None,
    },
    EnvProvider {
        name: "anthropic",
        key_vars: &["ANTHROPIC_API_KEY"],
        endpoint_var: None,
    },
    EnvProvider {
        name: "azure",
        key_vars: &["AZURE_OPENAI_API_KEY"],
        endpoint_var: Some("AZURE_OPENAI_ENDPOINT"),
    },
];

/// The models the built-in mock lists in `GET /v1/models` (it answers any model name).
pub const MOCK_MODELS: &[&str] = &["echo", "embed"];

fn entry(kind: &str, base_url: Option<String>, key: Option<String>) -> ProviderConfig {
    ProviderConfig {
        kind: kind.to_string(),
        base_url,
        api_key: key.map(Secret::new),
        ..Default::default()
    }
}

/// Completes `cfg`: a section without `kind` named after a kind (`[providers.mock]`) gets
/// that kind; providers named by the environment and the built-in mock are added where no
/// provider of their name is configured; then every adapter is built once, so an unknown
/// kind or a bad option is reported (with its key path) before anything starts.
pub fn complete(cfg: &mut Config, lookup: impl Fn(&str) -> Option<String>) -> Result<(), String> {
    for (name, p) in cfg.providers.iter_mut() {
        if p.kind.trim().is_empty() {
            if factory(name).is_none() {
                return Err(format!(
                    "providers.{name}.kind: missing. Set it (for example kind = \"openai\" for any OpenAI-compatible API; known kinds: {}), or name the section after a kind",
                    kind_names().join(", ")
                ));
            }
            p.kind = name.clone();
        }
    }
    let set = |v: &str| {
        lookup(v)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    for e in ENV_PROVIDERS {
        if cfg.providers.contains_key(e.name) {
            continue;
        }
        let Some(key) = e.key_vars.iter().find_map(|v| set(v)) else {
            continue;
        };
        let endpoint = match e.endpoint_var {
            Some(var) => match set(var) {
                Some(url) => Some(url),
                None => continue,
            },
            None => None,
        };
        cfg.providers
            .insert(e.name.into(), entry(e.name, endpoint, Some(key)));
    }
    for preset in PRESETS {
        if cfg.providers.contains_key(preset.kind) {
            continue;
        }
        if let Some((base_url, key)) = preset.from_env(&lookup) {
            cfg.providers
                .insert(preset.kind.into(), entry(preset.kind, base_url, key));
        }
    }
    if cfg.server.builtin_mock && !cfg.providers.contains_key("mock") {
        let mut mock = entry("mock", None, None);
        mock.models = MOCK_MODELS.iter().map(|m| m.to_string()).collect();
        cfg.providers.insert("mock".into(), mock);
    }
    cfg.validate()?;
    Registry::from_config(cfg).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, String> {
        let vars: Vec<(String, String)> = env
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let look = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let mut cfg = Config::from_toml(text, "test.toml", look, std::iter::empty())
            .map_err(|e| e.to_string())?;
        complete(&mut cfg, look)?;
        Ok(cfg)
    }

    #[test]
    fn empty_config_has_the_mock() {
        let c = load("", &[]);
        assert!(
            c.as_ref().is_ok_and(|c| c.providers["mock"].kind == "mock"),
            "{c:?}"
        );
    }

    #[test]
    fn a_section_named_after_a_kind_needs_no_kind() {
        let c = load("[providers.mock]\nlatency_ms = 5\n", &[]);
        assert_eq!(
            c.as_ref().map(|c| c.providers["mock"].kind.as_str()),
            Ok("mock")
        );
        let e = load("[providers.mine]\nbase_url = \"http://x\"\n", &[]).unwrap_err();
        assert!(e.starts_with("providers.mine.kind: missing"), "{e}");
        let e = load("[providers.x]\nkind = \"mok\"\n", &[]).unwrap_err();
        assert!(e.contains("providers.x.kind") && e.contains("mok"), "{e}");
    }

    #[test]
    fn env_key_registers_openai_and_is_hidden() {
        let c = load("", &[("OPENAI_API_KEY", "sk-secret")]).unwrap();
        assert_eq!(c.providers["openai"].kind, "openai");
        assert!(!format!("{c:?}").contains("sk-secret"));
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
        .unwrap();
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
        for p in PRESETS {
            let var = p.key_vars.first().or(p.url_vars.first()).copied();
            let value = if p.key_vars.is_empty() {
                "127.0.0.1:1"
            } else {
                "key"
            };
            let c = load("", &[(var.unwrap_or(""), value)]).unwrap();
            assert_eq!(c.providers[p.kind].kind, p.kind, "{var:?}");
        }
    }

    #[test]
    fn azure_needs_key_and_endpoint_and_config_wins() {
        let c = load("", &[("AZURE_OPENAI_API_KEY", "az-secret")]).unwrap();
        assert!(!c.providers.contains_key("azure"));
        let c = load(
            "",
            &[
                ("AZURE_OPENAI_API_KEY", "az-secret"),
                ("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com/"),
            ],
        )
        .unwrap();
        assert_eq!(c.providers["azure"].kind, "azure");
        assert_eq!(
            c.providers["azure"].base_url.as_deref(),
            Some("https://res.openai.azure.com/")
        );
        let c = load(
            "[providers.groq]\nkind = \"groq\"\napi_key = \"from-file\"\n",
            &[("GROQ_API_KEY", "from-env")],
        )
        .unwrap();
        let key = c.providers["groq"].api_key.clone();
        assert_eq!(key.as_ref().map(|k| k.expose()), Some("from-file"));
    }

    #[test]
    fn gemini_key_registers_gemini_with_google_key_as_fallback() {
        let c = load("", &[("GOOGLE_API_KEY", "g-fallback")]).unwrap();
        assert_eq!(c.providers["gemini"].kind, "gemini");
        let key = |c: &Config| {
            c.providers["gemini"]
                .api_key
                .as_ref()
                .map(|k| k.expose().to_string())
        };
        assert_eq!(key(&c).as_deref(), Some("g-fallback"));
        let c = load(
            "",
            &[
                ("GOOGLE_API_KEY", "g-fallback"),
                ("GEMINI_API_KEY", "g-main"),
            ],
        )
        .unwrap();
        assert_eq!(key(&c).as_deref(), Some("g-main"), "GEMINI_API_KEY wins");
    }

    #[test]
    fn env_key_registers_anthropic() {
        let c = load("", &[("ANTHROPIC_API_KEY", "sk-ant-secret")]).unwrap();
        assert_eq!(c.providers["anthropic"].kind, "anthropic");
    }
}
