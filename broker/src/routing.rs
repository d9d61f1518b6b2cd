//! Model resolution: from the `model` a client sends to the ordered targets of a job.

use crate::config::Config;
use crate::error::GatewayError;
use schemas::Target;
use std::collections::BTreeMap;

/// Resolves model names against the configured providers and aliases.
#[derive(Debug, Clone, Default)]
pub struct Router {
    providers: BTreeMap<String, Vec<String>>,
    aliases: BTreeMap<String, Vec<Target>>,
    bare: BTreeMap<String, Vec<String>>,
}

fn split_target(t: &str) -> Option<Target> {
    let (provider, model) = t.split_once('/')?;
    Some(Target {
        provider: provider.to_string(),
        model: model.to_string(),
    })
}

impl Router {
    /// A router over the config's providers and `[models]` aliases.
    pub fn new(cfg: &Config) -> Self {
        let mut bare: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, p) in &cfg.providers {
            for m in &p.models {
                bare.entry(m.clone()).or_default().push(name.clone());
            }
        }
        let aliases = cfg
            .models
            .iter()
            .map(|(alias, a)| {
                let targets = a
                    .target
                    .iter()
                    .chain(a.fallbacks.iter())
                    .filter_map(|t| split_target(t))
                    .collect();
                (alias.clone(), targets)
            })
            .collect();
        Self {
            providers: cfg
                .providers
                .iter()
                .map(|(n, p)| (n.clone(), p.models.clone()))
                .collect(),
            aliases,
            bare,
        }
    }

    /// The targets for `model`, in the order to try them.
    ///
    /// An alias wins; then `provider/model` when the first segment is a configured provider;
    /// then a bare model name that exactly one provider lists.
    pub fn resolve(&self, model: &str) -> Result<Vec<Target>, GatewayError> {
        if model.trim().is_empty() {
            return Err(GatewayError::bad_request(
                "`model` is empty. Name a model such as `mock/echo`; GET /v1/models lists them.",
                Some("model"),
            ));
        }
        if let Some(t) = self.aliases.get(model) {
            return Ok(t.clone());
        }
        if let Some(t) = split_target(model).filter(|t| self.providers.contains_key(&t.provider)) {
            if !t.model.is_empty() {
                return Ok(vec![t]);
            }
        }
        match self.bare.get(model).map(Vec::as_slice) {
            Some([one]) => Ok(vec![Target {
                provider: one.clone(),
                model: model.to_string(),
            }]),
            Some(many) if many.len() > 1 => Err(GatewayError::bad_request(
                format!(
                    "The model `{model}` is served by several providers ({}). Name one as `provider/{model}`.",
                    many.join(", ")
                ),
                Some("model"),
            )),
            _ => Err(GatewayError::ModelNotFound(model.to_string())),
        }
    }

    /// Every addressable model: `(id, owner)`, aliases first.
    pub fn models(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .aliases
            .iter()
            .map(|(a, t)| {
                let owner = t.first().map(|t| t.provider.clone()).unwrap_or_default();
                (a.clone(), owner)
            })
            .collect();
        for (p, models) in &self.providers {
            for m in models {
                out.push((format!("{p}/{m}"), p.clone()));
            }
        }
        out
    }

    /// The configured provider names.
    pub fn provider_names(&self) -> impl Iterator<Item = &String> {
        self.providers.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ModelAlias, ProviderConfig};

    fn router() -> Router {
        let mut cfg = Config::default();
        let p = |models: &[&str]| ProviderConfig {
            kind: "openai".into(),
            models: models.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        cfg.providers.insert("a".into(), p(&["m1", "shared"]));
        cfg.providers.insert("b".into(), p(&["shared", "org/m2"]));
        cfg.models.insert(
            "fast".into(),
            ModelAlias {
                target: Some("a/m1".into()),
                fallbacks: vec!["b/shared".into()],
            },
        );
        Router::new(&cfg)
    }

    #[test]
    fn resolves_aliases_qualified_and_bare() {
        let r = router();
        let t = r.resolve("fast").map_err(|e| e.to_string());
        assert_eq!(t.map(|v| v.len()), Ok(2));
        let t = r.resolve("b/any-model").map_err(|e| e.to_string());
        assert_eq!(t.map(|v| v[0].qualified()), Ok("b/any-model".to_string()));
        let t = r.resolve("org/m2").map_err(|e| e.to_string());
        assert_eq!(t.map(|v| v[0].qualified()), Ok("b/org/m2".to_string()));
        assert!(matches!(
            r.resolve("shared"),
            Err(GatewayError::BadRequest { .. })
        ));
        assert!(matches!(
            r.resolve("nope"),
            Err(GatewayError::ModelNotFound(_))
        ));
    }
}
