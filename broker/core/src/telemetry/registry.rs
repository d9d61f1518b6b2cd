//! A small in-process metrics registry with a Prometheus text encoder (format 0.0.4).
//!
//! Counters, gauges and histograms with a fixed set of label names each. Every family caps
//! its number of series ([`MAX_SERIES`]); past the cap new label sets are folded into one
//! series whose values are all `other`, so a stream of unexpected model names cannot grow
//! memory or the scrape without bound.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Most series one family keeps before folding new label sets into `other`.
pub const MAX_SERIES: usize = 500;
/// Longest label value kept; longer values are cut.
const MAX_VALUE_LEN: usize = 128;

/// Latency buckets in seconds, from 5 ms to 5 min.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// What a family measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Set to a current value.
    Gauge,
    /// Observations counted into buckets.
    Histogram(&'static [f64]),
}

#[derive(Debug, Clone)]
enum Series {
    Value(f64),
    Hist {
        buckets: Vec<u64>,
        sum: f64,
        count: u64,
    },
}

/// One metric name with its series.
#[derive(Debug)]
pub struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    series: Mutex<BTreeMap<Vec<String>, Series>>,
}

impl Family {
    /// A family; `labels` are its label names in order.
    pub const fn new(
        name: &'static str,
        help: &'static str,
        kind: Kind,
        labels: &'static [&'static str],
    ) -> Self {
        Self {
            name,
            help,
            kind,
            labels,
            series: Mutex::new(BTreeMap::new()),
        }
    }

    /// The metric name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn with_series(&self, values: &[&str], f: impl FnOnce(&mut Series)) {
        let mut key: Vec<String> = self
            .labels
            .iter()
            .enumerate()
            .map(|(i, _)| {
                let v = values.get(i).copied().unwrap_or("");
                let v = if v.is_empty() { "none" } else { v };
                match v.char_indices().nth(MAX_VALUE_LEN) {
                    Some((cut, _)) => v[..cut].to_string(),
                    None => v.to_string(),
                }
            })
            .collect();
        let Ok(mut series) = self.series.lock() else {
            return;
        };
        if !series.contains_key(&key) && series.len() >= MAX_SERIES {
            key = vec!["other".to_string(); self.labels.len()];
        }
        let kind = self.kind;
        let s = series.entry(key).or_insert_with(|| match kind {
            Kind::Histogram(b) => Series::Hist {
                buckets: vec![0; b.len()],
                sum: 0.0,
                count: 0,
            },
            _ => Series::Value(0.0),
        });
        f(s);
    }

    /// Adds `by` to a counter or gauge.
    pub fn add(&self, values: &[&str], by: f64) {
        if !by.is_finite() || (self.kind == Kind::Counter && by < 0.0) {
            return;
        }
        self.with_series(values, |s| {
            if let Series::Value(v) = s {
                *v += by;
            }
        });
    }

    /// Adds one to a counter.
    pub fn inc(&self, values: &[&str]) {
        self.add(values, 1.0);
    }

    /// Sets a gauge.
    pub fn set(&self, values: &[&str], to: f64) {
        if self.kind != Kind::Gauge {
            return;
        }
        self.with_series(values, |s| {
            if let Series::Value(v) = s {
                *v = to;
            }
        });
    }

    /// Records one observation in a histogram.
    pub fn observe(&self, values: &[&str], x: f64) {
        let Kind::Histogram(bounds) = self.kind else {
            return;
        };
        if !x.is_finite() {
            return;
        }
        self.with_series(values, |s| {
            if let Series::Hist {
                buckets,
                sum,
                count,
            } = s
            {
                if let Some(i) = bounds.iter().position(|b| x <= *b) {
                    buckets[i] += 1;
                }
                *sum += x;
                *count += 1;
            }
        });
    }

    /// Drops every series (for gauges rebuilt from a fresh reading).
    pub fn clear(&self) {
        if let Ok(mut s) = self.series.lock() {
            s.clear();
        }
    }

    /// The current value of a counter or gauge series, if it exists.
    pub fn value(&self, values: &[&str]) -> Option<f64> {
        let key: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        match self.series.lock().ok()?.get(&key)? {
            Series::Value(v) => Some(*v),
            Series::Hist { count, .. } => Some(*count as f64),
        }
    }

    /// Appends the family in text exposition format 0.0.4.
    pub fn encode(&self, out: &mut String) {
        let kind = match self.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram(_) => "histogram",
        };
        let _ = writeln!(out, "# HELP {} {}", self.name, escape_help(self.help));
        let _ = writeln!(out, "# TYPE {} {kind}", self.name);
        let Ok(series) = self.series.lock() else {
            return;
        };
        for (key, s) in series.iter() {
            let labels = self.label_text(key, None);
            match s {
                Series::Value(v) => {
                    let _ = writeln!(out, "{}{labels} {}", self.name, number(*v));
                }
                Series::Hist {
                    buckets,
                    sum,
                    count,
                } => {
                    let Kind::Histogram(bounds) = self.kind else {
                        continue;
                    };
                    let mut cumulative = 0u64;
                    for (b, n) in bounds.iter().zip(buckets) {
                        cumulative += n;
                        let l = self.label_text(key, Some(&number(*b)));
                        let _ = writeln!(out, "{}_bucket{l} {cumulative}", self.name);
                    }
                    let l = self.label_text(key, Some("+Inf"));
                    let _ = writeln!(out, "{}_bucket{l} {count}", self.name);
                    let _ = writeln!(out, "{}_sum{labels} {}", self.name, number(*sum));
                    let _ = writeln!(out, "{}_count{labels} {count}", self.name);
                }
            }
        }
    }

    fn label_text(&self, key: &[String], le: Option<&str>) -> String {
        let mut parts: Vec<String> = self
            .labels
            .iter()
            .zip(key)
            .map(|(n, v)| format!("{n}=\"{}\"", escape_value(v)))
            .collect();
        if let Some(le) = le {
            parts.push(format!("le=\"{le}\""));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", parts.join(","))
        }
    }
}

fn escape_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value as Prometheus writes it.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_counters_and_histograms() {
        static C: Family = Family::new("t_total", "A \\ test\nline", Kind::Counter, &["a"]);
        static H: Family = Family::new("t_seconds", "h", Kind::Histogram(&[0.1, 1.0]), &["a"]);
        C.inc(&["x\"y"]);
        C.add(&["x\"y"], 2.0);
        C.add(&["x\"y"], -1.0);
        H.observe(&["q"], 0.05);
        H.observe(&["q"], 0.5);
        H.observe(&["q"], 5.0);
        let mut out = String::new();
        C.encode(&mut out);
        H.encode(&mut out);
        assert_eq!(
            out,
            "# HELP t_total A \\\\ test\\nline\n# TYPE t_total counter\nt_total{a=\"x\\\"y\"} 3\n\
             # HELP t_seconds h\n# TYPE t_seconds histogram\n\
             t_seconds_bucket{a=\"q\",le=\"0.1\"} 1\nt_seconds_bucket{a=\"q\",le=\"1\"} 2\n\
             t_seconds_bucket{a=\"q\",le=\"+Inf\"} 3\nt_seconds_sum{a=\"q\"} 5.55\nt_seconds_count{a=\"q\"} 3\n"
        );
    }

    #[test]
    fn caps_series() {
        static G: Family = Family::new("g", "g", Kind::Gauge, &["m"]);
        for i in 0..MAX_SERIES + 10 {
            G.set(&[&format!("m{i}")], 1.0);
        }
        assert_eq!(G.value(&["other"]), Some(1.0));
        let mut out = String::new();
        G.encode(&mut out);
        assert_eq!(out.lines().count(), MAX_SERIES + 1 + 2);
    }
}
