//! A strict parser of the Prometheus text exposition format 0.0.4, and scraping helpers.

use crate::harness::*;
use std::collections::{BTreeMap, HashMap};

/// One sample line.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

fn valid_name(n: &str) -> bool {
    let mut c = n.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_' || f == ':')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
}

fn parse_value(v: &str) -> Result<f64, String> {
    match v {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => v.parse().map_err(|_| format!("bad value `{v}`")),
    }
}

fn parse_labels(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        let name: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if name.is_empty() {
            return Err(format!("empty label name in `{s}`"));
        }
        if !valid_name(&name) || name.contains(':') {
            return Err(format!("bad label name `{name}`"));
        }
        if chars.next() != Some('=') || chars.next() != Some('"') {
            return Err(format!("label `{name}` lacks =\"...\""));
        }
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('\\') => match chars.next() {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => return Err(format!("bad escape {other:?} in `{s}`")),
                },
                Some('"') => break,
                Some(c) => value.push(c),
                None => return Err(format!("unterminated label value in `{s}`")),
            }
        }
        if out.insert(name.clone(), value).is_some() {
            return Err(format!("label `{name}` repeated"));
        }
        match chars.next() {
            None => return Ok(out),
            Some(',') => {}
            Some(c) => return Err(format!("unexpected `{c}` after a label in `{s}`")),
        }
    }
}

/// A series' labels without `le`, in order.
type LabelPairs = Vec<(String, String)>;

/// A strict parser of the text exposition format 0.0.4: HELP/TYPE before samples, valid
/// names and labels, sample names matching their declared family, histogram buckets
/// cumulative with `+Inf` equal to `_count`.
pub fn parse_prometheus(text: &str) -> Result<Vec<Sample>, String> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kw, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            if !valid_name(name) {
                return Err(format!("bad metric name in `{line}`"));
            }
            match kw {
                "HELP" => {}
                "TYPE" => {
                    let t = parts.next().unwrap_or("");
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&t) {
                        return Err(format!("bad type in `{line}`"));
                    }
                    if types.insert(name.to_string(), t.to_string()).is_some() {
                        return Err(format!("TYPE repeated for {name}"));
                    }
                }
                _ => {}
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .ok_or_else(|| format!("no value in `{line}`"))?;
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => {
                let l = l
                    .strip_suffix('}')
                    .ok_or_else(|| format!("unclosed labels in `{line}`"))?;
                (n, parse_labels(l)?)
            }
            None => (series, BTreeMap::new()),
        };
        if !valid_name(name) {
            return Err(format!("bad metric name `{name}`"));
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|b| types.get(*b).map(String::as_str) == Some("histogram"))
            })
            .unwrap_or(name);
        let t = types
            .get(family)
            .ok_or_else(|| format!("sample `{name}` before its TYPE"))?;
        if t == "counter" && !name.ends_with("_total") {
            return Err(format!("counter `{name}` does not end in _total"));
        }
        if name.ends_with("_bucket") && t == "histogram" && !labels.contains_key("le") {
            return Err(format!("bucket without le: `{line}`"));
        }
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value: parse_value(value)?,
        });
    }
    // Histograms: cumulative buckets, +Inf == count.
    let mut buckets: BTreeMap<(String, LabelPairs), Vec<(f64, f64)>> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.name.ends_with("_bucket")) {
        let mut key: Vec<_> = s.labels.clone().into_iter().collect();
        key.retain(|(k, _)| k != "le");
        let le = parse_value(&s.labels["le"])?;
        buckets
            .entry((s.name.trim_end_matches("_bucket").to_string(), key))
            .or_default()
            .push((le, s.value));
    }
    for ((fam, key), bs) in buckets {
        if bs.windows(2).any(|w| w[0].0 >= w[1].0 || w[0].1 > w[1].1) {
            return Err(format!("{fam}{key:?}: buckets not increasing: {bs:?}"));
        }
        let inf = bs.last().filter(|b| b.0.is_infinite()).map(|b| b.1);
        let count = samples
            .iter()
            .find(|s| {
                s.name == format!("{fam}_count")
                    && s.labels.clone().into_iter().collect::<Vec<_>>() == key
            })
            .map(|s| s.value);
        if inf.is_none() || inf != count {
            return Err(format!(
                "{fam}{key:?}: +Inf bucket {inf:?} != count {count:?}"
            ));
        }
    }
    Ok(samples)
}

pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

pub async fn scrape(gw: &Gateway) -> Vec<Sample> {
    let r = gw.get("/metrics").await;
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = r.text().await.unwrap();
    parse_prometheus(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}
