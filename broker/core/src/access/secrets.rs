//! Keeping secrets out of what the gateway shows: the config as `switchyard config` prints
//! it, and upstream error text (an upstream that echoes the key it was sent must not put it
//! in a client's answer, a log line, a result or an event).

use crate::config::{Config, ProviderConfig};

/// What replaces a secret.
pub const HIDDEN: &str = "***";

/// Whether an adapter option's name says it holds a secret.
pub fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "secret",
        "token",
        "password",
        "passwd",
        "api_key",
        "apikey",
        "credential",
        "private",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// Every secret a provider's config holds: its API key, secret-named options and header
/// values, and query-string values of its base URL.
pub fn provider_secrets(p: &ProviderConfig) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(k) = &p.api_key {
        out.push(k.expose().to_string());
    }
    for (name, v) in &p.options {
        match (name.as_str(), v) {
            ("headers", toml::Value::Table(t)) => {
                out.extend(t.values().filter_map(|v| v.as_str().map(str::to_string)))
            }
            (n, toml::Value::String(s)) if secret_name(n) => out.push(s.clone()),
            _ => {}
        }
    }
    if let Some((_, q)) = p.base_url.as_deref().and_then(|u| u.split_once('?')) {
        out.extend(
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(_, v)| v.to_string()),
        );
    }
    // Short values (`1`, `true`) are not secrets worth scrubbing and would mangle text.
    out.retain(|s| s.len() >= 8);
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

/// `text` with every one of `secrets` and anything shaped like a provider key hidden.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), HIDDEN);
        }
    }
    mask_key_shapes(&out)
}

/// Prefixes of well-known provider key formats.
const KEY_PREFIXES: &[&str] = &[
    "sk-", "sk_", "AIza", "AKIA", "ASIA", "gsk_", "xai-", "pplx-", "fw_", "sy-",
];

/// Hides what looks like a provider key (`sk-...`, `AIza...`, `AKIA...`: a known prefix
/// followed by 16 or more key characters), keeping the prefix so the message still says
/// which kind of key it was.
pub fn mask_key_shapes(text: &str) -> String {
    let is_key_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let at_boundary = out.chars().last().is_none_or(|c| !is_key_char(c));
        let hit = at_boundary
            .then(|| KEY_PREFIXES.iter().find(|p| rest.starts_with(**p)))
            .flatten();
        if let Some(p) = hit {
            let tail = &rest[p.len()..];
            let n = tail.find(|c: char| !is_key_char(c)).unwrap_or(tail.len());
            if n >= 16 {
                out.push_str(p);
                out.push_str(HIDDEN);
                rest = &tail[n..];
                continue;
            }
        }
        let Some(c) = rest.chars().next() else { break };
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The URL with its userinfo and query-string values hidden.
fn url(u: &str) -> String {
    let (base, query) = match u.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (u, None),
    };
    let base = match base.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.find('/').unwrap_or(rest.len());
            match rest[..authority].rfind('@') {
                Some(at) => format!("{scheme}://{HIDDEN}@{}", &rest[at + 1..]),
                None => base.to_string(),
            }
        }
        None => base.to_string(),
    };
    match query {
        Some(q) => {
            let q: Vec<String> = q
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) => format!("{k}={HIDDEN}"),
                    None => kv.to_string(),
                })
                .collect();
            format!("{base}?{}", q.join("&"))
        }
        None => base,
    }
}

/// Hides the secret-bearing values of adapter options in place.
fn options(t: &mut toml::Table) {
    for (name, v) in t.iter_mut() {
        match v {
            toml::Value::Table(h) if name == "headers" => {
                for (_, hv) in h.iter_mut() {
                    *hv = toml::Value::String(HIDDEN.into());
                }
            }
            toml::Value::String(s) if secret_name(name) => *s = HIDDEN.into(),
            toml::Value::String(s) if s.contains("://") => *s = url(s),
            toml::Value::Table(inner) => options(inner),
            _ => {}
        }
    }
}

/// The config as it may be shown: keys and secret-bearing options, header values, and
/// URL credentials and query strings hidden.
pub fn displayable(cfg: &Config) -> Config {
    let mut c = cfg.clone();
    for p in c.providers.values_mut() {
        if let Some(u) = &p.base_url {
            p.base_url = Some(url(u));
        }
        options(&mut p.options);
    }
    if let Some(u) = &c.nats.url {
        c.nats.url = Some(u.split(',').map(url).collect::<Vec<_>>().join(","));
    }
    if let Some(u) = &c.cache.url {
        c.cache.url = Some(url(u));
    }
    if let Some(u) = &c.telemetry.otlp_endpoint {
        c.telemetry.otlp_endpoint = Some(url(u));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_shapes_and_listed_secrets_are_hidden() {
        let text = "Incorrect API key provided: sk-proj-abcdefghijklmnopqrstuvwx. Also AIzaSyA1234567890abcdefgh and ask-me and sk-short";
        let s = scrub(text, &["hunter2hunter2".into()]);
        assert_eq!(
            s,
            "Incorrect API key provided: sk-***. Also AIza*** and ask-me and sk-short"
        );
        assert_eq!(
            scrub("key=hunter2hunter2!", &["hunter2hunter2".into()]),
            "key=***!"
        );
    }

    #[test]
    fn the_displayed_config_hides_options_headers_and_url_secrets() {
        let mut cfg = Config::default();
        let p: ProviderConfig = toml::from_str(
            "kind = \"bedrock\"\nbase_url = \"https://u:pw@example.com/v1?key=abc123456789&x=1\"\napi_key = \"sk-aaaaaaaaaaaaaaaaaaaaaaaa\"\nsecret_access_key = \"wJalrXUtnFEMI/K7MDENG\"\nsession_token = \"FwoGZXIvYXdzEJr\"\naccess_key_id = \"AKIDEXAMPLE\"\nheaders = { \"x-custom-auth\" = \"Bearer tok-123456789\" }\n",
        )
        .unwrap();
        cfg.providers.insert("b".into(), p.clone());
        let text = toml::to_string(&displayable(&cfg)).unwrap();
        for secret in [
            "pw@",
            "abc123456789",
            "sk-aaaa",
            "wJalrXUtnFEMI",
            "FwoGZXIvYXdzEJr",
            "tok-123456789",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(
            text.contains("AKIDEXAMPLE") && text.contains("example.com/v1?key=***&x=***"),
            "{text}"
        );
        let secrets = provider_secrets(&p);
        assert!(
            secrets.contains(&"wJalrXUtnFEMI/K7MDENG".to_string())
                && secrets.contains(&"Bearer tok-123456789".to_string()),
            "{secrets:?}"
        );
    }
}
