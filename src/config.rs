//! The config the binary runs with: the file and the environment (`broker::config`),
//! completed with the providers the environment names and checked adapter by adapter
//! (`workers::providers::catalog`), all before anything starts.

use broker::config::{Config, ConfigError};
use std::path::Path;

/// Loads `path` (if any) with the process environment, completes and checks it.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
    let mut cfg = Config::load(path)?;
    let name = path.map_or("<no file>".to_string(), |p| p.display().to_string());
    complete(&mut cfg, &name, |k| std::env::var(k).ok())?;
    Ok(cfg)
}

/// Builds, completes and checks a config from TOML text, an env lookup for `${VAR}` and the
/// provider env vars, and `SWITCHYARD_*` override vars.
pub fn from_toml(
    text: &str,
    name: &str,
    lookup: impl Fn(&str) -> Option<String>,
    vars: impl Iterator<Item = (String, String)> + Clone,
) -> Result<Config, ConfigError> {
    let mut cfg = Config::from_toml(text, name, &lookup, vars)?;
    complete(&mut cfg, name, lookup)?;
    Ok(cfg)
}

fn complete(
    cfg: &mut Config,
    name: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    workers::providers::catalog::complete(cfg, lookup).map_err(|message| ConfigError::Invalid {
        path: name.to_string(),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, String> {
        let vars: Vec<(String, String)> = env
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let v2 = vars.clone();
        from_toml(
            text,
            "s.toml",
            move |k| v2.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
            vars.into_iter(),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn a_type_error_names_the_key_and_its_line() {
        let e = load(
            "[server]\nlisten = \"127.0.0.1:1\"\n\n[worker]\nconcurrency = \"lots\"\n",
            &[],
        )
        .unwrap_err();
        assert!(
            e.contains("s.toml")
                && e.contains("worker.concurrency (line 5)")
                && e.contains("\"lots\""),
            "{e}"
        );
        let e = load(
            "[providers.x]\nkind = \"openai\"\nretry = { max_attempts = \"3\" }\n",
            &[],
        )
        .unwrap_err();
        assert!(e.contains("providers.x.retry.max_attempts (line 3)"), "{e}");
        let e = load("", &[("SWITCHYARD_WORKER_CONCURRENCY", "lots")]).unwrap_err();
        assert!(
            e.contains("worker.concurrency") && e.contains("SWITCHYARD_WORKER_CONCURRENCY"),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_kind_or_a_bad_option_fails_the_load() {
        let e = load("[providers.m]\nkind = \"mok\"\n", &[]).unwrap_err();
        assert!(e.contains("providers.m.kind") && e.contains("mok"), "{e}");
        let e = load("[providers.mock]\nlatency_ms = \"slow\"\n", &[]).unwrap_err();
        assert!(
            e.contains("providers.mock") && e.contains("latency_ms"),
            "{e}"
        );
    }

    #[test]
    fn aliases_may_name_providers_registered_from_the_environment() {
        let c = load(
            "[models.smart]\ntarget = \"openai/gpt-4o\"\n",
            &[("OPENAI_API_KEY", "sk-x")],
        );
        assert!(c.is_ok(), "{c:?}");
        let e = load("[models.smart]\ntarget = \"openai/gpt-4o\"\n", &[]).unwrap_err();
        assert!(e.contains("models.smart"), "{e}");
    }
}
