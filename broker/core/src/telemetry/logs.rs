//! JSON log lines that carry the job id of the span they happen in.
//!
//! One object per line: `timestamp`, `level`, `target`, the event's fields (with
//! `message`), `span` (the innermost span's name and fields) and `job_id`, taken from the
//! nearest enclosing span that has one (the ingress `request` span, the worker `job` span),
//! however deep the event is nested.

use super::fields::{JsonSpanFields, JsonVisitor};
use serde_json::{Map, Value};
use std::fmt;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The field naming a job in spans and log lines.
pub const JOB_ID: &str = "job_id";

/// The JSON line formatter (use with [`JsonSpanFields`] as the field formatter).
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonLines;

impl<S> FormatEvent<S, JsonSpanFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonSpanFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        let mut ts = String::new();
        SystemTime.format_time(&mut Writer::new(&mut ts))?;
        line.insert("timestamp".into(), Value::from(ts));
        line.insert("level".into(), Value::from(meta.level().as_str()));
        line.insert("target".into(), Value::from(meta.target()));
        event.record(&mut JsonVisitor::all(&mut line));
        if let Some(scope) = ctx.event_scope() {
            let mut job_id: Option<Value> = None;
            for (depth, span) in scope.enumerate() {
                let ext = span.extensions();
                let fields: Map<String, Value> = ext
                    .get::<FormattedFields<JsonSpanFields>>()
                    .and_then(|f| serde_json::from_str(f.as_str()).ok())
                    .unwrap_or_default();
                if job_id.is_none() {
                    job_id = fields.get(JOB_ID).cloned();
                }
                if depth == 0 {
                    let mut s = fields;
                    s.insert("name".into(), Value::from(span.name()));
                    line.insert("span".into(), Value::Object(s));
                }
                if job_id.is_some() {
                    break;
                }
            }
            if let Some(id) = job_id {
                line.entry(JOB_ID).or_insert(id);
            }
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}
