//! `SWITCHYARD_*` overrides and `${VAR}` interpolation.

/// Applies `SWITCHYARD_*` env vars to a TOML document.
///
/// `SWITCHYARD_NATS_URL=...` sets `nats.url`: the first `_` after the prefix separates the
/// section from the key. A `__` separates every level instead, for nested keys:
/// `SWITCHYARD_PROVIDERS__OPENAI__BASE_URL` sets `providers.openai.base_url`. Values parse as
/// TOML (numbers, booleans, arrays) and fall back to strings. Returns each key set, with
/// the env var that set it.
pub fn apply_overrides(
    doc: &mut toml::Table,
    vars: impl Iterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    let mut applied = Vec::new();
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix("SWITCHYARD_") else {
            continue;
        };
        if rest == "MASTER_KEY" {
            // Always a string, whatever it looks like.
            set_path(doc, &["auth", "master_key"], toml::Value::String(value));
            applied.push(("auth.master_key".into(), name.clone()));
            continue;
        }
        let lower = rest.to_lowercase();
        let path: Vec<&str> = if lower.contains("__") {
            lower.split("__").collect()
        } else {
            match lower.split_once('_') {
                Some((a, b)) => vec![a, b],
                None => continue,
            }
        };
        if path.len() < 2 || path.iter().any(|p| p.is_empty()) {
            continue;
        }
        if ![
            "server",
            "nats",
            "worker",
            "providers",
            "models",
            "auditor",
            "telemetry",
            "auth",
            "prices",
            "cache",
            "files",
        ]
        .contains(&path[0])
        {
            continue;
        }
        set_path(doc, &path, parse_value(&value));
        applied.push((path.join("."), name.clone()));
    }
    applied
}

fn parse_value(raw: &str) -> toml::Value {
    let probe = format!("v = {raw}");
    match probe.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn set_path(doc: &mut toml::Table, path: &[&str], value: toml::Value) {
    let mut cur = doc;
    for key in &path[..path.len() - 1] {
        let entry = cur
            .entry(key.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(next) = entry else {
            return;
        };
        cur = next;
    }
    if let Some(last) = path.last() {
        cur.insert(last.to_string(), value);
    }
}

/// The byte offset where a TOML line's comment starts (a `#` outside quotes), if any.
fn comment_start(line: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' => return Some(i),
            None => {}
        }
    }
    None
}

/// Replaces `${VAR}` (and `${VAR:-default}`) with the env var's value, outside comments.
pub fn interpolate(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (code, comment) = line.split_at(comment_start(line).unwrap_or(line.len()));
        out.push_str(&interpolate_code(code, &lookup)?);
        out.push_str(comment);
    }
    Ok(out)
}

fn interpolate_code(
    text: &str,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err("an unclosed `${` (write `${VAR}`)".into());
        };
        let expr = &after[..end];
        let (var, default) = match expr.split_once(":-") {
            Some((v, d)) => (v, Some(d)),
            None => (expr, None),
        };
        match (lookup(var), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                return Err(format!(
                    "the env var `{var}` is not set (set it, or write `${{{var}:-default}}`)"
                ))
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_left_alone() {
        let look = |v: &str| (v == "K").then(|| "v".to_string());
        let text = "# api_key = \"${UNSET}\"\nkey = \"${K}#not-a-comment\" # ${ALSO_UNSET}\n";
        assert_eq!(
            interpolate(text, look).as_deref(),
            Ok("# api_key = \"${UNSET}\"\nkey = \"v#not-a-comment\" # ${ALSO_UNSET}\n")
        );
    }

    #[test]
    fn interpolates_and_defaults() {
        let look = |v: &str| (v == "K").then(|| "secret".to_string());
        assert_eq!(
            interpolate("a=${K} b=${X:-d}", look).as_deref(),
            Ok("a=secret b=d")
        );
        assert!(interpolate("${MISSING}", look)
            .unwrap_err()
            .contains("MISSING"));
    }

    #[test]
    fn overrides_set_nested_keys() {
        let mut doc = toml::Table::new();
        let vars = vec![
            (
                "SWITCHYARD_NATS_URL".to_string(),
                "nats://x:4222".to_string(),
            ),
            (
                "SWITCHYARD_SERVER_MAX_BODY_BYTES".to_string(),
                "10".to_string(),
            ),
            (
                "SWITCHYARD_PROVIDERS__OAI__BASE_URL".to_string(),
                "http://h".to_string(),
            ),
            ("OTHER".to_string(), "1".to_string()),
        ];
        apply_overrides(&mut doc, vars.into_iter());
        assert_eq!(doc["nats"]["url"].as_str(), Some("nats://x:4222"));
        assert_eq!(doc["server"]["max_body_bytes"].as_integer(), Some(10));
        assert_eq!(
            doc["providers"]["oai"]["base_url"].as_str(),
            Some("http://h")
        );
    }
}
