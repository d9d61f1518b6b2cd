//! Redaction: API keys, authorization fields and configured JSON paths never reach the store
//! (nor the events stream) in clear.

use serde_json::Value;
use std::borrow::Cow;

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Object keys whose values are always secrets (compared lowercase, `_` as `-`).
const SECRET_FIELDS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "api-key",
    "x-api-key",
    "apikey",
    "openai-api-key",
    "anthropic-api-key",
];

/// Shortest run of key characters after `sk-` taken for an API key.
const MIN_KEY_CHARS: usize = 8;

/// Redacts bodies by the fixed rules plus configured JSON paths.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    paths: Vec<Vec<String>>,
}

impl Redactor {
    /// A redactor for dotted `paths` (`metadata.user`, `$.messages.*.content`; `*` matches
    /// any array element or object key).
    pub fn new(paths: &[String]) -> Self {
        let paths = paths
            .iter()
            .map(|p| {
                p.trim_start_matches('$')
                    .split('.')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .filter(|p| !p.is_empty())
            .collect();
        Self { paths }
    }

    /// Redacts `v` in place: secret fields, key-like strings, then configured paths.
    /// Returns the paths it changed (`messages[0].content`, `api_key`), so a replay can say
    /// what the stored body is missing.
    pub fn value(&self, v: &mut Value) -> Vec<String> {
        let mut changed = Vec::new();
        walk(v, &mut String::new(), &mut changed);
        for p in &self.paths {
            redact_path(v, p, &mut String::new(), &mut changed);
        }
        changed.sort();
        changed.dedup();
        changed
    }
}

fn is_secret_field(name: &str) -> bool {
    let n = name.to_ascii_lowercase().replace('_', "-");
    SECRET_FIELDS.contains(&n.as_str())
}

/// Appends one step to a path (`.key` or `[i]`), runs `f`, and takes it off again.
fn step<R>(at: &mut String, part: Part<'_>, f: impl FnOnce(&mut String) -> R) -> R {
    let len = at.len();
    match part {
        Part::Key(k) if at.is_empty() => at.push_str(k),
        Part::Key(k) => {
            at.push('.');
            at.push_str(k);
        }
        Part::Index(i) => {
            at.push('[');
            at.push_str(&i.to_string());
            at.push(']');
        }
    }
    let out = f(at);
    at.truncate(len);
    out
}

enum Part<'a> {
    Key(&'a str),
    Index(usize),
}

fn walk(v: &mut Value, at: &mut String, changed: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            if let Cow::Owned(r) = text(s) {
                if r != *s {
                    *s = r;
                    changed.push(at.clone());
                }
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter_mut().enumerate() {
                step(at, Part::Index(i), |at| walk(c, at, changed));
            }
        }
        Value::Object(o) => {
            for (k, val) in o.iter_mut() {
                step(at, Part::Key(k), |at| {
                    if is_secret_field(k) && !val.is_null() && val.as_str() != Some(REDACTED) {
                        *val = Value::String(REDACTED.into());
                        changed.push(at.clone());
                    } else {
                        walk(val, at, changed);
                    }
                });
            }
        }
        _ => {}
    }
}

fn redact_path(v: &mut Value, path: &[String], at: &mut String, changed: &mut Vec<String>) {
    let Some((head, rest)) = path.split_first() else {
        if !v.is_null() && v.as_str() != Some(REDACTED) {
            *v = Value::String(REDACTED.into());
            changed.push(at.clone());
        }
        return;
    };
    match v {
        Value::Object(o) if head == "*" => {
            for (k, c) in o.iter_mut() {
                step(at, Part::Key(k), |at| redact_path(c, rest, at, changed));
            }
        }
        Value::Object(o) => {
            if let Some(c) = o.get_mut(head) {
                step(at, Part::Key(head), |at| redact_path(c, rest, at, changed));
            }
        }
        Value::Array(a) if head == "*" => {
            for (i, c) in a.iter_mut().enumerate() {
                step(at, Part::Index(i), |at| redact_path(c, rest, at, changed));
            }
        }
        Value::Array(a) => {
            if let Some((i, c)) = head
                .parse::<usize>()
                .ok()
                .and_then(|i| a.get_mut(i).map(|c| (i, c)))
            {
                step(at, Part::Index(i), |at| redact_path(c, rest, at, changed));
            }
        }
        _ => {}
    }
}

fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn starts_word(bytes: &[u8], i: usize) -> bool {
    i == 0 || !bytes[i - 1].is_ascii_alphanumeric()
}

/// Redacts API keys (`sk-...`) and bearer tokens (`Bearer ...`) inside free text.
pub fn text(s: &str) -> Cow<'_, str> {
    let lower = s.to_ascii_lowercase();
    if !lower.contains("sk-") && !lower.contains("bearer") {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let lb = lower.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        if starts_word(bytes, i) && lb[i..].starts_with(b"bearer") {
            let mut start = i + 6;
            while start < bytes.len() && (bytes[start] == b' ' || bytes[start] == b'\t') {
                start += 1;
            }
            let mut end = start;
            while end < bytes.len()
                && !bytes[end].is_ascii_whitespace()
                && !matches!(bytes[end], b'"' | b'\'' | b',' | b';')
            {
                end += 1;
            }
            if start > i + 6 && end > start {
                out.push_str(&s[i..start]);
                out.push_str(REDACTED);
                i = end;
                changed = true;
                continue;
            }
        }
        if starts_word(bytes, i) && lb[i..].starts_with(b"sk-") {
            let mut end = i + 3;
            while end < bytes.len() && is_key_char(bytes[end]) {
                end += 1;
            }
            if end - (i + 3) >= MIN_KEY_CHARS {
                out.push_str(REDACTED);
                i = end;
                changed = true;
                continue;
            }
        }
        let Some(ch) = s[i..].chars().next() else {
            break;
        };
        out.push(ch);
        i += ch.len_utf8();
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_tokens_fields_and_paths_are_redacted() {
        let r = Redactor::new(&["metadata.user".into(), "$.messages.*.name".into()]);
        let mut v = json!({
            "model": "m",
            "api_key": "plain-secret",
            "headers": {"Authorization": "Bearer abc.def", "X-Api-Key": "k"},
            "messages": [{"role": "user", "name": "alice", "content": "my key is sk-proj-ABCDEFGH1234 ok; Bearer tok123"}],
            "metadata": {"user": "bob", "keep": "sk-short"}
        });
        let changed = r.value(&mut v);
        assert_eq!(
            changed,
            [
                "api_key",
                "headers.Authorization",
                "headers.X-Api-Key",
                "messages[0].content",
                "messages[0].name",
                "metadata.user"
            ]
        );
        let again = r.value(&mut v);
        assert!(
            again.is_empty(),
            "nothing left to redact the second time: {again:?}"
        );
        let s = v.to_string();
        for secret in [
            "plain-secret",
            "abc.def",
            "sk-proj-ABCDEFGH1234",
            "tok123",
            "alice",
            "bob",
        ] {
            assert!(!s.contains(secret), "{secret} leaked in {s}");
        }
        assert_eq!(v["metadata"]["keep"], "sk-short");
        assert_eq!(v["model"], "m");
        assert_eq!(
            v["messages"][0]["content"],
            "my key is [REDACTED] ok; Bearer [REDACTED]"
        );
    }

    #[test]
    fn text_without_secrets_is_untouched() {
        assert!(matches!(text("risk-free bearer"), Cow::Borrowed(_)));
        assert_eq!(text("über sk-0123456789ab é"), "über [REDACTED] é");
    }
}
