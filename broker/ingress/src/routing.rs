//! Model resolution: from the `model` a client sends to the ordered targets of a job.

use crate::error::GatewayError;
use broker::config::Config;
use schemas::Target;
use std::collections::BTreeMap;

/// An alias: weighted targets sharing the traffic, then fallbacks in order.
#[derive(Debug, Clone, Default)]
struct Alias {
    weighted: Vec<(Target, u32)>,
    fallbacks: Vec<Target>,
}

/// What the router knows of targets right now: whether a provider's circuit is open, and
/// how busy it is from this process's point of view.
pub trait TargetHealth {
    /// Whether calls to the target (`provider/model`) are refused by its circuit breaker.
    fn is_open(&self, target: &str) -> bool;
    /// Jobs this process has in flight on the provider.
    fn busy(&self, provider: &str) -> usize;
}

/// No health knowledge: every target closed and idle.
pub struct NoHealth;

impl TargetHealth for NoHealth {
    fn is_open(&self, _: &str) -> bool {
        false
    }
    fn busy(&self, _: &str) -> usize {
        0
    }
}

/// Resolves model names against the configured providers and aliases.
#[derive(Debug, Clone, Default)]
pub struct Router {
    providers: BTreeMap<String, Vec<String>>,
    aliases: BTreeMap<String, Alias>,
    bare: BTreeMap<String, Vec<String>>,
}

/// Picks the primary of weighted targets: weighted random among those whose circuit is
/// closed (all of them when every circuit is open), the less busy of two draws.
fn pick(weighted: &[(Target, u32)], health: &dyn TargetHealth) -> usize {
    let open: Vec<bool> = weighted
        .iter()
        .map(|(t, _)| health.is_open(&t.qualified()))
        .collect();
    let usable = |i: usize| !open[i] || open.iter().all(|o| *o);
    let total: u64 = (0..weighted.len())
        .filter(|i| usable(*i))
        .map(|i| weighted[i].1 as u64)
        .sum();
    if total == 0 {
        return 0;
    }
    let draw = || {
        let mut r = rand::random_range(0..total);
        for (i, (_, w)) in weighted.iter().enumerate() {
            if !usable(i) {
                continue;
            }
            if r < *w as u64 {
                return i;
            }
            r -= *w as u64;
        }
        0
    };
    let (a, b) = (draw(), draw());
    if health.busy(&weighted[b].0.provider) < health.busy(&weighted[a].0.provider) {
        b
    } else {
        a
    }
}

/// The longest model name accepted.
pub const MAX_MODEL_LEN: usize = 256;

/// Checks a model name before it reaches an adapter, some of which put it in a URL path
/// (Gemini, Azure, Bedrock): not empty, at most [`MAX_MODEL_LEN`] bytes, no control
/// characters, whitespace, `\\ ? # %`, and no empty, `.` or `..` segment between `/`s.
pub fn check_model_name(model: &str) -> Result<(), GatewayError> {
    let bad = |why: &str| {
        Err(GatewayError::bad_request(
            format!("`model` {why}. Name a model such as `mock/echo`; GET /v1/models lists them."),
            Some("model"),
        ))
    };
    if model.trim().is_empty() {
        return bad("is empty");
    }
    if model.len() > MAX_MODEL_LEN {
        return bad(&format!("is longer than {MAX_MODEL_LEN} bytes"));
    }
    if let Some(c) = model
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || "\\?#%".contains(*c))
    {
        return bad(&format!(
            "contains the character {c:?}, which no model name has"
        ));
    }
    if model
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return bad("has an empty, `.` or `..` path segment");
    }
    Ok(())
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
                let weighted = a
                    .target
                    .iter()
                    .map(|t| (t.as_str(), 1))
                    .chain(a.targets.iter().map(|t| (t.target.as_str(), t.weight)))
                    .filter_map(|(t, w)| split_target(t).map(|t| (t, w)))
                    .collect();
                let fallbacks = a.fallbacks.iter().filter_map(|t| split_target(t)).collect();
                (
                    alias.clone(),
                    Alias {
                        weighted,
                        fallbacks,
                    },
                )
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
        self.resolve_with(model, &NoHealth)
    }

    /// Like [`Router::resolve`], choosing among an alias's weighted targets with `health`:
    /// the picked target first, the other weighted targets next (heaviest first), then the
    /// fallbacks.
    pub fn resolve_with(
        &self,
        model: &str,
        health: &dyn TargetHealth,
    ) -> Result<Vec<Target>, GatewayError> {
        check_model_name(model)?;
        if let Some(a) = self.aliases.get(model) {
            let mut route = Vec::with_capacity(a.weighted.len() + a.fallbacks.len());
            if !a.weighted.is_empty() {
                let first = pick(&a.weighted, health);
                route.push(a.weighted[first].0.clone());
                let mut rest: Vec<&(Target, u32)> = a
                    .weighted
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != first)
                    .map(|(_, t)| t)
                    .collect();
                rest.sort_by_key(|t| std::cmp::Reverse(t.1));
                route.extend(rest.into_iter().map(|(t, _)| t.clone()));
            }
            for f in &a.fallbacks {
                if !route.contains(f) {
                    route.push(f.clone());
                }
            }
            return Ok(route);
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
                let owner = t
                    .weighted
                    .first()
                    .map(|t| t.0.provider.clone())
                    .unwrap_or_default();
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
    use broker::config::{ModelAlias, ProviderConfig, WeightedTarget};

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
                ..Default::default()
            },
        );
        cfg.models.insert(
            "spread".into(),
            ModelAlias {
                targets: vec![
                    WeightedTarget {
                        target: "a/m1".into(),
                        weight: 3,
                    },
                    WeightedTarget {
                        target: "b/m2".into(),
                        weight: 1,
                    },
                ],
                fallbacks: vec!["b/shared".into()],
                ..Default::default()
            },
        );
        Router::new(&cfg)
    }

    struct OpenA;
    impl TargetHealth for OpenA {
        fn is_open(&self, t: &str) -> bool {
            t.starts_with("a/")
        }
        fn busy(&self, _: &str) -> usize {
            0
        }
    }

    #[test]
    fn weighted_targets_share_traffic_and_skip_open_circuits() {
        let r = router();
        let mut first_a = 0;
        for _ in 0..2000 {
            let route = r.resolve("spread").map_err(|e| e.to_string());
            let route = route.unwrap_or_default();
            assert_eq!(route.len(), 3, "both weighted targets and the fallback");
            assert_eq!(route[2].qualified(), "b/shared");
            if route[0].provider == "a" {
                first_a += 1;
            }
        }
        // Weight 3:1 with the less-busy-of-two draw (all idle): about 75% to 94% go to `a`.
        assert!((1300..2000).contains(&first_a), "{first_a}");
        for _ in 0..200 {
            let route = r.resolve_with("spread", &OpenA).unwrap_or_default();
            assert_eq!(route[0].provider, "b", "an open circuit is skipped");
            assert_eq!(route[1].provider, "a", "but stays as a fallback");
        }
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
