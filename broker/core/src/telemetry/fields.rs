//! How span and event fields appear in log lines: everything but the OpenTelemetry-only
//! attributes.
//!
//! Spans carry attributes for the trace exporter (`otel.name`, `gen_ai.*`, `http.*`,
//! `messaging.*`) next to the fields a reader of the logs wants (`job_id`, `provider`,
//! `attempt`, ...). The log layer formats a span's fields when the span is created, whether
//! or not anything is logged in it; leaving the exporter's attributes out keeps log lines short
//! and took a few percent of the gateway's CPU per request off the load test.

use serde_json::{Map, Value};
use std::fmt;
use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FormatFields, FormattedFields};

/// Field name prefixes that only the trace exporter reads.
const EXPORTER_ONLY: &[&str] = &["otel.", "gen_ai.", "http.", "messaging.", "server."];

/// Whether a field belongs in log lines.
pub fn logged(name: &str) -> bool {
    !EXPORTER_ONLY.iter().any(|p| name.starts_with(p)) && !name.starts_with("log.")
}

/// Text fields: `message` first, then `name=value` separated by spaces.
#[derive(Debug, Default, Clone, Copy)]
pub struct TextFields;

struct TextVisitor<'a, 'w> {
    writer: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl TextVisitor<'_, '_> {
    fn sep(&mut self) -> fmt::Result {
        if self.first {
            self.first = false;
            Ok(())
        } else {
            self.writer.write_char(' ')
        }
    }
}

impl Visit for TextVisitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() || !logged(field.name()) {
            return;
        }
        self.result = self.sep().and_then(|()| {
            if field.name() == "message" {
                write!(self.writer, "{value:?}")
            } else {
                write!(self.writer, "{}={value:?}", field.name())
            }
        });
    }
}

impl<'w> FormatFields<'w> for TextFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut v = TextVisitor {
            writer: &mut writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut v);
        v.result
    }

    fn add_fields(
        &self,
        current: &mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let mut more = String::new();
        self.format_fields(Writer::new(&mut more), fields)?;
        if !more.is_empty() {
            if !current.fields.is_empty() {
                current.fields.push(' ');
            }
            current.fields.push_str(&more);
        }
        Ok(())
    }
}

/// JSON span fields: one object, read back by [`super::logs::JsonLines`].
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonSpanFields;

/// Collects fields into a JSON object: every field of a log event, the [`logged`] ones of a
/// span.
pub struct JsonVisitor<'a> {
    map: &'a mut Map<String, Value>,
    puts: usize,
    everything: bool,
}

impl<'a> JsonVisitor<'a> {
    /// Keeps every field (for an event's own fields).
    pub fn all(map: &'a mut Map<String, Value>) -> Self {
        Self {
            map,
            puts: 0,
            everything: true,
        }
    }

    /// Keeps the fields that belong in logs (for span fields).
    fn logged(map: &'a mut Map<String, Value>) -> Self {
        Self {
            map,
            puts: 0,
            everything: false,
        }
    }

    fn keeps(&self, f: &Field) -> bool {
        self.everything || logged(f.name())
    }

    fn put(&mut self, f: &Field, v: Value) {
        if self.keeps(f) {
            self.map.insert(f.name().into(), v);
            self.puts += 1;
        }
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, f: &Field, v: &str) {
        self.put(f, Value::from(v));
    }
    fn record_i64(&mut self, f: &Field, v: i64) {
        self.put(f, Value::from(v));
    }
    fn record_u64(&mut self, f: &Field, v: u64) {
        self.put(f, Value::from(v));
    }
    fn record_f64(&mut self, f: &Field, v: f64) {
        self.put(f, Value::from(v));
    }
    fn record_bool(&mut self, f: &Field, v: bool) {
        self.put(f, Value::from(v));
    }
    fn record_error(&mut self, f: &Field, v: &(dyn std::error::Error + 'static)) {
        self.put(f, Value::from(v.to_string()));
    }
    fn record_debug(&mut self, f: &Field, v: &dyn fmt::Debug) {
        if self.keeps(f) {
            self.put(f, Value::from(format!("{v:?}")));
        }
    }
}

impl<'w> FormatFields<'w> for JsonSpanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut map = Map::new();
        fields.record(&mut JsonVisitor::logged(&mut map));
        write!(writer, "{}", Value::Object(map))
    }

    fn add_fields(
        &self,
        current: &mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let mut map: Map<String, Value> =
            serde_json::from_str(current.as_str()).unwrap_or_default();
        let mut v = JsonVisitor::logged(&mut map);
        fields.record(&mut v);
        if v.puts > 0 {
            current.fields = Value::Object(map).to_string();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exporter_attributes_are_left_out_of_logs() {
        for name in [
            "otel.name",
            "gen_ai.request.model",
            "http.route",
            "messaging.system",
        ] {
            assert!(!logged(name), "{name}");
        }
        for name in ["job_id", "provider", "attempt", "error", "message", "path"] {
            assert!(logged(name), "{name}");
        }
    }
}
